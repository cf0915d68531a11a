//! Experiments and sweeps: pairs × presets × seeds, each with its models, planned as a DAG of
//! idempotent jobs (fetch, train, sharded eval, merge, score, analyze, report, summary, the
//! sweep's table), run in this process (`reproduce`), by a local pool of `genood` processes
//! or on Slurm, and summarised in one table.

pub mod budget;
pub mod executor;
pub mod jobs;
pub mod layout;
pub mod local;
pub mod plan;
pub mod slurm;
pub mod spec;
pub mod status;
pub mod summary;
pub mod table;

pub use executor::{Executor, InProcess, Launcher, Outcome};
pub use jobs::{JobState, Setup, Sweep};
pub use local::LocalPool;
pub use plan::{Job, Plan, Stage, plan};
pub use slurm::SlurmArrays;
pub use spec::SweepSpec;
