//! `genood regret`: likelihood regret (Xiao et al. 2020) of a trained VAE on each set.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use genood_models::DensityModel;
use genood_train::regret::{RegretConfig, RegretSummary, likelihood_regret, write_regret_csv};
use genood_train::run::RunDir;

use crate::device::Compute;
use crate::eval::load_subset;
use crate::progress::WorkProgress;

/// Adam steps of the posterior refit, unless told otherwise (Xiao et al. use 100 for the
/// encoder's weights; the per-input parameters converge in fewer).
pub const STEPS: usize = 50;
/// Adam's learning rate for the posterior's mean and log standard deviation (at 0.05 the noisy
/// single-sample steps sometimes ended below the start; 0.01–0.02 did not).
pub const LEARNING_RATE: f64 = 0.02;
/// Posterior samples of each ELBO before and after.
pub const SAMPLES: usize = 16;

/// Arguments of `genood regret`.
#[derive(Args, Clone)]
pub struct RegretArgs {
    /// The run folder of a trained VAE.
    #[arg(long)]
    pub run: PathBuf,
    /// Sets to score, e.g. fashion-mnist:test mnist:test.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<String>,
    /// Score at most this many images per set (the same seeded subset `eval --limit` takes).
    #[arg(long, value_parser = crate::numbers::positive)]
    pub limit: Option<usize>,
    /// Adam steps of each input's posterior refit.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = STEPS)]
    pub steps: usize,
    /// Adam's learning rate.
    #[arg(long, value_parser = crate::numbers::positive_finite, default_value_t = LEARNING_RATE)]
    pub lr: f64,
    /// Posterior samples of the ELBO before and after (the same draws for both).
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = SAMPLES)]
    pub samples: usize,
    /// Images refit together.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 250)]
    pub batch_size: usize,
    /// Seed of subsets and posterior samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device and worker threads.
    #[command(flatten)]
    pub compute: Compute,
}

/// Scores every set and writes `regret/<set>.csv` and `.json` into the run folder.
pub fn run(args: RegretArgs, data_dir: &Path) -> Result<Vec<RegretSummary>> {
    let device = args.compute.device()?.autodiff();
    let run = RunDir::new(&args.run);
    let (config, model) = run
        .load_model(&device)
        .with_context(|| format!("loading the model from {}", args.run.display()))?;
    let vae = model.vae().ok_or_else(|| {
        anyhow!(
            "{}: likelihood regret needs a VAE, this run is {}",
            args.run.display(),
            config.model.label()
        )
    })?;
    let refit = RegretConfig {
        steps: args.steps,
        learning_rate: args.lr,
        samples: args.samples,
    };
    let mut summaries = Vec::new();
    for name in &args.data {
        let (spec, set, indices) =
            load_subset(name, data_dir, args.seed, args.limit, model.image_dims())?;
        let started = Instant::now();
        let mut bar = WorkProgress::new(&format!("regret {name}"));
        let scores = likelihood_regret(
            vae,
            &set,
            &indices,
            args.batch_size,
            refit,
            args.seed,
            args.compute.threads(),
            &device,
            &mut |done, total| bar.update(done, total),
        );
        drop(bar);
        let path = run.regret(&spec.label());
        write_regret_csv(&path, &scores).with_context(|| format!("writing {}", path.display()))?;
        let summary = RegretSummary {
            set: spec.label(),
            images: scores.len(),
            config: refit,
            seconds: started.elapsed().as_secs_f64(),
            mean_regret: scores.iter().map(|s| s.regret).sum::<f64>() / scores.len().max(1) as f64,
        };
        run.write_json(&path.with_extension("json"), &summary)?;
        eprintln!(
            "{}: {} images, mean regret {:.2} nats, {:.1} s ({:.1} ms/image) → {}",
            summary.set,
            summary.images,
            summary.mean_regret,
            summary.seconds,
            1e3 * summary.seconds / summary.images.max(1) as f64,
            path.display()
        );
        summaries.push(summary);
    }
    Ok(summaries)
}
