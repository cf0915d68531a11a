//! The local executor: a pool of `genood sweep run-job` processes on this machine, each
//! started when its dependencies have finished. A failed job's dependents are not started.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use genood_train::parallel::available_threads;

use crate::error::LabError;
use crate::progress::Progress;
use crate::sweep::jobs::{JobState, Sweep};
use crate::sweep::spec::{STAGES, SweepSpec};

/// How a run of a sweep's jobs ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Jobs that finished in an earlier run and were skipped.
    pub finished_before: usize,
    /// Jobs that ran and finished now.
    pub finished: usize,
    /// Jobs that failed, with their logs.
    pub failed: Vec<(String, PathBuf)>,
    /// Jobs not run (or killed) because a job they wait for failed.
    pub cancelled: Vec<String>,
}

impl Outcome {
    /// A one-paragraph account, naming each failed job's log.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} jobs finished now, {} had finished before",
            self.finished, self.finished_before
        );
        if !self.failed.is_empty() || !self.cancelled.is_empty() {
            text.push_str(&format!(
                "; {} failed, {} not run because a job they wait for failed",
                self.failed.len(),
                self.cancelled.len()
            ));
        }
        for (id, log) in &self.failed {
            text.push_str(&format!("\n  failed: {id} (log: {})", log.display()));
        }
        text
    }

    /// `Ok` when every job finished, else an error naming the failed jobs and their logs.
    pub fn into_result(self) -> Result<Outcome, LabError> {
        if self.failed.is_empty() && self.cancelled.is_empty() {
            Ok(self)
        } else {
            Err(LabError::Sweep {
                reason: format!("the sweep did not finish: {}", self.describe()),
            })
        }
    }
}

/// Jobs at once that fit this machine's cores when each takes the most CPUs any stage of
/// `spec` asks for; at least 1.
pub fn default_workers(spec: &SweepSpec) -> usize {
    let widest = STAGES
        .iter()
        .filter_map(|stage| spec.resources_of(stage).cpus)
        .max()
        .unwrap_or(1);
    (available_threads() / widest.max(1)).max(1)
}

/// Starts `program sweep run-job SWEEP JOB` for job `id`, its output appended to the job's log.
fn start(sweep: &Sweep, program: &Path, id: &str) -> Result<Child, LabError> {
    let log_path = sweep.log(id);
    let io = |source| LabError::Io {
        path: log_path.clone(),
        source,
    };
    std::fs::create_dir_all(sweep.job_dir(id)).map_err(io)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io)?;
    Command::new(program)
        .args(["sweep", "run-job"])
        .arg(&sweep.dir)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io)?)
        .stderr(log)
        .spawn()
        .map_err(|source| LabError::Io {
            path: program.to_path_buf(),
            source,
        })
}

/// Runs every unfinished job of `sweep` with at most `workers` at once, each a `program`
/// process (the `genood` binary), in an order that respects the dependencies.
pub fn run_local(
    sweep: &Sweep,
    program: &Path,
    workers: usize,
    progress: &mut dyn Progress,
) -> Result<Outcome, LabError> {
    let total = sweep.plan.jobs.len();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut waiting = Vec::new();
    for job in &sweep.plan.jobs {
        match sweep.state(&job.id) {
            JobState::Done => {
                done.insert(job.id.clone());
            }
            _ => waiting.push(job),
        }
    }
    let mut outcome = Outcome {
        finished_before: done.len(),
        ..Outcome::default()
    };
    let mut blocked: BTreeSet<String> = BTreeSet::new();
    let mut running: Vec<(String, Child)> = Vec::new();
    progress.advance("sweep", done.len(), total);
    loop {
        while running.len() < workers.max(1) {
            let Some(at) = waiting
                .iter()
                .position(|j| j.deps.iter().all(|d| done.contains(d)))
            else {
                break;
            };
            let job = waiting.remove(at);
            running.push((job.id.clone(), start(sweep, program, &job.id)?));
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut still = Vec::with_capacity(running.len());
        for (id, mut child) in running {
            let status = child.try_wait().map_err(|source| LabError::Io {
                path: program.to_path_buf(),
                source,
            })?;
            match status {
                None => still.push((id, child)),
                Some(status) if status.success() => {
                    outcome.finished += 1;
                    progress.note(&format!("finished {id}"));
                    done.insert(id);
                }
                Some(_) => {
                    progress.note(&format!("failed {id}: see {}", sweep.log(&id).display()));
                    blocked.extend(sweep.plan.dependents(&id));
                    waiting.retain(|j| !blocked.contains(&j.id));
                    outcome.failed.push((id.clone(), sweep.log(&id)));
                }
            }
        }
        running = still;
        progress.advance("sweep", done.len(), total);
    }
    outcome.cancelled = blocked
        .into_iter()
        .filter(|id| !done.contains(id) && !outcome.failed.iter().any(|(f, _)| f == id))
        .collect();
    Ok(outcome)
}
