//! How long work reports as it goes: a training's steps, a set's scoring, a sampler's images,
//! a pipeline's jobs. One trait for every floor from here up (the command line draws bars, a
//! log gets stamped lines), with one implementation that ignores it all ([`Quiet`]). Every
//! method does nothing unless implemented.

use serde::Serialize;

/// Receives the progress of long work, and may ask a training to stop.
pub trait Progress {
    /// `done` of `total` units of the task called `task` are finished (called with 0 when the
    /// task starts).
    fn advance(&mut self, _task: &str, _done: usize, _total: usize) {}
    /// A one-line (or a table's) account of something finished.
    fn note(&mut self, _line: &str) {}
    /// A training run called `label` starts: the training calls that follow are its.
    fn training(&mut self, _label: &str) {}
    /// The training runs from step `first` to `total`.
    fn started(&mut self, _first: usize, _total: usize) {}
    /// A training step finished with this training bpd; throughput since the last call.
    fn step(&mut self, _step: usize, _bpd: f64, _images_per_sec: f64) {}
    /// A training's metrics row was written.
    fn logged(&mut self, _row: &MetricsRow) {}
    /// Something the user should read about the training (a skipped step, a reload, a
    /// checkpoint).
    fn message(&mut self, _text: &str) {}
    /// Asked after every training step: true saves a checkpoint at that step and stops the
    /// training (a cluster's signal before its time limit, a notebook's interrupt). A resume
    /// goes on from there as if nothing had happened.
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {}

/// One row of a training's `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsRow {
    /// Optimiser steps completed.
    pub step: usize,
    /// Epochs completed (fractional).
    pub epoch: f64,
    /// Mean training bpd over the steps since the previous row.
    pub train_bpd: f64,
    /// Bits per dimension on the held-out images.
    pub heldout_bpd: f64,
    /// Training images per second since the previous row.
    pub images_per_sec: f64,
    /// Learning rate at this step.
    pub learning_rate: f64,
}
