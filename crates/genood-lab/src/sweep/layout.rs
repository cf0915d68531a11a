//! Where a sweep folder keeps its files, in one place so that the jobs, their status and the
//! table agree: `jobs/<id>/` per job (its log and marks), the table in `report/`. The
//! experiments' folders are named by the plan.

use std::path::{Path, PathBuf};

/// The folder of job `id` in the sweep folder `sweep`.
pub fn job_dir(sweep: &Path, id: &str) -> PathBuf {
    sweep.join("jobs").join(id)
}

/// The sweep's table: `report/sweep.{html,md,csv,json}`.
pub fn report_dir(sweep: &Path) -> PathBuf {
    sweep.join("report")
}
