//! The paper's experiment for one pair, from raw data to a report (`genood reproduce`): a spec
//! of one experiment, planned like any sweep and run in this process. It fetches, trains each
//! model (and the first one's likelihood-ratio background and WAIC ensemble), evaluates,
//! scores, analyses, reports, and writes `results.json` and `summary.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use genood_data::SetSpec;
use genood_models::presets::{ModelKind, Preset};

use crate::context::Context;
use crate::error::LabError;
use crate::progress::Progress;
use crate::sweep::plan::{Experiment, Work};
use crate::sweep::spec::{Companions, PairChoice, Resources, SweepSpec};
use crate::sweep::{Executor, InProcess, Setup, Sweep};

pub use crate::sweep::spec::DEFAULT_MODELS;

/// What [`reproduce`] runs and where it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReproduceOptions {
    /// The experiment: a pair of [`crate::pairs::PAIRS`], unless `train` is given.
    pub pair: String,
    /// Any training set instead of a built-in pair (with `ood`, and `in_dist` unless the set
    /// is a named split with a test split).
    pub train: Option<SetSpec>,
    /// The in-distribution test set of a `train` experiment.
    pub in_dist: Option<SetSpec>,
    /// The OOD sets of a `train` experiment.
    pub ood: Vec<SetSpec>,
    /// Size and schedule: tiny, quick (CPU minutes) or paper (GPU hours).
    pub preset: Preset,
    /// Models to train, in order; the first also gets the likelihood-ratio background and the
    /// WAIC ensemble.
    pub models: Vec<ModelKind>,
    /// Output folder, a sweep folder: the experiment's folder (`<pair>`, then what differs from
    /// the defaults: `-<models>`, `-<preset>`) with one run folder per model, results.json,
    /// summary.md, the report and the analysis; the jobs' logs and marks in `jobs/`.
    pub out: PathBuf,
    /// The preset's number of optimiser steps, overridden.
    pub steps: Option<usize>,
    /// Images of the training split to score (a seeded subset; 0 = all; at most 1,000 for
    /// PixelCNN++ and the VAEs on the CPU presets).
    pub train_eval_limit: usize,
    /// Images of the test and each OOD set to score (default: all, except 1,000 for
    /// PixelCNN++ and the VAEs on the CPU presets).
    pub eval_limit: Option<usize>,
    /// μ of the first model's likelihood-ratio background (0: no background model).
    pub background_mu: f64,
    /// Members of the first model's WAIC ensemble, counting it (1: no ensemble).
    pub ensemble: usize,
    /// Importance samples of a VAE's bound (default: 100 for the paper preset, 10 for the
    /// CPU presets).
    pub iw_samples: Option<usize>,
    /// Images of the test and each OOD set whose likelihood regret is computed (VAEs only;
    /// default: all for the paper preset, 300 for the CPU presets).
    pub regret_limit: Option<usize>,
    /// Take data archives from this folder before trying the network.
    pub mirror: Option<PathBuf>,
    /// The device's name, for the results.
    pub device_name: String,
    /// Worker threads.
    pub threads: usize,
}

impl Default for ReproduceOptions {
    /// `genood reproduce`'s defaults: FashionMNIST → MNIST, quick Glow and CV-Glow, one
    /// thread on the CPU.
    fn default() -> Self {
        Self {
            pair: "fashion-mnist-mnist".into(),
            train: None,
            in_dist: None,
            ood: Vec::new(),
            preset: Preset::Quick,
            models: DEFAULT_MODELS.to_vec(),
            out: "runs/reproduce".into(),
            steps: None,
            train_eval_limit: 10_000,
            eval_limit: None,
            background_mu: 0.2,
            ensemble: 2,
            iw_samples: None,
            regret_limit: None,
            mirror: None,
            device_name: "cpu".into(),
            threads: 1,
        }
    }
}

/// What [`reproduce`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Reproduced {
    /// `results.json`.
    pub results: PathBuf,
    /// `summary.md`.
    pub summary: PathBuf,
    /// The summary's text.
    pub summary_text: String,
    /// Seconds from start to end.
    pub seconds: f64,
}

impl ReproduceOptions {
    /// The experiment as a spec of one experiment: seed 0, one part per set, companions for
    /// the first model only, every stage on `threads` threads.
    pub fn spec(&self) -> SweepSpec {
        let pair = match &self.train {
            Some(train) => PairChoice::Custom {
                name: None,
                train: train.clone(),
                in_dist: self.in_dist.clone(),
                ood: self.ood.clone(),
            },
            None => PairChoice::Named(self.pair.clone()),
        };
        let threads = Resources {
            cpus: Some(self.threads),
            ..Resources::default()
        };
        SweepSpec {
            pairs: vec![pair],
            models: self.models.clone(),
            presets: vec![self.preset],
            seeds: vec![0],
            steps: self.steps,
            scores: Vec::new(),
            eval_shards: 1,
            train_eval_limit: self.train_eval_limit,
            eval_limit: self.eval_limit,
            background_mu: self.background_mu,
            ensemble: self.ensemble,
            companions: Companions::First,
            iw_samples: self.iw_samples,
            regret_limit: self.regret_limit,
            device: self.device_name.clone(),
            resources: BTreeMap::from([("default".to_string(), threads)]),
        }
    }
}

/// Runs the whole experiment on `context`'s device, in this process, and writes
/// `results.json` and `summary.md`. A job that finished before (same inputs) is not run
/// again, so an interrupted reproduction resumes.
pub fn reproduce(
    args: &ReproduceOptions,
    context: &Context,
    progress: &mut dyn Progress,
) -> Result<Reproduced, LabError> {
    let started = Instant::now();
    let setup = Setup {
        spec: args.spec(),
        data_dir: std::path::absolute(&context.data.dir)
            .map_err(LabError::io(&context.data.dir))?,
        skip_bad: context.data.skip_bad,
        mirror: args.mirror.clone(),
    };
    let sweep = Sweep::create(&args.out, setup)?;
    let experiment = sweep
        .plan
        .jobs
        .iter()
        .find_map(|job| match &job.work {
            Work::Summary { experiment } => Some(experiment),
            _ => None,
        })
        .expect("a plan has an experiment");
    progress.note(&describe(args, experiment, &sweep));
    let executor = InProcess {
        device: context.device.clone(),
    };
    executor.run(&sweep, progress)?.into_result()?;
    let folder = sweep.path(Path::new(&experiment.name));
    let summary = folder.join("summary.md");
    let summary_text = std::fs::read_to_string(&summary).map_err(LabError::io(&summary))?;
    Ok(Reproduced {
        results: folder.join("results.json"),
        summary,
        summary_text,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a reproduction will do, before it starts.
fn describe(args: &ReproduceOptions, experiment: &Experiment, sweep: &Sweep) -> String {
    let first = &experiment.models[0];
    let mut companions = Vec::new();
    if first.background.is_some() {
        companions.push(format!(
            "a likelihood-ratio background model (μ = {})",
            args.background_mu
        ));
    }
    if !first.ensemble.is_empty() {
        let more = first.ensemble.len();
        companions.push(format!(
            "{more} more seed{} for WAIC",
            if more == 1 { "" } else { "s" }
        ));
    }
    let also = match companions.is_empty() {
        true => String::new(),
        false => format!(
            " ({} also trains {})",
            first.model,
            companions.join(" and ")
        ),
    };
    let models: Vec<String> = args.models.iter().map(ModelKind::to_string).collect();
    format!(
        "plan: {} jobs into {}: fetch; train, evaluate and score {} (preset {}){also}; analyse; report; summarise\nsets: train on {}, in-distribution {}, OOD {}",
        sweep.plan.jobs.len(),
        sweep.path(Path::new(&experiment.name)).display(),
        models.join(", "),
        args.preset,
        experiment.sets.reference,
        experiment.sets.test,
        SetSpec::labels(&experiment.sets.ood).join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::plan::{Stage, plan};

    #[test]
    fn a_reproduction_is_one_experiment_with_companions_for_its_first_model() {
        let options = ReproduceOptions {
            preset: Preset::Tiny,
            ..ReproduceOptions::default()
        };
        let plan = plan(&options.spec()).unwrap();
        let trains: Vec<String> = plan
            .jobs
            .iter()
            .filter_map(|j| match &j.work {
                Work::Train { run, config } => {
                    assert_eq!(config.threads, 1);
                    Some(run.display().to_string())
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            trains,
            [
                "fashion-mnist-mnist-tiny/glow",
                "fashion-mnist-mnist-tiny/glow-background",
                "fashion-mnist-mnist-tiny/glow-member1",
                "fashion-mnist-mnist-tiny/cv-glow",
            ]
        );
        let count = |stage| plan.jobs.iter().filter(|j| j.stage == stage).count();
        assert_eq!(count(Stage::Merge), 0);
        assert_eq!(
            (
                count(Stage::Analyze),
                count(Stage::Report),
                count(Stage::Summary)
            ),
            (1, 1, 1)
        );
    }
}
