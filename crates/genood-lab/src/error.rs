//! The one error type of the experiment's steps.

use genood_data::DataError;
use genood_train::run::RunError;
use genood_train::trainer::TrainError;

/// Why a step of the experiment failed; every variant names the file, set or run at fault.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A data set could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A run folder could not be read or written.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Training stopped.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// An option or a configuration value that cannot be used.
    #[error("{reason}")]
    Invalid {
        /// The option or field (`fpr`, `learning_rate`, `ood`).
        what: &'static str,
        /// Why, and what would do.
        reason: String,
    },
    /// A file of genood's own that cannot be used: it does not parse, or it was made for
    /// another checkpoint.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A sweep's job cannot run, or its sweep did not finish.
    #[error("{reason}")]
    Sweep {
        /// What stops it, and what to do.
        reason: String,
    },
    /// A Slurm command failed.
    #[error("`{command}` failed: {reason}")]
    Slurm {
        /// The command line.
        command: String,
        /// What it said.
        reason: String,
    },
    /// A set cannot be used as asked (empty, the wrong shape, scored differently).
    #[error("{set}: {reason}")]
    Set {
        /// The set as the caller named it.
        set: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A name that is not one of the known choices.
    #[error("unknown {what} `{name}`; choose one of {choices}")]
    Unknown {
        /// What kind of name (a pair, a model).
        what: &'static str,
        /// The name given.
        name: String,
        /// The names known, comma-separated.
        choices: String,
    },
    /// A file of the experiment's outputs could not be written.
    #[error("{path}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl LabError {
    /// A [`LabError::Io`] maker naming `path`, for `map_err`.
    pub fn io(path: impl Into<std::path::PathBuf>) -> impl FnOnce(std::io::Error) -> LabError {
        let path = path.into();
        move |source| LabError::Io { path, source }
    }

    /// Training stopped on request at a checkpoint: the work is unfinished, not failed.
    pub fn interrupted(&self) -> bool {
        matches!(self, LabError::Train(TrainError::Interrupted { .. }))
    }

    /// A [`LabError::Set`] for `set`.
    pub fn set(set: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        LabError::Set {
            set: set.to_string(),
            reason: reason.into(),
        }
    }
}
