//! Runs: train one on an array or a named set, open one, score images with its model, draw
//! samples.

use std::path::PathBuf;

use burn::prelude::Device;
use genood_data::{Conform, DataSource, SetSpec};
use genood_lab::Context;
use genood_lab::evaluation::{EvalOptions, score_images};
use genood_lab::samples::sample_images;
use genood_lab::sets::keep_array;
use genood_lab::training::{TrainOptions, run_config, train_reported};
use genood_models::DensityModel;
use genood_models::presets::{ModelKind, Preset};
use genood_train::checkpoint::Checkpoint;
use genood_train::run::RunDir;
use genood_train::trainer::Start;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{self, scores_dict};
use crate::errors::{IntoPy, value_error};
use crate::progress::PyProgress;

/// A trained run's model, loaded once and kept for every call.
#[pyclass(frozen, module = "genood._genood")]
pub struct RunHandle {
    path: PathBuf,
    checkpoint: Checkpoint,
    device: Device,
}

/// Parses a name the library knows (`glow`, `tiny`), or says which it knows.
pub fn parse<T: std::str::FromStr<Err: std::fmt::Display>>(text: &str) -> PyResult<T> {
    text.parse().map_err(|e: T::Err| value_error(e.to_string()))
}

/// Opens the run in `path` on the CPU.
#[pyfunction]
pub fn open_run(py: Python<'_>, path: PathBuf) -> PyResult<RunHandle> {
    let device = Device::flex();
    let checkpoint = py
        .detach(|| RunDir::new(&path).load_checkpoint(&device))
        .py()?;
    Ok(RunHandle {
        path,
        checkpoint,
        device,
    })
}

impl RunHandle {
    /// The run folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.path
    }

    /// The model.
    pub fn model(&self) -> &genood_models::Model {
        &self.checkpoint.model
    }

    /// `[C, H, W]` of the model's images.
    pub fn model_dims(&self) -> [usize; 3] {
        self.checkpoint.model.image_dims()
    }
}

#[pymethods]
impl RunHandle {
    /// The run folder.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The run's configuration, as `config.json` holds it.
    #[getter]
    fn config_json(&self) -> String {
        serde_json::to_string(&self.checkpoint.config).expect("configs serialise")
    }

    /// The checkpoint's step.
    #[getter]
    fn step(&self) -> usize {
        self.checkpoint.state.step
    }

    /// The SHA-256 of the model's weights.
    #[getter]
    fn model_sha256(&self) -> String {
        self.checkpoint.origin().1
    }

    /// `(channels, height, width)` of the images the model takes.
    #[getter]
    fn image_shape(&self) -> (usize, usize, usize) {
        let [c, h, w] = self.checkpoint.model.image_dims();
        (c, h, w)
    }

    /// Per-image scores of `images` (an array, or a set's name read from `data_dir`).
    #[pyo3(signature = (images, name, data_dir, batch_size, iw_samples, seed, threads, progress=None))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
        name: &str,
        data_dir: PathBuf,
        batch_size: usize,
        iw_samples: usize,
        seed: u64,
        threads: usize,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let model = &self.checkpoint.model;
        let conform = Conform::to(model.image_dims());
        let (_, set) = arrays::set(images, name, &DataSource::new(data_dir), seed, conform)?;
        let options = EvalOptions {
            batch_size,
            iw_samples,
            seed,
            threads,
            ..EvalOptions::default()
        };
        let mut progress = PyProgress::new(progress);
        let scores = py.detach(|| score_images(model, &set, &options, &self.device, &mut progress));
        let scores = progress.finish(scores.py())?;
        scores_dict(py, &scores)
    }

    /// `count` samples at `temperature`, as uint8 N×C×H×W.
    #[pyo3(signature = (count, temperature, seed, progress=None))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        count: usize,
        temperature: f64,
        seed: u64,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut progress = PyProgress::new(progress);
        let model = &self.checkpoint.model;
        let set =
            py.detach(|| sample_images(model, count, temperature, seed, "sample", &mut progress));
        progress.finish(Ok(()))?;
        arrays::to_numpy(py, &set)
    }
}

/// Trains a run into `run_dir` on `data` (an array, kept under `data_dir/arrays`, or a set's
/// name); `start` is `fresh`, `resume` or `overwrite`. Returns the training summary as JSON.
#[pyfunction]
#[pyo3(signature = (run_dir, data, model, preset, start, data_dir, threads, progress=None, steps=None, batch_size=None, learning_rate=None, seed=None, background=None, l2=None))]
pub fn train(
    py: Python<'_>,
    run_dir: PathBuf,
    data: &Bound<'_, PyAny>,
    model: &str,
    preset: &str,
    start: &str,
    data_dir: PathBuf,
    threads: usize,
    progress: Option<Py<PyAny>>,
    steps: Option<usize>,
    batch_size: Option<usize>,
    learning_rate: Option<f64>,
    seed: Option<u64>,
    background: Option<f64>,
    l2: Option<f64>,
) -> PyResult<String> {
    let start = match start {
        "fresh" => Start::Fresh,
        "resume" => Start::Resume,
        "overwrite" => Start::Overwrite,
        other => {
            return Err(value_error(format!(
                "unknown start `{other}`; choose fresh, resume or overwrite"
            )));
        }
    };
    let data_source = DataSource::new(&data_dir);
    let data: SetSpec = match data.extract::<String>() {
        Ok(name) => name.parse().py()?,
        Err(_) => {
            let set = arrays::images(data, "train")?;
            py.detach(|| keep_array(&set, &data_dir)).py()?
        }
    };
    let options = TrainOptions {
        preset: parse::<Preset>(preset)?,
        model: parse::<ModelKind>(model)?,
        data,
        steps,
        batch_size,
        learning_rate,
        seed,
        background,
        l2,
        threads,
        ..TrainOptions::default()
    };
    let config = run_config(&options).py()?;
    let context = Context::new(data_source, Device::flex());
    let mut progress = PyProgress::new(progress);
    let summary = py.detach(|| train_reported(&config, &run_dir, start, &context, &mut progress));
    let summary = progress.finish(summary.py())?;
    Ok(serde_json::to_string(&summary).expect("summaries serialise"))
}
