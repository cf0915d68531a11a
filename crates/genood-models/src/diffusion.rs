//! A variational diffusion model (Kingma et al. 2021, "Variational Diffusion Models") over 8-bit
//! images: a U-Net predicts the noise of `z_t = α_t x + σ_t ε` (Ho et al. 2020), and its
//! log-likelihood is the continuous-time variational bound with VDM's discretised decoder, so
//! it bounds the same discrete `log P(x)` as the other families' numbers.
//!
//! With `γ(t) = log(σ_t² / α_t²)` linear from `γ_min` at `t = 0` to `γ_max` at `t = 1`
//! (variance preserving: `α_t² = sigmoid(−γ)`, `σ_t² = sigmoid(γ)`) and `x` the pixel values
//! mapped to the centres of 256 bins of `[−1, 1]`,
//!
//! `−log P(x) ≤ KL(q(z_1 | x) ‖ N(0, I)) − E log p(x | z_0) + ½ γ′ E_{t, ε} ‖ε − ε̂(z_t, t)‖²`,
//!
//! the *prior*, *reconstruction* and *diffusion* terms. The first is computed in closed form,
//! the second with one draw of `z_0`, the third with `k` draws per image at stratified times
//! `t_j = (j + u_j)/k` (an unbiased estimate of the integral over `t`; `k` is the `samples`
//! argument of [`DensityModel::log_likelihood`], 1 in training). docs/format.md gives the
//! estimator, its variance and the order of its draws.
//!
//! The schedule is fixed, so the prior and reconstruction terms do not depend on the weights
//! and training minimises the diffusion term alone; they are computed on the host in `f64`.

use burn::prelude::*;
use burn::tensor::activation::silu;
use genood_flows::host::{normal_vec, tensor_from_f64, to_f64_vec};
use genood_flows::noise::Noise;
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::density::{Bound, DensityModel, LikelihoodTerms, PixelMap, part, statistic};
use crate::layers::{Conv2d, Deconv2d, Dense};
use crate::progress::Progress;
use crate::shape::ImageShape;

/// Network rows per pass: bounds the memory of a `k`-draw bound and of the detectors'
/// statistics whatever the batch and `k` are.
const MAX_ROWS_PER_PASS: usize = 256;

/// Logits this far below the largest add less than `e^{−60}` to the decoder's normaliser,
/// under the rounding of an `f64` sum: the bins beyond it are left out.
const DECODER_CUTOFF: f64 = 60.0;

/// Times of the multiscale score norms (MSMA, Mahmood et al. 2021).
pub const MSMA_TIMES: [f64; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];

/// Times the reconstruction score noises each input to (Graham et al. 2023).
pub const RECONSTRUCTION_TIMES: [f64; 3] = [0.5, 0.65, 0.8];

/// Deterministic (DDIM) steps of each reconstruction from its time back to 0.
pub const RECONSTRUCTION_STEPS: usize = 5;

/// Steps of the probability-flow path from the input to noise (DiffPath, Heng et al. 2024).
pub const PATH_STEPS: usize = 10;

/// The fixed noise schedule: `γ(t) = log(σ_t² / α_t²)`, linear in `t ∈ [0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// `γ(0)`: the log noise-to-signal ratio of `z_0`.
    pub gamma_min: f64,
    /// `γ(1)`: that of `z_1`.
    pub gamma_max: f64,
}

impl Default for Schedule {
    /// VDM's fixed linear schedule, `γ` from −13.3 to 5.
    fn default() -> Self {
        Self {
            gamma_min: -13.3,
            gamma_max: 5.0,
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Schedule {
    /// `γ(t)`.
    pub fn gamma(&self, t: f64) -> f64 {
        self.gamma_min + (self.gamma_max - self.gamma_min) * t
    }

    /// `γ′(t)`, constant for a linear schedule.
    pub fn slope(&self) -> f64 {
        self.gamma_max - self.gamma_min
    }

    /// `α_t = sqrt(sigmoid(−γ(t)))`.
    pub fn alpha(&self, t: f64) -> f64 {
        sigmoid(-self.gamma(t)).sqrt()
    }

    /// `σ_t = sqrt(sigmoid(γ(t)))`.
    pub fn sigma(&self, t: f64) -> f64 {
        sigmoid(self.gamma(t)).sqrt()
    }
}

/// Size of a diffusion model's U-Net and its schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffusionConfig {
    /// Input shape; height and width must be divisible by `2^(levels − 1)`.
    pub image: ImageShape,
    /// Channels of the first level.
    pub channels: usize,
    /// Each level's channels as a multiple of `channels`; every level after the first halves
    /// the resolution.
    pub multipliers: Vec<usize>,
    /// Residual blocks per level, on the way down and on the way up.
    pub blocks: usize,
    /// The noise schedule.
    #[serde(default)]
    pub schedule: Schedule,
    /// Steps of the ancestral sampler.
    pub sampling_steps: usize,
}

impl DiffusionConfig {
    /// The channels of each level.
    pub fn level_channels(&self) -> Vec<usize> {
        self.multipliers.iter().map(|m| m * self.channels).collect()
    }
}

/// Pixel value `0..=255` as the model's data: the centre of its bin of `[−1, 1]`.
pub fn data_value(pixel: f64) -> f64 {
    (pixel + 0.5) / 128.0 - 1.0
}

/// The prior term of one image, in nats: `KL(N(α_1 x, σ_1²) ‖ N(0, 1))` summed over its
/// sub-pixels `x` (data values).
pub fn prior_term(schedule: &Schedule, x: &[f64]) -> f64 {
    let (alpha, sigma) = (schedule.alpha(1.0), schedule.sigma(1.0));
    let variance = sigma * sigma;
    x.iter()
        .map(|x| 0.5 * (variance + (alpha * x).powi(2) - variance.ln() - 1.0))
        .sum()
}

/// The reconstruction term of one image, in nats: `−log p(x | z_0)` at
/// `z_0 = α_0 (x + e^{γ(0)/2} ε_0)`, where each sub-pixel's 256 values have logits
/// `−½ ((z_0/α_0 − x_v) / e^{γ(0)/2})²` (VDM's decoder). `pixels` are values `0..=255`.
pub fn reconstruction_term(schedule: &Schedule, pixels: &[f64], eps0: &[f64]) -> f64 {
    let scale = (0.5 * schedule.gamma(0.0)).exp();
    let logit = |r: f64, v: usize| -0.5 * ((r - data_value(v as f64)) / scale).powi(2);
    pixels
        .iter()
        .zip(eps0)
        .map(|(&pixel, &e)| {
            let r = data_value(pixel) + scale * e;
            // The logits are a parabola in v, largest at the bin nearest r: sum outwards from
            // it until the terms stop counting.
            let nearest = ((r + 1.0) * 128.0 - 0.5).round().clamp(0.0, 255.0) as usize;
            let top = logit(r, nearest);
            let mut sum = 1.0;
            for side in [-1i64, 1] {
                let mut v = nearest as i64 + side;
                while (0..256).contains(&v) {
                    let gap = logit(r, v as usize) - top;
                    if gap < -DECODER_CUTOFF {
                        break;
                    }
                    sum += gap.exp();
                    v += side;
                }
            }
            top + sum.ln() - logit(r, pixel as usize)
        })
        .sum()
}

/// Sinusoidal features of each time (as `1000 t`), `dim` per row: sines then cosines.
fn time_features(t: &[f64], dim: usize) -> Vec<f64> {
    let half = dim / 2;
    let mut out = Vec::with_capacity(t.len() * dim);
    for &t in t {
        let frequencies = (0..half).map(|i| (-(10_000f64.ln()) * i as f64 / half as f64).exp());
        let angles: Vec<f64> = frequencies.map(|f| 1000.0 * t * f).collect();
        out.extend(angles.iter().map(|a| a.sin()));
        out.extend(angles.iter().map(|a| a.cos()));
        out.extend(std::iter::repeat_n(0.0, dim - 2 * half));
    }
    out
}

/// Group normalisation (Wu & He 2018) with a learned scale and shift per channel.
#[derive(Module, Debug)]
struct GroupNorm {
    scale: burn::module::Param<Tensor<1>>,
    shift: burn::module::Param<Tensor<1>>,
    #[module(skip)]
    groups: usize,
}

impl GroupNorm {
    /// Up to 8 groups: the largest power of two up to 8 that divides `channels`.
    fn new(channels: usize, device: &Device) -> Self {
        let groups = [8, 4, 2, 1]
            .into_iter()
            .find(|g| channels.is_multiple_of(*g))
            .unwrap_or(1);
        Self {
            scale: burn::module::Param::from_tensor(Tensor::ones([channels], device)),
            shift: burn::module::Param::from_tensor(Tensor::zeros([channels], device)),
            groups,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let g = self.groups;
        let grouped = x.reshape([b, g, (c / g) * h * w]);
        let centred = grouped.clone() - grouped.mean_dim(2);
        let variance = centred.clone().square().mean_dim(2);
        let normalised = (centred / variance.add_scalar(1e-5).sqrt()).reshape([b, c, h, w]);
        normalised * self.scale.val().reshape([1, c, 1, 1]) + self.shift.val().reshape([1, c, 1, 1])
    }
}

/// A residual block: two 3×3 convolutions with the time embedding added between them; the
/// second starts at zero, so each block starts as the identity (or its 1×1 projection).
#[derive(Module, Debug)]
struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time: Dense,
    norm2: GroupNorm,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    fn new(
        inputs: usize,
        outputs: usize,
        embed: usize,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        Self {
            norm1: GroupNorm::new(inputs, device),
            conv1: Conv2d::same(inputs, outputs, 3, rng, device),
            time: Dense::new(embed, outputs, rng, device),
            norm2: GroupNorm::new(outputs, device),
            conv2: Conv2d::same_zeros(outputs, outputs, 3, device),
            skip: (inputs != outputs)
                .then(|| Conv2d::new(inputs, outputs, [1, 1], 1, [0; 4], rng, device)),
        }
    }

    fn forward(&self, x: Tensor<4>, embedding: Tensor<2>) -> Tensor<4> {
        let b = x.dims()[0];
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let c = h.dims()[1];
        let h = h + self.time.forward(embedding).reshape([b, c, 1, 1]);
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        match &self.skip {
            Some(skip) => skip.forward(x) + h,
            None => x + h,
        }
    }
}

/// The noise-prediction network: a U-Net (Ronneberger et al. 2015, as in Ho et al. 2020,
/// without self-attention) whose blocks all see an embedding of the time.
#[derive(Module, Debug)]
struct UNet {
    time1: Dense,
    time2: Dense,
    input: Conv2d,
    down: Vec<ResBlock>,
    downsample: Vec<Conv2d>,
    middle: ResBlock,
    upsample: Vec<Deconv2d>,
    up: Vec<ResBlock>,
    out_norm: GroupNorm,
    output: Conv2d,
    #[module(skip)]
    blocks: usize,
    #[module(skip)]
    features: usize,
}

impl UNet {
    fn new(config: &DiffusionConfig, rng: &mut impl Rng, device: &Device) -> Self {
        let c = config.image.channels;
        let f = config.channels;
        let embed = 4 * f;
        let levels = config.level_channels();
        let top = levels.len() - 1;
        let mut down = Vec::new();
        let mut downsample = Vec::new();
        let mut inputs = f;
        for (l, &width) in levels.iter().enumerate() {
            for _ in 0..config.blocks {
                down.push(ResBlock::new(inputs, width, embed, rng, device));
                inputs = width;
            }
            if l < top {
                downsample.push(Conv2d::new(width, width, [3, 3], 2, [1; 4], rng, device));
            }
        }
        let middle = ResBlock::new(levels[top], levels[top], embed, rng, device);
        let upsample = levels[1..]
            .iter()
            .map(|&width| Deconv2d::new(width, width, [4, 4], 2, 1, 0, rng, device))
            .collect();
        let mut up = Vec::new();
        for (l, &width) in levels.iter().enumerate() {
            let below = if l == top { width } else { levels[l + 1] };
            for j in 0..config.blocks {
                let inputs = if j == 0 { below + width } else { width };
                up.push(ResBlock::new(inputs, width, embed, rng, device));
            }
        }
        Self {
            time1: Dense::new(f, embed, rng, device),
            time2: Dense::new(embed, embed, rng, device),
            input: Conv2d::same(c, f, 3, rng, device),
            down,
            downsample,
            middle,
            upsample,
            up,
            out_norm: GroupNorm::new(f * config.multipliers[0], device),
            // Zero: the network starts by predicting no noise.
            output: Conv2d::same_zeros(f * config.multipliers[0], c, 3, device),
            blocks: config.blocks,
            features: f,
        }
    }

    /// `ε̂(z, t)` for each row of `z`, `[R, C, H, W]`, at its time `t[r]`.
    fn forward(&self, z: Tensor<4>, t: &[f64]) -> Tensor<4> {
        let device = z.device();
        let features = tensor_from_f64(
            time_features(t, self.features),
            [t.len(), self.features],
            &device,
        );
        let embedding = silu(self.time2.forward(silu(self.time1.forward(features))));
        let levels = self.downsample.len() + 1;
        let mut h = self.input.forward(z);
        let mut skips = Vec::with_capacity(levels);
        for l in 0..levels {
            for block in &self.down[l * self.blocks..(l + 1) * self.blocks] {
                h = block.forward(h, embedding.clone());
            }
            skips.push(h.clone());
            if l + 1 < levels {
                h = self.downsample[l].forward(h);
            }
        }
        h = self.middle.forward(h, embedding.clone());
        for l in (0..levels).rev() {
            if l + 1 < levels {
                h = self.upsample[l].forward(h);
            }
            h = Tensor::cat(vec![h, skips[l].clone()], 1);
            for block in &self.up[l * self.blocks..(l + 1) * self.blocks] {
                h = block.forward(h, embedding.clone());
            }
        }
        self.output.forward(silu(self.out_norm.forward(h)))
    }
}

/// A variational diffusion model; see the module documentation for its bound.
#[derive(Module, Debug)]
pub struct Diffusion {
    network: UNet,
    #[module(skip)]
    image: [usize; 3],
    #[module(skip)]
    schedule: Schedule,
    #[module(skip)]
    sampling_steps: usize,
}

impl Diffusion {
    /// A freshly initialised model; `rng` draws the initial weights.
    pub fn new(config: &DiffusionConfig, rng: &mut StdRng, device: &Device) -> Self {
        Self {
            network: UNet::new(config, rng, device),
            image: config.image.dims(),
            schedule: config.schedule,
            sampling_steps: config.sampling_steps,
        }
    }

    /// The noise schedule.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    fn device(&self) -> Device {
        self.network.input.weight.val().device()
    }

    /// `ε̂(z, t)`: the network's noise prediction for each row of `z` (`[R, C, H, W]`, in data
    /// units) at its time `t[r]`.
    pub fn predict_noise(&self, z: Tensor<4>, t: &[f64]) -> Tensor<4> {
        self.network.forward(z, t)
    }

    /// The diffusion term's one-draw estimate of each row: `½ γ′ ‖ε − ε̂(α_t x + σ_t ε, t)‖²`
    /// for data `x`, noise `eps` (`[R, C, H, W]`) and times `t` (`R`).
    pub fn diffusion_loss(&self, x: Tensor<4>, eps: Tensor<4>, t: &[f64]) -> Tensor<1> {
        let [r, c, h, w] = x.dims();
        let device = x.device();
        let per_row = |f: &dyn Fn(f64) -> f64| {
            tensor_from_f64(t.iter().map(|&t| f(t)).collect(), [r, 1, 1, 1], &device)
        };
        let z = x * per_row(&|t| self.schedule.alpha(t))
            + eps.clone() * per_row(&|t| self.schedule.sigma(t));
        (eps - self.predict_noise(z, t))
            .square()
            .reshape([r, c * h * w])
            .sum_dim(1)
            .reshape([r])
            .mul_scalar(0.5 * self.schedule.slope())
    }

    /// `ε̂` of host rows (`D` values each) at their times, in passes of at most
    /// [`MAX_ROWS_PER_PASS`] rows: for evaluation, with no gradient.
    fn predict_rows(&self, z: &[f64], t: &[f64]) -> Vec<f64> {
        let [c, h, w] = self.image;
        let d = c * h * w;
        let device = self.device();
        let mut out = Vec::with_capacity(z.len());
        for (rows, times) in z
            .chunks(MAX_ROWS_PER_PASS * d)
            .zip(t.chunks(MAX_ROWS_PER_PASS))
        {
            let batch = tensor_from_f64(rows.to_vec(), [times.len(), c, h, w], &device);
            out.extend(to_f64_vec(self.predict_noise(batch, times)));
        }
        out
    }

    /// One deterministic (DDIM) step of every row from its time `t` to `s`:
    /// `z_s = α_s x̂ + σ_s ε̂` with `x̂ = (z_t − σ_t ε̂)/α_t`; returns `ε̂`.
    fn ddim_step(&self, z: &mut [f64], t: &[f64], s: &[f64]) -> Vec<f64> {
        let d = z.len() / t.len();
        let eps = self.predict_rows(z, t);
        for (r, (&t, &s)) in t.iter().zip(s).enumerate() {
            let (at, st) = (self.schedule.alpha(t), self.schedule.sigma(t));
            let (as_, ss) = (self.schedule.alpha(s), self.schedule.sigma(s));
            for (zi, ei) in z[r * d..(r + 1) * d]
                .iter_mut()
                .zip(&eps[r * d..(r + 1) * d])
            {
                *zi = as_ * (*zi - st * ei) / at + ss * ei;
            }
        }
        eps
    }
}

impl Diffusion {
    /// The squared error of each sub-pixel of each row's reconstruction: row `r` noises image
    /// `r / (rows per image)` of `x` to time `start[r]` with `eps` (`D` values per row), then
    /// denoises it in [`RECONSTRUCTION_STEPS`] DDIM steps on its own grid down to 0.
    fn reconstruction_errors(&self, x: &[f64], start: &[f64], eps: &[f64]) -> Vec<f64> {
        let d = self.image.iter().product::<usize>();
        let per_image = start.len() / (x.len() / d);
        let schedule = self.schedule;
        let image = |r: usize| &x[(r / per_image) * d..(r / per_image + 1) * d];
        let mut z: Vec<f64> = (0..start.len())
            .flat_map(|r| {
                let (alpha, sigma) = (schedule.alpha(start[r]), schedule.sigma(start[r]));
                image(r)
                    .iter()
                    .zip(&eps[r * d..(r + 1) * d])
                    .map(move |(x, e)| alpha * x + sigma * e)
            })
            .collect();
        let n = RECONSTRUCTION_STEPS as f64;
        for j in 0..RECONSTRUCTION_STEPS {
            let at = |fraction: f64| start.iter().map(|t| t * fraction).collect::<Vec<_>>();
            self.ddim_step(
                &mut z,
                &at(1.0 - j as f64 / n),
                &at(1.0 - (j + 1) as f64 / n),
            );
        }
        let alpha0 = schedule.alpha(0.0);
        (0..start.len())
            .flat_map(|r| {
                let rebuilt = &z[r * d..(r + 1) * d];
                image(r)
                    .iter()
                    .zip(rebuilt)
                    .map(move |(x, z)| (z / alpha0 - x).powi(2))
            })
            .collect()
    }
}

/// The time of the pixel map's reconstruction: the middle of [`RECONSTRUCTION_TIMES`].
const MAP_TIME: f64 = RECONSTRUCTION_TIMES[1];

/// Squared norm of each `d`-long row of `values`.
fn row_norms_squared(values: &[f64], d: usize) -> Vec<f64> {
    values
        .chunks(d)
        .map(|row| row.iter().map(|v| v * v).sum())
        .collect()
}

impl DensityModel for Diffusion {
    fn image_dims(&self) -> [usize; 3] {
        self.image
    }

    fn initialize(&mut self, _pixels: Tensor<4>, _rng: &mut StdRng) {}

    /// The bound with `samples` diffusion draws per image. Each image draws, in this order,
    /// its `k` time offsets `u_j` (uniform), its `k · D` noise values `ε` (draw `j` at
    /// `t_j = (j + u_j)/k`), and the `D` values `ε_0` of its reconstruction.
    fn log_likelihood(
        &self,
        pixels: Tensor<4>,
        samples: usize,
        noise: &mut Noise,
    ) -> LikelihoodTerms {
        let [b, c, h, w] = pixels.dims();
        let (d, k) = (c * h * w, samples.max(1));
        let device = pixels.device();
        let pixels = to_f64_vec(pixels);
        let x: Vec<f64> = pixels.iter().map(|&p| data_value(p)).collect();
        let offsets = noise.uniform_values(b, k);
        let eps = noise.normal(b, k * d);
        let eps0 = noise.normal(b, d);
        // Row r = i·k + j is draw j of image i, at its stratum's time.
        let times: Vec<f64> = offsets
            .iter()
            .enumerate()
            .map(|(r, u)| ((r % k) as f64 + u) / k as f64)
            .collect();
        let mut losses = Vec::new();
        for start in (0..b * k).step_by(MAX_ROWS_PER_PASS) {
            let rows = start..(start + MAX_ROWS_PER_PASS).min(b * k);
            let data = rows
                .clone()
                .flat_map(|r| x[(r / k) * d..(r / k + 1) * d].iter().copied())
                .collect();
            let shape = [rows.len(), c, h, w];
            losses.push(self.diffusion_loss(
                tensor_from_f64(data, shape, &device),
                tensor_from_f64(eps[rows.start * d..rows.end * d].to_vec(), shape, &device),
                &times[rows],
            ));
        }
        let diffusion = Tensor::cat(losses, 0)
            .reshape([b, k])
            .mean_dim(1)
            .reshape([b]);
        let image = |i: usize| i * d..(i + 1) * d;
        let prior: Vec<f64> = (0..b)
            .map(|i| prior_term(&self.schedule, &x[image(i)]))
            .collect();
        let reconstruction: Vec<f64> = (0..b)
            .map(|i| reconstruction_term(&self.schedule, &pixels[image(i)], &eps0[image(i)]))
            .collect();
        let constant: Vec<f64> = prior
            .iter()
            .zip(&reconstruction)
            .map(|(p, r)| p + r)
            .collect();
        let log_p = (diffusion.clone() + tensor_from_f64(constant, [b], &device)).neg();
        LikelihoodTerms {
            log_p,
            parts: vec![
                (part::PRIOR_KL, tensor_from_f64(prior, [b], &device)),
                (
                    part::RECONSTRUCTION,
                    tensor_from_f64(reconstruction, [b], &device),
                ),
                (part::DIFFUSION, diffusion),
            ],
        }
    }

    fn bound(&self, samples: usize) -> Bound {
        Bound::Diffusion(samples.max(1))
    }

    /// MSMA's score norms at [`MSMA_TIMES`] (the input scaled by `α_t`, not noised), DiffPath's
    /// rate and curvature of the probability-flow path from the input to `t = 1` in
    /// [`PATH_STEPS`] DDIM steps (the mean of `‖ε̂‖²/D` and of `‖Δε̂/Δt‖²/D` along it), and the
    /// mean squared error of the input's reconstruction from each of [`RECONSTRUCTION_TIMES`]
    /// in [`RECONSTRUCTION_STEPS`] DDIM steps. The reconstructions' noise is drawn after the
    /// bound's, `D` values per time.
    fn detector_statistics(
        &self,
        pixels: Tensor<4>,
        noise: &mut Noise,
    ) -> Vec<(String, Tensor<1>)> {
        let b = pixels.dims()[0];
        let d = self.image.iter().product::<usize>();
        let device = pixels.device();
        let x: Vec<f64> = to_f64_vec(pixels).iter().map(|&p| data_value(p)).collect();
        let schedule = self.schedule;
        let mut statistics = Vec::new();
        let mut push = |name: String, values: Vec<f64>| {
            statistics.push((name, tensor_from_f64(values, [b], &device)));
        };

        // MSMA: row r = i·L + l.
        let levels = MSMA_TIMES.len();
        let times: Vec<f64> = (0..b * levels).map(|r| MSMA_TIMES[r % levels]).collect();
        let z: Vec<f64> = (0..b * levels)
            .flat_map(|r| {
                let alpha = schedule.alpha(times[r]);
                x[(r / levels) * d..(r / levels + 1) * d]
                    .iter()
                    .map(move |v| alpha * v)
            })
            .collect();
        let norms = row_norms_squared(&self.predict_rows(&z, &times), d);
        for (l, &t) in MSMA_TIMES.iter().enumerate() {
            let values = (0..b)
                .map(|i| norms[i * levels + l].sqrt() / schedule.sigma(t))
                .collect();
            push(format!("{}{t}", statistic::MSMA), values);
        }

        // DiffPath: the whole batch walks the same times.
        let mut z: Vec<f64> = x.iter().map(|v| schedule.alpha(0.0) * v).collect();
        let step = 1.0 / PATH_STEPS as f64;
        let (mut rate, mut curvature) = (vec![0.0; b], vec![0.0; b]);
        let mut previous: Option<Vec<f64>> = None;
        for i in 0..PATH_STEPS {
            let (t, s) = (i as f64 * step, (i + 1) as f64 * step);
            let eps = self.ddim_step(&mut z, &vec![t; b], &vec![s; b]);
            for (n, norm) in row_norms_squared(&eps, d).into_iter().enumerate() {
                rate[n] += norm / (d * PATH_STEPS) as f64;
            }
            if let Some(before) = &previous {
                let change: Vec<f64> = eps
                    .iter()
                    .zip(before)
                    .map(|(a, b)| (a - b) / step)
                    .collect();
                for (n, norm) in row_norms_squared(&change, d).into_iter().enumerate() {
                    curvature[n] += norm / (d * (PATH_STEPS - 1)) as f64;
                }
            }
            previous = Some(eps);
        }
        push(format!("{}rate", statistic::PATH), rate);
        push(format!("{}curvature", statistic::PATH), curvature);

        // Reconstruction: row r = i·L + l.
        let levels = RECONSTRUCTION_TIMES.len();
        let eps = noise.normal(b, levels * d);
        let start: Vec<f64> = (0..b * levels)
            .map(|r| RECONSTRUCTION_TIMES[r % levels])
            .collect();
        let errors = self.reconstruction_errors(&x, &start, &eps);
        for (l, &t) in RECONSTRUCTION_TIMES.iter().enumerate() {
            let values = (0..b)
                .map(|i| {
                    errors[(i * levels + l) * d..(i * levels + l + 1) * d]
                        .iter()
                        .sum::<f64>()
                        / d as f64
                })
                .collect();
            push(format!("{}{t}", statistic::RECONSTRUCTION), values);
        }
        statistics
    }

    /// The squared error of each pixel's reconstruction from `t = 0.65` (the middle noise
    /// level of the reconstruction score), averaged over its channels; `D` draws per image.
    fn pixel_map(&self, pixels: Tensor<4>, noise: &mut Noise) -> PixelMap {
        let [b, c, h, w] = pixels.dims();
        let device = pixels.device();
        let x: Vec<f64> = to_f64_vec(pixels).iter().map(|&p| data_value(p)).collect();
        let eps = noise.normal(b, c * h * w);
        let errors = self.reconstruction_errors(&x, &vec![MAP_TIME; b], &eps);
        let map = (0..b * h * w)
            .map(|k| {
                let (i, pixel) = (k / (h * w), k % (h * w));
                (0..c)
                    .map(|ch| errors[(i * c + ch) * h * w + pixel])
                    .sum::<f64>()
                    / c as f64
            })
            .collect();
        PixelMap {
            values: tensor_from_f64(map, [b, h, w], &device),
            meaning: "squared error of the reconstruction from t = 0.65, data units of [−1, 1]",
        }
    }

    /// Ancestral sampling (VDM's sampler) in the configured number of steps from
    /// `z_1 ~ N(0, temperature²)`, each step's noise scaled by `temperature`; each sub-pixel
    /// is then the bin nearest `z_0 / α_0` (the decoder's most likely value).
    fn sample(
        &self,
        count: usize,
        temperature: f64,
        rng: &mut StdRng,
        task: &str,
        progress: &mut dyn Progress,
    ) -> Tensor<4> {
        let [c, h, w] = self.image;
        let d = c * h * w;
        let steps = self.sampling_steps.max(1);
        let schedule = self.schedule;
        let mut z = normal_vec(rng, count * d, temperature);
        progress.advance(task, 0, steps);
        for i in (1..=steps).rev() {
            let (t, s) = (i as f64 / steps as f64, (i - 1) as f64 / steps as f64);
            let eps = self.predict_rows(&z, &vec![t; count]);
            // c = 1 − e^{γ(s) − γ(t)}: the share of z_t's noise variance not left at s.
            let share = -(schedule.gamma(s) - schedule.gamma(t)).exp_m1();
            let (at, st) = (schedule.alpha(t), schedule.sigma(t));
            let (as_, ss) = (schedule.alpha(s), schedule.sigma(s));
            let spread = ss * share.sqrt() * temperature;
            let fresh = normal_vec(rng, count * d, 1.0);
            for ((zi, ei), ni) in z.iter_mut().zip(&eps).zip(&fresh) {
                *zi = as_ / at * (*zi - st * share * ei) + spread * ni;
            }
            progress.advance(task, steps - i + 1, steps);
        }
        let alpha0 = schedule.alpha(0.0);
        let pixels = z
            .iter()
            .map(|z| ((z / alpha0 + 1.0) * 128.0 - 0.5).round().clamp(0.0, 255.0))
            .collect();
        tensor_from_f64(pixels, [count, c, h, w], &self.device())
    }
}
