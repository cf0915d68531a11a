//! The genood experiment as a library. Train a run, score named sets with its model, compute
//! the OOD scores and their metrics, analyse why the likelihood fails, write the report, or
//! reproduce the paper's experiment in one call. The `genood` command only parses its
//! arguments, shows progress and calls these functions.
//!
//! Data flows one way: data sets ([`sets`]) → a trained run ([`training`]) → per-example
//! scores in the run folder ([`evaluation`], [`regret`]) → OOD scores and metrics ([`score`])
//! and the analysis ([`analysis`]) → their views ([`analysis_view`], [`figures`]) → the page
//! ([`report`]); [`reproduce`] runs them all for one of the paper's [`pairs`] or any sets,
//! [`detect`] fits thresholds on a run's held-out images and labels any set image by image,
//! and [`bench`] measures throughput. Long steps report through [`Progress`] ([`Log`] writes
//! it as lines, [`Quiet`] ignores it); every step fails with a [`LabError`] naming the file,
//! set or run at fault.
//!
//! The main path: train a small Glow on FashionMNIST, score its test set and MNIST, and see
//! that the likelihood ranks MNIST as *more* in-distribution (AUROC below 0.5, the paper's
//! finding) while typicality does better.
//!
//! ```
//! use burn::prelude::Device;
//! use genood_data::{DataSource, SetSpec};
//! use genood_lab::evaluation::{EvalOptions, evaluate_sets};
//! use genood_lab::score::{Bootstrap, Comparison, Score, score_rows};
//! use genood_lab::training::{Start, TrainOptions, run_config, train_run};
//! use genood_lab::{Context, Quiet};
//! use genood_models::presets::Preset;
//!
//! # fn main() -> Result<(), genood_lab::LabError> {
//! // The data: FashionMNIST and MNIST, fetched once into the tests' cache. A user fetches
//! // them with `sets::fetch_sets` into `genood_data::default_data_dir()`.
//! // The data and the device every step uses.
//! let data = DataSource::new(genood_data::testing::real_data());
//! let context = Context::new(data, Device::flex());
//! let scratch = std::env::temp_dir().join(format!("genood-doc-{}", std::process::id()));
//!
//! // A run: the tiny Glow, 150 steps (seconds on a CPU).
//! let run = scratch.join("run");
//! let options = TrainOptions { preset: Preset::Tiny, steps: Some(150), ..TrainOptions::default() };
//! let config = run_config(&options)?;
//! train_run(&config, &run, Start::Fresh, &context, &mut Quiet)?;
//!
//! // Per-image scores of 1,000 images of each set, into the run folder.
//! let [train, test, mnist] = ["fashion-mnist:train", "fashion-mnist:test", "mnist:test"]
//!     .map(|name| SetSpec::parse(name).expect("known sets"));
//! let sets = [train.clone(), test.clone(), mnist.clone()];
//! let eval = EvalOptions { limit: Some(1000), ..EvalOptions::default() };
//! let summaries = evaluate_sets(&run, &sets, &context, &eval, &mut Quiet)?;
//! assert!(summaries[2].mean_bpd < summaries[1].mean_bpd, "MNIST is more likely");
//!
//! // The OOD scores: OOD is the positive class, a higher score means more OOD.
//! let comparison = Comparison {
//!     in_dist: test,
//!     ood: vec![mnist],
//!     reference: train,
//!     background: None,
//!     ensemble: Vec::new(),
//! };
//! let bootstrap = Bootstrap { resamples: 200, seed: 0 };
//! let rows = score_rows(&run, &comparison, bootstrap, &context.data)?;
//! let auroc = |score: Score| {
//!     rows.iter().find(|r| r.kind == score).map(|r| r.metrics.auroc.value).unwrap()
//! };
//! assert!(auroc(Score::Likelihood) < 0.5);
//! assert!(auroc(Score::Typicality) > auroc(Score::Likelihood));
//! # std::fs::remove_dir_all(&scratch).unwrap();
//! # Ok(())
//! # }
//! ```

pub mod analysis;
pub mod analysis_view;
pub mod bench;
pub mod context;
pub mod detect;
pub mod error;
pub mod evaluation;
pub mod explain;
pub mod figures;
pub mod foreign;
pub mod pairs;
pub mod progress;
pub mod regret;
pub mod report;
pub mod reproduce;
pub mod samples;
pub mod score;
pub mod sets;
pub mod sweep;
pub mod training;
pub mod verdict;

pub use context::Context;
pub use error::LabError;
pub use progress::{Log, Progress, Quiet};
