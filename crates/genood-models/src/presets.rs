//! Named experiment presets: model and training configuration together.

use crate::config::{
    DecoderKind, DiffusionConfig, GlowConfig, HvaeConfig, KlSchedule, ModelConfig, OptimizerKind,
    PixelCnnConfig, TrainConfig, VaeConfig,
};
use crate::named::Named;
use crate::shape::ImageShape;
use genood_flows::coupling::CouplingKind;
use genood_flows::multiscale::MultiScaleConfig;

/// The model families and variants a preset can build, by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Glow: affine couplings.
    Glow,
    /// Constant-volume Glow: additive couplings.
    CvGlow,
    /// PixelCNN++.
    PixelCnnPp,
    /// VAE with a Gaussian posterior and a 256-way categorical decoder.
    VaeCategorical,
    /// VAE whose posterior is a RealNVP flow on a Gaussian, with a discretised logistic decoder.
    VaeRealNvp,
    /// A variational diffusion model (continuous-time bound, U-Net noise predictor).
    Diffusion,
    /// A hierarchical VAE (bottom-up inference, top-down generation) and its likelihood ratios.
    Hvae,
}

impl Named for ModelKind {
    const WHAT: &'static str = "model";
    const ALL: &'static [ModelKind] = &[
        ModelKind::Glow,
        ModelKind::CvGlow,
        ModelKind::PixelCnnPp,
        ModelKind::VaeCategorical,
        ModelKind::VaeRealNvp,
        ModelKind::Diffusion,
        ModelKind::Hvae,
    ];

    /// The name as typed on the command line (and [`ModelConfig::label`] of its configs).
    fn name(self) -> &'static str {
        match self {
            ModelKind::Glow => "glow",
            ModelKind::CvGlow => "cv-glow",
            ModelKind::PixelCnnPp => "pixelcnnpp",
            ModelKind::VaeCategorical => "vae-categorical",
            ModelKind::VaeRealNvp => "vae-realnvp",
            ModelKind::Diffusion => "diffusion",
            ModelKind::Hvae => "hvae",
        }
    }
}

crate::named_text!(ModelKind);

/// A named size and schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Seconds on a CPU; for tests.
    Tiny,
    /// Minutes on a 2-core CPU: `genood reproduce`'s default. Deep and narrow (L = 2, K = 16,
    /// 16 hidden channels): at a fixed CPU budget, depth lowered held-out bpd far more than
    /// width did (docs/results.md, "Choosing the quick preset").
    Quick,
    /// The paper's models at their published sizes.
    ///
    /// Glow, deviations from Kingma & Dhariwal's CIFAR-10 setup: images of 28×28 use L = 2
    /// (28 = 2²·7 cannot be squeezed a third time and genood never pads); a global
    /// gradient-norm clip of 50 guards against rare spikes; dequantization is uniform, not
    /// variational; no class conditioning.
    ///
    /// PixelCNN++ (160 filters, 5 blocks per resolution, 10 logistics), deviations from
    /// Salimans et al.: no weight normalisation (plain `N(0, 1/fan_in)` weights) and no
    /// dropout, since genood's dropout would have to draw from the run's seeded generator;
    /// batch 64 on one device instead of 8 × 16.
    ///
    /// VAEs: the paper does not give their sizes; genood uses a latent of 64, 64/128-channel
    /// convolutions and 512-unit dense layers, and 8 RealNVP couplings of width 512.
    ///
    /// Diffusion: Ho et al.'s CIFAR-10 U-Net (128 channels, multipliers 1, 2, 2, 2, two
    /// residual blocks per level; 28×28 images keep the first three levels) trained as Ho et
    /// al. did (Adam at 2e-4, batch 128, 800,000 steps, gradient norm clipped at 1), with
    /// VDM's continuous-time bound and fixed linear schedule. Deviations: no self-attention at
    /// 16×16 and no dropout (the run's seeded generator would have to draw it), no EMA of the
    /// weights, a fixed rather than learned schedule (the bound's value does not depend on the
    /// schedule's shape, only its variance does); 1,000 sampling steps.
    Paper,
}

impl Named for Preset {
    const WHAT: &'static str = "preset";
    const ALL: &'static [Preset] = &[Preset::Tiny, Preset::Quick, Preset::Paper];

    /// The preset's name as typed on the command line.
    fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Quick => "quick",
            Preset::Paper => "paper",
        }
    }
}

crate::named_text!(Preset);

impl Preset {
    /// The model of this preset for `image`.
    pub fn model(self, image: ImageShape, kind: ModelKind) -> ModelConfig {
        match kind {
            ModelKind::Glow => self.glow(image, CouplingKind::Affine),
            ModelKind::CvGlow => self.glow(image, CouplingKind::Additive),
            ModelKind::PixelCnnPp => {
                let (filters, resnet_blocks, mixtures) = match self {
                    Preset::Tiny => (8, 1, 2),
                    Preset::Quick => (16, 1, 5),
                    Preset::Paper => (160, 5, 10),
                };
                ModelConfig::PixelCnn(PixelCnnConfig {
                    image,
                    filters,
                    resnet_blocks,
                    mixtures,
                })
            }
            ModelKind::Diffusion => self.diffusion(image),
            // Havtorn et al.'s FashionMNIST layers: 8 channels at half size under dense 16 and 8.
            ModelKind::Hvae => {
                let (latents, channels, hidden, llr_samples) = match self {
                    Preset::Tiny => (vec![2, 4], 8, 32, 2),
                    Preset::Quick => (vec![8, 16, 8], 16, 256, 10),
                    Preset::Paper => (vec![8, 16, 8], 64, 512, 100),
                };
                ModelConfig::Hvae(HvaeConfig {
                    image,
                    latents,
                    conv_bottom: true,
                    channels,
                    hidden,
                    decoder: DecoderKind::Logistic,
                    llr_samples,
                    max_log_std: 5.0,
                    llr_prior_mean: false,
                })
            }
            ModelKind::VaeCategorical | ModelKind::VaeRealNvp => {
                let (latent, channels, hidden, flow_layers, flow_hidden) = match self {
                    Preset::Tiny => (8, 8, 32, 2, 16),
                    Preset::Quick => (32, 16, 256, 4, 64),
                    Preset::Paper => (64, 64, 512, 8, 512),
                };
                let flow = kind == ModelKind::VaeRealNvp;
                ModelConfig::Vae(VaeConfig {
                    image,
                    latent,
                    channels,
                    hidden,
                    decoder: if flow {
                        DecoderKind::Logistic
                    } else {
                        DecoderKind::Categorical
                    },
                    flow_layers: if flow { flow_layers } else { 0 },
                    flow_hidden,
                })
            }
        }
    }

    fn diffusion(self, image: ImageShape) -> ModelConfig {
        let (channels, multipliers, blocks, sampling_steps) = match self {
            Preset::Tiny => (8, vec![1, 2], 1, 20),
            Preset::Quick => (16, vec![1, 2], 1, 100),
            Preset::Paper => (128, vec![1, 2, 2, 2], 2, 1000),
        };
        // Each level after the first halves the sides: keep the levels the image divides into.
        let max_levels = image.height.min(image.width).trailing_zeros() as usize + 1;
        ModelConfig::Diffusion(DiffusionConfig {
            image,
            channels,
            multipliers: multipliers.into_iter().take(max_levels).collect(),
            blocks,
            schedule: Default::default(),
            sampling_steps,
        })
    }

    fn glow(self, image: ImageShape, coupling: CouplingKind) -> ModelConfig {
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
                precision: Default::default(),
            },
        })
    }

    /// The training schedule of this preset for `kind`: Glow's, with the changes each family
    /// needs. PixelCNN++ costs about 5× Glow's quick model per image on a CPU, so its quick
    /// schedule sees fewer, smaller batches (it learns the background's level fast); the VAEs
    /// train on Glow's quick schedule with 800 steps (categorical decoder) or 3,000 (logistic
    /// decoder), which keeps `reproduce` (three models, k-sample bounds and likelihood regret)
    /// within 30 minutes on 2 cores. On the paper
    /// preset both use Adam at 1e-3, PixelCNN++'s published rate.
    pub fn train(self, kind: ModelKind) -> TrainConfig {
        let mut schedule = self.flow_schedule();
        match (self, kind) {
            (_, ModelKind::Glow | ModelKind::CvGlow) => {}
            (Preset::Tiny, _) => {}
            (Preset::Quick, ModelKind::PixelCnnPp) => {
                schedule.batch_size = 16;
                schedule.steps = 400;
                schedule.heldout_size = 500;
                schedule.log_every = 100;
                schedule.checkpoint_every = 200;
            }
            (Preset::Quick, ModelKind::VaeCategorical) => schedule.steps = 800,
            (Preset::Quick, ModelKind::Hvae) => {
                schedule.steps = 3000;
                schedule.kl_schedule = Some(Preset::havtorn_kl_schedule(3000));
            }
            // Havtorn et al.'s FashionMNIST run: Adam at 3e-4, batches of 128, 1,000 epochs.
            (Preset::Paper, ModelKind::Hvae) => {
                schedule.optimizer = OptimizerKind::Adam;
                schedule.learning_rate = 3e-4;
                schedule.batch_size = 128;
                schedule.steps = 468_750;
                schedule.kl_schedule = Some(Preset::havtorn_kl_schedule(468_750));
            }
            (Preset::Quick, ModelKind::Diffusion) => {
                schedule.steps = 2000;
                schedule.heldout_size = 500;
                schedule.checkpoint_every = 500;
            }
            (Preset::Paper, ModelKind::Diffusion) => {
                schedule.optimizer = OptimizerKind::Adam;
                schedule.learning_rate = 2e-4;
                schedule.batch_size = 128;
                schedule.steps = 800_000;
                schedule.max_grad_norm = Some(1.0);
            }
            // Its logistic decoder makes it about 4× cheaper per step than the categorical one.
            (Preset::Quick, _) => schedule.steps = 3000,
            (Preset::Paper, _) => {
                schedule.optimizer = OptimizerKind::Adam;
                schedule.learning_rate = 1e-3;
            }
        }
        schedule
    }

    /// Havtorn et al.'s KL schedule scaled to `steps` (theirs: 1,000 epochs): β warms up over
    /// the first fifth; 2 free nats per layer are held for a fifth, then lowered to none over
    /// the next.
    fn havtorn_kl_schedule(steps: usize) -> KlSchedule {
        KlSchedule {
            warmup_steps: steps / 5,
            free_nats: 2.0,
            free_nats_steps: steps / 5,
            free_nats_cooldown_steps: steps / 5,
        }
    }

    /// Glow's schedule, the starting point of the others.
    fn flow_schedule(self) -> TrainConfig {
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
                kl_schedule: None,
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
                kl_schedule: None,
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
                kl_schedule: None,
            },
        }
    }
}
