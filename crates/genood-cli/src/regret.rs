//! `genood regret`: likelihood regret (Xiao et al. 2020) of a trained VAE on each set.

use genood_data::SetSpec;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use genood_data::DataSource;
use genood_lab::regret::{LEARNING_RATE, RegretOptions, SAMPLES, STEPS, regret_sets};
use genood_train::regret::RegretConfig;

use crate::device::Compute;
use crate::progress::terminal;

/// Arguments of `genood regret`.
#[derive(Args, Clone)]
pub struct RegretArgs {
    /// The run folder of a trained VAE.
    #[arg(long)]
    pub run: PathBuf,
    /// Sets to score, e.g. fashion-mnist:test mnist:test.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<SetSpec>,
    /// Score at most this many images per set (the same seeded subset `eval --limit` takes).
    #[arg(long, value_parser = crate::numbers::positive)]
    pub limit: Option<usize>,
    /// Adam steps of each input's posterior refit.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = STEPS)]
    pub steps: usize,
    /// Adam's learning rate.
    #[arg(long, value_parser = crate::numbers::positive_finite, default_value_t = LEARNING_RATE)]
    pub lr: f64,
    /// Posterior samples of the ELBO before and after (the same draws for both).
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = SAMPLES)]
    pub samples: usize,
    /// Images refit together.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 250)]
    pub batch_size: usize,
    /// Seed of subsets and posterior samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device and worker threads.
    #[command(flatten)]
    pub compute: Compute,
}

/// Scores every set and writes `regret/<set>.csv` and `.json` into the run folder.
pub fn run(args: RegretArgs, data: &DataSource) -> Result<()> {
    let refit = RegretConfig {
        steps: args.steps,
        learning_rate: args.lr,
        samples: args.samples,
    };
    let options = RegretOptions {
        limit: args.limit,
        batch_size: args.batch_size,
        seed: args.seed,
        threads: args.compute.threads(),
    };
    regret_sets(
        &args.run,
        &args.data,
        &args.compute.context(data)?,
        refit,
        &options,
        &mut *terminal(),
    )?;
    Ok(())
}
