//! The one interface every invertible layer implements.

use burn::prelude::*;

/// An invertible map with a tractable log-determinant, applied to a batch of feature maps
/// `[batch, channels, height, width]`.
///
/// `forward` is the normalising direction (data → latent) and `inverse` the generative one;
/// each returns the transformed batch and `log|det ∂out/∂in|` per example, shape `[batch]`.
pub trait Bijector {
    /// Data → latent, with the per-example log|det| of this map.
    fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<1>);

    /// Latent → data, with the per-example log|det| of this (inverse) map.
    fn inverse(&self, z: Tensor<4>) -> (Tensor<4>, Tensor<1>);

    /// True when the log-determinant does not depend on the input (only on parameters).
    /// Constant-volume Glow asserts this for every step.
    fn is_constant_log_det(&self) -> bool;
}

/// Per-example zeros `[batch]` in `x`'s float dtype and on its device, so a model cast to
/// another precision computes in that precision throughout.
pub(crate) fn zeros_like_batch(x: &Tensor<4>) -> Tensor<1> {
    Tensor::zeros([x.dims()[0]], (&x.device(), x.dtype()))
}

/// The sum of each example's entries, `[batch]`.
pub(crate) fn per_example_sum(t: Tensor<4>) -> Tensor<1> {
    let n = t.dims()[0];
    t.reshape([n as i64, -1]).sum_dim(1).reshape([n])
}

/// A per-example log-determinant that is the same number for every example of the batch.
pub(crate) fn constant_log_det(value: Tensor<1>, batch: usize) -> Tensor<1> {
    value.expand([batch])
}

/// `x` cut along the channels into its first `⌊C/2⌋` channels and the rest: a coupling's
/// passive and active halves, a split's kept and factored-out halves.
pub(crate) fn channel_halves(x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let c = x.dims()[1];
    (x.clone().narrow(1, 0, c / 2), x.narrow(1, c / 2, c - c / 2))
}
