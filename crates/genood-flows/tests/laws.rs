//! The flow laws of ARCHITECTURE.md, checked per layer, per level and for a whole multi-scale
//! flow, in f64 on the CPU.

use burn::prelude::*;
use genood_flows::Bijector;
use genood_flows::actnorm::ActNorm;
use genood_flows::coupling::{Coupling, CouplingKind};
use genood_flows::fold::FoldedFlow;
use genood_flows::host::{seeded_rng, to_f64_vec};
use genood_flows::invconv::InvConv1x1;
use genood_flows::linalg;
use genood_flows::multiscale::{FlowStep, MultiScaleConfig, MultiScaleFlow};
use genood_flows::squeeze::Squeeze;
use genood_flows::testing::*;

const TOL: f64 = 1e-7;
/// Rounding compounds over a whole flow (and its host-side inverse of each 1×1 convolution).
const FLOW_TOL: f64 = 1e-6;

fn device() -> Device {
    f64_device()
}

fn affine_coupling(seed: u64) -> Coupling {
    let device = device();
    let layer = Coupling::new(CouplingKind::Affine, 4, 8, &mut seeded_rng(seed), &device);
    perturb_parameters(layer, 0.3, seed)
}

#[test]
fn actnorm_is_identity_at_construction() {
    let layer = ActNorm::new(3, &device());
    let x = random_input([2, 3, 4, 4], 1, &device());
    let (z, log_det) = layer.forward(x.clone());
    assert_eq!(to_f64_vec(z), to_f64_vec(x));
    assert_eq!(to_f64_vec(log_det), vec![0.0, 0.0]);
    assert!(!layer.is_initialized());
}

#[test]
fn actnorm_initialisation_standardises_each_channel() {
    let mut layer = ActNorm::new(3, &device());
    let x = random_input([8, 3, 4, 4], 2, &device())
        .mul_scalar(3.0)
        .add_scalar(1.5);
    let z = layer.initialize(x.clone());
    assert!(layer.is_initialized());
    let per_channel = z.swap_dims(0, 1).reshape([3, 8 * 16]);
    for m in to_f64_vec(per_channel.clone().mean_dim(1)) {
        assert!(m.abs() < 1e-9, "mean {m}");
    }
    for v in to_f64_vec(per_channel.var_bias(1)) {
        assert!((v - 1.0).abs() < 1e-5, "variance {v}");
    }
    // A second call does not re-initialise: the parameters stay as they are.
    let before = to_f64_vec(layer.bias.val());
    layer.initialize(x.mul_scalar(10.0));
    assert_eq!(to_f64_vec(layer.bias.val()), before);
}

#[test]
fn actnorm_laws() {
    let mut layer = ActNorm::new(4, &device());
    layer.initialize(random_input([8, 4, 2, 2], 3, &device()).mul_scalar(2.0));
    assert_round_trip(&layer, random_input([3, 4, 2, 2], 4, &device()), TOL);
    assert_log_det_matches_jacobian(&layer, random_input([1, 4, 2, 2], 5, &device()), 1e-6);
    assert_constant_log_det(&layer, random_input([3, 4, 2, 2], 6, &device()));
}

#[test]
fn invconv_laws() {
    let layer = perturb_parameters(InvConv1x1::new(4, &mut seeded_rng(7), &device()), 0.2, 7);
    assert_round_trip(&layer, random_input([3, 4, 2, 2], 8, &device()), TOL);
    assert_log_det_matches_jacobian(&layer, random_input([1, 4, 2, 2], 9, &device()), 1e-6);
    assert_constant_log_det(&layer, random_input([3, 4, 2, 2], 10, &device()));
    assert!(layer.is_constant_log_det());
}

#[test]
fn invconv_log_det_is_log_abs_det_of_its_weight() {
    let layer = perturb_parameters(InvConv1x1::new(5, &mut seeded_rng(11), &device()), 0.2, 11);
    let w = layer.weight_host();
    let x = random_input([1, 5, 1, 1], 12, &device());
    let own = to_f64_vec(layer.forward(x).1)[0];
    assert!((own - linalg::log_abs_det(&w, 5)).abs() < 1e-10);
    // The frozen factors survive perturbation: a permutation matrix of 0s and 1s.
    let p = to_f64_vec(layer.permutation.val());
    assert!(p.iter().all(|v| *v == 0.0 || *v == 1.0));
    assert_eq!(p.iter().sum::<f64>(), 5.0);
}

#[test]
fn affine_coupling_laws() {
    let layer = affine_coupling(13);
    assert_round_trip(&layer, random_input([3, 4, 2, 2], 14, &device()), TOL);
    assert_log_det_matches_jacobian(&layer, random_input([1, 4, 2, 2], 15, &device()), 1e-6);
    assert!(!layer.is_constant_log_det());
    let log_dets = to_f64_vec(layer.forward(random_input([2, 4, 2, 2], 16, &device())).1);
    assert!(
        (log_dets[0] - log_dets[1]).abs() > 1e-6,
        "affine log-det should depend on x"
    );
}

#[test]
fn additive_coupling_laws() {
    let device = device();
    let layer = Coupling::new(CouplingKind::Additive, 5, 8, &mut seeded_rng(17), &device);
    let layer = perturb_parameters(layer, 0.3, 17);
    assert_round_trip(&layer, random_input([3, 5, 2, 2], 18, &device), TOL);
    assert_log_det_matches_jacobian(&layer, random_input([1, 5, 2, 2], 19, &device), 1e-6);
    assert_constant_log_det(&layer, random_input([3, 5, 2, 2], 20, &device));
    assert!(layer.is_constant_log_det());
}

#[test]
fn squeeze_laws_and_layout() {
    assert_round_trip(
        &Squeeze,
        random_input([2, 2, 4, 4], 21, &device()),
        0.0 + 1e-15,
    );
    assert_log_det_matches_jacobian(&Squeeze, random_input([1, 2, 4, 4], 22, &device()), 1e-8);
    // Channel 4c + 2i + j holds pixel (2y + i, 2x + j) of channel c.
    let values: Vec<f64> = (0..16).map(f64::from).collect();
    let x = genood_flows::host::tensor_from_f64(values, [1, 1, 4, 4], &device());
    let z = to_f64_vec(Squeeze.forward(x).0);
    // Output [1, 4, 2, 2]; channel 1 (i = 0, j = 1) at (0, 0) is input pixel (0, 1) = 1.
    assert_eq!(z[4], 1.0);
    // Channel 2 (i = 1, j = 0) at (y = 1, x = 1) is input pixel (3, 2) = 14.
    assert_eq!(z[2 * 4 + 3], 14.0);
}

#[test]
fn flow_step_laws() {
    let device = device();
    let config = MultiScaleConfig {
        levels: 1,
        steps_per_level: 1,
        hidden_channels: 8,
        coupling: CouplingKind::Affine,
        precision: Default::default(),
    };
    let flow = MultiScaleFlow::new(&config, [1, 4, 4], &mut seeded_rng(23), &device);
    let step: FlowStep = perturb_parameters(flow.levels[0].steps[0].clone(), 0.2, 23);
    assert_round_trip(&step, random_input([2, 4, 2, 2], 24, &device), TOL);
    assert_log_det_matches_jacobian(&step, random_input([1, 4, 2, 2], 25, &device), 1e-6);
}

fn tiny_flow(coupling: CouplingKind, seed: u64) -> MultiScaleFlow {
    let config = MultiScaleConfig {
        levels: 2,
        steps_per_level: 2,
        hidden_channels: 8,
        coupling,
        precision: Default::default(),
    };
    let device = device();
    let mut flow = MultiScaleFlow::new(&config, [2, 4, 4], &mut seeded_rng(seed), &device);
    flow.initialize(random_input([16, 2, 4, 4], seed, &device));
    // Small enough to keep the Jacobian well conditioned for central differences.
    perturb_parameters(flow, 0.03, seed)
}

/// Flattens every latent of a batch of one into a single `[1, D, 1, 1]` tensor.
fn concatenated_latents(flow: &MultiScaleFlow, x: Tensor<4>) -> Tensor<4> {
    let parts: Vec<Tensor<2>> = flow
        .forward(x)
        .latents
        .into_iter()
        .map(|z| z.reshape([1_i64, -1]))
        .collect();
    let joined = Tensor::cat(parts, 1);
    let d = joined.dims()[1];
    joined.reshape([1, d, 1, 1])
}

#[test]
fn whole_flow_round_trip_and_log_det() {
    for (coupling, seed) in [(CouplingKind::Affine, 26), (CouplingKind::Additive, 27)] {
        let flow = tiny_flow(coupling, seed);
        let x = random_input([3, 2, 4, 4], seed + 100, &device());
        let out = flow.forward(x.clone());
        let (back, inverse_log_det) = flow.inverse(out.latents.clone());
        let error = max_abs_diff(&to_f64_vec(back), &to_f64_vec(x));
        assert!(error < FLOW_TOL, "{coupling:?}: round trip error {error}");
        let sum = to_f64_vec(out.log_det.clone() + inverse_log_det);
        assert!(sum.iter().all(|v| v.abs() < FLOW_TOL));

        let one = random_input([1, 2, 4, 4], seed + 200, &device());
        let own = to_f64_vec(flow.forward(one.clone()).log_det)[0];
        let brute = brute_force_log_det(|v| concatenated_latents(&flow, v), one, 1e-5);
        assert!((own - brute).abs() < 1e-6, "{coupling:?}: {own} vs {brute}");
    }
}

#[test]
fn samples_invert_even_at_high_temperature() {
    let flow = tiny_flow(CouplingKind::Affine, 28);
    let x = flow.sample(4, [2, 4, 4], 2.0, &mut seeded_rng(29));
    assert_eq!(x.dims(), [4, 2, 4, 4]);
    let out = flow.forward(x.clone());
    let (back, _) = flow.inverse(out.latents);
    assert!(max_abs_diff(&to_f64_vec(back), &to_f64_vec(x)) < 1e-6);
}

#[test]
fn constant_volume_flow_has_the_same_log_det_for_every_input() {
    let flow = tiny_flow(CouplingKind::Additive, 30);
    assert!(flow.is_constant_volume());
    for step in flow.steps() {
        let channels = step.actnorm.bias.val().dims()[1];
        assert_constant_log_det(step, random_input([2, channels, 2, 2], 31, &device()));
    }
    let far_apart = Tensor::cat(
        vec![
            random_input([1, 2, 4, 4], 32, &device()),
            random_input([1, 2, 4, 4], 33, &device()).mul_scalar(5.0),
        ],
        0,
    );
    let log_det = to_f64_vec(flow.forward(far_apart).log_det);
    assert_eq!(log_det[0], log_det[1]);
    assert!(!tiny_flow(CouplingKind::Affine, 34).is_constant_volume());
}

#[test]
fn folded_flow_computes_what_the_layers_compute_one_by_one() {
    for (coupling, seed) in [(CouplingKind::Affine, 35), (CouplingKind::Additive, 36)] {
        // Every actnorm, scale and bias away from its initial value.
        let flow = perturb_parameters(tiny_flow(coupling, seed), 0.2, seed);
        let x = random_input([5, 2, 4, 4], seed + 300, &device());
        let folded = flow.fold().forward(x.clone());
        let layered = unfolded_forward(&flow, x);
        let close = |a: Tensor<1>, b: Tensor<1>, what: &str| {
            let (a, b) = (to_f64_vec(a), to_f64_vec(b));
            let scale = b.iter().fold(1.0, |m, v| f64::max(m, v.abs()));
            let error = max_abs_diff(&a, &b);
            assert!(
                error < 1e-12 * scale,
                "{coupling:?} {what}: {error} at scale {scale}"
            );
        };
        close(folded.log_det, layered.log_det, "log-det");
        close(folded.log_prior, layered.log_prior, "log prior");
        for (a, b) in folded.latents.into_iter().zip(layered.latents) {
            close(a.reshape([-1]), b.reshape([-1]), "latent");
        }
    }
}

#[test]
fn bf16_coupling_networks_leave_log_dets_and_priors_in_the_models_type() {
    let mut flow = tiny_flow(CouplingKind::Affine, 37);
    let x = random_input([4, 2, 4, 4], 38, &device());
    let exact = flow.forward(x.clone());
    flow.precision = genood_flows::multiscale::Precision::Bf16;
    let folded = flow.fold();
    assert!(
        folded.levels[0].steps[0].net_dtype.is_none(),
        "evaluation folds in full precision"
    );
    let mixed = flow.forward(x);
    assert_eq!(mixed.log_det.dtype(), exact.log_det.dtype());
    assert_eq!(mixed.log_prior.dtype(), exact.log_prior.dtype());
    // bf16 keeps 8 bits of mantissa: the networks' outputs move, the terms barely.
    let (a, b) = (to_f64_vec(mixed.log_det), to_f64_vec(exact.log_det));
    let error = max_abs_diff(&a, &b);
    assert!(error > 0.0, "the coupling networks did not run in bf16");
    assert!(
        error < 1e-2 * b.iter().fold(1.0, |m, v| f64::max(m, v.abs())),
        "{error}"
    );
}

#[test]
fn the_prior_map_adds_up_to_the_prior_term_and_sits_where_each_latent_was_squeezed_from() {
    let device = device();
    let x = random_input([2, 2, 4, 4], 32, &device);
    // Two levels: the split's densities spread over 2×2 blocks, the top's over 4×4.
    let flow = tiny_flow(CouplingKind::Affine, 31);
    let folded = FoldedFlow::new(&flow, flow.precision);
    let log_prior = to_f64_vec(folded.forward(x.clone()).log_prior);
    let map = to_f64_vec(folded.log_prior_map(x.clone()));
    for (i, expected) in log_prior.iter().enumerate() {
        let total: f64 = map[i * 16..(i + 1) * 16].iter().sum();
        assert!(
            (total - expected).abs() < 1e-9 * expected.abs(),
            "{total} against {expected}"
        );
    }
    // One level: each pixel carries a quarter of the densities of the latent position its
    // 2×2 block was squeezed into, summed over the channels.
    let config = MultiScaleConfig {
        levels: 1,
        steps_per_level: 2,
        hidden_channels: 8,
        coupling: CouplingKind::Affine,
        precision: Default::default(),
    };
    let flow = perturb_parameters(
        MultiScaleFlow::new(&config, [2, 4, 4], &mut seeded_rng(33), &device),
        0.1,
        33,
    );
    let folded = FoldedFlow::new(&flow, flow.precision);
    let top = folded.forward(x.clone()).latents.pop().unwrap();
    let densities = to_f64_vec(flow.top.log_probs(top));
    let map = to_f64_vec(folded.log_prior_map(x));
    for i in 0..2 {
        for y in 0..4 {
            for x in 0..4 {
                let latent: f64 = (0..8)
                    .map(|c| densities[((i * 8 + c) * 2 + y / 2) * 2 + x / 2])
                    .sum();
                let pixel = map[(i * 4 + y) * 4 + x];
                assert!(
                    (pixel - latent / 4.0).abs() < 1e-12 * latent.abs(),
                    "{pixel} against {latent}/4"
                );
            }
        }
    }
}
