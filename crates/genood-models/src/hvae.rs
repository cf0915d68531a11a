//! A hierarchical VAE (Havtorn et al. 2021, "Hierarchical VAEs know what they don't know"):
//! `L` stochastic layers, bottom-up inference, top-down generation, with the discrete
//! likelihood per sub-pixel of genood's VAEs, so its bounds bound the same `log P(x)`.
//!
//! Inference is a deterministic bottom-up path `d_1 = f_1(x)`, `d_i = f_i(d_{i−1})`, each layer's
//! posterior `q(z_i | x) = N(μ_i(d_i), σ_i(d_i))`; generation is `p(z_L) = N(0, I)`,
//! `p(z_i | z_{i+1})` Gaussian, `p(x | z_1)` the decoder. The bound with `k` importance samples
//! is Burda et al.'s over `log p(x, z) − log q(z | x)`.
//!
//! Havtorn et al.'s score is the likelihood ratio `LLR^{>k} = L − L^{>k}`, where `L^{>k}` draws
//! the lowest `k` layers from the generative model's conditional prior instead of the
//! posterior: `q^{>k}(z | x) = p(z_{≤k} | z_{k+1}) q(z_{>k} | x)`, so its importance weight is
//! `log p(x | z_1) + Σ_{i>k} [log p(z_i | z_{i+1}) − log q(z_i | x)]`. Both bounds are computed
//! with [`HvaeConfig::llr_samples`] samples, for every `k` from 1 to `L − 1`.

use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};
use genood_flows::host::{normal_vec, tensor_from_f64};
use genood_flows::noise::Noise;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::density::{
    Bound, DensityModel, KlWeight, LikelihoodTerms, PixelMap, TrainingTerms, part, statistic,
};
use crate::layers::{Conv2d, Dense};
use crate::progress::Progress;
use crate::shape::ImageShape;
use crate::vae::{
    DISTORTION_MAP, Decoder, DecoderKind, Encoder, VaeConfig, gaussian, log_mean_exp,
};

/// Rows per network pass: bounds the memory of a `k`-sample bound.
const MAX_ROWS_PER_PASS: usize = 512;

/// Size of a hierarchical VAE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HvaeConfig {
    /// Input shape; height and width must be divisible by 4.
    pub image: ImageShape,
    /// Latent dimensions of each stochastic layer, the one nearest the image first (for a
    /// convolutional bottom layer, its channels).
    pub latents: Vec<usize>,
    /// The bottom layer is convolutional: `latents[0]` channels at half the image's height and
    /// width, read from the encoder's half-size feature map by a 3×3 convolution (Havtorn et
    /// al.'s FashionMNIST model: 8 channels at 14×14 under dense layers of 16 and 8).
    #[serde(default)]
    pub conv_bottom: bool,
    /// Channels of the first convolutions of the bottom-up path and of the decoder.
    pub channels: usize,
    /// Width of the dense layers.
    pub hidden: usize,
    /// The per-sub-pixel likelihood.
    pub decoder: DecoderKind,
    /// Importance samples of the two bounds of each likelihood ratio `LLR^{>k}`.
    pub llr_samples: usize,
    /// Bound on the log standard deviation of the layers above the first and of the
    /// conditional priors, `b · tanh(raw / b)`: a stabiliser, since the prior's draws of
    /// `LLR^{>k}` pass through several layers, where unbounded scales compound to overflow.
    #[serde(default = "max_log_std")]
    pub max_log_std: f64,
    /// `L^{>k}` sets the lowest `k` layers to their conditional prior's mean instead of
    /// drawing them, as Havtorn et al.'s evaluation script does (their paper draws them). With
    /// it, `L^{>k}` is no longer a bound on `log p(x)`.
    #[serde(default)]
    pub llr_prior_mean: bool,
}

fn max_log_std() -> f64 {
    5.0
}

/// `(mean, log_std)` of a layer's output with the log standard deviation bounded smoothly to
/// `(−bound, bound)`.
fn bounded_gaussian(out: Tensor<2>, bound: f64) -> (Tensor<2>, Tensor<2>) {
    let (mean, log_std) = gaussian(out);
    (mean, tanh(log_std.div_scalar(bound)).mul_scalar(bound))
}

impl HvaeConfig {
    /// Each stochastic layer's dimensions: a convolutional bottom layer's flattened.
    pub fn widths(&self) -> Vec<usize> {
        let [_, h, w] = self.image.dims();
        let mut widths = self.latents.clone();
        if self.conv_bottom {
            widths[0] *= (h / 2) * (w / 2);
        }
        widths
    }

    /// The single-layer VAE whose encoder and decoder make this model's bottom layer.
    pub(crate) fn bottom(&self) -> VaeConfig {
        VaeConfig {
            image: self.image,
            latent: self.latents[0],
            channels: self.channels,
            hidden: self.hidden,
            decoder: self.decoder,
            flow_layers: 0,
            flow_hidden: 0,
        }
    }
}

/// `log N(z; mean, e^{log_std})` of each coordinate.
fn gaussian_log_densities(z: Tensor<2>, mean: Tensor<2>, log_std: Tensor<2>) -> Tensor<2> {
    let standardized = (z - mean) / log_std.clone().exp();
    standard_normal_log_densities(standardized) - log_std
}

/// `log N(z; 0, 1)` of each coordinate.
fn standard_normal_log_densities(z: Tensor<2>) -> Tensor<2> {
    z.square()
        .mul_scalar(-0.5)
        .sub_scalar(0.5 * (2.0 * std::f64::consts::PI).ln())
}

/// Row sums of `[rows, width]`.
fn row_sums(t: Tensor<2>) -> Tensor<1> {
    t.sum_dim(1).squeeze_dim(1)
}

/// One step of the bottom-up path and its layer's posterior head.
#[derive(Module, Debug)]
struct Up {
    path: Dense,
    head: Dense,
}

/// One conditional prior `p(z_i | z_{i+1})`.
#[derive(Module, Debug)]
struct Down {
    hidden: Dense,
    out: Dense,
}

impl Down {
    fn forward(&self, above: Tensor<2>, bound: f64) -> (Tensor<2>, Tensor<2>) {
        bounded_gaussian(self.out.forward(relu(self.hidden.forward(above))), bound)
    }
}

/// A hierarchical VAE; see the module documentation.
#[derive(Module, Debug)]
pub struct Hvae {
    encoder: Encoder,
    /// A convolutional bottom layer's posterior head on the encoder's half-size map.
    bottom_head: Option<Conv2d>,
    /// The bottom-up path and posterior of layers 2..L.
    up: Vec<Up>,
    /// `p(z_i | z_{i+1})` of layers 1..L−1.
    down: Vec<Down>,
    decoder: Decoder,
    /// Each layer's dimensions, flattened.
    #[module(skip)]
    widths: Vec<usize>,
    #[module(skip)]
    image: [usize; 3],
    #[module(skip)]
    llr_samples: usize,
    #[module(skip)]
    max_log_std: f64,
    #[module(skip)]
    llr_prior_mean: bool,
}

/// Each layer's posterior parameters for a batch: `(mean, log_std)`, bottom layer first.
type Posterior = Vec<(Tensor<2>, Tensor<2>)>;

impl Hvae {
    /// A freshly initialised model; `rng` draws the initial weights.
    pub fn new(config: &HvaeConfig, rng: &mut StdRng, device: &Device) -> Self {
        let (h, widths) = (config.hidden, config.widths());
        let up = widths[1..]
            .iter()
            .map(|&l| Up {
                path: Dense::new(h, h, rng, device),
                head: Dense::new(h, 2 * l, rng, device),
            })
            .collect();
        let down = widths
            .windows(2)
            .map(|pair| Down {
                hidden: Dense::new(pair[1], h, rng, device),
                out: Dense::new(h, 2 * pair[0], rng, device),
            })
            .collect();
        let bottom = config.bottom();
        let (encoder, bottom_head, decoder) = if config.conv_bottom {
            let encoder = Encoder::headless(&bottom, rng, device);
            let head = Conv2d::same(config.channels, 2 * config.latents[0], 3, rng, device);
            (
                encoder,
                Some(head),
                Decoder::convolutional(&bottom, rng, device),
            )
        } else {
            let encoder = Encoder::new(&bottom, rng, device);
            (encoder, None, Decoder::new(&bottom, rng, device))
        };
        Self {
            encoder,
            bottom_head,
            up,
            down,
            decoder,
            widths,
            image: config.image.dims(),
            llr_samples: config.llr_samples,
            max_log_std: config.max_log_std,
            llr_prior_mean: config.llr_prior_mean,
        }
    }

    /// The number of stochastic layers.
    pub fn layers(&self) -> usize {
        self.widths.len()
    }

    /// The bottom layer's posterior `(mean, log_std)`, flattened, and the dense features the
    /// layers above read.
    fn bottom_posterior(&self, pixels: Tensor<4>) -> ((Tensor<2>, Tensor<2>), Tensor<2>) {
        let half_size = self.encoder.half_size_features(pixels);
        let features = self.encoder.features_from(half_size.clone());
        let posterior = match &self.bottom_head {
            Some(head) => {
                // Channels: the means', then the log standard deviations'.
                let out = head.forward(half_size);
                let [b, c, h, w] = out.dims();
                let half = |range| {
                    out.clone()
                        .slice([0..b, range, 0..h, 0..w])
                        .reshape([b, c / 2 * h * w])
                };
                (half(0..c / 2), half(c / 2..c))
            }
            None => self.encoder.posterior(features.clone()),
        };
        (posterior, features)
    }

    /// The posterior of every layer, from the bottom-up path.
    fn posterior(&self, pixels: Tensor<4>) -> Posterior {
        let (bottom, mut features) = self.bottom_posterior(pixels);
        let mut layers = vec![bottom];
        for up in &self.up {
            features = relu(up.path.forward(features));
            layers.push(bounded_gaussian(
                up.head.forward(features.clone()),
                self.max_log_std,
            ));
        }
        layers
    }

    /// One pass of `s` samples of each of the batch's images (rows sample-major: row `j·B + i`
    /// is sample `j` of image `i`), with the lowest `prior_layers` layers drawn from the
    /// conditional prior: `log p(x | z_1)` and, for each layer drawn from the posterior, its
    /// `log q − log p` coordinate by coordinate, `[s·B, width]`. `noise[l]` is layer `l`'s
    /// standard normal draws.
    fn sampled_terms(
        &self,
        pixels: Tensor<4>,
        posterior: &Posterior,
        s: usize,
        prior_layers: usize,
        noise: &[Tensor<2>],
    ) -> (Tensor<1>, Vec<Tensor<2>>) {
        let layers = self.layers();
        let repeated = |t: &Tensor<2>| t.clone().repeat_dim(0, s);
        let mut z: Vec<Option<Tensor<2>>> = vec![None; layers];
        let mut log_q: Vec<Option<Tensor<2>>> = vec![None; layers];
        for l in prior_layers..layers {
            let (mean, log_std) = (&posterior[l].0, &posterior[l].1);
            let (mean, log_std) = (repeated(mean), repeated(log_std));
            let value = mean.clone() + log_std.clone().exp() * noise[l].clone();
            log_q[l] = Some(gaussian_log_densities(value.clone(), mean, log_std));
            z[l] = Some(value);
        }
        // Top-down: each layer's conditional prior, and the lowest layers drawn from it.
        let mut log_p: Vec<Option<Tensor<2>>> = vec![None; layers];
        let top = z[layers - 1]
            .clone()
            .expect("the top layer is always inferred");
        log_p[layers - 1] = Some(standard_normal_log_densities(top));
        for l in (0..layers - 1).rev() {
            let above = z[l + 1].clone().expect("drawn top-down");
            let (mean, log_std) = self.down[l].forward(above, self.max_log_std);
            if l < prior_layers {
                z[l] = Some(if self.llr_prior_mean {
                    mean
                } else {
                    mean + log_std.exp() * noise[l].clone()
                });
            } else {
                let value = z[l].clone().expect("inferred");
                log_p[l] = Some(gaussian_log_densities(value, mean, log_std));
            }
        }
        let bottom = z[0].clone().expect("drawn");
        let log_likelihood = self.decoder.log_likelihood(pixels.repeat_dim(0, s), bottom);
        let kl = (prior_layers..layers)
            .map(|l| log_q[l].clone().expect("inferred") - log_p[l].clone().expect("scored"))
            .collect();
        (log_likelihood, kl)
    }

    /// The bound with `samples` importance samples and the lowest `prior_layers` layers drawn
    /// from the conditional prior (0: the model's bound `L`), with the ELBO, the mean
    /// distortion and per-layer KL over the samples, and the objective of the same draws
    /// with the KL terms weighted by `kl`. Each image draws `samples · Σ widths` standard
    /// normal values, sample after sample, layer after layer (bottom first).
    fn bound_with(
        &self,
        pixels: Tensor<4>,
        posterior: &Posterior,
        samples: usize,
        prior_layers: usize,
        kl: KlWeight,
        noise: &mut Noise,
    ) -> BoundTerms {
        let b = pixels.dims()[0];
        let device = pixels.device();
        let samples = samples.max(1);
        let total: usize = self.widths.iter().sum();
        let draws = noise.normal(b, samples * total);
        let per_pass = (MAX_ROWS_PER_PASS / b.max(1)).clamp(1, samples);
        let weighted = kl != KlWeight::BOUND;
        let (mut log_weights, mut objective_weights) = (Vec::new(), Vec::new());
        let (mut distortion, mut rates) = (Vec::new(), Vec::new());
        let mut done = 0;
        while done < samples {
            let s = per_pass.min(samples - done);
            let mut offset = 0;
            let layer_noise: Vec<Tensor<2>> = self
                .widths
                .iter()
                .map(|&width| {
                    let rows = (done..done + s)
                        .flat_map(|j| (0..b).map(move |i| (i * samples + j) * total + offset))
                        .flat_map(|start| draws[start..start + width].iter().copied())
                        .collect();
                    offset += width;
                    tensor_from_f64(rows, [s * b, width], &device)
                })
                .collect();
            let (log_likelihood, terms) =
                self.sampled_terms(pixels.clone(), posterior, s, prior_layers, &layer_noise);
            let layer_rates: Vec<Tensor<1>> = terms.iter().cloned().map(row_sums).collect();
            let weight = layer_rates
                .iter()
                .fold(log_likelihood.clone(), |w, rate| w - rate.clone());
            if weighted {
                // Free nats: each coordinate's KL below its share of the layer's budget counts
                // as that share, so the gradient leaves it alone.
                let penalty = terms
                    .into_iter()
                    .map(|term| {
                        let floor = kl.free_nats / term.dims()[1] as f64;
                        row_sums(term.clamp_min(floor))
                    })
                    .reduce(|a, b| a + b)
                    .expect("at least one layer is inferred");
                let objective = log_likelihood.clone() - penalty.mul_scalar(kl.beta);
                objective_weights.push(objective.reshape([s, b]));
            }
            log_weights.push(weight.reshape([s, b]));
            distortion.push(log_likelihood.neg().reshape([s, b]));
            rates.push(
                layer_rates
                    .into_iter()
                    .map(|t| t.reshape([s, b]))
                    .collect::<Vec<_>>(),
            );
            done += s;
        }
        let log_weights = Tensor::cat(log_weights, 0);
        let bound = log_mean_exp(log_weights.clone());
        let objective = if weighted {
            log_mean_exp(Tensor::cat(objective_weights, 0))
        } else {
            bound.clone()
        };
        let mean = |t: Vec<Tensor<2>>| Tensor::cat(t, 0).mean_dim(0).reshape([b]);
        let layers = rates.first().map_or(0, Vec::len);
        let rates = (0..layers)
            .map(|l| mean(rates.iter().map(|pass| pass[l].clone()).collect()))
            .collect();
        BoundTerms {
            elbo: log_weights.mean_dim(0).reshape([b]),
            bound,
            objective,
            distortion: mean(distortion),
            rates,
        }
    }
}

/// A bound of each image of a batch, `[B]` each.
struct BoundTerms {
    bound: Tensor<1>,
    /// The same draws' objective with the KL terms weighted.
    objective: Tensor<1>,
    elbo: Tensor<1>,
    distortion: Tensor<1>,
    /// `log q − log p` of each layer drawn from the posterior, averaged over the samples.
    rates: Vec<Tensor<1>>,
}

/// Names of each layer's KL term in [`LikelihoodTerms::parts`]: `rate_1` is the bottom's.
const RATE_NAMES: [&str; 8] = [
    "rate_1", "rate_2", "rate_3", "rate_4", "rate_5", "rate_6", "rate_7", "rate_8",
];

/// The most stochastic layers a configuration may have (each KL term is named).
pub const MAX_LAYERS: usize = RATE_NAMES.len();

impl DensityModel for Hvae {
    fn image_dims(&self) -> [usize; 3] {
        self.image
    }

    fn initialize(&mut self, _pixels: Tensor<4>, _rng: &mut StdRng) {}

    /// The bound, with the ELBO, each layer's rate `rate_l` (`E_q[log q(z_l | x) − log p(z_l |
    /// z_{l+1})]`, the bottom layer first) and the distortion as parts.
    fn log_likelihood(
        &self,
        pixels: Tensor<4>,
        samples: usize,
        noise: &mut Noise,
    ) -> LikelihoodTerms {
        let posterior = self.posterior(pixels.clone());
        let terms = self.bound_with(pixels, &posterior, samples, 0, KlWeight::BOUND, noise);
        let mut parts = vec![(part::ELBO, terms.elbo)];
        parts.extend(RATE_NAMES.iter().copied().zip(terms.rates));
        parts.push((part::DISTORTION, terms.distortion));
        LikelihoodTerms {
            log_p: terms.bound,
            parts,
        }
    }

    fn bound(&self, samples: usize) -> Bound {
        Bound::importance_weighted(samples)
    }

    /// The ELBO, and `log p(x | z_1) − β Σ_l Σ_d max(KL_{l,d}, free_nats / dims_l)` of the same
    /// draw (Havtorn et al.'s loss, with each coordinate's single-sample KL).
    fn training_terms(&self, pixels: Tensor<4>, noise: &mut Noise, kl: KlWeight) -> TrainingTerms {
        let posterior = self.posterior(pixels.clone());
        let terms = self.bound_with(pixels, &posterior, 1, 0, kl, noise);
        TrainingTerms {
            log_p: terms.bound,
            objective: terms.objective,
        }
    }

    /// `llr>k = L − L^{>k}` for `k = 1..L−1`, each bound with the configured samples; draws
    /// continue each image's stream: first `L`'s, then each `L^{>k}`'s in order of `k`.
    fn detector_statistics(
        &self,
        pixels: Tensor<4>,
        noise: &mut Noise,
    ) -> Vec<(String, Tensor<1>)> {
        let posterior = self.posterior(pixels.clone());
        let samples = self.llr_samples;
        let bound = |k, noise: &mut Noise| {
            self.bound_with(
                pixels.clone(),
                &posterior,
                samples,
                k,
                KlWeight::BOUND,
                noise,
            )
            .bound
        };
        let full = bound(0, noise);
        (1..self.layers())
            .map(|k| {
                let llr = full.clone() - bound(k, noise);
                (format!("{}{k}", statistic::LLR), llr)
            })
            .collect()
    }

    /// `−log p(x | z_1)` of each pixel at `z_1` the bottom layer's posterior mean.
    fn pixel_map(&self, pixels: Tensor<4>, _noise: &mut Noise) -> PixelMap {
        let ((mean, _), _) = self.bottom_posterior(pixels.clone());
        PixelMap {
            values: self.decoder.log_likelihood_map(pixels, mean).neg(),
            meaning: DISTORTION_MAP,
        }
    }

    /// The top layer from `N(0, temperature²)`, each layer below from its conditional prior
    /// with its spread scaled by `temperature`, each sub-pixel from the decoder.
    fn sample(
        &self,
        count: usize,
        temperature: f64,
        rng: &mut StdRng,
        task: &str,
        progress: &mut dyn Progress,
    ) -> Tensor<4> {
        let device = self.encoder.device();
        let normal = |rng: &mut StdRng, width: usize| {
            tensor_from_f64(normal_vec(rng, count * width, 1.0), [count, width], &device)
        };
        let layers = self.layers();
        let mut z = normal(rng, self.widths[layers - 1]).mul_scalar(temperature);
        for l in (0..layers - 1).rev() {
            let (mean, log_std) = self.down[l].forward(z, self.max_log_std);
            z = mean + log_std.exp().mul_scalar(temperature) * normal(rng, self.widths[l]);
        }
        let pixels = self.decoder.sample(z, rng);
        progress.advance(task, 1, 1);
        let [c, h, w] = self.image;
        tensor_from_f64(pixels, [count, c, h, w], &device)
    }
}

/// Checks the layer count against the names there are for each layer's KL term.
pub(crate) fn check_layers(latents: &[usize]) -> Result<(), String> {
    if latents.len() < 2 || latents.len() > MAX_LAYERS || latents.contains(&0) {
        return Err(format!(
            "latents must name 2 to {MAX_LAYERS} stochastic layers, each of at least 1 dimension, got {latents:?}"
        ));
    }
    Ok(())
}
