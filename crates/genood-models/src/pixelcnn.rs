//! PixelCNN++ (Salimans, Karpathy, Chen & Kingma 2017): an autoregressive model with an exact
//! discrete likelihood.
//!
//! Two streams see only the past in raster order: `u` the rows above (down-shifted
//! convolutions), `ul` the rows above and the pixels to the left (down-right-shifted ones).
//! Gated residual blocks with concatenated ELUs run over three resolutions, down and then up
//! again, with skip connections from the first pass into the second; a 1×1 convolution of the
//! last `ul` gives each pixel's discretised logistic mixture ([`crate::mixture`]).

use burn::prelude::*;
use burn::tensor::activation::{elu, sigmoid};
use burn::tensor::ops::PadMode;
use genood_flows::host::{tensor_from_f64, to_f64_vec};
use genood_flows::noise::Noise;
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::density::{Bound, DensityModel, LikelihoodTerms, PixelMap};
use crate::layers::{Conv2d, Deconv2d};
use crate::mixture;
use crate::progress::Progress;
use crate::shape::ImageShape;

/// Resolutions of the network (the input's, then halved twice).
const STAGES: usize = 3;

/// Size of a PixelCNN++.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PixelCnnConfig {
    /// Input shape; height and width must be divisible by 4.
    pub image: ImageShape,
    /// Channels of every convolution (160 in the paper).
    pub filters: usize,
    /// Gated residual blocks per resolution in the first pass (5 in the paper; the second pass
    /// has one more at the two lower resolutions, as in the reference code).
    pub resnet_blocks: usize,
    /// Logistic mixture components (10 in the paper).
    pub mixtures: usize,
}

/// Which past a causal convolution sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Causal {
    /// The rows above: pad `kh − 1` rows on top and centre horizontally.
    Down,
    /// The rows above and the pixels to the left: pad on top and on the left only.
    DownRight,
}

impl Causal {
    fn conv(
        self,
        inputs: usize,
        outputs: usize,
        kernel: [usize; 2],
        stride: usize,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Conv2d {
        let [kh, kw] = kernel;
        let padding = match self {
            Causal::Down => [kh - 1, 0, (kw - 1) / 2, (kw - 1) / 2],
            Causal::DownRight => [kh - 1, 0, kw - 1, 0],
        };
        Conv2d::new(inputs, outputs, kernel, stride, padding, rng, device)
    }

    /// The kernel of the gated blocks and the resampling convolutions.
    fn kernel(self) -> [usize; 2] {
        match self {
            Causal::Down => [2, 3],
            Causal::DownRight => [2, 2],
        }
    }
}

/// Shifts the image one row down (zeros enter at the top), so a pixel sees strictly the rows
/// above it.
fn down_shift(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.pad((0, 0, 1, 0), PadMode::Constant(0.0))
        .slice([0..b, 0..c, 0..h, 0..w])
}

/// Shifts the image one column right.
fn right_shift(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.pad((1, 0, 0, 0), PadMode::Constant(0.0))
        .slice([0..b, 0..c, 0..h, 0..w])
}

/// `elu([x, −x])` along channels: a non-linearity that keeps both signs' information.
fn concat_elu(x: Tensor<4>) -> Tensor<4> {
    elu(Tensor::cat(vec![x.clone(), x.neg()], 1), 1.0)
}

/// Causal up-sampling by 2: a stride-2 transposed convolution with the causal kernel, cropped
/// so that output row `r` (and, for `ul`, column `c`) only receives low-resolution features of
/// the past (the reference code's `down_shifted_deconv2d` / `down_right_shifted_deconv2d`).
#[derive(Module, Debug)]
struct Upsample {
    deconv: Deconv2d,
    #[module(skip)]
    centred: bool,
}

impl Upsample {
    fn new(filters: usize, causal: Causal, rng: &mut impl Rng, device: &Device) -> Self {
        Self {
            deconv: Deconv2d::new(filters, filters, causal.kernel(), 2, 0, 1, rng, device),
            centred: causal == Causal::Down,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, _, h, w] = x.dims();
        let y = self.deconv.forward(x);
        let c = y.dims()[1];
        // Output side 2n + k − 1 before cropping back to 2n.
        let left = usize::from(self.centred);
        y.slice([0..b, 0..c, 0..2 * h, left..left + 2 * w])
    }
}

/// `x + a ⊙ σ(b)`, where `[a, b]` is a causal convolution of `concat_elu` of `x` plus the
/// (1×1-projected) auxiliary input.
#[derive(Module, Debug)]
struct GatedResnet {
    input: Conv2d,
    auxiliary: Option<Conv2d>,
    output: Conv2d,
}

impl GatedResnet {
    fn new(
        filters: usize,
        causal: Causal,
        auxiliary_streams: usize,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Self {
        let kernel = causal.kernel();
        Self {
            input: causal.conv(2 * filters, filters, kernel, 1, rng, device),
            auxiliary: (auxiliary_streams > 0).then(|| {
                Conv2d::new(
                    2 * auxiliary_streams * filters,
                    filters,
                    [1, 1],
                    1,
                    [0; 4],
                    rng,
                    device,
                )
            }),
            output: causal.conv(2 * filters, 2 * filters, kernel, 1, rng, device),
        }
    }

    fn forward(&self, x: Tensor<4>, auxiliary: Option<Tensor<4>>) -> Tensor<4> {
        let mut h = self.input.forward(concat_elu(x.clone()));
        if let (Some(layer), Some(a)) = (&self.auxiliary, auxiliary) {
            h = h + layer.forward(concat_elu(a));
        }
        let h = self.output.forward(concat_elu(h));
        let [b, c2, height, width] = h.dims();
        let c = c2 / 2;
        let a = h.clone().slice([0..b, 0..c, 0..height, 0..width]);
        let gate = h.slice([0..b, c..c2, 0..height, 0..width]);
        x + a * sigmoid(gate)
    }
}

/// The blocks of one resolution for both streams.
#[derive(Module, Debug)]
struct Stage {
    u: Vec<GatedResnet>,
    ul: Vec<GatedResnet>,
}

impl Stage {
    /// `skip`: whether the blocks take skip connections from the first pass (second pass).
    fn new(filters: usize, blocks: usize, skip: bool, rng: &mut impl Rng, device: &Device) -> Self {
        let extra = usize::from(skip);
        let u = (0..blocks)
            .map(|_| GatedResnet::new(filters, Causal::Down, extra, rng, device))
            .collect();
        let ul = (0..blocks)
            .map(|_| GatedResnet::new(filters, Causal::DownRight, 1 + extra, rng, device))
            .collect();
        Self { u, ul }
    }
}

/// PixelCNN++ over 8-bit images.
#[derive(Module, Debug)]
pub struct PixelCnn {
    u_init: Conv2d,
    ul_init_down: Conv2d,
    ul_init_right: Conv2d,
    up: Vec<Stage>,
    downsample_u: Vec<Conv2d>,
    downsample_ul: Vec<Conv2d>,
    down: Vec<Stage>,
    upsample_u: Vec<Upsample>,
    upsample_ul: Vec<Upsample>,
    output: Conv2d,
    #[module(skip)]
    image: [usize; 3],
    #[module(skip)]
    mixtures: usize,
}

impl PixelCnn {
    /// A freshly initialised PixelCNN++; `rng` draws the initial weights.
    pub fn new(config: &PixelCnnConfig, rng: &mut StdRng, device: &Device) -> Self {
        let f = config.filters;
        let c = config.image.channels;
        // One extra input channel of ones marks the image's extent, so padding is told apart
        // from black pixels (as in the reference code).
        let inputs = c + 1;
        let up = (0..STAGES)
            .map(|_| Stage::new(f, config.resnet_blocks, false, rng, device))
            .collect();
        let downsample = |causal: Causal, rng: &mut StdRng| {
            (0..STAGES - 1)
                .map(|_| causal.conv(f, f, causal.kernel(), 2, rng, device))
                .collect::<Vec<_>>()
        };
        let downsample_u = downsample(Causal::Down, rng);
        let downsample_ul = downsample(Causal::DownRight, rng);
        let down = (0..STAGES)
            .map(|i| {
                let blocks = config.resnet_blocks + usize::from(i > 0);
                Stage::new(f, blocks, true, rng, device)
            })
            .collect();
        let upsample = |causal: Causal, rng: &mut StdRng| {
            (0..STAGES - 1)
                .map(|_| Upsample::new(f, causal, rng, device))
                .collect::<Vec<_>>()
        };
        let upsample_u = upsample(Causal::Down, rng);
        let upsample_ul = upsample(Causal::DownRight, rng);
        Self {
            u_init: Causal::Down.conv(inputs, f, [2, 3], 1, rng, device),
            ul_init_down: Causal::Down.conv(inputs, f, [1, 3], 1, rng, device),
            ul_init_right: Causal::DownRight.conv(inputs, f, [2, 1], 1, rng, device),
            up,
            downsample_u,
            downsample_ul,
            down,
            upsample_u,
            upsample_ul,
            output: Conv2d::new(
                f,
                mixture::parameter_count(c, config.mixtures),
                [1, 1],
                1,
                [0; 4],
                rng,
                device,
            ),
            image: config.image.dims(),
            mixtures: config.mixtures,
        }
    }

    /// The mixture parameters of every pixel, `[B, P, H, W]`; those of pixel `(i, j)` depend
    /// only on pixels before it in raster order.
    pub fn parameters_of(&self, pixels: Tensor<4>) -> Tensor<4> {
        let [b, _, h, w] = pixels.dims();
        let x = pixels.div_scalar(127.5).sub_scalar(1.0);
        let ones = Tensor::ones([b, 1, h, w], (&x.device(), x.dtype()));
        let x = Tensor::cat(vec![x, ones], 1);
        let mut u = down_shift(self.u_init.forward(x.clone()));
        let mut ul = down_shift(self.ul_init_down.forward(x.clone()))
            + right_shift(self.ul_init_right.forward(x));
        // Every output of the first pass but the last feeds one block of the second, in
        // reverse order.
        let (mut u_skips, mut ul_skips) = (Vec::new(), Vec::new());
        for (i, stage) in self.up.iter().enumerate() {
            for (u_block, ul_block) in stage.u.iter().zip(&stage.ul) {
                u_skips.push(u.clone());
                ul_skips.push(ul.clone());
                u = u_block.forward(u, None);
                ul = ul_block.forward(ul, Some(u.clone()));
            }
            if i + 1 < STAGES {
                u_skips.push(u.clone());
                ul_skips.push(ul.clone());
                u = self.downsample_u[i].forward(u);
                ul = self.downsample_ul[i].forward(ul);
            }
        }
        for (i, stage) in self.down.iter().enumerate() {
            for (u_block, ul_block) in stage.u.iter().zip(&stage.ul) {
                u = u_block.forward(u, u_skips.pop());
                let skip = ul_skips
                    .pop()
                    .expect("one skip per block of the second pass");
                ul = ul_block.forward(ul, Some(Tensor::cat(vec![u.clone(), skip], 1)));
            }
            if i + 1 < STAGES {
                u = self.upsample_u[i].forward(u);
                ul = self.upsample_ul[i].forward(ul);
            }
        }
        debug_assert!(u_skips.is_empty() && ul_skips.is_empty());
        self.output.forward(elu(ul, 1.0))
    }
}

impl DensityModel for PixelCnn {
    fn image_dims(&self) -> [usize; 3] {
        self.image
    }

    /// PixelCNN++ has no data-dependent initialisation here (weight normalisation's is one of
    /// the preset's listed deviations).
    fn initialize(&mut self, _pixels: Tensor<4>, _rng: &mut StdRng) {}

    fn log_likelihood(
        &self,
        pixels: Tensor<4>,
        _samples: usize,
        _noise: &mut Noise,
    ) -> LikelihoodTerms {
        let params = self.parameters_of(pixels.clone());
        LikelihoodTerms {
            log_p: mixture::log_prob(pixels, params, self.mixtures),
            parts: Vec::new(),
        }
    }

    /// `−log p` of each pixel given those before it: the map sums to `−log p(x)`.
    fn pixel_map(&self, pixels: Tensor<4>, _noise: &mut Noise) -> PixelMap {
        let params = self.parameters_of(pixels.clone());
        PixelMap {
            values: mixture::log_prob_map(pixels, params, self.mixtures).neg(),
            meaning: "−log p of each pixel given the pixels before it (nats)",
        }
    }

    fn bound(&self, _samples: usize) -> Bound {
        Bound::Exact
    }

    /// One network pass per pixel, in raster order; every channel of a pixel is drawn from that
    /// pass (the mixture is autoregressive over channels by itself). Since row `y` depends only
    /// on the rows above, each pass sees the image cut below row `y` (rounded up to a multiple
    /// of 4, the network's resolution step): the same parameters at half the average cost.
    fn sample(
        &self,
        count: usize,
        temperature: f64,
        rng: &mut StdRng,
        task: &str,
        progress: &mut dyn Progress,
    ) -> Tensor<4> {
        let [c, h, w] = self.image;
        let device = self.output.weight.val().device();
        let mut values = vec![0.0f64; count * c * h * w];
        for y in 0..h {
            let rows = (y + 1).next_multiple_of(4).min(h);
            for x in 0..w {
                let pixels = tensor_from_f64(values.clone(), [count, c, h, w], &device).slice([
                    0..count,
                    0..c,
                    0..rows,
                    0..w,
                ]);
                let params = self.parameters_of(pixels);
                let p = params.dims()[1];
                let at = to_f64_vec(params.slice([0..count, 0..p, y..y + 1, x..x + 1]));
                for n in 0..count {
                    let drawn = mixture::sample_pixel(
                        &at[n * p..(n + 1) * p],
                        c,
                        self.mixtures,
                        temperature,
                        rng,
                    );
                    for (ch, v) in drawn.into_iter().enumerate() {
                        values[((n * c + ch) * h + y) * w + x] = v;
                    }
                }
                progress.advance(task, y * w + x + 1, h * w);
            }
        }
        tensor_from_f64(values, [count, c, h, w], &device)
    }
}
