//! Per-example scores of a trained model on a set, without autodiff.

use std::path::Path;

use burn::prelude::*;
use genood_data::ImageSet;
use genood_flows::bits_per_dim;
use genood_flows::host::{tensor_from_f32, to_f64_vec};
use genood_flows::noise::Noise;
use genood_models::{DensityModel, Model, Progress, Quiet};
use serde::{Deserialize, Serialize};

use crate::csv::{CsvTable, number, read_table};
use crate::parallel::for_each_batch;
use crate::run::{image_rngs, streams};

/// The fixed leading columns of a scores CSV; the model's named parts follow.
const SCORES_COLUMNS: [&str; 4] = ["index", "label", "log_p", "bpd"];

/// The last column of a scores CSV: the image's file, for sets read from image files.
const PATH_COLUMN: &str = "path";

/// One image's scores: `log_p` in nats (exact, or the bound the model names), `bpd` over the
/// model's `D`, and the model's named per-example statistics (see
/// [`genood_models::LikelihoodTerms`]) followed by those of its family's own detectors
/// ([`genood_models::DensityModel::detector_statistics`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExampleScore {
    /// Position in the set.
    pub index: usize,
    /// The set's label, if it has labels.
    pub label: Option<u32>,
    /// `log p(x)` in nats.
    pub log_p: f64,
    /// Bits per dimension.
    pub bpd: f64,
    /// `(name, value)` of each statistic, in the model's order.
    pub parts: Vec<(String, f64)>,
    /// The image's file within its folder, for sets read from image files.
    pub path: Option<String>,
}

impl ExampleScore {
    /// The statistic called `name`, if the model reports it.
    pub fn part(&self, name: &str) -> Option<f64> {
        self.parts.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// Summary statistics of a set's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetSummary {
    /// The set.
    pub set: String,
    /// Images scored.
    pub count: usize,
    /// Mean bits per dimension.
    pub mean_bpd: f64,
    /// Standard deviation of bits per dimension.
    pub std_bpd: f64,
    /// Mean `log p(x)` in nats.
    pub mean_log_p: f64,
    /// What `log p` is: "exact", "dequantization bound", "ELBO", "IW bound, k = 100".
    #[serde(default)]
    pub bound: String,
}

/// Pixels of images `indices` of `set` as a `[N, C, H, W]` float tensor of values 0–255.
pub fn batch_tensor(set: &ImageSet, indices: &[usize], device: &Device) -> Tensor<4> {
    let mut values = Vec::with_capacity(indices.len() * set.image_size());
    for &i in indices {
        values.extend(set.image(i).iter().map(|&p| p as f32));
    }
    let [c, h, w] = set.shape;
    tensor_from_f32(values, [indices.len(), c, h, w], device)
}

/// The likelihood terms of every image of `set` in batches of `batch_size`, with `samples`
/// importance samples (or diffusion draws) for latent-variable models, without the family's
/// detector statistics (a training's held-out bpd, a benchmark). Each image draws its noise
/// (dequantization, posterior samples) from `(seed, set, its index)` ([`image_rngs`]), so the
/// same model, image and seed give the bit-identical score, whatever the batch size, the other
/// images scored, or the number of worker `threads` the batches are spread over.
pub fn evaluate(
    model: &Model,
    set: &ImageSet,
    batch_size: usize,
    samples: usize,
    seed: u64,
    threads: usize,
    device: &Device,
) -> Vec<ExampleScore> {
    let all: Vec<usize> = (0..set.len()).collect();
    let what = Evaluation {
        samples,
        seed,
        detectors: false,
    };
    evaluate_as(
        model, set, &all, batch_size, what, threads, device, "evaluate", &mut Quiet,
    )
}

/// [`evaluate`] of the images of `set` at `indices` (rows keep those indices), with the
/// family's detector statistics after the likelihood's parts, reporting to `progress` as the
/// task called `task` after each batch: what `genood eval` and `detect` write.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_with_progress(
    model: &Model,
    set: &ImageSet,
    indices: &[usize],
    batch_size: usize,
    samples: usize,
    seed: u64,
    threads: usize,
    device: &Device,
    task: &str,
    progress: &mut dyn Progress,
) -> Vec<ExampleScore> {
    let what = Evaluation {
        samples,
        seed,
        detectors: true,
    };
    evaluate_as(
        model, set, indices, batch_size, what, threads, device, task, progress,
    )
}

/// What each image's evaluation computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// Importance samples or diffusion draws of the bound.
    pub samples: usize,
    /// Seed of every image's noise.
    pub seed: u64,
    /// Whether the family's detector statistics follow the likelihood's parts (they change
    /// nothing before them: their draws follow the bound's).
    pub detectors: bool,
}

/// [`evaluate_with_progress`] computing `what` says.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_as(
    model: &Model,
    set: &ImageSet,
    indices: &[usize],
    batch_size: usize,
    what: Evaluation,
    threads: usize,
    device: &Device,
    task: &str,
    progress: &mut dyn Progress,
) -> Vec<ExampleScore> {
    let Evaluation {
        samples,
        seed,
        detectors,
    } = what;
    assert_eq!(
        set.shape,
        model.image_dims(),
        "set {} does not have the model's image shape",
        set.name
    );
    let dims = model.dims();
    let scorer = model.scorer();
    let chunks: Vec<&[usize]> = indices.chunks(batch_size.max(1)).collect();
    let score_batch = |b: usize| {
        let mut rngs = image_rngs(seed, streams::EVAL_NOISE, set, chunks[b]);
        let pixels = batch_tensor(set, chunks[b], device);
        let terms = scorer.log_likelihood(pixels.clone(), samples, &mut Noise::PerImage(&mut rngs));
        let statistics = match detectors {
            true => scorer.detector_statistics(pixels, &mut Noise::PerImage(&mut rngs)),
            false => Vec::new(),
        };
        let parts: Vec<(String, Vec<f64>)> = terms
            .parts
            .into_iter()
            .map(|(name, values)| (name.to_string(), values))
            .chain(statistics)
            .map(|(name, values)| (name, to_f64_vec(values)))
            .collect();
        (to_f64_vec(terms.log_p), parts)
    };
    let mut scores = Vec::with_capacity(indices.len());
    for_each_batch(chunks.len(), threads, &score_batch, &mut |b,
                                                              (
        log_p,
        parts,
    )| {
        for (k, &i) in chunks[b].iter().enumerate() {
            scores.push(ExampleScore {
                index: i,
                label: set.labels.as_ref().map(|l| l[i]),
                log_p: log_p[k],
                bpd: bits_per_dim(log_p[k], dims),
                parts: parts.iter().map(|(n, v)| (n.clone(), v[k])).collect(),
                path: set.paths.as_ref().map(|p| p[i].clone()),
            });
        }
        progress.advance(task, scores.len(), indices.len());
    });
    scores
}

/// Mean and spread of a set's scores; `bound` names what `log p` is.
pub fn summarize(set: &str, bound: &str, scores: &[ExampleScore]) -> SetSummary {
    let n = scores.len().max(1) as f64;
    let mean_bpd = scores.iter().map(|s| s.bpd).sum::<f64>() / n;
    let var = scores
        .iter()
        .map(|s| (s.bpd - mean_bpd).powi(2))
        .sum::<f64>()
        / n;
    SetSummary {
        set: set.into(),
        count: scores.len(),
        mean_bpd,
        std_bpd: var.sqrt(),
        mean_log_p: scores.iter().map(|s| s.log_p).sum::<f64>() / n,
        bound: bound.into(),
    }
}

/// Writes scores as CSV (`index,label,log_p,bpd`, one column per named part, then `path`,
/// empty for sets not read from files), atomically. Floats are written in Rust's shortest round-trip form, so reading them back
/// gives the same bits.
pub fn write_scores_csv(path: &Path, scores: &[ExampleScore]) -> std::io::Result<()> {
    let mut header: Vec<&str> = SCORES_COLUMNS.to_vec();
    if let Some(first) = scores.first() {
        header.extend(first.parts.iter().map(|(n, _)| n.as_str()));
    }
    header.push(PATH_COLUMN);
    let mut table = CsvTable::new(header);
    for s in scores {
        let mut row = vec![
            s.index.to_string(),
            s.label.map(|l| l.to_string()).unwrap_or_default(),
            number(s.log_p),
            number(s.bpd),
        ];
        row.extend(s.parts.iter().map(|(_, value)| number(*value)));
        row.push(s.path.clone().unwrap_or_default());
        table.row(row);
    }
    table.write(path)
}

/// Reads a scores CSV written by [`write_scores_csv`] (or by genood before the `path` column),
/// naming the file and line on error.
pub fn read_scores_csv(path: &Path) -> Result<Vec<ExampleScore>, String> {
    let has_path = std::cell::Cell::new(false);
    let accept = |h: &[&str]| {
        has_path.set(h.last() == Some(&PATH_COLUMN));
        h.len() >= SCORES_COLUMNS.len() && h[..4] == SCORES_COLUMNS
    };
    let (mut header, rows) = read_table(path, "scores", accept, |f| {
        let (values, file) = match has_path.get() {
            true => (&f[..f.len() - 1], Some(f[f.len() - 1])),
            false => (f, None),
        };
        let parts = values[4..]
            .iter()
            .map(|v| v.parse().ok())
            .collect::<Option<Vec<f64>>>()?;
        Some(ExampleScore {
            index: f[0].parse().ok()?,
            label: if f[1].is_empty() {
                None
            } else {
                Some(f[1].parse().ok()?)
            },
            log_p: f[2].parse().ok()?,
            bpd: f[3].parse().ok()?,
            parts: parts.into_iter().map(|v| (String::new(), v)).collect(),
            path: file.filter(|f| !f.is_empty()).map(str::to_string),
        })
    })?;
    if has_path.get() {
        header.pop();
    }
    let names = &header[SCORES_COLUMNS.len()..];
    Ok(rows
        .into_iter()
        .map(|mut score| {
            for ((name, _), header) in score.parts.iter_mut().zip(names) {
                name.clone_from(header);
            }
            score
        })
        .collect())
}
