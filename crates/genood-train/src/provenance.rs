//! Which checkpoint made a set's scores: `scores/<set>.json` beside `scores/<set>.csv`, so
//! that scores a later training run made stale are refused instead of read as the model's.

use serde::{Deserialize, Serialize};

use crate::checkpoint::digest;
use crate::eval::{ExampleScore, read_scores_csv, write_scores_csv};
use crate::run::{RunDir, RunError, TrainState};

/// The origin of a scores file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoresOrigin {
    /// The checkpoint's step.
    pub step: usize,
    /// The SHA-256 of the `model.safetensors` that scored the set.
    pub model_sha256: String,
    /// Images scored.
    pub images: usize,
    /// `--limit` of the evaluation (`None`: the whole set).
    pub limit: Option<usize>,
}

/// The step and model digest of the run's current checkpoint, as its manifest records them:
/// comparing digests needs no re-hashing of every checkpoint file for every set (loading a
/// model is where the files are checked, [`crate::checkpoint::verify`]).
pub fn current_model(run: &RunDir) -> Result<(usize, String), RunError> {
    let state: TrainState = run.read_json(&run.state())?;
    let model = match state.files.get("model.safetensors") {
        Some(recorded) => recorded.clone(),
        // Saved before checkpoints carried digests.
        None => digest(&run.weights())?,
    };
    Ok((state.step, model))
}

/// Refuses when the run's checkpoint is no longer the one of `made_by` (its step and weights'
/// digest, [`crate::checkpoint::Checkpoint::origin`]): what the loaded model computed would be
/// labelled with another checkpoint. Called holding the run's lock, before writing.
pub fn check_still_current(run: &RunDir, made_by: &(usize, String)) -> Result<(), RunError> {
    let (step, model) = current_model(run)?;
    if model != made_by.1 {
        return Err(RunError::Moved {
            path: run.path.clone(),
            loaded: made_by.0,
            now: step,
        });
    }
    Ok(())
}

/// Writes set `label`'s scores and their origin, the checkpoint `made_by` that computed them.
pub fn write_scores(
    run: &RunDir,
    label: &str,
    scores: &[ExampleScore],
    limit: Option<usize>,
    made_by: &(usize, String),
) -> Result<(), RunError> {
    let (step, model_sha256) = made_by.clone();
    let path = run.scores(label);
    write_scores_csv(&path, scores).map_err(RunError::io(path))?;
    let origin = ScoresOrigin {
        step,
        model_sha256,
        images: scores.len(),
        limit,
    };
    run.write_json(&run.scores_origin(label), &origin)
}

/// Set `label`'s scores, after checking that the run's current checkpoint made them (scores
/// written before origins were recorded are read unchecked).
pub fn read_scores(run: &RunDir, label: &str) -> Result<Vec<ExampleScore>, RunError> {
    let path = run.scores(label);
    if !path.exists() {
        return Err(RunError::Missing {
            path,
            reason: format!(
                "score the set first (`genood eval --run {} --data {label}`)",
                run.path.display()
            ),
        });
    }
    let origin_path = run.scores_origin(label);
    if origin_path.exists() {
        let origin: ScoresOrigin = run.read_json(&origin_path)?;
        let (step, model) = current_model(run)?;
        if origin.model_sha256 != model {
            return Err(RunError::Stale {
                path,
                command: "eval",
                made_at: origin.step,
                now: step,
            });
        }
    }
    read_scores_csv(&path).map_err(|reason| RunError::Config { path, reason })
}
