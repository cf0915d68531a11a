//! `genood sample`: draw images from a trained model into a PNG grid.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use genood_flows::host::to_host_vec;
use genood_models::{DensityModel, Model};
use genood_ood::report::image_grid_png;
use genood_train::run::{RunDir, stream_rng, streams};

use crate::device::parse_device;
use crate::progress::WorkProgress;
use genood_lab::figures::write_file;

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

/// `count` samples of `model` as a PNG grid (six per row, small images enlarged), with a
/// progress bar called `label`.
pub fn sample_grid(
    model: &Model,
    count: usize,
    temperature: f64,
    seed: u64,
    label: &str,
) -> Vec<u8> {
    let mut bar = WorkProgress::new(label);
    let samples = model.sample(
        count,
        temperature,
        &mut stream_rng(seed, streams::SAMPLES, 0),
        &mut |done, total| bar.update(done, total),
    );
    drop(bar);
    let dims = model.image_dims();
    let pixels: Vec<u8> = to_host_vec::<f32, 4>(samples)
        .iter()
        .map(|v| *v as u8)
        .collect();
    let images: Vec<&[u8]> = pixels.chunks(dims.iter().product()).collect();
    image_grid_png(&images, dims, 6, if dims[1] <= 32 { 3 } else { 1 })
}

/// Draws the samples and writes the grid.
pub fn run(args: SampleArgs) -> Result<()> {
    let device = parse_device(&args.device)?;
    let (config, model) = RunDir::new(&args.run)
        .load_model(&device)
        .with_context(|| format!("loading the model from {}", args.run.display()))?;
    let label = format!("sampling {}", config.model.label());
    let png = sample_grid(&model, args.count, args.temperature, args.seed, &label);
    write_file(&args.out, &png)?;
    eprintln!("{} samples → {}", args.count, args.out.display());
    Ok(())
}
