//! From 8-bit pixels to the continuous input of a flow, and back.
//!
//! `x̃ = (x + u) / 256 − 0.5` with `u ~ U[0, 1)`, so `log P(x) ≥ E_u[log q(x̃)] − D · ln 256`
//! (PAPER.md, "Bits per dimension, exactly"). The `− D · ln 256` is this map's log-determinant.

use burn::prelude::*;

/// Number of levels of an 8-bit pixel.
pub const LEVELS: f64 = 256.0;

/// Maps pixel values `x ∈ {0..255}` and noise `u ∈ [0, 1)` to `x̃ ∈ [−0.5, 0.5)`, with the
/// per-example log-determinant `− D · ln 256` of that map.
pub fn dequantize(pixels: Tensor<4>, noise: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
    let [n, c, h, w] = pixels.dims();
    let log_det = -((c * h * w) as f64) * LEVELS.ln();
    let device = pixels.device();
    let x = (pixels + noise).div_scalar(LEVELS).sub_scalar(0.5);
    (x, Tensor::full([n], log_det, &device))
}

/// `E[x̃]` of a pixel whose mean on the `[0, 1]` scale (`x / 255`) is `unit_mean`.
pub fn dequantized_mean(unit_mean: f64) -> f64 {
    ((LEVELS - 1.0) * unit_mean + 0.5) / LEVELS - 0.5
}

/// `Var[x̃]` of a pixel whose variance on the `[0, 1]` scale is `unit_variance`: the rescaled
/// variance plus that of the uniform noise, `1 / (12 · 256²)`.
pub fn dequantized_variance(unit_variance: f64) -> f64 {
    let scale = (LEVELS - 1.0) / LEVELS;
    scale * scale * unit_variance + 1.0 / (12.0 * LEVELS * LEVELS)
}

/// Maps continuous values back to the nearest 8-bit level (for samples).
pub fn quantize(x: Tensor<4>) -> Tensor<4> {
    x.add_scalar(0.5)
        .mul_scalar(LEVELS)
        .floor()
        .clamp(0.0, LEVELS - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpd::bits_per_dim;
    use crate::host::{tensor_from_f32, to_f64_vec};
    use crate::noise::Noise;

    #[test]
    fn uniform_density_on_the_unit_cube_scores_eight_bits() {
        // A model whose density is 1 on [−0.5, 0.5)^D assigns log q(x̃) = 0, so the whole
        // log-likelihood is the dequantization log-determinant.
        let device = Device::flex();
        let pixels = Tensor::<4>::full([2, 1, 4, 4], 17.0, &device);
        let noise = Noise::Batch(&mut crate::host::seeded_rng(0)).uniform([2, 1, 4, 4], &device);
        let (x, log_det) = dequantize(pixels, noise);
        for v in to_f64_vec(x) {
            assert!((-0.5..0.5).contains(&v));
        }
        for log_p in to_f64_vec(log_det) {
            assert!((bits_per_dim(log_p, 16) - 8.0).abs() < 1e-6);
        }
    }

    #[test]
    fn moments_of_dequantized_pixels() {
        // A pixel that is 0 or 255 with equal odds: mean ½ and variance ¼ on the [0, 1] scale.
        let mut rng = crate::host::seeded_rng(5);
        let n = 200_000;
        let samples: Vec<f64> = (0..n)
            .map(|i| {
                let x = if i % 2 == 0 { 0.0 } else { 255.0 };
                (x + rand::Rng::random::<f64>(&mut rng)) / LEVELS - 0.5
            })
            .collect();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let var = samples.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - dequantized_mean(0.5)).abs() < 1e-3, "{mean}");
        assert!((var - dequantized_variance(0.25)).abs() < 1e-3, "{var}");
        assert_eq!(dequantized_mean(0.0), 0.5 / LEVELS - 0.5);
    }

    #[test]
    fn quantize_inverts_dequantize() {
        let device = Device::flex();
        let values: Vec<f32> = (0..=255).map(|v| v as f32).collect();
        let pixels = tensor_from_f32(values.clone(), [1, 1, 16, 16], &device);
        let noise = Noise::Batch(&mut crate::host::seeded_rng(3)).uniform([1, 1, 16, 16], &device);
        let (x, _) = dequantize(pixels, noise);
        let back: Vec<f64> = to_f64_vec(quantize(x));
        let expected: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        assert_eq!(back, expected);
    }
}
