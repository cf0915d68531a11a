//! The invertible 1×1 convolution, LU-parameterised (Kingma & Dhariwal 2018, section 3.2).

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use rand::Rng;

use crate::bijector::{Bijector, constant_log_det};
use crate::host::{tensor_from_f64, to_f64_vec};
use crate::linalg;

/// `z = W x` at every pixel, with `W = P · L · (U + diag(sign · exp(log_s)))`.
///
/// `P` and `sign` are fixed at construction but saved, so a reloaded model rebuilds the same
/// `W`; `L` is unit lower triangular (only its strictly lower part is learned) and `U` strictly
/// upper triangular. `log|det W| = Σ log_s`, so the layer's log-determinant is
/// `H · W · Σ log_s` and does not depend on the input.
#[derive(Module, Debug)]
pub struct InvConv1x1 {
    /// Permutation `P`, `[C, C]`, not trained.
    pub permutation: Param<Tensor<2>>,
    /// `L` below the diagonal, `[C, C]` (the rest is masked).
    pub lower: Param<Tensor<2>>,
    /// `U` above the diagonal, `[C, C]` (the rest is masked).
    pub upper: Param<Tensor<2>>,
    /// Log-magnitudes of `U`'s diagonal, `[C]`.
    pub log_s: Param<Tensor<1>>,
    /// Signs of `U`'s diagonal, `[C]`, not trained.
    pub sign_s: Param<Tensor<1>>,
}

impl InvConv1x1 {
    /// A layer starting from a random rotation, as Glow does.
    pub fn new(channels: usize, rng: &mut impl Rng, device: &Device) -> Self {
        let n = channels;
        let factors = linalg::lu(&linalg::random_orthogonal(n, rng), n);
        let diag: Vec<f64> = (0..n).map(|i| factors.u[i * n + i]).collect();
        let frozen = |values: Vec<f64>, shape| {
            Param::from_tensor(tensor_from_f64(values, shape, device)).set_require_grad(false)
        };
        Self {
            permutation: Param::from_tensor(tensor_from_f64(factors.p, [n, n], device))
                .set_require_grad(false),
            lower: Param::from_tensor(tensor_from_f64(factors.l, [n, n], device)),
            upper: Param::from_tensor(tensor_from_f64(factors.u, [n, n], device)),
            log_s: Param::from_tensor(tensor_from_f64(
                diag.iter().map(|d| d.abs().ln()).collect(),
                [n],
                device,
            )),
            sign_s: frozen(diag.iter().map(|d| d.signum()).collect(), [n]),
        }
    }

    fn channels(&self) -> usize {
        self.log_s.val().dims()[0]
    }

    /// The weight matrix `W`, `[C, C]`, built from the factors on the parameters' device.
    pub fn weight(&self) -> Tensor<2> {
        let n = self.channels();
        let device = self.log_s.val().device();
        let eye = Tensor::<2>::eye(n, &device).cast(self.log_s.val().dtype());
        let l = self.lower.val().tril(-1) + eye.clone();
        let s = (self.sign_s.val() * self.log_s.val().exp()).reshape([1, n]);
        let u = self.upper.val().triu(1) + eye * s;
        self.permutation.val().matmul(l.matmul(u))
    }

    /// `W` read back to the host in `f64`, row-major.
    pub fn weight_host(&self) -> Vec<f64> {
        to_f64_vec(self.weight())
    }

    fn apply(x: Tensor<4>, matrix: Tensor<2>) -> Tensor<4> {
        let [c, _] = matrix.dims();
        conv2d(
            x,
            matrix.reshape([c, c, 1, 1]),
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        )
    }

    fn log_det(&self, x: &Tensor<4>) -> Tensor<1> {
        let [n, _, h, w] = x.dims();
        constant_log_det(self.log_s.val().sum().mul_scalar((h * w) as f64), n)
    }
}

impl Bijector for InvConv1x1 {
    fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let log_det = self.log_det(&x);
        (Self::apply(x, self.weight()), log_det)
    }

    /// Uses `W⁻¹` computed on the host in `f64`; this direction is for sampling and tests, so
    /// it carries no gradient to the parameters.
    fn inverse(&self, z: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let n = self.channels();
        let log_det = self.log_det(&z).neg();
        let inverse = linalg::inverse(&self.weight_host(), n);
        let matrix = tensor_from_f64(inverse, [n, n], &z.device()).cast(z.dtype());
        (Self::apply(z, matrix), log_det)
    }

    fn is_constant_log_det(&self) -> bool {
        true
    }
}
