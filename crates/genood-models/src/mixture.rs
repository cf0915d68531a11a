//! The discretised logistic mixture likelihood of PixelCNN++ (Salimans et al. 2017), exact over
//! the 256 levels of each sub-pixel.
//!
//! Pixel value `v ∈ {0..255}` is placed at `x = v/127.5 − 1 ∈ [−1, 1]`; its bin is
//! `[x − 1/255, x + 1/255]`, except the edge bins, which take all the mass below (`v = 0`) or
//! above (`v = 255`), so the 256 probabilities of each logistic sum to exactly 1. For RGB the
//! means are autoregressive over channels within each component: `μ_G += c₀·x_R`,
//! `μ_B += c₁·x_R + c₂·x_G`, with `c = tanh(·)`.

use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, log_softmax, tanh};
use rand::Rng;

/// Lower bound on log-scales, as in the reference implementation: below it a bin of width
/// 2/255 already holds all the mass, and gradients of smaller scales only add noise.
pub const MIN_LOG_SCALE: f64 = -7.0;

/// Below this `|d|`, `log(1 − e^d)` is computed from the series of `−expm1(d)`, where
/// `1 − e^d` would lose digits to cancellation.
const SERIES_BELOW: f64 = 0.1;

/// Output channels the mixture needs for `channels` colour channels and `mixtures` components:
/// logits, then means and log-scales per channel, then `C(C−1)/2` coefficients per component.
pub fn parameter_count(channels: usize, mixtures: usize) -> usize {
    mixtures * (1 + 2 * channels + channels * (channels - 1) / 2)
}

/// `log(1 − e^d)` for `d < 0`, accurate for small `|d|`.
fn log1m_exp(d: Tensor<5>) -> Tensor<5> {
    // −expm1(d) = −d·(1 + d/2 + d²/6 + d³/24 + d⁴/120 + …); truncation error below 2e-8 here.
    let series = d.clone().neg()
        * (d.clone().div_scalar(5.0).add_scalar(1.0) * d.clone().div_scalar(4.0))
            .add_scalar(1.0)
            .mul(d.clone().div_scalar(3.0))
            .add_scalar(1.0)
            .mul(d.clone().div_scalar(2.0))
            .add_scalar(1.0);
    let direct = d.clone().exp().neg().add_scalar(1.0);
    let small = d.abs().lower_elem(SERIES_BELOW);
    direct.mask_where(small, series).log()
}

/// The mixture's parameters, split and shaped `[B, C, M, H, W]` (logits `[B, M, H, W]`).
struct Split {
    logits: Tensor<4>,
    means: Tensor<5>,
    log_scales: Tensor<5>,
    coefficients: Option<Tensor<5>>,
}

fn split(params: Tensor<4>, channels: usize, mixtures: usize) -> Split {
    let [b, p, h, w] = params.dims();
    assert_eq!(
        p,
        parameter_count(channels, mixtures),
        "mixture parameter count"
    );
    let (c, m) = (channels, mixtures);
    let block = |from: usize, count: usize| {
        params
            .clone()
            .slice([0..b, from..from + count * m, 0..h, 0..w])
            .reshape([b, count, m, h, w])
    };
    let pairs = c * (c - 1) / 2;
    Split {
        logits: params.clone().slice([0..b, 0..m, 0..h, 0..w]),
        means: block(m, c),
        log_scales: block(m + c * m, c).clamp_min(MIN_LOG_SCALE),
        coefficients: (pairs > 0).then(|| tanh(block(m + 2 * c * m, pairs))),
    }
}

/// Adds the channel-wise autoregressive terms to the means, given the (true or sampled)
/// values `x` `[B, C, 1, H, W]` on `[−1, 1]`.
fn autoregressive_means(split: &Split, x: &Tensor<5>) -> Tensor<5> {
    let Some(coefficients) = &split.coefficients else {
        return split.means.clone();
    };
    let [b, c, m, h, w] = split.means.dims();
    let mut channels = Vec::with_capacity(c);
    let mut pair = 0;
    for ch in 0..c {
        let mut mean = split
            .means
            .clone()
            .slice([0..b, ch..ch + 1, 0..m, 0..h, 0..w]);
        for earlier in 0..ch {
            let coefficient = coefficients
                .clone()
                .slice([0..b, pair..pair + 1, 0..m, 0..h, 0..w]);
            mean = mean
                + coefficient
                    * x.clone()
                        .slice([0..b, earlier..earlier + 1, 0..1, 0..h, 0..w]);
            pair += 1;
        }
        channels.push(mean);
    }
    Tensor::cat(channels, 1)
}

/// `log P(pixels)` per image `[B]`: the sum over pixels of [`log_prob_map`].
pub fn log_prob(pixels: Tensor<4>, params: Tensor<4>, mixtures: usize) -> Tensor<1> {
    let [b, _, h, w] = pixels.dims();
    log_prob_map(pixels, params, mixtures)
        .reshape([b, h * w])
        .sum_dim(1)
        .reshape([b])
}

/// The mixture's log-probability of each pixel's sub-pixel values, `[B, H, W]`. `pixels` are
/// values 0–255 `[B, C, H, W]`; `params` come from the network, `[B, parameter_count(C, M),
/// H, W]`.
pub fn log_prob_map(pixels: Tensor<4>, params: Tensor<4>, mixtures: usize) -> Tensor<3> {
    let c = pixels.dims()[1];
    let split = split(params, c, mixtures);
    let x = pixels
        .clone()
        .div_scalar(127.5)
        .sub_scalar(1.0)
        .unsqueeze_dim::<5>(2);
    let means = autoregressive_means(&split, &x);
    let inv_scale = split.log_scales.clone().neg().exp();
    let centred = x - means;
    let upper = (centred.clone().add_scalar(1.0 / 255.0)) * inv_scale.clone();
    let lower = (centred.sub_scalar(1.0 / 255.0)) * inv_scale;
    // P(bin) = σ(upper) − σ(lower) = σ(upper) · (1 − σ(lower)) · (1 − e^(lower − upper)):
    // three logs that are each stable, instead of a difference of two sigmoids that rounds to
    // 0 in the tails. The bottom edge bin keeps only σ(upper), the top one only 1 − σ(lower).
    let values = pixels.unsqueeze_dim::<5>(2);
    let bottom = values.clone().lower_equal_elem(0.5).float();
    let top = values.greater_equal_elem(254.5).float();
    let interior = (bottom.clone() + top.clone()).neg().add_scalar(1.0);
    let log_bin = log_sigmoid(upper.clone()) * top.neg().add_scalar(1.0)
        + log_sigmoid(lower.clone().neg()) * bottom.neg().add_scalar(1.0)
        + log1m_exp(lower - upper) * interior;
    // Sum over channels inside each component, then mix: log Σ_k π_k Π_c P_k,c.
    let per_component: Tensor<4> = log_bin.sum_dim(1).squeeze_dim(1);
    let joint = per_component + log_softmax(split.logits, 1);
    log_sum_exp(joint, 1)
}

/// `log Σ exp` over `dim`, removing it.
fn log_sum_exp(x: Tensor<4>, dim: usize) -> Tensor<3> {
    let max = x.clone().max_dim(dim).detach();
    (x - max.clone())
        .exp()
        .sum_dim(dim)
        .log()
        .add(max)
        .squeeze_dim(dim)
}

/// Draws pixel values 0–255 `[B, C]` for one position from its parameters `[B, P]` (on the
/// host, in `f64`): a component from the softmax, then each channel in order from its logistic
/// with the scale multiplied by `temperature`.
pub fn sample_pixel(
    params: &[f64],
    channels: usize,
    mixtures: usize,
    temperature: f64,
    rng: &mut impl Rng,
) -> Vec<f64> {
    let (c, m) = (channels, mixtures);
    let k = draw_from_logits(&params[..m], rng);
    let mut x = Vec::with_capacity(c);
    let mut pair = 0;
    for ch in 0..c {
        let mut mean = params[m + ch * m + k];
        for earlier in &x {
            mean += params[m + 2 * c * m + pair * m + k].tanh() * earlier;
            pair += 1;
        }
        let log_scale = params[m + c * m + ch * m + k].max(MIN_LOG_SCALE);
        let u: f64 = rng.random_range(1e-5..1.0 - 1e-5);
        let value = mean + temperature * log_scale.exp() * (u.ln() - (1.0 - u).ln());
        x.push(value.clamp(-1.0, 1.0));
    }
    x.iter().map(|v| ((v + 1.0) * 127.5).round()).collect()
}

/// An index drawn with probabilities `softmax(logits)`.
pub fn draw_from_logits(logits: &[f64], rng: &mut impl Rng) -> usize {
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let mut u = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    logits.len() - 1
}
