//! A run's configuration from a preset (or a config file) and overrides, and training it on
//! the named sets.

use std::path::{Path, PathBuf};

use genood_data::Conform;
use genood_data::SetSpec;
use genood_data::memory::check_available;
use genood_flows::multiscale::Precision;
use genood_models::footprint;
use genood_models::presets::{ModelKind, Preset};
use genood_models::{ImageShape, ModelConfig};
use genood_train::run::{RunConfig, RunDir, RunError, TrainState};
pub use genood_train::trainer::Start;
use genood_train::trainer::{TrainSummary, train};

use crate::context::Context;
use crate::error::LabError;
use crate::progress::Progress;
use crate::sets::loading_notes;

/// The largest learning rate a new run accepts: past it every optimiser here diverges at
/// once, and the run would end only as "diverged".
pub const MAX_LEARNING_RATE: f64 = 10.0;

/// What a run is to be: a config file or a preset, model and training set, then overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// A run configuration (JSON, as `config.json`); overrides `preset`, `model` and `data`.
    pub config: Option<PathBuf>,
    /// The size and schedule.
    pub preset: Preset,
    /// The model family.
    pub model: ModelKind,
    /// Training set, e.g. `fashion-mnist:train` or `folder:PATH`.
    pub data: SetSpec,
    /// The model's image channels and size for a folder set; what is left `None` is the
    /// images' own (a named set or an array keeps its shape).
    pub shape: Conform,
    /// Optimiser steps.
    pub steps: Option<usize>,
    /// Batch size.
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    pub learning_rate: Option<f64>,
    /// Seed of the weights, the batches, the noise and the held-out split.
    pub seed: Option<u64>,
    /// A likelihood-ratio background model: each training pixel is replaced by a uniform
    /// random value with this probability.
    pub background: Option<f64>,
    /// L2 penalty λ/2·‖θ‖².
    pub l2: Option<f64>,
    /// Number format of a flow's coupling networks in training.
    pub precision: Option<Precision>,
    /// Sets whose likelihood is logged to `dynamics.csv` while training.
    pub monitor: Vec<SetSpec>,
    /// Worker threads (training is bit-identical for a given count).
    pub threads: usize,
}

impl Default for TrainOptions {
    /// The quick Glow on FashionMNIST's training split, one thread.
    fn default() -> Self {
        Self {
            config: None,
            preset: Preset::Quick,
            model: ModelKind::Glow,
            data: SetSpec::parse("fashion-mnist:train").expect("a known set"),
            shape: Conform::default(),
            steps: None,
            batch_size: None,
            learning_rate: None,
            seed: None,
            background: None,
            l2: None,
            precision: None,
            monitor: Vec::new(),
            threads: 1,
        }
    }
}

/// The run configuration `options` describe, checked; a folder's image headers give the
/// model's input shape.
pub fn run_config(options: &TrainOptions) -> Result<RunConfig, LabError> {
    let mut config = match &options.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(LabError::io(&path))?;
            serde_json::from_str::<RunConfig>(&text).map_err(|e| RunError::Config {
                path: path.clone(),
                reason: format!("not a run configuration: {e}"),
            })?
        }
        None => {
            let (preset, kind) = (options.preset, options.model);
            let spec = &options.data;
            let shape = spec.native_shape(options.shape)?;
            // A folder is read at the asked shape; other sets keep theirs.
            let [c, h, w] = shape;
            if options.shape.channels.is_some_and(|asked| asked != c)
                || options.shape.size.is_some_and(|asked| asked != [h, w])
            {
                return Err(LabError::set(
                    spec,
                    format!(
                        "its images are {shape:?}; --size and --channels resize folder: sets only"
                    ),
                ));
            }
            let image = ImageShape {
                channels: shape[0],
                height: shape[1],
                width: shape[2],
            };
            RunConfig {
                model: preset.model(image, kind),
                train: preset.train(kind),
                // Absolute, so that the run can be used from any working directory.
                data: spec.absolute()?.label(),
                monitor: Vec::new(),
                threads: 1,
            }
        }
    };
    let train = &mut config.train;
    train.steps = options.steps.unwrap_or(train.steps);
    train.batch_size = options.batch_size.unwrap_or(train.batch_size);
    train.learning_rate = options.learning_rate.unwrap_or(train.learning_rate);
    train.seed = options.seed.unwrap_or(train.seed);
    train.background_noise = options.background.or(train.background_noise);
    train.l2 = options.l2.or(train.l2);
    config.threads = options.threads;
    if let Some(precision) = options.precision {
        let ModelConfig::Glow(glow) = &mut config.model else {
            return Err(LabError::Invalid {
                what: "precision",
                reason: format!(
                    "a training precision applies to glow and cv-glow, not to {}",
                    config.model.label()
                ),
            });
        };
        glow.flow.precision = precision;
    }
    if !options.monitor.is_empty() {
        config.monitor = options
            .monitor
            .iter()
            .map(|set| Ok(set.absolute()?.label()))
            .collect::<Result<_, LabError>>()?;
    }
    config.validate().map_err(|e| LabError::Invalid {
        what: "configuration",
        reason: format!("configuration: {e}"),
    })?;
    if config.train.learning_rate > MAX_LEARNING_RATE {
        return Err(LabError::Invalid {
            what: "learning_rate",
            reason: format!(
                "configuration: train.learning_rate (--lr) is {:e}, beyond any rate that trains (at most {MAX_LEARNING_RATE})",
                config.train.learning_rate
            ),
        });
    }
    let (image, batch) = (config.model.image().dims(), config.train.batch_size);
    let needed = footprint::bytes_needed(&config.model, batch, true);
    check_available(needed).map_err(|e| LabError::Invalid {
        what: "memory",
        reason: format!(
            "configuration: training {} on {}×{}×{} images at --batch-size {batch} ({}; {} parameters) {e}: make the model, the images (--size) or the batch smaller",
            config.model.label(),
            image[0],
            image[1],
            image[2],
            footprint::size_fields(&config.model),
            footprint::parameter_count(&config.model)
        ),
    })?;
    Ok(config)
}

/// Trains `config` into `run_dir` on the context's device, starting as `start` says, on the
/// training and monitored sets the config names. The sets are read before the run folder is
/// touched.
pub fn train_run(
    config: &RunConfig,
    run_dir: &Path,
    start: Start,
    context: &Context,
    observer: &mut dyn Progress,
) -> Result<TrainSummary, LabError> {
    let data = &context.data;
    let conform = Conform::to(config.model.image().dims());
    let set = SetSpec::parse(&config.data)?.load(data, config.train.seed, conform)?;
    for note in loading_notes(&set) {
        observer.message(&note);
    }
    let mut monitor = Vec::new();
    for spec in &config.monitor {
        let mut loaded = SetSpec::parse(spec)?.load(data, config.train.seed, conform)?;
        loaded.name = spec.clone();
        monitor.push(loaded);
    }
    Ok(train(
        &RunDir::new(run_dir),
        config,
        &set,
        &monitor,
        start,
        &context.device,
        observer,
    )?)
}

/// The fields where `saved` and `asked` differ, as `path: saved → asked` (at most three).
fn changed_fields(saved: &RunConfig, asked: &RunConfig) -> Vec<String> {
    fn walk(path: String, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for key in keys {
                    let null = serde_json::Value::Null;
                    let (p, q) = (x.get(key).unwrap_or(&null), y.get(key).unwrap_or(&null));
                    let at = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(at, p, q, out);
                }
            }
            _ if a != b => out.push(format!("{path}: {a} → {b}")),
            _ => {}
        }
    }
    let json = |c: &RunConfig| serde_json::to_value(c).expect("configs serialise");
    let mut out = Vec::new();
    walk(String::new(), &json(saved), &json(asked), &mut out);
    out.truncate(3);
    out
}

/// [`train_run`] reported through `progress`: a training run called "<model> <run folder>",
/// then a line with its steps, held-out bpd and speed.
pub fn train_reported(
    config: &RunConfig,
    run_dir: &Path,
    start: Start,
    context: &Context,
    progress: &mut dyn Progress,
) -> Result<TrainSummary, LabError> {
    let label = format!("{} {}", config.model.label(), run_dir.display());
    progress.training(&label);
    let summary = train_run(config, run_dir, start, context, progress)?;
    progress.note(&format!(
        "{label}: {} steps, held-out {:.4} bpd, {:.0} img/s, {:.0} s",
        summary.steps, summary.heldout_bpd, summary.images_per_sec, summary.seconds
    ));
    Ok(summary)
}

/// Trains `config` into `run_dir`, resuming a run of the same config from its last
/// checkpoint, unless it is finished; returns (seconds, images per second) of training, zeros
/// when it was finished already. A folder holding a run of another config is refused, not
/// resumed: a pipeline's run folder must hold what its job's inputs say.
pub fn ensure_trained(
    config: &RunConfig,
    run_dir: &Path,
    context: &Context,
    progress: &mut dyn Progress,
) -> Result<(f64, f64), LabError> {
    let run = RunDir::new(run_dir);
    if run.config().exists() {
        let saved = run.read_config()?;
        let changed = changed_fields(&saved, config);
        if !changed.is_empty() {
            return Err(LabError::File {
                path: run.config(),
                reason: format!(
                    "holds a run of another configuration ({}); remove the run folder or write into another folder",
                    changed.join(", ")
                ),
            });
        }
    }
    let finished = run.has_checkpoint()
        && run
            .read_json::<TrainState>(&run.state())
            .is_ok_and(|s| s.step >= config.train.steps);
    if finished {
        progress.note(&format!("{}: already trained", run_dir.display()));
        return Ok((0.0, 0.0));
    }
    let summary = train_reported(config, run_dir, Start::Resume, context, progress)?;
    Ok((summary.seconds, summary.images_per_sec))
}
