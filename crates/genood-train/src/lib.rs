//! Training and evaluation of genood models.
//!
//! A run folder holds `config.json`, `model.safetensors`, `optimizer.safetensors`,
//! `state.json` (the step, which with the seed is the whole RNG state, and the SHA-256 of
//! every file of the checkpoint, committed as a whole: see [`checkpoint`]), `metrics.csv`,
//! `dynamics.csv` when sets are monitored during training, and,
//! after `eval`, one scores CSV per data set. Loading rebuilds the model from the config and
//! the weights.

pub mod checkpoint;
pub mod csv;
pub mod dynamics;
pub mod eval;
pub mod optim;
pub mod parallel;
pub mod params;
pub mod provenance;
pub mod regret;
pub mod run;
pub mod trainer;
pub mod weights;
