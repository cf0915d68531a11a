//! The library's errors as the package's exceptions (`genood.errors`): a missing file is a
//! `FileNotFoundError`, a value that cannot be used a `ValueError`, both also `GenoodError`;
//! training stopped by Ctrl-C is a `KeyboardInterrupt`.

use std::error::Error;

use genood_data::DataError;
use genood_lab::LabError;
use genood_train::run::RunError;
use pyo3::prelude::*;

/// Which of the package's exceptions an error is.
enum Kind {
    NotFound,
    Value,
    Other,
}

/// The error's message and its causes' messages, each said once.
fn message(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    text
}

fn io_kind(source: &std::io::Error) -> Kind {
    match source.kind() {
        std::io::ErrorKind::NotFound => Kind::NotFound,
        _ => Kind::Other,
    }
}

fn kind(error: &LabError) -> Kind {
    match error {
        LabError::Invalid { .. } | LabError::Unknown { .. } | LabError::Set { .. } => Kind::Value,
        LabError::Io { source, .. } => io_kind(source),
        LabError::Data(DataError::Io { source, .. }) => io_kind(source),
        LabError::Data(DataError::NotFetched { .. }) => Kind::NotFound,
        LabError::Data(DataError::Unknown { .. }) => Kind::Value,
        LabError::Run(RunError::Missing { .. }) => Kind::NotFound,
        LabError::Run(RunError::Io { source, .. }) => io_kind(source),
        _ => Kind::Other,
    }
}

/// The Python exception of a library error.
pub fn to_py(error: LabError) -> PyErr {
    if error.interrupted() {
        return pyo3::exceptions::PyKeyboardInterrupt::new_err(message(&error));
    }
    let class = match kind(&error) {
        Kind::NotFound => "GenoodFileNotFoundError",
        Kind::Value => "GenoodValueError",
        Kind::Other => "GenoodError",
    };
    raise(class, message(&error))
}

/// A `ValueError` of the package's (`GenoodValueError`) saying `text`.
pub fn value_error(text: impl Into<String>) -> PyErr {
    raise("GenoodValueError", text.into())
}

fn raise(class: &str, text: String) -> PyErr {
    Python::attach(|py| {
        match py
            .import("genood.errors")
            .and_then(|module| module.getattr(class))
        {
            Ok(exception) => {
                PyErr::from_type(exception.cast_into().expect("an exception class"), text)
            }
            Err(missing) => missing,
        }
    })
}

/// `map_err` of library results into Python's.
pub trait IntoPy<T> {
    /// The result with the error as the package's exception.
    fn py(self) -> PyResult<T>;
}

impl<T, E: Into<LabError>> IntoPy<T> for Result<T, E> {
    fn py(self) -> PyResult<T> {
        self.map_err(|e| to_py(e.into()))
    }
}
