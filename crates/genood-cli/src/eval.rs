//! `genood eval`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use genood_lab::evaluation::{EvalOptions, IW_SAMPLES, evaluate_sets, summary_table};

use crate::device::Compute;
use crate::progress::Terminal;

/// Arguments of `genood eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// The run folder of a trained model.
    #[arg(long)]
    pub run: PathBuf,
    /// Sets to score, e.g. fashion-mnist:test mnist:test inverted/mnist:test.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<String>,
    /// Score at most this many images per set (a seeded random subset).
    #[arg(long, value_parser = crate::numbers::positive)]
    pub limit: Option<usize>,
    /// Images per batch.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 500)]
    pub batch_size: usize,
    /// Importance samples k of a VAE's bound: 1 gives the ELBO, more the tighter IW bound
    /// (batched: memory does not grow with k). Exact models and flows ignore it.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = IW_SAMPLES)]
    pub iw_samples: usize,
    /// Seed of dequantization noise, subsets and synthetic sets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device and worker threads.
    #[command(flatten)]
    pub compute: Compute,
}

/// Scores every set, writes `scores/<set>.csv` and `summary.json` into the run folder, and
/// prints a table.
pub fn run(args: EvalArgs, data_dir: &Path) -> Result<()> {
    let options = EvalOptions {
        limit: args.limit,
        batch_size: args.batch_size,
        iw_samples: args.iw_samples,
        seed: args.seed,
        threads: args.compute.threads(),
    };
    let summaries = evaluate_sets(
        &args.run,
        &args.data,
        data_dir,
        &args.compute.device()?,
        &options,
        &mut Terminal::default(),
    )?;
    print!("{}", summary_table(&summaries));
    Ok(())
}
