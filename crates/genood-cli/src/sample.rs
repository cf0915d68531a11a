//! `genood sample`: draw images from a trained model into a PNG grid.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use genood_data::memory::check_available;
use genood_lab::figures::write_file;
use genood_lab::samples::sample_grid;
use genood_models::footprint;
use genood_train::run::RunDir;

use crate::device::parse_device;
use crate::progress::terminal;

/// Arguments of `genood sample`.
#[derive(Args)]
pub struct SampleArgs {
    /// The run folder of a trained model.
    #[arg(long)]
    pub run: PathBuf,
    /// Images to draw (PixelCNN++ needs one network pass per pixel for all of them together).
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 36)]
    pub count: usize,
    /// Temperature: the latent's standard deviation (flows, VAEs) or the logistics' scale
    /// factor (PixelCNN++).
    #[arg(long, value_parser = crate::numbers::non_negative_finite, default_value_t = 0.7)]
    pub temperature: f64,
    /// Seed of the draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The PNG grid to write.
    #[arg(long, default_value = "samples.png")]
    pub out: PathBuf,
    /// cpu, cuda or wgpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Draws the samples and writes the grid.
pub fn run(args: SampleArgs) -> Result<()> {
    let device = parse_device(&args.device)?;
    let (config, model) = RunDir::new(&args.run)
        .load_model(&device)
        .with_context(|| format!("loading the model from {}", args.run.display()))?;
    let needed = footprint::bytes_needed(&config.model, args.count, false);
    check_available(needed).map_err(|e| anyhow!("--count {}: drawing them {e}", args.count))?;
    let label = format!("sampling {}", config.model.label());
    let png = sample_grid(
        &model,
        args.count,
        args.temperature,
        args.seed,
        &label,
        &mut *terminal(),
    );
    write_file(&args.out, &png)?;
    eprintln!("{} samples → {}", args.count, args.out.display());
    Ok(())
}
