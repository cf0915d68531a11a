//! `genood eval`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use genood_data::DataSource;
use genood_lab::evaluation::{evaluate_sets, summary_table};

use crate::progress::Terminal;
use crate::scoring::ScoringArgs;

/// Arguments of `genood eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// The run folder of a trained model.
    #[arg(long)]
    pub run: PathBuf,
    /// Sets to score, e.g. fashion-mnist:test mnist:test inverted/mnist:test folder:PATH.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<String>,
    /// Which images and how.
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

/// Scores every set, writes `scores/<set>.csv` and `summary.json` into the run folder, and
/// prints a table.
pub fn run(args: EvalArgs, data: &DataSource) -> Result<()> {
    let summaries = evaluate_sets(
        &args.run,
        &args.data,
        data,
        &args.scoring.compute.device()?,
        &args.scoring.options(),
        &mut Terminal::default(),
    )?;
    print!("{}", summary_table(&summaries));
    Ok(())
}
