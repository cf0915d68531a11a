//! `genood reproduce`.

use genood_data::SetSpec;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use genood_data::DataSource;
use genood_lab::reproduce::{DEFAULT_MODELS, ReproduceOptions, reproduce};

use genood_models::presets::{ModelKind, Preset};

use crate::choices;
use crate::device::Compute;
use crate::progress::terminal;

/// Arguments of `genood reproduce`.
#[derive(Args)]
pub struct ReproduceArgs {
    /// The experiment: fashion-mnist-mnist, cifar10-svhn, svhn-cifar10, celeba-svhn, imagenet32-cifar10.
    #[arg(long, default_value = "fashion-mnist-mnist")]
    pub pair: String,
    /// Any training set instead of --pair (e.g. folder:photos/train), with --ood.
    #[arg(long, conflicts_with = "pair", requires = "ood")]
    pub train: Option<SetSpec>,
    /// The in-distribution test set of a --train experiment (default: the test split of a
    /// named training split).
    #[arg(long = "in", requires = "train")]
    pub in_dist: Option<SetSpec>,
    /// The OOD sets of a --train experiment.
    #[arg(long, num_args = 1.., requires = "train")]
    pub ood: Vec<SetSpec>,
    /// Preset: tiny, quick (CPU minutes) or paper (GPU hours).
    #[arg(long, default_value = "quick", value_parser = choices::named::<Preset>())]
    pub preset: Preset,
    /// Models to train, in order: glow, cv-glow, pixelcnnpp, vae-categorical, vae-realnvp,
    /// diffusion, hvae. The first also gets the likelihood-ratio background and the WAIC ensemble.
    #[arg(
        long,
        alias = "model",
        value_delimiter = ',',
        default_values_t = DEFAULT_MODELS.to_vec(),
        value_parser = choices::named::<ModelKind>()
    )]
    pub models: Vec<ModelKind>,
    /// Output folder (a sweep folder of one experiment): `<pair>/`, or `<pair>-<models>-<preset>/`
    /// where those differ from the defaults, with one run folder per model, results.json,
    /// summary.md, the report and the analysis; each job's log in `jobs/`.
    #[arg(long, default_value = "runs/reproduce")]
    pub out: PathBuf,
    /// Override the preset's number of optimiser steps.
    #[arg(long, value_parser = crate::numbers::positive)]
    pub steps: Option<usize>,
    /// Images of the training split to score (a seeded subset; 0 = all; at most 1,000 for
    /// PixelCNN++ and the VAEs on the CPU presets).
    #[arg(long, default_value_t = 10_000)]
    pub train_eval_limit: usize,
    /// Images of the test and each OOD set to score (a seeded subset; default: all, except
    /// 1,000 for PixelCNN++ and the VAEs on the CPU presets).
    #[arg(long, value_parser = crate::numbers::positive)]
    pub eval_limit: Option<usize>,
    /// μ of the first model's likelihood-ratio background (0: no background model).
    #[arg(long, default_value_t = 0.2)]
    pub background_mu: f64,
    /// Members of the first model's WAIC ensemble, counting it (1: no ensemble).
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 2)]
    pub ensemble: usize,
    /// Importance samples of a VAE's bound, or draws of a diffusion model's (default: 100 for
    /// the paper preset, 10 for the CPU presets, where 100 would take most of the time budget).
    #[arg(long, value_parser = crate::numbers::positive)]
    pub iw_samples: Option<usize>,
    /// Images of the test and each OOD set whose likelihood regret is computed (VAEs only; a
    /// seeded subset; default: all for the paper preset, 300 for the CPU presets).
    #[arg(long, value_parser = crate::numbers::positive)]
    pub regret_limit: Option<usize>,
    /// Take data archives from this folder (e.g. ../shared/data) before trying the network.
    #[arg(long)]
    pub mirror: Option<PathBuf>,
    /// Device and worker threads.
    #[command(flatten)]
    pub compute: Compute,
}

/// Runs the whole experiment, prints the summary and writes `results.json` and `summary.md`
/// into `--out`.
pub fn run(args: ReproduceArgs, data: &DataSource) -> Result<()> {
    let options = ReproduceOptions {
        pair: args.pair,
        train: args.train,
        in_dist: args.in_dist,
        ood: args.ood,
        preset: args.preset,
        models: args.models,
        out: args.out,
        steps: args.steps,
        train_eval_limit: args.train_eval_limit,
        eval_limit: args.eval_limit,
        background_mu: args.background_mu,
        ensemble: args.ensemble,
        iw_samples: args.iw_samples,
        regret_limit: args.regret_limit,
        mirror: args.mirror,
        device_name: args.compute.device.clone(),
        threads: args.compute.threads(),
    };
    let done = reproduce(&options, &args.compute.context(data)?, &mut *terminal())?;
    println!("{}", done.summary_text);
    eprintln!(
        "wrote {} and {} in {:.0} s",
        done.results.display(),
        done.summary.display(),
        done.seconds
    );
    Ok(())
}
