//! `genood report`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use genood_data::DataSource;
use genood_lab::report::{ReportOptions, SAMPLES, write_report};

use crate::comparison::ComparisonArgs;
use crate::progress::terminal;

/// Arguments of `genood report`.
#[derive(Args, Clone)]
pub struct ReportArgs {
    /// Run folders to report, each scored by `genood eval` on the sets below.
    #[arg(long, num_args = 1.., required = true)]
    pub run: Vec<PathBuf>,
    /// The sets and companion models (background and ensemble apply to the first run).
    #[command(flatten)]
    pub comparison: ComparisonArgs,
    /// Output folder: report.html and every figure as SVG and PNG.
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    /// An `analysis.json` from `genood analyze`, shown as the report's last section.
    #[arg(long)]
    pub analysis: Option<PathBuf>,
    /// Images drawn from each model for the page (PixelCNN++ takes one pass per pixel).
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = SAMPLES)]
    pub samples: usize,
}

/// Builds the page and writes it with its figures into `--out`.
pub fn run(args: ReportArgs, data: &DataSource) -> Result<()> {
    let options = ReportOptions {
        out: args.out.clone(),
        analysis: args.analysis.clone(),
        samples: args.samples,
    };
    let path = write_report(
        &args.run,
        &args.comparison.comparison(&args.run[0])?,
        &options,
        data,
        &mut *terminal(),
    )?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
