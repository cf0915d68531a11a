//! Where a sweep folder keeps its files, in one place so that the jobs, their status and the
//! table agree: `jobs/<id>/` per job (its log and marks), the table in `report/`. The
//! experiments' folders are named by the plan.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The folder of job `id` in the sweep folder `sweep`.
pub fn job_dir(sweep: &Path, id: &str) -> PathBuf {
    sweep.join("jobs").join(id)
}

/// The sweep's table: `report/sweep.{html,md,csv,json}`.
pub fn report_dir(sweep: &Path) -> PathBuf {
    sweep.join("report")
}

/// `done.json` of a job: how long it took, written atomically as the job's last act.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finished {
    /// The job.
    pub id: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// A train job's training images per second (0 when the run had finished before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_sec: Option<f64>,
}

/// The mark of job `id` in the sweep folder `sweep`.
pub fn done_mark(sweep: &Path, id: &str) -> PathBuf {
    job_dir(sweep, id).join("done.json")
}

/// What `done.json` of job `id` says, if it finished.
pub fn finished(sweep: &Path, id: &str) -> Option<Finished> {
    let text = std::fs::read_to_string(done_mark(sweep, id)).ok()?;
    serde_json::from_str(&text).ok()
}
