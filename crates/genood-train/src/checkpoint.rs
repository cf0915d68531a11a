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
use genood_data::checksum::Checksum;
use genood_models::Model;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::run::{RunConfig, RunDir, RunError, TrainState, staged};
use crate::weights::load_weights;

/// The SHA-256 of the file at `path`, in hex.
pub fn digest(path: &Path) -> Result<String, RunError> {
    let bytes = std::fs::read(path).map_err(|source| RunError::Io {
        path: path.into(),
        source,
    })?;
    Ok(Checksum::Sha256("").digest(&bytes))
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
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunError::Io { path, source }
    };
    let pending = run.pending_commit();
    for op in ops.iter().take(limit) {
        match op {
            Operation::Record(state) => run.write_json(&pending, state)?,
            Operation::Install(path) => {
                let from = staged(path);
                // Already in place when a recovery repeats a commit that got this far.
                if from.exists() {
                    std::fs::rename(&from, path).map_err(io(&from))?;
                }
            }
            Operation::State(state) => run.write_json(&run.state(), state)?,
            Operation::Done => std::fs::remove_file(&pending).map_err(io(&pending))?,
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
        let state: TrainState = run.read_json(&pending)?;
        apply(run, &operations(run, &state)[1..], usize::MAX)?;
        return Ok(Some(format!(
            "finished committing the checkpoint of step {} that an interrupted save had begun",
            state.step
        )));
    }
    let mut dropped = Vec::new();
    for file in [
        run.weights(),
        run.optimizer(),
        run.metrics(),
        run.dynamics(),
    ] {
        let leftover = staged(&file);
        if leftover.exists() {
            std::fs::remove_file(&leftover).map_err(|source| RunError::Io {
                path: leftover.clone(),
                source,
            })?;
            dropped.push(file_name(&leftover));
        }
    }
    Ok((!dropped.is_empty()).then(|| {
        format!(
            "dropped the files of a save interrupted before its commit ({}); the previous checkpoint stands",
            dropped.join(", ")
        )
    }))
}

/// The run's `state.json`, after checking every file it lists against its SHA-256 (runs saved
/// before checkpoints had digests list none). A commit still pending is an error here: only
/// training (`recover`) may finish it.
pub fn verify(run: &RunDir) -> Result<TrainState, RunError> {
    if run.pending_commit().exists() {
        return Err(RunError::Missing {
            path: run.state(),
            reason: "a save was interrupted mid-commit; resume training (`train --resume`) to complete the checkpoint".into(),
        });
    }
    let state: TrainState = run.read_json(&run.state())?;
    for (name, expected) in &state.files {
        let path = run.path.join(name);
        if !path.exists() {
            return Err(RunError::Missing {
                path,
                reason: format!("the checkpoint of step {} lists it", state.step),
            });
        }
        let actual = digest(&path)?;
        if &actual != expected {
            return Err(RunError::Damaged {
                path,
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(state)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl RunDir {
    /// Rebuilds the model from `config.json` and `model.safetensors` on `device`, after checking
    /// the checkpoint's files against their digests ([`verify`]).
    pub fn load_model(&self, device: &Device) -> Result<(RunConfig, Model), RunError> {
        let config = self.read_config()?;
        if self.state().exists() {
            verify(self)?;
        }
        // The initial draw is overwritten by the saved weights, flag of actnorm included.
        let model = Model::new(&config.model, &mut StdRng::seed_from_u64(0), device);
        let model = load_weights(model, &self.weights())?;
        Ok((config, model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run folder holding a committed checkpoint of `step` with two files whose content
    /// names the step.
    fn save(run: &RunDir, step: usize, limit: usize) -> Result<(), RunError> {
        let files = [run.weights(), run.optimizer()];
        for file in &files {
            std::fs::write(staged(file), format!("{} at {step}", file.display())).unwrap();
        }
        let state = staged_state(run, step, step as u64, &files)?;
        apply(run, &operations(run, &state), limit)
    }

    /// Which step the run's files hold, checked to be one and the same.
    fn consistent_step(run: &RunDir) -> usize {
        let state = verify(run).expect("a complete checkpoint");
        for file in [run.weights(), run.optimizer()] {
            let text = std::fs::read_to_string(&file).unwrap();
            assert_eq!(text, format!("{} at {}", file.display(), state.step));
        }
        state.step
    }

    #[test]
    fn a_commit_stopped_at_any_point_recovers_to_the_old_or_the_new_checkpoint() {
        let total = 5; // record, two installs, state, done
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
        let err = verify(&run).unwrap_err().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("SHA-256"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
