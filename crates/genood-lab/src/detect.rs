//! Which inputs should a model's likelihood not be trusted on? Thresholds fitted on
//! in-distribution data alone (the run's own held-out images), then a verdict for every image
//! of any set, labelled or not (`genood detect`).
//!
//! Fitting scores the run's held-out training images (the calibration set) and a seeded
//! subset of the images it trained on (the reference: the typicality test's entropy estimate
//! and DoSE's density). Each score's threshold is the calibration scores' `1 − fpr` quantile,
//! so about `fpr` of in-distribution inputs are flagged by each. The combined score is the
//! largest calibration percentile among the chosen scores but the likelihood (by default
//! typicality, input complexity and DoSE), with its own threshold fitted the same way. The likelihood itself is kept as the score the paper shows
//! failing: it flags only inputs that are *less* likely than the training data.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use genood_data::{Conform, DataSource, ImageSet, SetSpec};
use genood_models::{DensityModel, Model};
use genood_ood::scores::{Codec, Kde, dose_features, input_complexity, typicality_threshold};
use genood_train::eval::{ExampleScore, evaluate_with_progress};
use genood_train::run::{RunConfig, RunDir, stream_rng, streams};
use genood_train::trainer::heldout_count;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::LabError;
use crate::evaluation::check_shape;
use crate::explain::{explained_png, pixel_maps};
use crate::progress::Progress;
use crate::score::{Score, statistic_values, statistics_with, stats};
use crate::sets::{load_subset, loading_notes};
use genood_data::atomic::write_atomically;
use genood_models::Named;
use genood_train::csv::{CsvTable, number, read_table};

/// The single-image scores a detector can threshold, in its CSV's order: the four every model
/// has, then those of a diffusion model's own statistics and a hierarchical VAE's likelihood
/// ratio (`llr>1`). None needs OOD examples (nor a second model).
pub const SCORES: [Score; 8] = [
    Score::Likelihood,
    Score::Typicality,
    Score::InputComplexity,
    Score::Dose,
    Score::Reconstruction,
    Score::Msma,
    Score::DiffPath,
    Score::Llr,
];

/// The scores a detector thresholds unless told otherwise: those every model has.
pub const DEFAULT_SCORES: [Score; 4] = [
    Score::Likelihood,
    Score::Typicality,
    Score::InputComplexity,
    Score::Dose,
];

/// Position of `score` in [`SCORES`].
fn column(score: Score) -> Result<usize, LabError> {
    SCORES
        .iter()
        .position(|s| *s == score)
        .ok_or_else(|| LabError::Unknown {
            what: "detector score",
            name: score.name().into(),
            choices: SCORES.map(Score::name).join(", "),
        })
}

/// How a detector is fitted and applied.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectOptions {
    /// The scores to threshold, of [`SCORES`].
    pub scores: Vec<Score>,
    /// The in-distribution false-positive rate each threshold is set at.
    pub fpr: f64,
    /// Inputs per decision of the batch typicality test.
    pub batch: usize,
    /// How the batch test groups a set's images into batches.
    pub grouping: Grouping,
    /// The compressor of the input-complexity score (when fitting).
    pub codec: Codec,
    /// The in-distribution set thresholds are fitted on (when fitting): any set the user
    /// trusts, at any shape the run accepts; `None`: the run's own held-out images.
    pub calibrate: Option<SetSpec>,
    /// Where the verdicts of the (single) set go; `None`: `detect/<set>.csv` in the run.
    pub out: Option<PathBuf>,
    /// Training images scored as the reference (a seeded subset).
    pub reference_images: usize,
    /// Score at most this many images per set when applying (a seeded subset; `None`: all).
    pub limit: Option<usize>,
    /// Images per evaluation batch.
    pub batch_size: usize,
    /// Importance samples of a VAE's bound.
    pub iw_samples: usize,
    /// Seed of the noise, the subsets and the bootstrap.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// Beside each set's verdicts, draw its most flagged images above their per-pixel maps
    /// (`<verdicts>-explain.png`), for a family that has maps.
    pub explain: bool,
}

/// The most flagged images `detect --explain` draws per set.
pub const EXPLAINED: usize = 16;

impl Default for DetectOptions {
    /// 5% false positives, seeded random batches of 10, lossless WebP, the run's held-out images as
    /// calibration, 2,000 reference images, the evaluation defaults.
    fn default() -> Self {
        let eval = crate::evaluation::EvalOptions::default();
        Self {
            scores: DEFAULT_SCORES.to_vec(),
            fpr: 0.05,
            batch: 10,
            grouping: Grouping::Random,
            codec: Codec::WebpLossless,
            calibrate: None,
            out: None,
            reference_images: 2000,
            limit: None,
            batch_size: eval.batch_size,
            iw_samples: eval.iw_samples,
            seed: eval.seed,
            threads: eval.threads,
            explain: false,
        }
    }
}

/// How the batch typicality test groups a set's images into batches of M. A batch test is
/// valid only for inputs that are a sample of one source, and a file order is no such
/// sample (a folder is read by class): the grouping is always chosen, and said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grouping {
    /// Seeded random batches within each set.
    #[default]
    Random,
    /// Seeded random batches within each label (an ImageFolder's class folder).
    Label,
    /// Consecutive images in the order they were read (a stream whose order is its source).
    Order,
}

impl std::str::FromStr for Grouping {
    type Err = String;

    /// `random`, `label` or `order`.
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "random" => Ok(Grouping::Random),
            "label" => Ok(Grouping::Label),
            "order" => Ok(Grouping::Order),
            _ => Err(format!(
                "unknown grouping `{name}`; choose random, label or order"
            )),
        }
    }
}

impl Grouping {
    /// The batches of `m` this grouping forms of `scores` (positions into it); the images
    /// of a group left over after its last whole batch are in none.
    pub fn batches(self, scores: &[ExampleScore], m: usize, seed: u64) -> Vec<Vec<usize>> {
        let mut rng = stream_rng(seed, streams::DETECT_BATCHES, 0);
        let all: Vec<usize> = (0..scores.len()).collect();
        let mut groups = match self {
            Grouping::Order | Grouping::Random => vec![all],
            Grouping::Label => {
                let mut by_label = std::collections::BTreeMap::<Option<u32>, Vec<usize>>::new();
                for (k, s) in scores.iter().enumerate() {
                    by_label.entry(s.label).or_default().push(k);
                }
                by_label.into_values().collect()
            }
        };
        if self != Grouping::Order {
            for group in &mut groups {
                group.shuffle(&mut rng);
            }
        }
        groups
            .iter()
            .flat_map(|g| g.chunks_exact(m).map(<[usize]>::to_vec))
            .collect()
    }

    /// What the batches are, for the output.
    pub fn describe(self, m: usize) -> String {
        match self {
            Grouping::Random => format!("seeded random batches of {m} within each set"),
            Grouping::Label => format!("seeded random batches of {m} within each label"),
            Grouping::Order => format!("consecutive batches of {m} in reading order"),
        }
    }
}

/// A threshold and the calibration scores its percentiles are read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Inputs scoring above it are flagged.
    pub threshold: f64,
    /// The calibration images' scores, sorted.
    pub calibration: Vec<f64>,
}

/// One score's threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreThreshold {
    /// The score.
    pub score: Score,
    /// Its threshold.
    #[serde(flatten)]
    pub fitted: Threshold,
}

impl Threshold {
    fn fit(mut calibration: Vec<f64>, fpr: f64) -> Self {
        calibration.sort_by(f64::total_cmp);
        Self {
            threshold: quantile(&calibration, 1.0 - fpr),
            calibration,
        }
    }

    /// The percentage of calibration scores below `value`.
    pub fn percentile(&self, value: f64) -> f64 {
        let below = self.calibration.partition_point(|c| *c < value);
        100.0 * below as f64 / self.calibration.len() as f64
    }

    /// The conformal p-value of `value`: (1 + calibration scores at or above it) / (1 +
    /// calibration scores). An in-distribution input's p-value is at most `a` with
    /// probability at most `a`.
    pub fn p_value(&self, value: f64) -> f64 {
        let below = self.calibration.partition_point(|c| *c < value);
        let at_or_above = self.calibration.len() - below;
        (1 + at_or_above) as f64 / (1 + self.calibration.len()) as f64
    }
}

/// The `q` quantile of sorted `values` (the smallest value with at least `q` of them at or
/// below it).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1]
}

/// A fitted detector, stored as the run's `detector.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    /// The run's training set.
    pub data: String,
    /// The checkpoint's step when fitted.
    pub step: usize,
    /// The SHA-256 of the `model.safetensors` fitted with; applying with another is refused.
    pub model_sha256: String,
    /// The target in-distribution false-positive rate.
    pub fpr: f64,
    /// Mean bpd of the reference images: the typicality test's entropy estimate.
    pub entropy: f64,
    /// The reference images' DoSE features (log p and the model's statistics).
    pub dose_reference: Vec<Vec<f64>>,
    /// The reference images' statistics of each chosen score that a model family's own
    /// statistics make (a diffusion model's reconstruction, MSMA, DiffPath).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statistics_reference: Vec<StatisticReference>,
    /// The set the thresholds were fitted on (`held-out`: the run's own held-out images).
    #[serde(default = "held_out")]
    pub calibration: String,
    /// Calibration images.
    pub calibration_images: usize,
    /// The input-complexity score's compressor (detectors fitted before it was a choice used
    /// WebP).
    #[serde(default = "webp")]
    pub codec: Codec,
    /// One threshold per chosen score, in [`SCORES`]' order.
    pub scores: Vec<ScoreThreshold>,
    /// The scores the combined score takes: the chosen ones but the likelihood (or the
    /// likelihood alone, if only it was chosen).
    pub combines: Vec<Score>,
    /// The combined score's threshold (over calibration percentiles).
    pub combined: Threshold,
    /// Inputs per batch of the batch typicality test.
    pub batch: usize,
    /// The batch test's entropy estimate (the calibration images' mean bpd).
    pub batch_entropy: f64,
    /// The batch test's threshold on `|mean bpd − entropy|`.
    pub batch_threshold: f64,
}

/// The in-distribution rows a statistics-based score is fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatisticReference {
    /// The score.
    pub score: Score,
    /// Each reference image's statistics of the score's prefix, in the scores file's order.
    pub rows: Vec<Vec<f64>>,
}

fn held_out() -> String {
    HELD_OUT.into()
}

fn webp() -> Codec {
    Codec::WebpLossless
}

/// The calibration set's name when the run's own held-out images are used.
const HELD_OUT: &str = "held-out";

/// Every score of each image, in [`SCORES`]'s order; NaN for a statistics-based score with
/// no reference in `statistics`.
fn score_values(
    scores: &[ExampleScore],
    set: &ImageSet,
    entropy: f64,
    kde: &Kde,
    codec: Codec,
    statistics: &[StatisticReference],
) -> Vec<Vec<f64>> {
    let features = dose_features(&stats(scores));
    let mut values: Vec<Vec<f64>> = scores
        .iter()
        .zip(&features)
        .map(|(s, f)| {
            let bits = codec.compressed_bits(set.image(s.index), set.shape);
            vec![
                s.bpd,
                (s.bpd - entropy).abs(),
                input_complexity(s.bpd, set.image_size(), bits),
                -kde.log_density(f),
            ]
        })
        .collect();
    for &score in &SCORES[DEFAULT_SCORES.len()..] {
        let fitted = statistics.iter().find(|r| r.score == score);
        let column = match (fitted, score.statistic_prefix()) {
            (Some(reference), Some(prefix)) => {
                statistic_values(score, &reference.rows, &statistics_with(scores, prefix).0)
            }
            _ => vec![f64::NAN; scores.len()],
        };
        for (row, value) in values.iter_mut().zip(column) {
            row.push(value);
        }
    }
    values
}

/// The reference rows of each chosen statistics-based score, or an error naming the first
/// whose statistics the scores lack (a model that is not a diffusion model).
fn statistics_reference(
    reference: &[ExampleScore],
    chosen: &[Score],
    data: &str,
) -> Result<Vec<StatisticReference>, LabError> {
    chosen
        .iter()
        .filter_map(|&score| Some((score, score.statistic_prefix()?)))
        .map(|(score, prefix)| {
            let (rows, names) = statistics_with(reference, prefix);
            if names.is_empty() {
                let needs = match score {
                    Score::Llr => "a hierarchical VAE's likelihood ratios",
                    _ => "a diffusion model's statistics",
                };
                return Err(LabError::Invalid {
                    what: "scores",
                    reason: format!(
                        "`{}` needs {needs}, and the model trained on {data} has none",
                        score.name()
                    ),
                });
            }
            Ok(StatisticReference { score, rows })
        })
        .collect()
}

/// Scores `indices` of `set` with `model`, reporting as `task`.
fn evaluate(
    model: &Model,
    set: &ImageSet,
    indices: &[usize],
    options: &DetectOptions,
    device: &Device,
    task: &str,
    progress: &mut dyn Progress,
) -> Vec<ExampleScore> {
    progress.advance(task, 0, indices.len());
    evaluate_with_progress(
        model,
        set,
        indices,
        options.batch_size,
        options.iw_samples,
        options.seed,
        options.threads,
        device,
        task,
        progress,
    )
}

/// The run's training set, and the indices of its held-out and training images as the
/// trainer split them.
fn training_split(
    config: &RunConfig,
    data: &DataSource,
) -> Result<(ImageSet, Vec<usize>, Vec<usize>), LabError> {
    let conform = Conform::to(config.model.image().dims());
    let set = SetSpec::parse(&config.data)?.load(data, config.train.seed, conform)?;
    let held = heldout_count(set.len(), config.train.heldout_size);
    let (rest, heldout) = set.heldout_indices(
        held,
        &mut stream_rng(config.train.seed, streams::HELDOUT_SPLIT, 0),
    );
    Ok((set, rest, heldout))
}

/// Fits a detector for the run in `run_dir` on its own held-out images (or the set
/// `options.calibrate` names) and writes it to `detector.json` there.
pub fn fit_detector(
    run_dir: &Path,
    context: &Context,
    options: &DetectOptions,
    progress: &mut dyn Progress,
) -> Result<Detector, LabError> {
    let detector = fit(run_dir, None, context, options, progress)?;
    let run = RunDir::new(run_dir);
    run.write_json(&run.detector(), &detector)?;
    progress.note(&format!(
        "fitted {} on {} calibration images ({}) and {} training images of {} as reference (false positives {:.0}%)",
        run.detector().display(),
        detector.calibration_images,
        detector.calibration,
        detector.dose_reference.len(),
        detector.data,
        100.0 * options.fpr
    ));
    Ok(detector)
}

/// Fits a detector for the run in `run_dir` without writing it: the reference is a seeded
/// subset of the images the run trained on, the calibration set is `calibration` where given
/// (images in memory), else the set `options.calibrate` names, else the run's held-out images.
pub fn fit(
    run_dir: &Path,
    calibration: Option<&ImageSet>,
    context: &Context,
    options: &DetectOptions,
    progress: &mut dyn Progress,
) -> Result<Detector, LabError> {
    let (data, device) = (&context.data, &context.device);
    check_options(options)?;
    let run = RunDir::new(run_dir);
    let checkpoint = run.load_checkpoint(device)?;
    let (step, model_sha256) = checkpoint.origin();
    let (config, model) = (checkpoint.config, checkpoint.model);
    let (set, trained, heldout) = training_split(&config, data)?;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut reference = trained;
    reference.shuffle(&mut rng);
    reference.truncate(options.reference_images);
    reference.sort_unstable();
    let reference_scores = evaluate(
        &model,
        &set,
        &reference,
        options,
        device,
        "reference",
        progress,
    );
    let calibration_subset = match (calibration, &options.calibrate) {
        (None, Some(name)) => {
            let subset = load_subset(name, data, options.seed, options.limit, model.image_dims())?;
            for note in loading_notes(&subset.set) {
                progress.note(&note);
            }
            Some(subset)
        }
        _ => None,
    };
    let all: Vec<usize>;
    let (calibration_set, calibration_indices, calibration) =
        match (calibration, &calibration_subset) {
            (Some(images), _) => {
                check_shape(images, model.image_dims())?;
                all = (0..images.len()).collect();
                (images, &all, images.name.clone())
            }
            (None, Some(subset)) => (&subset.set, &subset.indices, subset.spec.label()),
            (None, None) => (&set, &heldout, HELD_OUT.to_string()),
        };
    let calibration_scores = evaluate(
        &model,
        calibration_set,
        calibration_indices,
        options,
        device,
        "calibration",
        progress,
    );
    let origin = Origin {
        data: config.data.clone(),
        step,
        model_sha256,
        calibration,
    };
    fit_scores(
        &reference_scores,
        (calibration_set, &calibration_scores),
        origin,
        options,
        &mut rng,
    )
}

/// What a detector records of the model it was fitted for and the data it was fitted on.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// The model's training set.
    pub data: String,
    /// The checkpoint's step.
    pub step: usize,
    /// The SHA-256 of the model's weights (empty for a model genood did not train).
    pub model_sha256: String,
    /// The calibration set's name.
    pub calibration: String,
}

/// Refuses a false-positive rate outside (0, 1), no scores, or a score no detector takes.
fn check_options(options: &DetectOptions) -> Result<(), LabError> {
    if !(options.fpr > 0.0 && options.fpr < 1.0) {
        return Err(LabError::Invalid {
            what: "fpr",
            reason: format!(
                "the false-positive rate must lie between 0 and 1, got {}",
                options.fpr
            ),
        });
    }
    if options.scores.is_empty() {
        return Err(LabError::Invalid {
            what: "scores",
            reason: "choose at least one score to detect with".into(),
        });
    }
    for &score in &options.scores {
        column(score)?;
    }
    Ok(())
}

/// Fits a detector from per-image scores in memory, of any model: the typicality test's
/// entropy and DoSE's density from `reference`, every threshold from the `calibration`
/// images' scores (those images feed input complexity); the batch test's bootstrap draws from
/// `rng`.
pub fn fit_scores(
    reference: &[ExampleScore],
    (calibration_set, calibration): (&ImageSet, &[ExampleScore]),
    origin: Origin,
    options: &DetectOptions,
    rng: &mut StdRng,
) -> Result<Detector, LabError> {
    check_options(options)?;
    if reference.len() < 2 || calibration.len() < 2 {
        return Err(LabError::set(
            &origin.data,
            "too few images to fit a detector (it needs two reference and two calibration images)",
        ));
    }
    let entropy = reference.iter().map(|s| s.bpd).sum::<f64>() / reference.len() as f64;
    let dose_reference = dose_features(&stats(reference));
    let kde = Kde::fit(&dose_reference);
    let statistics_reference = statistics_reference(reference, &options.scores, &origin.data)?;
    let values = score_values(
        calibration,
        calibration_set,
        entropy,
        &kde,
        options.codec,
        &statistics_reference,
    );
    let mut scores = Vec::new();
    for (k, &score) in SCORES.iter().enumerate() {
        if options.scores.contains(&score) {
            scores.push(ScoreThreshold {
                score,
                fitted: Threshold::fit(values.iter().map(|v| v[k]).collect(), options.fpr),
            });
        }
    }
    let mut combines: Vec<Score> = scores
        .iter()
        .map(|t| t.score)
        .filter(|s| *s != Score::Likelihood)
        .collect();
    if combines.is_empty() {
        combines = scores.iter().map(|t| t.score).collect();
    }
    let combined = Threshold::fit(
        values
            .iter()
            .map(|v| combined_of(&scores, &combines, v))
            .collect(),
        options.fpr,
    );
    let calibration_bpd: Vec<f64> = calibration.iter().map(|s| s.bpd).collect();
    let batch_entropy = calibration_bpd.iter().sum::<f64>() / calibration_bpd.len() as f64;
    let batch_threshold = typicality_threshold(
        &calibration_bpd,
        options.batch,
        2000,
        1.0 - options.fpr,
        rng,
    );
    Ok(Detector {
        data: origin.data,
        step: origin.step,
        model_sha256: origin.model_sha256,
        fpr: options.fpr,
        entropy,
        dose_reference,
        statistics_reference,
        calibration_images: calibration.len(),
        calibration: origin.calibration,
        codec: options.codec,
        scores,
        combines,
        combined,
        batch: options.batch,
        batch_entropy,
        batch_threshold,
    })
}

/// The combined score of one image: its largest calibration percentile among the scores
/// `combines` names.
fn combined_of(scores: &[ScoreThreshold], combines: &[Score], values: &[f64]) -> f64 {
    scores
        .iter()
        .filter(|t| combines.contains(&t.score))
        .filter_map(|t| Some(t.fitted.percentile(values[column(t.score).ok()?])))
        .fold(0.0, f64::max)
}

/// How many of a set's images (and batches) each score flagged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdicts {
    /// The set.
    pub set: String,
    /// Images scored.
    pub images: usize,
    /// Files left out as unreadable (`--skip-bad`), relative to the set's folder.
    pub skipped: Vec<String>,
    /// Fraction flagged by each of the detector's scores, in order.
    pub flagged: Vec<f64>,
    /// Fraction flagged by the combined score: the verdict.
    pub combined: f64,
    /// Fraction of the batches the batch typicality test flagged.
    pub batches: f64,
    /// How many batches the test decided on.
    pub batch_count: usize,
    /// How the batches were formed.
    pub grouping: Grouping,
    /// The verdict's rate within each label (an ImageFolder's class), for labelled sets.
    pub groups: Vec<GroupRate>,
    /// The per-image CSV.
    pub csv: PathBuf,
}

/// The verdict's rate within one label of a set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRate {
    /// The class folder's name, or the label's number where the set names none.
    pub group: String,
    /// Images with that label.
    pub images: usize,
    /// Fraction the combined score flagged.
    pub flagged: f64,
}

/// Labels every image of each set in `sets` with the run's detector, writing
/// `detect/<set>.csv` into the run (one row per image: each score, its calibration
/// percentile, the combined score, the batch test and the verdict).
pub fn apply_detector(
    run_dir: &Path,
    sets: &[SetSpec],
    context: &Context,
    options: &DetectOptions,
    progress: &mut dyn Progress,
) -> Result<Vec<Verdicts>, LabError> {
    let (data, device) = (&context.data, &context.device);
    let run = RunDir::new(run_dir);
    let path = run.detector();
    if !path.exists() {
        return Err(LabError::set(
            run_dir.display(),
            "has no detector.json; fit one first (`genood detect --run RUN`)",
        ));
    }
    if options.out.is_some() && sets.len() != 1 {
        return Err(LabError::Invalid {
            what: "out",
            reason: format!(
                "--out names one file, for one set; {} sets were given",
                sets.len()
            ),
        });
    }
    let detector: Detector = run.read_json(&path)?;
    let checkpoint = run.load_checkpoint(device)?;
    let (step, model) = checkpoint.origin();
    if model != detector.model_sha256 {
        return Err(LabError::File {
            path: path.clone(),
            reason: format!(
                "fitted at step {}, the run is now at step {step}; fit it again (`genood detect --run {} --refit`)",
                detector.step,
                run_dir.display()
            ),
        });
    }
    let model_loaded = checkpoint.model;
    let mut all = Vec::new();
    for name in sets {
        let subset = load_subset(
            name,
            data,
            options.seed,
            options.limit,
            model_loaded.image_dims(),
        )?;
        for note in loading_notes(&subset.set) {
            progress.note(&note);
        }
        let started = Instant::now();
        let judged = judge_images(
            &model_loaded,
            &detector,
            &subset.set,
            &subset.indices,
            options,
            device,
            progress,
        )?;
        let csv = match &options.out {
            Some(out) => out.clone(),
            None => run.verdicts(&subset.spec.label()),
        };
        let verdicts = write_verdicts(&detector, &subset.set, &judged, options.grouping, &csv)?;
        if options.explain {
            progress.note(&explain_flagged(
                &model_loaded,
                &subset.set,
                &judged,
                &csv,
                options.seed,
                device,
            )?);
        }
        progress.note(&format!(
            "{}: {} images in {:.1} s, {:.1}% flagged → {}",
            name,
            verdicts.images,
            started.elapsed().as_secs_f64(),
            100.0 * verdicts.combined,
            csv.display()
        ));
        all.push(verdicts);
    }
    Ok(all)
}

/// One image's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageVerdict {
    /// Each of the detector's scores (higher: more OOD), in its order.
    pub values: Vec<f64>,
    /// Each score's calibration percentile.
    pub percentiles: Vec<f64>,
    /// Whether each score is over its threshold.
    pub flagged: Vec<bool>,
    /// The combined score: the largest calibration percentile among the scores it combines.
    pub combined: f64,
    /// The combined score's conformal p-value: the share of calibration images (counting
    /// this one) whose combined score is at least as high.
    pub p_value: f64,
    /// The verdict: the combined score is over its threshold.
    pub ood: bool,
    /// The image's batch of the batch typicality test and whether the test flagged it.
    pub batch: Option<(usize, bool)>,
}

/// Images judged by a detector: their scores, their verdicts, and the batch test's batches.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The model's per-image scores.
    pub scores: Vec<ExampleScore>,
    /// One verdict per image, in the same order.
    pub verdicts: Vec<ImageVerdict>,
    /// The batch test's batches (positions into `scores`) and whether each was flagged.
    pub batches: Vec<(Vec<usize>, bool)>,
}

impl Detector {
    /// Judges the images `scores` were computed on (of `set`; any model's scores), the
    /// batch test deciding on `batches` (positions into `scores`).
    pub fn judge(
        &self,
        scores: Vec<ExampleScore>,
        set: &ImageSet,
        batches: Vec<Vec<usize>>,
    ) -> Result<Judged, LabError> {
        let kde = Kde::fit(&self.dose_reference);
        let values = score_values(
            &scores,
            set,
            self.entropy,
            &kde,
            self.codec,
            &self.statistics_reference,
        );
        let mut batch_of: Vec<Option<(usize, bool)>> = vec![None; scores.len()];
        let batches: Vec<(Vec<usize>, bool)> = batches
            .into_iter()
            .enumerate()
            .map(|(b, batch)| {
                let mean = batch.iter().map(|&k| scores[k].bpd).sum::<f64>() / batch.len() as f64;
                let flagged = (mean - self.batch_entropy).abs() > self.batch_threshold;
                for &k in &batch {
                    batch_of[k] = Some((b, flagged));
                }
                (batch, flagged)
            })
            .collect();
        let verdicts = values
            .iter()
            .zip(batch_of)
            .map(|(v, batch)| {
                let mut own = Vec::with_capacity(self.scores.len());
                for t in &self.scores {
                    own.push(v[column(t.score)?]);
                }
                let combined = combined_of(&self.scores, &self.combines, v);
                Ok(ImageVerdict {
                    percentiles: (self.scores.iter().zip(&own))
                        .map(|(t, &value)| t.fitted.percentile(value))
                        .collect(),
                    flagged: (self.scores.iter().zip(&own))
                        .map(|(t, &value)| value > t.fitted.threshold)
                        .collect(),
                    values: own,
                    combined,
                    p_value: self.combined.p_value(combined),
                    ood: combined > self.combined.threshold,
                    batch,
                })
            })
            .collect::<Result<_, LabError>>()?;
        Ok(Judged {
            scores,
            verdicts,
            batches,
        })
    }
}

/// Scores the images `indices` of `set` with `model` and judges each with `detector`, the
/// batch test grouping them as `options.grouping` says; progress goes to `progress` as
/// `detect <set>`.
pub fn judge_images(
    model: &Model,
    detector: &Detector,
    set: &ImageSet,
    indices: &[usize],
    options: &DetectOptions,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<Judged, LabError> {
    check_shape(set, model.image_dims())?;
    let task = format!("detect {}", set.name);
    let scores = evaluate(model, set, indices, options, device, &task, progress);
    let batches = options
        .grouping
        .batches(&scores, detector.batch, options.seed);
    detector.judge(scores, set, batches)
}

/// Draws the [`EXPLAINED`] flagged images of `judged` with the highest combined scores above
/// their per-pixel maps, into `<csv>-explain.png`; says what it wrote.
fn explain_flagged(
    model: &Model,
    set: &ImageSet,
    judged: &Judged,
    csv: &Path,
    seed: u64,
    device: &Device,
) -> Result<String, LabError> {
    let mut flagged: Vec<usize> = (0..judged.verdicts.len())
        .filter(|&k| judged.verdicts[k].ood)
        .collect();
    flagged.sort_by(|&a, &b| {
        judged.verdicts[b]
            .combined
            .total_cmp(&judged.verdicts[a].combined)
    });
    flagged.truncate(EXPLAINED);
    let indices: Vec<usize> = flagged.iter().map(|&k| judged.scores[k].index).collect();
    if indices.is_empty() {
        return Ok(format!(
            "{}: no image flagged, nothing to explain",
            set.name
        ));
    }
    let (maps, meaning) =
        pixel_maps(model, set, &indices, seed, device).expect("at least one image flagged");
    let stem = csv
        .file_stem()
        .map_or("verdicts".into(), |s| s.to_string_lossy().into_owned());
    let path = csv.with_file_name(format!("{stem}-explain.png"));
    write_atomically(&path, &explained_png(set, &indices, &maps)).map_err(LabError::io(&path))?;
    Ok(format!(
        "{}: the {} most flagged images above their maps ({meaning}) → {}",
        set.name,
        indices.len(),
        path.display()
    ))
}

/// Writes one row per image and returns the fractions flagged.
fn write_verdicts(
    detector: &Detector,
    set: &ImageSet,
    judged: &Judged,
    grouping: Grouping,
    csv: &Path,
) -> Result<Verdicts, LabError> {
    let mut header = vec!["index".to_string(), "label".into()];
    for t in &detector.scores {
        header.push(t.score.to_string());
        header.push(format!("{}_percentile", t.score));
    }
    header.extend(
        [
            "combined_percentile",
            "batch",
            "batch_flagged",
            "flagged_by",
            "verdict",
            "path",
        ]
        .map(String::from),
    );
    let mut out = CsvTable::new(&header);
    let mut flagged = vec![0usize; detector.scores.len()];
    let mut combined_flagged = 0;
    // Per label: (images, flagged).
    let mut per_label = std::collections::BTreeMap::<u32, (usize, usize)>::new();
    let scores = &judged.scores;
    for (s, v) in scores.iter().zip(&judged.verdicts) {
        let mut row = vec![
            s.index.to_string(),
            s.label.map(|l| l.to_string()).unwrap_or_default(),
        ];
        let mut by = Vec::new();
        for (k, t) in detector.scores.iter().enumerate() {
            row.push(number(v.values[k]));
            row.push(format!("{:.2}", v.percentiles[k]));
            if v.flagged[k] {
                flagged[k] += 1;
                by.push(t.score.name());
            }
        }
        combined_flagged += usize::from(v.ood);
        if let Some(label) = s.label {
            let entry = per_label.entry(label).or_default();
            entry.0 += 1;
            entry.1 += usize::from(v.ood);
        }
        let (batch, batch_flagged) = match v.batch {
            Some((b, f)) => (b.to_string(), f.to_string()),
            None => (String::new(), String::new()),
        };
        row.extend([
            format!("{:.2}", v.combined),
            batch,
            batch_flagged,
            by.join(";"),
            (if v.ood { "ood" } else { "in" }).into(),
            s.path.clone().unwrap_or_default(),
        ]);
        out.row(row);
    }
    out.write(csv).map_err(LabError::io(csv))?;
    let n = scores.len().max(1) as f64;
    let groups = per_label
        .into_iter()
        .map(|(label, (images, flagged))| GroupRate {
            group: class_name(set, scores, label),
            images,
            flagged: flagged as f64 / images as f64,
        })
        .collect();
    let batches_flagged = judged.batches.iter().filter(|(_, f)| *f).count();
    Ok(Verdicts {
        set: set.name.clone(),
        images: scores.len(),
        skipped: set.skipped.clone(),
        flagged: flagged.iter().map(|&f| f as f64 / n).collect(),
        combined: combined_flagged as f64 / n,
        batches: batches_flagged as f64 / judged.batches.len().max(1) as f64,
        batch_count: judged.batches.len(),
        grouping,
        groups,
        csv: csv.to_path_buf(),
    })
}

/// Label `label`'s class folder, from the path of an image that has it; its number where
/// the set has no paths.
fn class_name(set: &ImageSet, scores: &[ExampleScore], label: u32) -> String {
    scores
        .iter()
        .find(|s| s.label == Some(label))
        .and_then(|s| s.path.as_deref())
        .and_then(|p| p.split_once('/'))
        .map(|(class, _)| class.to_string())
        .filter(|_| set.paths.is_some())
        .unwrap_or_else(|| label.to_string())
}

/// `(flagged, images)` of a verdicts CSV that `genood detect` wrote.
pub fn flagged_count(csv: &Path) -> Result<(usize, usize), LabError> {
    let column = std::cell::Cell::new(0);
    let accept = |header: &[&str]| {
        let at = header.iter().position(|h| *h == "verdict");
        column.set(at.unwrap_or_default());
        at.is_some()
    };
    let (_, ood) = read_table(csv, "verdicts", accept, |f| Some(f[column.get()] == "ood"))
        .map_err(|reason| LabError::File {
            path: csv.into(),
            reason,
        })?;
    Ok((ood.iter().filter(|o| **o).count(), ood.len()))
}

/// The verdicts as a Markdown table, then each labelled set's rate per label.
pub fn verdict_table(verdicts: &[Verdicts], detector: &Detector) -> String {
    let grouping = verdicts
        .first()
        .map(|v| v.grouping)
        .unwrap_or_default()
        .describe(detector.batch);
    let mut md = format!(
        "Flagged at {:.0}% in-distribution false positives, thresholds fitted on {} ({} images); batch test: {grouping}:\n\n| set | images | {} | combined (verdict) | batches |\n|---|---:|{}---:|---:|\n",
        100.0 * detector.fpr,
        detector.calibration,
        detector.calibration_images,
        detector
            .scores
            .iter()
            .map(|t| t.score.name())
            .collect::<Vec<_>>()
            .join(" | "),
        "---:|".repeat(detector.scores.len())
    );
    let pct = |f: f64| format!("{:.1}%", 100.0 * f);
    for v in verdicts {
        let skipped = if v.skipped.is_empty() {
            String::new()
        } else {
            format!(" ({} unreadable files skipped)", v.skipped.len())
        };
        md.push_str(&format!(
            "| {}{skipped} | {} | {} | {} | {} of {} |\n",
            v.set,
            v.images,
            v.flagged
                .iter()
                .map(|&f| pct(f))
                .collect::<Vec<_>>()
                .join(" | "),
            pct(v.combined),
            pct(v.batches),
            v.batch_count
        ));
    }
    for v in verdicts.iter().filter(|v| !v.groups.is_empty()) {
        md.push_str(&format!(
            "\n{}: the verdict per label (the {:.0}% holds over the calibration set as a whole, not within each kind of input)\n\n| label | images | flagged |\n|---|---:|---:|\n",
            v.set,
            100.0 * detector.fpr
        ));
        for g in &v.groups {
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                g.group,
                g.images,
                pct(g.flagged)
            ));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_flag_the_asked_share_of_calibration_scores() {
        // 1..=100: at 5% false positives the threshold is the 95th value, and exactly the
        // five values above it are flagged.
        let fitted = Threshold::fit((1..=100).rev().map(f64::from).collect(), 0.05);
        assert_eq!(fitted.threshold, 95.0);
        assert_eq!(fitted.calibration.first(), Some(&1.0));
        let flagged = fitted
            .calibration
            .iter()
            .filter(|&&v| v > fitted.threshold)
            .count();
        assert_eq!(flagged, 5);
        // Percentiles count the calibration values strictly below.
        assert_eq!(fitted.percentile(0.5), 0.0);
        assert_eq!(fitted.percentile(50.5), 50.0);
        assert_eq!(fitted.percentile(1000.0), 100.0);
        // One value: every rate gives it.
        assert_eq!(quantile(&[3.0], 0.01), 3.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
    }

    #[test]
    fn the_combined_score_is_the_largest_percentile_of_the_scores_it_takes() {
        let fit = |score, values: Vec<f64>| ScoreThreshold {
            score,
            fitted: Threshold::fit(values, 0.05),
        };
        let scores = [
            fit(Score::Likelihood, (0..10).map(f64::from).collect()),
            fit(Score::Typicality, (0..10).map(f64::from).collect()),
            fit(Score::Dose, (0..10).map(|v| f64::from(v) * 10.0).collect()),
        ];
        // Values in SCORES' order: likelihood, typicality, complexity, dose.
        let values = [9.5, 2.5, 0.0, 45.0];
        let combines = [Score::Typicality, Score::Dose];
        // typicality 2.5 is above 3 of 10 (30%), DoSE 45 above 5 of 10 (50%); the likelihood's
        // 95% is left out.
        assert_eq!(combined_of(&scores, &combines, &values), 50.0);
        assert_eq!(combined_of(&scores, &[Score::Likelihood], &values), 100.0);
    }

    #[test]
    fn detector_scores_are_named_once() {
        for score in SCORES {
            assert_eq!(score.name().parse::<Score>(), Ok(score));
            assert_eq!(
                column(score).unwrap(),
                SCORES.iter().position(|s| *s == score).unwrap()
            );
        }
        assert!(column(Score::Waic).is_err());
        let json = serde_json::to_string(&DEFAULT_SCORES).unwrap();
        assert_eq!(json, r#"["likelihood","typicality","complexity","dose"]"#);
        assert_eq!(SCORES[..4], DEFAULT_SCORES);
    }
}
