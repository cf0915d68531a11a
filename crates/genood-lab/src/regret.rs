//! Likelihood regret (Xiao et al. 2020) of a run's VAE on named sets, into the run folder:
//! `regret/<set>.csv` and `.json`.

use std::path::Path;
use std::time::Instant;

use genood_data::SetSpec;
use genood_models::DensityModel;
use genood_train::provenance::check_still_current;
use genood_train::regret::{RegretConfig, RegretSummary, likelihood_regret, write_regret_csv};
use genood_train::run::{RunDir, RunError};

use crate::context::Context;
use crate::error::LabError;
use crate::evaluation::WRITE_PATIENCE;
use crate::progress::Progress;
use crate::sets::load_subset;

/// Adam steps of the posterior refit, unless told otherwise (Xiao et al. use 100 for the
/// encoder's weights; the per-input parameters converge in fewer).
pub const STEPS: usize = 50;
/// Adam's learning rate for the posterior's mean and log standard deviation (at 0.05 the noisy
/// single-sample steps sometimes ended below the start; 0.01–0.02 did not).
pub const LEARNING_RATE: f64 = 0.02;
/// Posterior samples of each ELBO before and after.
pub const SAMPLES: usize = 16;
/// The refit with the defaults above.
pub const DEFAULT_REFIT: RegretConfig = RegretConfig {
    steps: STEPS,
    learning_rate: LEARNING_RATE,
    samples: SAMPLES,
};

/// Which images [`regret_sets`] refits, and how the work is spread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegretOptions {
    /// At most this many images per set (the seeded subset evaluation takes).
    pub limit: Option<usize>,
    /// Images refit together.
    pub batch_size: usize,
    /// Seed of subsets and posterior samples.
    pub seed: u64,
    /// Worker threads (the scores do not depend on it).
    pub threads: usize,
}

/// Likelihood regret of each set named in `sets` with the VAE in `run_dir` (refitting on the
/// context's device with autodiff), written into the run folder set by set.
pub fn regret_sets(
    run_dir: &Path,
    sets: &[SetSpec],
    context: &Context,
    refit: RegretConfig,
    options: &RegretOptions,
    progress: &mut dyn Progress,
) -> Result<Vec<RegretSummary>, LabError> {
    let (data, device) = (&context.data, &context.device.clone().autodiff());
    let run = RunDir::new(run_dir);
    let checkpoint = run.load_checkpoint(device)?;
    let made_by = checkpoint.origin();
    let (config, model) = (checkpoint.config, checkpoint.model);
    let vae = model.vae().ok_or_else(|| RunError::Config {
        path: run.config(),
        reason: format!(
            "likelihood regret needs a VAE, this run is {}",
            config.model.label()
        ),
    })?;
    let mut summaries = Vec::new();
    for name in sets {
        let subset = load_subset(name, data, options.seed, options.limit, model.image_dims())?;
        let started = Instant::now();
        let task = format!("regret {name}");
        progress.advance(&task, 0, subset.indices.len());
        let scores = likelihood_regret(
            vae,
            &subset.set,
            &subset.indices,
            options.batch_size,
            refit,
            options.seed,
            options.threads,
            device,
            &task,
            progress,
        );
        let label = subset.spec.label();
        let path = run.regret(&label);
        // Written under the run's lock, and only while its model is still the one that
        // computed them (a training run may have committed another meanwhile).
        let _lock = run.lock_within(WRITE_PATIENCE)?;
        check_still_current(&run, &made_by)?;
        write_regret_csv(&path, &scores).map_err(LabError::io(&path))?;
        let summary = RegretSummary {
            set: label,
            images: scores.len(),
            config: refit,
            seconds: started.elapsed().as_secs_f64(),
            mean_regret: scores.iter().map(|s| s.regret).sum::<f64>() / scores.len().max(1) as f64,
            step: Some(made_by.0),
            model_sha256: Some(made_by.1.clone()),
        };
        run.write_json(&path.with_extension("json"), &summary)?;
        progress.note(&format!(
            "{}: {} images, mean regret {:.2} nats, {:.1} s ({:.1} ms/image) → {}",
            summary.set,
            summary.images,
            summary.mean_regret,
            summary.seconds,
            1e3 * summary.seconds / summary.images.max(1) as f64,
            path.display()
        ));
        summaries.push(summary);
    }
    Ok(summaries)
}
