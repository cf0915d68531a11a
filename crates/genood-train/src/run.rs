//! A run folder: what is in it, and loading a trained model back from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use genood_data::ImageSet;
use genood_data::atomic::write_atomically;
use genood_data::checksum::sha256_hex;
use genood_models::ModelConfig;
use genood_models::config::TrainConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::weights::WeightsError;

/// Everything needed to rebuild and continue a run; saved as `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The model.
    pub model: ModelConfig,
    /// The training schedule.
    pub train: TrainConfig,
    /// The training set, e.g. `fashion-mnist:train`.
    pub data: String,
    /// Sets (e.g. `mnist:test`) whose mean log-likelihood is logged to `dynamics.csv` with
    /// the training and held-out images at every metrics row; empty: nothing is logged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitor: Vec<String>,
    /// Worker threads each training batch is split across. Training is bit-identical for a
    /// given count; runs saved before the option existed trained on one.
    #[serde(default = "one_thread")]
    pub threads: usize,
}

fn one_thread() -> usize {
    1
}

impl RunConfig {
    /// Checks that the model can be built and that the schedule's numbers are in range.
    pub fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        self.train.validate()?;
        if self.train.kl_schedule.is_some() && !matches!(self.model, ModelConfig::Hvae(_)) {
            return Err(format!(
                "train.kl_schedule weights a hierarchical VAE's KL terms; a {} model has none to weight",
                self.model.label()
            ));
        }
        if self.threads == 0 {
            return Err("threads must be at least 1, got 0".into());
        }
        Ok(())
    }
}

/// Progress saved with each checkpoint as `state.json`. Every random draw of step `s` is seeded
/// from `(seed, s)` (and batch order from `(seed, epoch)`), so the step is the whole RNG state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps completed.
    pub step: usize,
    /// Updates the optimiser applied (steps with a non-finite gradient apply none); absent in
    /// runs saved before checkpoints recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer_updates: Option<u64>,
    /// The SHA-256 of each file of the checkpoint, by file name (none in older runs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// Steps and their summed training bpd since the last metrics row, so that the first row
    /// after a resume averages the same steps as an uninterrupted run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_window: Option<(usize, f64)>,
    /// Steps skipped for a non-finite loss or gradient: `step` is always the optimiser's
    /// updates plus these, which [`TrainState::check`] holds an edited step against.
    #[serde(default)]
    pub skipped_steps: usize,
}

impl TrainState {
    /// Checks what the state says of itself, before any file is read by it: that it lists
    /// the SHA-256 of the weights (without digests nothing could be checked), and that its
    /// step is its optimiser updates plus its skipped steps. `path` names it in errors.
    pub fn check(&self, path: &Path) -> Result<(), RunError> {
        let refuse = |reason: String| {
            Err(RunError::Config {
                path: path.into(),
                reason,
            })
        };
        if !self.files.contains_key(WEIGHTS) {
            return refuse(format!(
                "lists no SHA-256 of {WEIGHTS} (its `files`), so the checkpoint cannot be checked: the file was edited or damaged, or a genood older than checkpoint digests wrote it; train the run again"
            ));
        }
        match self.optimizer_updates {
            None => refuse(
                "records no optimiser update count (`optimizer_updates`): the file was edited or damaged".into(),
            ),
            Some(updates) if updates as usize + self.skipped_steps != self.step => refuse(format!(
                "step {} is not its {updates} optimiser updates plus {} skipped steps: the file was edited or damaged",
                self.step, self.skipped_steps
            )),
            Some(_) => Ok(()),
        }
    }
}

/// The weights' file name in a run folder.
pub const WEIGHTS: &str = "model.safetensors";
/// The optimiser state's file name in a run folder.
pub const OPTIMIZER: &str = "optimizer.safetensors";
/// The metrics log's file name in a run folder.
pub const METRICS: &str = "metrics.csv";

/// Why a run folder could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file of the run could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON file of the run is malformed or does not fit.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field where serde does.
        reason: String,
    },
    /// The weights or optimiser state.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// A checkpoint file whose bytes changed after it was written.
    #[error(
        "{path}: its SHA-256 is {actual}, the checkpoint's state.json recorded {expected}: the file was changed or damaged after it was written"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The digest recorded at the commit.
        expected: String,
        /// The digest of the bytes now.
        actual: String,
    },
    /// Another process holds the run folder's lock.
    #[error("{path}: another genood process is writing this run; wait for it to finish")]
    Busy {
        /// The run folder.
        path: PathBuf,
    },
    /// Scores made by an earlier checkpoint than the run's current one.
    #[error(
        "{path} was made by the checkpoint of step {made_at}; the run's model is now that of step {now}: score the set again (`genood {command}`)"
    )]
    Stale {
        /// The scores file.
        path: PathBuf,
        /// The command that makes it again (`eval`, `regret`).
        command: &'static str,
        /// The step of the checkpoint that made it.
        made_at: usize,
        /// The step of the run's checkpoint now.
        now: usize,
    },
    /// The checkpoint changed while a command used it: what it computed is not the current
    /// checkpoint's.
    #[error(
        "{path}: the run's checkpoint moved from step {loaded} to step {now} while this command used it (a training run committed a new one); run the command again once training is done"
    )]
    Moved {
        /// The run folder.
        path: PathBuf,
        /// The step of the checkpoint the command loaded.
        loaded: usize,
        /// The step of the run's checkpoint now.
        now: usize,
    },
    /// A file a checkpoint needs is not there.
    #[error("{path} is missing: {reason}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// Why the run cannot go on without it.
        reason: String,
    },
}

impl RunError {
    /// A [`RunError::Io`] maker naming `path`, for `map_err`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RunError {
        let path = path.into();
        move |source| RunError::Io { path, source }
    }
}

/// The files of a run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The folder.
    pub path: PathBuf,
}

impl RunDir {
    /// The run folder at `path` (not created until something is saved).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.path.join("config.json")
    }

    /// `model.safetensors`.
    pub fn weights(&self) -> PathBuf {
        self.path.join(WEIGHTS)
    }

    /// `optimizer.safetensors`.
    pub fn optimizer(&self) -> PathBuf {
        self.path.join(OPTIMIZER)
    }

    /// `state.json`.
    pub fn state(&self) -> PathBuf {
        self.path.join("state.json")
    }

    /// `metrics.csv`.
    pub fn metrics(&self) -> PathBuf {
        self.path.join(METRICS)
    }

    /// `dynamics.csv`: monitored sets' likelihood over training.
    pub fn dynamics(&self) -> PathBuf {
        self.path.join("dynamics.csv")
    }

    /// The per-example scores of set `label`, e.g. `scores/fashion-mnist_test.csv`.
    pub fn scores(&self, label: &str) -> PathBuf {
        self.scores_dir().join(file_name(label, "csv"))
    }

    /// Which checkpoint made set `label`'s scores, e.g. `scores/mnist_test.json`.
    pub fn scores_origin(&self, label: &str) -> PathBuf {
        self.scores_dir().join(file_name(label, "json"))
    }

    /// `scores/`: every set's per-example scores.
    pub fn scores_dir(&self) -> PathBuf {
        self.path.join("scores")
    }

    /// The likelihood regret of set `label`'s images, e.g. `regret/mnist_test.csv`.
    pub fn regret(&self, label: &str) -> PathBuf {
        self.path.join("regret").join(file_name(label, "csv"))
    }

    /// Set `label`'s per-image OOD verdicts (`genood detect`), e.g. `detect/mnist_test.csv`.
    pub fn verdicts(&self, label: &str) -> PathBuf {
        self.path.join("detect").join(file_name(label, "csv"))
    }

    /// The fitted OOD detector, `detector.json`.
    pub fn detector(&self) -> PathBuf {
        self.path.join("detector.json")
    }

    /// `summary.json`: each scored set's mean bpd and image count.
    pub fn summary(&self) -> PathBuf {
        self.path.join("summary.json")
    }

    /// `checkpoint.pending.json`: the commit record of a checkpoint being saved.
    pub fn pending_commit(&self) -> PathBuf {
        self.path.join("checkpoint.pending.json")
    }

    /// The files of a checkpoint, as [`crate::checkpoint`] commits them (each first written
    /// to its [`staged`] path).
    pub fn checkpoint_files(&self) -> [PathBuf; 4] {
        [
            self.weights(),
            self.optimizer(),
            self.metrics(),
            self.dynamics(),
        ]
    }

    /// Every file and folder genood writes into a run folder; anything else there is the
    /// user's.
    pub fn derived(&self) -> Vec<PathBuf> {
        let staged = self.checkpoint_files().map(|f| staged(&f));
        let mut derived = vec![
            self.config(),
            self.state(),
            self.pending_commit(),
            self.summary(),
            self.scores_dir(),
            self.path.join("regret"),
            self.detector(),
            self.path.join("detect"),
        ];
        derived.extend(self.checkpoint_files());
        derived.extend(staged);
        derived
    }

    /// True when the folder already holds (part of) a run.
    pub fn is_occupied(&self) -> bool {
        self.derived().iter().any(|p| p.exists())
    }

    /// Removes every file and folder of [`RunDir::derived`], so that nothing of an earlier run
    /// (scores above all) is taken for the new one's.
    pub fn clear(&self) -> Result<(), RunError> {
        for path in self.derived() {
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(RunError::Io { path, source: e });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Takes the run folder's lock (`.lock`, created if needed), held until the guard is
    /// dropped, so that two processes never write one run; refused while another holds it.
    pub fn lock(&self) -> Result<std::fs::File, RunError> {
        self.lock_within(std::time::Duration::ZERO)
    }

    /// Takes the run folder's lock like [`RunDir::lock`], waiting up to `patience` for
    /// another holder to let go: writers that hold it for a moment (the eval shards of a
    /// sweep, finishing together) take turns instead of failing.
    pub fn lock_within(&self, patience: std::time::Duration) -> Result<std::fs::File, RunError> {
        let path = self.path.join(".lock");
        let io = || RunError::io(&path);
        std::fs::create_dir_all(&self.path).map_err(io())?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io())?;
        let started = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < patience => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(RunError::Busy {
                        path: self.path.clone(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io()(e)),
            }
        }
    }

    /// True when a checkpoint (weights and state) exists.
    pub fn has_checkpoint(&self) -> bool {
        self.weights().exists() && self.state().exists()
    }

    /// Writes a value as pretty JSON, atomically.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), RunError> {
        let text = serde_json::to_string_pretty(value).expect("serialisable");
        write_atomically(path, text.as_bytes()).map_err(RunError::io(path))
    }

    /// Reads a JSON file.
    pub fn read_json<T: for<'de> Deserialize<'de>>(&self, path: &Path) -> Result<T, RunError> {
        let text = std::fs::read_to_string(path).map_err(RunError::io(path))?;
        serde_json::from_str(&text).map_err(|e| RunError::Config {
            path: path.into(),
            reason: e.to_string(),
        })
    }

    /// Reads `config.json` and checks it ([`RunConfig::validate`]).
    pub fn read_config(&self) -> Result<RunConfig, RunError> {
        let config: RunConfig = self.read_json(&self.config())?;
        config.validate().map_err(|reason| RunError::Config {
            path: self.config(),
            reason,
        })?;
        Ok(config)
    }
}

/// Where a checkpoint file is written before its commit.
pub fn staged(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".next");
    path.with_file_name(name)
}

/// `label` as a file name with extension `ext`: characters other than ASCII letters, digits,
/// `-`, `.` and `=` become `_`.
fn file_name(label: &str, ext: &str) -> String {
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '=' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // A folder's or array's path may hold any character, so two folders (`x_y` and `x/y`) can map to
    // one name: their files also carry a digest of the whole label. Data-set and synthetic
    // labels use only characters that cannot collide this way, and keep their plain names.
    if ["folder:", "npy:", "npz:"]
        .iter()
        .any(|kind| label.contains(kind))
    {
        let digest = sha256_hex(label.as_bytes());
        format!("{safe}-{}.{ext}", &digest[..12])
    } else {
        format!("{safe}.{ext}")
    }
}

/// A generator for draw `index` of stream `stream` of a run seeded `seed`, independent of how
/// many draws came before, so a resumed run draws exactly what an uninterrupted one would.
pub fn stream_rng(seed: u64, stream: u64, index: u64) -> StdRng {
    shard_rng(seed, stream, index, 0)
}

/// [`stream_rng`] for shard `shard` of a batch split across worker threads; shard 0 draws
/// what the whole batch draws on one thread.
pub fn shard_rng(seed: u64, stream: u64, index: u64, shard: usize) -> StdRng {
    let stream = stream ^ ((shard as u64) << 32);
    // SplitMix64-style mixing keeps nearby (stream, index) pairs far apart.
    let mut z = seed
        ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// One generator per image for stream `stream` of a run seeded `seed`, so that an image's
/// draws do not depend on the batch, limit, order or shard it is scored in. An image read
/// from a file (a folder set) is keyed by its path relative to the set's folder, so its noise
/// travels with the file whatever the folder is called (`folder:x`, `folder:./x` or an
/// absolute path elsewhere): `stream_rng(seed ^ h("file:" + path), stream, 0)`. Any other
/// image is keyed by its set's name and its index in the set:
/// `stream_rng(seed ^ h(name), stream, index)`. `h(S)` is the first 8 bytes of the SHA-256
/// of S's UTF-8 bytes read as a big-endian u64 (docs/format.md).
pub fn image_rngs(seed: u64, stream: u64, set: &ImageSet, indices: &[usize]) -> Vec<StdRng> {
    match &set.paths {
        Some(paths) => indices
            .iter()
            .map(|&i| stream_rng(seed ^ key_of(&format!("file:{}", paths[i])), stream, 0))
            .collect(),
        None => {
            let set_key = key_of(&set.name);
            indices
                .iter()
                .map(|&i| stream_rng(seed ^ set_key, stream, i as u64))
                .collect()
        }
    }
}

/// `h(S)` of [`image_rngs`]: the first 64 bits of the SHA-256 of `text`, big-endian.
fn key_of(text: &str) -> u64 {
    let digest = sha256_hex(text.as_bytes());
    u64::from_str_radix(&digest[..16], 16).expect("a SHA-256 digest is hex")
}

/// Streams of [`stream_rng`].
pub mod streams {
    /// Initial weights.
    pub const WEIGHTS: u64 = 1;
    /// Batch order of an epoch (index: the epoch).
    pub const BATCH_ORDER: u64 = 2;
    /// Dequantization noise of a training step (index: the step).
    pub const TRAIN_NOISE: u64 = 3;
    /// Dequantization noise and posterior samples of evaluation, per image ([`image_rngs`]).
    pub const EVAL_NOISE: u64 = 4;
    /// Data-dependent initialisation batch.
    pub const INIT: u64 = 5;
    /// Pixel perturbation of a background model's training step (index: the step).
    pub const BACKGROUND_NOISE: u64 = 6;
    /// Which images of each set training dynamics follow (index: the set's position, the
    /// training subset first).
    pub const MONITOR: u64 = 7;
    /// Posterior samples of likelihood regret's refitting, per image ([`image_rngs`]).
    pub const REGRET_REFIT: u64 = 8;
    /// Images drawn from a model (`genood sample`, the report's grid).
    pub const SAMPLES: u64 = 9;
    /// Which images of the training set are held out.
    pub const HELDOUT_SPLIT: u64 = 10;
    /// The batches of `genood detect`'s batch test (random and per-label grouping).
    pub const DETECT_BATCHES: u64 = 11;
    /// The noise of per-pixel maps (a diffusion model's reconstruction), per image.
    pub const PIXEL_MAPS: u64 = 12;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_set_gets_its_own_scores_file() {
        let run = RunDir::new("r");
        assert_eq!(
            run.scores("mnist:test"),
            Path::new("r/scores/mnist_test.csv")
        );
        assert_eq!(
            run.scores("gray=0.5/mnist:test"),
            Path::new("r/scores/gray=0.5_mnist_test.csv")
        );
        let (a, b) = (run.scores("folder:/d/x_y"), run.scores("folder:/d/x/y"));
        assert_ne!(a, b);
        assert!(
            a.to_string_lossy().starts_with("r/scores/folder__d_x_y-"),
            "{a:?}"
        );
    }
}
