//! The paper's experiment for one pair, from raw data to a report (`genood reproduce`):
//! fetch, train each model (and the first one's likelihood-ratio background and WAIC
//! ensemble), evaluate, score, analyse, report, and write `results.json` and `summary.md`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use genood_data::SetSpec;
use genood_data::atomic::write_atomically;
use genood_data::fetch::FetchOptions;
use genood_models::ModelConfig;
use genood_models::Named;
use genood_models::presets::{ModelKind, Preset};
use genood_ood::report::render_markdown;
use genood_train::eval::SetSummary;
use genood_train::run::RunConfig;
use serde::Serialize;

use crate::analysis::{AnalysisOptions, GRAY_LIMIT, analyze};
use crate::analysis_view::{self, write_analysis};
use crate::context::Context;
use crate::error::LabError;
use crate::evaluation::{EvalOptions, IW_SAMPLES, evaluate_sets, summary_table};
use crate::pairs::{PairSets, Reported, find_pair};
use crate::progress::Progress;
use crate::regret::{self, RegretOptions, regret_sets};
use crate::report::{ReportOptions, SAMPLES, write_report};
use crate::score::{Bootstrap, Comparison, ScoreRow, markdown, score_rows};
use crate::sets::fetch_sets;
use crate::training::{TrainOptions, ensure_trained, run_config};

/// The models `reproduce` trains unless told otherwise.
pub const DEFAULT_MODELS: &[ModelKind] = &[ModelKind::Glow, ModelKind::CvGlow];
/// Importance samples of VAE bounds on the CPU presets.
const CPU_IW_SAMPLES: usize = 10;
/// Images per set scored by PixelCNN++ and the VAEs on the CPU presets.
const CPU_EVAL_LIMIT: usize = 1000;
/// Images per set whose likelihood regret is computed on the CPU presets.
const CPU_REGRET_LIMIT: usize = 300;
/// Images per set at each graying level for PixelCNN++ and the VAEs on the CPU presets.
const CPU_GRAY_LIMIT: usize = 100;
/// Report samples of PixelCNN++ on the CPU presets (one network pass per pixel: 36 take
/// about 3 minutes with the quick model).
const CPU_AUTOREGRESSIVE_SAMPLES: usize = 12;

/// What [`reproduce`] runs and where it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReproduceOptions {
    /// The experiment: a pair of [`crate::pairs::PAIRS`], unless `train` is given.
    pub pair: String,
    /// Any training set instead of a built-in pair (with `ood`, and `in_dist` unless the set
    /// is a named split with a test split).
    pub train: Option<String>,
    /// The in-distribution test set of a `train` experiment.
    pub in_dist: Option<String>,
    /// The OOD sets of a `train` experiment.
    pub ood: Vec<String>,
    /// Size and schedule: tiny, quick (CPU minutes) or paper (GPU hours).
    pub preset: Preset,
    /// Models to train, in order; the first also gets the likelihood-ratio background and the
    /// WAIC ensemble.
    pub models: Vec<ModelKind>,
    /// Output folder: `<pair>/` (`<pair>-<models>/` for other models than the default) with
    /// one run folder per model, results.json, summary.md, the report and the analysis.
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

/// How much of each set a reproduction scores for one model. Flows are cheap to score;
/// PixelCNN++ and a VAE's k-sample bound cost 10–100× more per image on a CPU, so on the CPU
/// presets their sets are seeded subsets (the bootstrap interval of an AUROC on 1,000 against
/// 1,000 images is about ±0.02).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Budget {
    /// Images of the training split scored (typicality's and DoSE's reference).
    pub(crate) train_limit: Option<usize>,
    /// Images of the test and each OOD set scored.
    pub(crate) held_out_limit: Option<usize>,
    /// Importance samples of a VAE's bound.
    pub(crate) iw_samples: usize,
    /// Images of the test and each OOD set whose likelihood regret is computed (VAEs).
    pub(crate) regret_limit: Option<usize>,
    /// Images per set at each graying level.
    pub(crate) gray_limit: usize,
    /// Images drawn for the report.
    pub(crate) samples: usize,
}

impl Budget {
    pub(crate) fn of(args: &ReproduceOptions, model: &ModelConfig) -> Self {
        let paper = args.preset == Preset::Paper;
        let costly = !paper && !matches!(model, ModelConfig::Glow(_));
        let cap = |limit: Option<usize>| match (limit, costly) {
            (Some(n), true) => Some(n.min(CPU_EVAL_LIMIT)),
            (None, true) => Some(CPU_EVAL_LIMIT),
            (limit, false) => limit,
        };
        Self {
            train_limit: cap((args.train_eval_limit > 0).then_some(args.train_eval_limit)),
            held_out_limit: args.eval_limit.or(cap(None)),
            iw_samples: args
                .iw_samples
                .unwrap_or(if paper { IW_SAMPLES } else { CPU_IW_SAMPLES }),
            regret_limit: args
                .regret_limit
                .or((!paper).then_some(CPU_REGRET_LIMIT))
                .filter(|n| *n > 0),
            gray_limit: if costly { CPU_GRAY_LIMIT } else { GRAY_LIMIT },
            samples: if costly && matches!(model, ModelConfig::PixelCnn(_)) {
                CPU_AUTOREGRESSIVE_SAMPLES
            } else {
                SAMPLES
            },
        }
    }
}

/// One model's results.
#[derive(Debug, Serialize)]
struct ModelResult {
    model: ModelKind,
    run: PathBuf,
    /// What was scored.
    budget: Budget,
    steps: usize,
    train_seconds: f64,
    train_images_per_sec: f64,
    eval_seconds: f64,
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
    /// OOD detection by every score, with intervals.
    ood_scores: Vec<ScoreRow>,
}

/// Everything `results.json` holds.
#[derive(Debug, Serialize)]
struct Results {
    pair: PairSets,
    preset: Preset,
    device: String,
    reported_glow_bpd: Option<Reported>,
    /// The HTML report.
    report: PathBuf,
    /// `genood analyze`'s folder: analysis.json, analysis.html and the figures.
    analysis: PathBuf,
    models: Vec<ModelResult>,
    total_seconds: f64,
}

/// The pair's test split against its OOD sets, with the training split as reference.
fn comparison(pair: &PairSets, background: Option<PathBuf>, ensemble: Vec<PathBuf>) -> Comparison {
    Comparison {
        in_dist: pair.test.clone(),
        ood: pair.ood.clone(),
        reference: pair.train.clone(),
        background,
        ensemble,
    }
}

/// The data sets `fetch` downloads for `pair`'s named splits.
pub(crate) fn datasets_of(pair: &PairSets) -> Result<Vec<String>, LabError> {
    let mut names = Vec::new();
    for spec in [&pair.train, &pair.test].into_iter().chain(&pair.ood) {
        if let SetSpec::Real { dataset, .. } = SetSpec::parse(spec)? {
            let name = dataset.name().to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// `<pair>` for the default models, else `<pair>-<model>-…`, so one experiment's report and
/// results never overwrite another's.
fn experiment_folder(pair: &str, models: &[ModelKind]) -> String {
    if models == DEFAULT_MODELS {
        pair.into()
    } else {
        format!("{pair}-{}", names(models).join("-"))
    }
}

/// The models' names, in order.
fn names(models: &[ModelKind]) -> Vec<&'static str> {
    models.iter().map(|m| m.name()).collect()
}

/// Runs the whole experiment on `device` and writes `results.json` and `summary.md`.
pub fn reproduce(
    args: &ReproduceOptions,
    context: &Context,
    progress: &mut dyn Progress,
) -> Result<Reproduced, LabError> {
    let started = Instant::now();
    let pair = match &args.train {
        Some(train) => PairSets::custom(train, args.in_dist.as_deref(), &args.ood)?,
        None => find_pair(&args.pair)?.into(),
    };
    let out = args.out.join(experiment_folder(&pair.name, &args.models));
    let mut experiment = Experiment {
        args,
        context,
        progress,
        stage: 0,
        stages: 3 + 2 * args.models.len(),
    };
    experiment.progress.note(&plan(&pair, args, &out));
    experiment.stage("fetch the data");
    let fetch = FetchOptions {
        mirror: args.mirror.clone(),
        offline: false,
    };
    fetch_sets(
        &datasets_of(&pair)?,
        &context.data.dir,
        &fetch,
        experiment.progress,
    )?;
    let mut models = Vec::new();
    for &model in &args.models {
        models.push(experiment.run_model(&pair, model, &out)?);
    }
    experiment.stage("analyse why the likelihood fails");
    let analysis_dir = out.join("analysis");
    let options = AnalysisOptions {
        reference: Some(pair.train.clone()),
        gray_limit: models
            .iter()
            .map(|m| m.budget.gray_limit)
            .min()
            .unwrap_or(GRAY_LIMIT),
        eval_limit: args.train_eval_limit,
        iw_samples: models
            .iter()
            .map(|m| m.budget.iw_samples)
            .max()
            .unwrap_or(IW_SAMPLES),
        threads: args.threads,
        ..AnalysisOptions::default()
    };
    let runs: Vec<PathBuf> = models.iter().map(|m| m.run.clone()).collect();
    let analyzed = analyze(
        &runs,
        &pair.test,
        &pair.ood,
        &options,
        context,
        experiment.progress,
    )?;
    let (json, html) = write_analysis(&analysis_dir, &analyzed)?;
    experiment.progress.note(&format!(
        "wrote {}, {} and the figures",
        json.display(),
        html.display()
    ));
    let analysis = analyzed.analysis;
    experiment.stage("write the report");
    let report = write_report(
        &runs,
        &comparison(
            &pair,
            models[0].background.clone(),
            models[0].ensemble.clone(),
        ),
        &ReportOptions {
            out: out.join("report"),
            analysis: Some(analysis_dir.join("analysis.json")),
            samples: models
                .iter()
                .map(|m| m.budget.samples)
                .min()
                .unwrap_or(SAMPLES),
        },
        &context.data,
        experiment.progress,
    )?;
    experiment
        .progress
        .note(&format!("wrote {}", report.display()));
    let results = Results {
        reported_glow_bpd: pair.reported,
        pair,
        preset: args.preset,
        device: args.device_name.clone(),
        report,
        analysis: analysis_dir,
        models,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    let json = out.join("results.json");
    let text = serde_json::to_string_pretty(&results).expect("results serialise");
    write_atomically(&json, text.as_bytes()).map_err(LabError::io(&json))?;
    let markdown = out.join("summary.md");
    let figures = analysis_view::figures(&analysis);
    let why = render_markdown(&analysis_view::blocks(&analysis, &figures, None));
    let summary = format!(
        "{}{why}\nFigures (SVG and PNG): {}.\n",
        render_summary(&results),
        results.analysis.display()
    );
    write_atomically(&markdown, summary.as_bytes()).map_err(LabError::io(&markdown))?;
    Ok(Reproduced {
        results: json,
        summary: markdown,
        summary_text: summary,
        seconds: results.total_seconds,
    })
}

/// What a reproduction will do, before it starts.
fn plan(pair: &PairSets, args: &ReproduceOptions, out: &Path) -> String {
    let mut companions = Vec::new();
    if args.background_mu > 0.0 {
        companions.push(format!(
            "a likelihood-ratio background model (μ = {})",
            args.background_mu
        ));
    }
    if args.ensemble > 1 {
        let more = args.ensemble - 1;
        companions.push(format!(
            "{more} more seed{} for WAIC",
            if more == 1 { "" } else { "s" }
        ));
    }
    let first = match companions.is_empty() {
        true => String::new(),
        false => format!(
            " ({} also trains {})",
            args.models[0],
            companions.join(" and ")
        ),
    };
    format!(
        "plan: {} stages into {}: fetch; train, evaluate and score {} (preset {}){first}; analyse; report\nsets: train on {}, in-distribution {}, OOD {}",
        3 + 2 * args.models.len(),
        out.display(),
        names(&args.models).join(", "),
        args.preset,
        pair.train,
        pair.test,
        pair.ood.join(", ")
    )
}

/// One reproduction's settings, device and progress, shared by its steps.
struct Experiment<'a> {
    args: &'a ReproduceOptions,
    context: &'a Context,
    progress: &'a mut dyn Progress,
    /// Stages begun, of `stages`.
    stage: usize,
    stages: usize,
}

impl Experiment<'_> {
    /// Announces the next stage: "stage i of n: what".
    fn stage(&mut self, what: &str) {
        self.stage += 1;
        self.progress
            .note(&format!("stage {} of {}: {what}", self.stage, self.stages));
    }

    /// Trains `config` into `run_dir` unless a finished run of the same config is there;
    /// returns (seconds, images per second) of training, zeros when skipped.
    fn ensure_trained(
        &mut self,
        config: &RunConfig,
        run_dir: &Path,
    ) -> Result<(f64, f64), LabError> {
        ensure_trained(config, run_dir, self.context, self.progress)
    }

    /// Scores `sets` with the model in `run_dir` (at most `limit` images each, seed 0).
    fn evaluate(
        &mut self,
        budget: &Budget,
        run_dir: &Path,
        sets: &[String],
        limit: Option<usize>,
    ) -> Result<Vec<SetSummary>, LabError> {
        let options = EvalOptions {
            limit,
            batch_size: 500,
            iw_samples: budget.iw_samples,
            seed: 0,
            threads: self.args.threads,
            shard: None,
        };
        let summaries = evaluate_sets(run_dir, sets, self.context, &options, self.progress)?;
        self.progress.note(&summary_table(&summaries));
        Ok(summaries)
    }

    /// Trains, evaluates and scores `model` (with its companions when it is the first).
    fn run_model(
        &mut self,
        pair: &PairSets,
        model: ModelKind,
        out: &Path,
    ) -> Result<ModelResult, LabError> {
        let run_dir = out.join(model.name());
        let args = self.args;
        self.stage(&format!("train {model}"));
        let mut config = run_config(&TrainOptions {
            preset: args.preset,
            model,
            data: pair.train.clone(),
            steps: args.steps,
            threads: args.threads,
            ..TrainOptions::default()
        })?;
        // The likelihood of the OOD sets over training, for `analyze`'s dynamics figure.
        config.monitor = pair.ood.clone();
        let (train_seconds, train_images_per_sec) = self.ensure_trained(&config, &run_dir)?;
        let companions = model == args.models[0] && (args.background_mu > 0.0 || args.ensemble > 1);
        self.stage(&if companions {
            format!("evaluate {model}, train and evaluate its companions, score")
        } else {
            format!("evaluate and score {model}")
        });
        let eval_started = Instant::now();
        let budget = Budget::of(args, &config.model);
        let mut sets = self.evaluate(
            &budget,
            &run_dir,
            std::slice::from_ref(&pair.train),
            budget.train_limit,
        )?;
        let mut held_out: Vec<String> = vec![pair.test.clone()];
        held_out.extend(pair.ood.iter().cloned());
        sets.extend(self.evaluate(&budget, &run_dir, &held_out, budget.held_out_limit)?);
        if matches!(config.model, ModelConfig::Vae(_)) {
            let options = RegretOptions {
                limit: budget.regret_limit,
                batch_size: 250,
                seed: 0,
                threads: args.threads,
            };
            regret_sets(
                &run_dir,
                &held_out,
                self.context,
                regret::DEFAULT_REFIT,
                &options,
                self.progress,
            )?;
        }
        let eval_seconds = eval_started.elapsed().as_secs_f64();

        // The likelihood-ratio background and the ensemble's other members share the model's
        // config but for their own field; they are scored on the test and OOD sets only.
        let mut extra = Vec::new();
        let mut background = None;
        let mut ensemble = Vec::new();
        if model == args.models[0] {
            if args.background_mu > 0.0 {
                let mut config = config.clone();
                config.monitor.clear();
                config.train.background_noise = Some(args.background_mu);
                let dir = out.join(format!("{model}-background"));
                extra.push((config, dir.clone()));
                background = Some(dir);
            }
            for seed in 1..args.ensemble as u64 {
                let mut config = config.clone();
                config.monitor.clear();
                config.train.seed = seed;
                let dir = out.join(format!("{model}-seed{seed}"));
                extra.push((config, dir.clone()));
                ensemble.push(dir);
            }
        }
        let mut extra_runs = Vec::new();
        for (config, dir) in &extra {
            let (seconds, _) = self.ensure_trained(config, dir)?;
            self.evaluate(&budget, dir, &held_out, budget.held_out_limit)?;
            extra_runs.push((dir.clone(), seconds));
        }
        let ood_scores = score_rows(
            &run_dir,
            &comparison(pair, background.clone(), ensemble.clone()),
            Bootstrap::default(),
            &self.context.data,
        )?;
        let test_bpd = sets[1].mean_bpd;
        let ood_more_likely_than_test = sets[2..]
            .iter()
            .map(|s| (s.set.clone(), s.mean_bpd < test_bpd))
            .collect();
        Ok(ModelResult {
            model,
            run: run_dir,
            budget,
            steps: config.train.steps,
            train_seconds,
            train_images_per_sec,
            eval_seconds,
            sets,
            ood_more_likely_than_test,
            extra_runs,
            background,
            ensemble,
            ood_scores,
        })
    }
}

fn render_summary(results: &Results) -> String {
    let pair = &results.pair;
    let mut md = format!(
        "# genood reproduce: {} (preset `{}`, device `{}`)\n\nMean bits per dimension (lower = more likely). {}\n\n",
        pair.name,
        results.preset,
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
    for m in &results.models {
        md.push_str(&format!(
            "\n## OOD detection with {} (OOD = positive; higher score = more OOD)\n\n{}",
            m.model,
            markdown(&m.ood_scores)
        ));
    }
    md.push_str(&format!(
        "\nReport with every figure: {}. Total: {:.0} s.\n",
        results.report.display(),
        results.total_seconds
    ));
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use genood_models::ImageShape;

    fn budget(preset: Preset, kind: ModelKind, options: ReproduceOptions) -> Budget {
        let options = ReproduceOptions { preset, ..options };
        let grey_28 = ImageShape {
            channels: 1,
            height: 28,
            width: 28,
        };
        Budget::of(&options, &preset.model(grey_28, kind))
    }

    #[test]
    fn cpu_budgets_cap_the_costly_families_only() {
        let defaults = ReproduceOptions::default;
        // A flow scores everything asked on any preset.
        let glow = budget(Preset::Quick, ModelKind::Glow, defaults());
        assert_eq!(
            (glow.train_limit, glow.held_out_limit),
            (Some(10_000), None)
        );
        assert_eq!(
            (glow.iw_samples, glow.gray_limit),
            (CPU_IW_SAMPLES, GRAY_LIMIT)
        );
        // PixelCNN++ and the VAEs are capped on the CPU presets, and draw fewer samples.
        for kind in [ModelKind::PixelCnnPp, ModelKind::VaeCategorical] {
            let b = budget(Preset::Quick, kind, defaults());
            assert_eq!(b.train_limit, Some(CPU_EVAL_LIMIT));
            assert_eq!(b.held_out_limit, Some(CPU_EVAL_LIMIT));
            assert_eq!(b.gray_limit, CPU_GRAY_LIMIT);
            assert_eq!(b.regret_limit, Some(CPU_REGRET_LIMIT));
        }
        let pixelcnn = budget(Preset::Tiny, ModelKind::PixelCnnPp, defaults());
        assert_eq!(pixelcnn.samples, CPU_AUTOREGRESSIVE_SAMPLES);
        // The paper preset is never capped and uses the full importance sampling.
        let vae = budget(Preset::Paper, ModelKind::VaeRealNvp, defaults());
        assert_eq!((vae.train_limit, vae.held_out_limit), (Some(10_000), None));
        assert_eq!((vae.iw_samples, vae.regret_limit), (IW_SAMPLES, None));
        // Asked limits win, but a costly family stays capped on its training split; 0 means all.
        let asked = ReproduceOptions {
            train_eval_limit: 0,
            eval_limit: Some(50_000),
            regret_limit: Some(0),
            iw_samples: Some(3),
            ..defaults()
        };
        let vae = budget(Preset::Quick, ModelKind::VaeCategorical, asked.clone());
        assert_eq!(vae.train_limit, Some(CPU_EVAL_LIMIT));
        assert_eq!(vae.held_out_limit, Some(50_000));
        assert_eq!((vae.iw_samples, vae.regret_limit), (3, None));
        let glow = budget(Preset::Quick, ModelKind::Glow, asked);
        assert_eq!(glow.train_limit, None);
    }

    #[test]
    fn experiment_folders_name_models_other_than_the_default() {
        assert_eq!(experiment_folder("p", DEFAULT_MODELS), "p");
        assert_eq!(
            experiment_folder("p", &[ModelKind::PixelCnnPp, ModelKind::Glow]),
            "p-pixelcnnpp-glow"
        );
    }
}
