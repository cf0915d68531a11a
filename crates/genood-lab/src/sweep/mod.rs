//! Sweeps: pairs × models × presets × seeds, planned as a DAG of idempotent jobs (fetch,
//! train, sharded eval, merge, score, analyze, report, the sweep's table), run by a local
//! pool of `genood` processes or submitted to Slurm, and summarised in one table.

pub mod jobs;
pub mod layout;
pub mod local;
pub mod plan;
pub mod slurm;
pub mod spec;
pub mod status;
pub mod table;

pub use jobs::{JobState, Setup, Sweep};
pub use plan::{Job, Plan, Stage, plan};
pub use spec::SweepSpec;
