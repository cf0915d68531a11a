//! What the examples share: the data (from the archives beside this repository, or
//! downloaded) and a briefly trained tiny Glow.

use std::path::{Path, PathBuf};

use genood_data::DataSource;
use genood_lab::sets::fetch_sets;
use genood_lab::training::{Start, TrainOptions, run_config, train_run};
use genood_lab::{Context, LabError, Quiet};
use genood_models::presets::Preset;

/// A scratch folder for this example, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genood-example-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// FashionMNIST and MNIST in `dir/data`, from the archives beside this repository when they
/// are there (`$GENOOD_MIRROR` names another folder), else downloaded as `genood fetch` does.
pub fn data(dir: &Path) -> Result<DataSource, LabError> {
    let data = dir.join("data");
    fetch_sets(
        &["fashion-mnist".into(), "mnist".into()],
        &data,
        &genood_data::testing::fetch_options(),
        &mut Quiet,
    )?;
    Ok(DataSource::new(data))
}

/// The tiny Glow trained for 150 steps on FashionMNIST into `dir/run` on the CPU (a few
/// seconds).
pub fn trained_glow(dir: &Path, data: &DataSource) -> Result<PathBuf, LabError> {
    let run = dir.join("run");
    let options = TrainOptions {
        preset: Preset::Tiny,
        steps: Some(150),
        ..TrainOptions::default()
    };
    train_run(
        &run_config(&options)?,
        &run,
        Start::Fresh,
        &Context::cpu(data.clone()),
        &mut Quiet,
    )?;
    Ok(run)
}
