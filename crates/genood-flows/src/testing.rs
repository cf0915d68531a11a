//! The law checks every flow layer owes its users, shared by all layer tests (in the spirit of
//! nflows' and normflows' common test harnesses): round trip, log-determinant against a
//! brute-force Jacobian, and constancy of the log-determinant.

use std::sync::OnceLock;

use burn::prelude::*;
use burn::tensor::FloatDType;

use crate::bijector::Bijector;
use crate::host::{tensor_from_f64, to_f64_vec};
use crate::linalg::log_abs_det;

/// A CPU device whose tensors default to `f64`, so central differences are accurate.
///
/// The default dtype of a device can be set once per process; test binaries that need `f64`
/// call this before creating any tensor.
pub fn f64_device() -> Device {
    static CONFIGURED: OnceLock<()> = OnceLock::new();
    let mut device = Device::flex();
    CONFIGURED.get_or_init(|| {
        device
            .configure(FloatDType::F64)
            .expect("configure the test device to f64 before any tensor is created");
    });
    device
}

/// Largest absolute difference between two equally long vectors.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// `inverse(forward(x)) ≈ x` and the two log-determinants cancel, per example.
pub fn assert_round_trip(layer: &impl Bijector, x: Tensor<4>, tolerance: f64) {
    let (z, forward_log_det) = layer.forward(x.clone());
    let (back, inverse_log_det) = layer.inverse(z);
    let error = max_abs_diff(&to_f64_vec(back), &to_f64_vec(x));
    assert!(error < tolerance, "round trip error {error}");
    let sum = to_f64_vec(forward_log_det + inverse_log_det);
    assert!(
        sum.iter().all(|v| v.abs() < tolerance),
        "log-dets do not cancel: {sum:?}"
    );
}

/// `log|det ∂f/∂x|` of `f` at a single example `x` (`[1, C, H, W]`), from the full Jacobian
/// built by central differences with step `eps`.
pub fn brute_force_log_det(f: impl Fn(Tensor<4>) -> Tensor<4>, x: Tensor<4>, eps: f64) -> f64 {
    let shape = x.dims();
    assert_eq!(shape[0], 1, "brute-force Jacobian takes one example");
    let device = x.device();
    let base = to_f64_vec(x);
    let d = base.len();
    let mut jacobian = vec![0.0; d * d];
    for j in 0..d {
        let mut plus = base.clone();
        let mut minus = base.clone();
        plus[j] += eps;
        minus[j] -= eps;
        let out_plus = to_f64_vec(f(tensor_from_f64(plus, shape, &device)));
        let out_minus = to_f64_vec(f(tensor_from_f64(minus, shape, &device)));
        assert_eq!(out_plus.len(), d, "a bijector keeps the dimension");
        for i in 0..d {
            jacobian[i * d + j] = (out_plus[i] - out_minus[i]) / (2.0 * eps);
        }
    }
    log_abs_det(&jacobian, d)
}

/// The layer's own forward log-determinant at a single example equals the brute-force one.
pub fn assert_log_det_matches_jacobian(layer: &impl Bijector, x: Tensor<4>, tolerance: f64) {
    let own = to_f64_vec(layer.forward(x.clone()).1)[0];
    let brute = brute_force_log_det(|v| layer.forward(v).0, x, 1e-5);
    assert!(
        (own - brute).abs() < tolerance,
        "log-det {own} vs brute-force {brute}"
    );
}

/// The per-example log-determinant is the same number for every example of `x`.
pub fn assert_constant_log_det(layer: &impl Bijector, x: Tensor<4>) {
    let log_dets = to_f64_vec(layer.forward(x).1);
    let first = log_dets[0];
    assert!(
        log_dets.iter().all(|v| *v == first),
        "log-det varies across inputs: {log_dets:?}"
    );
}

/// Parameters that are fixed by construction and must keep their exact values (a permutation,
/// the signs of `U`'s diagonal, the actnorm flag).
pub const FROZEN_PARAMETERS: [&str; 3] = ["permutation", "sign_s", "initialized"];

/// Adds `N(0, scale²)` noise to every trainable parameter, so law checks run away from the
/// identity that zero-initialised layers start at.
pub fn perturb_parameters<M: Module>(module: M, scale: f64, seed: u64) -> M {
    struct Perturb {
        path: Vec<String>,
        scale: f64,
        rng: rand::rngs::StdRng,
    }
    impl burn::module::ModuleMapper for Perturb {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            let frozen = self
                .path
                .last()
                .is_some_and(|name| FROZEN_PARAMETERS.contains(&name.as_str()));
            if frozen {
                return param;
            }
            let (scale, rng) = (self.scale, &mut self.rng);
            param.map(|t| {
                let shape = t.dims();
                let count = shape.iter().product();
                let noise = crate::host::normal_vec(rng, count, scale);
                let noise = tensor_from_f64(noise, shape, &t.device());
                t + noise
            })
        }
    }
    module.map(&mut Perturb {
        path: Vec::new(),
        scale,
        rng: crate::host::seeded_rng(seed),
    })
}

/// `count` standard normal values shaped `shape`, on `device`.
pub fn random_input(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    let count = shape.iter().product();
    let values = crate::host::normal_vec(&mut crate::host::seeded_rng(seed), count, 1.0);
    tensor_from_f64(values, shape, device)
}

/// The normalising direction of `flow` layer by layer, every actnorm applied on its own (no
/// folding): the reference that [`crate::fold`]'s folded flow is tested against.
pub fn unfolded_forward(
    flow: &crate::multiscale::MultiScaleFlow,
    x: Tensor<4>,
) -> crate::multiscale::FlowOutput {
    let mut log_prior = crate::bijector::zeros_like_batch(&x);
    let mut log_det = crate::bijector::zeros_like_batch(&x);
    let mut latents = Vec::with_capacity(flow.levels.len());
    let mut h = x;
    for level in &flow.levels {
        h = crate::squeeze::Squeeze.forward(h).0;
        for step in &level.steps {
            let (out, step_log_det) = step.forward(h);
            h = out;
            log_det = log_det + step_log_det;
        }
        if let Some(split) = &level.split {
            let (kept, factored, log_p) = split.split(h);
            log_prior = log_prior + log_p;
            latents.push(factored);
            h = kept;
        }
    }
    log_prior = log_prior + flow.top.log_prob(h.clone());
    latents.push(h);
    crate::multiscale::FlowOutput {
        latents,
        log_prior,
        log_det,
    }
}
