//! The local executor: a pool of job processes on this machine, each started when its
//! dependencies have finished. A failed job's dependents are not started.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use genood_train::parallel::available_threads;

use crate::error::LabError;
use crate::progress::Progress;
use crate::sweep::executor::{Executor, Launcher, Outcome};
use crate::sweep::jobs::{JobState, Sweep};
use crate::sweep::spec::{STAGES, SweepSpec};

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

/// Starts the launcher's command for job `id`, its output appended to the job's log.
fn start(sweep: &Sweep, launcher: &Launcher, id: &str) -> Result<Child, LabError> {
    let log_path = sweep.log(id);
    let io = || LabError::io(&log_path);
    std::fs::create_dir_all(sweep.job_dir(id)).map_err(io())?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io())?;
    Command::new(&launcher.program)
        .args(launcher.args(&sweep.dir, id))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io())?)
        .stderr(log)
        .spawn()
        .map_err(LabError::io(&launcher.program))
}

/// A pool of processes on this machine, at most `workers` at once, each started by the
/// launcher when the jobs it waits for have finished.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPool {
    /// How a job's process starts.
    pub launcher: Launcher,
    /// Jobs at once ([`default_workers`] fits the machine).
    pub workers: usize,
}

impl Executor for LocalPool {
    fn run(&self, sweep: &Sweep, progress: &mut dyn Progress) -> Result<Outcome, LabError> {
        run_local(sweep, &self.launcher, self.workers, progress)
    }
}

/// Runs every unfinished job of `sweep` with at most `workers` at once, in an order that
/// respects the dependencies.
fn run_local(
    sweep: &Sweep,
    launcher: &Launcher,
    workers: usize,
    progress: &mut dyn Progress,
) -> Result<Outcome, LabError> {
    let program = &launcher.program;
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
            running.push((job.id.clone(), start(sweep, launcher, &job.id)?));
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut still = Vec::with_capacity(running.len());
        for (id, mut child) in running {
            let status = child.try_wait().map_err(LabError::io(&program))?;
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
