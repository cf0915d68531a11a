//! Space-to-depth: each 2×2 spatial block becomes four channels.

use burn::prelude::*;

use crate::bijector::{Bijector, zeros_like_batch};

/// `[N, C, H, W] → [N, 4C, H/2, W/2]`, a permutation of the entries (log-determinant 0).
/// Channel `4c + 2i + j` of the output holds pixel `(2y + i, 2x + j)` of input channel `c`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Squeeze;

impl Squeeze {
    /// The output shape for an input of `[channels, height, width]`; panics on odd sizes.
    pub fn output_shape([c, h, w]: [usize; 3]) -> [usize; 3] {
        assert!(
            h.is_multiple_of(2) && w.is_multiple_of(2),
            "squeeze needs even height and width, got {h}×{w}"
        );
        [4 * c, h / 2, w / 2]
    }
}

impl Bijector for Squeeze {
    fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let [n, c, h, w] = x.dims();
        let [c4, h2, w2] = Self::output_shape([c, h, w]);
        let z = x
            .reshape([n, c, h2, 2, w2, 2])
            .permute([0, 1, 3, 5, 2, 4])
            .reshape([n, c4, h2, w2]);
        let log_det = zeros_like_batch(&z);
        (z, log_det)
    }

    fn inverse(&self, z: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let [n, c4, h2, w2] = z.dims();
        let x = z
            .reshape([n, c4 / 4, 2, 2, h2, w2])
            .permute([0, 1, 4, 2, 5, 3])
            .reshape([n, c4 / 4, 2 * h2, 2 * w2]);
        let log_det = zeros_like_batch(&x);
        (x, log_det)
    }

    fn is_constant_log_det(&self) -> bool {
        true
    }
}
