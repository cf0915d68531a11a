//! `genood sweep status`: how far a sweep got, from its job folders and Slurm's queue.

use std::collections::{BTreeMap, BTreeSet};

use genood_train::run::{RunDir, TrainState};

use crate::error::LabError;
use crate::sweep::jobs::{JobState, Sweep};
use crate::sweep::plan::{Stage, Work};
use crate::sweep::slurm;

/// Jobs per stage (finished, failed, waiting for a failed job, not finished), each failed
/// job with its error and log, each unfinished training's last checkpoint, then for Slurm:
/// the tasks it holds by stage and state (each one when `verbose`), the jobs it killed with
/// its reason, and whether the sweep has stalled; and where the table is.
pub fn describe(sweep: &Sweep, verbose: bool) -> Result<String, LabError> {
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
        let Work::Train { config, run } = &job.work else {
            continue;
        };
        let run = RunDir::new(sweep.path(run));
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
        text.push_str(&slurm_account(sweep, verbose)?);
    }
    if sweep.report_dir().join("sweep.html").exists() {
        text.push_str(&format!(
            "table: {}\n",
            sweep.report_dir().join("sweep.html").display()
        ));
    }
    Ok(text)
}

/// Slurm's side: what it holds, what it killed, and whether anything is left to wait for.
fn slurm_account(sweep: &Sweep, verbose: bool) -> Result<String, LabError> {
    let queued = slurm::queued(sweep)?;
    let mut text = format!("Slurm holds {} task(s)", queued.len());
    let mut counts: BTreeMap<(Stage, String), usize> = BTreeMap::new();
    for task in &queued {
        let stage = sweep
            .plan
            .job(&task.job)
            .map_or(Stage::SweepReport, |j| j.stage);
        let state = match task.reason.as_str() {
            "" | "None" => task.state.to_lowercase(),
            reason => format!("{} ({reason})", task.state.to_lowercase()),
        };
        *counts.entry((stage, state)).or_default() += 1;
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|((stage, state), n)| format!("{} {n} {state}", stage.name()))
        .collect();
    if !summary.is_empty() {
        text.push_str(&format!(": {}", summary.join(", ")));
    }
    text.push('\n');
    if verbose {
        for task in &queued {
            text.push_str(&format!(
                "  {} {} {} {}\n",
                task.slurm_id, task.state, task.reason, task.job
            ));
        }
    }
    // Submitted, no longer held, not finished: killed by Slurm, or never started.
    let held: BTreeSet<&str> = queued.iter().map(|t| t.job.as_str()).collect();
    let (mut unfinished, mut never) = (0, 0);
    for task in slurm::ended_tasks(sweep)? {
        if held.contains(task.job.as_str()) || sweep.state(&task.job) != JobState::Unfinished {
            continue;
        }
        unfinished += 1;
        match &task.killed {
            Some(reason) => text.push_str(&format!(
                "killed by Slurm: {} ({reason}; log: {}; Slurm's output: {})\n",
                task.job,
                sweep.log(&task.job).display(),
                task.output.display()
            )),
            None => never += 1,
        }
    }
    if never > 0 {
        text.push_str(&format!(
            "not started: {never} job(s), cancelled by Slurm because a job they wait for did not finish\n"
        ));
    }
    if queued.is_empty() && unfinished > 0 {
        text.push_str(&format!(
            "the sweep has stalled: Slurm holds none of its tasks and {unfinished} job(s) are unfinished; submit the spec again (`genood sweep run SPEC --out {} --executor slurm`): finished jobs are skipped and trainings resume from their checkpoints\n",
            sweep.dir.display()
        ));
    }
    Ok(text)
}
