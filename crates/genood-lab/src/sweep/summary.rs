//! One experiment's `results.json` and `summary.md`: each model's bits per dimension, OOD
//! scores, budget and timings, gathered from its run folders and its jobs' marks once every
//! other job of the experiment has finished.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use genood_data::SetSpec;
use genood_data::atomic::write_atomically;
use genood_models::presets::{ModelKind, Preset};
use genood_ood::report::render_markdown;
use genood_train::eval::SetSummary;
use genood_train::run::RunDir;
use serde::Serialize;
use serde_json::Value;

use crate::analysis_view::{self, read_analysis};
use crate::error::LabError;
use crate::pairs::{PairSets, Reported};
use crate::sweep::budget::Budget;
use crate::sweep::layout::finished;
use crate::sweep::plan::{Experiment, ModelPlan, Plan, Stage};
use crate::sweep::spec::SweepSpec;

/// One model's results.
#[derive(Debug, Serialize)]
struct ModelResult {
    model: ModelKind,
    run: PathBuf,
    /// What was scored.
    budget: Budget,
    steps: usize,
    /// Seconds of its train job (about 0 when the run had finished before).
    train_seconds: f64,
    train_images_per_sec: f64,
    /// Seconds of its eval, merge and score jobs.
    eval_seconds: f64,
    /// The training split, the test split and each OOD set.
    sets: Vec<SetSummary>,
    /// For each OOD set: is its mean bpd lower (its likelihood higher) than the test split's?
    ood_more_likely_than_test: Vec<(String, bool)>,
    /// The background model and other ensemble members trained for this model, with their
    /// training seconds.
    extra_runs: Vec<(PathBuf, f64)>,
    /// The likelihood-ratio background model's run, if one was trained.
    background: Option<PathBuf>,
    /// The other ensemble members' runs.
    ensemble: Vec<PathBuf>,
    /// OOD detection by every score, with intervals (`ood-scores.json` of its run).
    ood_scores: Value,
}

/// Everything `results.json` holds.
#[derive(Debug, Serialize)]
struct Results {
    pair: PairSets,
    preset: Preset,
    seed: u64,
    device: String,
    reported_glow_bpd: Option<Reported>,
    /// The HTML report.
    report: PathBuf,
    /// `genood analyze`'s folder: analysis.json, analysis.html and the figures.
    analysis: PathBuf,
    models: Vec<ModelResult>,
    /// Seconds of the experiment's jobs, added up (the fetch left out).
    total_seconds: f64,
}

/// `run`'s summaries of `sets`, in that order; an error names a set it has not scored.
pub(crate) fn scored_sets<'a>(
    run: &Path,
    sets: impl IntoIterator<Item = &'a SetSpec>,
) -> Result<Vec<SetSummary>, LabError> {
    let dir = RunDir::new(run);
    let all: BTreeMap<String, SetSummary> = dir.read_json(&dir.summary())?;
    sets.into_iter()
        .map(|set| {
            let label = set.label();
            all.get(&label)
                .cloned()
                .ok_or_else(|| LabError::set(set, format!("{} has not scored it", run.display())))
        })
        .collect()
}

/// A sweep folder as a summary reads it: the folders its plan names, its jobs' marks.
struct Folder<'a> {
    dir: &'a Path,
}

impl Folder<'_> {
    /// A folder the plan names.
    fn path(&self, planned: &Path) -> PathBuf {
        self.dir.join(planned)
    }

    /// Seconds job `id` took (0 if it has no mark).
    fn seconds(&self, id: &str) -> f64 {
        finished(self.dir, id).map_or(0.0, |f| f.seconds)
    }
}

/// Writes `results.json` and `summary.md` of `experiment` (job `id` of `plan`, planned from
/// `spec` in the sweep folder `dir`) into its folder; returns the summary's path.
pub fn write_summary(
    dir: &Path,
    spec: &SweepSpec,
    plan: &Plan,
    id: &str,
    experiment: &Experiment,
) -> Result<PathBuf, LabError> {
    let sweep = &Folder { dir };
    let pair = spec
        .pair_sets()
        .map_err(|reason| LabError::Sweep { reason })?
        .into_iter()
        .find(|p| p.name == experiment.pair)
        .ok_or_else(|| LabError::Sweep {
            reason: format!("the spec has no pair `{}`", experiment.pair),
        })?;
    let total_seconds = plan
        .prerequisites(id)
        .iter()
        .filter(|job| plan.job(job).is_some_and(|j| j.stage != Stage::Fetch))
        .map(|job| sweep.seconds(job))
        .sum();
    let models = experiment
        .models
        .iter()
        .map(|m| model_result(sweep, experiment, m))
        .collect::<Result<Vec<_>, _>>()?;
    let folder = sweep.path(Path::new(&experiment.name));
    let results = Results {
        reported_glow_bpd: pair.reported,
        pair,
        preset: experiment.preset,
        seed: experiment.seed,
        device: spec.device.clone(),
        report: sweep.path(&experiment.report).join("report.html"),
        analysis: sweep.path(&experiment.analysis),
        models,
        total_seconds,
    };
    let json = folder.join("results.json");
    let text = serde_json::to_string_pretty(&results).expect("results serialise");
    write_atomically(&json, text.as_bytes()).map_err(LabError::io(&json))?;
    let analysis = read_analysis(&results.analysis.join("analysis.json"))?;
    let figures = analysis_view::figures(&analysis);
    let why = render_markdown(&analysis_view::blocks(&analysis, &figures, None));
    let summary = format!(
        "{}{why}\nFigures (SVG and PNG): {}.\n",
        render_summary(sweep, experiment, &results)?,
        results.analysis.display()
    );
    let markdown = folder.join("summary.md");
    write_atomically(&markdown, summary.as_bytes()).map_err(LabError::io(&markdown))?;
    Ok(markdown)
}

fn model_result(
    sweep: &Folder,
    experiment: &Experiment,
    m: &ModelPlan,
) -> Result<ModelResult, LabError> {
    let run = sweep.path(&m.run);
    let compared = &experiment.sets;
    let sets = scored_sets(
        &run,
        [&compared.reference, &compared.test]
            .into_iter()
            .chain(&compared.ood),
    )?;
    let trained = finished(sweep.dir, &m.train);
    let companions = m.background.iter().chain(&m.ensemble);
    let path = run.join("ood-scores.json");
    let text = std::fs::read_to_string(&path).map_err(LabError::io(&path))?;
    let ood_scores = serde_json::from_str(&text).map_err(|e| LabError::File {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(ModelResult {
        model: m.model,
        budget: m.budget,
        steps: m.steps,
        train_seconds: trained.as_ref().map_or(0.0, |f| f.seconds),
        train_images_per_sec: trained.and_then(|f| f.images_per_sec).unwrap_or(0.0),
        eval_seconds: m
            .evaluation
            .iter()
            .chain(std::iter::once(&m.score))
            .map(|job| sweep.seconds(job))
            .sum(),
        ood_more_likely_than_test: sets[2..]
            .iter()
            .map(|s| (s.set.clone(), s.mean_bpd < sets[1].mean_bpd))
            .collect(),
        sets,
        extra_runs: companions
            .map(|c| (sweep.path(&c.run), sweep.seconds(&c.train)))
            .collect(),
        background: m.background.as_ref().map(|c| sweep.path(&c.run)),
        ensemble: m.ensemble.iter().map(|c| sweep.path(&c.run)).collect(),
        ood_scores,
        run,
    })
}

fn render_summary(
    sweep: &Folder,
    experiment: &Experiment,
    results: &Results,
) -> Result<String, LabError> {
    let pair = &results.pair;
    let mut md = format!(
        "# genood reproduce: {} (preset `{}`, seed {}, device `{}`)\n\nMean bits per dimension (lower = more likely). {}\n\n",
        pair.name,
        results.preset,
        results.seed,
        results.device,
        match pair.reported {
            Some(r) if !r.verified => {
                "`reported` is the paper's Glow figure (recalled, unverified); genood's figures are measured."
            }
            Some(_) => "`reported` is the paper's Glow figure; genood's figures are measured.",
            None => "The paper has no figures for these sets.",
        }
    );
    md.push_str(if pair.reported.is_some() {
        "| model | set | images | measured bpd | log p is | reported bpd (Glow) |\n|---|---|---:|---:|---|---:|\n"
    } else {
        "| model | set | images | measured bpd | log p is |\n|---|---|---:|---:|---|\n"
    });
    for m in &results.models {
        for (i, s) in m.sets.iter().enumerate() {
            let reported = pair.reported.map(|r| match i {
                0 => r.train,
                1 => r.test,
                _ => r.ood,
            });
            let reported = match pair.reported {
                Some(_) => format!(
                    " {} |",
                    reported
                        .filter(|_| i < 3 && m.model == ModelKind::Glow)
                        .map_or("–".into(), |v| format!("{v:.3}"))
                ),
                None => String::new(),
            };
            md.push_str(&format!(
                "| {} | {} | {} | {:.3} | {} |{reported}\n",
                m.model, s.set, s.count, s.mean_bpd, s.bound
            ));
        }
    }
    md.push('\n');
    for m in &results.models {
        for (set, more_likely) in &m.ood_more_likely_than_test {
            let verdict = if *more_likely {
                "**higher** likelihood than"
            } else {
                "lower likelihood than"
            };
            let paper = match pair.reported {
                Some(_) => " (the paper's finding is \"higher\")",
                None => "",
            };
            md.push_str(&format!(
                "- {}: {set} gets {verdict} {}{paper}.\n",
                m.model, pair.test
            ));
        }
        md.push_str(&format!(
            "- {}: {} steps, {:.0} s training ({:.0} img/s), {:.0} s evaluation.\n",
            m.model, m.steps, m.train_seconds, m.train_images_per_sec, m.eval_seconds
        ));
        for (dir, seconds) in &m.extra_runs {
            md.push_str(&format!(
                "- {}: also trained {} ({seconds:.0} s).\n",
                m.model,
                dir.display()
            ));
        }
    }
    for m in &experiment.models {
        let path = sweep.path(&m.run).join("ood-scores.md");
        let table = std::fs::read_to_string(&path).map_err(LabError::io(&path))?;
        md.push_str(&format!(
            "\n## OOD detection with {} (OOD = positive; higher score = more OOD)\n\n{table}",
            m.model
        ));
    }
    md.push_str(&format!(
        "\nReport with every figure: {}. Jobs: {:.0} s.\n",
        results.report.display(),
        results.total_seconds
    ));
    Ok(md)
}
