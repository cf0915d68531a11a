//! The `genood._genood` extension module: the Python package's bridge to the library.
//! Converts numpy arrays and Python values to the library's types and back, releases the
//! GIL on long calls and maps errors to the package's exceptions; no logic of its own (the
//! pure-Python layer in `python/genood` gives it scikit-learn's shape).

// A Python function takes its options as keyword arguments, one Rust parameter each.
#![allow(clippy::too_many_arguments)]

mod arrays;
mod detector;
mod errors;
mod experiment;
mod progress;
mod run;

use pyo3::prelude::*;

#[pymodule]
fn _genood(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<run::RunHandle>()?;
    m.add_class::<detector::DetectorHandle>()?;
    m.add_function(wrap_pyfunction!(run::train, m)?)?;
    m.add_function(wrap_pyfunction!(run::open_run, m)?)?;
    m.add_function(wrap_pyfunction!(detector::fit_run, m)?)?;
    m.add_function(wrap_pyfunction!(detector::fit_log_likelihoods, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::fetch, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::load, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::metrics, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::score_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::score_run, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::reproduce, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::threads, m)?)?;
    Ok(())
}
