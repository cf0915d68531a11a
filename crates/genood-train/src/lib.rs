//! Training and evaluation of genood models.
//!
//! A run folder holds `config.json`, `model.safetensors`, `optimizer.safetensors`,
//! `state.json` (step and RNG state), `metrics.csv` and, after `eval`, one scores CSV per data
//! set. Loading rebuilds the model from the config and the weights.

pub mod optim;
pub mod params;
pub mod weights;
