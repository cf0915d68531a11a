//! `genood bench`: training and evaluation throughput of the presets, each also as a ratio to
//! a fixed reference workload timed in the same process (these machines are noisy).

use std::time::Instant;

use anyhow::Result;
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use clap::Args;
use genood_models::presets::{ModelKind, Preset};
use genood_models::{DensityModel, ImageShape, Model};
use genood_train::optim::Optimizer;
use genood_train::run::stream_rng;
use rand::Rng;
use serde::Serialize;

use crate::device::parse_device;
use crate::train::{model_kind_of, preset_of};

/// Arguments of `genood bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Presets to measure (quick: 28×28×1 like FashionMNIST; paper: 32×32×3 like CIFAR-10).
    #[arg(long, value_delimiter = ',', default_value = "quick")]
    pub preset: Vec<String>,
    /// Models to measure: glow, cv-glow, pixelcnnpp, vae-categorical, vae-realnvp.
    #[arg(long, value_delimiter = ',', default_value = "glow")]
    pub model: Vec<String>,
    /// cpu, cuda or wgpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Timed steps (after one untimed warm-up step).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Override the preset's batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
}

#[derive(Debug, Serialize)]
struct Measurement {
    preset: String,
    model: String,
    image: [usize; 3],
    batch_size: usize,
    parameters: usize,
    train_images_per_sec: f64,
    eval_images_per_sec: f64,
    reference_per_sec: f64,
    train_vs_reference: f64,
    eval_vs_reference: f64,
}

/// Runs of a fixed 3×3 convolution, forward and backward, `[32, 64, 32, 32]`, per second.
fn reference_rate(device: &Device, steps: usize) -> f64 {
    let device = device.clone().autodiff();
    let x = Tensor::<4>::ones([32, 64, 32, 32], &device);
    let w = Tensor::<4>::ones([64, 64, 3, 3], &device)
        .mul_scalar(0.01)
        .require_grad();
    let once = || {
        let y = conv2d(
            x.clone(),
            w.clone(),
            None,
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        );
        let grads = y.sum().backward();
        w.grad(&grads).expect("gradient").sum().into_scalar::<f64>();
    };
    once();
    let start = Instant::now();
    (0..steps).for_each(|_| once());
    steps as f64 / start.elapsed().as_secs_f64()
}

fn random_pixels(shape: [usize; 4], device: &Device) -> Tensor<4> {
    let mut rng = stream_rng(0, 99, 0);
    let values = (0..shape.iter().product())
        .map(|_| rng.random_range(0..=255) as f32)
        .collect();
    genood_flows::host::tensor_from_f32(values, shape, device)
}

fn measure(
    preset: Preset,
    kind: ModelKind,
    device: &Device,
    steps: usize,
    batch_size: Option<usize>,
    reference: f64,
) -> Measurement {
    let image = match preset {
        Preset::Paper => ImageShape {
            channels: 3,
            height: 32,
            width: 32,
        },
        _ => ImageShape {
            channels: 1,
            height: 28,
            width: 28,
        },
    };
    let schedule = preset.train(kind);
    let batch = batch_size.unwrap_or(schedule.batch_size);
    let config = preset.model(image, kind);
    let autodiff = device.clone().autodiff();
    let mut model = Model::new(&config, &mut stream_rng(0, 1, 0), &autodiff);
    let pixels = random_pixels(
        [batch, image.channels, image.height, image.width],
        &autodiff,
    );
    model.initialize(pixels.clone(), &mut stream_rng(0, 2, 0));
    let mut optimizer = Optimizer::new(schedule.optimizer, Some(50.0));
    let mut train_step = |model: Model, i: usize| {
        let terms = model.log_likelihood(pixels.clone(), 1, &mut stream_rng(0, 3, i as u64));
        let grads = terms.log_p.mean().neg().backward();
        optimizer.step(model, &grads, 1e-4).0
    };
    model = train_step(model, 0);
    let start = Instant::now();
    for i in 0..steps {
        model = train_step(model, i + 1);
    }
    let train_rate = (steps * batch) as f64 / start.elapsed().as_secs_f64();

    let plain = model.valid();
    let eval_pixels = random_pixels(
        [batch, image.channels, image.height, image.width],
        &device.clone().inner(),
    );
    let eval_once = |i: usize| {
        plain
            .log_likelihood(eval_pixels.clone(), 1, &mut stream_rng(0, 4, i as u64))
            .log_p
            .into_data();
    };
    eval_once(0);
    let start = Instant::now();
    (0..steps).for_each(|i| eval_once(i + 1));
    let eval_rate = (steps * batch) as f64 / start.elapsed().as_secs_f64();
    Measurement {
        preset: preset.name().into(),
        model: kind.name().into(),
        image: image.dims(),
        batch_size: batch,
        parameters: plain.num_params(),
        train_images_per_sec: train_rate,
        eval_images_per_sec: eval_rate,
        reference_per_sec: reference,
        train_vs_reference: train_rate / reference,
        eval_vs_reference: eval_rate / reference,
    }
}

/// Measures each preset and prints a table and JSON.
pub fn run(args: BenchArgs) -> Result<()> {
    let device = parse_device(&args.device)?;
    let presets = args
        .preset
        .iter()
        .map(|p| preset_of(p))
        .collect::<Result<Vec<_>>>()?;
    let kinds = args
        .model
        .iter()
        .map(|m| model_kind_of(m))
        .collect::<Result<Vec<_>>>()?;
    let mut results = Vec::new();
    for preset in presets {
        for &kind in &kinds {
            let reference = reference_rate(&device, args.steps);
            eprintln!(
                "measuring {} {} on {} ...",
                preset.name(),
                kind.name(),
                args.device
            );
            results.push(measure(
                preset,
                kind,
                &device,
                args.steps,
                args.batch_size,
                reference,
            ));
        }
    }
    // Evaluation is timed with one posterior sample: a VAE's k-sample bound costs about k times
    // as much.
    println!(
        "| preset | model | image | batch | parameters | train img/s | eval img/s (1 sample) | train / reference | eval / reference |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for m in &results {
        println!(
            "| {} | {} | {:?} | {} | {} | {:.1} | {:.1} | {:.3} | {:.3} |",
            m.preset,
            m.model,
            m.image,
            m.batch_size,
            m.parameters,
            m.train_images_per_sec,
            m.eval_images_per_sec,
            m.train_vs_reference,
            m.eval_vs_reference
        );
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
}
