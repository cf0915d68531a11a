//! How much of each set an experiment scores for one model. Flows are cheap to score;
//! PixelCNN++ and a VAE's k-sample bound cost 10–100× more per image on a CPU, so on the CPU
//! presets their sets are seeded subsets (the bootstrap interval of an AUROC on 1,000 against
//! 1,000 images is about ±0.02).

use genood_models::ModelConfig;
use genood_models::presets::Preset;
use serde::{Deserialize, Serialize};

use crate::analysis::GRAY_LIMIT;
use crate::evaluation::IW_SAMPLES;
use crate::report::SAMPLES;
use crate::sweep::spec::SweepSpec;

/// Importance samples of VAE bounds on the CPU presets.
const CPU_IW_SAMPLES: usize = 10;
/// Images per set scored by PixelCNN++ and the VAEs on the CPU presets.
const CPU_EVAL_LIMIT: usize = 1000;
/// Images per set whose likelihood regret is computed on the CPU presets.
const CPU_REGRET_LIMIT: usize = 300;
/// Images per set at each graying level for PixelCNN++ and the VAEs on the CPU presets.
const CPU_GRAY_LIMIT: usize = 100;
/// Report samples of PixelCNN++ on the CPU presets (one network pass per pixel: 36 take
/// about 3 minutes with the quick model).
const CPU_AUTOREGRESSIVE_SAMPLES: usize = 12;

/// What one model of an experiment scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Images of the training split scored (typicality's and DoSE's reference).
    pub train_limit: Option<usize>,
    /// Images of the test and each OOD set scored.
    pub held_out_limit: Option<usize>,
    /// Importance samples of a VAE's bound.
    pub iw_samples: usize,
    /// Images of the test and each OOD set whose likelihood regret is computed (VAEs).
    pub regret_limit: Option<usize>,
    /// Images per set at each graying level.
    pub gray_limit: usize,
    /// Images drawn for the report.
    pub samples: usize,
}

impl Budget {
    /// The budget of `model` at `preset` under `spec`'s limits: what the spec asks, with the
    /// costly families capped on the CPU presets.
    pub fn of(spec: &SweepSpec, preset: Preset, model: &ModelConfig) -> Self {
        let paper = preset == Preset::Paper;
        let costly = !paper && !matches!(model, ModelConfig::Glow(_));
        let cap = |limit: Option<usize>| match (limit, costly) {
            (Some(n), true) => Some(n.min(CPU_EVAL_LIMIT)),
            (None, true) => Some(CPU_EVAL_LIMIT),
            (limit, false) => limit,
        };
        Self {
            train_limit: cap((spec.train_eval_limit > 0).then_some(spec.train_eval_limit)),
            held_out_limit: spec.eval_limit.or(cap(None)),
            iw_samples: spec
                .iw_samples
                .unwrap_or(if paper { IW_SAMPLES } else { CPU_IW_SAMPLES }),
            regret_limit: spec
                .regret_limit
                .or((!paper).then_some(CPU_REGRET_LIMIT))
                .filter(|n| *n > 0),
            gray_limit: if costly { CPU_GRAY_LIMIT } else { GRAY_LIMIT },
            samples: if costly && matches!(model, ModelConfig::PixelCnn(_)) {
                CPU_AUTOREGRESSIVE_SAMPLES
            } else {
                SAMPLES
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genood_models::ImageShape;
    use genood_models::presets::ModelKind;

    fn spec(extra: &str) -> SweepSpec {
        serde_json::from_str(&format!(
            r#"{{"pairs": ["fashion-mnist-mnist"], "models": ["glow"]{extra}}}"#
        ))
        .unwrap()
    }

    fn budget(preset: Preset, kind: ModelKind, spec: &SweepSpec) -> Budget {
        let grey_28 = ImageShape {
            channels: 1,
            height: 28,
            width: 28,
        };
        Budget::of(spec, preset, &preset.model(grey_28, kind))
    }

    #[test]
    fn cpu_budgets_cap_the_costly_families_only() {
        let defaults = spec("");
        // A flow scores everything asked on any preset.
        let glow = budget(Preset::Quick, ModelKind::Glow, &defaults);
        assert_eq!(
            (glow.train_limit, glow.held_out_limit),
            (Some(10_000), None)
        );
        assert_eq!(
            (glow.iw_samples, glow.gray_limit),
            (CPU_IW_SAMPLES, GRAY_LIMIT)
        );
        // PixelCNN++ and the VAEs are capped on the CPU presets, and draw fewer samples.
        for kind in [ModelKind::PixelCnnPp, ModelKind::VaeCategorical] {
            let b = budget(Preset::Quick, kind, &defaults);
            assert_eq!(b.train_limit, Some(CPU_EVAL_LIMIT));
            assert_eq!(b.held_out_limit, Some(CPU_EVAL_LIMIT));
            assert_eq!(b.gray_limit, CPU_GRAY_LIMIT);
            assert_eq!(b.regret_limit, Some(CPU_REGRET_LIMIT));
        }
        let pixelcnn = budget(Preset::Tiny, ModelKind::PixelCnnPp, &defaults);
        assert_eq!(pixelcnn.samples, CPU_AUTOREGRESSIVE_SAMPLES);
        // The paper preset is never capped and uses the full importance sampling.
        let vae = budget(Preset::Paper, ModelKind::VaeRealNvp, &defaults);
        assert_eq!((vae.train_limit, vae.held_out_limit), (Some(10_000), None));
        assert_eq!((vae.iw_samples, vae.regret_limit), (IW_SAMPLES, None));
        // Asked limits win, but a costly family stays capped on its training split; 0 means all.
        let asked = spec(
            r#", "train_eval_limit": 0, "eval_limit": 50000, "regret_limit": 0, "iw_samples": 3"#,
        );
        let vae = budget(Preset::Quick, ModelKind::VaeCategorical, &asked);
        assert_eq!(vae.train_limit, Some(CPU_EVAL_LIMIT));
        assert_eq!(vae.held_out_limit, Some(50_000));
        assert_eq!((vae.iw_samples, vae.regret_limit), (3, None));
        let glow = budget(Preset::Quick, ModelKind::Glow, &asked);
        assert_eq!(glow.train_limit, None);
    }
}
