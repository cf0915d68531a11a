//! `genood train`.

use genood_data::SetSpec;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use genood_data::{Conform, DataSource};
use genood_flows::multiscale::Precision;
use genood_lab::training::{TrainOptions, run_config, train_reported};
use genood_train::run::RunDir;
use genood_train::trainer::Start;

use genood_models::presets::{ModelKind, Preset};

use crate::choices;
use crate::device::Compute;
use crate::progress::terminal;

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
    #[arg(long, default_value = "quick", value_parser = choices::named::<Preset>())]
    pub preset: Preset,
    /// glow (affine couplings), cv-glow (additive couplings, constant volume), pixelcnnpp,
    /// vae-categorical, vae-realnvp, diffusion (a variational diffusion model) or hvae (a
    /// hierarchical VAE).
    #[arg(long, default_value = "glow", value_parser = choices::named::<ModelKind>())]
    pub model: ModelKind,
    /// Training set: NAME:SPLIT, folder:PATH, npy:PATH or npz:PATH[:KEY].
    #[arg(long, default_value = "fashion-mnist:train")]
    pub data: SetSpec,
    /// Resize a folder's images to HxW (e.g. 32x32; default: their common size).
    #[arg(long, value_name = "HxW", value_parser = crate::numbers::size)]
    pub size: Option<[usize; 2]>,
    /// Make a folder's images grey (1) or RGB (3) (default: 1 when every image is grey).
    #[arg(long, value_parser = crate::numbers::channels)]
    pub channels: Option<usize>,
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
    #[arg(long, value_parser = choices::precision())]
    pub precision: Option<Precision>,
    /// Log the mean log-likelihood of these sets (e.g. mnist:test), of training images and of
    /// the held-out images to dynamics.csv at every metrics row, for `genood analyze`.
    #[arg(long, num_args = 1.., value_name = "SET")]
    pub monitor: Vec<SetSpec>,
    /// Continue from the run folder's last checkpoint, with the configuration saved there
    /// (unless --config names another).
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Start over in a folder that already holds a run: once the new run's data are read
    /// and its model built, and while holding the run's lock, deletes the old checkpoint,
    /// logs, scores, regret files and detector (other files are left alone).
    #[arg(long)]
    pub overwrite: bool,
    /// Print the configuration as JSON and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Device and worker threads.
    #[command(flatten)]
    pub compute: Compute,
}

impl TrainArgs {
    /// The library's training options these flags describe.
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            config: self.config.clone(),
            preset: self.preset,
            model: self.model,
            data: self.data.clone(),
            shape: Conform {
                channels: self.channels,
                size: self.size,
            },
            steps: self.steps,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            seed: self.seed,
            background: self.background,
            l2: self.l2,
            precision: self.precision,
            monitor: self.monitor.clone(),
            threads: self.compute.threads(),
        }
    }
}

/// Trains as the arguments say and prints the summary.
pub fn run(args: TrainArgs, data: &DataSource) -> Result<()> {
    crate::graceful::training_ahead();
    let mut options = args.options();
    let run = RunDir::new(&args.run);
    if args.resume && options.config.is_none() && run.config().exists() {
        options.config = Some(run.config());
    }
    let config = run_config(&options)?;
    if args.print_config {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(());
    }
    let start = match (args.resume, args.overwrite) {
        (true, _) => Start::Resume,
        (_, true) => Start::Overwrite,
        _ => Start::Fresh,
    };
    train_reported(
        &config,
        &args.run,
        start,
        &args.compute.context(data)?,
        &mut *terminal(),
    )?;
    Ok(())
}
