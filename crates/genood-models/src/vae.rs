//! Variational autoencoders (Kingma & Welling 2014) over 8-bit images, with a discrete
//! likelihood per sub-pixel, so their bounds are bounds on the same `log P(x)` as the other
//! models'.
//!
//! Two variants are presets of one structure: a Gaussian posterior with a 256-way categorical
//! decoder, and a posterior that is a RealNVP flow (Dinh et al. 2017) on top of the Gaussian
//! encoder, with a discretised logistic decoder. Both give the ELBO and the importance-weighted
//! bound of Burda et al. (2016) with `k` samples, batched so memory stays bounded.

use std::f64::consts::PI;

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu, tanh};
use genood_flows::host::{normal_vec, tensor_from_f64, to_f64_vec};
use genood_flows::noise::Noise;
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::density::{Bound, DensityModel, LikelihoodTerms, PixelMap, part};
use crate::layers::{Conv2d, Deconv2d, Dense};
use crate::mixture;
use crate::progress::Progress;
use crate::shape::ImageShape;

/// What a VAE's pixel map holds.
pub(crate) const DISTORTION_MAP: &str =
    "−log p(pixel | z) at the posterior's mean code: the decoder's surprise (nats)";

/// Images per network pass when `k` samples are drawn for each of a batch's images: bounds the
/// memory of the importance-weighted bound whatever `k` is.
const MAX_ROWS_PER_PASS: usize = 512;

/// The likelihood of each sub-pixel given the latent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecoderKind {
    /// A 256-way softmax per sub-pixel.
    Categorical,
    /// A discretised logistic per sub-pixel (one component of PixelCNN++'s mixture).
    Logistic,
}

/// Size and kind of a VAE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Input shape; height and width must be divisible by 4.
    pub image: ImageShape,
    /// Latent dimensions.
    pub latent: usize,
    /// Channels of the first convolutions (the deeper ones have twice as many).
    pub channels: usize,
    /// Width of the dense layers between the convolutions and the latent.
    pub hidden: usize,
    /// The per-sub-pixel likelihood.
    pub decoder: DecoderKind,
    /// RealNVP affine couplings on top of the Gaussian posterior (0: Gaussian posterior).
    pub flow_layers: usize,
    /// Width of each coupling's network.
    pub flow_hidden: usize,
}

/// `x ∈ [−1, 1]` from pixel values.
fn scaled(pixels: Tensor<4>) -> Tensor<4> {
    pixels.div_scalar(127.5).sub_scalar(1.0)
}

/// `Σ_i log N(x_i; 0, 1)` per row.
pub(crate) fn standard_normal_log_density(x: Tensor<2>) -> Tensor<1> {
    let dims = x.dims()[1] as f64;
    x.square()
        .sum_dim(1)
        .squeeze_dim::<1>(1)
        .mul_scalar(-0.5)
        .sub_scalar(0.5 * dims * (2.0 * PI).ln())
}

/// The Gaussian encoder: convolutions down to a quarter of the size, then dense layers to the
/// posterior's mean and log standard deviation.
#[derive(Module, Debug)]
pub(crate) struct Encoder {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    dense: Dense,
    /// The dense posterior's head; `None` where the latent read from these features is
    /// another module's (a hierarchical VAE's convolutional bottom layer).
    out: Option<Dense>,
}

impl Encoder {
    /// The encoder with its dense posterior head.
    pub(crate) fn new(config: &VaeConfig, rng: &mut impl Rng, device: &Device) -> Self {
        Self::build(config, true, rng, device)
    }

    /// The encoder's features without a posterior head.
    pub(crate) fn headless(config: &VaeConfig, rng: &mut impl Rng, device: &Device) -> Self {
        Self::build(config, false, rng, device)
    }

    fn build(config: &VaeConfig, head: bool, rng: &mut impl Rng, device: &Device) -> Self {
        let [c, h, w] = config.image.dims();
        let f = config.channels;
        let down = |i, o, rng: &mut _| Conv2d::new(i, o, [4, 4], 2, [1; 4], rng, device);
        Self {
            conv1: Conv2d::same(c, f, 3, rng, device),
            conv2: down(f, f, rng),
            conv3: down(f, 2 * f, rng),
            dense: Dense::new(2 * f * (h / 4) * (w / 4), config.hidden, rng, device),
            out: head.then(|| Dense::new(config.hidden, 2 * config.latent, rng, device)),
        }
    }

    /// The feature map at half the image's size, `[B, channels, H/2, W/2]`.
    pub(crate) fn half_size_features(&self, pixels: Tensor<4>) -> Tensor<4> {
        let h = relu(self.conv1.forward(scaled(pixels)));
        relu(self.conv2.forward(h))
    }

    /// The dense features read from the half-size map, `[B, hidden]`.
    pub(crate) fn features_from(&self, half_size: Tensor<4>) -> Tensor<2> {
        let b = half_size.dims()[0];
        let h = relu(self.conv3.forward(half_size));
        relu(self.dense.forward(h.reshape([b as i32, -1])))
    }

    /// The deterministic features the posterior's parameters are read from, `[B, hidden]`.
    pub(crate) fn features(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.features_from(self.half_size_features(pixels))
    }

    /// `(mean, log_std)` of the posterior from its features, each `[B, latent]`.
    pub(crate) fn posterior(&self, features: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let out = self.out.as_ref().expect("an encoder with a posterior head");
        gaussian(out.forward(features))
    }

    /// The device the weights live on.
    pub(crate) fn device(&self) -> Device {
        self.dense.weight.val().device()
    }

    /// `(mean, log_std)`, each `[B, latent]`.
    fn forward(&self, pixels: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        self.posterior(self.features(pixels))
    }
}

/// The importance-weighted bound of each column from its samples' log weights `[k, B]`:
/// `log (1/k) Σ_j e^{w_j}`, computed from the largest weight (Burda et al. 2016).
pub(crate) fn log_mean_exp(log_weights: Tensor<2>) -> Tensor<1> {
    let [k, b] = log_weights.dims();
    let max = log_weights.clone().max_dim(0).detach();
    (log_weights - max.clone())
        .exp()
        .sum_dim(0)
        .log()
        .add(max)
        .sub_scalar((k as f64).ln())
        .reshape([b])
}

/// A Gaussian's `(mean, log_std)` from a layer's output `[B, 2 · latent]`: the first half,
/// then the second.
pub(crate) fn gaussian(out: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let [b, width] = out.dims();
    let latent = width / 2;
    let mean = out.clone().slice([0..b, 0..latent]);
    let log_std = out.slice([0..b, latent..2 * latent]);
    (mean, log_std)
}

/// The decoder: dense layers up to a quarter-size feature map and a transposed convolution to
/// half size (or, for a convolutional latent at half size, one convolution), a transposed
/// convolution back to full size, a 1×1 convolution to the likelihood's parameters.
#[derive(Module, Debug)]
pub(crate) struct Decoder {
    // A dense latent's way to the half-size map; `None` for a convolutional latent.
    dense1: Option<Dense>,
    dense2: Option<Dense>,
    deconv1: Option<Deconv2d>,
    /// A convolutional latent's way in: its channels to the half-size map's.
    latent_conv: Option<Conv2d>,
    deconv2: Deconv2d,
    /// Applied to each pixel's features (a 1×1 convolution written as a matrix product, so the
    /// parameters come out pixel-major).
    out: Dense,
    #[module(skip)]
    kind: DecoderKind,
    #[module(skip)]
    image: [usize; 3],
    #[module(skip)]
    channels: usize,
}

impl Decoder {
    /// The decoder of a dense latent of `config.latent` dimensions.
    pub(crate) fn new(config: &VaeConfig, rng: &mut impl Rng, device: &Device) -> Self {
        let [_, h, w] = config.image.dims();
        let f = config.channels;
        let dense1 = Dense::new(config.latent, config.hidden, rng, device);
        let dense2 = Dense::new(config.hidden, 2 * f * (h / 4) * (w / 4), rng, device);
        let deconv1 = Deconv2d::new(2 * f, f, [4, 4], 2, 1, 0, rng, device);
        Self {
            dense1: Some(dense1),
            dense2: Some(dense2),
            deconv1: Some(deconv1),
            ..Self::full_size(config, None, rng, device)
        }
    }

    /// The decoder of a convolutional latent: `config.latent` channels at half the image's
    /// height and width, flattened channel-major.
    pub(crate) fn convolutional(config: &VaeConfig, rng: &mut impl Rng, device: &Device) -> Self {
        let conv = Conv2d::same(config.latent, config.channels, 3, rng, device);
        Self::full_size(config, Some(conv), rng, device)
    }

    /// The layers from the half-size map on, with `latent_conv` the way in.
    fn full_size(
        config: &VaeConfig,
        latent_conv: Option<Conv2d>,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        let c = config.image.channels;
        let f = config.channels;
        let outputs = match config.decoder {
            DecoderKind::Categorical => 256 * c,
            DecoderKind::Logistic => mixture::parameter_count(c, 1),
        };
        Self {
            dense1: None,
            dense2: None,
            deconv1: None,
            latent_conv,
            deconv2: Deconv2d::new(f, f, [4, 4], 2, 1, 0, rng, device),
            out: Dense::new(f, outputs, rng, device),
            kind: config.decoder,
            image: config.image.dims(),
            channels: f,
        }
    }

    /// The likelihood's parameters of every pixel of each latent row, pixel-major:
    /// `[B, H·W, P]`.
    fn parameters(&self, z: Tensor<2>) -> Tensor<3> {
        let b = z.dims()[0];
        let [_, h, w] = self.image;
        let f = self.channels;
        let half_size = match (&self.latent_conv, &self.dense1, &self.dense2, &self.deconv1) {
            (Some(conv), ..) => {
                relu(conv.forward(z.reshape([b as i32, -1, (h / 2) as i32, (w / 2) as i32])))
            }
            (None, Some(dense1), Some(dense2), Some(deconv1)) => {
                let x = relu(dense1.forward(z));
                let x = relu(dense2.forward(x)).reshape([b, 2 * f, h / 4, w / 4]);
                relu(deconv1.forward(x))
            }
            _ => unreachable!("a decoder is built with one way in"),
        };
        let x = relu(self.deconv2.forward(half_size));
        let pixels = x
            .reshape([b, f, h * w])
            .swap_dims(1, 2)
            .reshape([b * h * w, f]);
        let p = self.out.weight.dims()[1];
        self.out.forward(pixels).reshape([b, h * w, p])
    }

    /// `log p(x | z)` per row, `[B]`.
    pub(crate) fn log_likelihood(&self, pixels: Tensor<4>, z: Tensor<2>) -> Tensor<1> {
        let [b, _, h, w] = pixels.dims();
        self.log_likelihood_map(pixels, z)
            .reshape([b, h * w])
            .sum_dim(1)
            .reshape([b])
    }

    /// `log p(x | z)` of each pixel (its sub-pixels together), `[B, H, W]`.
    pub(crate) fn log_likelihood_map(&self, pixels: Tensor<4>, z: Tensor<2>) -> Tensor<3> {
        let params = self.parameters(z);
        let [b, c, h, w] = pixels.dims();
        match self.kind {
            DecoderKind::Categorical => {
                // Each sub-pixel's 256 logits are contiguous, so the softmax runs along the
                // last dimension.
                let logits = params.reshape([b, h * w, c, 256]);
                let index = pixels
                    .reshape([b, c, h * w])
                    .swap_dims(1, 2)
                    .reshape([b, h * w, c, 1]);
                log_softmax(logits, 3)
                    .gather(3, index.int())
                    .reshape([b, h * w, c])
                    .sum_dim(2)
                    .reshape([b, h, w])
            }
            DecoderKind::Logistic => {
                let p = params.dims()[2];
                let params = params.swap_dims(1, 2).reshape([b, p, h, w]);
                mixture::log_prob_map(pixels, params, 1)
            }
        }
    }

    /// One image per latent row, each sub-pixel drawn from its distribution.
    pub(crate) fn sample(&self, z: Tensor<2>, rng: &mut impl Rng) -> Vec<f64> {
        let params = self.parameters(z);
        let [b, _, p] = params.dims();
        let [c, h, w] = self.image;
        let values = to_f64_vec(params);
        let at = |n: usize, q: usize, y: usize, x: usize| values[(n * h * w + y * w + x) * p + q];
        let mut pixels = vec![0.0; b * c * h * w];
        for n in 0..b {
            for y in 0..h {
                for x in 0..w {
                    let drawn = match self.kind {
                        DecoderKind::Categorical => (0..c)
                            .map(|ch| {
                                let logits: Vec<f64> =
                                    (0..256).map(|v| at(n, ch * 256 + v, y, x)).collect();
                                mixture::draw_from_logits(&logits, rng) as f64
                            })
                            .collect(),
                        DecoderKind::Logistic => {
                            let local: Vec<f64> = (0..p).map(|q| at(n, q, y, x)).collect();
                            mixture::sample_pixel(&local, c, 1, 1.0, rng)
                        }
                    };
                    for (ch, v) in drawn.into_iter().enumerate() {
                        pixels[((n * c + ch) * h + y) * w + x] = v;
                    }
                }
            }
        }
        pixels
    }
}

/// A RealNVP affine coupling on the latent vector: the coordinates where the mask is 1 pass
/// through and set a scale `tanh(s)` (bounded, for stability) and shift of the others.
#[derive(Module, Debug)]
struct LatentCoupling {
    hidden: Dense,
    out: Dense,
    /// The conditioning coordinates are those `i` with `(i + parity)` odd.
    #[module(skip)]
    parity: usize,
}

impl LatentCoupling {
    fn new(
        latent: usize,
        width: usize,
        parity: usize,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        Self {
            hidden: Dense::new(latent, width, rng, device),
            // Zero output: every coupling starts as the identity.
            out: Dense::zeros(width, 2 * latent, device),
            parity,
        }
    }

    /// `(z', log |det ∂z'/∂z|)`.
    fn forward(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [b, latent] = z.dims();
        let mask: Vec<f64> = (0..latent)
            .map(|i| ((i + self.parity) % 2) as f64)
            .collect();
        let mask = tensor_from_f64(mask, [1, latent], &z.device()).cast(z.dtype());
        let free = mask.clone().neg().add_scalar(1.0);
        let h = relu(self.hidden.forward(z.clone() * mask.clone()));
        let st = self.out.forward(h);
        let log_scale = tanh(st.clone().slice([0..b, 0..latent])) * free.clone();
        let shift = st.slice([0..b, latent..2 * latent]) * free.clone();
        let out = z.clone() * mask + (z * log_scale.clone().exp() + shift) * free;
        (out, log_scale.sum_dim(1).squeeze_dim(1))
    }
}

/// A VAE with a Gaussian (optionally RealNVP-refined) posterior.
#[derive(Module, Debug)]
pub struct Vae {
    encoder: Encoder,
    flow: Vec<LatentCoupling>,
    decoder: Decoder,
    #[module(skip)]
    latent: usize,
}

/// The per-example quantities of one posterior sample.
struct SampleTerms {
    /// `log p(x | z)`.
    log_likelihood: Tensor<1>,
    /// `log p(z)`.
    log_prior: Tensor<1>,
    /// `log q(z | x)`.
    log_posterior: Tensor<1>,
}

impl Vae {
    /// A freshly initialised VAE; `rng` draws the initial weights.
    pub fn new(config: &VaeConfig, rng: &mut StdRng, device: &Device) -> Self {
        let flow = (0..config.flow_layers)
            .map(|i| LatentCoupling::new(config.latent, config.flow_hidden, i % 2, rng, device))
            .collect();
        Self {
            encoder: Encoder::new(config, rng, device),
            flow,
            decoder: Decoder::new(config, rng, device),
            latent: config.latent,
        }
    }

    /// `−log p(x | z)` of each pixel at `z` the posterior's mean carried through its flow:
    /// where the decoder, given the image's most typical code, is surprised by it.
    pub fn distortion_map(&self, pixels: Tensor<4>) -> Tensor<3> {
        let (mut z, _) = self.encode(pixels.clone());
        for coupling in &self.flow {
            z = coupling.forward(z).0;
        }
        self.decoder.log_likelihood_map(pixels, z).neg()
    }

    /// The Gaussian part of the posterior of each image: `(mean, log_std)`, `[B, latent]`.
    pub fn encode(&self, pixels: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        self.encoder.forward(pixels)
    }

    /// One reparameterised posterior sample per row from `(mean, log_std)` and `noise`, through
    /// the flow, with the terms of its importance weight.
    fn sample_terms(
        &self,
        pixels: Tensor<4>,
        mean: Tensor<2>,
        log_std: Tensor<2>,
        noise: Tensor<2>,
    ) -> SampleTerms {
        let mut z = mean + log_std.clone().exp() * noise.clone();
        let mut log_posterior =
            standard_normal_log_density(noise) - log_std.sum_dim(1).squeeze_dim(1);
        for coupling in &self.flow {
            let (next, log_det) = coupling.forward(z);
            z = next;
            log_posterior = log_posterior - log_det;
        }
        SampleTerms {
            log_likelihood: self.decoder.log_likelihood(pixels, z.clone()),
            log_prior: standard_normal_log_density(z),
            log_posterior,
        }
    }

    /// Log-likelihood terms with `samples` posterior samples per image, given the posterior's
    /// Gaussian parameters (the encoder's, or refit ones for likelihood regret).
    pub fn bound_with(
        &self,
        pixels: Tensor<4>,
        mean: Tensor<2>,
        log_std: Tensor<2>,
        samples: usize,
        noise: &mut Noise,
    ) -> LikelihoodTerms {
        let b = pixels.dims()[0];
        let device = pixels.device();
        let samples = samples.max(1);
        // Image i's standard normal draws for its sample j: `draws[(i · samples + j) · latent..]`.
        let latent = self.latent;
        let draws = noise.normal(b, samples * latent);
        let per_pass = (MAX_ROWS_PER_PASS / b.max(1)).clamp(1, samples);
        let mut log_weights = Vec::new();
        let (mut log_likelihood, mut rate) = (Vec::new(), Vec::new());
        let mut done = 0;
        while done < samples {
            let s = per_pass.min(samples - done);
            // Rows are sample-major: row j·B + i is sample j of image i.
            let repeated = |t: Tensor<2>| t.repeat_dim(0, s);
            let rows = (done..done + s)
                .flat_map(|j| (0..b).map(move |i| (i * samples + j) * latent))
                .flat_map(|start| draws[start..start + latent].iter().copied())
                .collect();
            let terms = self.sample_terms(
                pixels.clone().repeat_dim(0, s),
                repeated(mean.clone()),
                repeated(log_std.clone()),
                tensor_from_f64(rows, [s * b, latent], &device),
            );
            let weight = terms.log_likelihood.clone() + terms.log_prior.clone()
                - terms.log_posterior.clone();
            log_weights.push(weight.reshape([s, b]));
            log_likelihood.push(terms.log_likelihood.reshape([s, b]));
            rate.push((terms.log_posterior - terms.log_prior).reshape([s, b]));
            done += s;
        }
        let log_weights = Tensor::cat(log_weights, 0);
        let log_p = log_mean_exp(log_weights.clone());
        let mean_over_samples = |t: Vec<Tensor<2>>| Tensor::cat(t, 0).mean_dim(0).reshape([b]);
        let distortion = mean_over_samples(log_likelihood).neg();
        let rate = mean_over_samples(rate);
        LikelihoodTerms {
            log_p,
            parts: vec![
                (part::ELBO, log_weights.mean_dim(0).reshape([b])),
                (part::RATE, rate),
                (part::DISTORTION, distortion),
            ],
        }
    }
}

impl DensityModel for Vae {
    fn image_dims(&self) -> [usize; 3] {
        self.decoder.image
    }

    fn initialize(&mut self, _pixels: Tensor<4>, _rng: &mut StdRng) {}

    fn log_likelihood(
        &self,
        pixels: Tensor<4>,
        samples: usize,
        noise: &mut Noise,
    ) -> LikelihoodTerms {
        let (mean, log_std) = self.encode(pixels.clone());
        self.bound_with(pixels, mean, log_std, samples, noise)
    }

    fn bound(&self, samples: usize) -> Bound {
        Bound::importance_weighted(samples)
    }

    fn pixel_map(&self, pixels: Tensor<4>, _noise: &mut Noise) -> PixelMap {
        PixelMap {
            values: self.distortion_map(pixels),
            meaning: DISTORTION_MAP,
        }
    }

    /// Latents from the prior with standard deviation `temperature`, each sub-pixel drawn
    /// from the decoder's distribution.
    fn sample(
        &self,
        count: usize,
        temperature: f64,
        rng: &mut StdRng,
        task: &str,
        progress: &mut dyn Progress,
    ) -> Tensor<4> {
        let device = self.decoder.out.weight.val().device();
        let z = tensor_from_f64(
            normal_vec(rng, count * self.latent, 1.0),
            [count, self.latent],
            &device,
        )
        .mul_scalar(temperature);
        let pixels = self.decoder.sample(z, rng);
        progress.advance(task, 1, 1);
        let [c, h, w] = self.decoder.image;
        tensor_from_f64(pixels, [count, c, h, w], &device)
    }
}
