//! The planner of every experiment, `reproduce`'s and a sweep's: from a spec alone it decides
//! the runs (each model, and its likelihood-ratio background and ensemble members by the
//! spec's companion rule), each model's budget, the folders, and the jobs with their
//! dependencies: fetch, train, evaluate each set (in shards, then merge), score, analyse,
//! report, summarise each experiment, and the sweep's table.
//!
//! A job's id ends with a hash of what it does and of its dependencies' ids, so it names its
//! inputs all the way back to the spec. Folders are named for people: each experiment's is
//! `<pair>` followed by what differs from `reproduce`'s defaults (`-<models>`, `-<preset>`,
//! `-s<seed>`), holding a run folder per model (`<model>`, `<model>-background`,
//! `<model>-member<k>`), `analysis/`, `report/`, `results.json` and `summary.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use genood_data::SetSpec;
use genood_data::checksum::sha256_hex;
use genood_models::presets::{ModelKind, Preset};
use genood_models::{ModelConfig, Named};
use genood_train::run::RunConfig;
use serde::{Deserialize, Serialize};

use crate::error::LabError;
use crate::figures::file_safe;
use crate::pairs::PairSets;
use crate::sweep::budget::Budget;
use crate::sweep::spec::{DEFAULT_MODELS, SweepSpec};
use crate::training::{TrainOptions, run_config};

/// The stages of a sweep, in the order their jobs can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Download the named data sets.
    Fetch,
    /// Train one model.
    Train,
    /// Score one part of one set with one model.
    Eval,
    /// Join a model's parts into its scores.
    Merge,
    /// The OOD scores of one model.
    Score,
    /// `analyze` of one experiment's models.
    Analyze,
    /// The HTML report of one experiment.
    Report,
    /// One experiment's `results.json` and `summary.md`.
    Summary,
    /// The sweep's table over every experiment.
    SweepReport,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 9] = [
        Stage::Fetch,
        Stage::Train,
        Stage::Eval,
        Stage::Merge,
        Stage::Score,
        Stage::Analyze,
        Stage::Report,
        Stage::Summary,
        Stage::SweepReport,
    ];

    /// The stage's name, as in the spec's `resources` and in job ids.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::Train => "train",
            Stage::Eval => "eval",
            Stage::Merge => "merge",
            Stage::Score => "score",
            Stage::Analyze => "analyze",
            Stage::Report => "report",
            Stage::Summary => "summary",
            Stage::SweepReport => "sweep-report",
        }
    }
}

/// The sets an experiment compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compared {
    /// The training split, the scores' reference.
    pub reference: SetSpec,
    /// The in-distribution test set.
    pub test: SetSpec,
    /// The OOD sets.
    pub ood: Vec<SetSpec>,
}

impl Compared {
    /// The test set, then the OOD sets.
    pub fn held_out(&self) -> Vec<SetSpec> {
        std::iter::once(self.test.clone())
            .chain(self.ood.iter().cloned())
            .collect()
    }
}

/// Sets a merge joins, scored with one limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetGroup {
    /// The sets.
    pub sets: Vec<SetSpec>,
    /// Images scored per set (a seeded subset; `None`: all).
    pub limit: Option<usize>,
}

/// What a job does. Run folders are relative to the sweep folder; other jobs are named by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Work {
    /// Download these data sets (checking their checksums).
    Fetch {
        /// Data set names.
        datasets: Vec<String>,
    },
    /// Train this run (resuming from its checkpoint).
    Train {
        /// The run's configuration.
        config: RunConfig,
        /// Its run folder.
        run: PathBuf,
    },
    /// Score part `shard` (from 0) of `shards` of `set` with `run`'s model (one part: the
    /// set's scores themselves).
    Eval {
        /// The run folder.
        run: PathBuf,
        /// The set.
        set: SetSpec,
        /// Images scored (a seeded subset; `None`: all).
        limit: Option<usize>,
        /// Importance samples of a VAE's bound.
        iw_samples: usize,
        /// Which part, from 0.
        shard: usize,
        /// How many parts.
        shards: usize,
        /// Score the likelihood alone, without the model family's detector statistics (a
        /// companion model's scores feed only the likelihood ratio and WAIC).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        likelihood_only: bool,
    },
    /// Join `run`'s parts of each group into its scores.
    Merge {
        /// The run folder.
        run: PathBuf,
        /// The sets, grouped by their limit.
        groups: Vec<SetGroup>,
        /// Importance samples of a VAE's bound.
        iw_samples: usize,
        /// Parts per set.
        shards: usize,
    },
    /// Every OOD score of `run` on `sets` (and, for a VAE, its likelihood regret first).
    Score {
        /// The model's run folder.
        run: PathBuf,
        /// The sets.
        sets: Compared,
        /// The background model's run folder.
        background: Option<PathBuf>,
        /// The ensemble's other members' run folders.
        ensemble: Vec<PathBuf>,
        /// Images per set whose likelihood regret is computed (VAEs; `None`: all).
        regret_limit: Option<usize>,
        /// Whether the model is a VAE (likelihood regret applies).
        vae: bool,
    },
    /// `analyze` of `runs` on `sets`, into `out`.
    Analyze {
        /// The run folders.
        runs: Vec<PathBuf>,
        /// The sets.
        sets: Compared,
        /// Images per set at each graying level.
        gray_limit: usize,
        /// Images per set scored when a run has no scores for it.
        eval_limit: usize,
        /// Importance samples of a VAE's bound.
        iw_samples: usize,
        /// The analysis folder.
        out: PathBuf,
    },
    /// The report of `runs` on `sets` with the first one's companions and an analysis, into
    /// `out`.
    Report {
        /// The run folders.
        runs: Vec<PathBuf>,
        /// The sets.
        sets: Compared,
        /// The first run's background model.
        background: Option<PathBuf>,
        /// The first run's other ensemble members.
        ensemble: Vec<PathBuf>,
        /// The `analysis.json` shown.
        analysis: PathBuf,
        /// Images drawn for the page.
        samples: usize,
        /// The report folder.
        out: PathBuf,
    },
    /// `results.json` and `summary.md` of one experiment.
    Summary {
        /// The experiment.
        experiment: Experiment,
    },
    /// The table over `experiments`.
    SweepReport {
        /// Every experiment.
        experiments: Vec<Experiment>,
        /// Score-name prefixes kept in the table (empty: all).
        scores: Vec<String>,
    },
}

/// One experiment: a pair at a preset and seed, with its models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Its folder in the sweep folder.
    pub name: String,
    /// Pair name.
    pub pair: String,
    /// Preset.
    pub preset: Preset,
    /// Seed.
    pub seed: u64,
    /// The sets.
    pub sets: Compared,
    /// Its models, in the spec's order.
    pub models: Vec<ModelPlan>,
    /// Its analysis folder.
    pub analysis: PathBuf,
    /// Its report folder.
    pub report: PathBuf,
}

/// One model of an experiment: its run, its companions and the jobs that made them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPlan {
    /// The family.
    pub model: ModelKind,
    /// Its run folder.
    pub run: PathBuf,
    /// Its train job.
    pub train: String,
    /// The jobs that score its sets (eval and merge).
    pub evaluation: Vec<String>,
    /// Its score job.
    pub score: String,
    /// Optimiser steps.
    pub steps: usize,
    /// What it scores.
    pub budget: Budget,
    /// Its likelihood-ratio background model.
    pub background: Option<Companion>,
    /// Its ensemble's other members.
    pub ensemble: Vec<Companion>,
}

/// A model trained beside another: a background model or an ensemble member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Companion {
    /// Its run folder.
    pub run: PathBuf,
    /// Its train job.
    pub train: String,
}

/// The folder of the experiment of `pair` with `models` at `preset` and `seed`: the pair, then
/// whatever differs from `reproduce`'s defaults, so that `reproduce` on its defaults writes
/// `<pair>/` and no two experiments of a spec share a folder.
pub fn experiment_name(pair: &str, models: &[ModelKind], preset: Preset, seed: u64) -> String {
    let mut name = pair.to_string();
    if models != DEFAULT_MODELS {
        for model in models {
            name.push('-');
            name.push_str(model.name());
        }
    }
    if preset != Preset::Quick {
        name.push_str(&format!("-{preset}"));
    }
    if seed != 0 {
        name.push_str(&format!("-s{seed}"));
    }
    file_safe(&name)
}

/// One job of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// `<stage>-<what>-<hash>`: the folder name of its outputs and marks.
    pub id: String,
    /// Its stage.
    pub stage: Stage,
    /// Jobs that must have finished first.
    pub deps: Vec<String>,
    /// What it does.
    pub work: Work,
}

/// Every job of a sweep, dependencies first.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The jobs, each after its dependencies.
    pub jobs: Vec<Job>,
}

impl Plan {
    /// The job called `id`.
    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    /// `id` and every job that depends on it, directly or not.
    pub fn dependents(&self, id: &str) -> BTreeSet<String> {
        let mut reached = BTreeSet::from([id.to_string()]);
        for job in &self.jobs {
            if job.deps.iter().any(|d| reached.contains(d)) {
                reached.insert(job.id.clone());
            }
        }
        reached
    }

    /// Every job that `id` waits for, directly or not.
    pub fn prerequisites(&self, id: &str) -> BTreeSet<String> {
        let mut reached = BTreeSet::new();
        let mut todo = vec![id.to_string()];
        while let Some(at) = todo.pop() {
            for dep in self.job(&at).map(|j| j.deps.as_slice()).unwrap_or_default() {
                if reached.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        reached
    }

    /// The DAG as text: one line per job with its stage's resources, then what it waits for.
    pub fn describe(&self, spec: &SweepSpec) -> String {
        let mut text = String::new();
        for stage in Stage::ALL {
            let jobs: Vec<&Job> = self.jobs.iter().filter(|j| j.stage == stage).collect();
            if jobs.is_empty() {
                continue;
            }
            let r = spec.resources_of(stage.name());
            text.push_str(&format!(
                "{} ({} job{}; each {} CPU{}, {}, {}{}{}{}):\n",
                stage.name(),
                jobs.len(),
                if jobs.len() == 1 { "" } else { "s" },
                r.cpus.unwrap_or(1),
                if r.cpus == Some(1) { "" } else { "s" },
                r.mem.as_deref().unwrap_or("-"),
                r.time.as_deref().unwrap_or("-"),
                r.gpus.map_or(String::new(), |g| format!(", {g} GPU")),
                r.partition
                    .as_deref()
                    .map_or(String::new(), |p| format!(", partition {p}")),
                match r.sbatch.is_empty() {
                    true => String::new(),
                    false => format!(", sbatch {}", r.sbatch.join(" ")),
                },
            ));
            for job in jobs {
                text.push_str(&format!("  {}\n", job.id));
                if !job.deps.is_empty() {
                    text.push_str(&format!("    after {}\n", job.deps.join(", ")));
                }
            }
        }
        text
    }
}

/// Builds the plan of `spec`.
pub fn plan(spec: &SweepSpec) -> Result<Plan, LabError> {
    let invalid = |reason| LabError::Invalid {
        what: "sweep spec",
        reason,
    };
    spec.check().map_err(invalid)?;
    let pairs = spec.pair_sets().map_err(invalid)?;
    let mut builder = Builder { jobs: Vec::new() };
    let mut datasets = Vec::new();
    for pair in &pairs {
        for name in datasets_of(pair)? {
            if !datasets.contains(&name) {
                datasets.push(name);
            }
        }
    }
    let fetched: Vec<String> = match datasets.is_empty() {
        true => Vec::new(),
        false => vec![builder.add(Stage::Fetch, "data", Work::Fetch { datasets }, Vec::new())],
    };
    let mut experiments = Vec::new();
    let mut summaries = Vec::new();
    for pair in &pairs {
        for &preset in &spec.presets {
            for &seed in &spec.seeds {
                let scope = Scope {
                    spec,
                    pair,
                    preset,
                    seed,
                    name: experiment_name(&pair.name, &spec.models, preset, seed),
                    fetched: &fetched,
                };
                let (experiment, summary) = builder.experiment(&scope)?;
                experiments.push(experiment);
                summaries.push(summary);
            }
        }
    }
    builder.add(
        Stage::SweepReport,
        "table",
        Work::SweepReport {
            experiments,
            scores: spec.scores.clone(),
        },
        summaries,
    );
    Ok(Plan { jobs: builder.jobs })
}

/// The data sets `fetch` downloads for `pair`'s named splits.
fn datasets_of(pair: &PairSets) -> Result<Vec<String>, LabError> {
    let mut names = Vec::new();
    for spec in [&pair.train, &pair.test].into_iter().chain(&pair.ood) {
        if let SetSpec::Real { dataset, .. } = spec {
            let name = dataset.name().to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// What the jobs of one experiment share.
struct Scope<'a> {
    spec: &'a SweepSpec,
    pair: &'a PairSets,
    preset: Preset,
    seed: u64,
    /// The experiment's folder.
    name: String,
    /// The fetch job, if any.
    fetched: &'a [String],
}

/// Collects jobs, giving each its id.
struct Builder {
    jobs: Vec<Job>,
}

impl Builder {
    /// Adds a job and returns its id: `<stage>-<what>-` and the first 12 hex digits of the
    /// SHA-256 of its stage, work and dependencies.
    fn add(&mut self, stage: Stage, what: &str, work: Work, deps: Vec<String>) -> String {
        let key = serde_json::to_string(&(stage, &work, &deps)).expect("jobs serialise");
        let hash = sha256_hex(key.as_bytes());
        let id = format!("{}-{}-{}", stage.name(), file_safe(what), &hash[..12]);
        if !self.jobs.iter().any(|j| j.id == id) {
            self.jobs.push(Job {
                id: id.clone(),
                stage,
                deps,
                work,
            });
        }
        id
    }

    /// The jobs of one experiment; returns it and its summary job.
    fn experiment(&mut self, scope: &Scope) -> Result<(Experiment, String), LabError> {
        let (spec, pair) = (scope.spec, scope.pair);
        let sets = Compared {
            reference: pair.train.clone(),
            test: pair.test.clone(),
            ood: pair.ood.clone(),
        };
        let mut models = Vec::new();
        for (index, &model) in spec.models.iter().enumerate() {
            let companions = spec.companions.apply_to(index);
            models.push(self.model(scope, &sets, model, companions)?);
        }
        let folder = PathBuf::from(&scope.name);
        let runs: Vec<PathBuf> = models.iter().map(|m| m.run.clone()).collect();
        let budgets = || models.iter().map(|m| m.budget);
        let analysis = folder.join("analysis");
        let analyze = self.add(
            Stage::Analyze,
            &scope.name,
            Work::Analyze {
                runs: runs.clone(),
                sets: sets.clone(),
                gray_limit: budgets().map(|b| b.gray_limit).min().unwrap_or_default(),
                eval_limit: spec.train_eval_limit,
                iw_samples: budgets().map(|b| b.iw_samples).max().unwrap_or_default(),
                out: analysis.clone(),
            },
            models.iter().flat_map(|m| m.evaluation.clone()).collect(),
        );
        let report = folder.join("report");
        let first = &models[0];
        let report_job = self.add(
            Stage::Report,
            &scope.name,
            Work::Report {
                runs,
                sets: sets.clone(),
                background: first.background.as_ref().map(|c| c.run.clone()),
                ensemble: first.ensemble.iter().map(|c| c.run.clone()).collect(),
                analysis: analysis.join("analysis.json"),
                samples: budgets().map(|b| b.samples).min().unwrap_or_default(),
                out: report.clone(),
            },
            std::iter::once(analyze)
                .chain(models.iter().map(|m| m.score.clone()))
                .collect(),
        );
        let experiment = Experiment {
            name: scope.name.clone(),
            pair: pair.name.clone(),
            preset: scope.preset,
            seed: scope.seed,
            sets,
            models,
            analysis,
            report,
        };
        let summary = self.add(
            Stage::Summary,
            &scope.name,
            Work::Summary {
                experiment: experiment.clone(),
            },
            vec![report_job],
        );
        Ok((experiment, summary))
    }

    /// The jobs of one model of an experiment: its training, its companions' when
    /// `companions`, their evaluation, and its scores.
    fn model(
        &mut self,
        scope: &Scope,
        sets: &Compared,
        model: ModelKind,
        companions: bool,
    ) -> Result<ModelPlan, LabError> {
        let spec = scope.spec;
        let mut config = run_config(&TrainOptions {
            preset: scope.preset,
            model,
            data: sets.reference.clone(),
            steps: spec.steps,
            seed: Some(scope.seed),
            threads: spec.resources_of(Stage::Train.name()).cpus.unwrap_or(1),
            ..TrainOptions::default()
        })?;
        let budget = Budget::of(spec, scope.preset, &config.model);
        let shards = spec.eval_shards;
        let held_out = SetGroup {
            sets: sets.held_out(),
            limit: budget.held_out_limit,
        };
        // Companions share the model's config but for their own field, and are scored on the
        // test and OOD sets only.
        let mut companion = config.clone();
        companion.monitor.clear();
        // The likelihood of the OOD sets over training, for `analyze`'s dynamics figure.
        config.monitor = SetSpec::labels(&sets.ood);
        let steps = config.train.steps;
        let vae = matches!(config.model, ModelConfig::Vae(_));
        let what = format!("{}-{model}", scope.name);
        let run = Path::new(&scope.name).join(model.name());
        let (train, evaluation) = self.trained(
            scope,
            config,
            &run,
            &what,
            &[
                SetGroup {
                    sets: vec![sets.reference.clone()],
                    limit: budget.train_limit,
                },
                held_out.clone(),
            ],
            (budget.iw_samples, shards, false),
        );
        let mut scored = evaluation.clone();
        let mut companion_run = |builder: &mut Builder, config: RunConfig, suffix: String| {
            let run = Path::new(&scope.name).join(format!("{model}-{suffix}"));
            let (train, evaluation) = builder.trained(
                scope,
                config,
                &run,
                &format!("{what}-{suffix}"),
                std::slice::from_ref(&held_out),
                (budget.iw_samples, shards, true),
            );
            scored.extend(evaluation);
            Companion { run, train }
        };
        let mut background = None;
        let mut ensemble = Vec::new();
        if companions {
            if spec.background_mu > 0.0 {
                let mut config = companion.clone();
                config.train.background_noise = Some(spec.background_mu);
                background = Some(companion_run(self, config, "background".into()));
            }
            for member in 1..spec.ensemble as u64 {
                let mut config = companion.clone();
                // Member k of seed s trains with seed 1000·s + k.
                config.train.seed = scope.seed * 1000 + member;
                ensemble.push(companion_run(self, config, format!("member{member}")));
            }
        }
        let score = self.add(
            Stage::Score,
            &what,
            Work::Score {
                run: run.clone(),
                sets: sets.clone(),
                background: background.as_ref().map(|c: &Companion| c.run.clone()),
                ensemble: ensemble.iter().map(|c| c.run.clone()).collect(),
                regret_limit: budget.regret_limit,
                vae,
            },
            scored,
        );
        Ok(ModelPlan {
            model,
            run,
            train,
            evaluation,
            score,
            steps,
            budget,
            background,
            ensemble,
        })
    }

    /// The training of `config` into `run`, and the evaluation of `groups` with (importance
    /// samples, shards) after it; returns the train job and the evaluation's jobs.
    fn trained(
        &mut self,
        scope: &Scope,
        config: RunConfig,
        run: &Path,
        what: &str,
        groups: &[SetGroup],
        (iw_samples, shards, likelihood_only): (usize, usize, bool),
    ) -> (String, Vec<String>) {
        let train = self.add(
            Stage::Train,
            what,
            Work::Train {
                config,
                run: run.into(),
            },
            scope.fetched.to_vec(),
        );
        let mut parts = Vec::new();
        for group in groups {
            for set in &group.sets {
                let short = set.display_name();
                for shard in 0..shards {
                    let part = match shards {
                        1 => String::new(),
                        _ => format!("-{}of{shards}", shard + 1),
                    };
                    parts.push(self.add(
                        Stage::Eval,
                        &format!("{what}-{short}{part}"),
                        Work::Eval {
                            run: run.into(),
                            set: set.clone(),
                            limit: group.limit,
                            iw_samples,
                            shard,
                            shards,
                            likelihood_only,
                        },
                        vec![train.clone()],
                    ));
                }
            }
        }
        if shards > 1 {
            let merge = self.add(
                Stage::Merge,
                what,
                Work::Merge {
                    run: run.into(),
                    groups: groups.to_vec(),
                    iw_samples,
                    shards,
                },
                parts.clone(),
            );
            parts.push(merge);
        }
        (train, parts)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn spec(extra: &str) -> SweepSpec {
        serde_json::from_str(&format!(
            r#"{{"pairs": ["fashion-mnist-mnist"], "models": ["glow"], "presets": ["tiny"], "seeds": [0, 1], "eval_shards": 2{extra}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_dag_has_every_stage_and_ids_follow_the_inputs() {
        let plan = plan(&spec("")).unwrap();
        let count = |stage| plan.jobs.iter().filter(|j| j.stage == stage).count();
        // Per seed: the model, its background and one more ensemble member.
        assert_eq!(count(Stage::Fetch), 1);
        assert_eq!(count(Stage::Train), 2 * 3);
        // Per seed: the model on 3 sets, each companion on 2, in 2 shards.
        assert_eq!(count(Stage::Eval), 2 * (3 + 2 + 2) * 2);
        assert_eq!(count(Stage::Merge), 2 * 3);
        for stage in [Stage::Score, Stage::Analyze, Stage::Report, Stage::Summary] {
            assert_eq!(count(stage), 2);
        }
        assert_eq!(count(Stage::SweepReport), 1);
        // Dependencies come first, and exist.
        for (i, job) in plan.jobs.iter().enumerate() {
            for dep in &job.deps {
                let at = plan.jobs.iter().position(|j| &j.id == dep).unwrap();
                assert!(at < i, "{} before its dependency {dep}", job.id);
            }
        }
        // The same spec gives the same ids; another seed list keeps seed 0's jobs.
        assert_eq!(super::plan(&spec("")).unwrap(), plan);
        let mut three = spec("");
        three.seeds = vec![0, 1, 2];
        let three = super::plan(&three).unwrap();
        for job in plan.jobs.iter().filter(|j| j.stage != Stage::SweepReport) {
            assert!(three.job(&job.id).is_some(), "{} kept", job.id);
        }
        // More steps change training and everything after it, not the fetch.
        let mut longer = spec("");
        longer.steps = Some(41);
        let longer = super::plan(&longer).unwrap();
        assert!(longer.job(&plan.jobs[0].id).is_some());
        assert!(plan.jobs[1..].iter().all(|j| longer.job(&j.id).is_none()));
        // A failure reaches its dependents only.
        let train = &plan.jobs[1].id;
        let reached = plan.dependents(train);
        assert!(reached.iter().any(|id| id.starts_with("sweep-report")));
        assert!(!reached.contains(&plan.jobs[0].id));
    }

    #[test]
    fn the_companion_rule_and_the_folders_follow_the_spec() {
        let mut two = spec("");
        (two.models, two.seeds) = (DEFAULT_MODELS.to_vec(), vec![0, 3]);
        two.eval_shards = 1;
        let runs = |plan: &Plan| -> Vec<String> {
            plan.jobs
                .iter()
                .filter_map(|j| match &j.work {
                    Work::Train { run, .. } => Some(run.display().to_string()),
                    _ => None,
                })
                .collect()
        };
        // Every model gets its companions unless the spec says the first only.
        assert_eq!(runs(&plan(&two).unwrap()).len(), 2 * 6);
        two.companions = crate::sweep::spec::Companions::First;
        let first = plan(&two).unwrap();
        assert_eq!(
            runs(&first)[..4],
            [
                "fashion-mnist-mnist-tiny/glow",
                "fashion-mnist-mnist-tiny/glow-background",
                "fashion-mnist-mnist-tiny/glow-member1",
                "fashion-mnist-mnist-tiny/cv-glow",
            ]
        );
        assert_eq!(runs(&first)[4], "fashion-mnist-mnist-tiny-s3/glow");
        // One part per set: no merge, and the report waits for both models' scores.
        assert!(first.jobs.iter().all(|j| j.stage != Stage::Merge));
        let report = first
            .jobs
            .iter()
            .find(|j| j.stage == Stage::Report)
            .unwrap();
        let scores = report
            .deps
            .iter()
            .filter(|d| d.starts_with("score-"))
            .count();
        assert_eq!(scores, 2);
        // Folders name what differs from `reproduce`'s defaults only.
        assert_eq!(experiment_name("p", DEFAULT_MODELS, Preset::Quick, 0), "p");
        assert_eq!(
            experiment_name("p", &[ModelKind::PixelCnnPp], Preset::Paper, 2),
            "p-pixelcnnpp-paper-s2"
        );
    }

    #[test]
    fn the_documented_specs_read_and_plan() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sweeps");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let spec = SweepSpec::read(&path).unwrap();
            plan(&spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
        assert!(count > 0, "no spec in {}", dir.display());
    }
}
