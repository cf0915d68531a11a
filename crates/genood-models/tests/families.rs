//! Laws of the non-flow families: the mixture's probabilities, PixelCNN++'s causality, the
//! VAEs' bounds.

use burn::prelude::*;
use genood_flows::host::{seeded_rng, tensor_from_f64, to_f64_vec};
use genood_flows::noise::Noise;
use genood_flows::testing::f64_device;
use genood_models::density::part;
use genood_models::mixture::{log_prob, parameter_count};
use genood_models::presets::{ModelKind, Preset};
use genood_models::{DensityModel, ImageShape, Model, Named};
use rand::Rng;

const IMAGE: ImageShape = ImageShape {
    channels: 1,
    height: 8,
    width: 8,
};

/// Mixture parameters drawn at random, the same for every pixel: `[P]`.
fn random_parameters(channels: usize, mixtures: usize, seed: u64) -> Vec<f64> {
    let mut rng = seeded_rng(seed);
    (0..parameter_count(channels, mixtures))
        .map(|_| rng.random_range(-1.5..1.5))
        .collect()
}

/// `log P` of each pixel of a `[1, C, H, W]` image under the same parameters everywhere.
fn per_pixel_log_prob(values: &[f64], shape: [usize; 4], params: &[f64], mixtures: usize) -> f64 {
    let device = f64_device();
    let [_, _, h, w] = shape;
    let p = params.len();
    let tiled: Vec<f64> = params
        .iter()
        .flat_map(|v| std::iter::repeat_n(*v, h * w))
        .collect();
    let pixels = tensor_from_f64(values.to_vec(), shape, &device);
    let params = tensor_from_f64(tiled, [1, p, h, w], &device);
    to_f64_vec(log_prob(pixels, params, mixtures))[0]
}

#[test]
fn the_256_bins_of_a_grey_mixture_sum_to_one_edges_included() {
    for seed in 0..4 {
        let params = random_parameters(1, 3, seed);
        // One image of 256 pixels holding every level: Σ_v P(v) = Σ_v exp(log P(v)).
        let levels: Vec<f64> = (0..256).map(f64::from).collect();
        let total: f64 = levels
            .iter()
            .map(|&v| per_pixel_log_prob(&[v], [1, 1, 1, 1], &params, 3).exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-9, "seed {seed}: Σ P = {total}");
    }
}

#[test]
fn edge_bins_take_the_tails() {
    // One component centred at −3 (far below 0 on the [−1, 1] scale): almost all mass in v = 0.
    let params = [0.0, -3.0, -2.0];
    let p0 = per_pixel_log_prob(&[0.0], [1, 1, 1, 1], &params, 1).exp();
    assert!(p0 > 0.999, "P(0) = {p0}");
    let params = [0.0, 3.0, -2.0];
    let p255 = per_pixel_log_prob(&[255.0], [1, 1, 1, 1], &params, 1).exp();
    assert!(p255 > 0.999, "P(255) = {p255}");
}

#[test]
fn rgb_mixture_marginalises_to_the_red_channels_mixture() {
    let mixtures = 2;
    let params = random_parameters(3, mixtures, 7);
    // The red channel's own grey mixture: the logits, red means and red log-scales.
    let m = mixtures;
    let red: Vec<f64> = [
        &params[..m],
        &params[m..2 * m],
        &params[m + 3 * m..m + 4 * m],
    ]
    .concat();
    for r in [0.0, 37.0, 128.0, 255.0] {
        // A 256 × 256 image whose pixel (g, b) holds (r, g, b): Σ over the image = P(r).
        let mut values = vec![r; 256 * 256];
        values.extend((0..256).flat_map(|g| std::iter::repeat_n(f64::from(g), 256)));
        values.extend((0..256).flat_map(|_| (0..256).map(f64::from)));
        let device = f64_device();
        let p = params.len();
        let tiled: Vec<f64> = params
            .iter()
            .flat_map(|v| std::iter::repeat_n(*v, 256 * 256))
            .collect();
        let pixels = tensor_from_f64(values, [1, 3, 256, 256], &device);
        let params = tensor_from_f64(tiled, [1, p, 256, 256], &device);
        // log_prob sums over pixels; per-pixel probabilities come from a [65536, 3, 1, 1] batch.
        let pixels = pixels
            .reshape([3, 65536])
            .swap_dims(0, 1)
            .reshape([65536, 3, 1, 1]);
        let params = params
            .reshape([p, 65536])
            .swap_dims(0, 1)
            .reshape([65536, p, 1, 1]);
        let joint: f64 = to_f64_vec(log_prob(pixels, params, mixtures))
            .iter()
            .map(|l| l.exp())
            .sum();
        let marginal = per_pixel_log_prob(&[r], [1, 1, 1, 1], &red, mixtures).exp();
        assert!(
            (joint - marginal).abs() < 1e-9 * marginal.max(1e-3),
            "r = {r}: Σ_g,b P(r, g, b) = {joint}, P(r) = {marginal}"
        );
    }
}

fn tiny(kind: ModelKind, image: ImageShape, device: &Device) -> Model {
    Model::new(&Preset::Tiny.model(image, kind), &mut seeded_rng(3), device)
}

#[test]
fn pixelcnn_parameters_of_a_pixel_never_depend_on_it_or_on_later_pixels() {
    let device = f64_device().autodiff();
    for channels in [1, 3] {
        let image = ImageShape { channels, ..IMAGE };
        let Model::PixelCnn(model) = tiny(ModelKind::PixelCnnPp, image, &device) else {
            panic!("tiny pixelcnnpp is a PixelCNN++");
        };
        let mut rng = seeded_rng(5);
        let [c, h, w] = image.dims();
        let values: Vec<f64> = (0..c * h * w)
            .map(|_| f64::from(rng.random_range(0..256u32)))
            .collect();
        for (y, x) in [(0, 0), (0, 5), (3, 0), (3, 4), (7, 7), (5, 2)] {
            let pixels = tensor_from_f64(values.clone(), [1, c, h, w], &device).require_grad();
            let params = model.parameters_of(pixels.clone());
            let p = params.dims()[1];
            let at = params.slice([0..1, 0..p, y..y + 1, x..x + 1]).sum();
            let grads = at.backward();
            let gradient = to_f64_vec(pixels.grad(&grads).expect("input gradient"));
            let mut earlier_matters = false;
            for ch in 0..c {
                for yy in 0..h {
                    for xx in 0..w {
                        let g = gradient[(ch * h + yy) * w + xx];
                        if (yy, xx) >= (y, x) {
                            assert_eq!(
                                g, 0.0,
                                "C={c}: pixel ({y},{x}) depends on ({ch},{yy},{xx})"
                            );
                        } else if g != 0.0 {
                            earlier_matters = true;
                        }
                    }
                }
            }
            // Every pixel but the first sees some of its past.
            assert_eq!(earlier_matters, (y, x) != (0, 0), "C={c}: pixel ({y},{x})");
        }
        // Sampling relies on it: the image cut below row 4 gives rows 0..4 the same parameters.
        let pixels = tensor_from_f64(values.clone(), [1, c, h, w], &device);
        let full = model.parameters_of(pixels.clone());
        let p = full.dims()[1];
        let cut = model.parameters_of(pixels.slice([0..1, 0..c, 0..4, 0..w]));
        let top = full.slice([0..1, 0..p, 0..4, 0..w]);
        let difference = to_f64_vec((top - cut).abs().max());
        assert!(
            difference[0] < 1e-12,
            "C={c}: cut image changes the top rows by {difference:?}"
        );
    }
}

fn blobs(count: usize, image: ImageShape, seed: u64) -> Vec<f64> {
    let mut rng = seeded_rng(seed);
    let [c, h, w] = image.dims();
    let mut values = Vec::with_capacity(count * c * h * w);
    for _ in 0..count {
        let (cy, cx) = (rng.random_range(2.0..6.0), rng.random_range(2.0..6.0));
        for _ in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let d2: f64 = (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2);
                    let v = 220.0 * (-d2 / 4.0).exp() + rng.random_range(0.0..20.0);
                    values.push(v.min(255.0).floor());
                }
            }
        }
    }
    values
}

#[test]
fn vae_bounds_iw_is_above_its_elbo_and_grows_with_k() {
    let device = f64_device();
    for kind in [ModelKind::VaeCategorical, ModelKind::VaeRealNvp] {
        let model = tiny(kind, IMAGE, &device);
        let n = 16;
        let pixels = tensor_from_f64(blobs(n, IMAGE, 1), [n, 1, 8, 8], &device);
        let mut means = Vec::new();
        for (i, k) in [1usize, 10, 100].into_iter().enumerate() {
            let mut total = 0.0;
            let repeats = 8;
            for r in 0..repeats {
                let terms = model.log_likelihood(
                    pixels.clone(),
                    k,
                    &mut Noise::Batch(&mut seeded_rng(100 * i as u64 + r)),
                );
                let log_p = to_f64_vec(terms.log_p);
                let named = |name: &str| {
                    to_f64_vec(
                        terms
                            .parts
                            .iter()
                            .find(|(n, _)| *n == name)
                            .unwrap()
                            .1
                            .clone(),
                    )
                };
                let (elbo, rate, distortion) = (
                    named(part::ELBO),
                    named(part::RATE),
                    named(part::DISTORTION),
                );
                for j in 0..n {
                    // Jensen on the same draws: log-mean-exp ≥ mean.
                    assert!(
                        log_p[j] >= elbo[j] - 1e-9,
                        "{kind:?} k={k}: {} < {}",
                        log_p[j],
                        elbo[j]
                    );
                    assert!((elbo[j] + rate[j] + distortion[j]).abs() < 1e-6 * elbo[j].abs());
                    if k == 1 {
                        assert!((log_p[j] - elbo[j]).abs() < 1e-9);
                    }
                }
                total += log_p.iter().sum::<f64>() / n as f64;
            }
            means.push(total / repeats as f64);
        }
        assert!(
            means[0] < means[1] && means[1] < means[2],
            "{kind:?}: mean bound at k = 1, 10, 100: {means:?}"
        );
    }
}

#[test]
fn every_family_samples_images_of_its_shape_with_valid_pixels() {
    let device = f64_device();
    for kind in [
        ModelKind::PixelCnnPp,
        ModelKind::VaeCategorical,
        ModelKind::VaeRealNvp,
        ModelKind::Diffusion,
        ModelKind::Hvae,
    ] {
        let model = tiny(kind, IMAGE, &device);
        let mut counted = Counted(0);
        let samples = model.sample(3, 1.0, &mut seeded_rng(9), "sample", &mut counted);
        assert_eq!(samples.dims(), [3, 1, 8, 8]);
        assert!(counted.0 >= 1);
        let values = to_f64_vec(samples);
        assert!(
            values
                .iter()
                .all(|v| (0.0..=255.0).contains(v) && v.fract() == 0.0)
        );
    }
}

#[test]
fn every_preset_builds_every_family_under_its_own_name() {
    let device = f64_device();
    let shapes = [
        ImageShape {
            channels: 1,
            height: 28,
            width: 28,
        },
        ImageShape {
            channels: 3,
            height: 32,
            width: 32,
        },
    ];
    for &preset in Preset::ALL {
        for &kind in ModelKind::ALL {
            for image in shapes {
                let config = preset.model(image, kind);
                assert_eq!(config.validate(), Ok(()), "{preset:?} {kind:?} {image:?}");
                assert_eq!(config.label(), kind.name());
                assert_eq!(ModelKind::parse(kind.name()), Ok(kind));
                assert!(preset.train(kind).steps > 0);
            }
        }
    }
    // The quick models run on images of the real data's shape.
    for &kind in ModelKind::ALL {
        let model = Model::new(
            &Preset::Quick.model(shapes[0], kind),
            &mut seeded_rng(1),
            &device,
        );
        let pixels = tensor_from_f64(vec![0.0; 2 * 784], [2, 1, 28, 28], &device);
        let log_p = to_f64_vec(
            model
                .log_likelihood(pixels, 2, &mut Noise::Batch(&mut seeded_rng(2)))
                .log_p,
        );
        assert!(
            log_p.iter().all(|v| v.is_finite() && *v < 0.0),
            "{kind:?}: {log_p:?}"
        );
    }
}

/// Counts a task's reports, checking each against its total.
struct Counted(usize);

impl genood_models::Progress for Counted {
    fn advance(&mut self, task: &str, done: usize, total: usize) {
        assert_eq!(task, "sample");
        assert!(done <= total);
        self.0 += 1;
    }
}

#[test]
fn pixel_maps_have_the_images_shape_and_add_up_to_the_term_they_split() {
    let device = f64_device();
    let n = 3;
    let pixels = tensor_from_f64(blobs(n, IMAGE, 4), [n, 1, 8, 8], &device);
    for &kind in ModelKind::ALL {
        let model = tiny(kind, IMAGE, &device);
        let map = model.pixel_map(pixels.clone(), &mut Noise::Batch(&mut seeded_rng(1)));
        assert_eq!(map.values.dims(), [n, 8, 8], "{kind:?}");
        let values = to_f64_vec(map.values);
        assert!(values.iter().all(|v| v.is_finite()), "{kind:?}");
        // PixelCNN++'s map sums to −log p; a flow's to −log p_z(f(x)), the distribution term,
        // at the same dequantization noise.
        let total = match kind {
            ModelKind::PixelCnnPp => Some(None),
            ModelKind::Glow | ModelKind::CvGlow => Some(Some(part::LOG_PRIOR)),
            _ => None,
        };
        if let Some(part) = total {
            let terms =
                model.log_likelihood(pixels.clone(), 1, &mut Noise::Batch(&mut seeded_rng(1)));
            let log_p = to_f64_vec(match part {
                None => terms.log_p,
                Some(name) => {
                    let (_, values) = terms.parts.into_iter().find(|(n, _)| *n == name).unwrap();
                    values
                }
            });
            for i in 0..n {
                let total: f64 = values[i * 64..(i + 1) * 64].iter().sum();
                assert!(
                    (total + log_p[i]).abs() < 1e-9 * log_p[i].abs(),
                    "{total} vs {}",
                    log_p[i]
                );
            }
        }
        if kind == ModelKind::Diffusion {
            assert!(values.iter().all(|v| *v >= 0.0));
        }
    }
}

#[test]
fn the_new_families_refuse_sizes_they_cannot_build_naming_the_field() {
    use genood_models::ModelConfig;
    let image = ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    let refusal = |config: ModelConfig| config.validate().unwrap_err();
    let ModelConfig::Diffusion(diffusion) = Preset::Quick.model(image, ModelKind::Diffusion) else {
        panic!("a diffusion preset");
    };
    // 28 = 4 · 7 cannot be halved three times.
    let mut deep = diffusion.clone();
    deep.multipliers = vec![1, 2, 2, 2];
    let error = refusal(ModelConfig::Diffusion(deep));
    assert!(
        error.contains("4 levels need height and width divisible by 2^3, got 28×28"),
        "{error}"
    );
    let mut flat = diffusion;
    flat.schedule.gamma_min = flat.schedule.gamma_max;
    let error = refusal(ModelConfig::Diffusion(flat));
    assert!(
        error.contains("schedule.gamma_min must be finite and below gamma_max"),
        "{error}"
    );
    let ModelConfig::Hvae(hvae) = Preset::Quick.model(image, ModelKind::Hvae) else {
        panic!("a hierarchical VAE preset");
    };
    let mut single = hvae.clone();
    single.latents = vec![16];
    let error = refusal(ModelConfig::Hvae(single));
    assert!(
        error.contains("latents must name 2 to 8 stochastic layers"),
        "{error}"
    );
    let mut unbounded = hvae;
    unbounded.max_log_std = f64::NAN;
    let error = refusal(ModelConfig::Hvae(unbounded));
    assert!(
        error.contains("max_log_std must be finite and positive"),
        "{error}"
    );
}
