//! Laws of the variational diffusion model's bound, each piece recomputed by brute force in
//! `f64`: the prior term against a Monte-Carlo KL, the decoder against a full normalised sum,
//! the continuous-time diffusion term against the discrete-time bound's Gaussian KLs, and the
//! estimator against its documented draws.

use burn::prelude::*;
use genood_flows::host::{seeded_rng, standard_normal, tensor_from_f64, to_f64_vec};
use genood_flows::noise::Noise;
use genood_flows::testing::{f64_device, perturb_parameters};
use genood_models::density::{part, statistic};
use genood_models::diffusion::{
    Diffusion, DiffusionConfig, Schedule, data_value, prior_term, reconstruction_term,
};
use genood_models::{DensityModel, ImageShape};
use rand::Rng;

const IMAGE: ImageShape = ImageShape {
    channels: 1,
    height: 8,
    width: 8,
};

/// A tiny model with every weight moved off its zero initialisation, so the network predicts
/// something.
fn model(device: &Device) -> Diffusion {
    let config = DiffusionConfig {
        image: IMAGE,
        channels: 4,
        multipliers: vec![1, 2],
        blocks: 1,
        schedule: Schedule::default(),
        sampling_steps: 8,
    };
    perturb_parameters(Diffusion::new(&config, &mut seeded_rng(3), device), 0.2, 4)
}

/// Random pixel values, `n` images.
fn pixels(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = seeded_rng(seed);
    (0..n * 64)
        .map(|_| rng.random_range(0..256) as f64)
        .collect()
}

/// `−½ log(2π v) − (x − m)² / (2v)`.
fn normal_log_density(x: f64, mean: f64, variance: f64) -> f64 {
    -0.5 * (2.0 * std::f64::consts::PI * variance).ln() - (x - mean).powi(2) / (2.0 * variance)
}

#[test]
fn the_prior_term_is_the_monte_carlo_kl_of_q_z1_from_the_standard_normal() {
    let schedule = Schedule::default();
    let x: Vec<f64> = [0.0, 37.0, 128.0, 255.0].map(data_value).to_vec();
    let (alpha, sigma) = (schedule.alpha(1.0), schedule.sigma(1.0));
    let mut rng = seeded_rng(1);
    let draws = 200_000;
    let mut estimate = 0.0;
    let mut squares = 0.0;
    for _ in 0..draws {
        let sample: f64 = x
            .iter()
            .map(|&x| {
                let z = alpha * x + sigma * standard_normal(&mut rng);
                normal_log_density(z, alpha * x, sigma * sigma) - normal_log_density(z, 0.0, 1.0)
            })
            .sum();
        estimate += sample / draws as f64;
        squares += sample * sample / draws as f64;
    }
    let standard_error = ((squares - estimate * estimate) / draws as f64).sqrt();
    let closed = prior_term(&schedule, &x);
    assert!(
        (closed - estimate).abs() < 4.0 * standard_error + 1e-12,
        "closed form {closed}, Monte Carlo {estimate} ± {standard_error}"
    );
}

#[test]
fn the_decoder_is_a_distribution_over_the_256_values_and_its_cutoff_loses_nothing() {
    // A wide γ(0) spreads each sub-pixel over many bins, VDM's narrow one over a few.
    for gamma_min in [-13.3, -8.0, -3.0] {
        let schedule = Schedule {
            gamma_min,
            gamma_max: 5.0,
        };
        let scale = (0.5 * gamma_min).exp();
        for r in [-1.2, -0.99, -0.3, 0.001, 0.5, 1.0, 1.3] {
            // −log p(v | z_0) for every v, z_0/α_0 = r: ε_0 is what puts r there from v.
            let minus_log_p: Vec<f64> = (0..256)
                .map(|v| {
                    let eps0 = (r - data_value(v as f64)) / scale;
                    reconstruction_term(&schedule, &[v as f64], &[eps0])
                })
                .collect();
            let total: f64 = minus_log_p.iter().map(|m| (-m).exp()).sum();
            assert!(
                (total - 1.0).abs() < 1e-9,
                "γ0 {gamma_min}, r {r}: Σ p = {total}"
            );
            // The full normalised sum over all 256 logits, no cutoff.
            let logits: Vec<f64> = (0..256)
                .map(|v| -0.5 * ((r - data_value(v as f64)) / scale).powi(2))
                .collect();
            let top = logits.iter().cloned().fold(f64::MIN, f64::max);
            let normaliser = top + logits.iter().map(|l| (l - top).exp()).sum::<f64>().ln();
            for v in [0usize, 100, 255] {
                let direct = normaliser - logits[v];
                // Far bins have −log p ~ 1e5: compare relatively.
                let tolerance = 1e-12 * direct.abs().max(1.0);
                assert!(
                    (minus_log_p[v] - direct).abs() < tolerance,
                    "γ0 {gamma_min}, r {r}, v {v}: {} vs {direct}",
                    minus_log_p[v]
                );
            }
        }
    }
}

#[test]
fn the_continuous_diffusion_term_is_the_limit_of_the_discrete_time_bound() {
    let device = f64_device();
    let model = model(&device);
    let schedule = model.schedule();
    let values = pixels(1, 5);
    let x: Vec<f64> = values.iter().map(|&p| data_value(p)).collect();
    let eps: Vec<f64> = {
        let mut rng = seeded_rng(6);
        (0..64).map(|_| standard_normal(&mut rng)).collect()
    };
    let steps = 1000;
    let t: Vec<f64> = (1..=steps).map(|i| i as f64 / steps as f64).collect();
    let repeat = |v: &[f64]| -> Tensor<4> {
        let rows: Vec<f64> = (0..steps).flat_map(|_| v.iter().copied()).collect();
        tensor_from_f64(rows, [steps, 1, 8, 8], &device)
    };
    // The model's continuous-time integrand on the grid, Riemann-summed over t.
    let continuous: f64 = to_f64_vec(model.diffusion_loss(repeat(&x), repeat(&eps), &t))
        .iter()
        .sum::<f64>()
        / steps as f64;
    // The discrete-time bound on the same grid: Σ_i KL(q(z_s | z_t, x) ‖ q(z_s | z_t, x̂)),
    // each a Gaussian KL from the posterior's mean and variance, with x̂ the network's
    // estimate of x from z_t.
    let z: Vec<f64> = t
        .iter()
        .flat_map(|&t| {
            let (a, s) = (schedule.alpha(t), schedule.sigma(t));
            x.iter().zip(&eps).map(move |(x, e)| a * x + s * e)
        })
        .collect();
    let eps_hat =
        to_f64_vec(model.predict_noise(tensor_from_f64(z.clone(), [steps, 1, 8, 8], &device), &t));
    let mut discrete = 0.0;
    for (i, &t) in t.iter().enumerate() {
        let s = t - 1.0 / steps as f64;
        let (alpha_t, sigma_t) = (schedule.alpha(t), schedule.sigma(t));
        let (alpha_s, sigma_s) = (schedule.alpha(s), schedule.sigma(s));
        let alpha_ts = alpha_t / alpha_s;
        let variance_ts = sigma_t.powi(2) - alpha_ts.powi(2) * sigma_s.powi(2);
        let variance_q = variance_ts * sigma_s.powi(2) / sigma_t.powi(2);
        let mean = |z: f64, x: f64| {
            alpha_ts * sigma_s.powi(2) / sigma_t.powi(2) * z
                + alpha_s * variance_ts / sigma_t.powi(2) * x
        };
        for j in 0..64 {
            let zt = z[i * 64 + j];
            let x_hat = (zt - sigma_t * eps_hat[i * 64 + j]) / alpha_t;
            discrete += (mean(zt, x[j]) - mean(zt, x_hat)).powi(2) / (2.0 * variance_q);
        }
    }
    let relative = (continuous - discrete).abs() / discrete;
    assert!(
        relative < 0.02,
        "continuous {continuous}, discrete-time (T = {steps}) {discrete}: {relative}"
    );
    assert!(
        continuous > 1.0,
        "a perturbed network leaves a diffusion term: {continuous}"
    );
}

#[test]
fn the_bound_is_its_three_terms_from_the_documented_draws() {
    let device = f64_device();
    let model = model(&device);
    let schedule = model.schedule();
    let (n, k) = (3, 4);
    let values = pixels(n, 7);
    let batch = tensor_from_f64(values.clone(), [n, 1, 8, 8], &device);
    let mut rngs: Vec<_> = (0..n as u64).map(|i| seeded_rng(40 + i)).collect();
    let terms = model.log_likelihood(batch, k, &mut Noise::PerImage(&mut rngs));
    let log_p = to_f64_vec(terms.log_p);
    let named = |name: &str| {
        let (_, values) = terms.parts.iter().find(|(n, _)| *n == name).unwrap();
        to_f64_vec(values.clone())
    };
    let (prior, reconstruction, diffusion) = (
        named(part::PRIOR_KL),
        named(part::RECONSTRUCTION),
        named(part::DIFFUSION),
    );
    for i in 0..n {
        assert!((log_p[i] + prior[i] + reconstruction[i] + diffusion[i]).abs() < 1e-9);
        // Image i's draws, recomputed as docs/format.md gives them: k uniform offsets, k · D
        // normals for ε, D normals for ε_0.
        let mut rng = seeded_rng(40 + i as u64);
        let offsets: Vec<f64> = (0..k).map(|_| rng.random::<f64>()).collect();
        let eps: Vec<f64> = (0..k * 64).map(|_| standard_normal(&mut rng)).collect();
        let eps0: Vec<f64> = (0..64).map(|_| standard_normal(&mut rng)).collect();
        let image = &values[i * 64..(i + 1) * 64];
        let x: Vec<f64> = image.iter().map(|&p| data_value(p)).collect();
        let times: Vec<f64> = (0..k).map(|j| (j as f64 + offsets[j]) / k as f64).collect();
        let rows = |v: &[f64]| {
            let all: Vec<f64> = (0..k).flat_map(|_| v.iter().copied()).collect();
            tensor_from_f64(all, [k, 1, 8, 8], &device)
        };
        let per_draw = to_f64_vec(model.diffusion_loss(
            rows(&x),
            tensor_from_f64(eps, [k, 1, 8, 8], &device),
            &times,
        ));
        let expected = per_draw.iter().sum::<f64>() / k as f64;
        assert!(
            (diffusion[i] - expected).abs() < 1e-9 * expected,
            "{} vs {expected}",
            diffusion[i]
        );
        assert!((prior[i] - prior_term(&schedule, &x)).abs() < 1e-12);
        assert!((reconstruction[i] - reconstruction_term(&schedule, image, &eps0)).abs() < 1e-12);
    }
    // Each image's bound is its own: the same in a batch of one.
    let alone = tensor_from_f64(values[64..128].to_vec(), [1, 1, 8, 8], &device);
    let mut rng = [seeded_rng(41)];
    let single = to_f64_vec(
        model
            .log_likelihood(alone, k, &mut Noise::PerImage(&mut rng))
            .log_p,
    );
    assert!((single[0] - log_p[1]).abs() < 1e-9);
}

#[test]
fn more_draws_per_image_shrink_the_estimators_spread() {
    let device = f64_device();
    let model = model(&device);
    let batch = tensor_from_f64(pixels(1, 8), [1, 1, 8, 8], &device);
    let spread = |k: usize| {
        let values: Vec<f64> = (0..40)
            .map(|seed| {
                let terms = model.log_likelihood(
                    batch.clone(),
                    k,
                    &mut Noise::Batch(&mut seeded_rng(seed)),
                );
                to_f64_vec(terms.log_p)[0]
            })
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64
    };
    let (one, sixteen) = (spread(1), spread(16));
    assert!(
        sixteen < one / 4.0,
        "variance with 1 draw {one}, with 16 {sixteen}"
    );
}

#[test]
fn detector_statistics_are_named_finite_and_each_images_own() {
    let device = f64_device();
    let model = model(&device);
    let values = pixels(3, 9);
    let batch = tensor_from_f64(values.clone(), [3, 1, 8, 8], &device);
    let mut rngs: Vec<_> = (0..3).map(|i| seeded_rng(60 + i)).collect();
    let statistics = model.detector_statistics(batch, &mut Noise::PerImage(&mut rngs));
    let names: Vec<&str> = statistics.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "msma@0.1",
            "msma@0.3",
            "msma@0.5",
            "msma@0.7",
            "msma@0.9",
            "path_rate",
            "path_curvature",
            "recon@0.5",
            "recon@0.65",
            "recon@0.8"
        ]
    );
    assert!(names.iter().all(|n| statistic::is_detector(n)));
    assert!(!statistic::is_detector(part::DIFFUSION));
    let batched: Vec<Vec<f64>> = statistics.into_iter().map(|(_, v)| to_f64_vec(v)).collect();
    assert!(batched.iter().flatten().all(|v| v.is_finite() && *v >= 0.0));
    let alone = tensor_from_f64(values[128..].to_vec(), [1, 1, 8, 8], &device);
    let mut rng = [seeded_rng(62)];
    for (column, (_, single)) in batched
        .iter()
        .zip(model.detector_statistics(alone, &mut Noise::PerImage(&mut rng)))
    {
        let single = to_f64_vec(single)[0];
        assert!((column[2] - single).abs() <= 1e-9 * single.abs().max(1e-12));
    }
}
