//! `genood score`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use genood_data::DataSource;
use genood_lab::score::{Bootstrap, score_rows, write_per_image_scores, write_score_tables};

use crate::comparison::ComparisonArgs;

/// Arguments of `genood score`.
#[derive(Args, Clone)]
pub struct ScoreArgs {
    /// A run folder on which `genood eval` scored the sets below.
    #[arg(long)]
    pub run: PathBuf,
    /// The sets and companion models.
    #[command(flatten)]
    pub comparison: ComparisonArgs,
    /// Bootstrap resamples for the intervals.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 1000)]
    pub resamples: usize,
    /// Seed of bootstrap and batching.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Computes every score, writes `ood-scores.json`, `ood-scores.md` and each set's per-image
/// values (`ood-scores/<set>.csv`) into the run folder and prints the table.
pub fn run(args: ScoreArgs, data: &DataSource) -> Result<()> {
    let comparison = args.comparison.comparison(&args.run)?;
    let bootstrap = Bootstrap {
        resamples: args.resamples,
        seed: args.seed,
    };
    let rows = score_rows(&args.run, &comparison, bootstrap, data)?;
    println!("{}", write_score_tables(&args.run, &rows)?);
    for path in write_per_image_scores(&args.run, &comparison, &rows)? {
        eprintln!("per-image scores → {}", path.display());
    }
    Ok(())
}
