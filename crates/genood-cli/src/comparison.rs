//! `--in`, `--ood`, `--reference`, `--background` and `--ensemble`, shared by `score` and
//! `report`.

use genood_data::SetSpec;
use std::path::{Path, PathBuf};

use clap::Args;
use genood_lab::score::Comparison;
use genood_train::run::RunDir;

/// The sets a score compares and the companion models it may use; shared by `score` and
/// `report`.
#[derive(Args, Clone)]
pub struct ComparisonArgs {
    /// The in-distribution test set.
    #[arg(long = "in")]
    pub in_dist: SetSpec,
    /// OOD sets.
    #[arg(long, num_args = 1.., required = true)]
    pub ood: Vec<SetSpec>,
    /// In-distribution data the typicality test's entropy estimate and DoSE's density are
    /// fitted on, scored by `eval` too (default: the run's training set).
    #[arg(long)]
    pub reference: Option<SetSpec>,
    /// A background model's run folder (`genood train --background`), scored by `eval` on the
    /// same sets with the same seed and limit: adds the likelihood-ratio score.
    #[arg(long)]
    pub background: Option<PathBuf>,
    /// Other members of an ensemble (same model, other seeds), scored by `eval` likewise:
    /// adds the WAIC score over this run and these.
    #[arg(long, num_args = 1..)]
    pub ensemble: Vec<PathBuf>,
}

impl ComparisonArgs {
    /// The library's comparison these flags describe for the run in `run`, whose training
    /// set is the default reference.
    pub fn comparison(&self, run: &Path) -> anyhow::Result<Comparison> {
        let reference = match &self.reference {
            Some(reference) => reference.clone(),
            None => SetSpec::parse(&RunDir::new(run).read_config()?.data)?,
        };
        Ok(Comparison {
            in_dist: self.in_dist.clone(),
            ood: self.ood.clone(),
            reference,
            background: self.background.clone(),
            ensemble: self.ensemble.clone(),
        })
    }
}
