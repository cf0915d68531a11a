//! `--in`, `--ood`, `--reference`, `--background` and `--ensemble`, shared by `score` and
//! `report`.

use std::path::PathBuf;

use clap::Args;
use genood_lab::score::Comparison;

/// The sets a score compares and the companion models it may use; shared by `score` and
/// `report`.
#[derive(Args, Clone)]
pub struct ComparisonArgs {
    /// The in-distribution test set.
    #[arg(long = "in")]
    pub in_dist: String,
    /// OOD sets.
    #[arg(long, num_args = 1.., required = true)]
    pub ood: Vec<String>,
    /// In-distribution data the typicality test's entropy estimate and DoSE's density are
    /// fitted on (scored by `eval` too).
    #[arg(long, default_value = "fashion-mnist:train")]
    pub reference: String,
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
    /// The library's comparison these flags describe.
    pub fn comparison(&self) -> Comparison {
        Comparison {
            in_dist: self.in_dist.clone(),
            ood: self.ood.clone(),
            reference: self.reference.clone(),
            background: self.background.clone(),
            ensemble: self.ensemble.clone(),
        }
    }
}
