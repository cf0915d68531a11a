//! The experiment's other entry points: data sets, metrics on plain arrays, the score table
//! of arrays or of a run, and the paper's reproduction.

use std::path::PathBuf;

use burn::prelude::Device;
use genood_data::fetch::FetchOptions;
use genood_data::{Conform, DataSource, SetSpec};
use genood_lab::Context;
use genood_lab::foreign::example_scores;
use genood_lab::report::score_page;
use genood_lab::reproduce::{ReproduceOptions, reproduce as run_reproduction};
use genood_lab::score::{Bootstrap, Comparison, ScoreRow, ScoredSet, rows_of, score_rows};
use genood_lab::sets::fetch_sets;
use genood_models::Named;
use genood_models::presets::{ModelKind, Preset};
use genood_ood::metrics::detection;
use genood_train::parallel::available_threads;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::{self, parts};
use crate::errors::{IntoPy, value_error};
use crate::progress::PyProgress;
use crate::run::parse;

/// The cores this machine has: the default number of worker threads.
#[pyfunction]
pub fn threads() -> usize {
    available_threads()
}

/// Fetches the data sets `names` into `data_dir` (checksums checked), taking archives from
/// `mirror` first.
#[pyfunction]
#[pyo3(signature = (names, data_dir, mirror=None, progress=None))]
pub fn fetch(
    py: Python<'_>,
    names: Vec<String>,
    data_dir: PathBuf,
    mirror: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<()> {
    let options = FetchOptions {
        mirror,
        offline: false,
    };
    let mut progress = PyProgress::new(progress);
    let fetched = py.detach(|| fetch_sets(&names, &data_dir, &options, &mut progress));
    progress.finish(fetched.py())
}

/// A set's images (uint8 N×C×H×W) and labels (or None), by name.
#[pyfunction]
#[pyo3(signature = (name, data_dir, seed=0))]
pub fn load<'py>(
    py: Python<'py>,
    name: &str,
    data_dir: PathBuf,
    seed: u64,
) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)> {
    let spec: SetSpec = name.parse().py()?;
    let data = DataSource::new(data_dir);
    let set = py
        .detach(|| spec.load(&data, seed, Conform::default()))
        .py()?;
    let labels = set
        .labels
        .as_ref()
        .map(|l| PyArray1::from_slice(py, l).into_any());
    Ok((arrays::to_numpy(py, &set)?, labels))
}

/// AUROC, AUPR (OOD and in-distribution positive), FPR at 95% TPR and detection accuracy,
/// with bootstrap intervals, of scores where higher means more OOD; as JSON.
#[pyfunction]
pub fn metrics(
    in_scores: Vec<f64>,
    ood_scores: Vec<f64>,
    resamples: usize,
    seed: u64,
) -> PyResult<String> {
    if in_scores.is_empty() || ood_scores.is_empty() {
        return Err(value_error(
            "metrics need at least one in-distribution and one OOD score",
        ));
    }
    if let Some(bad) = in_scores.iter().chain(&ood_scores).find(|v| v.is_nan()) {
        return Err(value_error(format!(
            "a score is {bad}; every score must be a number"
        )));
    }
    let metrics = detection(&in_scores, &ood_scores, resamples, seed);
    Ok(serde_json::to_string(&metrics).expect("metrics serialise"))
}

/// The rows as `(JSON of the rows, each with its score's name as "kind", [(in, OOD) scores],
/// the self-contained HTML page of their ROC curves and metrics)`.
fn rows_out<'py>(
    py: Python<'py>,
    rows: &[ScoreRow],
) -> PyResult<(String, Bound<'py, PyList>, String)> {
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let mut value = serde_json::to_value(row).expect("rows serialise");
            value["kind"] = row.kind.name().into();
            value
        })
        .collect();
    let scores = PyList::empty(py);
    for row in rows {
        scores.append((
            PyArray1::from_slice(py, &row.in_scores),
            PyArray1::from_slice(py, &row.ood_scores),
        ))?;
    }
    let page = score_page("genood: OOD scores", rows);
    Ok((
        serde_json::to_string(&json).expect("rows serialise"),
        scores,
        page,
    ))
}

/// A set given as `{"name", "images", "log_p", "parts", "background", "ensemble"}`.
fn scored_set(set: &Bound<'_, PyDict>) -> PyResult<ScoredSet> {
    let item = |key: &str| set.get_item(key).ok().flatten().filter(|v| !v.is_none());
    let required =
        |key: &str| item(key).ok_or_else(|| value_error(format!("a scored set needs `{key}`")));
    let name: String = required("name")?.extract()?;
    let images = arrays::images(&required("images")?, &name)?;
    let dims = images.image_size();
    let log_p: Vec<f64> = required("log_p")?.extract()?;
    let stats = parts(
        item("parts")
            .as_ref()
            .map(|p| p.cast::<PyDict>())
            .transpose()?,
    )?;
    let scores = example_scores(&log_p, &stats, dims).py()?;
    if scores.len() != images.len() {
        return Err(value_error(format!(
            "{name}: {} log-likelihoods for {} images",
            scores.len(),
            images.len()
        )));
    }
    let background = match item("background") {
        Some(values) => Some(example_scores(&values.extract::<Vec<f64>>()?, &[], dims).py()?),
        None => None,
    };
    let ensemble = match item("ensemble") {
        Some(members) => members.extract::<Vec<Vec<f64>>>()?,
        None => Vec::new(),
    };
    Ok(ScoredSet {
        spec: SetSpec::Memory(name),
        images,
        scores,
        background,
        ensemble,
        regret: None,
    })
}

/// Every score of `genood score` on in-memory log-likelihoods: `reference` (its log p and
/// statistics) gives the entropy and DoSE's density, `inside` is compared with each of
/// `outside`.
#[pyfunction]
#[pyo3(signature = (reference_log_p, reference_parts, inside, outside, resamples, seed))]
pub fn score_arrays<'py>(
    py: Python<'py>,
    reference_log_p: Vec<f64>,
    reference_parts: Option<&Bound<'py, PyDict>>,
    inside: &Bound<'py, PyDict>,
    outside: Vec<Bound<'py, PyDict>>,
    resamples: usize,
    seed: u64,
) -> PyResult<(String, Bound<'py, PyList>, String)> {
    let inside = scored_set(inside)?;
    let outside = outside
        .iter()
        .map(scored_set)
        .collect::<PyResult<Vec<_>>>()?;
    let reference = example_scores(
        &reference_log_p,
        &parts(reference_parts)?,
        inside.images.image_size(),
    )
    .py()?;
    if reference.len() < 2 {
        return Err(value_error("the reference needs at least two images"));
    }
    let bootstrap = Bootstrap { resamples, seed };
    let rows = py.detach(|| rows_of(&reference, &inside, &outside, bootstrap));
    rows_out(py, &rows)
}

/// `genood score` on a run folder: every score from the per-image scores that evaluation
/// wrote there.
#[pyfunction]
#[pyo3(signature = (run_dir, in_dist, ood, reference, background, ensemble, resamples, seed, data_dir))]
pub fn score_run<'py>(
    py: Python<'py>,
    run_dir: PathBuf,
    in_dist: &str,
    ood: Vec<String>,
    reference: &str,
    background: Option<PathBuf>,
    ensemble: Vec<PathBuf>,
    resamples: usize,
    seed: u64,
    data_dir: PathBuf,
) -> PyResult<(String, Bound<'py, PyList>, String)> {
    let comparison = Comparison {
        in_dist: in_dist.parse().py()?,
        ood: ood
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()
            .py()?,
        reference: reference.parse().py()?,
        background,
        ensemble,
    };
    let data = DataSource::new(data_dir);
    let bootstrap = Bootstrap { resamples, seed };
    let rows = py
        .detach(|| score_rows(&run_dir, &comparison, bootstrap, &data))
        .py()?;
    rows_out(py, &rows)
}

/// Reproduces one of the paper's experiments into `out` and returns what it wrote:
/// `{"folder", "results", "summary", "summary_text", "seconds"}` (`results.json` names the
/// report).
#[pyfunction]
#[pyo3(signature = (out, pair, preset, models, steps, eval_limit, train_eval_limit, threads, data_dir, mirror=None, progress=None))]
pub fn reproduce<'py>(
    py: Python<'py>,
    out: PathBuf,
    pair: String,
    preset: &str,
    models: Vec<String>,
    steps: Option<usize>,
    eval_limit: Option<usize>,
    train_eval_limit: usize,
    threads: usize,
    data_dir: PathBuf,
    mirror: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = ReproduceOptions {
        pair,
        preset: parse::<Preset>(preset)?,
        models: models
            .iter()
            .map(|m| parse::<ModelKind>(m))
            .collect::<PyResult<_>>()?,
        out,
        steps,
        eval_limit,
        train_eval_limit,
        mirror,
        threads,
        ..ReproduceOptions::default()
    };
    let context = Context::new(DataSource::new(data_dir), Device::flex());
    let mut progress = PyProgress::new(progress);
    let done = py.detach(|| run_reproduction(&options, &context, &mut progress));
    let done = progress.finish(done.py())?;
    let dict = PyDict::new(py);
    dict.set_item("folder", done.results.parent())?;
    dict.set_item("results", &done.results)?;
    dict.set_item("summary", &done.summary)?;
    dict.set_item("summary_text", &done.summary_text)?;
    dict.set_item("seconds", done.seconds)?;
    Ok(dict)
}
