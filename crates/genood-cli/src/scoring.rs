//! How images are scored: the flags `eval` and `detect` share.

use clap::Args;
use genood_lab::evaluation::{EvalOptions, IW_SAMPLES};

use crate::device::Compute;

/// Which images, in what batches, with what noise; and where the work runs.
#[derive(Args)]
pub struct ScoringArgs {
    /// Score at most this many images per set (a seeded random subset).
    #[arg(long, value_parser = crate::numbers::positive)]
    pub limit: Option<usize>,
    /// Images per batch.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 500)]
    pub batch_size: usize,
    /// Importance samples k of a VAE's bound: 1 gives the ELBO, more the tighter IW bound
    /// (batched: memory does not grow with k); for a diffusion model, draws of the time and
    /// noise per image of its bound's diffusion term (more: less spread, same mean). Exact
    /// models and flows ignore it.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = IW_SAMPLES)]
    pub iw_samples: usize,
    /// Seed of dequantization noise, subsets and synthetic sets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device and worker threads.
    #[command(flatten)]
    pub compute: Compute,
}

impl ScoringArgs {
    /// The library's evaluation options these flags describe.
    pub fn options(&self) -> EvalOptions {
        EvalOptions {
            limit: self.limit,
            batch_size: self.batch_size,
            iw_samples: self.iw_samples,
            seed: self.seed,
            threads: self.compute.threads(),
            shard: None,
            detectors: true,
        }
    }
}
