//! Detectors: fitted for a run on calibration images, or from any model's log-likelihoods;
//! each image judged as `genood detect` judges it.

use std::path::PathBuf;

use burn::prelude::Device;
use genood_data::{DataSource, ImageSet};
use genood_lab::Context;
use genood_lab::detect::{self, DetectOptions, Detector, Grouping, Judged, Origin, judge_images};
use genood_lab::foreign::example_scores;
use genood_lab::score::Score;
use genood_models::Named;
use genood_ood::scores::Codec;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::arrays::{self, parts, scores_dict};
use crate::errors::IntoPy;
use crate::progress::PyProgress;
use crate::run::{RunHandle, parse};

/// A fitted detector.
#[pyclass(frozen, module = "genood._genood")]
pub struct DetectorHandle {
    detector: Detector,
}

/// How a detector is fitted, from the package's keywords.
fn options(
    scores: &[String],
    fpr: f64,
    batch: usize,
    codec: &str,
    reference_images: usize,
    iw_samples: usize,
    seed: u64,
    threads: usize,
) -> PyResult<DetectOptions> {
    Ok(DetectOptions {
        iw_samples,
        scores: scores
            .iter()
            .map(|s| parse::<Score>(s))
            .collect::<PyResult<_>>()?,
        fpr,
        batch,
        codec: parse::<Codec>(codec)?,
        reference_images,
        seed,
        threads,
        ..DetectOptions::default()
    })
}

/// Fits a detector for `run`: the reference is a seeded subset of its training images, the
/// calibration set `calibration` (an array or a set's name).
#[pyfunction]
#[pyo3(signature = (run, calibration, data_dir, scores, fpr, batch, codec, reference_images, iw_samples, seed, threads, progress=None))]
pub fn fit_run(
    py: Python<'_>,
    run: &RunHandle,
    calibration: &Bound<'_, PyAny>,
    data_dir: PathBuf,
    scores: Vec<String>,
    fpr: f64,
    batch: usize,
    codec: &str,
    reference_images: usize,
    iw_samples: usize,
    seed: u64,
    threads: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<DetectorHandle> {
    let options = options(
        &scores,
        fpr,
        batch,
        codec,
        reference_images,
        iw_samples,
        seed,
        threads,
    )?;
    let data = DataSource::new(data_dir);
    let conform = genood_data::Conform::to(run.model_dims());
    let (_, set) = arrays::set(calibration, "calibration", &data, seed, conform)?;
    let context = Context::new(data, Device::flex());
    let mut progress = PyProgress::new(progress);
    let fitted =
        py.detach(|| detect::fit(run.dir(), Some(&set), &context, &options, &mut progress));
    let detector = progress.finish(fitted.py())?;
    Ok(DetectorHandle { detector })
}

/// Fits a detector from any model's log-likelihoods (nats, one per image) and statistics:
/// `reference` gives the entropy estimate and DoSE's density, `calibration` (with its images)
/// the thresholds.
#[pyfunction]
#[pyo3(signature = (reference_log_p, reference_parts, calibration_log_p, calibration_parts, calibration_images, scores, fpr, batch, codec, seed))]
pub fn fit_log_likelihoods(
    reference_log_p: Vec<f64>,
    reference_parts: Option<&Bound<'_, PyDict>>,
    calibration_log_p: Vec<f64>,
    calibration_parts: Option<&Bound<'_, PyDict>>,
    calibration_images: &Bound<'_, PyAny>,
    scores: Vec<String>,
    fpr: f64,
    batch: usize,
    codec: &str,
    seed: u64,
) -> PyResult<DetectorHandle> {
    // The log-likelihoods are given: nothing is scored with importance samples here.
    let options = options(&scores, fpr, batch, codec, 0, 1, seed, 1)?;
    let images = arrays::images(calibration_images, "calibration")?;
    let dims = images.image_size();
    let reference = example_scores(&reference_log_p, &parts(reference_parts)?, dims).py()?;
    let calibration = example_scores(&calibration_log_p, &parts(calibration_parts)?, dims).py()?;
    let origin = Origin {
        data: "a model's log-likelihoods".into(),
        step: 0,
        model_sha256: String::new(),
        calibration: "calibration".into(),
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let detector = detect::fit_scores(
        &reference,
        (&images, &calibration),
        origin,
        &options,
        &mut rng,
    )
    .py()?;
    Ok(DetectorHandle { detector })
}

/// The verdicts as a dict of arrays, the scores beside them.
fn verdicts<'py>(
    py: Python<'py>,
    detector: &Detector,
    judged: &Judged,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = scores_dict(py, &judged.scores)?;
    let v = &judged.verdicts;
    let values = PyDict::new(py);
    let percentiles = PyDict::new(py);
    for (k, t) in detector.scores.iter().enumerate() {
        values.set_item(
            t.score.name(),
            PyArray1::from_iter(py, v.iter().map(|v| v.values[k])),
        )?;
        percentiles.set_item(
            t.score.name(),
            PyArray1::from_iter(py, v.iter().map(|v| v.percentiles[k])),
        )?;
    }
    dict.set_item("values", values)?;
    dict.set_item("percentiles", percentiles)?;
    dict.set_item(
        "combined",
        PyArray1::from_iter(py, v.iter().map(|v| v.combined)),
    )?;
    dict.set_item(
        "p_value",
        PyArray1::from_iter(py, v.iter().map(|v| v.p_value)),
    )?;
    dict.set_item("ood", PyArray1::from_iter(py, v.iter().map(|v| v.ood)))?;
    dict.set_item(
        "batch",
        PyArray1::from_iter(py, v.iter().map(|v| v.batch.map_or(-1, |(b, _)| b as i64))),
    )?;
    dict.set_item(
        "batch_flagged",
        PyArray1::from_iter(py, v.iter().map(|v| v.batch.is_some_and(|(_, f)| f))),
    )?;
    Ok(dict)
}

#[pymethods]
impl DetectorHandle {
    /// Scores `images` with `run`'s model and judges each.
    #[pyo3(signature = (run, images, name, data_dir, grouping, seed, batch_size, iw_samples, threads, progress=None))]
    fn judge_run<'py>(
        &self,
        py: Python<'py>,
        run: &RunHandle,
        images: &Bound<'py, PyAny>,
        name: &str,
        data_dir: PathBuf,
        grouping: &str,
        seed: u64,
        batch_size: usize,
        iw_samples: usize,
        threads: usize,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let conform = genood_data::Conform::to(run.model_dims());
        let (_, set) = arrays::set(images, name, &DataSource::new(data_dir), seed, conform)?;
        let options = DetectOptions {
            grouping: parse::<Grouping>(grouping)?,
            seed,
            batch_size,
            iw_samples,
            threads,
            ..DetectOptions::default()
        };
        let indices: Vec<usize> = (0..set.len()).collect();
        let mut progress = PyProgress::new(progress);
        let judged = py.detach(|| {
            judge_images(
                run.model(),
                &self.detector,
                &set,
                &indices,
                &options,
                &Device::flex(),
                &mut progress,
            )
        });
        let judged = progress.finish(judged.py())?;
        verdicts(py, &self.detector, &judged)
    }

    /// Judges images whose log-likelihoods (and statistics) any model gave.
    #[pyo3(signature = (log_p, parts_of, images, name, grouping, seed))]
    fn judge_scores<'py>(
        &self,
        py: Python<'py>,
        log_p: Vec<f64>,
        parts_of: Option<&Bound<'py, PyDict>>,
        images: &Bound<'py, PyAny>,
        name: &str,
        grouping: &str,
        seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let set: ImageSet = arrays::images(images, name)?;
        let scores = example_scores(&log_p, &parts(parts_of)?, set.image_size()).py()?;
        let batches = parse::<Grouping>(grouping)?.batches(&scores, self.detector.batch, seed);
        let judged = self.detector.judge(scores, &set, batches).py()?;
        verdicts(py, &self.detector, &judged)
    }

    /// The detector as `detector.json` holds it.
    fn to_json(&self) -> String {
        serde_json::to_string(&self.detector).expect("detectors serialise")
    }

    /// A detector from the JSON of `to_json` (or a run's `detector.json`).
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        let detector = serde_json::from_str(text)
            .map_err(|e| crate::errors::value_error(format!("not a detector: {e}")))?;
        Ok(Self { detector })
    }
}
