//! The genood experiment as a library: score named sets with a run's model, compute the OOD
//! scores and their metrics over a run's outputs, and the paper's pairs. The `genood` command
//! parses its arguments, shows progress and calls these functions.
//!
//! Data flows one way: data sets → a trained run ([`genood_train`]) → per-example scores in
//! the run folder ([`evaluation`], [`regret`]) → OOD scores and metrics ([`score`]). Long
//! steps report through [`Progress`]; every step fails with a [`LabError`] naming the file,
//! set or run at fault.

pub mod analysis;
pub mod analysis_view;
pub mod error;
pub mod evaluation;
pub mod figures;
pub mod pairs;
pub mod progress;
pub mod regret;
pub mod report;
pub mod reproduce;
pub mod samples;
pub mod score;
pub mod sets;
pub mod training;

pub use error::LabError;
pub use progress::{Progress, Quiet};
