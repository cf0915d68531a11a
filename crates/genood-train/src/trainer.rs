//! The training loop: warm-up, clipping, a guard against non-finite steps, atomic checkpoints,
//! resumption, and a metrics log.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use genood_data::ImageSet;
use genood_data::synthetic::perturb_pixels;
use genood_models::progress::MetricsRow;
use genood_models::{DensityModel, KlWeight, Model, Progress};
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::checkpoint::{self, Needs};
use crate::csv::CsvTable;
use crate::dynamics::{DynamicsRow, HELDOUT, TRAIN, read_dynamics_csv, write_dynamics_csv};
use crate::eval::{SetSummary, batch_tensor, evaluate, summarize};
use crate::optim::{Optimizer, StepOutcome};
use crate::parallel::{Shard, batch_gradients, shard_ranges};
use crate::run::{RunConfig, RunDir, RunError, TrainState, shard_rng, staged, stream_rng, streams};
use crate::weights::save_weights;

/// Reloads of the last good checkpoint after which training gives up.
const MAX_RELOADS: usize = 3;
/// Batch size of held-out evaluation.
const HELDOUT_BATCH: usize = 256;

/// Why training stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The run folder.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The data do not fit the model.
    #[error("{set}: images are {found:?}, the model expects {expected:?}")]
    Shape {
        /// The set.
        set: String,
        /// Its image shape.
        found: [usize; 3],
        /// The model's.
        expected: [usize; 3],
    },
    /// Too few training images for the held-out split and one batch.
    #[error("{set}: {count} images leave too few for training after holding out {heldout}")]
    TooSmall {
        /// The set.
        set: String,
        /// Images in it.
        count: usize,
        /// Images held out.
        heldout: usize,
    },
    /// `--resume` on a folder whose config differs from the one asked for (other than in
    /// its number of steps).
    #[error(
        "{path}: the run was started with another configuration; resume it with the same config (only the number of steps may change), or use a new folder"
    )]
    ConfigChanged {
        /// The run's config file.
        path: std::path::PathBuf,
    },
    /// A fresh run asked for in a folder that already holds one.
    #[error(
        "{path} already holds a run; continue it (--resume) or replace it (--overwrite, which deletes its checkpoint, logs, scores and regret files)"
    )]
    Occupied {
        /// The run folder.
        path: std::path::PathBuf,
    },
    /// Stopped on request ([`Progress::should_stop`]) after saving a checkpoint.
    #[error(
        "training stopped at step {step} on request, after saving a checkpoint there; resume the run to go on"
    )]
    Interrupted {
        /// The step of the checkpoint.
        step: usize,
    },
    /// Non-finite losses kept coming back after reloading.
    #[error(
        "training diverged: non-finite loss or gradient at step {step} {}",
        match reloads {
            0 => "before any checkpoint could be reloaded".to_string(),
            n => format!("persisted after {n} reloads of the last good checkpoint"),
        }
    )]
    Diverged {
        /// The step.
        step: usize,
        /// Reloads of the last good checkpoint before giving up.
        reloads: usize,
    },
}

/// What training does with a run folder that already holds (part of) a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A new run; refused when the folder holds one.
    Fresh,
    /// Continue from the folder's last checkpoint; a new run when it holds none, refused when
    /// it holds part of one.
    Resume,
    /// A new run that replaces the folder's: the old one is deleted only under the run's lock,
    /// once the new model is built and initialised on its data.
    Overwrite,
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSummary {
    /// Steps completed.
    pub steps: usize,
    /// Held-out bpd at the end.
    pub heldout_bpd: f64,
    /// Wall-clock seconds of this invocation.
    pub seconds: f64,
    /// Mean training images per second of this invocation.
    pub images_per_sec: f64,
    /// Steps skipped for a non-finite loss or gradient.
    pub skipped_steps: usize,
    /// Reloads of the last good checkpoint.
    pub reloads: usize,
}

/// `‖θ‖²` over the trainable parameters (the frozen ones carry no gradient anyway).
fn l2_penalty(model: &Model) -> Tensor<1> {
    let mut total: Option<Tensor<1>> = None;
    crate::params::for_each_parameter(model, |_, value, _| {
        let sq = value.square().sum();
        total = Some(match total.take() {
            Some(t) => t + sq,
            None => sq,
        });
    });
    total.expect("a model has parameters")
}

/// Linear warm-up to the peak learning rate, then constant.
pub fn learning_rate(config: &genood_models::config::TrainConfig, step: usize) -> f64 {
    if step < config.warmup_steps {
        config.learning_rate * (step + 1) as f64 / config.warmup_steps as f64
    } else {
        config.learning_rate
    }
}

/// A run may be resumed with a new total number of steps or threads, and nothing else
/// changed (bit-identity with an uninterrupted run holds at an unchanged thread count).
fn resumable_with(saved: &RunConfig, asked: &RunConfig) -> bool {
    let mut saved = saved.clone();
    saved.train.steps = asked.train.steps;
    saved.threads = asked.threads;
    saved == *asked
}

struct Loop<'a> {
    run: &'a RunDir,
    config: &'a RunConfig,
    train: ImageSet,
    heldout: ImageSet,
    /// Sets whose likelihood is followed over training: a fixed subset of the training
    /// images, then each monitored set (empty when nothing is monitored).
    followed: Vec<ImageSet>,
    device: Device,
    metrics: Vec<MetricsRow>,
    dynamics: Vec<DynamicsRow>,
}

impl Loop<'_> {
    fn batch_indices(&self, step: usize) -> Vec<usize> {
        let batch = self.config.train.batch_size;
        let n = self.train.len();
        let per_epoch = n / batch;
        let (epoch, position) = (step / per_epoch, step % per_epoch);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut stream_rng(
            self.config.train.seed,
            streams::BATCH_ORDER,
            epoch as u64,
        ));
        order[position * batch..(position + 1) * batch].to_vec()
    }

    /// The training batch cut into one shard per worker thread, perturbed pixel by pixel for
    /// a background model (over the whole batch, so the perturbation ignores the split).
    fn batch_shards(&self, indices: &[usize], step: usize) -> Vec<Shard> {
        let mut batch = self.train.select(indices, "training batch");
        if let Some(mu) = self.config.train.background_noise {
            let mut rng = stream_rng(
                self.config.train.seed,
                streams::BACKGROUND_NOISE,
                step as u64,
            );
            perturb_pixels(&mut batch.pixels, mu, &mut rng);
        }
        shard_ranges(batch.len(), self.config.threads)
            .into_iter()
            .enumerate()
            .map(|(k, range)| Shard {
                pixels: batch_tensor(&batch, &range.collect::<Vec<_>>(), &self.device),
                rng: shard_rng(self.config.train.seed, streams::TRAIN_NOISE, step as u64, k),
            })
            .collect()
    }

    /// Scores `set` without autodiff.
    fn summary(&self, model: &Model, set: &ImageSet) -> SetSummary {
        let plain = self.device.clone().inner();
        // One posterior sample: latent-variable models log their ELBO, the training objective.
        let scores = evaluate(
            &model.valid(),
            set,
            HELDOUT_BATCH,
            1,
            self.config.train.seed,
            self.config.threads,
            &plain,
        );
        summarize(&set.name, &model.bound(1).name(), &scores)
    }

    /// Appends this step's dynamics rows: the training subset, the held-out images (already
    /// scored for the metrics row) and each monitored set.
    fn follow(&mut self, model: &Model, step: usize, heldout: &SetSummary) {
        let row = |set: &str, s: &SetSummary| DynamicsRow {
            step,
            set: set.into(),
            images: s.count,
            mean_log_p: s.mean_log_p,
            mean_bpd: s.mean_bpd,
        };
        for (i, set) in self.followed.iter().enumerate() {
            if i == 1 {
                self.dynamics.push(row(HELDOUT, heldout));
            }
            let name = if i == 0 { TRAIN } else { &set.name };
            self.dynamics.push(row(name, &self.summary(model, set)));
        }
    }

    /// Writes a checkpoint and commits it as a whole ([`checkpoint`]), and the run's
    /// configuration beside it: a resume that changed the number of steps and then failed
    /// before its first checkpoint leaves `config.json` as it found it.
    fn save(
        &self,
        model: &Model,
        optimizer: &Optimizer,
        step: usize,
        train_window: (usize, f64),
    ) -> Result<(), RunError> {
        self.run.write_json(&self.run.config(), self.config)?;
        let mut files = vec![self.run.weights(), self.run.optimizer(), self.run.metrics()];
        save_weights(model, &staged(&files[0]))?;
        optimizer.save(&staged(&files[1]))?;
        self.write_metrics(&staged(&files[2]))?;
        if !self.followed.is_empty() {
            let path = self.run.dynamics();
            write_dynamics_csv(&staged(&path), &self.dynamics)
                .map_err(RunError::io(staged(&path)))?;
            files.push(path);
        }
        let mut state = checkpoint::staged_state(self.run, step, optimizer.time(), &files)?;
        state.train_window = Some(train_window);
        checkpoint::commit(self.run, &state)
    }

    fn write_metrics(&self, path: &Path) -> Result<(), RunError> {
        let mut table = CsvTable::new([
            "step",
            "epoch",
            "train_bpd",
            "heldout_bpd",
            "images_per_sec",
            "learning_rate",
        ]);
        for r in &self.metrics {
            table.row([
                r.step.to_string(),
                format!("{:.4}", r.epoch),
                format!("{:.5}", r.train_bpd),
                format!("{:.5}", r.heldout_bpd),
                format!("{:.2}", r.images_per_sec),
                format!("{:e}", r.learning_rate),
            ]);
        }
        table.write(path).map_err(RunError::io(path))
    }

    fn read_metrics(&self, up_to: usize) -> Vec<MetricsRow> {
        let Ok(text) = std::fs::read_to_string(self.run.metrics()) else {
            return Vec::new();
        };
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<f64> = line.split(',').filter_map(|v| v.parse().ok()).collect();
                (f.len() == 6).then(|| MetricsRow {
                    step: f[0] as usize,
                    epoch: f[1],
                    train_bpd: f[2],
                    heldout_bpd: f[3],
                    images_per_sec: f[4],
                    learning_rate: f[5],
                })
            })
            .filter(|r| r.step <= up_to)
            .collect()
    }

    /// Model, optimiser and step from the run's last checkpoint, on the autodiff device.
    fn restore(&self) -> Result<(Model, Optimizer, TrainState), RunError> {
        // A fresh optimiser would restart Adam's moments and bias correction, the run going
        // on silently unlike an uninterrupted one: its state must be there and whole.
        let state = checkpoint::verify(self.run, Needs::Training)?;
        let (_, model) = self.run.load_model(&self.device)?;
        let train = &self.config.train;
        let path = self.run.optimizer();
        let optimizer = Optimizer::load(train.optimizer, train.max_grad_norm, &path, &self.device)?;
        if state.optimizer_updates != Some(optimizer.time()) {
            return Err(RunError::Config {
                path,
                reason: format!(
                    "it has applied {} updates, the checkpoint of step {} records {:?}: the files do not belong together",
                    optimizer.time(),
                    state.step,
                    state.optimizer_updates
                ),
            });
        }
        Ok((model, optimizer, state))
    }
}

/// Refuses to resume a folder that holds part of a checkpoint: starting over there would
/// overwrite what is left, and the user must choose that (a fresh run) knowingly.
fn refuse_partial_checkpoint(run: &RunDir) -> Result<(), RunError> {
    let parts = [run.state(), run.weights(), run.optimizer(), run.metrics()];
    if !parts.iter().any(|p| p.exists()) {
        return Ok(());
    }
    let missing = [run.state(), run.weights()]
        .into_iter()
        .find(|p| !p.exists())
        .expect("a partial checkpoint lacks its state or its weights");
    let present: Vec<String> = parts
        .iter()
        .filter(|p| p.exists())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    Err(RunError::Missing {
        path: missing,
        reason: format!(
            "the folder holds part of a checkpoint ({}), so there is nothing whole to resume; restore the file, or start the run over (--overwrite)",
            present.join(", ")
        ),
    })
}

/// At most `size` images of `set` drawn by stream `index` of the monitor seed.
fn followed_subset(set: &ImageSet, size: usize, seed: u64, index: u64) -> ImageSet {
    let indices = set.sample_indices(size, &mut stream_rng(seed, streams::MONITOR, index));
    set.select(&indices, set.name.clone())
}

/// Images held out of a set of `len` for a configured `heldout_size`: at most a tenth of the
/// set, so a small set keeps most of its images for training (and at least one).
pub fn heldout_count(len: usize, heldout_size: usize) -> usize {
    heldout_size.min(len / 10).max(1)
}

/// Trains `config.model` on `train_set` into `run`, starting as `start` says. `heldout_size`
/// images ([`heldout_count`]: at most a tenth), drawn by the run's seed, are held out
/// ([`ImageSet::split_heldout`]). `monitor`
/// holds the sets `config.monitor` names, in its order; up to `heldout_size` images of each
/// (and of the training images) are scored at every metrics row into `dynamics.csv`.
pub fn train(
    run: &RunDir,
    config: &RunConfig,
    train_set: &ImageSet,
    monitor: &[ImageSet],
    start: Start,
    device: &Device,
    observer: &mut dyn Progress,
) -> Result<TrainSummary, TrainError> {
    assert_eq!(
        monitor.len(),
        config.monitor.len(),
        "one loaded set per monitored spec"
    );
    let expected = config.model.image().dims();
    for set in std::iter::once(train_set).chain(monitor) {
        if set.shape != expected {
            return Err(TrainError::Shape {
                set: set.name.clone(),
                found: set.shape,
                expected,
            });
        }
    }
    let tc = &config.train;
    let held = heldout_count(train_set.len(), tc.heldout_size);
    let (train, heldout) =
        train_set.split_heldout(held, &mut stream_rng(tc.seed, streams::HELDOUT_SPLIT, 0));
    if train.len() < tc.batch_size || heldout.is_empty() {
        return Err(TrainError::TooSmall {
            set: train_set.name.clone(),
            count: train_set.len(),
            heldout: held,
        });
    }
    observer.message(&format!(
        "{}: training on {} images, {} held out{}",
        train_set.name,
        train.len(),
        heldout.len(),
        if held < tc.heldout_size {
            format!(
                " (a tenth of the set; the configuration asks for {})",
                tc.heldout_size
            )
        } else {
            String::new()
        }
    ));
    let mut followed = Vec::new();
    if !monitor.is_empty() {
        followed.push(followed_subset(&train, tc.heldout_size, tc.seed, 0));
        for (i, set) in monitor.iter().enumerate() {
            followed.push(followed_subset(set, tc.heldout_size, tc.seed, i as u64 + 1));
        }
    }
    let device = device.clone().autodiff();
    let mut state = Loop {
        run,
        config,
        train,
        heldout,
        followed,
        device: device.clone(),
        metrics: Vec::new(),
        dynamics: Vec::new(),
    };

    let _lock = run.lock()?;
    if start == Start::Fresh && run.is_occupied() {
        // Training over it would leave the old scores beside a new model.
        return Err(TrainError::Occupied {
            path: run.path.clone(),
        });
    }
    genood_data::atomic::remove_stale_temporaries(&run.path).map_err(RunError::io(&run.path))?;
    let resume = start == Start::Resume;
    if resume && let Some(done) = checkpoint::recover(run)? {
        observer.message(&format!("{}: {done}", run.path.display()));
    }
    let (mut model, mut optimizer, first_step, open_window) = if resume && run.has_checkpoint() {
        let saved = run.read_config()?;
        if !resumable_with(&saved, config) {
            return Err(TrainError::ConfigChanged { path: run.config() });
        }
        let (model, optimizer, saved_state) = state.restore()?;
        observer.message(&format!(
            "resuming {} at step {}",
            run.path.display(),
            saved_state.step
        ));
        if saved.threads != config.threads {
            observer.message(&format!(
                "the run so far trained on {} threads, it goes on with {}: from here its last bits differ from an uninterrupted run's",
                saved.threads, config.threads
            ));
        }
        let open_window = saved_state.train_window.unwrap_or_default();
        (model, optimizer, saved_state.step, open_window)
    } else {
        if resume {
            refuse_partial_checkpoint(run)?;
        }
        let mut model = Model::new(
            &config.model,
            &mut stream_rng(tc.seed, streams::WEIGHTS, 0),
            &device,
        );
        let mut order: Vec<usize> = (0..state.train.len()).collect();
        order.shuffle(&mut stream_rng(tc.seed, streams::INIT, 0));
        order.truncate(tc.init_batch_size.min(order.len()));
        let init = batch_tensor(&state.train, &order, &device);
        model.initialize(init, &mut stream_rng(tc.seed, streams::INIT, 1));
        if start == Start::Overwrite {
            // Only now, under the lock, with the new run's data read and its model built.
            run.clear()?;
            observer.message(&format!(
                "{}: deleted the earlier run's checkpoint, logs and scores",
                run.path.display()
            ));
        }
        (
            model,
            Optimizer::new(tc.optimizer, tc.max_grad_norm),
            0,
            (0, 0.0),
        )
    };
    state.metrics = state.read_metrics(first_step);
    if !state.followed.is_empty() {
        state.dynamics = read_dynamics_csv(&run.dynamics())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.step <= first_step)
            .collect();
        if first_step == 0 {
            let heldout = state.summary(&model, &state.heldout);
            state.follow(&model, 0, &heldout);
        }
    }

    let per_epoch = state.train.len() / tc.batch_size;
    let started = Instant::now();
    // Steps and summed training bpd since the last metrics row, carried over a resume so that
    // the next row averages the same steps as an uninterrupted run's.
    let mut window = (Instant::now(), open_window.0, open_window.1);
    let (mut bad_in_a_row, mut skipped, mut reloads) = (0, 0, 0);
    observer.started(first_step, tc.steps);
    let mut step = first_step;
    while step < tc.steps {
        let step_started = Instant::now();
        let indices = state.batch_indices(step);
        let shards = state.batch_shards(&indices, step);
        let penalty = tc
            .l2
            .map(|lambda| move |m: &Model| l2_penalty(m).mul_scalar(lambda / 2.0));
        let kl = tc.kl_schedule.map_or(KlWeight::BOUND, |k| k.at(step));
        let batch = batch_gradients(
            &model,
            shards,
            indices.len(),
            kl,
            penalty
                .as_ref()
                .map(|p| p as &(dyn Fn(&Model) -> Tensor<1> + Sync)),
        );
        let bpd = batch.bpd;
        let lr = learning_rate(tc, step);
        let outcome = match batch.gradients {
            Some(gradients) => {
                let (updated, outcome) = optimizer.apply(model, gradients, lr);
                model = updated;
                outcome
            }
            None => StepOutcome::SkippedNonFinite,
        };
        if outcome == StepOutcome::SkippedNonFinite {
            skipped += 1;
            bad_in_a_row += 1;
            observer.message(&format!(
                "step {step}: non-finite loss or gradient, update skipped"
            ));
            if bad_in_a_row > tc.max_bad_steps {
                if reloads == MAX_RELOADS || !run.has_checkpoint() {
                    return Err(TrainError::Diverged { step, reloads });
                }
                reloads += 1;
                let (m, o, saved) = state.restore()?;
                let s = saved.step;
                (model, optimizer, step) = (m, o, s);
                observer.message(&format!("{bad_in_a_row} bad steps in a row: reloaded the last good checkpoint (step {s}), reload {reloads} of {MAX_RELOADS}"));
                bad_in_a_row = 0;
                continue;
            }
            // Move on to the next batch: the same one would fail the same way.
            step += 1;
            continue;
        }
        bad_in_a_row = 0;
        step += 1;
        window.1 += 1;
        window.2 += bpd;
        observer.step(
            step,
            bpd,
            indices.len() as f64 / step_started.elapsed().as_secs_f64(),
        );

        let epoch_end = step.is_multiple_of(per_epoch);
        if step.is_multiple_of(tc.log_every) || epoch_end || step == tc.steps {
            // Throughput of the training steps alone, before any evaluation.
            let images_per_sec =
                (window.1 * tc.batch_size) as f64 / window.0.elapsed().as_secs_f64();
            let heldout = state.summary(&model, &state.heldout);
            state.follow(&model, step, &heldout);
            let row = MetricsRow {
                step,
                epoch: step as f64 / per_epoch as f64,
                train_bpd: window.2 / window.1 as f64,
                heldout_bpd: heldout.mean_bpd,
                images_per_sec,
                learning_rate: lr,
            };
            observer.logged(&row);
            state.metrics.push(row);
            window = (Instant::now(), 0, 0.0);
        }
        let saved = step.is_multiple_of(tc.checkpoint_every) || step == tc.steps;
        if saved {
            state.save(&model, &optimizer, step, (window.1, window.2))?;
        }
        if step < tc.steps && observer.should_stop() {
            if !saved {
                state.save(&model, &optimizer, step, (window.1, window.2))?;
            }
            return Err(TrainError::Interrupted { step });
        }
    }
    if !run.has_checkpoint() {
        state.save(&model, &optimizer, step, (window.1, window.2))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let heldout_bpd = match state.metrics.last() {
        Some(row) if row.step == step => row.heldout_bpd,
        _ => state.summary(&model, &state.heldout).mean_bpd,
    };
    Ok(TrainSummary {
        steps: step,
        heldout_bpd,
        seconds,
        images_per_sec: ((step - first_step) * tc.batch_size) as f64 / seconds.max(1e-9),
        skipped_steps: skipped,
        reloads,
    })
}
