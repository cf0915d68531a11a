//! Glow (Kingma & Dhariwal 2018) over dequantized 8-bit images.

use burn::prelude::*;
use genood_flows::coupling::CouplingKind;
use genood_flows::dequantize::{dequantize, quantize};
use genood_flows::fold::FoldedFlow;
use genood_flows::multiscale::MultiScaleFlow;
use genood_flows::noise::Noise;
use rand::rngs::StdRng;

use crate::config::GlowConfig;
use crate::density::{Bound, DensityModel, LikelihoodTerms, PixelMap, part};
use crate::progress::Progress;

/// What a flow's pixel map holds.
const PRIOR_MAP: &str =
    "−log p_z of the latents squeezed from each pixel's block: the distribution term alone (nats)";

/// A multi-scale flow with uniform dequantization in front.
#[derive(Module, Debug)]
pub struct Glow {
    /// The flow from `x̃ ∈ [−0.5, 0.5)^D` to the latents.
    pub flow: MultiScaleFlow,
    /// `[channels, height, width]` of the input images.
    #[module(skip)]
    pub image: [usize; 3],
}

impl Glow {
    /// A freshly initialised Glow; `rng` draws the initial weights.
    pub fn new(config: &GlowConfig, rng: &mut StdRng, device: &Device) -> Self {
        let image = config.image.dims();
        let flow = MultiScaleFlow::new(&config.flow, image, rng, device);
        // Constant-volume Glow's defining property, checked once per model built.
        if config.flow.coupling == CouplingKind::Additive {
            assert!(
                flow.is_constant_volume(),
                "CV-Glow has a step whose log-det depends on x"
            );
        }
        Self { flow, image }
    }

    /// [`DensityModel::log_likelihood`] through `folded`, this model's flow folded once
    /// ([`MultiScaleFlow::fold`]) and reused while the parameters stay fixed.
    pub fn log_likelihood_folded(
        &self,
        folded: &FoldedFlow,
        pixels: Tensor<4>,
        noise: &mut Noise,
    ) -> LikelihoodTerms {
        let (x, scaling_log_det) = self.dequantized(pixels, noise);
        let out = folded.forward(x);
        let log_det = out.log_det + scaling_log_det;
        LikelihoodTerms {
            log_p: out.log_prior.clone() + log_det.clone(),
            parts: vec![(part::LOG_PRIOR, out.log_prior), (part::LOG_DET, log_det)],
        }
    }

    fn dequantized(&self, pixels: Tensor<4>, noise: &mut Noise) -> (Tensor<4>, Tensor<1>) {
        let noise = noise.uniform(pixels.dims(), &pixels.device());
        dequantize(pixels, noise)
    }
}

impl DensityModel for Glow {
    fn image_dims(&self) -> [usize; 3] {
        self.image
    }

    fn initialize(&mut self, pixels: Tensor<4>, rng: &mut StdRng) {
        let (x, _) = self.dequantized(pixels, &mut Noise::Batch(rng));
        self.flow.initialize(x);
    }

    fn log_likelihood(
        &self,
        pixels: Tensor<4>,
        _samples: usize,
        noise: &mut Noise,
    ) -> LikelihoodTerms {
        // Folded afresh on every call, in the training precision: this is the training path.
        let folded = FoldedFlow::new(&self.flow, self.flow.precision);
        self.log_likelihood_folded(&folded, pixels, noise)
    }

    fn bound(&self, _samples: usize) -> Bound {
        Bound::Dequantization
    }

    /// `−log p_z(f(x))` by pixel ([`FoldedFlow::log_prior_map`]): the distribution term alone,
    /// since the volume term does not split by pixel.
    fn pixel_map(&self, pixels: Tensor<4>, noise: &mut Noise) -> PixelMap {
        let folded = FoldedFlow::new(&self.flow, self.flow.precision);
        let (x, _) = self.dequantized(pixels, noise);
        PixelMap {
            values: folded.log_prior_map(x).neg(),
            meaning: PRIOR_MAP,
        }
    }

    fn sample(
        &self,
        count: usize,
        temperature: f64,
        rng: &mut StdRng,
        task: &str,
        progress: &mut dyn Progress,
    ) -> Tensor<4> {
        let pixels = quantize(self.flow.sample(count, self.image, temperature, rng));
        progress.advance(task, 1, 1);
        pixels
    }
}
