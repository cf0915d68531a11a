//! The interface every generative model implements.

use burn::prelude::*;
use rand::rngs::StdRng;

/// Per-example log-likelihood of a batch of 8-bit images, in nats, and its parts.
///
/// For flows `log_p = log_prior + log_det` exactly: `log_prior` is the paper's "distribution
/// term" `log p_z(f(x))`, and `log_det` its "volume term", the log-determinant of the whole map
/// from the 8-bit scale to the latent (including the `− D · ln 256` of dequantization).
#[derive(Debug, Clone)]
pub struct LikelihoodTerms {
    /// `log p(x)` (a lower bound for dequantized flows), `[batch]`.
    pub log_p: Tensor<1>,
    /// The prior term, `[batch]`.
    pub log_prior: Tensor<1>,
    /// The volume term, `[batch]`.
    pub log_det: Tensor<1>,
}

/// A density model over 8-bit images of a fixed shape.
///
/// Inputs are pixel values `0..=255` as floats, `[N, C, H, W]`; the model does its own
/// preprocessing. Randomness (dequantization noise, sampling) comes from the caller's seeded
/// generator, so results are reproducible.
pub trait DensityModel {
    /// `[channels, height, width]` of the images this model scores.
    fn image_dims(&self) -> [usize; 3];

    /// Number of sub-pixels `D` that bits per dimension are measured over.
    fn dims(&self) -> usize {
        self.image_dims().iter().product()
    }

    /// Data-dependent initialisation on one batch; a no-op for parts already initialised.
    fn initialize(&mut self, pixels: Tensor<4>, rng: &mut StdRng);

    /// Log-likelihood terms of each image.
    fn log_likelihood(&self, pixels: Tensor<4>, rng: &mut StdRng) -> LikelihoodTerms;

    /// Draws `count` images as pixel values at the given temperature.
    fn sample(&self, count: usize, temperature: f64, rng: &mut StdRng) -> Tensor<4>;
}
