//! Reading a checkpoint as another tool would: the manifest (`state.json`), the
//! configuration, and every tensor of `model.safetensors` by name and shape; then log p of
//! one image from the loaded model.
//!
//! `cargo run --release --example read_checkpoint [RUN]` (without RUN, a tiny
//! Glow is trained first).

mod common;

use std::path::PathBuf;

use burn::prelude::Device;
use genood_data::{Conform, SetSpec};
use genood_lab::LabError;
use genood_train::eval::evaluate;
use genood_train::run::{RunDir, TrainState};
use genood_train::weights::read_safetensors;

fn main() -> Result<(), LabError> {
    let dir = common::scratch("checkpoint");
    let data = common::data(&dir)?;
    let run = match std::env::args().nth(1) {
        Some(path) => PathBuf::from(path),
        None => common::trained_glow(&dir, &data)?,
    };
    let run = RunDir::new(run);
    let state: TrainState = run.read_json(&run.state())?;
    println!(
        "step {}, {} optimiser updates",
        state.step,
        state.optimizer_updates.unwrap_or_default()
    );
    for (file, sha256) in &state.files {
        println!("  {file}: SHA-256 {sha256}");
    }
    let config = run.read_config()?;
    println!("model {}, trained on {}", config.model.label(), config.data);
    let (tensors, _) =
        read_safetensors(&run.weights()).map_err(genood_train::run::RunError::from)?;
    let parameters: usize = tensors.values().map(|(_, values)| values.len()).sum();
    println!(
        "{} tensors, {parameters} numbers; the first five:",
        tensors.len()
    );
    for (name, (shape, _)) in tensors.iter().take(5) {
        println!("  {name} {shape:?}");
    }
    // Loading checks every file against the manifest's digest, then log p of one image.
    let (_, model) = run.load_model(&Device::flex())?;
    let test = SetSpec::parse("fashion-mnist:test")?.load(&data, 0, Conform::default())?;
    let first = test.select(&[0], "fashion-mnist:test");
    let score = &evaluate(&model, &first, 1, 1, 0, 1, &Device::flex())[0];
    println!(
        "fashion-mnist:test image 0: log p = {:.2} nats, {:.4} bits/dim",
        score.log_p, score.bpd
    );
    Ok(())
}
