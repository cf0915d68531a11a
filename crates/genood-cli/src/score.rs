//! `genood score`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use genood_lab::score::{Comparison, score_rows, write_score_tables};

/// The sets a score compares and the companion models it may use; shared by `score` and
/// `report`.
#[derive(Args, Clone)]
pub struct ComparisonArgs {
    /// The in-distribution test set.
    #[arg(long = "in")]
    pub in_dist: String,
    /// OOD sets.
    #[arg(long, num_args = 1.., required = true)]
    pub ood: Vec<String>,
    /// In-distribution data the typicality test's entropy estimate and DoSE's density are
    /// fitted on (scored by `eval` too).
    #[arg(long, default_value = "fashion-mnist:train")]
    pub reference: String,
    /// A background model's run folder (`genood train --background`), scored by `eval` on the
    /// same sets with the same seed and limit: adds the likelihood-ratio score.
    #[arg(long)]
    pub background: Option<PathBuf>,
    /// Other members of an ensemble (same model, other seeds), scored by `eval` likewise:
    /// adds the WAIC score over this run and these.
    #[arg(long, num_args = 1..)]
    pub ensemble: Vec<PathBuf>,
}

impl ComparisonArgs {
    /// The library's comparison these flags describe.
    pub fn comparison(&self) -> Comparison {
        Comparison {
            in_dist: self.in_dist.clone(),
            ood: self.ood.clone(),
            reference: self.reference.clone(),
            background: self.background.clone(),
            ensemble: self.ensemble.clone(),
        }
    }
}

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

/// Computes every score, writes `ood-scores.json` and `ood-scores.md` into the run folder and
/// prints the table.
pub fn run(args: ScoreArgs, data_dir: &Path) -> Result<()> {
    let rows = score_rows(
        &args.run,
        &args.comparison.comparison(),
        args.resamples,
        args.seed,
        data_dir,
    )?;
    println!("{}", write_score_tables(&args.run, &rows)?);
    Ok(())
}
