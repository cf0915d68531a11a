//! The interface every generative model implements.

use crate::progress::Progress;
use burn::prelude::*;
use genood_flows::noise::Noise;
use rand::rngs::StdRng;

/// Per-example log-likelihood of a batch of 8-bit images, in nats, and the model's own named
/// statistics of each image (the DoSE features and the paper's decomposition).
///
/// Flows report `log_prior` (the paper's "distribution term" `log p_z(f(x))`) and `log_det`
/// (the "volume term", including the `− D · ln 256` of dequantization), with
/// `log_p = log_prior + log_det` exactly. VAEs report `elbo`, `rate` (KL(q ‖ p) estimated on
/// the samples) and `distortion` (`− E_q log p(x | z)`), with `elbo = −(rate + distortion)`.
/// Hierarchical VAEs report `elbo`, one `rate_l` per stochastic layer and `distortion`.
/// Diffusion models report `prior_kl`, `reconstruction` and `diffusion`, the three terms of
/// their bound, with `log_p = −(prior_kl + reconstruction + diffusion)`. PixelCNN++ reports
/// none: its `log_p` is exact and has no parts.
#[derive(Debug, Clone)]
pub struct LikelihoodTerms {
    /// `log p(x)`, or the bound [`DensityModel::bound`] names, `[batch]`.
    pub log_p: Tensor<1>,
    /// `(name, [batch])` per statistic, in a fixed order per model family.
    pub parts: Vec<(&'static str, Tensor<1>)>,
}

/// A per-pixel map of each image of a batch, `[B, H, W]`, and what its values are.
#[derive(Debug, Clone)]
pub struct PixelMap {
    /// The values, higher where the image is more surprising.
    pub values: Tensor<3>,
    /// What a value is, for captions ("−log p of the pixel, nats").
    pub meaning: &'static str,
}

/// What a model's `log_p` is: exact, or which lower bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The exact discrete log-likelihood (autoregressive models).
    Exact,
    /// `log q(x + u) − D ln 256` at one uniform `u`: an unbiased estimate of the dequantization
    /// lower bound (flows).
    Dequantization,
    /// The evidence lower bound, one posterior sample.
    Elbo,
    /// The importance-weighted bound (Burda et al. 2016) with this many samples.
    ImportanceWeighted(usize),
    /// The continuous-time bound of a variational diffusion model, its diffusion term
    /// estimated with this many draws of the time and noise per image.
    Diffusion(usize),
}

impl Bound {
    /// A latent-variable model's bound with `samples` importance samples: the ELBO at one,
    /// the importance-weighted bound above.
    pub fn importance_weighted(samples: usize) -> Bound {
        if samples <= 1 {
            Bound::Elbo
        } else {
            Bound::ImportanceWeighted(samples)
        }
    }

    /// A short name for tables and file metadata.
    pub fn name(self) -> String {
        match self {
            Bound::Exact => "exact".into(),
            Bound::Dequantization => "dequantization bound".into(),
            Bound::Elbo => "ELBO".into(),
            Bound::ImportanceWeighted(k) => format!("IW bound, k = {k}"),
            Bound::Diffusion(k) => format!("VDM bound, k = {k}"),
        }
    }
}

/// The weighting of a latent-variable model's KL terms in its training loss at one step (see
/// [`crate::config::KlSchedule`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KlWeight {
    /// The KL terms' weight β.
    pub beta: f64,
    /// Nats of each stochastic layer's KL left unpenalised, spread over its dimensions.
    pub free_nats: f64,
}

impl KlWeight {
    /// The bound itself: β = 1, no free nats.
    pub const BOUND: KlWeight = KlWeight {
        beta: 1.0,
        free_nats: 0.0,
    };
}

/// One training batch's bound and the objective its loss maximises, each `[batch]`.
#[derive(Debug, Clone)]
pub struct TrainingTerms {
    /// The bound at one sample, which training logs.
    pub log_p: Tensor<1>,
    /// What the gradient climbs: the bound, or its KL terms reweighted.
    pub objective: Tensor<1>,
}

/// A density model over 8-bit images of a fixed shape.
///
/// Inputs are pixel values `0..=255` as floats, `[N, C, H, W]`; the model does its own
/// preprocessing. Randomness (dequantization noise, posterior samples, sampling) comes from the
/// caller's seeded generator, so results are reproducible.
pub trait DensityModel {
    /// `[channels, height, width]` of the images this model scores.
    fn image_dims(&self) -> [usize; 3];

    /// Number of sub-pixels `D` that bits per dimension are measured over.
    fn dims(&self) -> usize {
        self.image_dims().iter().product()
    }

    /// Data-dependent initialisation on one batch; a no-op for parts already initialised.
    fn initialize(&mut self, pixels: Tensor<4>, rng: &mut StdRng);

    /// Log-likelihood terms of each image. Latent-variable models average `samples` importance
    /// samples (1 gives the ELBO, the training objective); exact models and flows ignore it.
    /// `noise` supplies the dequantization noise and posterior samples.
    fn log_likelihood(
        &self,
        pixels: Tensor<4>,
        samples: usize,
        noise: &mut Noise,
    ) -> LikelihoodTerms;

    /// What [`DensityModel::log_likelihood`] returns at `samples` importance samples.
    fn bound(&self, samples: usize) -> Bound;

    /// The one-sample bound a training step logs and the objective its loss climbs with the
    /// KL terms weighted by `kl`: the bound itself unless a family overrides it (the
    /// hierarchical VAE, the one family a [`crate::config::KlSchedule`] is accepted for).
    fn training_terms(&self, pixels: Tensor<4>, noise: &mut Noise, _kl: KlWeight) -> TrainingTerms {
        let log_p = self.log_likelihood(pixels, 1, noise).log_p;
        TrainingTerms {
            objective: log_p.clone(),
            log_p,
        }
    }

    /// Per-image statistics of the family's own OOD detectors, named (the diffusion model's
    /// reconstruction errors, score norms and path statistics), which evaluation adds to the
    /// likelihood's parts. Computed at evaluation only, never in training; `noise` continues
    /// each image's draws after [`DensityModel::log_likelihood`]'s. None by default.
    fn detector_statistics(
        &self,
        _pixels: Tensor<4>,
        _noise: &mut Noise,
    ) -> Vec<(String, Tensor<1>)> {
        Vec::new()
    }

    /// A map of what drives this image's likelihood-based scores, pixel by pixel (higher:
    /// more surprising), for the report and `detect --explain` (a flow's is its distribution
    /// term alone: the log-determinant does not split by pixel). `noise` gives each image's
    /// draws, where the map needs any.
    fn pixel_map(&self, pixels: Tensor<4>, noise: &mut Noise) -> PixelMap;

    /// Draws `count` images as pixel values at the given temperature, reporting to `progress`
    /// as the task called `task` (autoregressive sampling is one pass per sub-pixel).
    fn sample(
        &self,
        count: usize,
        temperature: f64,
        rng: &mut StdRng,
        task: &str,
        progress: &mut dyn Progress,
    ) -> Tensor<4>;
}

/// Name prefixes of the statistics of [`DensityModel::detector_statistics`], one per detector:
/// what tells them from the likelihood's parts in a scores file.
pub mod statistic {
    /// Mean squared error of the reconstruction from a noise level (Graham et al. 2023):
    /// `recon@0.5` from `t = 0.5`.
    pub const RECONSTRUCTION: &str = "recon@";
    /// Multiscale score norm (MSMA, Mahmood et al. 2021): `msma@0.3` at `t = 0.3`.
    pub const MSMA: &str = "msma@";
    /// Statistics of the probability-flow path (DiffPath, Heng et al. 2024): `path_rate`,
    /// `path_curvature`.
    pub const PATH: &str = "path_";
    /// A hierarchical VAE's likelihood ratio `L − L^{>k}` (Havtorn et al. 2021): `llr>1`.
    pub const LLR: &str = "llr>";
    /// Every prefix.
    pub const ALL: [&str; 4] = [RECONSTRUCTION, MSMA, PATH, LLR];

    /// Whether `name` is a detector's statistic rather than a part of the likelihood.
    pub fn is_detector(name: &str) -> bool {
        ALL.iter().any(|prefix| name.starts_with(prefix))
    }
}

/// The names of the statistics in [`LikelihoodTerms::parts`].
pub mod part {
    /// A flow's distribution term `log p_z(f(x))`.
    pub const LOG_PRIOR: &str = "log_prior";
    /// A flow's volume term `log |det ∂f/∂x|`.
    pub const LOG_DET: &str = "log_det";
    /// A VAE's evidence lower bound (mean over the posterior samples).
    pub const ELBO: &str = "elbo";
    /// A VAE's rate: `E_q[log q(z | x) − log p(z)]`.
    pub const RATE: &str = "rate";
    /// A VAE's distortion: `− E_q[log p(x | z)]`.
    pub const DISTORTION: &str = "distortion";
    /// A diffusion model's prior term: `KL(q(z_1 | x) ‖ N(0, I))`.
    pub const PRIOR_KL: &str = "prior_kl";
    /// A diffusion model's reconstruction term: `− E log p(x | z_0)`.
    pub const RECONSTRUCTION: &str = "reconstruction";
    /// A diffusion model's diffusion term (its estimate over the drawn times).
    pub const DIFFUSION: &str = "diffusion";
}
