//! Gaussian priors of the multi-scale flow: the learned top prior and the conditional prior of
//! each factored-out half.

use burn::module::Param;
use burn::prelude::*;
use rand::Rng;

use crate::bijector::{channel_halves, per_example_sum};
use crate::coupling::ZeroConv;
use crate::host::{normal_vec, tensor_from_f64};

/// `ln(2π)`.
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Per-example `Σ log N(z; mean, exp(log_std)²)` over all of `z`'s entries, shape `[batch]`.
pub fn gaussian_log_density(z: Tensor<4>, mean: Tensor<4>, log_std: Tensor<4>) -> Tensor<1> {
    per_example_sum(gaussian_log_densities(z, mean, log_std))
}

/// `log N(z; mean, exp(log_std)²)` of each of `z`'s entries, in `z`'s shape.
pub fn gaussian_log_densities(z: Tensor<4>, mean: Tensor<4>, log_std: Tensor<4>) -> Tensor<4> {
    let standardized = (z - mean) * log_std.clone().neg().exp();
    (standardized.square().add_scalar(LN_2PI) + log_std.mul_scalar(2.0)).mul_scalar(-0.5)
}

/// `mean + temperature · exp(log_std) · ε`, ε standard normal drawn on the host.
pub fn gaussian_sample(
    mean: Tensor<4>,
    log_std: Tensor<4>,
    temperature: f64,
    rng: &mut impl Rng,
) -> Tensor<4> {
    let shape = mean.dims();
    let count = shape.iter().product();
    let eps = tensor_from_f64(normal_vec(rng, count, temperature), shape, &mean.device());
    mean + log_std.exp() * eps
}

/// The top-level prior: a Gaussian with a learned mean and log-std per channel (Glow's
/// `learntop`), both zero at construction, so it starts as `N(0, I)`.
#[derive(Module, Debug)]
pub struct TopPrior {
    /// `[1, C, 1, 1]`.
    pub mean: Param<Tensor<4>>,
    /// `[1, C, 1, 1]`.
    pub log_std: Param<Tensor<4>>,
}

impl TopPrior {
    /// A standard normal prior over `channels` channels.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            mean: Param::from_tensor(Tensor::zeros([1, channels, 1, 1], device)),
            log_std: Param::from_tensor(Tensor::zeros([1, channels, 1, 1], device)),
        }
    }

    fn parameters(&self, shape: [usize; 4]) -> (Tensor<4>, Tensor<4>) {
        (
            self.mean.val().expand(shape),
            self.log_std.val().expand(shape),
        )
    }

    /// Per-example log-density of `z`.
    pub fn log_prob(&self, z: Tensor<4>) -> Tensor<1> {
        per_example_sum(self.log_probs(z))
    }

    /// The log-density of each of `z`'s entries.
    pub fn log_probs(&self, z: Tensor<4>) -> Tensor<4> {
        let (mean, log_std) = self.parameters(z.dims());
        gaussian_log_densities(z, mean, log_std)
    }

    /// Draws `shape` latents at the given temperature.
    pub fn sample(&self, shape: [usize; 4], temperature: f64, rng: &mut impl Rng) -> Tensor<4> {
        let (mean, log_std) = self.parameters(shape);
        gaussian_sample(mean, log_std, temperature, rng)
    }
}

/// The conditional prior `p(z_out | z_kept)` of a split: a zero-initialised convolution of the
/// kept half gives the mean and log-std of the factored-out half.
#[derive(Module, Debug)]
pub struct SplitPrior {
    /// `kept → 2 · factored` channels: mean, then log-std.
    pub conv: ZeroConv,
}

impl SplitPrior {
    /// A split of `channels` channels: the first `⌊C/2⌋` are kept, the rest factored out.
    pub fn new(channels: usize, rng: &mut impl Rng, device: &Device) -> Self {
        let kept = channels / 2;
        Self {
            conv: ZeroConv::new(kept, 2 * (channels - kept), rng, device),
        }
    }

    /// Mean and log-std of the factored-out half given the kept half.
    pub fn conditional(&self, kept: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        Self::mean_and_log_std(self.conv.forward(kept))
    }

    /// The convolution's output `h` cut into the mean and the log-std.
    pub(crate) fn mean_and_log_std(h: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let factored = h.dims()[1] / 2;
        (
            h.clone().narrow(1, 0, factored),
            h.narrow(1, factored, factored),
        )
    }

    /// Splits `z` into (kept, factored) and returns both with `log p(factored | kept)`.
    pub fn split(&self, z: Tensor<4>) -> (Tensor<4>, Tensor<4>, Tensor<1>) {
        let (kept, factored) = channel_halves(z);
        let (mean, log_std) = self.conditional(kept.clone());
        let log_p = gaussian_log_density(factored.clone(), mean, log_std);
        (kept, factored, log_p)
    }

    /// Draws the factored half given the kept half.
    pub fn sample(&self, kept: Tensor<4>, temperature: f64, rng: &mut impl Rng) -> Tensor<4> {
        let (mean, log_std) = self.conditional(kept);
        gaussian_sample(mean, log_std, temperature, rng)
    }
}
