//! `genood eval`.

use genood_data::SetSpec;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use genood_data::DataSource;
use genood_lab::evaluation::{Shard, evaluate_sets, merge_shards, summary_table};

use crate::progress::terminal;
use crate::scoring::ScoringArgs;

/// Arguments of `genood eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// The run folder of a trained model.
    #[arg(long)]
    pub run: PathBuf,
    /// Sets to score, e.g. fashion-mnist:test mnist:test inverted/mnist:test folder:PATH.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<SetSpec>,
    /// Score only part K of N of each set's images (e.g. 2/4), into `scores/shards/`, so that
    /// several workers share a set; `--merge N` joins the parts.
    #[arg(long, value_name = "K/N", value_parser = crate::numbers::shard, conflicts_with = "merge")]
    pub shard: Option<Shard>,
    /// Join the N shards of each set (scored with the same --limit and --seed) into its scores,
    /// byte for byte what one unsharded evaluation writes.
    #[arg(long, value_name = "N", value_parser = crate::numbers::positive)]
    pub merge: Option<usize>,
    /// Score the likelihood alone, without the family's detector statistics (a diffusion
    /// model's reconstructions, score norms and path, about 30 of its 40 network passes per
    /// image; a hierarchical VAE's likelihood ratios). Its log p is the same either way.
    #[arg(long)]
    pub no_detectors: bool,
    /// Which images and how.
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

/// Scores every set, writes `scores/<set>.csv` and `summary.json` into the run folder, and
/// prints a table.
pub fn run(args: EvalArgs, data: &DataSource) -> Result<()> {
    let mut options = args.scoring.options();
    options.shard = args.shard;
    options.detectors = !args.no_detectors;
    let mut progress = terminal();
    let summaries = match args.merge {
        Some(count) => merge_shards(&args.run, &args.data, count, data, &options, &mut *progress)?,
        None => evaluate_sets(
            &args.run,
            &args.data,
            &args.scoring.compute.context(data)?,
            &options,
            &mut *progress,
        )?,
    };
    print!("{}", summary_table(&summaries));
    Ok(())
}
