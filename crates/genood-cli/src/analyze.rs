//! `genood analyze`.

use genood_data::SetSpec;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use genood_data::DataSource;
use genood_lab::analysis::{AnalysisOptions, EPSILONS, GRAY_LIMIT, GRAY_STEPS, PROBES, analyze};
use genood_lab::analysis_view::write_analysis;
use genood_lab::evaluation::IW_SAMPLES;

use crate::device::Compute;
use crate::progress::terminal;

/// Arguments of `genood analyze`.
#[derive(Args, Clone)]
pub struct AnalyzeArgs {
    /// Run folders to analyse (e.g. a Glow and a CV-Glow trained on the same data).
    #[arg(long, num_args = 1.., required = true)]
    pub run: Vec<PathBuf>,
    /// The in-distribution test set.
    #[arg(long = "in", default_value = "fashion-mnist:test")]
    pub in_dist: SetSpec,
    /// OOD sets.
    #[arg(long, num_args = 1.., default_value = "mnist:test")]
    pub ood: Vec<SetSpec>,
    /// The training data, p* of the moments and of the expansion (default: the first run's).
    #[arg(long)]
    pub reference: Option<SetSpec>,
    /// Output folder: analysis.json, analysis.html and every figure as SVG and PNG.
    #[arg(long, default_value = "analysis")]
    pub out: PathBuf,
    /// Images per set scored at each graying level (a seeded subset).
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = GRAY_LIMIT)]
    pub gray_limit: usize,
    /// Graying levels α, evenly spaced from 0 to 1.
    #[arg(long, value_parser = crate::numbers::at_least_two, default_value_t = GRAY_STEPS)]
    pub gray_steps: usize,
    /// Rademacher probes of Hutchinson's estimator.
    #[arg(long, value_parser = crate::numbers::at_least_two, default_value_t = PROBES)]
    pub probes: usize,
    /// Finite-difference steps along each probe direction (scaled by √|Δσ²| per pixel), one
    /// estimate each: the ReLU coupling networks make the second difference depend on the step.
    #[arg(long, value_delimiter = ',', value_parser = crate::numbers::positive_finite, default_values_t = EPSILONS)]
    pub epsilon: Vec<f64>,
    /// Images per set scored when a run has no scores CSV for a set yet.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 10_000)]
    pub eval_limit: usize,
    /// Importance samples of a VAE's bound, or draws of a diffusion model's (graying, and sets
    /// scored here).
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = IW_SAMPLES)]
    pub iw_samples: usize,
    /// Seed of subsets, dequantization noise and probes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device and worker threads.
    #[command(flatten)]
    pub compute: Compute,
}

impl AnalyzeArgs {
    /// The library's analysis options these flags describe.
    pub fn options(&self) -> AnalysisOptions {
        AnalysisOptions {
            reference: self.reference.clone(),
            gray_limit: self.gray_limit,
            gray_steps: self.gray_steps,
            probes: self.probes,
            epsilon: self.epsilon.clone(),
            eval_limit: self.eval_limit,
            iw_samples: self.iw_samples,
            seed: self.seed,
            threads: self.compute.threads(),
        }
    }
}

/// Runs every part of the analysis and writes the figures, `analysis.json` and
/// `analysis.html` into `--out`.
pub fn run(args: AnalyzeArgs, data: &DataSource) -> Result<()> {
    let analyzed = analyze(
        &args.run,
        &args.in_dist,
        &args.ood,
        &args.options(),
        &args.compute.context(data)?,
        &mut *terminal(),
    )?;
    let (json, html) = write_analysis(&args.out, &analyzed)?;
    eprintln!(
        "wrote {}, {} and the figures",
        json.display(),
        html.display()
    );
    Ok(())
}
