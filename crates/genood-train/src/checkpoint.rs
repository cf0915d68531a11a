//! Checkpoints committed as a whole: a reader sees the previous checkpoint or the new one,
//! never a mixture, whatever moment a crash or a `kill -9` hits.
//!
//! A save writes every file of the new checkpoint beside its final name (`model.safetensors`
//! → `model.safetensors.next`), then the commit record `checkpoint.pending.json`: the new
//! `state.json` (step, optimiser updates, each file's SHA-256). Writing that record is the
//! commit point. The staged files are then renamed into place, `state.json` is written, and
//! the record removed. Until the record exists the previous checkpoint is untouched; once it
//! exists, [`recover`] finishes the renames. [`verify`] checks every file against the
//! digests in `state.json`, so a file changed after it was written is found, never used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use genood_data::checksum::sha256_hex;
use genood_data::memory::check_available;
use genood_models::{Model, footprint};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::run::{METRICS, OPTIMIZER, RunConfig, RunDir, RunError, TrainState, WEIGHTS, staged};
use crate::weights::{parse_safetensors, weights_into};

/// The SHA-256 of the file at `path`, in hex.
pub fn digest(path: &Path) -> Result<String, RunError> {
    let bytes = std::fs::read(path).map_err(RunError::io(path))?;
    Ok(sha256_hex(&bytes))
}

/// The state of a checkpoint at `step` whose files (final names in `run`) were written to
/// their [`staged`] paths: their digests, read back from disk.
pub fn staged_state(
    run: &RunDir,
    step: usize,
    optimizer_updates: u64,
    files: &[PathBuf],
) -> Result<TrainState, RunError> {
    let mut digests = BTreeMap::new();
    for file in files {
        let name = file_name(file);
        debug_assert_eq!(
            run.path.join(&name),
            *file,
            "checkpoint files live in the run"
        );
        digests.insert(name, digest(&staged(file))?);
    }
    Ok(TrainState {
        step,
        optimizer_updates: Some(optimizer_updates),
        files: digests,
        train_window: None,
        skipped_steps: step - optimizer_updates as usize,
    })
}

/// Commits the checkpoint `state` describes, whose files are staged.
pub fn commit(run: &RunDir, state: &TrainState) -> Result<(), RunError> {
    apply(run, &operations(run, state), usize::MAX)
}

/// One step of a commit.
#[derive(Debug, Clone)]
enum Operation {
    /// Writes the commit record (the commit point).
    Record(TrainState),
    /// Renames a staged file into place.
    Install(PathBuf),
    /// Writes `state.json`.
    State(TrainState),
    /// Removes the commit record.
    Done,
}

fn operations(run: &RunDir, state: &TrainState) -> Vec<Operation> {
    let mut ops = vec![Operation::Record(state.clone())];
    ops.extend(
        state
            .files
            .keys()
            .map(|name| Operation::Install(run.path.join(name))),
    );
    ops.extend([Operation::State(state.clone()), Operation::Done]);
    ops
}

/// Applies the first `limit` of `ops` (all of them in production; fewer in the tests, which
/// stop a commit at every point as a crash would).
fn apply(run: &RunDir, ops: &[Operation], limit: usize) -> Result<(), RunError> {
    let pending = run.pending_commit();
    for op in ops.iter().take(limit) {
        match op {
            Operation::Record(state) => run.write_json(&pending, state)?,
            Operation::Install(path) => {
                let from = staged(path);
                // Already in place when a recovery repeats a commit that got this far.
                if from.exists() {
                    std::fs::rename(&from, path).map_err(RunError::io(&from))?;
                }
            }
            Operation::State(state) => run.write_json(&run.state(), state)?,
            Operation::Done => std::fs::remove_file(&pending).map_err(RunError::io(&pending))?,
        }
    }
    Ok(())
}

/// Brings a run folder back to one complete checkpoint after an interrupted save: finishes a
/// commit whose record was written, else drops the staged files of one that never reached
/// its commit point. Returns what it did, for the user, or `None` when nothing was pending.
pub fn recover(run: &RunDir) -> Result<Option<String>, RunError> {
    let pending = run.pending_commit();
    if pending.exists() {
        return match run.read_json::<TrainState>(&pending) {
            Ok(state) => {
                apply(run, &operations(run, &state)[1..], usize::MAX)?;
                Ok(Some(format!(
                    "finished committing the checkpoint of step {} that an interrupted save had begun",
                    state.step
                )))
            }
            Err(unreadable) => drop_unreadable_record(run, &unreadable),
        };
    }
    let dropped = drop_staged(run)?;
    Ok((!dropped.is_empty()).then(|| {
        format!(
            "dropped the files of a save interrupted before its commit ({}); the previous checkpoint stands",
            dropped.join(", ")
        )
    }))
}

/// Removes the staged files of a save; returns their names.
fn drop_staged(run: &RunDir) -> Result<Vec<String>, RunError> {
    let mut dropped = Vec::new();
    for file in run.checkpoint_files() {
        let leftover = staged(&file);
        if leftover.exists() {
            std::fs::remove_file(&leftover).map_err(RunError::io(&leftover))?;
            dropped.push(file_name(&leftover));
        }
    }
    Ok(dropped)
}

/// Recovery from a commit record that cannot be read. It is written atomically, so it was
/// damaged after its write and nothing says which files it committed: the previous
/// checkpoint stands when every file still matches its `state.json`, and the record and
/// staged files go; otherwise the run cannot be recovered, and the error says what to do.
fn drop_unreadable_record(run: &RunDir, unreadable: &RunError) -> Result<Option<String>, RunError> {
    let pending = run.pending_commit();
    match verify_state(run, Needs::Training) {
        Ok(state) => {
            drop_staged(run)?;
            std::fs::remove_file(&pending).map_err(RunError::io(&pending))?;
            Ok(Some(format!(
                "{} could not be read ({unreadable}): dropped it and the files it would have committed; the checkpoint of step {} stands",
                pending.display(),
                state.step
            )))
        }
        Err(previous) => Err(RunError::Missing {
            path: pending,
            reason: format!(
                "it cannot be read ({unreadable}), and the previous checkpoint is not whole either ({previous}): the run cannot be recovered; start it over (`train --overwrite`)"
            ),
        }),
    }
}

/// Which files of a checkpoint a command reads, and so has checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The weights alone (evaluation, scores, samples).
    Model,
    /// Every file the checkpoint lists, the optimiser state and metrics among them (resuming).
    Training,
}

/// The run's `state.json`, after checking it ([`TrainState::check`]) and the files `needs`
/// names against their SHA-256. A commit still pending is an error here: only training
/// ([`recover`]) may finish it.
pub fn verify(run: &RunDir, needs: Needs) -> Result<TrainState, RunError> {
    no_commit_pending(run)?;
    verify_state(run, needs)
}

fn no_commit_pending(run: &RunDir) -> Result<(), RunError> {
    if run.pending_commit().exists() {
        return Err(RunError::Missing {
            path: run.state(),
            reason: "a save was interrupted mid-commit; resume training (`train --resume`) to complete the checkpoint".into(),
        });
    }
    Ok(())
}

fn verify_state(run: &RunDir, needs: Needs) -> Result<TrainState, RunError> {
    let state: TrainState = run.read_json(&run.state())?;
    state.check(&run.state())?;
    let names: Vec<&str> = match needs {
        Needs::Model => vec![WEIGHTS],
        Needs::Training => {
            for needed in [OPTIMIZER, METRICS] {
                if !state.files.contains_key(needed) {
                    return Err(RunError::Config {
                        path: run.state(),
                        reason: format!(
                            "lists no SHA-256 of {needed}, which resuming reads: the file was edited or damaged"
                        ),
                    });
                }
            }
            state.files.keys().map(String::as_str).collect()
        }
    };
    for name in names {
        let path = run.path.join(name);
        if !path.exists() {
            return Err(RunError::Missing {
                path,
                reason: format!("the checkpoint of step {} lists it", state.step),
            });
        }
        check_digest(&path, &state.files[name], &digest(&path)?)?;
    }
    Ok(state)
}

/// Refuses a file whose digest is not the one its checkpoint recorded.
fn check_digest(path: &Path, expected: &str, actual: &str) -> Result<(), RunError> {
    if actual == expected {
        return Ok(());
    }
    Err(RunError::Damaged {
        path: path.into(),
        expected: expected.into(),
        actual: actual.into(),
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A model loaded from a run folder, with the checkpoint it came from.
pub struct Checkpoint {
    /// The run's configuration.
    pub config: RunConfig,
    /// The model, its weights those of `state`.
    pub model: Model,
    /// The checkpoint's state: its step and each file's digest.
    pub state: TrainState,
}

impl Checkpoint {
    /// The step and the weights' SHA-256: what made anything computed with this model.
    pub fn origin(&self) -> (usize, String) {
        (self.state.step, self.state.files[WEIGHTS].clone())
    }
}

/// Attempts at reading a state and its weights as one checkpoint while training may commit
/// new ones.
const LOAD_ATTEMPTS: usize = 5;

impl RunDir {
    /// Rebuilds the model from `config.json` and `model.safetensors` on `device`, with the
    /// state of the checkpoint whose weights it read: the weights' bytes are read once and
    /// checked against that state's digest, so a checkpoint committed meanwhile (a training
    /// run going on) is never mixed with another's state.
    pub fn load_checkpoint(&self, device: &Device) -> Result<Checkpoint, RunError> {
        let config = self.read_config()?;
        let path = self.weights();
        let mut attempt = 0;
        let (state, bytes) = loop {
            let state = verify_state_only(self)?;
            let bytes = std::fs::read(&path).map_err(RunError::io(&path))?;
            let actual = sha256_hex(&bytes);
            attempt += 1;
            match check_digest(&path, &state.files[WEIGHTS], &actual) {
                Ok(()) => break (state, bytes),
                // A new checkpoint was committed between the two reads: read both again.
                Err(_) if attempt < LOAD_ATTEMPTS && verify_state_only(self)? != state => {}
                Err(damaged) => return Err(damaged),
            }
        };
        let (tensors, _) = parse_safetensors(&path, &bytes)?;
        check_available(footprint::bytes_needed(&config.model, 1, false)).map_err(|e| {
            RunError::Config {
                path: self.config(),
                reason: format!(
                    "the model it describes ({}) {e}",
                    footprint::size_fields(&config.model)
                ),
            }
        })?;
        // The initial draw is overwritten by the saved weights, flag of actnorm included.
        let model = Model::new(&config.model, &mut StdRng::seed_from_u64(0), device);
        let model = weights_into(model, &path, tensors)?;
        Ok(Checkpoint {
            config,
            model,
            state,
        })
    }

    /// [`RunDir::load_checkpoint`]'s configuration and model.
    pub fn load_model(&self, device: &Device) -> Result<(RunConfig, Model), RunError> {
        let Checkpoint { config, model, .. } = self.load_checkpoint(device)?;
        Ok((config, model))
    }
}

/// The run's `state.json`, checked in itself, with no commit pending; no file is hashed.
fn verify_state_only(run: &RunDir) -> Result<TrainState, RunError> {
    no_commit_pending(run)?;
    let state: TrainState = run.read_json(&run.state())?;
    state.check(&run.state())?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run folder holding a committed checkpoint of `step` with two files whose content
    /// names the step.
    fn save(run: &RunDir, step: usize, limit: usize) -> Result<(), RunError> {
        let files = [run.weights(), run.optimizer(), run.metrics()];
        for file in &files {
            std::fs::write(staged(file), format!("{} at {step}", file.display())).unwrap();
        }
        let state = staged_state(run, step, step as u64, &files)?;
        apply(run, &operations(run, &state), limit)
    }

    /// Which step the run's files hold, checked to be one and the same.
    fn consistent_step(run: &RunDir) -> usize {
        let state = verify(run, Needs::Training).expect("a complete checkpoint");
        for file in [run.weights(), run.optimizer(), run.metrics()] {
            let text = std::fs::read_to_string(&file).unwrap();
            assert_eq!(text, format!("{} at {}", file.display(), state.step));
        }
        state.step
    }

    #[test]
    fn a_commit_stopped_at_any_point_recovers_to_the_old_or_the_new_checkpoint() {
        let total = 6; // record, three installs, state, done
        for limit in 0..=total {
            let dir =
                std::env::temp_dir().join(format!("genood-commit-{}-{limit}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let run = RunDir::new(&dir);
            save(&run, 10, usize::MAX).unwrap();
            assert_eq!(consistent_step(&run), 10);
            save(&run, 20, limit).unwrap();
            let said = recover(&run).unwrap();
            let step = consistent_step(&run);
            // Before the record exists the old checkpoint stands; from then on the new one.
            assert_eq!(
                step,
                if limit == 0 { 10 } else { 20 },
                "stopped after {limit}"
            );
            assert_eq!(
                said.is_some(),
                limit < total,
                "stopped after {limit}: {said:?}"
            );
            assert!(!run.pending_commit().exists());
            assert!(!staged(&run.weights()).exists() && !staged(&run.optimizer()).exists());
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_file_changed_after_its_commit_is_refused_with_both_digests() {
        let dir = std::env::temp_dir().join(format!("genood-damaged-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let run = RunDir::new(&dir);
        save(&run, 10, usize::MAX).unwrap();
        let mut bytes = std::fs::read(run.weights()).unwrap();
        bytes[3] ^= 0x10;
        std::fs::write(run.weights(), bytes).unwrap();
        let err = verify(&run, Needs::Training).unwrap_err().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("SHA-256"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn scratch(name: &str) -> RunDir {
        let dir = std::env::temp_dir().join(format!("genood-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        RunDir::new(dir)
    }

    #[test]
    fn a_torn_commit_record_falls_back_to_the_whole_previous_checkpoint_or_says_what_to_do() {
        let run = scratch("torn-record");
        save(&run, 10, usize::MAX).unwrap();
        // The record of step 20 written, then torn; no file installed yet.
        save(&run, 20, 1).unwrap();
        let record = std::fs::read(run.pending_commit()).unwrap();
        std::fs::write(run.pending_commit(), &record[..record.len() / 2]).unwrap();
        let said = recover(&run).unwrap().expect("a recovery to report");
        assert!(
            said.contains("checkpoint.pending.json could not be read")
                && said.contains("step 10 stands"),
            "{said}"
        );
        assert_eq!(consistent_step(&run), 10);
        assert!(!run.pending_commit().exists() && !staged(&run.weights()).exists());

        // Torn after one file was installed: the previous checkpoint is not whole any more.
        save(&run, 30, 2).unwrap();
        let record = std::fs::read(run.pending_commit()).unwrap();
        std::fs::write(run.pending_commit(), &record[..10]).unwrap();
        let err = recover(&run).unwrap_err().to_string();
        assert!(
            err.contains("checkpoint.pending.json")
                && err.contains("cannot be recovered")
                && err.contains("--overwrite"),
            "{err}"
        );
        std::fs::remove_dir_all(&run.path).unwrap();
    }

    #[test]
    fn a_state_without_digests_or_with_an_edited_step_is_refused() {
        let run = scratch("edited-state");
        save(&run, 10, usize::MAX).unwrap();
        let text = std::fs::read_to_string(run.state()).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut edited = json.clone();
        edited["step"] = 400.into();
        std::fs::write(run.state(), edited.to_string()).unwrap();
        let err = verify(&run, Needs::Model).unwrap_err().to_string();
        assert!(
            err.contains("state.json") && err.contains("step 400 is not its 10 optimiser updates"),
            "{err}"
        );
        json.as_object_mut().unwrap().remove("files");
        std::fs::write(run.state(), json.to_string()).unwrap();
        let err = verify(&run, Needs::Model).unwrap_err().to_string();
        assert!(
            err.contains("state.json") && err.contains("lists no SHA-256 of model.safetensors"),
            "{err}"
        );
        std::fs::remove_dir_all(&run.path).unwrap();
    }

    #[test]
    fn the_model_alone_needs_only_its_weights_whole() {
        let run = scratch("model-needs");
        save(&run, 10, usize::MAX).unwrap();
        std::fs::remove_file(run.optimizer()).unwrap();
        std::fs::write(run.metrics(), "edited").unwrap();
        assert_eq!(verify(&run, Needs::Model).unwrap().step, 10);
        let err = verify(&run, Needs::Training).unwrap_err().to_string();
        assert!(
            err.contains("metrics.csv") && err.contains("SHA-256"),
            "{err}"
        );
        std::fs::write(run.metrics(), format!("{} at 10", run.metrics().display())).unwrap();
        let err = verify(&run, Needs::Training).unwrap_err().to_string();
        assert!(err.contains("optimizer.safetensors is missing"), "{err}");
        std::fs::remove_dir_all(&run.path).unwrap();
    }
}
