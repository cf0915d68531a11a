//! How a long step reports its progress: the command line draws bars and prints lines, code
//! that calls the library may ignore it ([`Quiet`]).

/// Receives a step's progress.
pub trait Progress {
    /// `done` of `total` units of the task called `task` are finished (called with 0 when the
    /// task starts).
    fn advance(&mut self, task: &str, done: usize, total: usize);
    /// A one-line account of something finished.
    fn note(&mut self, line: &str);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {
    fn advance(&mut self, _task: &str, _done: usize, _total: usize) {}
    fn note(&mut self, _line: &str) {}
}
