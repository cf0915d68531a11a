//! `genood train`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use genood_data::SetSpec;
use genood_flows::fold::Precision;
use genood_models::ModelConfig;
use genood_models::config::TrainConfig;
use genood_models::presets::{ModelKind, Preset};
use genood_train::run::{RunConfig, RunDir};
use genood_train::trainer::{TrainSummary, train};

use crate::device::{Compute, parse_device};
use crate::progress::Progress;

/// Arguments of `genood train`.
#[derive(Args, Clone)]
pub struct TrainArgs {
    /// Run folder: config.json, model.safetensors, optimizer.safetensors, state.json, metrics.csv.
    #[arg(long)]
    pub run: PathBuf,
    /// A run configuration (JSON, as config.json); overrides --preset/--model/--data.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Preset: tiny, quick or paper.
    #[arg(long, default_value = "quick")]
    pub preset: String,
    /// glow (affine couplings), cv-glow (additive couplings, constant volume), pixelcnnpp,
    /// vae-categorical or vae-realnvp.
    #[arg(long, default_value = "glow")]
    pub model: String,
    /// Training set.
    #[arg(long, default_value = "fashion-mnist:train")]
    pub data: String,
    /// Override the number of optimiser steps.
    #[arg(long, value_parser = crate::numbers::positive)]
    pub steps: Option<usize>,
    /// Override the batch size.
    #[arg(long, value_parser = crate::numbers::positive)]
    pub batch_size: Option<usize>,
    /// Override the peak learning rate.
    #[arg(long, value_parser = crate::numbers::positive_finite)]
    pub lr: Option<f64>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train a background model for the likelihood-ratio score: each training pixel is
    /// replaced by a uniform random value with probability MU (default 0.2).
    #[arg(long, value_name = "MU", num_args = 0..=1, default_missing_value = "0.2")]
    pub background: Option<f64>,
    /// L2 penalty λ/2·‖θ‖² (e.g. for a background model).
    #[arg(long, value_name = "LAMBDA")]
    pub l2: Option<f64>,
    /// Number format of the coupling networks' convolutions in training: f32, or bf16 for
    /// mixed precision on a GPU (Glow and CV-Glow; evaluation always computes in f32).
    #[arg(long, value_parser = ["f32", "bf16"])]
    pub precision: Option<String>,
    /// Log the mean log-likelihood of these sets (e.g. mnist:test), of training images and of
    /// the held-out images to dynamics.csv at every metrics row, for `genood analyze`.
    #[arg(long, num_args = 1.., value_name = "SET")]
    pub monitor: Vec<String>,
    /// Continue from the run folder's last checkpoint.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Start over in a folder that already holds a run: first deletes its checkpoint, logs,
    /// scores and regret files (other files are left alone).
    #[arg(long)]
    pub overwrite: bool,
    /// Print the configuration as JSON and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Device and worker threads.
    #[command(flatten)]
    pub compute: Compute,
}

/// A model kind by name, or an error listing them.
pub fn model_kind_of(name: &str) -> Result<ModelKind> {
    ModelKind::parse(name).with_context(|| {
        format!(
            "unknown model `{name}`; choose one of {}",
            ModelKind::ALL.map(ModelKind::name).join(", ")
        )
    })
}

/// A preset by name, or an error listing them.
pub fn preset_of(name: &str) -> Result<Preset> {
    Preset::parse(name).with_context(|| {
        format!(
            "unknown preset `{name}`; choose one of {}",
            Preset::ALL.map(Preset::name).join(", ")
        )
    })
}

fn apply_overrides(train: &mut TrainConfig, args: &TrainArgs) {
    if let Some(steps) = args.steps {
        train.steps = steps;
    }
    if let Some(batch) = args.batch_size {
        train.batch_size = batch;
    }
    if let Some(lr) = args.lr {
        train.learning_rate = lr;
    }
    if let Some(seed) = args.seed {
        train.seed = seed;
    }
    if let Some(mu) = args.background {
        train.background_noise = Some(mu);
    }
    if let Some(lambda) = args.l2 {
        train.l2 = Some(lambda);
    }
}

/// The run configuration the arguments describe.
pub fn run_config(args: &TrainArgs) -> Result<RunConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str::<RunConfig>(&text)
                .with_context(|| format!("{}: not a run configuration", path.display()))?
        }
        None => {
            let preset = preset_of(&args.preset)?;
            let kind = model_kind_of(&args.model)?;
            let spec = SetSpec::parse(&args.data)?;
            let shape = match &spec {
                SetSpec::Real { dataset, .. } => dataset.shape(),
                _ => bail!(
                    "train on a named split (e.g. fashion-mnist:train), not `{}`",
                    args.data
                ),
            };
            let image = genood_models::ImageShape {
                channels: shape[0],
                height: shape[1],
                width: shape[2],
            };
            RunConfig {
                model: preset.model(image, kind),
                train: preset.train(kind),
                data: args.data.clone(),
                monitor: Vec::new(),
                threads: 1,
            }
        }
    };
    apply_overrides(&mut config.train, args);
    config.threads = args.compute.threads();
    if let Some(precision) = &args.precision {
        let ModelConfig::Glow(glow) = &mut config.model else {
            bail!(
                "--precision applies to glow and cv-glow, not to {}",
                config.model.label()
            );
        };
        glow.flow.precision = match precision.as_str() {
            "bf16" => Precision::Bf16,
            _ => Precision::F32,
        };
    }
    if !args.monitor.is_empty() {
        config.monitor = args.monitor.clone();
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    Ok(config)
}

/// Trains as the arguments say and prints the summary.
pub fn run(args: TrainArgs, data_dir: &Path) -> Result<()> {
    let config = run_config(&args)?;
    if args.print_config {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(());
    }
    if args.overwrite {
        RunDir::new(&args.run).clear()?;
    }
    train_config(
        &config,
        &args.run,
        args.resume,
        &args.compute.device,
        data_dir,
    )
    .map(|_| ())
}

/// Trains `config` into `run_dir`.
pub fn train_config(
    config: &RunConfig,
    run_dir: &Path,
    resume: bool,
    device: &str,
    data_dir: &Path,
) -> Result<TrainSummary> {
    let device = parse_device(device)?;
    let set = SetSpec::parse(&config.data)?.load(data_dir, config.train.seed)?;
    let mut monitor = Vec::new();
    for spec in &config.monitor {
        let mut loaded = SetSpec::parse(spec)?.load(data_dir, config.train.seed)?;
        loaded.name = spec.clone();
        monitor.push(loaded);
    }
    let label = format!("{} {}", config.model.label(), run_dir.display());
    let mut progress = Progress::new(&label);
    let summary = train(
        &RunDir::new(run_dir),
        config,
        &set,
        &monitor,
        resume,
        &device,
        &mut progress,
    )?;
    drop(progress);
    eprintln!(
        "{label}: {} steps, held-out {:.4} bpd, {:.0} img/s, {:.0} s",
        summary.steps, summary.heldout_bpd, summary.images_per_sec, summary.seconds
    );
    Ok(summary)
}
