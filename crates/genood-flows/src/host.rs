//! Moving numbers between host vectors and tensors, and seeded host-side sampling.
//!
//! Initial weights and dequantization noise are drawn on the host from a seeded [`StdRng`], so a
//! run is reproducible on every backend for a given seed.

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Reads a tensor back to the host as `E`, whatever its storage dtype.
pub fn to_host_vec<E: burn::tensor::Element, const D: usize>(tensor: Tensor<D>) -> Vec<E> {
    tensor
        .into_data()
        .convert::<E>()
        .try_into_vec::<E>()
        .expect("converted data has the requested element type")
}

/// Reads a tensor back to the host as `f64`.
pub fn to_f64_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    to_host_vec(tensor)
}

/// Reads a tensor back to the host as `f32`.
pub fn to_f32_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    to_host_vec(tensor)
}

/// Builds a float tensor from host values (`f32` or `f64`), stored in the device's default
/// float dtype.
pub fn tensor_from<E: burn::tensor::Element, const D: usize>(
    values: Vec<E>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Builds a float tensor from host `f64` values.
pub fn tensor_from_f64<const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    tensor_from(values, shape, device)
}

/// Builds a float tensor from host `f32` values.
pub fn tensor_from_f32<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    tensor_from(values, shape, device)
}

/// A reproducible random number generator for the given seed.
pub fn seeded_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// One standard normal draw (Box–Muller; the second value is discarded for simplicity).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    // 1 − u keeps the argument of ln in (0, 1].
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * core::f64::consts::PI * u2).cos()
}

/// `count` independent normal draws with the given standard deviation.
pub fn normal_vec(rng: &mut impl Rng, count: usize, std: f64) -> Vec<f64> {
    (0..count).map(|_| std * standard_normal(rng)).collect()
}
