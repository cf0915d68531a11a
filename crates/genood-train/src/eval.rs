//! Per-example scores of a trained model on a set, without autodiff.

use std::io::Write as _;
use std::path::Path;

use burn::prelude::*;
use genood_data::ImageSet;
use genood_data::atomic::write_atomically;
use genood_flows::bits_per_dim;
use genood_flows::host::{tensor_from_f32, to_f64_vec};
use genood_models::DensityModel;
use serde::{Deserialize, Serialize};

use crate::csv::read_rows;
use crate::run::{stream_rng, streams};

/// Header of a scores CSV.
const SCORES_HEADER: &str = "index,label,log_p,bpd,log_prior,log_det";

/// One image's scores. `log_p = log_prior + log_det` (nats); `bpd` over the model's `D`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExampleScore {
    /// Position in the set.
    pub index: usize,
    /// The set's label, if it has labels.
    pub label: Option<u32>,
    /// `log p(x)` in nats.
    pub log_p: f64,
    /// Bits per dimension.
    pub bpd: f64,
    /// The prior ("distribution") term.
    pub log_prior: f64,
    /// The volume term.
    pub log_det: f64,
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

/// Scores every image of `set` in batches of `batch_size`; batch `b` uses dequantization noise
/// from `(seed, b)`, so the same model, set and seed give bit-identical scores.
pub fn evaluate(
    model: &impl DensityModel,
    set: &ImageSet,
    batch_size: usize,
    seed: u64,
    device: &Device,
) -> Vec<ExampleScore> {
    assert_eq!(
        set.shape,
        model.image_dims(),
        "set {} does not have the model's image shape",
        set.name
    );
    let dims = model.dims();
    let mut scores = Vec::with_capacity(set.len());
    let indices: Vec<usize> = (0..set.len()).collect();
    for (b, chunk) in indices.chunks(batch_size.max(1)).enumerate() {
        let pixels = batch_tensor(set, chunk, device);
        let terms =
            model.log_likelihood(pixels, &mut stream_rng(seed, streams::EVAL_NOISE, b as u64));
        let log_p = to_f64_vec(terms.log_p);
        let log_prior = to_f64_vec(terms.log_prior);
        let log_det = to_f64_vec(terms.log_det);
        for (k, &i) in chunk.iter().enumerate() {
            scores.push(ExampleScore {
                index: i,
                label: set.labels.as_ref().map(|l| l[i]),
                log_p: log_p[k],
                bpd: bits_per_dim(log_p[k], dims),
                log_prior: log_prior[k],
                log_det: log_det[k],
            });
        }
    }
    scores
}

/// Mean and spread of a set's scores.
pub fn summarize(set: &str, scores: &[ExampleScore]) -> SetSummary {
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
    }
}

/// Writes scores as CSV (`index,label,log_p,bpd,log_prior,log_det`), atomically. Floats are
/// written in Rust's shortest round-trip form, so reading them back gives the same bits.
pub fn write_scores_csv(path: &Path, scores: &[ExampleScore]) -> std::io::Result<()> {
    let mut out = Vec::new();
    writeln!(out, "{SCORES_HEADER}")?;
    for s in scores {
        let label = s.label.map(|l| l.to_string()).unwrap_or_default();
        writeln!(
            out,
            "{},{label},{:?},{:?},{:?},{:?}",
            s.index, s.log_p, s.bpd, s.log_prior, s.log_det
        )?;
    }
    write_atomically(path, &out)
}

/// Reads a scores CSV written by [`write_scores_csv`], naming the file and line on error.
pub fn read_scores_csv(path: &Path) -> Result<Vec<ExampleScore>, String> {
    read_rows(path, SCORES_HEADER, "scores", |f| {
        Some(ExampleScore {
            index: f[0].parse().ok()?,
            label: if f[1].is_empty() {
                None
            } else {
                Some(f[1].parse().ok()?)
            },
            log_p: f[2].parse().ok()?,
            bpd: f[3].parse().ok()?,
            log_prior: f[4].parse().ok()?,
            log_det: f[5].parse().ok()?,
        })
    })
}
