//! The second-order account checked against the model itself, in f64: the closed form where it
//! is exact, Hutchinson's estimator against brute-force Hessian diagonals, and the mean-shift
//! terms on a function whose derivatives are known.

use burn::module::Param;
use burn::prelude::*;
use genood_flows::coupling::CouplingKind;
use genood_flows::host::{normal_vec, seeded_rng, tensor_from_f64, to_f64_vec};
use genood_flows::multiscale::{MultiScaleConfig, MultiScaleFlow};
use genood_flows::second_order::*;
use genood_flows::testing::*;

const SHAPE: [usize; 3] = [2, 4, 4];
const D: usize = 32;

fn config(coupling: CouplingKind) -> MultiScaleConfig {
    MultiScaleConfig {
        levels: 2,
        steps_per_level: 2,
        hidden_channels: 4,
        coupling,
        precision: Default::default(),
    }
}

fn random(count: usize, std: f64, seed: u64) -> Vec<f64> {
    normal_vec(&mut seeded_rng(seed), count, std)
}

fn param<const N: usize>(values: Vec<f64>, shape: [usize; N]) -> Param<Tensor<N>> {
    Param::from_tensor(tensor_from_f64(values, shape, &f64_device()))
}

/// A CV-Glow on which the paper's closed form is exact: identity couplings (their output
/// convolutions are zero at construction), diagonal 1×1 convolutions with random scales and
/// signs, random actnorms, a random top prior, and split priors whose scale is a random
/// constant (zero convolution weights, random bias and output scale).
fn diagonal_cv_glow(seed: u64) -> MultiScaleFlow {
    let device = f64_device();
    let mut flow = MultiScaleFlow::new(
        &config(CouplingKind::Additive),
        SHAPE,
        &mut seeded_rng(seed),
        &device,
    );
    let mut k = seed * 100;
    for level in &mut flow.levels {
        for step in &mut level.steps {
            k += 1;
            step.actnorm = perturb_parameters(step.actnorm.clone(), 0.4, k);
            let c = step.invconv.log_s.val().dims()[0];
            let eye: Vec<f64> = (0..c * c)
                .map(|i| if i % (c + 1) == 0 { 1.0 } else { 0.0 })
                .collect();
            step.invconv.permutation = param(eye, [c, c]).set_require_grad(false);
            step.invconv.lower = param(vec![0.0; c * c], [c, c]);
            step.invconv.upper = param(vec![0.0; c * c], [c, c]);
            step.invconv.log_s = param(random(c, 0.4, k + 1000), [c]);
            let signs = random(c, 1.0, k + 2000)
                .iter()
                .map(|v| v.signum())
                .collect();
            step.invconv.sign_s = param(signs, [c]).set_require_grad(false);
        }
        if let Some(split) = &mut level.split {
            k += 1;
            let outputs = split.conv.conv.bias.val().dims()[0];
            split.conv.conv.bias = param(random(outputs, 0.3, k), [outputs]);
            split.conv.logs = param(random(outputs, 0.1, k + 1), [1, outputs, 1, 1]);
        }
    }
    flow.top = perturb_parameters(flow.top, 0.4, seed + 7);
    flow
}

fn x0(seed: u64) -> Tensor<4> {
    let [c, h, w] = SHAPE;
    random_input([1, c, h, w], seed, &f64_device()).mul_scalar(0.2)
}

/// `H_dd` of `f` at `x` by central second differences, one dimension at a time.
fn hessian_diagonal(f: impl Fn(Tensor<4>) -> Tensor<1>, x: &Tensor<4>, h: f64) -> Vec<f64> {
    let center = to_f64_vec(x.clone());
    let dims = x.dims();
    let mut points = Vec::new();
    for d in 0..center.len() {
        for step in [h, -h] {
            let mut p = center.clone();
            p[d] += step;
            points.extend(p);
        }
    }
    points.extend(center.clone());
    let n = 2 * center.len() + 1;
    let batch = tensor_from_f64(points, [n, dims[1], dims[2], dims[3]], &x.device());
    let f = to_f64_vec(f(batch));
    let f0 = f[n - 1];
    (0..center.len())
        .map(|d| (f[2 * d] - 2.0 * f0 + f[2 * d + 1]) / (h * h))
        .collect()
}

#[test]
fn closed_form_curvature_is_the_exact_hessian_diagonal_where_the_paper_is_exact() {
    let flow = diagonal_cv_glow(1);
    let x = x0(2);
    let curvature = paper_curvature(&flow, &x);
    assert!(curvature.iter().all(|c| *c > 0.0));
    let exact = hessian_diagonal(|b| flow.log_density(b), &x, 1e-3);
    for (d, (c, h)) in curvature.iter().zip(&exact).enumerate() {
        assert!(
            (c + h).abs() < 1e-6 * c.max(1.0),
            "dimension {d}: closed form {c}, −H_dd {}",
            -h
        );
    }
}

#[test]
fn closed_form_gap_agrees_with_hutchinson_on_the_model_itself() {
    let flow = diagonal_cv_glow(3);
    let x = x0(4);
    let delta = random(D, 0.05, 5);
    let closed = closed_form_gap(&paper_curvature(&flow, &x), &delta);
    let numeric = hutchinson_half_trace(
        |b| flow.log_density(b),
        &x,
        &delta,
        16,
        1e-3,
        &mut seeded_rng(6),
    );
    // The Hessian is diagonal here, so every Rademacher probe gives the trace exactly.
    assert!(
        (numeric.mean - closed).abs() < 1e-6 * closed.abs(),
        "closed form {closed}, Hutchinson {numeric:?}"
    );
    assert!(numeric.std_error < 1e-6 * closed.abs());
}

#[test]
fn hutchinson_estimates_the_trace_of_a_full_hessian() {
    // Random LU 1×1 convolutions and perturbed coupling networks: a curved, non-diagonal
    // Hessian, so the probes disagree and the standard error must cover the error.
    let device = f64_device();
    let mut flow = MultiScaleFlow::new(
        &config(CouplingKind::Additive),
        SHAPE,
        &mut seeded_rng(8),
        &device,
    );
    let [c, h, w] = SHAPE;
    flow.initialize(random_input([16, c, h, w], 9, &device));
    let flow = perturb_parameters(flow, 0.05, 10);
    let x = x0(11);
    let delta = random(D, 0.05, 12);
    let exact: f64 = 0.5
        * hessian_diagonal(|b| flow.log_density(b), &x, 1e-4)
            .iter()
            .zip(&delta)
            .map(|(h, d)| h * d)
            .sum::<f64>();
    let numeric = hutchinson_half_trace(
        |b| flow.log_density(b),
        &x,
        &delta,
        400,
        1e-3,
        &mut seeded_rng(13),
    );
    assert!(numeric.std_error > 0.0);
    assert!(
        (numeric.mean - exact).abs() < 4.0 * numeric.std_error,
        "exact {exact}, Hutchinson {numeric:?}"
    );
}

#[test]
fn mean_shift_terms_of_a_known_quadratic() {
    // f(x) = Σ a_d x_d − ½ Σ b_d x_d²: ∇f·δ = Σ (a_d − b_d x_d) δ_d, ½ δᵀHδ = −½ Σ b_d δ_d².
    let device = f64_device();
    let [c, h, w] = SHAPE;
    let a = random(D, 1.0, 14);
    let b: Vec<f64> = random(D, 1.0, 15).iter().map(|v| v.abs() + 0.5).collect();
    let (at, bt) = (
        tensor_from_f64(a.clone(), [1, c, h, w], &device),
        tensor_from_f64(b.clone(), [1, c, h, w], &device),
    );
    let f = |x: Tensor<4>| {
        let n = x.dims()[0];
        let value = x.clone() * at.clone() - x.square() * bt.clone().mul_scalar(0.5);
        value.reshape([n as i64, -1]).sum_dim(1).reshape([n])
    };
    let x = x0(16);
    let center = to_f64_vec(x.clone());
    let delta = random(D, 0.3, 17);
    let terms = mean_shift_terms(f, &x, &delta, 1e-2);
    let first: f64 = (0..D).map(|d| (a[d] - b[d] * center[d]) * delta[d]).sum();
    let second: f64 = -0.5 * (0..D).map(|d| b[d] * delta[d] * delta[d]).sum::<f64>();
    assert!(
        (terms.first_order - first).abs() < 1e-9,
        "{terms:?} vs {first}"
    );
    assert!(
        (terms.second_order - second).abs() < 1e-9,
        "{terms:?} vs {second}"
    );
}

#[test]
fn without_coupling_networks_the_closed_form_holds_again() {
    // Take the diagonal CV-Glow, give its couplings random networks (now the closed form is
    // off), then remove them: the curvature is the closed form's once more.
    let flow = diagonal_cv_glow(18);
    let x = x0(19);
    let closed = paper_curvature(&flow, &x);
    let mut curved = flow.clone();
    for level in &mut curved.levels {
        for step in &mut level.steps {
            step.coupling = perturb_parameters(step.coupling.clone(), 0.3, 20);
        }
    }
    let with_networks = hessian_diagonal(|b| curved.log_density(b), &x, 1e-4);
    let off = closed
        .iter()
        .zip(&with_networks)
        .map(|(c, h)| (c + h).abs())
        .fold(0.0, f64::max);
    assert!(off > 1e-2, "the networks should change the curvature");
    let stripped = without_coupling_networks(&curved);
    let exact = hessian_diagonal(|b| stripped.log_density(b), &x, 1e-3);
    for (c, h) in closed.iter().zip(&exact) {
        assert!((c + h).abs() < 1e-6 * c.max(1.0), "{c} vs {}", -h);
    }
}
