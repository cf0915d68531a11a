//! Why the likelihood fails for a pair (`genood analyze`): the paper's analysis on the user's
//! own runs and data. The two terms of a flow's log-likelihood, per-dimension data moments,
//! the second-order prediction (closed form for CV-Glow, measured on the model for any flow),
//! graying, and the likelihood over training. This module computes; [`crate::analysis_view`]
//! renders.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use genood_data::moments::Moments;
use genood_data::synthetic::Synthetic;
use genood_data::{Conform, DataSource, ImageSet, SetSpec};
use genood_flows::dequantize::{dequantized_mean, dequantized_variance};
use genood_flows::multiscale::MultiScaleFlow;
use genood_flows::param::cast_parameters;
use genood_flows::second_order::{
    Estimate, MeanShiftTerms, closed_form_gap, hutchinson_half_trace, mean_shift_terms,
    paper_curvature, without_coupling_networks,
};
use genood_models::density::part;
use genood_models::{DensityModel, Model};
use genood_train::dynamics::{DynamicsRow, read_dynamics_csv};
use genood_train::eval::{ExampleScore, evaluate, summarize};
use genood_train::parallel::{available_threads, for_each_batch};
use genood_train::provenance::read_scores;
use genood_train::run::{RunDir, RunError};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::error::LabError;
use crate::evaluation::{EvalOptions, IW_SAMPLES, evaluate_sets};
use crate::progress::Progress;

/// Images per batch when scoring grayed sets.
const BATCH: usize = 500;
/// Default images per set at each graying level.
pub const GRAY_LIMIT: usize = 500;
/// Default number of graying levels (α = 0, 0.1, …, 1).
pub const GRAY_STEPS: usize = 11;
/// Default Rademacher probes.
pub const PROBES: usize = 64;
/// Default finite-difference steps.
pub const EPSILONS: [f64; 4] = [0.003, 0.01, 0.03, 0.1];

/// How [`analyze`] samples and measures.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOptions {
    /// The training data, p* of the moments and of the expansion (`None`: the first run's).
    pub reference: Option<SetSpec>,
    /// Images per set scored at each graying level (a seeded subset).
    pub gray_limit: usize,
    /// Graying levels α, evenly spaced from 0 to 1 (at least 2).
    pub gray_steps: usize,
    /// Rademacher probes of Hutchinson's estimator.
    pub probes: usize,
    /// Finite-difference steps along each probe direction (scaled by √|Δσ²| per pixel), one
    /// estimate each: the ReLU coupling networks make the second difference depend on the step.
    pub epsilon: Vec<f64>,
    /// Images per set scored when a run has no scores for a set yet.
    pub eval_limit: usize,
    /// Importance samples of a VAE's bound (graying, and sets scored here).
    pub iw_samples: usize,
    /// Seed of subsets, dequantization noise and probes.
    pub seed: u64,
    /// Worker threads (the results do not depend on it).
    pub threads: usize,
}

impl Default for AnalysisOptions {
    /// The defaults of `genood analyze`.
    fn default() -> Self {
        Self {
            reference: None,
            gray_limit: GRAY_LIMIT,
            gray_steps: GRAY_STEPS,
            probes: PROBES,
            epsilon: EPSILONS.to_vec(),
            eval_limit: 10_000,
            iw_samples: IW_SAMPLES,
            seed: 0,
            threads: available_threads(),
        }
    }
}

/// An analysis and the per-example scores it read, which the term histograms are drawn from.
#[derive(Debug, Clone)]
pub struct Analyzed {
    /// Everything `analysis.json` holds.
    pub analysis: Analysis,
    /// Per run, each set's scores (reference, test, OOD sets).
    pub scores: Vec<Vec<(String, Vec<ExampleScore>)>>,
}

/// Everything `analysis.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Analysis {
    /// The training data (p*).
    pub reference: String,
    /// The in-distribution test set.
    pub in_dist: String,
    /// The OOD sets.
    pub ood: Vec<String>,
    /// Per-dimension moments of the reference, the test set and each OOD set, in that order.
    pub moments: Vec<SetMoments>,
    /// `Σ_{h,w}(σ²_reference − σ²_ood)` per channel, for each OOD set.
    pub variance_gaps: Vec<VarianceGap>,
    /// One entry per run.
    pub runs: Vec<RunAnalysis>,
}

/// Per-dimension moments of one set on the `[0, 1]` pixel scale.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetMoments {
    /// The set.
    pub set: String,
    /// Images the moments were taken over (the whole set).
    pub images: usize,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Mean of each dimension, `C·H·W` order.
    pub mean: Vec<f64>,
    /// Variance of each dimension, `C·H·W` order.
    pub variance: Vec<f64>,
    /// `Σ_{h,w} σ²` per channel.
    pub variance_sum_per_channel: Vec<f64>,
}

/// The paper's per-channel sums for one OOD set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VarianceGap {
    /// The OOD set.
    pub ood: String,
    /// `Σ_{h,w}(σ²_reference − σ²_ood)` per channel: positive where the OOD set varies less.
    pub per_channel: Vec<f64>,
}

/// Mean, spread and range of one quantity over a set.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    fn of(values: impl Iterator<Item = f64> + Clone) -> Spread {
        let n = values.clone().count().max(1) as f64;
        let mean = values.clone().sum::<f64>() / n;
        let var = values.clone().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        Spread {
            mean,
            std: var.sqrt(),
            min,
            max,
        }
    }
}

/// `log p = log p_z(f(x)) + log|det ∂f/∂x|` over one set, in nats.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TermSummary {
    /// The set.
    pub set: String,
    /// Images scored.
    pub images: usize,
    /// `log p(x)`.
    pub log_p: Spread,
    /// The distribution term.
    pub log_prior: Spread,
    /// The volume term (a single value for CV-Glow: `min == max`).
    pub log_det: Spread,
}

/// The closed form of the paper for CV-Glow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClosedForm {
    /// Predicted `E_ood[log p] − E_reference[log p]`, nats.
    pub gap: f64,
    /// Its share from each input channel.
    pub gap_per_channel: Vec<f64>,
    /// Mean curvature factor `(1/σ²)·Π_k(Σ_j u_{k,c,j})²` of each input channel's dimensions.
    pub mean_curvature_per_channel: Vec<f64>,
}

/// The second-order terms measured on the model with one finite-difference step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasuredTerms {
    /// The step.
    pub epsilon: f64,
    /// `½ Tr(∇²log p(x0)·diag(σ²_ood − σ²_reference))` (Hutchinson), nats.
    pub variance_term: Estimate,
    /// The terms from the difference of the means, which the paper assumes away.
    pub mean_shift: MeanShiftTerms,
    /// `variance_term + mean_shift`: the full second-order prediction, nats.
    pub predicted_gap: f64,
}

/// Predicted against measured likelihood gap for one OOD set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecondOrder {
    /// The OOD set.
    pub ood: String,
    /// Measured `E_ood[log p] − E_reference[log p]` from the scores, nats.
    pub measured_gap: f64,
    /// Measured `E_ood[log p] − E_test[log p]`, nats.
    pub measured_gap_vs_test: f64,
    /// The paper's closed form (constant-volume flows only).
    pub closed_form: Option<ClosedForm>,
    /// The variance term of the model without its coupling networks (the linear flow the
    /// closed form describes), at the first step.
    pub linear_flow_variance_term: Estimate,
    /// The terms on the model itself, one entry per step.
    pub measured_terms: Vec<MeasuredTerms>,
}

/// One graying level.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GrayPoint {
    /// Blend weight toward mid-gray: `x_α = round((1 − α)·x + α·128)`.
    pub alpha: f64,
    /// Images scored.
    pub images: usize,
    /// Mean `log p`, nats.
    pub mean_log_p: f64,
    /// Mean bits per dimension.
    pub mean_bpd: f64,
}

/// A set's likelihood as its images are grayed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrayCurve {
    /// The set.
    pub set: String,
    /// From `α = 0` to `α = 1`.
    pub points: Vec<GrayPoint>,
}

/// The analysis of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunAnalysis {
    /// The run folder.
    pub run: PathBuf,
    /// `glow` or `cv-glow`.
    pub model: String,
    /// File-name stem of its figures.
    pub stem: String,
    /// Whether the log-determinant is the same for every input.
    pub constant_volume: bool,
    /// The two terms per set (reference, test, OOD sets).
    pub terms: Vec<TermSummary>,
    /// One entry per OOD set (flows only).
    pub second_order: Vec<SecondOrder>,
    /// The test set's curve, then each OOD set's.
    pub graying: Vec<GrayCurve>,
    /// `dynamics.csv`, empty when training monitored no set.
    pub dynamics: Vec<DynamicsRow>,
}

/// Set `spec`, a folder brought to the model's `shape`.
fn load(
    spec: &SetSpec,
    data: &DataSource,
    seed: u64,
    shape: [usize; 3],
) -> Result<ImageSet, LabError> {
    let mut set = spec.load(data, seed, Conform::to(shape))?;
    set.name = spec.label();
    Ok(set)
}

fn set_moments(set: &ImageSet) -> Result<(SetMoments, Moments), LabError> {
    let m = Moments::of(set).ok_or_else(|| LabError::set(&set.name, "no images"))?;
    let plane = m.shape[1] * m.shape[2];
    let sums = m.variance.chunks(plane).map(|c| c.iter().sum()).collect();
    let out = SetMoments {
        set: set.name.clone(),
        images: m.count,
        shape: m.shape,
        mean: m.mean.clone(),
        variance: m.variance.clone(),
        variance_sum_per_channel: sums,
    };
    Ok((out, m))
}

/// Reads the run's scores of each set, first scoring (at most `eval_limit` images of) the sets
/// it has none for.
fn scores_of(
    options: &AnalysisOptions,
    run_path: &Path,
    sets: &[SetSpec],
    context: &Context,
    progress: &mut dyn Progress,
) -> Result<Vec<(String, Vec<ExampleScore>)>, LabError> {
    let run = RunDir::new(run_path);
    let mut missing = Vec::new();
    for set in sets {
        if !run.scores(&set.label()).exists() {
            missing.push(set.clone());
        }
    }
    if !missing.is_empty() {
        let eval = EvalOptions {
            limit: Some(options.eval_limit),
            batch_size: BATCH,
            iw_samples: options.iw_samples,
            seed: options.seed,
            threads: options.threads,
            shard: None,
            detectors: true,
        };
        evaluate_sets(run_path, &missing, context, &eval, progress)?;
    }
    sets.iter()
        .map(|set| {
            let scores = read_scores(&run, &set.label())?;
            Ok((set.label(), scores))
        })
        .collect()
}

/// The flow's two terms on a set; `None` for models that are not flows.
fn term_summary(set: &str, scores: &[ExampleScore]) -> Option<TermSummary> {
    let column = |name: &str| -> Option<Vec<f64>> { scores.iter().map(|s| s.part(name)).collect() };
    let (prior, det) = (column(part::LOG_PRIOR)?, column(part::LOG_DET)?);
    Some(TermSummary {
        set: set.into(),
        images: scores.len(),
        log_p: Spread::of(scores.iter().map(|s| s.log_p)),
        log_prior: Spread::of(prior.into_iter()),
        log_det: Spread::of(det.into_iter()),
    })
}

/// The expansion point and the paper's terms for one OOD set, on the flow's input scale. `flow`
/// computes in `f64`: second differences of an `f32` log-density of magnitude ~10³ would be
/// mostly rounding noise.
fn second_order(
    options: &AnalysisOptions,
    flow: &MultiScaleFlow,
    constant_volume: bool,
    reference: &Moments,
    ood: &Moments,
    measured: (f64, f64),
    ood_name: &SetSpec,
) -> SecondOrder {
    let [c, h, w] = reference.shape;
    let x0_values: Vec<f64> = reference
        .mean
        .iter()
        .map(|&m| dequantized_mean(m))
        .collect();
    let device = flow.top.mean.val().device();
    let x0 = Tensor::from_data(
        TensorData::new(x0_values, [1, c, h, w]),
        (&device, DType::F64),
    );
    let delta: Vec<f64> = ood
        .variance
        .iter()
        .zip(&reference.variance)
        .map(|(q, p)| dequantized_variance(*q) - dequantized_variance(*p))
        .collect();
    let shift: Vec<f64> = ood
        .mean
        .iter()
        .zip(&reference.mean)
        .map(|(q, p)| dequantized_mean(*q) - dequantized_mean(*p))
        .collect();
    let closed_form = constant_volume.then(|| {
        let curvature = paper_curvature(flow, &x0);
        let plane = h * w;
        let per_channel = |ch: usize| ch * plane..(ch + 1) * plane;
        ClosedForm {
            gap: closed_form_gap(&curvature, &delta),
            gap_per_channel: (0..c)
                .map(|ch| closed_form_gap(&curvature[per_channel(ch)], &delta[per_channel(ch)]))
                .collect(),
            mean_curvature_per_channel: (0..c)
                .map(|ch| curvature[per_channel(ch)].iter().sum::<f64>() / plane as f64)
                .collect(),
        }
    });
    // The same probes for every step and for the linear flow, so they differ only in what
    // they measure.
    let probes = || StdRng::seed_from_u64(options.seed);
    let linear = without_coupling_networks(flow);
    let linear_flow_variance_term = hutchinson_half_trace(
        |x| linear.log_density(x),
        &x0,
        &delta,
        options.probes,
        options.epsilon[0],
        &mut probes(),
    );
    let measured_terms = options
        .epsilon
        .iter()
        .map(|&epsilon| {
            let log_density = |x| flow.log_density(x);
            let variance_term = hutchinson_half_trace(
                log_density,
                &x0,
                &delta,
                options.probes,
                epsilon,
                &mut probes(),
            );
            let mean_shift = mean_shift_terms(log_density, &x0, &shift, epsilon);
            MeasuredTerms {
                epsilon,
                variance_term,
                mean_shift,
                predicted_gap: variance_term.mean
                    + mean_shift.first_order
                    + mean_shift.second_order,
            }
        })
        .collect();
    SecondOrder {
        ood: ood_name.label(),
        measured_gap: measured.0,
        measured_gap_vs_test: measured.1,
        closed_form,
        linear_flow_variance_term,
        measured_terms,
    }
}

/// Mean likelihood of (a seeded subset of) each of `sets` blended toward gray at each level.
/// Every (set, level) is one batch, handed to whichever worker is free; a batch's scores do
/// not depend on the worker, so the curves do not depend on the thread count.
fn gray_curves(
    options: &AnalysisOptions,
    model: &Model,
    sets: &[ImageSet],
    device: &Device,
) -> Vec<GrayCurve> {
    let steps = options.gray_steps.max(2);
    let alpha = |level: usize| level as f64 / (steps - 1) as f64;
    let grayed: Vec<ImageSet> = sets
        .iter()
        .flat_map(|set| {
            let mut rng = StdRng::seed_from_u64(options.seed);
            let subset = set.select(&set.sample_indices(options.gray_limit, &mut rng), &set.name);
            (0..steps)
                .map(|level| Synthetic::Gray(alpha(level)).apply(&subset, &mut rng))
                .collect::<Vec<_>>()
        })
        .collect();
    let bound = model.bound(options.iw_samples).name();
    let mut points = Vec::with_capacity(grayed.len());
    for_each_batch(
        grayed.len(),
        options.threads,
        &|i| {
            let scores = evaluate(
                model,
                &grayed[i],
                BATCH,
                options.iw_samples,
                options.seed,
                1,
                device,
            );
            summarize(&grayed[i].name, &bound, &scores)
        },
        &mut |i, summary| {
            points.push(GrayPoint {
                alpha: alpha(i % steps),
                images: summary.count,
                mean_log_p: summary.mean_log_p,
                mean_bpd: summary.mean_bpd,
            })
        },
    );
    let mut points = points.into_iter();
    sets.iter()
        .map(|set| GrayCurve {
            set: set.name.clone(),
            points: points.by_ref().take(steps).collect(),
        })
        .collect()
}

fn mean_log_p(scores: &[ExampleScore]) -> f64 {
    scores.iter().map(|s| s.log_p).sum::<f64>() / scores.len().max(1) as f64
}

/// Runs every part of the analysis of `runs` (trained on the same kind of data) on the
/// in-distribution test set `in_dist` and the `ood` sets, scoring sets a run has no scores
/// for (at most `options.eval_limit` images each) into that run.
pub fn analyze(
    runs: &[PathBuf],
    in_dist: &SetSpec,
    ood: &[SetSpec],
    options: &AnalysisOptions,
    context: &Context,
    progress: &mut dyn Progress,
) -> Result<Analyzed, LabError> {
    let (data, device) = (&context.data, &context.device);
    if options.epsilon.is_empty() || options.epsilon.iter().any(|e| e.is_nan() || *e <= 0.0) {
        return Err(LabError::Invalid {
            what: "epsilon",
            reason: format!(
                "the finite-difference steps must be positive, got {:?}",
                options.epsilon
            ),
        });
    }
    let Some(first) = runs.first() else {
        return Err(LabError::Invalid {
            what: "runs",
            reason: "name at least one run to analyse".into(),
        });
    };
    let first = RunDir::new(first).read_config()?;
    let reference_spec = match &options.reference {
        Some(reference) => reference.clone(),
        None => SetSpec::parse(&first.data)?,
    };
    let mut specs = vec![reference_spec.clone(), in_dist.clone()];
    specs.extend(ood.iter().cloned());
    let sets: Vec<ImageSet> = specs
        .iter()
        .map(|s| load(s, data, options.seed, first.model.image().dims()))
        .collect::<Result<_, _>>()?;
    if let Some(odd) = sets.iter().find(|s| s.shape != sets[0].shape) {
        return Err(LabError::set(
            &odd.name,
            format!(
                "images are {:?}, {} has {:?}",
                odd.shape, sets[0].name, sets[0].shape
            ),
        ));
    }
    let (moments, raw): (Vec<SetMoments>, Vec<Moments>) = sets
        .iter()
        .map(set_moments)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let variance_gaps = ood
        .iter()
        .zip(&raw[2..])
        .map(|(ood, m)| VarianceGap {
            ood: ood.label(),
            per_channel: raw[0].variance_gap_per_channel(m),
        })
        .collect();

    let mut analyses = Vec::new();
    let mut all_scores = Vec::new();
    for run_path in runs {
        let run = RunDir::new(run_path);
        let (config, model) = run.load_model(device)?;
        if model.image_dims() != sets[0].shape {
            return Err(RunError::Config {
                path: run.config(),
                reason: format!(
                    "the model scores {:?} images, the sets are {:?}",
                    model.image_dims(),
                    sets[0].shape
                ),
            }
            .into());
        }
        let label = config.model.label();
        let stem = run_path
            .file_name()
            .map_or("run".into(), |n| n.to_string_lossy().into_owned());
        progress.note(&format!(
            "{label} ({}): terms and second order",
            run_path.display()
        ));
        let scores = scores_of(options, run_path, &specs, context, progress)?;
        let constant_volume = model.is_constant_volume();
        let second_order = match model.flow() {
            Some(flow) => {
                let flow = cast_parameters(flow.clone(), FloatDType::F64);
                (0..ood.len())
                    .map(|k| {
                        let ood_log_p = mean_log_p(&scores[2 + k].1);
                        let measured = (
                            ood_log_p - mean_log_p(&scores[0].1),
                            ood_log_p - mean_log_p(&scores[1].1),
                        );
                        second_order(
                            options,
                            &flow,
                            constant_volume,
                            &raw[0],
                            &raw[2 + k],
                            measured,
                            &ood[k],
                        )
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        progress.note(&format!("{label} ({}): graying", run_path.display()));
        let graying = gray_curves(options, &model, &sets[1..], device);
        let dynamics_path = run.dynamics();
        let dynamics = if dynamics_path.exists() {
            read_dynamics_csv(&dynamics_path).map_err(|reason| RunError::Config {
                path: dynamics_path.clone(),
                reason,
            })?
        } else {
            Vec::new()
        };
        analyses.push(RunAnalysis {
            run: run_path.clone(),
            model: label.into(),
            stem,
            constant_volume,
            terms: scores
                .iter()
                .filter_map(|(s, v)| term_summary(s, v))
                .collect(),
            second_order,
            graying,
            dynamics,
        });
        all_scores.push(scores);
    }
    Ok(Analyzed {
        analysis: Analysis {
            reference: reference_spec.label(),
            in_dist: in_dist.label(),
            ood: SetSpec::labels(ood),
            moments,
            variance_gaps,
            runs: analyses,
        },
        scores: all_scores,
    })
}
