//! OOD detection scores and their metrics from a run's per-example outputs (`genood score`).

use std::path::{Path, PathBuf};

use genood_data::atomic::write_atomically;
use genood_data::{Conform, DataSource, ImageSet, SetSpec};
use genood_models::density::statistic;
use genood_ood::metrics::{Detection, detection};
use genood_ood::scores::{
    Codec, ExampleStats, ThresholdTest, density_score, dose, input_complexity, likelihood_ratio,
    negative_log_likelihood, standardized_mean, threshold_test, typicality, typicality_batches,
    waic,
};
use genood_train::csv::{CsvTable, number};
use genood_train::eval::ExampleScore;
use genood_train::provenance::{current_model, read_scores};
use genood_train::regret::{RegretSummary, read_regret_csv};
use genood_train::run::{RunDir, RunError};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::error::LabError;
use crate::figures::file_safe;
use genood_models::Named;

/// An OOD score, named once for `score`, `detect`, the report and the command line. Its
/// [`Named::name`] is what `detect --scores` takes and `detector.json` stores; its
/// [`Score::label`] begins each row of `score`'s tables, which add the details (the batch
/// size, the codec, the ensemble's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Score {
    /// The model's negative log-likelihood in bits per dimension.
    Likelihood,
    /// Distance of the bpd from the reference data's mean (single image, or batches).
    Typicality,
    /// bpd minus the bits of a lossless compressor (Serrà et al.).
    InputComplexity,
    /// The model's log-likelihood over a background model's (Ren et al.).
    LikelihoodRatio,
    /// WAIC over an ensemble (Choi et al.).
    Waic,
    /// A density of the model's statistics over reference data (Morningstar et al.).
    Dose,
    /// Likelihood regret of a VAE (Xiao et al.).
    LikelihoodRegret,
    /// A diffusion model's reconstruction errors from several noise levels (Graham et al.).
    Reconstruction,
    /// A density of a diffusion model's score norms at several noise levels (Mahmood et al.).
    Msma,
    /// A density of a diffusion model's probability-flow path statistics (Heng et al.).
    DiffPath,
    /// A hierarchical VAE's likelihood ratio `L − L^{>k}` (Havtorn et al.).
    Llr,
}

impl Named for Score {
    const WHAT: &'static str = "score";
    const ALL: &'static [Score] = &[
        Score::Likelihood,
        Score::Typicality,
        Score::InputComplexity,
        Score::LikelihoodRatio,
        Score::Waic,
        Score::Dose,
        Score::LikelihoodRegret,
        Score::Reconstruction,
        Score::Msma,
        Score::DiffPath,
        Score::Llr,
    ];

    fn name(self) -> &'static str {
        match self {
            Score::Likelihood => "likelihood",
            Score::Typicality => "typicality",
            Score::InputComplexity => "complexity",
            Score::LikelihoodRatio => "likelihood-ratio",
            Score::Waic => "waic",
            Score::Dose => "dose",
            Score::LikelihoodRegret => "regret",
            Score::Reconstruction => "reconstruction",
            Score::Msma => "msma",
            Score::DiffPath => "diffpath",
            Score::Llr => "llr",
        }
    }
}

genood_models::named_text!(Score);

impl Score {
    /// How tables and the report call it.
    pub fn label(self) -> &'static str {
        match self {
            Score::Likelihood => "likelihood",
            Score::Typicality => "typicality",
            Score::InputComplexity => "input complexity",
            Score::LikelihoodRatio => "likelihood ratio",
            Score::Waic => "WAIC",
            Score::Dose => "DoSE",
            Score::LikelihoodRegret => "likelihood regret",
            Score::Reconstruction => "diffusion reconstruction",
            Score::Msma => "MSMA",
            Score::DiffPath => "DiffPath",
            Score::Llr => "hierarchical VAE LLR",
        }
    }

    /// For a score computed from a model family's own detector statistics (a diffusion
    /// model's): the prefix of their names.
    pub fn statistic_prefix(self) -> Option<&'static str> {
        self.statistics().map(|(prefix, _)| prefix)
    }

    /// The prefix of the statistics and how they are turned into one score.
    fn statistics(self) -> Option<(&'static str, Combine)> {
        match self {
            Score::Reconstruction => Some((statistic::RECONSTRUCTION, Combine::StandardizedMean)),
            Score::Msma => Some((statistic::MSMA, Combine::Density)),
            Score::DiffPath => Some((statistic::PATH, Combine::Density)),
            Score::Llr => Some((statistic::LLR, Combine::Each)),
            _ => None,
        }
    }
}

/// How a detector's per-image statistics become one score, fitted on reference images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    /// The mean of the statistics standardised by the reference's mean and spread.
    StandardizedMean,
    /// `−log` of a KDE of the statistics fitted on the reference.
    Density,
    /// Each statistic is a score of its own, needing no reference: the score table has a
    /// row for each, and `detect` thresholds the first (`llr>1`, the `k` Havtorn et al. use
    /// on FashionMNIST).
    Each,
}

/// The values of `kind` (a score with a [`Score::statistic_prefix`]) for `features`, each
/// image's statistics of that prefix, fitted on `reference`, the same statistics of
/// in-distribution images.
pub(crate) fn statistic_values(
    kind: Score,
    reference: &[Vec<f64>],
    features: &[Vec<f64>],
) -> Vec<f64> {
    match kind.statistics() {
        Some((_, Combine::StandardizedMean)) => standardized_mean(reference, features),
        Some((_, Combine::Density)) => density_score(reference, features),
        Some((_, Combine::Each)) => features.iter().map(|f| f[0]).collect(),
        None => panic!("{kind:?} is not computed from detector statistics"),
    }
}

/// Each image's statistics whose names begin with `prefix`, in the file's order, and their
/// names (from the first image).
pub(crate) fn statistics_with(
    scores: &[ExampleScore],
    prefix: &str,
) -> (Vec<Vec<f64>>, Vec<String>) {
    let names = scores.first().map_or_else(Vec::new, |s| {
        s.parts
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(n, _)| n.clone())
            .collect()
    });
    let values = scores
        .iter()
        .map(|s| {
            s.parts
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .map(|(_, v)| *v)
                .collect()
        })
        .collect();
    (values, names)
}

/// Batch sizes of the batch typicality test, as in Nalisnick et al. (2019b).
pub const BATCH_SIZES: [usize; 4] = [2, 5, 10, 25];

/// The sets a score compares and the companion models it may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The in-distribution test set.
    pub in_dist: SetSpec,
    /// OOD sets.
    pub ood: Vec<SetSpec>,
    /// In-distribution data the typicality test's entropy estimate and DoSE's density are
    /// fitted on (scored by evaluation too), usually the training split.
    pub reference: SetSpec,
    /// A background model's run folder (trained with `background_noise`), scored on the same
    /// sets with the same seed and limit: adds the likelihood-ratio score.
    pub background: Option<PathBuf>,
    /// Other members of an ensemble (same model, other seeds), scored likewise: adds the WAIC
    /// score over this run and these.
    pub ensemble: Vec<PathBuf>,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    /// The score.
    #[serde(skip)]
    pub kind: Score,
    /// Its label with the details of this row (`typicality, batches of 10`).
    pub score: String,
    /// In-distribution set.
    pub in_dist: SetSpec,
    /// OOD set.
    pub ood: SetSpec,
    /// Inputs per decision (1, or M for batch tests).
    pub batch: usize,
    /// The metrics with 95% bootstrap intervals.
    pub metrics: Detection,
    /// How many in-distribution images were scored.
    pub in_images: Coverage,
    /// How many OOD images were scored.
    pub ood_images: Coverage,
    /// What the score costs beyond one model and one pass.
    pub cost: String,
    /// For the typicality test: flagging with the bootstrap threshold ε.
    pub threshold: Option<ThresholdTest>,
    /// The in-distribution scores (for ROC curves; not serialised).
    #[serde(skip)]
    pub in_scores: Vec<f64>,
    /// The OOD scores (for ROC curves; not serialised).
    #[serde(skip)]
    pub ood_scores: Vec<f64>,
}

/// A row's kind and its label: the score's label and `details`.
fn labelled(kind: Score, details: &str) -> (Score, String) {
    (kind, format!("{}{details}", kind.label()))
}

/// The per-example statistics the score functions take: the likelihood's parts, without the
/// detector statistics that follow them.
pub(crate) fn stats(scores: &[ExampleScore]) -> Vec<ExampleStats> {
    scores
        .iter()
        .map(|s| ExampleStats {
            log_p: s.log_p,
            bpd: s.bpd,
            parts: s
                .parts
                .iter()
                .filter(|(n, _)| !statistic::is_detector(n))
                .map(|(_, v)| *v)
                .collect(),
        })
        .collect()
}

/// The likelihood-regret scores of `set` and what computing them cost, if `genood regret`
/// ran on it.
fn load_regret(run: &RunDir, set: &SetSpec) -> Result<Option<(Vec<f64>, RegretSummary)>, LabError> {
    let path = run.regret(&set.label());
    if !path.exists() {
        return Ok(None);
    }
    let scores = read_regret_csv(&path).map_err(|reason| RunError::Config {
        path: path.clone(),
        reason,
    })?;
    let summary: RegretSummary = run.read_json(&path.with_extension("json"))?;
    if let Some(made_by) = &summary.model_sha256 {
        let (now, model) = current_model(run)?;
        if *made_by != model {
            return Err(RunError::Stale {
                path,
                command: "regret",
                made_at: summary.step.unwrap_or_default(),
                now,
            }
            .into());
        }
    }
    Ok(Some((scores.iter().map(|s| s.regret).collect(), summary)))
}

fn load_scores(run: &RunDir, set: &SetSpec) -> Result<Vec<ExampleScore>, LabError> {
    Ok(read_scores(run, &set.label())?)
}

/// Checks that two runs scored the same images in the same order (same seed and limit).
fn aligned(
    ours: &[ExampleScore],
    theirs: &[ExampleScore],
    set: &SetSpec,
) -> Result<Vec<ExampleScore>, LabError> {
    let same =
        ours.len() == theirs.len() && ours.iter().zip(theirs).all(|(a, b)| a.index == b.index);
    if same {
        Ok(theirs.to_vec())
    } else {
        Err(LabError::set(
            set,
            "the runs scored different images; evaluate them with the same --limit and --seed",
        ))
    }
}

fn complexity(scores: &[ExampleScore], set: &ImageSet, codec: Codec) -> Vec<f64> {
    scores
        .iter()
        .map(|s| {
            input_complexity(
                s.bpd,
                set.image_size(),
                codec.compressed_bits(set.image(s.index), set.shape),
            )
        })
        .collect()
}

/// How many of a set's images a score saw: a `--limit` scores part of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Images scored.
    pub scored: usize,
    /// Images in the set.
    pub of: usize,
}

impl Coverage {
    /// `set` with its count: "mnist:test (all 10000)" or "mnist:test (2000 of 10000)".
    pub fn label(&self, set: &SetSpec) -> String {
        if self.scored == self.of {
            format!("{set} (all {})", self.of)
        } else {
            format!("{set} ({} of {})", self.scored, self.of)
        }
    }
}

/// How the metrics' intervals are bootstrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bootstrap {
    /// Resamples per interval.
    pub resamples: usize,
    /// Seed of the resamples, which also seeds the typicality test's batches.
    pub seed: u64,
}

impl Default for Bootstrap {
    /// 1,000 resamples, seed 0: what `score`, `reproduce` and the sweeps use.
    fn default() -> Self {
        Self {
            resamples: 1000,
            seed: 0,
        }
    }
}

/// One set as every score sees it: its images, the run's per-image scores of them, and the
/// companion models' scores of the same images, in the same order.
#[derive(Debug, Clone)]
pub struct ScoredSet {
    /// The set.
    pub spec: SetSpec,
    /// Its images (input complexity compresses them; coverage counts them).
    pub images: ImageSet,
    /// The model's per-image scores.
    pub scores: Vec<ExampleScore>,
    /// A background model's scores of the same images: adds the likelihood ratio.
    pub background: Option<Vec<ExampleScore>>,
    /// The other ensemble members' log p (nats) of the same images: adds WAIC.
    pub ensemble: Vec<Vec<f64>>,
    /// Likelihood regret of (a subset of) the images and what it cost, where computed.
    pub regret: Option<(Vec<f64>, RegretSummary)>,
}

/// Every score on every (in, OOD) pair of `sets`, from the per-example scores that evaluation
/// wrote into `run_dir` (and the companion runs), with intervals bootstrapped as `bootstrap`
/// says.
pub fn score_rows(
    run_dir: &Path,
    sets: &Comparison,
    bootstrap: Bootstrap,
    data: &DataSource,
) -> Result<Vec<ScoreRow>, LabError> {
    let run = RunDir::new(run_dir);
    let reference = load_scores(&run, &sets.reference)?;
    let conform = Conform::to(run.read_config()?.model.image().dims());
    let scored = |spec: &SetSpec| -> Result<ScoredSet, LabError> {
        let scores = load_scores(&run, spec)?;
        let background = match &sets.background {
            Some(dir) => Some(aligned(
                &scores,
                &load_scores(&RunDir::new(dir), spec)?,
                spec,
            )?),
            None => None,
        };
        let ensemble = sets
            .ensemble
            .iter()
            .map(|member| {
                let theirs = aligned(&scores, &load_scores(&RunDir::new(member), spec)?, spec)?;
                Ok(theirs.iter().map(|s| s.log_p).collect())
            })
            .collect::<Result<_, LabError>>()?;
        Ok(ScoredSet {
            spec: spec.clone(),
            images: spec.load(data, bootstrap.seed, conform)?,
            regret: load_regret(&run, spec)?,
            scores,
            background,
            ensemble,
        })
    };
    let inside = scored(&sets.in_dist)?;
    let outside = sets.ood.iter().map(scored).collect::<Result<Vec<_>, _>>()?;
    Ok(rows_of(&reference, &inside, &outside, bootstrap))
}

/// Every score on `inside` against each of `outside`, from per-image scores in memory (what
/// [`score_rows`] reads from a run, or what any model's log-likelihoods give): the typicality
/// test's entropy and DoSE's density come from `reference`, the likelihood ratio and WAIC
/// appear where both sets carry them, likelihood regret where both have it.
pub fn rows_of(
    reference: &[ExampleScore],
    inside: &ScoredSet,
    outside: &[ScoredSet],
    bootstrap: Bootstrap,
) -> Vec<ScoreRow> {
    let Bootstrap { resamples, seed } = bootstrap;
    let entropy = reference.iter().map(|s| s.bpd).sum::<f64>() / reference.len() as f64;
    let in_stats = stats(&inside.scores);
    let in_bpd = negative_log_likelihood(&in_stats);
    let train = stats(reference);
    let reference_bpd: Vec<f64> = reference.iter().map(|s| s.bpd).collect();
    let mut rows = Vec::new();
    for ood in outside {
        let coverage = |set: &ScoredSet| Coverage {
            scored: set.scores.len(),
            of: set.images.len(),
        };
        let (in_coverage, ood_coverage) = (coverage(inside), coverage(ood));
        let mut push =
            |(kind, score): (Score, String), batch: usize, a: Vec<f64>, b: Vec<f64>, cost: &str| {
                rows.push(ScoreRow {
                    kind,
                    score,
                    in_dist: inside.spec.clone(),
                    ood: ood.spec.clone(),
                    batch,
                    in_images: in_coverage,
                    ood_images: ood_coverage,
                    metrics: detection(&a, &b, resamples, seed),
                    cost: cost.into(),
                    threshold: None,
                    in_scores: a,
                    ood_scores: b,
                });
            };
        let ood_stats = stats(&ood.scores);
        let ood_bpd = negative_log_likelihood(&ood_stats);
        push(
            labelled(Score::Likelihood, " (bpd)"),
            1,
            in_bpd.clone(),
            ood_bpd.clone(),
            "none",
        );
        push(
            labelled(Score::Typicality, ""),
            1,
            typicality(&in_bpd, entropy),
            typicality(&ood_bpd, entropy),
            "mean bpd of reference data",
        );
        for m in BATCH_SIZES {
            let mut rng = StdRng::seed_from_u64(seed);
            let a = typicality_batches(&in_bpd, m, entropy, &mut rng);
            let b = typicality_batches(&ood_bpd, m, entropy, &mut rng);
            push(
                labelled(Score::Typicality, &format!(", batches of {m}")),
                m,
                a,
                b,
                "needs M inputs known to share a source",
            );
        }
        for codec in [Codec::Png, Codec::WebpLossless] {
            push(
                labelled(Score::InputComplexity, &format!(" ({})", codec.name())),
                1,
                complexity(&inside.scores, &inside.images, codec),
                complexity(&ood.scores, &ood.images, codec),
                "one lossless compression per input",
            );
        }
        if let (Some(a), Some(b)) = (&inside.background, &ood.background) {
            push(
                labelled(Score::LikelihoodRatio, ""),
                1,
                likelihood_ratio(&in_stats, &stats(a)),
                likelihood_ratio(&ood_stats, &stats(b)),
                "a background model trained on perturbed inputs; a second pass",
            );
        }
        if !inside.ensemble.is_empty() && inside.ensemble.len() == ood.ensemble.len() {
            let members = |set: &ScoredSet| {
                let own = set.scores.iter().map(|s| s.log_p).collect::<Vec<_>>();
                std::iter::once(own)
                    .chain(set.ensemble.iter().cloned())
                    .collect::<Vec<_>>()
            };
            push(
                labelled(
                    Score::Waic,
                    &format!(" ({} models)", inside.ensemble.len() + 1),
                ),
                1,
                waic(&members(inside)),
                waic(&members(ood)),
                "an ensemble of models; one pass each",
            );
        }
        let features: Vec<&str> = std::iter::once("log p")
            .chain(
                inside
                    .scores
                    .iter()
                    .take(1)
                    .flat_map(|s| s.parts.iter().map(|(n, _)| n.as_str()))
                    .filter(|n| !statistic::is_detector(n)),
            )
            .collect();
        push(
            labelled(Score::Dose, &format!(" (KDE of {})", features.join(", "))),
            1,
            dose(&train, &in_stats),
            dose(&train, &ood_stats),
            "KDE over reference statistics",
        );
        for kind in Score::ALL.iter().copied() {
            let Some((prefix, combine)) = kind.statistics() else {
                continue;
            };
            let (fitted, names) = statistics_with(reference, prefix);
            if names.is_empty() || fitted.len() < 2 {
                continue;
            }
            let (method, cost) = match combine {
                Combine::StandardizedMean => ("mean z-score", "a few denoising passes per level"),
                Combine::Density => ("KDE", "a network pass per statistic's step"),
                Combine::Each => {
                    let (inside, ood) = (
                        statistics_with(&inside.scores, prefix).0,
                        statistics_with(&ood.scores, prefix).0,
                    );
                    for (k, name) in names.iter().enumerate() {
                        let column = |rows: &[Vec<f64>]| rows.iter().map(|r| r[k]).collect();
                        push(
                            labelled(kind, &format!(" ({name})")),
                            1,
                            column(&inside),
                            column(&ood),
                            "two importance-weighted bounds per input",
                        );
                    }
                    continue;
                }
            };
            push(
                labelled(kind, &format!(" ({method} of {})", names.join(", "))),
                1,
                statistic_values(kind, &fitted, &statistics_with(&inside.scores, prefix).0),
                statistic_values(kind, &fitted, &statistics_with(&ood.scores, prefix).0),
                cost,
            );
        }
        if let (Some((a, _)), Some((b, cost))) = (&inside.regret, &ood.regret) {
            push(
                labelled(Score::LikelihoodRegret, ""),
                1,
                a.clone(),
                b.clone(),
                &format!(
                    "posterior refit per input: {} Adam steps, {:.1} ms/image measured",
                    cost.config.steps,
                    1e3 * cost.seconds / cost.images.max(1) as f64
                ),
            );
            // Regret is computed on its own (usually smaller) subsets.
            let row = rows.last_mut().expect("the regret row was just pushed");
            row.in_images.scored = row.in_scores.len();
            row.ood_images.scored = row.ood_scores.len();
        }
        for row in rows
            .iter_mut()
            .filter(|r| r.ood == ood.spec && r.kind == Score::Typicality)
        {
            let mut rng = StdRng::seed_from_u64(seed);
            row.threshold = Some(threshold_test(
                &reference_bpd,
                row.batch,
                &row.in_scores,
                &row.ood_scores,
                &mut rng,
            ));
        }
    }
    rows
}

/// Renders the rows as a Markdown table.
pub fn markdown(rows: &[ScoreRow]) -> String {
    let mut md = String::from(
        "| score | in | OOD | AUROC [95% CI] | AUPR-in | AUPR-out | FPR@95 | det. acc. | flagged at bootstrap ε (OOD / in) | cost |\n|---|---|---|---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let m = &r.metrics;
        md.push_str(&format!(
            "| {} | {} | {} | {:.3} [{:.3}, {:.3}] | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} |\n",
            r.score,
            r.in_images.label(&r.in_dist),
            r.ood_images.label(&r.ood),
            m.auroc.value,
            m.auroc.low,
            m.auroc.high,
            m.aupr_in.value,
            m.aupr_out.value,
            m.fpr95.value,
            m.detection_accuracy.value,
            r.threshold.map_or("–".into(), |t| format!(
                "{:.3} / {:.3}",
                t.ood_flagged, t.in_flagged
            )),
            r.cost
        ));
    }
    md
}

/// Writes `rows` into `run_dir` as `ood-scores.json` and `ood-scores.md`, atomically, and
/// returns the Markdown table.
pub fn write_score_tables(run_dir: &Path, rows: &[ScoreRow]) -> Result<String, LabError> {
    let json = run_dir.join("ood-scores.json");
    let text = serde_json::to_string_pretty(rows).expect("score rows serialise");
    write_atomically(&json, text.as_bytes()).map_err(LabError::io(&json))?;
    let md = markdown(rows);
    let path = run_dir.join("ood-scores.md");
    write_atomically(&path, md.as_bytes()).map_err(LabError::io(&path))?;
    Ok(md)
}

/// Writes each set's per-image values of every single-input score into
/// `ood-scores/<set>.csv` in `run_dir`: `index`, one column per score (in `rows`' order,
/// higher = more OOD), then `path`. Scores computed on their own subset (likelihood regret)
/// are left out. Returns the files written.
pub fn write_per_image_scores(
    run_dir: &Path,
    sets: &Comparison,
    rows: &[ScoreRow],
) -> Result<Vec<PathBuf>, LabError> {
    let run = RunDir::new(run_dir);
    let dir = run_dir.join("ood-scores");
    let mut written = Vec::new();
    // Each set with the OOD set it is (none for the in-distribution set).
    let named = std::iter::once((&sets.in_dist, None)).chain(sets.ood.iter().map(|o| (o, Some(o))));
    for (set, as_ood) in named {
        let scores = load_scores(&run, set)?;
        let mut columns: Vec<(&str, &Vec<f64>)> = Vec::new();
        for row in rows.iter().filter(|r| r.batch == 1) {
            if let Some(values) = values_of(row, as_ood).filter(|v| v.len() == scores.len())
                && !columns.iter().any(|(name, _)| *name == row.score)
            {
                columns.push((&row.score, values));
            }
        }
        let header = std::iter::once("index")
            .chain(columns.iter().map(|(name, _)| *name))
            .chain(["path"]);
        let mut table = CsvTable::new(header);
        for (i, s) in scores.iter().enumerate() {
            let mut row = vec![s.index.to_string()];
            row.extend(columns.iter().map(|(_, values)| number(values[i])));
            row.push(s.path.clone().unwrap_or_default());
            table.row(row);
        }
        let path = dir.join(format!("{}.csv", file_safe(&set.label())));
        table.write(&path).map_err(LabError::io(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// A row's scores of the in-distribution set (`ood` none) or of OOD set `ood`, if it is the
/// row's.
fn values_of<'a>(row: &'a ScoreRow, ood: Option<&SetSpec>) -> Option<&'a Vec<f64>> {
    match ood {
        None => Some(&row.in_scores),
        Some(ood) => (&row.ood == ood).then_some(&row.ood_scores),
    }
}

#[cfg(test)]
mod tests {
    use genood_data::npz::encode_npy;
    use genood_models::presets::Preset;
    use genood_train::eval::write_scores_csv;

    use super::*;
    use crate::training::{TrainOptions, run_config};

    /// A run folder with no model, only its config and per-image scores of three `npy:` sets
    /// written by hand: 40 reference and 40 test images scored around 3 bpd, 40 OOD images
    /// around 2 bpd; with `statistics`, a diffusion model's parts and detector statistics
    /// (the OOD images' reconstruction errors, score norms and path rate twice the others').
    fn synthetic_run(dir: &Path, statistics: bool) -> Comparison {
        let run = RunDir::new(dir);
        let options = TrainOptions {
            preset: Preset::Tiny,
            ..TrainOptions::default()
        };
        std::fs::create_dir_all(run.scores_dir()).unwrap();
        run.write_json(&run.config(), &run_config(&options).unwrap())
            .unwrap();
        let dims = 28 * 28;
        let set = |name: &str, bpd: f64, texture: u8| {
            let pixels: Vec<u8> = (0..40 * dims)
                .map(|i| (i as u8).wrapping_mul(texture))
                .collect();
            let path = dir.join(format!("{name}.npy"));
            std::fs::write(&path, encode_npy("|u1", &[40, 28, 28], &pixels)).unwrap();
            let spec = SetSpec::parse(&format!("npy:{}", path.display())).unwrap();
            let scores: Vec<ExampleScore> = (0..40)
                .map(|index| {
                    // ±0.01 around the set's level, alternating; statistics ±0.1 around theirs.
                    let sign = if index % 2 == 0 { 1.0 } else { -1.0 };
                    let level = if bpd < 3.0 { 2.0 } else { 1.0 };
                    let names = [
                        "prior_kl",
                        "reconstruction",
                        "diffusion",
                        "msma@0.1",
                        "msma@0.5",
                        "path_rate",
                        "path_curvature",
                        "recon@0.5",
                        "recon@0.8",
                    ];
                    let parts = names
                        .iter()
                        .enumerate()
                        .map(|(k, name)| {
                            let value = if k < 3 {
                                1.0 + sign * k as f64
                            } else {
                                level + 0.1 * sign
                            };
                            (name.to_string(), value)
                        })
                        .filter(|_| statistics)
                        .collect();
                    let bpd = bpd + 0.01 * sign;
                    ExampleScore {
                        index,
                        label: None,
                        log_p: -bpd * dims as f64 * std::f64::consts::LN_2,
                        bpd,
                        parts,
                        path: None,
                    }
                })
                .collect();
            write_scores_csv(&run.scores(&spec.label()), &scores).unwrap();
            spec
        };
        Comparison {
            reference: set("reference", 3.0, 3),
            in_dist: set("test", 3.0, 5),
            ood: vec![set("ood", 2.0, 0)],
            background: None,
            ensemble: Vec::new(),
        }
    }

    /// [`synthetic_run`] in a fresh temporary folder named after `name`, and its score rows
    /// (50 bootstrap resamples).
    fn synthetic_rows(name: &str, statistics: bool) -> (PathBuf, Comparison, Vec<ScoreRow>) {
        let dir = std::env::temp_dir().join(format!("genood-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sets = synthetic_run(&dir, statistics);
        let bootstrap = Bootstrap {
            resamples: 50,
            seed: 0,
        };
        let rows = score_rows(&dir, &sets, bootstrap, &DataSource::new(&dir)).unwrap();
        (dir, sets, rows)
    }

    #[test]
    fn score_rows_of_synthetic_per_image_scores() {
        let (dir, sets, rows) = synthetic_rows("score-rows", false);
        let names: Vec<&str> = rows.iter().map(|r| r.score.as_str()).collect();
        assert_eq!(
            names,
            [
                "likelihood (bpd)",
                "typicality",
                "typicality, batches of 2",
                "typicality, batches of 5",
                "typicality, batches of 10",
                "typicality, batches of 25",
                "input complexity (png-best)",
                "input complexity (webp-lossless)",
                "DoSE (KDE of log p)",
            ]
        );
        let row = |name: &str| rows.iter().find(|r| r.score == name).unwrap();
        // Every OOD image is more likely than every test image: the likelihood ranks them
        // all as more in-distribution (AUROC 0), and at 1 bpd from the reference's mean
        // (3 bpd, the entropy estimate) against 0.01, typicality separates them all (AUROC 1).
        let likelihood = row("likelihood (bpd)");
        assert_eq!(likelihood.metrics.auroc.value, 0.0);
        assert_eq!(likelihood.in_scores.len(), 40);
        assert_eq!(
            (likelihood.in_dist.clone(), likelihood.ood.clone()),
            (sets.in_dist.clone(), sets.ood[0].clone())
        );
        assert_eq!(row("typicality").metrics.auroc.value, 1.0);
        // Typicality is a distance from the entropy estimate, for single images and batches.
        for score in ["typicality", "typicality, batches of 10"] {
            let r = row(score);
            let distance = |v: &[f64]| v.iter().all(|x| x.is_finite() && *x >= 0.0);
            assert!(distance(&r.in_scores) && distance(&r.ood_scores), "{score}");
        }
        assert_eq!(row("typicality, batches of 10").batch, 10);
        // Coverage counts the images scored against the images in each set.
        assert_eq!(
            (likelihood.in_images, likelihood.ood_images),
            (
                Coverage { scored: 40, of: 40 },
                Coverage { scored: 40, of: 40 }
            )
        );
        // Typicality carries its bootstrap threshold test, single images and batches alike.
        assert!(row("typicality").threshold.is_some());
        assert!(row("typicality, batches of 25").threshold.is_some());
        assert!(likelihood.threshold.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_diffusion_models_statistics_make_their_own_rows_and_stay_out_of_dose() {
        let (dir, _, rows) = synthetic_rows("diffusion-rows", true);
        let names: Vec<&str> = rows.iter().map(|r| r.score.as_str()).collect();
        assert_eq!(
            names[8..],
            [
                "DoSE (KDE of log p, prior_kl, reconstruction, diffusion)",
                "diffusion reconstruction (mean z-score of recon@0.5, recon@0.8)",
                "MSMA (KDE of msma@0.1, msma@0.5)",
                "DiffPath (KDE of path_rate, path_curvature)",
            ]
        );
        let row = |kind: Score| rows.iter().find(|r| r.kind == kind).unwrap();
        for kind in [Score::Reconstruction, Score::Msma, Score::DiffPath] {
            assert_eq!(row(kind).metrics.auroc.value, 1.0, "{kind:?}");
        }
        // Reference errors are 1 ± 0.1 at both levels: mean 1, sample deviation
        // 0.1·sqrt(40/39); an OOD error of 2.1 or 1.9 is that many deviations above.
        let deviation = 0.1 * (40.0f64 / 39.0).sqrt();
        let reconstruction = row(Score::Reconstruction);
        assert!((reconstruction.ood_scores[0] - 1.1 / deviation).abs() < 1e-9);
        assert!((reconstruction.in_scores[0] - 0.1 / deviation).abs() < 1e-9);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
