//! Training and evaluation throughput of the presets (`genood bench`), each also as a ratio to
//! a fixed reference workload timed in the same process (these machines are noisy).

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use genood_data::ImageSet;
use genood_models::presets::{ModelKind, Preset};
use genood_models::{DensityModel, ImageShape, KlWeight, Model};
use genood_train::eval::{batch_tensor, evaluate};
use genood_train::optim::Optimizer;
use genood_train::parallel::{Shard, batch_gradients, shard_ranges};
use genood_train::run::{shard_rng, stream_rng};
use rand::Rng;
use serde::Serialize;

use crate::progress::Progress;

/// How [`bench`] measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchOptions {
    /// Timed steps (after one untimed warm-up step).
    pub steps: usize,
    /// The preset's batch size, overridden.
    pub batch_size: Option<usize>,
    /// Worker threads.
    pub threads: usize,
}

/// One preset and model's throughput.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// The preset.
    pub preset: Preset,
    /// The model kind.
    pub model: ModelKind,
    /// `[channels, height, width]` of the random images.
    pub image: [usize; 3],
    /// Images per batch.
    pub batch_size: usize,
    /// Worker threads.
    pub threads: usize,
    /// Parameters of the model.
    pub parameters: usize,
    /// Training images per second.
    pub train_images_per_sec: f64,
    /// Evaluation images per second (one posterior sample for VAEs).
    pub eval_images_per_sec: f64,
    /// Training images per CPU second (all worker threads' time summed).
    pub train_images_per_cpu_second: Option<f64>,
    /// Evaluation images per CPU second.
    pub eval_images_per_cpu_second: Option<f64>,
    /// The process's peak resident memory after the training steps (host memory; a GPU's
    /// own memory is not included).
    pub peak_resident_mib_after_training: Option<f64>,
    /// Seconds of the first, untimed training step.
    pub first_step_seconds: f64,
    /// Runs per second of the fixed reference workload, timed just before.
    pub reference_per_sec: f64,
    /// Training rate over the reference rate.
    pub train_vs_reference: f64,
    /// Evaluation rate over the reference rate.
    pub eval_vs_reference: f64,
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

/// `count` images of `image`'s shape with uniformly random pixels.
fn random_images(count: usize, image: ImageShape) -> ImageSet {
    let mut rng = stream_rng(0, 99, 0);
    let shape = image.dims();
    let pixels = (0..count * shape.iter().product::<usize>())
        .map(|_| rng.random::<u8>())
        .collect();
    ImageSet::new("random", shape, pixels, None)
}

/// CPU seconds this process has used so far, all threads together (Linux; `None`
/// elsewhere). Unlike wall time, it does not count the time other machines' work on the same
/// host steals, so it compares variants on a noisy machine more steadily.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is parenthesised and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // /proc reports in USER_HZ, 100 per second on every Linux architecture.
    Some(ticks / 100.0)
}

/// The process's peak resident memory so far, in MiB (Linux; `None` elsewhere).
fn peak_resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Times `steps` training steps and `steps` evaluation batches the way `train` and `eval` run
/// them: each batch split over `threads` workers, evaluation through the folded scorer.
fn measure(
    preset: Preset,
    kind: ModelKind,
    device: &Device,
    threads: usize,
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
    let images = random_images(batch, image);
    let all: Vec<usize> = (0..batch).collect();
    model.initialize(
        batch_tensor(&images, &all, &autodiff),
        &mut stream_rng(0, 2, 0),
    );
    let mut optimizer = Optimizer::new(schedule.optimizer, Some(50.0));
    let mut train_step = |model: Model, i: usize| {
        let shards = shard_ranges(batch, threads)
            .into_iter()
            .enumerate()
            .map(|(k, range)| Shard {
                pixels: batch_tensor(&images, &range.collect::<Vec<_>>(), &autodiff),
                rng: shard_rng(0, 3, i as u64, k),
            })
            .collect();
        let gradients = batch_gradients(&model, shards, batch, KlWeight::BOUND, None)
            .gradients
            .expect("finite gradients on random images");
        optimizer.apply(model, gradients, 1e-4).0
    };
    // The first step pays for kernel compilation and autotuning on a GPU (once per machine
    // where the autotune cache persists); reported, not counted in the rate.
    let first = Instant::now();
    model = train_step(model, 0);
    let first_step_seconds = first.elapsed().as_secs_f64();
    let (start, cpu) = (Instant::now(), process_cpu_seconds());
    for i in 0..steps {
        model = train_step(model, i + 1);
    }
    let train_rate = (steps * batch) as f64 / start.elapsed().as_secs_f64();
    let per_cpu_second =
        |cpu: Option<f64>| Some((steps * batch) as f64 / (process_cpu_seconds()? - cpu?));
    let train_per_cpu_second = per_cpu_second(cpu);
    let peak_mib = peak_resident_mib();

    let plain = model.valid();
    let inner = device.clone().inner();
    let warm_up = random_images(batch, image);
    evaluate(&plain, &warm_up, batch, 1, 0, threads, &inner);
    let eval_set = random_images(steps * batch, image);
    let (start, cpu) = (Instant::now(), process_cpu_seconds());
    evaluate(&plain, &eval_set, batch, 1, 0, threads, &inner);
    let eval_rate = (steps * batch) as f64 / start.elapsed().as_secs_f64();
    let eval_per_cpu_second = per_cpu_second(cpu);
    Measurement {
        preset,
        model: kind,
        image: image.dims(),
        batch_size: batch,
        threads,
        parameters: plain.num_params(),
        train_images_per_sec: train_rate,
        eval_images_per_sec: eval_rate,
        train_images_per_cpu_second: train_per_cpu_second,
        eval_images_per_cpu_second: eval_per_cpu_second,
        peak_resident_mib_after_training: peak_mib,
        first_step_seconds,
        reference_per_sec: reference,
        train_vs_reference: train_rate / reference,
        eval_vs_reference: eval_rate / reference,
    }
}

/// Measures every preset with every model kind on `device`, the reference workload timed
/// before each.
pub fn bench(
    presets: &[Preset],
    kinds: &[ModelKind],
    device: &Device,
    options: &BenchOptions,
    progress: &mut dyn Progress,
) -> Vec<Measurement> {
    let mut results = Vec::new();
    for &preset in presets {
        for &kind in kinds {
            let reference = reference_rate(device, options.steps);
            progress.note(&format!("measuring {preset} {kind} ..."));
            results.push(measure(
                preset,
                kind,
                device,
                options.threads,
                options.steps,
                options.batch_size,
                reference,
            ));
        }
    }
    results
}

/// The measurements as a Markdown table (evaluation is timed with one posterior sample: a
/// VAE's k-sample bound costs about k times as much).
pub fn bench_table(results: &[Measurement]) -> String {
    let mut table = String::from(
        "| preset | model | image | batch | threads | parameters | train img/s | eval img/s (1 sample) | train / reference | eval / reference | peak RSS MiB | first step s |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in results {
        table.push_str(&format!(
            "| {} | {} | {:?} | {} | {} | {} | {:.1} | {:.1} | {:.3} | {:.3} | {} | {:.2} |\n",
            m.preset,
            m.model,
            m.image,
            m.batch_size,
            m.threads,
            m.parameters,
            m.train_images_per_sec,
            m.eval_images_per_sec,
            m.train_vs_reference,
            m.eval_vs_reference,
            m.peak_resident_mib_after_training
                .map_or("–".into(), |v| format!("{v:.0}")),
            m.first_step_seconds
        ));
    }
    table
}
