//! The one error type of data loading and fetching; every variant names the file or the set.

use std::path::PathBuf;

/// Why a data set could not be read or fetched.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file's content does not follow its format.
    #[error("{path}: {reason}{}", at_byte(*.offset))]
    Format {
        /// The file.
        path: PathBuf,
        /// Byte offset where the problem was found, where one position explains it.
        offset: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// The file ended before its header said it would.
    #[error("{path}: truncated: expected {expected} bytes, found {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header promised.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// A downloaded or mirrored archive does not have its published checksum.
    #[error("{path}: checksum mismatch: expected {algorithm} {expected}, got {actual}")]
    Checksum {
        /// The archive (already removed).
        path: PathBuf,
        /// `sha256` or `md5`.
        algorithm: &'static str,
        /// The published digest.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// A data set name or split that genood does not know.
    #[error("unknown data set `{name}`: {hint}")]
    Unknown {
        /// What the user typed.
        name: String,
        /// The names that are known.
        hint: String,
    },
    /// The set is known but its files are not in the cache.
    #[error("{name}: not found under {dir}: {hint}")]
    NotFetched {
        /// The set, e.g. `svhn:test`.
        name: String,
        /// Where it was looked for.
        dir: PathBuf,
        /// How to get it.
        hint: String,
    },
    /// A program a fetch runs (curl, apt-get, npm) could not start or failed.
    #[error("{command}: {reason}")]
    Command {
        /// The command, as the user would type it.
        command: String,
        /// Why: the program's own message and exit status, or why it could not start.
        reason: String,
    },
    /// Every source of a fetch failed.
    #[error("could not fetch {name}: {reasons}")]
    Fetch {
        /// The data set.
        name: String,
        /// What each source said.
        reasons: String,
    },
}

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
        let path = path.into();
        move |source| DataError::Io { path, source }
    }

    /// A format error in `path` at `offset`.
    pub fn format(path: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> DataError {
        DataError::Format {
            path: path.into(),
            offset: Some(offset),
            reason: reason.into(),
        }
    }

    /// A content error that no single byte position explains (a shape, a count, a label).
    pub fn content(path: impl Into<PathBuf>, reason: impl Into<String>) -> DataError {
        DataError::Format {
            path: path.into(),
            offset: None,
            reason: reason.into(),
        }
    }
}

/// ` (at byte N)`, or nothing when no position applies.
fn at_byte(offset: Option<u64>) -> String {
    offset.map_or_else(String::new, |o| format!(" (at byte {o})"))
}

/// An error and its causes as one line, joined by `: `: what a log, a `failed.json` or a
/// message that lists several errors shows (no error's message repeats its cause).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text = format!("{text}: {e}");
        cause = e.source();
    }
    text
}
