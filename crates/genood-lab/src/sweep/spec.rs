//! The experiment spec: which experiments a sweep runs (pairs × presets × seeds, each with its
//! models), how they are scored, and what each stage's jobs may use on a cluster. It is JSON;
//! every field but `pairs` and `models` has a default. `reproduce` is a spec of one experiment.

use std::collections::BTreeMap;
use std::path::Path;

use genood_data::SetSpec;
use genood_data::error::chain;
use serde::{Deserialize, Serialize};

use crate::error::LabError;
use crate::figures::file_safe;
use crate::pairs::{PairSets, find_pair};
use genood_models::presets::{ModelKind, Preset};

/// The models `reproduce` trains unless told otherwise.
pub const DEFAULT_MODELS: &[ModelKind] = &[ModelKind::Glow, ModelKind::CvGlow];

/// A sweep: every combination of its pairs, presets and seeds is one experiment, which trains,
/// scores, analyses and reports its models together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Built-in pairs by name (`fashion-mnist-mnist`), or any sets as
    /// `{"name", "train", "in", "ood"}`.
    pub pairs: Vec<PairChoice>,
    /// Each experiment's models, in order: glow, cv-glow, pixelcnnpp, vae-categorical,
    /// vae-realnvp.
    pub models: Vec<ModelKind>,
    /// Presets: tiny, quick, paper.
    #[serde(default = "quick")]
    pub presets: Vec<Preset>,
    /// Seeds of the weights, batches, noise and held-out split; the results are aggregated
    /// over them.
    #[serde(default = "seed_zero")]
    pub seeds: Vec<u64>,
    /// The presets' optimiser steps, overridden.
    #[serde(default)]
    pub steps: Option<usize>,
    /// Scores shown in the sweep's table: a row is kept when its name starts with one of
    /// these (`typicality` keeps the single-image and the batch tests); empty: every score.
    #[serde(default)]
    pub scores: Vec<String>,
    /// Parts each evaluated set is split into, each scored by its own job.
    #[serde(default = "one")]
    pub eval_shards: usize,
    /// Images of the training split scored as the reference (0: all).
    #[serde(default = "ten_thousand")]
    pub train_eval_limit: usize,
    /// Images of the test and each OOD set scored (default: all, but 1,000 for PixelCNN++
    /// and the VAEs on the CPU presets, as in `reproduce`).
    #[serde(default)]
    pub eval_limit: Option<usize>,
    /// μ of each experiment's likelihood-ratio background model (0: none).
    #[serde(default = "background_mu")]
    pub background_mu: f64,
    /// Members of each experiment's WAIC ensemble, counting its model (1: none).
    #[serde(default = "two")]
    pub ensemble: usize,
    /// Which models get the background model and the ensemble: `every` one, or only the
    /// `first` (what `reproduce` does).
    #[serde(default)]
    pub companions: Companions,
    /// Importance samples of a VAE's bound (default: 100 for the paper preset, 10 for the
    /// CPU presets).
    #[serde(default)]
    pub iw_samples: Option<usize>,
    /// Images of the test and each OOD set whose likelihood regret is computed (VAEs; 0: all;
    /// default: all for the paper preset, 300 for the CPU presets).
    #[serde(default)]
    pub regret_limit: Option<usize>,
    /// cpu, cuda or wgpu: where the jobs compute.
    #[serde(default = "cpu")]
    pub device: String,
    /// Resources per stage (`fetch`, `train`, `eval`, `merge`, `score`, `analyze`,
    /// `report`, `summary`, `sweep-report`), over those of `default`.
    #[serde(default)]
    pub resources: BTreeMap<String, Resources>,
}

/// Which models of an experiment get companions (background model, ensemble members).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Companions {
    /// Every model.
    #[default]
    Every,
    /// The first model only.
    First,
}

impl Companions {
    /// Whether the model at `index` (from 0) in the experiment's list gets them.
    pub fn apply_to(self, index: usize) -> bool {
        self == Companions::Every || index == 0
    }
}

/// One pair of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PairChoice {
    /// A built-in pair.
    Named(String),
    /// Any sets.
    Custom {
        /// The experiment's name (default: the sets' short names).
        #[serde(default)]
        name: Option<String>,
        /// Training set.
        train: SetSpec,
        /// In-distribution test set (default: the test split of a named training split).
        #[serde(rename = "in", default)]
        in_dist: Option<SetSpec>,
        /// OOD sets.
        ood: Vec<SetSpec>,
    },
}

/// What one job may use: Slurm's `--cpus-per-task`, `--mem`, `--time`, `--gres=gpu:N` and
/// `--partition`. A job computes with as many threads as it has CPUs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPUs, and so worker threads (training is bit-identical for a given count).
    pub cpus: Option<usize>,
    /// Memory, in Slurm's notation (`4G`).
    pub mem: Option<String>,
    /// Time limit, in Slurm's notation (`2:00:00`).
    pub time: Option<String>,
    /// GPUs.
    pub gpus: Option<usize>,
    /// Slurm partition.
    pub partition: Option<String>,
    /// More `sbatch` options, as written (`--account=lab`, `--qos=long`, `--constraint=a100`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbatch: Vec<String>,
    /// Seconds before its time limit that Slurm warns a task (SIGUSR1): a training then
    /// stops at a checkpoint and the task requeues itself to resume there (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<u64>,
}

impl Resources {
    /// These resources, with what they leave unset taken from `base`.
    fn over(&self, base: &Resources) -> Resources {
        Resources {
            cpus: self.cpus.or(base.cpus),
            mem: self.mem.clone().or(base.mem.clone()),
            time: self.time.clone().or(base.time.clone()),
            gpus: self.gpus.or(base.gpus),
            partition: self.partition.clone().or(base.partition.clone()),
            warn: self.warn.or(base.warn),
            sbatch: match self.sbatch.is_empty() {
                true => base.sbatch.clone(),
                false => self.sbatch.clone(),
            },
        }
    }
}

/// Slurm's `--mem`: a whole number, optionally followed by K, M, G or T.
fn is_slurm_memory(text: &str) -> bool {
    let digits = text.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Slurm's `--time`: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, in whole numbers.
fn is_slurm_time(text: &str) -> bool {
    let numbers = |part: &str, most: usize| {
        let fields: Vec<&str> = part.split(':').collect();
        fields.len() <= most
            && fields
                .iter()
                .all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
    };
    match text.split_once('-') {
        Some((days, rest)) => numbers(days, 1) && numbers(rest, 3),
        None => numbers(text, 3),
    }
}

fn quick() -> Vec<Preset> {
    vec![Preset::Quick]
}
/// Each item as text, to find repeats.
fn names<T: ToString>(list: &[T]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}
fn seed_zero() -> Vec<u64> {
    vec![0]
}
fn one() -> usize {
    1
}
fn two() -> usize {
    2
}
fn ten_thousand() -> usize {
    10_000
}
fn background_mu() -> f64 {
    0.2
}
fn cpu() -> String {
    "cpu".into()
}

/// The stages whose resources a spec may set.
pub const STAGES: [&str; 10] = [
    "default",
    "fetch",
    "train",
    "eval",
    "merge",
    "score",
    "analyze",
    "report",
    "summary",
    "sweep-report",
];

impl SweepSpec {
    /// Reads and checks the spec in `path`.
    pub fn read(path: &Path) -> Result<Self, LabError> {
        let text = std::fs::read_to_string(path).map_err(LabError::io(path))?;
        let spec: SweepSpec = serde_json::from_str(&text).map_err(|e| LabError::File {
            path: path.into(),
            reason: format!("sweep spec: {e}"),
        })?;
        spec.check().map_err(|e| LabError::File {
            path: path.into(),
            reason: format!("sweep spec: {e}"),
        })?;
        Ok(spec)
    }

    /// Every list non-empty, every name known, every count at least 1.
    pub fn check(&self) -> Result<(), String> {
        for (what, empty) in [
            ("pairs", self.pairs.is_empty()),
            ("models", self.models.is_empty()),
            ("presets", self.presets.is_empty()),
            ("seeds", self.seeds.is_empty()),
        ] {
            if empty {
                return Err(format!("`{what}` is empty"));
            }
        }
        for (what, names) in [
            ("models", names(&self.models)),
            ("presets", names(&self.presets)),
            ("seeds", names(&self.seeds)),
        ] {
            let repeated = names
                .iter()
                .enumerate()
                .find(|(i, n)| names[..*i].contains(n));
            if let Some((_, twice)) = repeated {
                return Err(format!("`{what}` lists {twice} twice"));
            }
        }
        self.pair_sets()?;
        if self.eval_shards == 0
            || self.ensemble == 0
            || self.steps == Some(0)
            || self.iw_samples == Some(0)
        {
            return Err(
                "`eval_shards`, `ensemble`, `steps` and `iw_samples` must be at least 1".into(),
            );
        }
        if !(self.background_mu.is_finite() && (0.0..1.0).contains(&self.background_mu)) {
            return Err(format!(
                "`background_mu` must be in [0, 1), got {}",
                self.background_mu
            ));
        }
        if let Some(stage) = self
            .resources
            .keys()
            .find(|s| !STAGES.contains(&s.as_str()))
        {
            return Err(format!(
                "`resources` names no stage `{stage}`; choose among {}",
                STAGES.join(", ")
            ));
        }
        if self.resources.values().any(|r| r.cpus == Some(0)) {
            return Err("a stage's `cpus` must be at least 1".into());
        }
        if self.eval_limit == Some(0) {
            return Err(
                "`eval_limit` must be at least 1 (leave it out to score every image)".into(),
            );
        }
        for (stage, r) in &self.resources {
            if let Some(mem) = r.mem.as_deref().filter(|m| !is_slurm_memory(m)) {
                return Err(format!(
                    "`resources.{stage}.mem` is `{mem}`, not a Slurm memory size (a whole number with an optional K, M, G or T: `4G`)"
                ));
            }
            if let Some(time) = r.time.as_deref().filter(|t| !is_slurm_time(t)) {
                return Err(format!(
                    "`resources.{stage}.time` is `{time}`, not a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"
                ));
            }
        }
        Ok(())
    }

    /// The sets of each pair.
    pub fn pair_sets(&self) -> Result<Vec<PairSets>, String> {
        let mut all: Vec<PairSets> = Vec::new();
        for choice in &self.pairs {
            let sets = match choice {
                PairChoice::Named(name) => find_pair(name).map(PairSets::from),
                PairChoice::Custom {
                    name,
                    train,
                    in_dist,
                    ood,
                } => PairSets::custom(train, in_dist.as_ref(), ood).map(|mut sets| {
                    if let Some(name) = name {
                        sets.name = file_safe(name);
                    }
                    sets
                }),
            }
            .map_err(|e| chain(&e))?;
            if all.iter().any(|p| p.name == sets.name) {
                return Err(format!("two pairs are called `{}`", sets.name));
            }
            all.push(sets);
        }
        Ok(all)
    }

    /// The resources of `stage`'s jobs: its own, then `default`'s, then one CPU, 4 GB and
    /// two hours.
    pub fn resources_of(&self, stage: &str) -> Resources {
        let builtin = Resources {
            cpus: Some(1),
            mem: Some("4G".into()),
            time: Some("2:00:00".into()),
            warn: Some(120),
            ..Resources::default()
        };
        let default = self.resources.get("default").cloned().unwrap_or_default();
        let own = self.resources.get(stage).cloned().unwrap_or_default();
        own.over(&default.over(&builtin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_takes_defaults_and_refuses_unknown_names() {
        let spec: SweepSpec = serde_json::from_str(
            r#"{"pairs": ["fashion-mnist-mnist", {"name": "mine", "train": "fashion-mnist:train", "ood": ["mnist:test"]}],
                "models": ["glow"], "resources": {"default": {"cpus": 2, "sbatch": ["--account=lab"]}, "train": {"time": "9:00:00"}}}"#,
        )
        .unwrap();
        spec.check().unwrap();
        assert_eq!(spec.seeds, vec![0]);
        assert_eq!(spec.presets, vec![Preset::Quick]);
        let train = spec.resources_of("train");
        assert_eq!(
            (train.cpus, train.time.as_deref()),
            (Some(2), Some("9:00:00"))
        );
        assert_eq!(spec.resources_of("eval").mem.as_deref(), Some("4G"));
        assert_eq!(train.sbatch, vec!["--account=lab".to_string()]);
        let sets = spec.pair_sets().unwrap();
        assert_eq!(sets[1].test.label(), "fashion-mnist:test");

        for (field, bad) in [("models", r#"["glw"]"#), ("presets", r#"["huge"]"#)] {
            let mut value = serde_json::to_value(&spec).unwrap();
            value[field] = serde_json::from_str(bad).unwrap();
            let err = serde_json::from_value::<SweepSpec>(value).unwrap_err();
            assert!(err.to_string().contains("choose one of"), "{field}: {err}");
        }
        for (field, bad) in [
            ("pairs", r#"["mnist-cifar"]"#),
            ("seeds", "[]"),
            ("seeds", "[0, 1, 0]"),
            ("models", r#"["glow", "glow"]"#),
            ("eval_shards", "0"),
            ("resources", r#"{"evaluate": {}}"#),
        ] {
            let mut value = serde_json::to_value(&spec).unwrap();
            value[field] = serde_json::from_str(bad).unwrap();
            let spec: SweepSpec = serde_json::from_value(value).unwrap();
            assert!(spec.check().is_err(), "{field} = {bad}");
        }
        assert!(
            serde_json::from_str::<SweepSpec>(r#"{"pairs": [], "models": [], "sedes": [1]}"#)
                .is_err()
        );
    }

    #[test]
    fn resources_in_no_slurm_notation_and_an_empty_eval_limit_are_refused() {
        let base = r#"{"pairs": ["fashion-mnist-mnist"], "models": ["glow"], "presets": ["tiny"], "seeds": [0]"#;
        for (extra, named) in [
            (
                r#", "resources": {"train": {"mem": "lots"}}"#,
                "resources.train.mem",
            ),
            (
                r#", "resources": {"eval": {"time": "forever"}}"#,
                "resources.eval.time",
            ),
            (r#", "eval_limit": 0"#, "eval_limit"),
        ] {
            let spec: SweepSpec = serde_json::from_str(&format!("{base}{extra}}}")).unwrap();
            let err = spec.check().unwrap_err();
            assert!(err.contains(named), "{extra}: {err}");
        }
        for (mem, time) in [
            ("4G", "2:00:00"),
            ("500", "30"),
            ("16G", "1-12"),
            ("8G", "2-00:30:00"),
        ] {
            let extra =
                format!(r#", "resources": {{"train": {{"mem": "{mem}", "time": "{time}"}}}}"#);
            let spec: SweepSpec = serde_json::from_str(&format!("{base}{extra}}}")).unwrap();
            assert!(spec.check().is_ok(), "{mem} {time}");
        }
    }
}
