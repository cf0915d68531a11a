//! The library's progress, passed to a Python callable (the package draws it with tqdm or as
//! log lines), and Ctrl-C (a kernel interrupt) turned into a stop at the next checkpoint.

use genood_lab::Progress;
use pyo3::prelude::*;

/// Reports to `callback(event, *values)`; the events are `advance(task, done, total)`,
/// `note(line)`, `training(label)`, `started(first, total)` and `step(step, bpd, images/s)`.
pub struct PyProgress {
    callback: Option<Py<PyAny>>,
    /// The first interrupt (or error of the callback) seen: the call raises it.
    pub stopped: Option<PyErr>,
}

impl PyProgress {
    /// Progress to `callback`, or to nothing.
    pub fn new(callback: Option<Py<PyAny>>) -> Self {
        Self {
            callback,
            stopped: None,
        }
    }

    fn send(
        &mut self,
        event: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyTuple>>,
    ) {
        let Some(callback) = &self.callback else {
            return;
        };
        if self.stopped.is_some() {
            return;
        }
        let result = Python::attach(|py| callback.call1(py, event(py)?).map(drop));
        if let Err(error) = result {
            self.stopped = Some(error);
        }
    }

    /// The call's result, unless it was interrupted: then the interrupt.
    pub fn finish<T>(self, result: PyResult<T>) -> PyResult<T> {
        match self.stopped {
            Some(error) => Err(error),
            None => result,
        }
    }
}

impl Progress for PyProgress {
    fn advance(&mut self, task: &str, done: usize, total: usize) {
        self.send(|py| ("advance", task, done, total).into_pyobject(py));
    }

    fn note(&mut self, line: &str) {
        self.send(|py| ("note", line).into_pyobject(py));
    }

    fn training(&mut self, label: &str) {
        self.send(|py| ("training", label).into_pyobject(py));
    }

    fn started(&mut self, first: usize, total: usize) {
        self.send(|py| ("started", first, total).into_pyobject(py));
    }

    fn step(&mut self, step: usize, bpd: f64, images_per_sec: f64) {
        self.send(|py| ("step", step, bpd, images_per_sec).into_pyobject(py));
    }

    fn message(&mut self, text: &str) {
        self.note(text);
    }

    fn should_stop(&mut self) -> bool {
        if self.stopped.is_none()
            && let Err(interrupt) = Python::attach(|py| py.check_signals())
        {
            self.stopped = Some(interrupt);
        }
        self.stopped.is_some()
    }
}
