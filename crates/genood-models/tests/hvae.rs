//! Laws of the hierarchical VAE's bounds: each is below `log p(x)` as estimated with many
//! importance samples and rises with the number of samples; its parts add up; the bound with
//! the lowest layers drawn from the prior is a bound on the same `log p(x)`, so the likelihood
//! ratio shrinks as both tighten.

use burn::prelude::*;
use genood_flows::host::{seeded_rng, tensor_from_f64, to_f64_vec};
use genood_flows::noise::Noise;
use genood_flows::testing::f64_device;
use genood_models::density::part;
use genood_models::hvae::{Hvae, HvaeConfig};
use genood_models::vae::DecoderKind;
use genood_models::{DensityModel, ImageShape, KlWeight};
use rand::Rng;

const IMAGE: ImageShape = ImageShape {
    channels: 1,
    height: 8,
    width: 8,
};

/// A three-layer model; with `conv_bottom`, its bottom layer is 2 channels at 4×4.
fn model(device: &Device, llr_samples: usize, conv_bottom: bool) -> Hvae {
    Hvae::new(
        &config(llr_samples, conv_bottom),
        &mut seeded_rng(5),
        device,
    )
}

fn config(llr_samples: usize, conv_bottom: bool) -> HvaeConfig {
    HvaeConfig {
        image: IMAGE,
        latents: vec![if conv_bottom { 2 } else { 6 }, 4, 2],
        conv_bottom,
        channels: 4,
        hidden: 16,
        decoder: DecoderKind::Logistic,
        llr_samples,
        max_log_std: 5.0,
        llr_prior_mean: false,
    }
}

/// Smooth random images: neighbouring pixels alike, as in real images.
fn images(n: usize, seed: u64) -> Tensor<4> {
    let mut rng = seeded_rng(seed);
    let mut values = Vec::new();
    for _ in 0..n {
        let (a, b): (f64, f64) = (rng.random_range(0.0..255.0), rng.random_range(-20.0..20.0));
        for y in 0..8 {
            for x in 0..8 {
                values.push((a + b * (x + y) as f64 / 2.0).clamp(0.0, 255.0).round());
            }
        }
    }
    tensor_from_f64(values, [n, 1, 8, 8], &f64_device())
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn the_bound_rises_with_samples_towards_log_p_and_its_parts_add_up() {
    for conv_bottom in [false, true] {
        the_bound_rises_with_samples_towards_log_p_and_its_parts_add_up_with(conv_bottom);
    }
}

fn the_bound_rises_with_samples_towards_log_p_and_its_parts_add_up_with(conv_bottom: bool) {
    let device = f64_device();
    let model = model(&device, 2, conv_bottom);
    let n = 8;
    let pixels = images(n, 1);
    let mut means = Vec::new();
    for (i, k) in [1usize, 10, 100].into_iter().enumerate() {
        let mut per_repeat = Vec::new();
        for r in 0..6 {
            let mut rng = seeded_rng(100 * i as u64 + r);
            let terms = model.log_likelihood(pixels.clone(), k, &mut Noise::Batch(&mut rng));
            let log_p = to_f64_vec(terms.log_p);
            let parts: Vec<(&str, Vec<f64>)> = terms
                .parts
                .into_iter()
                .map(|(name, values)| (name, to_f64_vec(values)))
                .collect();
            let names: Vec<&str> = parts.iter().map(|(n, _)| *n).collect();
            assert_eq!(
                names,
                [part::ELBO, "rate_1", "rate_2", "rate_3", part::DISTORTION]
            );
            for j in 0..n {
                let elbo = parts[0].1[j];
                let rates: f64 = parts[1..4].iter().map(|(_, v)| v[j]).sum();
                // elbo = −(Σ rates + distortion), the means over the same samples.
                assert!((elbo + rates + parts[4].1[j]).abs() < 1e-9 * elbo.abs());
                // Jensen on the same draws.
                assert!(log_p[j] >= elbo - 1e-9);
            }
            per_repeat.push(mean(&log_p));
        }
        means.push(mean(&per_repeat));
    }
    // log p itself, estimated with 5,000 samples: above every bound's mean.
    let reference = mean(&to_f64_vec(
        model
            .log_likelihood(pixels, 5000, &mut Noise::Batch(&mut seeded_rng(9)))
            .log_p,
    ));
    assert!(
        means[0] < means[1] && means[1] < means[2] && means[2] < reference + 1e-6,
        "mean bound at k = 1, 10, 100: {means:?}; at 5,000: {reference}"
    );
}

#[test]
fn the_likelihood_ratios_are_named_per_layer_and_vanish_as_both_bounds_tighten() {
    for conv_bottom in [false, true] {
        the_likelihood_ratios_are_named_per_layer_and_vanish_as_both_bounds_tighten_with(
            conv_bottom,
        );
    }
}

fn the_likelihood_ratios_are_named_per_layer_and_vanish_as_both_bounds_tighten_with(
    conv_bottom: bool,
) {
    let device = f64_device();
    let pixels = images(6, 2);
    let ratios = |samples: usize| {
        let model = model(&device, samples, conv_bottom);
        let statistics = model.detector_statistics(
            pixels.clone(),
            &mut Noise::Batch(&mut seeded_rng(samples as u64)),
        );
        let names: Vec<String> = statistics.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, ["llr>1", "llr>2"]);
        statistics
            .into_iter()
            .map(|(_, v)| mean(&to_f64_vec(v).iter().map(|r| r.abs()).collect::<Vec<_>>()))
            .collect::<Vec<f64>>()
    };
    let (one, many) = (ratios(1), ratios(3000));
    for k in 0..2 {
        assert!(
            many[k] < one[k] / 3.0,
            "llr>{}: mean |ratio| {} with 1 sample, {} with 3,000",
            k + 1,
            one[k],
            many[k]
        );
    }
}

#[test]
fn llr_draws_continue_each_images_stream() {
    for conv_bottom in [false, true] {
        llr_draws_continue_each_images_stream_with(conv_bottom);
    }
}

fn llr_draws_continue_each_images_stream_with(conv_bottom: bool) {
    let device = f64_device();
    let model = model(&device, 4, conv_bottom);
    let pixels = images(3, 3);
    let mut rngs: Vec<_> = (0..3).map(|i| seeded_rng(20 + i)).collect();
    let batched: Vec<Vec<f64>> = model
        .detector_statistics(pixels.clone(), &mut Noise::PerImage(&mut rngs))
        .into_iter()
        .map(|(_, v)| to_f64_vec(v))
        .collect();
    let alone = pixels.slice([1..2, 0..1, 0..8, 0..8]);
    let mut rng = [seeded_rng(21)];
    for (column, (_, single)) in batched
        .iter()
        .zip(model.detector_statistics(alone, &mut Noise::PerImage(&mut rng)))
    {
        let single = to_f64_vec(single)[0];
        assert!((column[1] - single).abs() < 1e-9 * single.abs().max(1.0));
    }
}

#[test]
fn the_training_objective_weights_each_layers_kl_as_its_schedule_says() {
    for conv_bottom in [false, true] {
        the_training_objective_weights_each_layers_kl_as_its_schedule_says_with(conv_bottom);
    }
}

fn the_training_objective_weights_each_layers_kl_as_its_schedule_says_with(conv_bottom: bool) {
    let device = f64_device();
    let model = model(&device, 2, conv_bottom);
    let pixels = images(6, 4);
    let run = |kl: KlWeight| {
        let mut rng = seeded_rng(21);
        let terms = model.training_terms(pixels.clone(), &mut Noise::Batch(&mut rng), kl);
        (to_f64_vec(terms.log_p), to_f64_vec(terms.objective))
    };
    // The bound's weighting: the objective is the ELBO of `log_likelihood`'s draw.
    let mut rng = seeded_rng(21);
    let elbo = to_f64_vec(
        model
            .log_likelihood(pixels.clone(), 1, &mut Noise::Batch(&mut rng))
            .log_p,
    );
    let (log_p, objective) = run(KlWeight::BOUND);
    assert_eq!(log_p, elbo);
    assert_eq!(objective, elbo);
    let mut rng = seeded_rng(21);
    let distortion = model
        .log_likelihood(pixels.clone(), 1, &mut Noise::Batch(&mut rng))
        .parts
        .into_iter()
        .find(|(name, _)| *name == part::DISTORTION)
        .map(|(_, values)| to_f64_vec(values))
        .unwrap();
    let weighted = |beta, free_nats| run(KlWeight { beta, free_nats });
    // β = 0 leaves the reconstruction term alone, and the bound logged is unchanged.
    let (log_p, objective) = weighted(0.0, 0.0);
    assert_eq!(log_p, elbo);
    for (o, d) in objective.iter().zip(&distortion) {
        assert!((o + d).abs() < 1e-9 * d.abs(), "{o} against −{d}");
    }
    // Free nats far above every coordinate's KL: each of the 3 layers costs exactly its
    // budget, weighted by β.
    let (_, objective) = weighted(0.5, 1e4);
    for (o, d) in objective.iter().zip(&distortion) {
        let expected = -d - 0.5 * 3.0 * 1e4;
        assert!(
            (o - expected).abs() < 1e-9 * expected.abs(),
            "{o} against {expected}"
        );
    }
    // Free nats only raise what a coordinate's KL costs: the objective is below the ELBO.
    let (_, objective) = weighted(1.0, 2.0);
    for (o, e) in objective.iter().zip(&elbo) {
        assert!(*o <= e + 1e-12, "{o} above the ELBO {e}");
    }
    assert!(objective.iter().zip(&elbo).any(|(o, e)| o < e));
}

#[test]
fn a_convolutional_bottom_layer_is_its_channels_at_half_size() {
    let config = HvaeConfig {
        image: ImageShape {
            channels: 1,
            height: 28,
            width: 28,
        },
        latents: vec![8, 16, 8],
        conv_bottom: true,
        channels: 4,
        hidden: 16,
        decoder: DecoderKind::Logistic,
        llr_samples: 1,
        max_log_std: 5.0,
        llr_prior_mean: false,
    };
    assert_eq!(config.widths(), [8 * 14 * 14, 16, 8]);
    let dense = HvaeConfig {
        conv_bottom: false,
        ..config
    };
    assert_eq!(dense.widths(), [8, 16, 8]);
}

#[test]
fn the_prior_mean_option_changes_the_partial_bounds_only() {
    let device = f64_device();
    let pixels = images(4, 6);
    let drawn = Hvae::new(&config(3, true), &mut seeded_rng(5), &device);
    let at_mean = Hvae::new(
        &HvaeConfig {
            llr_prior_mean: true,
            ..config(3, true)
        },
        &mut seeded_rng(5),
        &device,
    );
    let bound = |model: &Hvae| {
        let mut rng = seeded_rng(8);
        to_f64_vec(
            model
                .log_likelihood(pixels.clone(), 3, &mut Noise::Batch(&mut rng))
                .log_p,
        )
    };
    assert_eq!(bound(&drawn), bound(&at_mean));
    let ratios = |model: &Hvae| -> Vec<Vec<f64>> {
        let mut rng = seeded_rng(8);
        model
            .detector_statistics(pixels.clone(), &mut Noise::Batch(&mut rng))
            .into_iter()
            .map(|(_, v)| to_f64_vec(v))
            .collect()
    };
    let (drawn, at_mean) = (ratios(&drawn), ratios(&at_mean));
    for (d, m) in drawn.iter().zip(&at_mean) {
        assert!(m.iter().all(|v| v.is_finite()));
        assert_ne!(d, m);
    }
}
