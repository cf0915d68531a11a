//! Executors: how a sweep's jobs get run. The library plans the jobs and runs each one
//! ([`Sweep::run_job`]); an executor decides where and when, and the binary says how a job's
//! own process starts ([`Launcher`]), so no command line is spelled here.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::prelude::Device;
use genood_data::error::chain;

use crate::error::LabError;
use crate::progress::Progress;
use crate::sweep::jobs::{JobState, Sweep};

/// The command that runs one job in a process of its own: `program args… SWEEP JOB`.
#[derive(Debug, Clone, PartialEq)]
pub struct Launcher {
    /// The program, on a path every machine that runs jobs sees.
    pub program: PathBuf,
    /// Its arguments before the sweep folder and the job's id.
    pub prefix: Vec<OsString>,
}

impl Launcher {
    /// The arguments that run job `id` of the sweep in `sweep`.
    pub fn args(&self, sweep: &Path, id: &str) -> Vec<OsString> {
        let mut args = self.prefix.clone();
        args.push(sweep.into());
        args.push(id.into());
        args
    }
}

/// Runs a sweep's unfinished jobs, each after the jobs it waits for, and says how it went.
/// A failed job's dependents do not run.
pub trait Executor {
    /// Runs them.
    fn run(&self, sweep: &Sweep, progress: &mut dyn Progress) -> Result<Outcome, LabError>;
}

/// Every job in this process, one after another, in the plan's order.
#[derive(Debug, Clone)]
pub struct InProcess {
    /// Where the jobs compute.
    pub device: Device,
}

impl Executor for InProcess {
    fn run(&self, sweep: &Sweep, progress: &mut dyn Progress) -> Result<Outcome, LabError> {
        let mut outcome = Outcome::default();
        let total = sweep.plan.jobs.len();
        for (done, job) in sweep.plan.jobs.iter().enumerate() {
            progress.advance("sweep", done, total);
            if sweep.state(&job.id) == JobState::Done {
                outcome.finished_before += 1;
                continue;
            }
            if job.deps.iter().any(|d| sweep.state(d) != JobState::Done) {
                outcome.cancelled.push(job.id.clone());
                continue;
            }
            progress.note(&format!("job {} of {total}: {}", done + 1, job.id));
            match sweep.run_job(&job.id, &self.device, progress) {
                Ok(()) => outcome.finished += 1,
                // Stopped at a checkpoint on request: nothing else runs.
                Err(error) if error.interrupted() => return Err(error),
                Err(error) => {
                    // The job's log holds what a process of its own would have printed last.
                    let log = sweep.log(&job.id);
                    let written = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&log)
                        .and_then(|mut f| writeln!(f, "error: {}", chain(&error)));
                    written.map_err(LabError::io(&log))?;
                    progress.note(&format!("failed {}: {}", job.id, chain(&error)));
                    outcome.failed.push((job.id.clone(), log));
                }
            }
        }
        progress.advance("sweep", total, total);
        Ok(outcome)
    }
}

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
