//! A sweep's jobs and their dependencies, derived from the spec alone: fetch, train (each
//! experiment's model, its likelihood-ratio background and its ensemble's other members),
//! evaluate each set in shards, merge, score, analyse, report, and the sweep's table.
//!
//! A job's id ends with a hash of what it does and of its dependencies' ids, so it names its
//! inputs all the way back to the spec: a changed setting gives new ids to the jobs it
//! reaches and leaves every other job, finished or not, as it was.

use std::collections::BTreeSet;

use genood_data::SetSpec;
use genood_data::checksum::sha256_hex;
use genood_models::ModelConfig;
use genood_models::presets::{ModelKind, Preset};
use genood_train::run::RunConfig;
use serde::{Deserialize, Serialize};

use crate::error::LabError;
use crate::figures::file_safe;
use crate::pairs::PairSets;
use crate::reproduce::{Budget, ReproduceOptions, datasets_of};
use crate::sweep::spec::SweepSpec;
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
    /// The OOD scores of one experiment.
    Score,
    /// `analyze` of one experiment.
    Analyze,
    /// The HTML report of one experiment.
    Report,
    /// The sweep's table over every experiment.
    SweepReport,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 8] = [
        Stage::Fetch,
        Stage::Train,
        Stage::Eval,
        Stage::Merge,
        Stage::Score,
        Stage::Analyze,
        Stage::Report,
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
            Stage::SweepReport => "sweep-report",
        }
    }
}

/// The sets an experiment compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compared {
    /// The training split, the scores' reference.
    pub reference: String,
    /// The in-distribution test set.
    pub test: String,
    /// The OOD sets.
    pub ood: Vec<String>,
}

/// Sets a merge joins, scored with one limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetGroup {
    /// The sets.
    pub sets: Vec<String>,
    /// Images scored per set (a seeded subset; `None`: all).
    pub limit: Option<usize>,
}

/// What a job does. Other jobs are named by id; a train job's model lives in its folder.
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
    },
    /// Score part `shard` (from 0) of `shards` of `set` with `run`'s model.
    Eval {
        /// The train job.
        run: String,
        /// The set.
        set: String,
        /// Images scored (a seeded subset; `None`: all).
        limit: Option<usize>,
        /// Importance samples of a VAE's bound.
        iw_samples: usize,
        /// Which part, from 0.
        shard: usize,
        /// How many parts.
        shards: usize,
    },
    /// Join `run`'s parts of each group into its scores.
    Merge {
        /// The train job.
        run: String,
        /// The sets, grouped by their limit.
        groups: Vec<SetGroup>,
        /// Importance samples of a VAE's bound.
        iw_samples: usize,
        /// Parts per set.
        shards: usize,
    },
    /// Every OOD score of `run` on `sets` (and, for a VAE, its likelihood regret first).
    Score {
        /// The train job of the experiment's model.
        run: String,
        /// The sets.
        sets: Compared,
        /// The background model's train job.
        background: Option<String>,
        /// The ensemble's other members' train jobs.
        ensemble: Vec<String>,
        /// Images per set whose likelihood regret is computed (VAEs; `None`: all).
        regret_limit: Option<usize>,
        /// Whether the model is a VAE (likelihood regret applies).
        vae: bool,
    },
    /// `analyze` of `run` on `sets`.
    Analyze {
        /// The train job.
        run: String,
        /// The sets.
        sets: Compared,
        /// Images per set at each graying level.
        gray_limit: usize,
        /// Images per set scored when the run has no scores for it.
        eval_limit: usize,
        /// Importance samples of a VAE's bound.
        iw_samples: usize,
    },
    /// The report of `run` on `sets`, with the analysis of job `analysis`.
    Report {
        /// The train job.
        run: String,
        /// The sets.
        sets: Compared,
        /// The background model's train job.
        background: Option<String>,
        /// The ensemble's other members' train jobs.
        ensemble: Vec<String>,
        /// The analyze job.
        analysis: String,
        /// Images drawn for the page.
        samples: usize,
    },
    /// The table over `experiments`.
    SweepReport {
        /// Every experiment.
        experiments: Vec<Experiment>,
        /// Score-name prefixes kept in the table (empty: all).
        scores: Vec<String>,
    },
}

/// One experiment of a sweep and the jobs whose outputs its row of the table reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Pair name.
    pub pair: String,
    /// Model.
    pub model: ModelKind,
    /// Preset.
    pub preset: Preset,
    /// Seed.
    pub seed: u64,
    /// The sets.
    pub sets: Compared,
    /// The train job of its model.
    pub train: String,
    /// Its score job.
    pub score: String,
    /// Its report job.
    pub report: String,
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
    let fetch = (!datasets.is_empty())
        .then(|| builder.add(Stage::Fetch, "data", Work::Fetch { datasets }, Vec::new()));
    let mut experiments = Vec::new();
    for pair in &pairs {
        for &model in &spec.models {
            for &preset in &spec.presets {
                for &seed in &spec.seeds {
                    experiments.push(builder.experiment(spec, pair, model, preset, seed, &fetch)?);
                }
            }
        }
    }
    let deps = experiments
        .iter()
        .flat_map(|e: &Experiment| [e.score.clone(), e.report.clone()])
        .collect();
    builder.add(
        Stage::SweepReport,
        "table",
        Work::SweepReport {
            experiments,
            scores: spec.scores.clone(),
        },
        deps,
    );
    Ok(Plan { jobs: builder.jobs })
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

    /// The jobs of one experiment; returns it.
    fn experiment(
        &mut self,
        spec: &SweepSpec,
        pair: &PairSets,
        model: ModelKind,
        preset: Preset,
        seed: u64,
        fetch: &Option<String>,
    ) -> Result<Experiment, LabError> {
        let name = format!("{}-{model}-{preset}-s{seed}", pair.name);
        let threads = spec.resources_of(Stage::Train.name()).cpus.unwrap_or(1);
        let mut config = run_config(&TrainOptions {
            preset,
            model,
            data: pair.train.clone(),
            steps: spec.steps,
            seed: Some(seed),
            threads,
            ..TrainOptions::default()
        })?;
        let budget = Budget::of(
            &ReproduceOptions {
                preset,
                train_eval_limit: spec.train_eval_limit,
                eval_limit: spec.eval_limit,
                ..ReproduceOptions::default()
            },
            &config.model,
        );
        let sets = Compared {
            reference: pair.train.clone(),
            test: pair.test.clone(),
            ood: pair.ood.clone(),
        };
        let held_out: Vec<String> = std::iter::once(sets.test.clone())
            .chain(sets.ood.iter().cloned())
            .collect();
        // Companions share the model's config but for their own field, and are scored on the
        // test and OOD sets only.
        let mut companion = config.clone();
        companion.monitor.clear();
        // The likelihood of the OOD sets over training, for `analyze`'s dynamics figure.
        config.monitor = pair.ood.clone();
        let vae = matches!(config.model, ModelConfig::Vae(_));
        let fetched: Vec<String> = fetch.iter().cloned().collect();
        let main = self.add(Stage::Train, &name, Work::Train { config }, fetched.clone());
        let mut merged = vec![self.evaluated(
            &main,
            &name,
            &[
                SetGroup {
                    sets: vec![sets.reference.clone()],
                    limit: budget.train_limit,
                },
                SetGroup {
                    sets: held_out.clone(),
                    limit: budget.held_out_limit,
                },
            ],
            budget.iw_samples,
            spec.eval_shards,
        )];
        let held_out_group = [SetGroup {
            sets: held_out,
            limit: budget.held_out_limit,
        }];
        let mut background = None;
        if spec.background_mu > 0.0 {
            let mut config = companion.clone();
            config.train.background_noise = Some(spec.background_mu);
            let (run, merge) = self.companion(
                config,
                &format!("{name}-background"),
                &held_out_group,
                (budget.iw_samples, spec.eval_shards),
                &fetched,
            );
            merged.push(merge);
            background = Some(run);
        }
        let mut ensemble = Vec::new();
        for member in 1..spec.ensemble as u64 {
            let mut config = companion.clone();
            // Member k of seed s trains with seed 1000·s + k: seed 0's members are
            // `reproduce`'s.
            config.train.seed = seed * 1000 + member;
            let (run, merge) = self.companion(
                config,
                &format!("{name}-member{member}"),
                &held_out_group,
                (budget.iw_samples, spec.eval_shards),
                &fetched,
            );
            merged.push(merge);
            ensemble.push(run);
        }
        let score = self.add(
            Stage::Score,
            &name,
            Work::Score {
                run: main.clone(),
                sets: sets.clone(),
                background: background.clone(),
                ensemble: ensemble.clone(),
                regret_limit: budget.regret_limit,
                vae,
            },
            merged.clone(),
        );
        let analysis = self.add(
            Stage::Analyze,
            &name,
            Work::Analyze {
                run: main.clone(),
                sets: sets.clone(),
                gray_limit: budget.gray_limit,
                eval_limit: spec.train_eval_limit,
                iw_samples: budget.iw_samples,
            },
            vec![merged[0].clone()],
        );
        let report = self.add(
            Stage::Report,
            &name,
            Work::Report {
                run: main.clone(),
                sets: sets.clone(),
                background,
                ensemble,
                analysis: analysis.clone(),
                samples: budget.samples,
            },
            vec![score.clone(), analysis],
        );
        Ok(Experiment {
            pair: pair.name.clone(),
            model,
            preset,
            seed,
            sets,
            train: main,
            score,
            report,
        })
    }

    /// The eval jobs of every set of `groups` in `shards` parts with `run`'s model, and the
    /// merge job after them; returns the merge job.
    /// A companion model (background or ensemble member): its training, and the merge of
    /// its evaluation of `groups` with (importance samples, shards); returns both ids.
    fn companion(
        &mut self,
        config: RunConfig,
        what: &str,
        groups: &[SetGroup],
        (iw_samples, shards): (usize, usize),
        fetched: &[String],
    ) -> (String, String) {
        let run = self.add(Stage::Train, what, Work::Train { config }, fetched.to_vec());
        let merge = self.evaluated(&run, what, groups, iw_samples, shards);
        (run, merge)
    }

    fn evaluated(
        &mut self,
        run: &str,
        what: &str,
        groups: &[SetGroup],
        iw_samples: usize,
        shards: usize,
    ) -> String {
        let mut parts = Vec::new();
        for group in groups {
            for set in &group.sets {
                let short = SetSpec::parse(set).map_or(set.clone(), |s| s.display_name());
                for shard in 0..shards {
                    parts.push(self.add(
                        Stage::Eval,
                        &format!("{what}-{short}-{}of{shards}", shard + 1),
                        Work::Eval {
                            run: run.into(),
                            set: set.clone(),
                            limit: group.limit,
                            iw_samples,
                            shard,
                            shards,
                        },
                        vec![run.into()],
                    ));
                }
            }
        }
        self.add(
            Stage::Merge,
            what,
            Work::Merge {
                run: run.into(),
                groups: groups.to_vec(),
                iw_samples,
                shards,
            },
            parts,
        )
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
        for stage in [Stage::Score, Stage::Analyze, Stage::Report] {
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
