//! Activation normalisation (Kingma & Dhariwal 2018): a per-channel affine map whose initial
//! values come from one batch of data.

use burn::module::Param;
use burn::prelude::*;

use crate::bijector::{Bijector, constant_log_det};
use crate::param::replace_value;

/// Guards the log of a channel's standard deviation when the channel is constant in the batch.
const STD_FLOOR: f64 = 1e-6;

/// `z = (x + bias) · exp(log_scale)`, per channel.
///
/// Identity at construction. [`ActNorm::initialize`] sets bias and scale from a batch so the
/// output has zero mean and unit variance per channel; the `initialized` flag (0 or 1) is a
/// saved, non-trainable parameter, so a reloaded model never re-initialises.
#[derive(Module, Debug)]
pub struct ActNorm {
    /// Added before scaling, `[1, C, 1, 1]`.
    pub bias: Param<Tensor<4>>,
    /// Log of the per-channel scale, `[1, C, 1, 1]`.
    pub log_scale: Param<Tensor<4>>,
    /// `[1]`: 1 once data-dependent initialisation has run.
    pub initialized: Param<Tensor<1>>,
}

impl ActNorm {
    /// An identity actnorm over `channels` channels.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            bias: Param::from_tensor(Tensor::zeros([1, channels, 1, 1], device)),
            log_scale: Param::from_tensor(Tensor::zeros([1, channels, 1, 1], device)),
            initialized: Param::from_tensor(Tensor::zeros([1], device)).set_require_grad(false),
        }
    }

    /// Whether data-dependent initialisation has run (possibly in an earlier process).
    pub fn is_initialized(&self) -> bool {
        self.initialized.val().into_scalar::<f64>() > 0.5
    }

    /// Data-dependent initialisation on `x`, once: afterwards the output of `x` has zero mean
    /// and unit variance per channel. Returns the output of the (initialised) layer on `x`.
    pub fn initialize(&mut self, x: Tensor<4>) -> Tensor<4> {
        if !self.is_initialized() {
            let x = x.clone().detach();
            let [n, c, h, w] = x.dims();
            let per_channel = x.swap_dims(0, 1).reshape([c, n * h * w]);
            let mean = per_channel.clone().mean_dim(1).reshape([1, c, 1, 1]);
            let std = per_channel
                .var_bias(1)
                .sqrt()
                .add_scalar(STD_FLOOR)
                .reshape([1, c, 1, 1]);
            self.bias = replace_value(self.bias.clone(), mean.neg());
            self.log_scale = replace_value(self.log_scale.clone(), std.log().neg());
            let flag = self.initialized.val().ones_like();
            self.initialized = replace_value(self.initialized.clone(), flag);
        }
        self.forward(x).0
    }

    fn log_det(&self, x: &Tensor<4>) -> Tensor<1> {
        let [n, _, h, w] = x.dims();
        let total = self.log_scale.val().sum().mul_scalar((h * w) as f64);
        constant_log_det(total, n)
    }
}

impl Bijector for ActNorm {
    fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let log_det = self.log_det(&x);
        let z = (x + self.bias.val()) * self.log_scale.val().exp();
        (z, log_det)
    }

    fn inverse(&self, z: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let log_det = self.log_det(&z).neg();
        let x = z * self.log_scale.val().neg().exp() - self.bias.val();
        (x, log_det)
    }

    fn is_constant_log_det(&self) -> bool {
        true
    }
}
