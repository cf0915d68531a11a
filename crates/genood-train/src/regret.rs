//! Likelihood regret (Xiao, Yan & Amit 2020): how much a VAE's ELBO of an input improves when
//! its posterior is fitted to that input alone, with the decoder frozen. In-distribution inputs
//! are already served well by the amortised encoder; OOD inputs gain more.
//!
//! Xiao et al. refit the encoder's weights for each input. genood refits the posterior's
//! parameters `(μ, log σ)` of each input directly, starting from the encoder's output: the
//! encoder's last layer is affine, so for one input its bias alone reaches any `(μ, log σ)`,
//! and the two optimisations have the same optimum. Optimising the per-input parameters lets a
//! whole batch be refit at once — Adam updates each element on its own and nothing is clipped
//! globally, so every image's refit is exactly what it would be alone. The RealNVP couplings
//! of the posterior are shared and stay frozen.

use std::path::Path;

use burn::module::Param;
use burn::prelude::*;
use genood_data::ImageSet;
use genood_flows::host::to_f64_vec;
use genood_flows::noise::Noise;
use genood_models::Progress;
use genood_models::config::OptimizerKind;
use genood_models::density::part;
use genood_models::vae::Vae;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::csv::{CsvTable, number, read_rows};
use crate::eval::batch_tensor;
use crate::optim::Optimizer;
use crate::parallel::for_each_batch;
use crate::run::{image_rngs, streams};

/// Header of a regret CSV.
const REGRET_HEADER: &str = "index,elbo,refit_elbo,regret";

/// The per-input posterior parameters being refit.
#[derive(Module, Debug)]
struct Posterior {
    mean: Param<Tensor<2>>,
    log_std: Param<Tensor<2>>,
}

/// How the posterior is refit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegretConfig {
    /// Adam steps per input.
    pub steps: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Posterior samples of the ELBO before and after refitting (the same draws for both).
    pub samples: usize,
}

/// What one set's regret took, written beside its CSV as `regret/<set>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegretSummary {
    /// The set.
    pub set: String,
    /// Images scored.
    pub images: usize,
    /// The refit's settings.
    pub config: RegretConfig,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Mean regret (nats).
    pub mean_regret: f64,
    /// The step of the checkpoint that computed it (absent in files written before it was
    /// recorded, which are read unchecked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// The SHA-256 of that checkpoint's `model.safetensors`: readers refuse the scores once
    /// the run's model is another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
}

/// One image's likelihood regret, in nats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RegretScore {
    /// Position in the set.
    pub index: usize,
    /// ELBO with the encoder's posterior.
    pub elbo: f64,
    /// ELBO with the refit posterior.
    pub refit_elbo: f64,
    /// `refit_elbo − elbo`: the OOD score (higher: more likely OOD).
    pub regret: f64,
}

/// The ELBO of each image of a batch with the given posterior, each from its own `rngs`.
fn elbo(
    vae: &Vae,
    pixels: Tensor<4>,
    posterior: &Posterior,
    samples: usize,
    mut rngs: Vec<StdRng>,
) -> Vec<f64> {
    let terms = vae.bound_with(
        pixels,
        posterior.mean.val(),
        posterior.log_std.val(),
        samples,
        &mut Noise::PerImage(&mut rngs),
    );
    let elbo = terms
        .parts
        .into_iter()
        .find(|(name, _)| *name == part::ELBO)
        .map(|(_, values)| values)
        .expect("a VAE reports its ELBO");
    to_f64_vec(elbo)
}

/// Refits the posterior of each image of `pixels` (a batch on an autodiff device: the images
/// of set `set` at `indices`) and returns `(ELBO before, ELBO after)` per image. Each image
/// draws its refit's samples from stream [`streams::REGRET_REFIT`] and both ELBOs from the
/// same evaluation draws, keyed by the image ([`image_rngs`]).
pub fn refit_batch(
    vae: &Vae,
    pixels: Tensor<4>,
    config: RegretConfig,
    seed: u64,
    set: &ImageSet,
    indices: &[usize],
) -> (Vec<f64>, Vec<f64>) {
    let eval_rngs = image_rngs(seed, streams::EVAL_NOISE, set, indices);
    let frozen = vae.clone().no_grad();
    let (mean, log_std) = frozen.encode(pixels.clone());
    let mut posterior = Posterior {
        mean: Param::from_tensor(mean.detach()),
        log_std: Param::from_tensor(log_std.detach()),
    };
    let before = elbo(
        &frozen,
        pixels.clone(),
        &posterior,
        config.samples,
        eval_rngs.clone(),
    );
    let mut optimizer = Optimizer::new(OptimizerKind::Adam, None);
    let mut refit_rngs = image_rngs(seed, streams::REGRET_REFIT, set, indices);
    for _ in 0..config.steps {
        let terms = frozen.bound_with(
            pixels.clone(),
            posterior.mean.val(),
            posterior.log_std.val(),
            1,
            &mut Noise::PerImage(&mut refit_rngs),
        );
        let grads = terms.log_p.sum().neg().backward();
        posterior = optimizer.step(posterior, &grads, config.learning_rate).0;
    }
    let after = elbo(&frozen, pixels, &posterior, config.samples, eval_rngs);
    (before, after)
}

/// Likelihood regret of the images of `set` at `indices`, in batches of `batch_size` spread
/// over `threads` workers (an image's score depends on neither), on an autodiff `device`;
/// reporting to `progress` as the task called `task` after each batch.
#[allow(clippy::too_many_arguments)]
pub fn likelihood_regret(
    vae: &Vae,
    set: &ImageSet,
    indices: &[usize],
    batch_size: usize,
    config: RegretConfig,
    seed: u64,
    threads: usize,
    device: &Device,
    task: &str,
    progress: &mut dyn Progress,
) -> Vec<RegretScore> {
    let chunks: Vec<&[usize]> = indices.chunks(batch_size.max(1)).collect();
    // Each batch refits its own posterior parameters: the workers share no autodiff graph.
    let refit = |b: usize| {
        let pixels = batch_tensor(set, chunks[b], device);
        refit_batch(vae, pixels, config, seed, set, chunks[b])
    };
    let mut scores = Vec::with_capacity(indices.len());
    for_each_batch(chunks.len(), threads, &refit, &mut |b, (before, after)| {
        for (k, &i) in chunks[b].iter().enumerate() {
            scores.push(RegretScore {
                index: i,
                elbo: before[k],
                refit_elbo: after[k],
                regret: after[k] - before[k],
            });
        }
        progress.advance(task, scores.len(), indices.len());
    });
    scores
}

/// Writes regret scores as CSV (`index,elbo,refit_elbo,regret`), atomically.
pub fn write_regret_csv(path: &Path, scores: &[RegretScore]) -> std::io::Result<()> {
    let mut table = CsvTable::new(REGRET_HEADER.split(','));
    for s in scores {
        table.row([
            s.index.to_string(),
            number(s.elbo),
            number(s.refit_elbo),
            number(s.regret),
        ]);
    }
    table.write(path)
}

/// Reads a regret CSV written by [`write_regret_csv`], naming the file and line on error.
pub fn read_regret_csv(path: &Path) -> Result<Vec<RegretScore>, String> {
    read_rows(path, REGRET_HEADER, "regret", |f| {
        Some(RegretScore {
            index: f[0].parse().ok()?,
            elbo: f[1].parse().ok()?,
            refit_elbo: f[2].parse().ok()?,
            regret: f[3].parse().ok()?,
        })
    })
}
