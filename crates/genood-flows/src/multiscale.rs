//! The multi-scale architecture of RealNVP and Glow: `L` levels, each a squeeze followed by `K`
//! steps of flow (actnorm → 1×1 convolution → coupling) and, except at the top, a split whose
//! factored-out half is scored by a learned conditional prior. The flow's forward pass and its
//! folding live in [`crate::fold`], which computes on these layers.

use burn::prelude::*;
use burn::tensor::FloatDType;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::actnorm::ActNorm;
use crate::bijector::{Bijector, zeros_like_batch};
use crate::coupling::{Coupling, CouplingKind};
use crate::invconv::InvConv1x1;
use crate::prior::{SplitPrior, TopPrior};
use crate::squeeze::Squeeze;

/// The number format of the coupling networks' convolutions in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The model's own float type throughout.
    #[default]
    F32,
    /// Mixed precision: the coupling networks' convolutions take bf16 inputs and weights
    /// (backends accumulate their products in f32) and hand f32 back; actnorm, the 1×1
    /// convolutions, log-determinants, priors and log p stay in the model's float type.
    Bf16,
}

impl std::str::FromStr for Precision {
    type Err = String;

    /// `f32` or `bf16`, as serialised.
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!("unknown precision `{name}`; choose f32 or bf16")),
        }
    }
}

impl Precision {
    /// The float type of the coupling networks' convolutions, `None` for the model's own.
    pub(crate) fn network_dtype(self) -> Option<FloatDType> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(FloatDType::BF16),
        }
    }
}

/// Shape of a multi-scale flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiScaleConfig {
    /// Number of levels `L` (each halves the spatial size).
    pub levels: usize,
    /// Steps of flow `K` per level.
    pub steps_per_level: usize,
    /// Width of each coupling network.
    pub hidden_channels: usize,
    /// Affine (Glow) or additive (constant-volume Glow) couplings.
    pub coupling: CouplingKind,
    /// Number format of the coupling networks' convolutions in training (`bf16`: mixed
    /// precision); evaluation always computes in f32.
    #[serde(default)]
    pub precision: Precision,
}

/// One step of flow: actnorm, invertible 1×1 convolution, coupling.
#[derive(Module, Debug)]
pub struct FlowStep {
    /// Per-channel affine normalisation.
    pub actnorm: ActNorm,
    /// Channel mixing.
    pub invconv: InvConv1x1,
    /// Affine or additive coupling.
    pub coupling: Coupling,
}

impl FlowStep {
    fn new(
        channels: usize,
        config: &MultiScaleConfig,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        Self {
            actnorm: ActNorm::new(channels, device),
            invconv: InvConv1x1::new(channels, rng, device),
            coupling: Coupling::new(
                config.coupling,
                channels,
                config.hidden_channels,
                rng,
                device,
            ),
        }
    }

    /// Data-dependent initialisation of every actnorm in the step; returns the step's output.
    pub fn initialize(&mut self, x: Tensor<4>) -> Tensor<4> {
        let h = self.actnorm.initialize(x);
        let h = self.invconv.forward(h).0;
        self.coupling.initialize(h)
    }
}

impl Bijector for FlowStep {
    fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let (h, a) = self.actnorm.forward(x);
        let (h, b) = self.invconv.forward(h);
        let (z, c) = self.coupling.forward(h);
        (z, a + b + c)
    }

    fn inverse(&self, z: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let (h, c) = self.coupling.inverse(z);
        let (h, b) = self.invconv.inverse(h);
        let (x, a) = self.actnorm.inverse(h);
        (x, a + b + c)
    }

    fn is_constant_log_det(&self) -> bool {
        self.actnorm.is_constant_log_det()
            && self.invconv.is_constant_log_det()
            && self.coupling.is_constant_log_det()
    }
}

/// One level: squeeze, `K` steps, and a split with its conditional prior (none at the top).
#[derive(Module, Debug)]
pub struct Level {
    /// The `K` steps of flow.
    pub steps: Vec<FlowStep>,
    /// The split at the end of the level; `None` for the top level.
    pub split: Option<SplitPrior>,
}

/// What the normalising direction produces for a batch.
#[derive(Debug, Clone)]
pub struct FlowOutput {
    /// The latents, bottom level first: each split's factored-out half, then the top latent.
    pub latents: Vec<Tensor<4>>,
    /// Per-example `log p_z(f(x))`: the split priors plus the top prior (the paper's
    /// "distribution term").
    pub log_prior: Tensor<1>,
    /// Per-example `log|det ∂f/∂x|` (the paper's "volume term").
    pub log_det: Tensor<1>,
}

/// Glow's multi-scale flow over `[C, H, W]` inputs with `H` and `W` divisible by `2^L`.
#[derive(Module, Debug)]
pub struct MultiScaleFlow {
    /// The levels, bottom (full resolution) first.
    pub levels: Vec<Level>,
    /// The learned prior of the top latent.
    pub top: TopPrior,
    /// Number format of the coupling networks in [`MultiScaleFlow::forward`].
    #[module(skip)]
    pub precision: Precision,
}

impl MultiScaleFlow {
    /// A freshly initialised flow for inputs of shape `[channels, height, width]`.
    pub fn new(
        config: &MultiScaleConfig,
        input: [usize; 3],
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        assert!(
            config.levels >= 1,
            "a multi-scale flow needs at least one level"
        );
        let mut shape = input;
        let mut levels = Vec::with_capacity(config.levels);
        for level in 0..config.levels {
            shape = Squeeze::output_shape(shape);
            let channels = shape[0];
            let steps = (0..config.steps_per_level)
                .map(|_| FlowStep::new(channels, config, rng, device))
                .collect();
            let is_top = level + 1 == config.levels;
            let split = (!is_top).then(|| SplitPrior::new(channels, rng, device));
            if !is_top {
                shape[0] = channels / 2;
            }
            levels.push(Level { steps, split });
        }
        Self {
            levels,
            top: TopPrior::new(shape[0], device),
            precision: config.precision,
        }
    }

    /// Every step of flow, bottom level first.
    pub fn steps(&self) -> impl Iterator<Item = &FlowStep> {
        self.levels.iter().flat_map(|level| level.steps.iter())
    }

    /// Data-dependent initialisation of every actnorm, on one batch, in forward order.
    pub fn initialize(&mut self, x: Tensor<4>) {
        let mut h = x;
        for level in &mut self.levels {
            h = Squeeze.forward(h).0;
            for step in &mut level.steps {
                h = step.initialize(h);
            }
            if let Some(split) = &level.split {
                h = split.split(h).0;
            }
        }
    }

    /// Per-example `log q(x)` of the continuous input: the prior and volume terms summed.
    pub fn log_density(&self, x: Tensor<4>) -> Tensor<1> {
        let out = self.forward(x);
        out.log_prior + out.log_det
    }

    /// The generative direction from a full set of latents (as [`FlowOutput::latents`]), with
    /// the per-example log|det| of this inverse map.
    pub fn inverse(&self, latents: Vec<Tensor<4>>) -> (Tensor<4>, Tensor<1>) {
        assert_eq!(latents.len(), self.levels.len(), "one latent per level");
        let mut latents = latents;
        let mut h = latents.pop().expect("top latent");
        let mut log_det = zeros_like_batch(&h);
        for level in self.levels.iter().rev() {
            if level.split.is_some() {
                let factored = latents.pop().expect("one factored latent per split");
                h = Tensor::cat(vec![h, factored], 1);
            }
            for step in level.steps.iter().rev() {
                let (out, step_log_det) = step.inverse(h);
                h = out;
                log_det = log_det + step_log_det;
            }
            h = Squeeze.inverse(h).0;
        }
        (h, log_det)
    }

    /// Draws `count` inputs, every latent at `temperature` times its prior's std.
    pub fn sample(
        &self,
        count: usize,
        input: [usize; 3],
        temperature: f64,
        rng: &mut impl Rng,
    ) -> Tensor<4> {
        let [c, hgt, wid] = self.top_shape(input);
        let mut h = self.top.sample([count, c, hgt, wid], temperature, rng);
        for level in self.levels.iter().rev() {
            if let Some(split) = &level.split {
                let factored = split.sample(h.clone(), temperature, rng);
                h = Tensor::cat(vec![h, factored], 1);
            }
            for step in level.steps.iter().rev() {
                h = step.inverse(h).0;
            }
            h = Squeeze.inverse(h).0;
        }
        h
    }

    /// Shape of the top latent for inputs of shape `input`.
    pub fn top_shape(&self, input: [usize; 3]) -> [usize; 3] {
        let mut shape = input;
        for level in &self.levels {
            shape = Squeeze::output_shape(shape);
            if level.split.is_some() {
                shape[0] /= 2;
            }
        }
        shape
    }

    /// True when every step's log-determinant is independent of the input.
    pub fn is_constant_volume(&self) -> bool {
        self.steps().all(Bijector::is_constant_log_det)
    }
}
