//! The multi-scale flow with every actnorm folded into its neighbouring linear map.
//!
//! An actnorm is an affine map per channel, so it composes with a convolution into one
//! convolution with a bias: a step's actnorm goes into its 1×1 convolution
//! (`W·((x + b)·eˢ) = (W·diag(eˢ))·x + W·diag(eˢ)·b`), each coupling network's actnorms into the
//! convolution before them, and each zero convolution's output scale `exp(3·logs)` into its own
//! weights. The activations then pass through three convolutions per coupling network and one
//! per step, and the constant log-determinants of all steps (actnorm and 1×1 convolution) are
//! one scalar per level, added once per batch.
//!
//! Folding is differentiable: training folds on every step, so gradients reach the original
//! parameters; evaluation folds once per model ([`MultiScaleFlow::fold`]) and reuses the result
//! for every batch. The unfolded layers stay the reference the tests compare against.

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::relu;

use crate::Bijector;
use crate::actnorm::ActNorm;
use crate::bijector::{channel_halves, per_example_sum, zeros_like_batch};
use crate::conv::conv2d_same;
use crate::coupling::{Conv, Coupling, CouplingKind, ZeroConv};
use crate::multiscale::{FlowOutput, FlowStep, MultiScaleFlow, Precision};
use crate::prior::{SplitPrior, TopPrior, gaussian_log_densities};
use crate::squeeze::Squeeze;

/// A `k × k` convolution with `same` padding and a bias, as plain tensors.
#[derive(Debug, Clone)]
pub struct AffineConv {
    /// `[out, in, k, k]`.
    pub weight: Tensor<4>,
    /// `[out]`.
    pub bias: Tensor<1>,
}

impl AffineConv {
    /// Applies the convolution.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d_same(x, self.weight.clone(), self.bias.clone())
    }

    /// `conv` followed by a per-output-channel scale `exp(log_scale)` after adding `shift`:
    /// `(conv(x) + shift)·exp(log_scale)`, both `[out]`.
    fn scaled(conv: &Conv, shift: Option<Tensor<1>>, log_scale: Tensor<1>) -> Self {
        let scale = log_scale.exp();
        let out = scale.dims()[0];
        let bias = match shift {
            Some(shift) => conv.bias.val() + shift,
            None => conv.bias.val(),
        };
        Self {
            weight: conv.weight.val() * scale.clone().reshape([out, 1, 1, 1]),
            bias: bias * scale,
        }
    }

    /// A convolution followed by an actnorm.
    fn with_actnorm(conv: &Conv, norm: &ActNorm) -> Self {
        let c = norm.bias.val().dims()[1];
        Self::scaled(
            conv,
            Some(norm.bias.val().reshape([c])),
            norm.log_scale.val().reshape([c]),
        )
    }

    /// A zero convolution with its output scale `exp(3·logs)`.
    fn zero_conv(conv: &ZeroConv) -> Self {
        let c = conv.logs.val().dims()[1];
        Self::scaled(&conv.conv, None, conv.output_log_scale().reshape([c]))
    }

    /// The same convolution with weights and bias in `dtype`.
    fn cast(self, dtype: FloatDType) -> Self {
        Self {
            weight: self.weight.cast(dtype),
            bias: self.bias.cast(dtype),
        }
    }
}

/// One step of flow, folded: a 1×1 convolution with a bias, then the coupling.
#[derive(Debug, Clone)]
pub struct FoldedStep {
    /// Actnorm and the invertible 1×1 convolution as one map.
    pub mix: AffineConv,
    /// The coupling network's three convolutions.
    pub net: [AffineConv; 3],
    /// Their float type, when it is not the model's own (mixed precision).
    pub net_dtype: Option<FloatDType>,
    /// Affine or additive.
    pub kind: CouplingKind,
    /// `log|det|` of actnorm and the 1×1 convolution at one pixel position, `[1]`.
    pub log_det_per_pixel: Tensor<1>,
}

impl FoldedStep {
    /// Folds `step`'s actnorms into its convolutions, the coupling network's in `precision`.
    pub fn new(step: &FlowStep, precision: Precision) -> Self {
        let norm = &step.actnorm;
        let c = norm.bias.val().dims()[1];
        let scale = norm.log_scale.val().reshape([1, c]).exp();
        let weight = step.invconv.weight() * scale;
        let bias = weight
            .clone()
            .matmul(norm.bias.val().reshape([c, 1]))
            .reshape([c]);
        let net = &step.coupling.net;
        Self {
            mix: AffineConv {
                weight: weight.reshape([c, c, 1, 1]),
                bias,
            },
            net: [
                AffineConv::with_actnorm(&net.conv_in, &net.norm_in),
                AffineConv::with_actnorm(&net.conv_hidden, &net.norm_hidden),
                AffineConv::zero_conv(&net.conv_out),
            ]
            .map(|conv| match precision.network_dtype() {
                Some(dtype) => conv.cast(dtype),
                None => conv,
            }),
            net_dtype: precision.network_dtype(),
            kind: step.coupling.kind,
            log_det_per_pixel: norm.log_scale.val().sum() + step.invconv.log_s.val().sum(),
        }
    }

    /// The step's output and the input-dependent part of its log-determinant (the coupling's;
    /// `None` for an additive coupling).
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Option<Tensor<1>>) {
        let h = self.mix.forward(x);
        let (passive, active) = channel_halves(h);
        let [conv_in, conv_hidden, conv_out] = &self.net;
        let network = |x| conv_out.forward(relu(conv_hidden.forward(relu(conv_in.forward(x)))));
        let net = match self.net_dtype {
            Some(dtype) => network(passive.clone().cast(dtype)).cast(passive.dtype()),
            None => network(passive.clone()),
        };
        let (active, log_det) = Coupling::couple(self.kind, active, net);
        (Tensor::cat(vec![passive, active], 1), log_det)
    }
}

/// One level of the folded flow.
#[derive(Debug, Clone)]
pub struct FoldedLevel {
    /// The folded steps.
    pub steps: Vec<FoldedStep>,
    /// The split prior's convolution, output scale folded in; `None` at the top.
    pub split: Option<AffineConv>,
    /// `Σ` of the steps' per-pixel constant log-determinants, `[1]`.
    pub log_det_per_pixel: Tensor<1>,
}

/// A [`MultiScaleFlow`] in the normalising direction with its actnorms folded away.
#[derive(Debug, Clone)]
pub struct FoldedFlow {
    /// The levels, bottom first.
    pub levels: Vec<FoldedLevel>,
    /// The top prior.
    pub top: TopPrior,
}

impl MultiScaleFlow {
    /// The normalising direction with the prior and volume terms kept apart, computed on the
    /// folded flow in the flow's training precision; folding is differentiable, so this is the
    /// training path.
    pub fn forward(&self, x: Tensor<4>) -> FlowOutput {
        FoldedFlow::new(self, self.precision).forward(x)
    }

    /// The flow with its actnorms folded into the neighbouring convolutions, in f32 whatever
    /// the training precision: build it once and reuse it across batches while the
    /// parameters do not change (evaluation).
    pub fn fold(&self) -> FoldedFlow {
        FoldedFlow::new(self, Precision::F32)
    }
}

impl FoldedFlow {
    /// Folds every step and split of `flow`, the coupling networks in `precision`.
    pub fn new(flow: &MultiScaleFlow, precision: Precision) -> Self {
        let levels = flow
            .levels
            .iter()
            .map(|level| {
                let steps: Vec<FoldedStep> = level
                    .steps
                    .iter()
                    .map(|s| FoldedStep::new(s, precision))
                    .collect();
                let log_det_per_pixel = steps
                    .iter()
                    .map(|s| s.log_det_per_pixel.clone())
                    .reduce(|a, b| a + b)
                    .expect("a level has at least one step");
                FoldedLevel {
                    steps,
                    split: level.split.as_ref().map(|s| AffineConv::zero_conv(&s.conv)),
                    log_det_per_pixel,
                }
            })
            .collect();
        Self {
            levels,
            top: flow.top.clone(),
        }
    }

    /// The normalising direction, as [`MultiScaleFlow::forward`] computes it.
    pub fn forward(&self, x: Tensor<4>) -> FlowOutput {
        self.normalise(x, false).0
    }

    /// `log p_z(f(x))` by pixel, `[B, H, W]`: each latent entry's log-density, summed over its
    /// channels, spread evenly over the `2^l × 2^l` pixels its position at level `l` was
    /// squeezed from. Each image's map sums to its `log_prior`. The latents' positions follow
    /// the squeezes; the coupling networks' 3×3 convolutions let each also depend on the
    /// pixels around its block.
    pub fn log_prior_map(&self, x: Tensor<4>) -> Tensor<3> {
        self.normalise(x, true).1.expect("asked for the map")
    }

    /// The normalising direction, and with `map` the prior term by pixel.
    fn normalise(&self, x: Tensor<4>, map: bool) -> (FlowOutput, Option<Tensor<3>>) {
        let [n, _, full_height, full_width] = x.dims();
        let mut prior_map: Option<Tensor<3>> = None;
        let mut add_to_map = |densities: Tensor<4>| {
            let [_, _, height, width] = densities.dims();
            let block = full_height / height;
            let spread = densities
                .sum_dim(1)
                .reshape([n, height, 1, width, 1])
                .expand([n, height, block, width, block])
                .reshape([n, full_height, full_width])
                .div_scalar((block * block) as f64);
            prior_map = Some(match prior_map.take() {
                Some(total) => total + spread,
                None => spread,
            });
        };
        let mut log_prior = zeros_like_batch(&x);
        let mut coupling_log_det: Option<Tensor<1>> = None;
        let mut constant: Option<Tensor<1>> = None;
        let mut latents = Vec::with_capacity(self.levels.len());
        let mut h = x;
        for level in &self.levels {
            h = Squeeze.forward(h).0;
            let [_, _, height, width] = h.dims();
            let level_constant = level
                .log_det_per_pixel
                .clone()
                .mul_scalar((height * width) as f64);
            constant = Some(match constant {
                Some(c) => c + level_constant,
                None => level_constant,
            });
            for step in &level.steps {
                let (out, step_log_det) = step.forward(h);
                h = out;
                if let Some(d) = step_log_det {
                    coupling_log_det = Some(match coupling_log_det {
                        Some(total) => total + d,
                        None => d,
                    });
                }
            }
            if let Some(conv) = &level.split {
                let (kept, factored) = channel_halves(h);
                let (mean, log_std) = SplitPrior::mean_and_log_std(conv.forward(kept.clone()));
                let densities = gaussian_log_densities(factored.clone(), mean, log_std);
                log_prior = log_prior + per_example_sum(densities.clone());
                if map {
                    add_to_map(densities);
                }
                latents.push(factored);
                h = kept;
            }
        }
        let densities = self.top.log_probs(h.clone());
        log_prior = log_prior + per_example_sum(densities.clone());
        if map {
            add_to_map(densities);
        }
        latents.push(h);
        let constant = constant.expect("a flow has at least one level").expand([n]);
        let output = FlowOutput {
            latents,
            log_prior,
            log_det: match coupling_log_det {
                Some(d) => d + constant,
                None => constant,
            },
        };
        (output, prior_map)
    }
}
