//! Named experiment presets: model and training configuration together.

use genood_flows::coupling::CouplingKind;
use genood_flows::multiscale::MultiScaleConfig;
use serde::{Deserialize, Serialize};

use crate::config::{GlowConfig, ImageShape, ModelConfig, OptimizerKind, TrainConfig};

/// A named size and schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Seconds on a CPU; for tests.
    Tiny,
    /// Minutes on a 2-core CPU: `genood reproduce`'s default. Deep and narrow (L = 2, K = 16,
    /// 16 hidden channels): at a fixed CPU budget, depth lowered held-out bpd far more than
    /// width did (README, "Choosing the quick preset").
    Quick,
    /// The paper's Glow. Deviations from Kingma & Dhariwal's CIFAR-10 setup: images of 28×28
    /// use L = 2 (28 = 2²·7 cannot be squeezed a third time and genood never pads); a global
    /// gradient-norm clip of 50 guards against rare spikes; dequantization is uniform, not
    /// variational; no class conditioning.
    Paper,
}

impl Preset {
    /// All presets, for help texts.
    pub const ALL: [Preset; 3] = [Preset::Tiny, Preset::Quick, Preset::Paper];

    /// The preset's name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Quick => "quick",
            Preset::Paper => "paper",
        }
    }

    /// Parses a preset name.
    pub fn parse(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The model of this preset for `image`, with the given coupling (affine for Glow,
    /// additive for CV-Glow).
    pub fn model(self, image: ImageShape, coupling: CouplingKind) -> ModelConfig {
        let max_levels = (image.height.min(image.width).trailing_zeros() as usize).max(1);
        let (levels, steps_per_level, hidden_channels) = match self {
            Preset::Tiny => (2, 2, 16),
            Preset::Quick => (2, 16, 16),
            Preset::Paper => (3, 32, 512),
        };
        ModelConfig::Glow(GlowConfig {
            image,
            flow: MultiScaleConfig {
                levels: levels.min(max_levels),
                steps_per_level,
                hidden_channels,
                coupling,
            },
        })
    }

    /// The training schedule of this preset.
    pub fn train(self) -> TrainConfig {
        match self {
            Preset::Tiny => TrainConfig {
                optimizer: OptimizerKind::Adam,
                learning_rate: 1e-3,
                warmup_steps: 5,
                batch_size: 32,
                steps: 40,
                max_grad_norm: Some(50.0),
                init_batch_size: 128,
                heldout_size: 256,
                log_every: 20,
                checkpoint_every: 20,
                max_bad_steps: 3,
                seed: 0,
                background_noise: None,
                l2: None,
            },
            // Adam at 1e-3 beats the paper's Adamax at 5e-4 by a wide margin in short budgets
            // (PAPER.md, "For scale on these machines"); so do batches of 32, which give more
            // updates per second on a CPU.
            Preset::Quick => TrainConfig {
                optimizer: OptimizerKind::Adam,
                learning_rate: 1e-3,
                warmup_steps: 50,
                batch_size: 32,
                steps: 1200,
                max_grad_norm: Some(50.0),
                init_batch_size: 256,
                heldout_size: 1000,
                log_every: 200,
                checkpoint_every: 400,
                max_bad_steps: 3,
                seed: 0,
                background_noise: None,
                l2: None,
            },
            Preset::Paper => TrainConfig {
                optimizer: OptimizerKind::Adamax,
                learning_rate: 5e-4,
                warmup_steps: 5000,
                batch_size: 64,
                steps: 200_000,
                max_grad_norm: Some(50.0),
                init_batch_size: 512,
                heldout_size: 5000,
                log_every: 1000,
                checkpoint_every: 5000,
                max_bad_steps: 3,
                seed: 0,
                background_noise: None,
                l2: None,
            },
        }
    }
}
