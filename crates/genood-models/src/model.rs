//! The one place a model is built from its configuration.

use burn::prelude::*;
use genood_flows::fold::FoldedFlow;
use genood_flows::multiscale::MultiScaleFlow;
use genood_flows::noise::Noise;
use rand::rngs::StdRng;

use crate::config::ModelConfig;
use crate::density::{Bound, DensityModel, KlWeight, LikelihoodTerms, PixelMap, TrainingTerms};
use crate::diffusion::Diffusion;
use crate::glow::Glow;
use crate::hvae::Hvae;
use crate::pixelcnn::PixelCnn;
use crate::progress::Progress;
use crate::vae::Vae;

/// Any genood model.
// A model is built once and moved a handful of times per training step, so the size of its
// largest variant costs nothing measurable; burn's `Module` derive does not cover `Box`.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Model {
    /// Glow or CV-Glow.
    Glow(Glow),
    /// PixelCNN++.
    PixelCnn(PixelCnn),
    /// A VAE.
    Vae(Vae),
    /// A variational diffusion model.
    Diffusion(Diffusion),
    /// A hierarchical VAE.
    Hvae(Hvae),
}

impl Model {
    /// Builds the model a configuration describes; `rng` draws its initial weights.
    pub fn new(config: &ModelConfig, rng: &mut StdRng, device: &Device) -> Self {
        match config {
            ModelConfig::Glow(glow) => Model::Glow(Glow::new(glow, rng, device)),
            ModelConfig::PixelCnn(config) => Model::PixelCnn(PixelCnn::new(config, rng, device)),
            ModelConfig::Vae(config) => Model::Vae(Vae::new(config, rng, device)),
            ModelConfig::Diffusion(config) => Model::Diffusion(Diffusion::new(config, rng, device)),
            ModelConfig::Hvae(config) => Model::Hvae(Hvae::new(config, rng, device)),
        }
    }

    fn inner(&self) -> &dyn DensityModel {
        match self {
            Model::Glow(glow) => glow,
            Model::PixelCnn(model) => model,
            Model::Vae(vae) => vae,
            Model::Diffusion(model) => model,
            Model::Hvae(model) => model,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn DensityModel {
        match self {
            Model::Glow(glow) => glow,
            Model::PixelCnn(model) => model,
            Model::Vae(vae) => vae,
            Model::Diffusion(model) => model,
            Model::Hvae(model) => model,
        }
    }

    /// The normalising flow, for models that are one (its terms and curvature can be analysed).
    pub fn flow(&self) -> Option<&MultiScaleFlow> {
        match self {
            Model::Glow(glow) => Some(&glow.flow),
            _ => None,
        }
    }

    /// The VAE, for scores that refit its posterior (likelihood regret).
    pub fn vae(&self) -> Option<&Vae> {
        match self {
            Model::Vae(vae) => Some(vae),
            _ => None,
        }
    }

    /// This model prepared to score many batches with its parameters fixed (evaluation):
    /// what depends only on the parameters is computed here, once.
    pub fn scorer(&self) -> Scorer<'_> {
        match self {
            Model::Glow(glow) => Scorer::Folded(glow, glow.flow.fold()),
            other => Scorer::AsIs(other),
        }
    }

    /// Whether every step's log-determinant is independent of the input (CV-Glow).
    pub fn is_constant_volume(&self) -> bool {
        self.flow().is_some_and(MultiScaleFlow::is_constant_volume)
    }
}

impl DensityModel for Model {
    fn image_dims(&self) -> [usize; 3] {
        self.inner().image_dims()
    }

    fn initialize(&mut self, pixels: Tensor<4>, rng: &mut StdRng) {
        self.inner_mut().initialize(pixels, rng)
    }

    fn log_likelihood(
        &self,
        pixels: Tensor<4>,
        samples: usize,
        noise: &mut Noise,
    ) -> LikelihoodTerms {
        self.inner().log_likelihood(pixels, samples, noise)
    }

    fn bound(&self, samples: usize) -> Bound {
        self.inner().bound(samples)
    }

    fn training_terms(&self, pixels: Tensor<4>, noise: &mut Noise, kl: KlWeight) -> TrainingTerms {
        self.inner().training_terms(pixels, noise, kl)
    }

    fn detector_statistics(
        &self,
        pixels: Tensor<4>,
        noise: &mut Noise,
    ) -> Vec<(String, Tensor<1>)> {
        self.inner().detector_statistics(pixels, noise)
    }

    fn pixel_map(&self, pixels: Tensor<4>, noise: &mut Noise) -> PixelMap {
        self.inner().pixel_map(pixels, noise)
    }

    fn sample(
        &self,
        count: usize,
        temperature: f64,
        rng: &mut StdRng,
        task: &str,
        progress: &mut dyn Progress,
    ) -> Tensor<4> {
        self.inner().sample(count, temperature, rng, task, progress)
    }
}

/// A model ready to score batches with fixed parameters; see [`Model::scorer`].
#[derive(Debug)]
pub enum Scorer<'a> {
    /// A Glow with its flow folded once: W and the folded weights are built per model, not
    /// per batch.
    Folded(&'a Glow, FoldedFlow),
    /// A model with nothing to prepare.
    AsIs(&'a Model),
}

impl Scorer<'_> {
    /// [`DensityModel::log_likelihood`] of the model, with the same numbers up to rounding.
    pub fn log_likelihood(
        &self,
        pixels: Tensor<4>,
        samples: usize,
        noise: &mut Noise,
    ) -> LikelihoodTerms {
        match self {
            Scorer::Folded(glow, folded) => glow.log_likelihood_folded(folded, pixels, noise),
            Scorer::AsIs(model) => model.log_likelihood(pixels, samples, noise),
        }
    }

    /// [`DensityModel::detector_statistics`] of the model.
    pub fn detector_statistics(
        &self,
        pixels: Tensor<4>,
        noise: &mut Noise,
    ) -> Vec<(String, Tensor<1>)> {
        match self {
            Scorer::Folded(glow, _) => glow.detector_statistics(pixels, noise),
            Scorer::AsIs(model) => model.detector_statistics(pixels, noise),
        }
    }
}
