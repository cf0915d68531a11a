//! The paper's second-order account of which data set a flow finds more likely (Nalisnick et
//! al. 2019, section 5), in closed form and measured numerically on the model itself.
//!
//! Expanding `log p` around `x0` and taking expectations under two data distributions with the
//! same mean gives `E_q[log p] − E_p[log p] ≈ ½ Tr(∇²log p(x0) · (Σ_q − Σ_p))`; with per-pixel
//! (diagonal) covariances that is `½ Σ_d H_dd Δ_d`, `Δ_d = σ²_q,d − σ²_p,d`.
//!
//! **How the paper's CV-Glow formula maps onto this implementation** ([`paper_curvature`]).
//! The paper writes `H_dd ≈ −(1/σ²) (Π_k Σ_j u_{k,c,j})²` for a dimension in channel `c`,
//! with `u_k` the `K` 1×1 convolutions and `σ²` the latent variance. Here:
//! - a step's actnorm and 1×1 convolution form one 1×1 convolution `u_k = W_k · diag(e^{s_k})`
//!   (actnorm scales its input channels before `W_k` mixes them); `Σ_j u_{k,c,j}` is row `c`
//!   of that matrix, summed;
//! - the channel `c` a dimension occupies changes with the multi-scale structure: each level's
//!   squeeze moves pixel `(c, y, x)` to channel `4c + 2(y mod 2) + (x mod 2)` at `(y/2, x/2)`,
//!   and the product runs over the steps of every level the dimension passes through;
//! - `σ²` is the variance of the latent the dimension ends in: a split's factored-out half
//!   (its conditional standard deviation read at `x0`) or the top latent (the learned
//!   per-channel standard deviation);
//! - additive couplings are left out, as in the paper (their Jacobian is unit triangular, and
//!   the networks' contribution to the curvature is what the approximation drops).
//!
//! The closed form is exact when every combined 1×1 convolution is diagonal, the couplings are
//! the identity and the split priors do not depend on the kept half; otherwise it is the
//! paper's approximation, and [`hutchinson_half_trace`] measures the real term.

use burn::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::bijector::Bijector;
use crate::host::to_f64_vec;
use crate::multiscale::MultiScaleFlow;
use crate::squeeze::Squeeze;

/// Points evaluated per batch by the numerical estimators.
const BATCH: usize = 128;

/// What the closed form needs from one level, read off the flow at `x0`.
struct LevelFactors {
    /// Channels after the squeeze.
    channels: usize,
    /// Height and width after the squeeze.
    size: [usize; 2],
    /// For each step, the row sums of `W · diag(e^s)`, one per channel.
    row_sums: Vec<Vec<f64>>,
    /// Log-std of the factored-out half at `x0` (`[C/2, H, W]`), or of the top latent per
    /// channel for the top level.
    log_std: Vec<f64>,
}

fn level_factors(flow: &MultiScaleFlow, x0: Tensor<4>) -> Vec<LevelFactors> {
    let mut h = x0;
    let mut factors = Vec::with_capacity(flow.levels.len());
    for level in &flow.levels {
        h = Squeeze.forward(h).0;
        let [_, channels, height, width] = h.dims();
        let mut row_sums = Vec::with_capacity(level.steps.len());
        for step in &level.steps {
            let scales: Vec<f64> = to_f64_vec(step.actnorm.log_scale.val())
                .into_iter()
                .map(f64::exp)
                .collect();
            let weight = step.invconv.weight_host();
            row_sums.push(
                weight
                    .chunks(channels)
                    .map(|row| row.iter().zip(&scales).map(|(w, s)| w * s).sum())
                    .collect(),
            );
            h = step.forward(h).0;
        }
        let log_std = match &level.split {
            Some(split) => {
                let kept = h.narrow(1, 0, channels / 2);
                let (_, log_std) = split.conditional(kept.clone());
                h = kept;
                to_f64_vec(log_std)
            }
            None => to_f64_vec(flow.top.log_std.val()),
        };
        factors.push(LevelFactors {
            channels,
            size: [height, width],
            row_sums,
            log_std,
        });
    }
    factors
}

/// The paper's closed-form curvature `−H_dd ≥ 0` at `x0` (`[1, C, H, W]`, the flow's input
/// scale) for every input dimension, in `C·H·W` order (see the module documentation).
pub fn paper_curvature(flow: &MultiScaleFlow, x0: &Tensor<4>) -> Vec<f64> {
    let [n, c, height, width] = x0.dims();
    assert_eq!(n, 1, "the expansion point is one image");
    let levels = level_factors(flow, x0.clone());
    let mut curvature = Vec::with_capacity(c * height * width);
    for channel in 0..c {
        for y in 0..height {
            for x in 0..width {
                let (mut ch, mut yy, mut xx) = (channel, y, x);
                let mut factor = 1.0;
                for (i, level) in levels.iter().enumerate() {
                    ch = 4 * ch + 2 * (yy % 2) + xx % 2;
                    (yy, xx) = (yy / 2, xx / 2);
                    for sums in &level.row_sums {
                        factor *= sums[ch] * sums[ch];
                    }
                    let [lh, lw] = level.size;
                    let is_top = i + 1 == levels.len();
                    let log_std = if is_top {
                        Some(level.log_std[ch])
                    } else {
                        let half = level.channels / 2;
                        (ch >= half).then(|| level.log_std[((ch - half) * lh + yy) * lw + xx])
                    };
                    if let Some(log_std) = log_std {
                        factor *= (-2.0 * log_std).exp();
                        break;
                    }
                }
                curvature.push(factor);
            }
        }
    }
    curvature
}

/// `flow` with every coupling network's output convolution set to zero, so each coupling is
/// the identity (additive) or a constant scaling (affine): the linear flow, of actnorms, 1×1
/// convolutions and squeezes, that the paper's closed form describes.
pub fn without_coupling_networks(flow: &MultiScaleFlow) -> MultiScaleFlow {
    let mut flow = flow.clone();
    for level in &mut flow.levels {
        for step in &mut level.steps {
            let out = &mut step.coupling.net.conv_out.conv;
            out.weight = out.weight.clone().map(|w| w.zeros_like());
            out.bias = out.bias.clone().map(|b| b.zeros_like());
        }
    }
    flow
}

/// `½ Σ_d H_dd Δ_d` with `H_dd = −curvature_d`: the closed form's predicted
/// `E_q[log p] − E_p[log p]` for variance differences `Δ = σ²_q − σ²_p`.
pub fn closed_form_gap(curvature: &[f64], variance_difference: &[f64]) -> f64 {
    assert_eq!(curvature.len(), variance_difference.len());
    -0.5 * curvature
        .iter()
        .zip(variance_difference)
        .map(|(c, d)| c * d)
        .sum::<f64>()
}

/// A Monte Carlo estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The sample mean.
    pub mean: f64,
    /// Its standard error (`std / √probes`).
    pub std_error: f64,
    /// Random probe vectors averaged.
    pub probes: usize,
}

/// Evaluates `log_density` at host points shaped like `x0`, on its device and in its float
/// dtype, in batches.
fn evaluate_points(
    log_density: &impl Fn(Tensor<4>) -> Tensor<1>,
    points: &[Vec<f64>],
    x0: &Tensor<4>,
) -> Vec<f64> {
    let [_, c, h, w] = x0.dims();
    let device = x0.device();
    let mut values = Vec::with_capacity(points.len());
    for chunk in points.chunks(BATCH) {
        let flat: Vec<f64> = chunk.concat();
        let data = burn::tensor::TensorData::new(flat, [chunk.len(), c, h, w]);
        let batch = Tensor::from_data(data, (&device, x0.dtype()));
        values.extend(to_f64_vec(log_density(batch)));
    }
    values
}

fn offset(x0: &[f64], direction: &[f64], step: f64) -> Vec<f64> {
    x0.iter()
        .zip(direction)
        .map(|(x, u)| x + step * u)
        .collect()
}

/// Hutchinson's estimate of `½ Tr(∇²f(x0) · diag(Δ))` for `f = log_density`, from
/// `probes` Rademacher vectors `v`.
///
/// `diag(Δ) = D₊ − D₋` with `D±` non-negative, so with `u± = √D± · v` each probe contributes
/// `½ (u₊ᵀ H u₊ − u₋ᵀ H u₋)`, whose expectation is the target; each quadratic form is a central
/// second difference of `f` along `u` with step `epsilon`. `x0` (`[1, C, H, W]`) and `Δ`
/// (flattened in `C·H·W` order) are on the flow's input scale.
pub fn hutchinson_half_trace(
    log_density: impl Fn(Tensor<4>) -> Tensor<1>,
    x0: &Tensor<4>,
    delta: &[f64],
    probes: usize,
    epsilon: f64,
    rng: &mut impl Rng,
) -> Estimate {
    let center = to_f64_vec(x0.clone());
    assert_eq!(center.len(), delta.len());
    assert!(probes >= 2, "a standard error needs two probes");
    let positive: Vec<f64> = delta.iter().map(|d| d.max(0.0).sqrt()).collect();
    let negative: Vec<f64> = delta.iter().map(|d| (-d).max(0.0).sqrt()).collect();
    let mut points = Vec::with_capacity(4 * probes);
    for _ in 0..probes {
        let signs: Vec<f64> = (0..center.len())
            .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect();
        for root in [&positive, &negative] {
            let u: Vec<f64> = root.iter().zip(&signs).map(|(r, s)| r * s).collect();
            points.push(offset(&center, &u, epsilon));
            points.push(offset(&center, &u, -epsilon));
        }
    }
    let f = evaluate_points(&log_density, &points, x0);
    // f(x0) appears in both second differences and cancels.
    let samples: Vec<f64> = f
        .chunks(4)
        .map(|q| 0.5 * ((q[0] + q[1]) - (q[2] + q[3])) / (epsilon * epsilon))
        .collect();
    let mean = samples.iter().sum::<f64>() / probes as f64;
    let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (probes - 1) as f64;
    Estimate {
        mean,
        std_error: (var / probes as f64).sqrt(),
        probes,
    }
}

/// The terms a shift of the mean adds to the expansion, which the paper's formula assumes
/// away: `E_q[log p] − E_p[log p]` also gains `∇f(x0)ᵀδ + ½ δᵀ∇²f(x0) δ` when `E_q[x] − E_p[x]
/// = δ` and `x0 = E_p[x]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanShiftTerms {
    /// `∇f(x0)ᵀδ`, by a central first difference.
    pub first_order: f64,
    /// `½ δᵀ∇²f(x0) δ`, by a central second difference.
    pub second_order: f64,
}

/// [`MeanShiftTerms`] of `f = log_density` at `x0` for the shift `delta`, with step `epsilon`.
pub fn mean_shift_terms(
    log_density: impl Fn(Tensor<4>) -> Tensor<1>,
    x0: &Tensor<4>,
    delta: &[f64],
    epsilon: f64,
) -> MeanShiftTerms {
    let center = to_f64_vec(x0.clone());
    let points = [
        offset(&center, delta, epsilon),
        center.clone(),
        offset(&center, delta, -epsilon),
    ];
    let f = evaluate_points(&log_density, &points, x0);
    MeanShiftTerms {
        first_order: (f[0] - f[2]) / (2.0 * epsilon),
        second_order: 0.5 * (f[0] - 2.0 * f[1] + f[2]) / (epsilon * epsilon),
    }
}
