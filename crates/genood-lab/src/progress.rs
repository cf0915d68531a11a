//! How a long step reports its progress: the command line draws bars and prints lines, code
//! that calls the library may ignore it ([`Quiet`]).

use genood_train::trainer::TrainObserver;

/// Receives a step's progress; as a [`TrainObserver`] it also follows training runs.
pub trait Progress: TrainObserver {
    /// `done` of `total` units of the task called `task` are finished (called with 0 when the
    /// task starts).
    fn advance(&mut self, task: &str, done: usize, total: usize);
    /// A one-line (or a table's) account of something finished.
    fn note(&mut self, line: &str);
    /// A training run called `label` starts: the [`TrainObserver`] calls that follow are its.
    fn training(&mut self, label: &str);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl TrainObserver for Quiet {}

impl Progress for Quiet {
    fn advance(&mut self, _task: &str, _done: usize, _total: usize) {}
    fn note(&mut self, _line: &str) {}
    fn training(&mut self, _label: &str) {}
}
