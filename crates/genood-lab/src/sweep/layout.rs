//! Where a sweep folder keeps its files, in one place so that the jobs, their status and the
//! table agree: `jobs/<id>/` per job (a training job's run in `run/`), the table in `report/`.

use std::path::{Path, PathBuf};

/// The folder of job `id` in the sweep folder `sweep`.
pub fn job_dir(sweep: &Path, id: &str) -> PathBuf {
    sweep.join("jobs").join(id)
}

/// The run folder of training job `id`.
pub fn run_dir(sweep: &Path, id: &str) -> PathBuf {
    job_dir(sweep, id).join("run")
}

/// The sweep's table: `report/sweep.{html,md,csv,json}`.
pub fn report_dir(sweep: &Path) -> PathBuf {
    sweep.join("report")
}
