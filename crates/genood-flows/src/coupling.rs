//! Coupling layers: half of the channels pass through unchanged and parameterise an affine or
//! additive map of the other half (Dinh et al. 2017; Kingma & Dhariwal 2018).

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, relu, sigmoid};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::actnorm::ActNorm;
use crate::bijector::{Bijector, channel_halves, per_example_sum, zeros_like_batch};
use crate::conv::conv2d_same;
use crate::host::{normal_vec, tensor_from_f64};

/// Standard deviation of the initial weights of the hidden convolutions (as in Glow).
const HIDDEN_INIT_STD: f64 = 0.05;
/// Glow's zero-initialised output convolution multiplies by `exp(LOG_SCALE_FACTOR · logs)`,
/// which lets the output scale grow quickly once training starts.
const LOG_SCALE_FACTOR: f64 = 3.0;
/// Added to the scale logits so `sigmoid(h + 2) ≈ 0.88` at initialisation (Glow's choice),
/// keeping the coupling close to the identity and its scale strictly in (0, 1).
const SCALE_SHIFT: f64 = 2.0;

/// How the transformed half is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CouplingKind {
    /// `z_b = (x_b + t) · sigmoid(h + 2)`: input-dependent log-determinant.
    Affine,
    /// `z_b = x_b + t`: log-determinant 0, used by constant-volume Glow.
    Additive,
}

/// A convolution with `same` padding whose weights are drawn on the host.
#[derive(Module, Debug)]
pub struct Conv {
    /// `[out, in, k, k]`.
    pub weight: Param<Tensor<4>>,
    /// `[out]`.
    pub bias: Param<Tensor<1>>,
}

impl Conv {
    /// A `kernel × kernel` convolution with weights `N(0, std²)` and zero bias.
    pub fn new(
        inputs: usize,
        outputs: usize,
        kernel: usize,
        std: f64,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        let count = outputs * inputs * kernel * kernel;
        Self {
            weight: Param::from_tensor(tensor_from_f64(
                normal_vec(rng, count, std),
                [outputs, inputs, kernel, kernel],
                device,
            )),
            bias: Param::from_tensor(Tensor::zeros([outputs], device)),
        }
    }

    /// Applies the convolution.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d_same(x, self.weight.val(), self.bias.val())
    }
}

/// A 3×3 convolution that starts at exactly zero, with a learned per-channel output scale
/// `exp(3 · logs)`, so every coupling starts as the identity.
#[derive(Module, Debug)]
pub struct ZeroConv {
    /// The convolution, all zeros at construction.
    pub conv: Conv,
    /// `[1, out, 1, 1]`.
    pub logs: Param<Tensor<4>>,
}

impl ZeroConv {
    /// A zero-initialised 3×3 convolution.
    pub fn new(inputs: usize, outputs: usize, rng: &mut impl Rng, device: &Device) -> Self {
        Self {
            conv: Conv::new(inputs, outputs, 3, 0.0, rng, device),
            logs: Param::from_tensor(Tensor::zeros([1, outputs, 1, 1], device)),
        }
    }

    /// Applies the convolution and its output scale.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv.forward(x) * self.output_log_scale().exp()
    }

    /// The log of the per-channel output scale, `3 · logs`, `[1, out, 1, 1]`.
    pub fn output_log_scale(&self) -> Tensor<4> {
        self.logs.val().mul_scalar(LOG_SCALE_FACTOR)
    }
}

/// Glow's coupling network: 3×3 conv → actnorm → ReLU → 1×1 conv → actnorm → ReLU → zero conv.
#[derive(Module, Debug)]
pub struct CouplingNet {
    /// First, 3×3 convolution.
    pub conv_in: Conv,
    /// Normalises the first convolution's output.
    pub norm_in: ActNorm,
    /// Hidden 1×1 convolution.
    pub conv_hidden: Conv,
    /// Normalises the hidden convolution's output.
    pub norm_hidden: ActNorm,
    /// Zero-initialised output convolution.
    pub conv_out: ZeroConv,
}

impl CouplingNet {
    /// A network from `inputs` to `outputs` channels through `hidden` channels.
    pub fn new(
        inputs: usize,
        hidden: usize,
        outputs: usize,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        Self {
            conv_in: Conv::new(inputs, hidden, 3, HIDDEN_INIT_STD, rng, device),
            norm_in: ActNorm::new(hidden, device),
            conv_hidden: Conv::new(hidden, hidden, 1, HIDDEN_INIT_STD, rng, device),
            norm_hidden: ActNorm::new(hidden, device),
            conv_out: ZeroConv::new(hidden, outputs, rng, device),
        }
    }

    /// Applies the network.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = relu(self.norm_in.forward(self.conv_in.forward(x)).0);
        let h = relu(self.norm_hidden.forward(self.conv_hidden.forward(h)).0);
        self.conv_out.forward(h)
    }

    /// Data-dependent initialisation of the inner actnorms.
    pub fn initialize(&mut self, x: Tensor<4>) {
        let h = relu(self.norm_in.initialize(self.conv_in.forward(x)));
        self.norm_hidden.initialize(self.conv_hidden.forward(h));
    }
}

/// An affine or additive coupling over the channel dimension.
///
/// The first `⌊C/2⌋` channels (`x_a`) pass unchanged and feed the network; the other channels
/// (`x_b`) are shifted (and, for [`CouplingKind::Affine`], scaled by `sigmoid(h + 2)`).
#[derive(Module, Debug)]
pub struct Coupling {
    /// Maps `x_a` to the shift (and scale logits) of `x_b`.
    pub net: CouplingNet,
    /// Affine or additive.
    #[module(skip)]
    pub kind: CouplingKind,
}

impl Coupling {
    /// A coupling over `channels` channels with a `hidden`-wide network.
    pub fn new(
        kind: CouplingKind,
        channels: usize,
        hidden: usize,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        assert!(channels >= 2, "a coupling needs at least 2 channels");
        let passive = channels / 2;
        let active = channels - passive;
        let outputs = match kind {
            CouplingKind::Affine => 2 * active,
            CouplingKind::Additive => active,
        };
        Self {
            net: CouplingNet::new(passive, hidden, outputs, rng, device),
            kind,
        }
    }

    /// The shift and, for affine couplings, the scale logits `h + 2`, from the network's
    /// output `h`.
    fn shift_and_logits(kind: CouplingKind, h: Tensor<4>) -> (Tensor<4>, Option<Tensor<4>>) {
        match kind {
            CouplingKind::Additive => (h, None),
            CouplingKind::Affine => {
                let active = h.dims()[1] / 2;
                let shift = h.clone().narrow(1, 0, active);
                let logits = h.narrow(1, active, active).add_scalar(SCALE_SHIFT);
                (shift, Some(logits))
            }
        }
    }

    /// The forward map of the active half given the network's output `h`, with the
    /// per-example log-determinant (`None` for additive couplings, whose log-det is 0).
    pub(crate) fn couple(
        kind: CouplingKind,
        active: Tensor<4>,
        h: Tensor<4>,
    ) -> (Tensor<4>, Option<Tensor<1>>) {
        match Self::shift_and_logits(kind, h) {
            (shift, None) => (active + shift, None),
            (shift, Some(logits)) => (
                (active + shift) * sigmoid(logits.clone()),
                Some(per_example_sum(log_sigmoid(logits))),
            ),
        }
    }

    /// Data-dependent initialisation of the network's actnorms; returns the layer's output.
    pub fn initialize(&mut self, x: Tensor<4>) -> Tensor<4> {
        let (passive, _) = channel_halves(x.clone());
        self.net.initialize(passive);
        self.forward(x).0
    }
}

impl Bijector for Coupling {
    fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let (passive, active) = channel_halves(x);
        let h = self.net.forward(passive.clone());
        let (active, log_det) = Self::couple(self.kind, active, h);
        let log_det = log_det.unwrap_or_else(|| zeros_like_batch(&passive));
        (Tensor::cat(vec![passive, active], 1), log_det)
    }

    fn inverse(&self, z: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let (passive, active) = channel_halves(z);
        let h = self.net.forward(passive.clone());
        let (active, log_det) = match Self::shift_and_logits(self.kind, h) {
            (shift, None) => (active - shift, zeros_like_batch(&passive)),
            (shift, Some(logits)) => (
                active / sigmoid(logits.clone()) - shift,
                per_example_sum(log_sigmoid(logits)).neg(),
            ),
        };
        (Tensor::cat(vec![passive, active], 1), log_det)
    }

    fn is_constant_log_det(&self) -> bool {
        self.kind == CouplingKind::Additive
    }
}
