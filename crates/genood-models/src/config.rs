//! Typed model configurations, serialised into every run folder as `config.json`.

use genood_flows::multiscale::MultiScaleConfig;
use serde::{Deserialize, Serialize};

use crate::density::KlWeight;
pub use crate::diffusion::{DiffusionConfig, Schedule};
pub use crate::hvae::HvaeConfig;
pub use crate::pixelcnn::PixelCnnConfig;
use crate::shape::ImageShape;
pub use crate::vae::{DecoderKind, VaeConfig};

/// Glow (affine couplings) or constant-volume Glow (additive couplings, chosen through
/// `flow.coupling`), over images of shape `image`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlowConfig {
    /// Input shape; height and width must be divisible by `2^levels`.
    pub image: ImageShape,
    /// Levels, steps, width and coupling kind.
    pub flow: MultiScaleConfig,
}

/// Any model genood can build; the `family` field names the variant in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// Glow or CV-Glow.
    Glow(GlowConfig),
    /// PixelCNN++.
    #[serde(rename = "pixelcnnpp")]
    PixelCnn(PixelCnnConfig),
    /// A VAE (categorical or logistic decoder, Gaussian or RealNVP posterior).
    Vae(VaeConfig),
    /// A variational diffusion model.
    Diffusion(DiffusionConfig),
    /// A hierarchical VAE.
    Hvae(HvaeConfig),
}

/// Height and width must be divisible by 4 for models that halve the image twice.
fn check_quarter(image: ImageShape) -> Result<(), String> {
    if image.height.is_multiple_of(4) && image.width.is_multiple_of(4) {
        Ok(())
    } else {
        Err(format!(
            "height and width must be divisible by 4, got {}×{}",
            image.height, image.width
        ))
    }
}

impl ModelConfig {
    /// The image shape the model is built for.
    pub fn image(&self) -> ImageShape {
        match self {
            ModelConfig::Glow(config) => config.image,
            ModelConfig::PixelCnn(config) => config.image,
            ModelConfig::Vae(config) => config.image,
            ModelConfig::Diffusion(config) => config.image,
            ModelConfig::Hvae(config) => config.image,
        }
    }

    /// A short human-readable name, e.g. `glow` or `cv-glow`.
    pub fn label(&self) -> &'static str {
        match self {
            ModelConfig::Glow(config) => match config.flow.coupling {
                genood_flows::coupling::CouplingKind::Affine => "glow",
                genood_flows::coupling::CouplingKind::Additive => "cv-glow",
            },
            ModelConfig::PixelCnn(_) => "pixelcnnpp",
            ModelConfig::Vae(config) => match (config.flow_layers, config.decoder) {
                (0, DecoderKind::Categorical) => "vae-categorical",
                (0, DecoderKind::Logistic) => "vae-logistic",
                _ => "vae-realnvp",
            },
            ModelConfig::Diffusion(_) => "diffusion",
            ModelConfig::Hvae(_) => "hvae",
        }
    }

    /// Checks that the configuration can be built, naming the offending field.
    pub fn validate(&self) -> Result<(), String> {
        let [c, h, w] = self.image().dims();
        if c == 0 || h == 0 || w == 0 {
            return Err(format!(
                "image.channels, height and width must be at least 1, got {c}×{h}×{w}"
            ));
        }
        match self {
            ModelConfig::Glow(config) => {
                let image = config.image;
                if config.flow.levels == 0 || config.flow.steps_per_level == 0 {
                    return Err("flow.levels and flow.steps_per_level must be at least 1".into());
                }
                // Each level halves the sides: 2^levels must divide them (and so fit a usize).
                let scale = u32::try_from(config.flow.levels)
                    .ok()
                    .and_then(|levels| 1usize.checked_shl(levels))
                    .filter(|&scale| scale <= image.height.min(image.width))
                    .unwrap_or(0);
                if scale == 0
                    || !image.height.is_multiple_of(scale)
                    || !image.width.is_multiple_of(scale)
                {
                    return Err(format!(
                        "flow.levels = {} needs height and width divisible by 2^{}, got {}×{}",
                        config.flow.levels, config.flow.levels, image.height, image.width
                    ));
                }
                if config.flow.hidden_channels == 0 {
                    return Err("flow.hidden_channels must be at least 1".into());
                }
                Ok(())
            }
            ModelConfig::PixelCnn(config) => {
                check_quarter(config.image)?;
                if config.filters == 0 || config.resnet_blocks == 0 || config.mixtures == 0 {
                    return Err("filters, resnet_blocks and mixtures must be at least 1".into());
                }
                Ok(())
            }
            ModelConfig::Vae(config) => {
                check_quarter(config.image)?;
                if config.latent == 0 || config.channels == 0 || config.hidden == 0 {
                    return Err("latent, channels and hidden must be at least 1".into());
                }
                if config.flow_layers > 0 && config.flow_hidden == 0 {
                    return Err("flow_hidden must be at least 1 when flow_layers > 0".into());
                }
                Ok(())
            }
            ModelConfig::Diffusion(config) => {
                let levels = config.multipliers.len();
                if levels == 0 || config.multipliers.contains(&0) {
                    return Err("multipliers must name at least one level, each at least 1".into());
                }
                if config.channels < 2 || config.blocks == 0 || config.sampling_steps == 0 {
                    return Err(
                        "channels must be at least 2, blocks and sampling_steps at least 1".into(),
                    );
                }
                let scale = u32::try_from(levels - 1)
                    .ok()
                    .and_then(|l| 1usize.checked_shl(l))
                    .unwrap_or(0);
                let [_, h, w] = config.image.dims();
                if scale == 0 || !h.is_multiple_of(scale) || !w.is_multiple_of(scale) {
                    return Err(format!(
                        "{levels} levels need height and width divisible by 2^{}, got {h}×{w}",
                        levels - 1
                    ));
                }
                let schedule = config.schedule;
                if !(schedule.gamma_min.is_finite()
                    && schedule.gamma_max.is_finite()
                    && schedule.gamma_min < schedule.gamma_max)
                {
                    return Err(format!(
                        "schedule.gamma_min must be finite and below gamma_max, got {} and {}",
                        schedule.gamma_min, schedule.gamma_max
                    ));
                }
                Ok(())
            }
            ModelConfig::Hvae(config) => {
                check_quarter(config.image)?;
                crate::hvae::check_layers(&config.latents)?;
                if config.channels == 0 || config.hidden == 0 || config.llr_samples == 0 {
                    return Err("channels, hidden and llr_samples must be at least 1".into());
                }
                if !(config.max_log_std.is_finite() && config.max_log_std > 0.0) {
                    return Err(format!(
                        "max_log_std must be finite and positive, got {}",
                        config.max_log_std
                    ));
                }
                Ok(())
            }
        }
    }
}

impl TrainConfig {
    /// Checks every numeric field, naming the first one out of range: sizes and intervals
    /// of 0, and rates that are not finite and positive, would fail (or panic) mid-run.
    pub fn validate(&self) -> Result<(), String> {
        let counts = [
            ("batch_size", self.batch_size),
            ("steps", self.steps),
            ("init_batch_size", self.init_batch_size),
            ("log_every", self.log_every),
            ("checkpoint_every", self.checkpoint_every),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return Err(format!("train.{name} must be at least 1, got 0"));
        }
        let rates = [
            ("learning_rate", Some(self.learning_rate)),
            ("max_grad_norm", self.max_grad_norm),
        ];
        for (name, value) in rates {
            if let Some(value) = value.filter(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(format!(
                    "train.{name} must be finite and greater than 0, got {value}"
                ));
            }
        }
        if let Some(mu) = self.background_noise.filter(|mu| !(0.0..=1.0).contains(mu)) {
            return Err(format!("train.background_noise is a probability, got {mu}"));
        }
        if let Some(l2) = self.l2.filter(|l2| !(l2.is_finite() && *l2 >= 0.0)) {
            return Err(format!("train.l2 must be finite and at least 0, got {l2}"));
        }
        if let Some(free) = self
            .kl_schedule
            .map(|k| k.free_nats)
            .filter(|f| !(f.is_finite() && *f >= 0.0))
        {
            return Err(format!(
                "train.kl_schedule.free_nats must be finite and at least 0, got {free}"
            ));
        }
        Ok(())
    }
}

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba 2015), β = (0.9, 0.999), ε = 1e-8.
    Adam,
    /// Adamax, the infinity-norm variant of Adam that Glow's paper runs use.
    Adamax,
}

/// How a model is trained; every stabiliser is a field here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The update rule.
    pub optimizer: OptimizerKind,
    /// Peak learning rate, reached after the warm-up.
    pub learning_rate: f64,
    /// Linear warm-up from 0 to `learning_rate` over this many steps.
    pub warmup_steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Total optimiser steps.
    pub steps: usize,
    /// Rescale the whole gradient to at most this L2 norm (`None`: no clipping).
    pub max_grad_norm: Option<f64>,
    /// Images for actnorm's data-dependent initialisation.
    pub init_batch_size: usize,
    /// Images held out from the end of the training split to log held-out bpd.
    pub heldout_size: usize,
    /// Log train and held-out bpd every this many steps (and at every epoch's end).
    pub log_every: usize,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    /// Consecutive non-finite steps tolerated before reloading the last good checkpoint.
    pub max_bad_steps: usize,
    /// Seed of weights, batch order and dequantization noise.
    pub seed: u64,
    /// Train a background model for the likelihood-ratio score (Ren et al. 2019): each pixel
    /// of each training image is replaced by a uniform random value with this probability μ.
    #[serde(default)]
    pub background_noise: Option<f64>,
    /// L2 penalty `λ/2·‖θ‖²` added to the loss (Ren et al. regularise the background model).
    #[serde(default)]
    pub l2: Option<f64>,
    /// The weighting of a hierarchical VAE's KL terms in the loss over training (`None`: the
    /// bound itself throughout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl_schedule: Option<KlSchedule>,
}

/// Havtorn et al.'s schedule of a hierarchical VAE's KL terms in the training loss: a linear
/// warm-up of their weight β (Sønderby et al. 2016) and free nats per stochastic layer
/// (Kingma et al. 2016's free bits), held and then lowered to none. Only the loss changes:
/// training's logged bpd and every evaluation use the bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KlSchedule {
    /// β rises linearly to 1 over these steps: `β(s) = min(1, (s + 1) / warmup_steps)`.
    pub warmup_steps: usize,
    /// Nats of each layer's KL left unpenalised at first, spread equally over its dimensions.
    pub free_nats: f64,
    /// Steps the free nats are held at `free_nats`.
    pub free_nats_steps: usize,
    /// Steps over which they then fall linearly to 0.
    pub free_nats_cooldown_steps: usize,
}

impl KlSchedule {
    /// The weighting at optimiser step `step` (0-based).
    pub fn at(&self, step: usize) -> KlWeight {
        let beta = if self.warmup_steps == 0 {
            1.0
        } else {
            ((step + 1) as f64 / self.warmup_steps as f64).min(1.0)
        };
        let past_hold = step.saturating_sub(self.free_nats_steps);
        let remaining = if step < self.free_nats_steps {
            1.0
        } else if self.free_nats_cooldown_steps == 0 {
            0.0
        } else {
            (1.0 - (past_hold + 1) as f64 / self.free_nats_cooldown_steps as f64).max(0.0)
        };
        KlWeight {
            beta,
            free_nats: self.free_nats * remaining,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kl_schedule_warms_beta_up_and_cools_the_free_nats_down() {
        let schedule = KlSchedule {
            warmup_steps: 4,
            free_nats: 2.0,
            free_nats_steps: 2,
            free_nats_cooldown_steps: 4,
        };
        let at = |step| {
            let w = schedule.at(step);
            (w.beta, w.free_nats)
        };
        assert_eq!(at(0), (0.25, 2.0));
        assert_eq!(at(1), (0.5, 2.0));
        assert_eq!(at(2), (0.75, 1.5));
        assert_eq!(at(3), (1.0, 1.0));
        assert_eq!(at(4), (1.0, 0.5));
        assert_eq!(at(5), (1.0, 0.0));
        assert_eq!(at(100), (1.0, 0.0));
        let abrupt = KlSchedule {
            warmup_steps: 0,
            free_nats_cooldown_steps: 0,
            ..schedule
        };
        assert_eq!(
            abrupt.at(0),
            KlWeight {
                beta: 1.0,
                free_nats: 2.0
            }
        );
        assert_eq!(abrupt.at(2), KlWeight::BOUND);
    }
}
