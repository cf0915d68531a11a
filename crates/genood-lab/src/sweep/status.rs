//! `genood sweep status`: how far a sweep got, from its job folders and Slurm's queue.

use std::collections::BTreeSet;

use genood_train::run::{RunDir, TrainState};

use crate::error::LabError;
use crate::sweep::jobs::{JobState, Sweep};
use crate::sweep::plan::{Stage, Work};
use crate::sweep::slurm;

/// Jobs per stage (finished, failed, waiting for a failed job, not finished), each failed
/// job with its error and log, each unfinished training's last checkpoint, the tasks Slurm
/// still holds, and where the table is.
pub fn describe(sweep: &Sweep) -> Result<String, LabError> {
    let failed: Vec<_> = sweep
        .plan
        .jobs
        .iter()
        .filter_map(|job| match sweep.state(&job.id) {
            JobState::Failed { error, log } => Some((job.id.clone(), error, log)),
            _ => None,
        })
        .collect();
    let blocked: BTreeSet<String> = failed
        .iter()
        .flat_map(|(id, _, _)| sweep.plan.dependents(id))
        .collect();
    let mut text = String::new();
    for stage in Stage::ALL {
        let jobs: Vec<_> = sweep
            .plan
            .jobs
            .iter()
            .filter(|j| j.stage == stage)
            .collect();
        if jobs.is_empty() {
            continue;
        }
        let mut counts = [0usize; 4];
        for job in jobs {
            let kind = match sweep.state(&job.id) {
                JobState::Done => 0,
                JobState::Failed { .. } => 1,
                JobState::Unfinished if blocked.contains(&job.id) => 2,
                JobState::Unfinished => 3,
            };
            counts[kind] += 1;
        }
        text.push_str(&format!(
            "{:<13} {} finished, {} failed, {} waiting for a failed job, {} not finished\n",
            stage.name(),
            counts[0],
            counts[1],
            counts[2],
            counts[3]
        ));
    }
    for (id, error, log) in failed {
        text.push_str(&format!(
            "failed: {id}\n  {error}\n  log: {}\n",
            log.display()
        ));
    }
    // Unfinished trainings with a checkpoint: how far they are (a rerun resumes there).
    for job in &sweep.plan.jobs {
        let Work::Train { config } = &job.work else {
            continue;
        };
        let run = RunDir::new(sweep.run_dir(&job.id));
        if sweep.state(&job.id) == JobState::Done || !run.has_checkpoint() {
            continue;
        }
        if let Ok(state) = run.read_json::<TrainState>(&run.state()) {
            text.push_str(&format!(
                "training: {} at step {} of {}\n",
                job.id, state.step, config.train.steps
            ));
        }
    }
    if !slurm::submissions(sweep)?.is_empty() {
        let queued = slurm::queued(sweep)?;
        text.push_str(&format!("Slurm holds {} task(s)\n", queued.len()));
        for task in queued {
            text.push_str(&format!(
                "  {} {} {} {}\n",
                task.slurm_id, task.state, task.reason, task.job
            ));
        }
    }
    if sweep.report_dir().join("sweep.html").exists() {
        text.push_str(&format!(
            "table: {}\n",
            sweep.report_dir().join("sweep.html").display()
        ));
    }
    Ok(text)
}
