//! The one place a model is built from its configuration.

use burn::prelude::*;
use genood_flows::multiscale::MultiScaleFlow;
use rand::rngs::StdRng;

use crate::config::ModelConfig;
use crate::density::{DensityModel, LikelihoodTerms};
use crate::glow::Glow;

/// Any genood model.
#[derive(Module, Debug)]
pub enum Model {
    /// Glow or CV-Glow.
    Glow(Glow),
}

impl Model {
    /// Builds the model a configuration describes; `rng` draws its initial weights.
    pub fn new(config: &ModelConfig, rng: &mut StdRng, device: &Device) -> Self {
        match config {
            ModelConfig::Glow(glow) => Model::Glow(Glow::new(glow, rng, device)),
        }
    }

    fn inner(&self) -> &dyn DensityModel {
        match self {
            Model::Glow(glow) => glow,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn DensityModel {
        match self {
            Model::Glow(glow) => glow,
        }
    }

    /// The normalising flow, for models that are one (its terms and curvature can be analysed).
    pub fn flow(&self) -> Option<&MultiScaleFlow> {
        match self {
            Model::Glow(glow) => Some(&glow.flow),
        }
    }

    /// Whether every step's log-determinant is independent of the input (CV-Glow).
    pub fn is_constant_volume(&self) -> bool {
        match self {
            Model::Glow(glow) => glow.flow.is_constant_volume(),
        }
    }
}

impl DensityModel for Model {
    fn image_dims(&self) -> [usize; 3] {
        self.inner().image_dims()
    }

    fn initialize(&mut self, pixels: Tensor<4>, rng: &mut StdRng) {
        self.inner_mut().initialize(pixels, rng)
    }

    fn log_likelihood(&self, pixels: Tensor<4>, rng: &mut StdRng) -> LikelihoodTerms {
        self.inner().log_likelihood(pixels, rng)
    }

    fn sample(&self, count: usize, temperature: f64, rng: &mut StdRng) -> Tensor<4> {
        self.inner().sample(count, temperature, rng)
    }
}
