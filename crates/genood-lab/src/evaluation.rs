//! Scoring sets with a run's model into the run folder: `scores/<set>.csv` with its origin
//! beside it, and `summary.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use genood_data::{DataSource, ImageSet, SetSpec};
use genood_models::{DensityModel, Model};
use genood_train::eval::{
    Evaluation, ExampleScore, SetSummary, evaluate_as, read_scores_csv, summarize, write_scores_csv,
};
use genood_train::parallel::available_threads;
use genood_train::provenance::{ScoresOrigin, check_still_current, write_scores};
use genood_train::run::{RunDir, RunError};

use crate::context::Context;
use crate::error::LabError;
use crate::progress::Progress;
use crate::sets::{load_subset, loading_notes};

/// Importance samples of a VAE's bound at evaluation, unless told otherwise.
pub const IW_SAMPLES: usize = 100;

/// How long a writer of scores waits for the run's lock: enough for other writers of scores
/// (a sweep's shards, each writing for well under a second), short enough that an eval
/// started while the run trains is refused within a minute.
pub(crate) const WRITE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// How [`evaluate_sets`] scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalOptions {
    /// Score at most this many images per set (a seeded subset; `None`: all).
    pub limit: Option<usize>,
    /// Images per batch.
    pub batch_size: usize,
    /// Importance samples of a VAE's bound (1: the ELBO); other models ignore it.
    pub iw_samples: usize,
    /// Seed of the dequantization noise, subsets and synthetic sets.
    pub seed: u64,
    /// Worker threads the batches are spread over (the scores do not depend on it).
    pub threads: usize,
    /// Score only this part of each set's images ([`merge_shards`] joins the parts).
    pub shard: Option<Shard>,
    /// Add the model family's detector statistics to each image's scores (a diffusion
    /// model's, a hierarchical VAE's); off where only the likelihood is needed.
    pub detectors: bool,
}

/// Part `index` (from 0) of `count` of a set's images to score, so that several workers can
/// score one set: contiguous runs of the images to score, the first `len % count` one image
/// longer. Each image's noise is keyed by the image, so the merged parts are the whole set's
/// scores bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 0.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl Shard {
    /// The part of `indices` this shard scores.
    pub fn part<'a>(&self, indices: &'a [usize]) -> &'a [usize] {
        let (size, longer) = (indices.len() / self.count, indices.len() % self.count);
        let start = self.index * size + self.index.min(longer);
        &indices[start..start + size + usize::from(self.index < longer)]
    }
}

impl Default for EvalOptions {
    /// Every image, batches of 500, 100 importance samples, seed 0, every core, with the
    /// detector statistics.
    fn default() -> Self {
        Self {
            limit: None,
            batch_size: 500,
            iw_samples: IW_SAMPLES,
            seed: 0,
            threads: available_threads(),
            shard: None,
            detectors: true,
        }
    }
}

/// Scores every set named in `sets` with the model in `run_dir`, then writes each set's
/// scores and their origin and merges the summaries into `summary.json`. Every set is read
/// and scored before anything is written, so a bad set (missing, corrupt, the wrong shape,
/// empty) leaves the run's earlier scores and summary as they were.
pub fn evaluate_sets(
    run_dir: &Path,
    sets: &[SetSpec],
    context: &Context,
    options: &EvalOptions,
    progress: &mut dyn Progress,
) -> Result<Vec<SetSummary>, LabError> {
    let (data, device) = (&context.data, &context.device);
    let run = RunDir::new(run_dir);
    let checkpoint = run.load_checkpoint(device)?;
    let (model, made_by) = (&checkpoint.model, checkpoint.origin());
    let subsets = sets
        .iter()
        .map(|name| load_subset(name, data, options.seed, options.limit, model.image_dims()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut scored = Vec::with_capacity(subsets.len());
    for subset in subsets {
        let label = subset.spec.label();
        for note in loading_notes(&subset.set) {
            progress.note(&note);
        }
        let indices = match options.shard {
            Some(shard) => shard.part(&subset.indices),
            None => &subset.indices,
        };
        let started = Instant::now();
        let scores = score_indices(model, &subset.set, indices, options, device, progress);
        let summary = summarize(&label, &model.bound(options.iw_samples).name(), &scores);
        let seconds = started.elapsed().as_secs_f64();
        progress.note(&format!(
            "{}: {} images in {seconds:.1} s ({:.0} img/s)",
            summary.set,
            summary.count,
            summary.count as f64 / seconds,
        ));
        scored.push((label, scores, summary));
    }
    // Held while the scores and summary are written; another writer of scores (a sweep's
    // other shard) is waited for, a training run there makes this refuse after the wait.
    let _lock = run.lock_within(WRITE_PATIENCE)?;
    // A training run may have committed a checkpoint while the sets were scored.
    check_still_current(&run, &made_by)?;
    let scores_dir = run.scores_dir();
    genood_data::atomic::remove_stale_temporaries(&scores_dir)
        .map_err(LabError::io(&scores_dir))?;
    let mut summaries = Vec::with_capacity(scored.len());
    for (label, scores, summary) in scored {
        if let Some(shard) = options.shard {
            let path = write_shard(&run, &label, shard, &scores, options.limit, &made_by)?;
            progress.note(&format!("{} → {}", summary.set, path.display()));
            continue;
        }
        write_scores(&run, &label, &scores, options.limit, &made_by)?;
        progress.note(&format!(
            "{} → {}",
            summary.set,
            run.scores(&label).display()
        ));
        summaries.push(summary);
    }
    if options.shard.is_none() {
        write_summary(&run, &summaries)?;
    }
    Ok(summaries)
}

/// Per-image scores of every image of `set`, held in memory, with `model`, as `options` says
/// (its limit and shard aside); nothing is written. Each image's noise is keyed by its
/// position, so the scores are those `evaluate_sets` writes for the same images as a set.
pub fn score_images(
    model: &Model,
    set: &ImageSet,
    options: &EvalOptions,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<Vec<ExampleScore>, LabError> {
    check_shape(set, model.image_dims())?;
    let indices: Vec<usize> = (0..set.len()).collect();
    Ok(score_indices(
        model, set, &indices, options, device, progress,
    ))
}

/// Scores the images `indices` of `set` as `options` says, reporting to `progress` as
/// `eval <set>`.
fn score_indices(
    model: &Model,
    set: &ImageSet,
    indices: &[usize],
    options: &EvalOptions,
    device: &Device,
    progress: &mut dyn Progress,
) -> Vec<ExampleScore> {
    let task = format!("eval {}", set.name);
    progress.advance(&task, 0, indices.len());
    let what = Evaluation {
        samples: options.iw_samples,
        seed: options.seed,
        detectors: options.detectors,
    };
    evaluate_as(
        model,
        set,
        indices,
        options.batch_size,
        what,
        options.threads,
        device,
        &task,
        progress,
    )
}

/// Refuses images of another shape than the model's, naming both.
pub(crate) fn check_shape(images: &ImageSet, dims: [usize; 3]) -> Result<(), LabError> {
    if images.shape == dims {
        return Ok(());
    }
    Err(LabError::set(
        &images.name,
        format!(
            "images of shape {:?} (C×H×W), the model takes {dims:?}",
            images.shape
        ),
    ))
}

/// `scores/shards/<set>.<k>-of-<n>.csv`, and its origin as `.json` beside it.
fn shard_path(run: &RunDir, label: &str, shard: Shard) -> PathBuf {
    let file = run.scores(label);
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    run.scores_dir().join("shards").join(format!(
        "{name}.{}-of-{}.csv",
        shard.index + 1,
        shard.count
    ))
}

/// Writes one shard's scores and their origin (the checkpoint that made them).
fn write_shard(
    run: &RunDir,
    label: &str,
    shard: Shard,
    scores: &[ExampleScore],
    limit: Option<usize>,
    made_by: &(usize, String),
) -> Result<PathBuf, LabError> {
    let path = shard_path(run, label, shard);
    let dir = run.scores_dir().join("shards");
    std::fs::create_dir_all(&dir).map_err(LabError::io(&dir))?;
    write_scores_csv(&path, scores).map_err(LabError::io(&path))?;
    let (step, model_sha256) = made_by.clone();
    let origin = ScoresOrigin {
        step,
        model_sha256,
        images: scores.len(),
        limit,
    };
    run.write_json(&path.with_extension("json"), &origin)?;
    Ok(path)
}

/// Joins the `count` shards of each set in `sets` that `evaluate_sets` wrote with
/// `options.shard`, after checking that each was made by the run's current checkpoint and
/// that together they are exactly the images an unsharded evaluation with `options` scores;
/// then writes each set's scores and summary as that evaluation would, byte for byte.
pub fn merge_shards(
    run_dir: &Path,
    sets: &[SetSpec],
    count: usize,
    data: &DataSource,
    options: &EvalOptions,
    progress: &mut dyn Progress,
) -> Result<Vec<SetSummary>, LabError> {
    let run = RunDir::new(run_dir);
    let checkpoint = run.load_checkpoint(&Device::flex())?;
    let (model, made_by) = (&checkpoint.model, checkpoint.origin());
    let current = &made_by.1;
    let mut merged = Vec::new();
    for name in sets {
        let subset = load_subset(name, data, options.seed, options.limit, model.image_dims())?;
        let label = subset.spec.label();
        let mut scores = Vec::with_capacity(subset.indices.len());
        for index in 0..count {
            let path = shard_path(&run, &label, Shard { index, count });
            if !path.exists() {
                return Err(LabError::set(
                    name,
                    format!(
                        "shard {} of {count} is missing: {}",
                        index + 1,
                        path.display()
                    ),
                ));
            }
            let origin: ScoresOrigin = run.read_json(&path.with_extension("json"))?;
            if origin.model_sha256 != *current || origin.limit != options.limit {
                return Err(LabError::set(
                    name,
                    format!(
                        "{} was made by another checkpoint or --limit; score that shard again",
                        path.display()
                    ),
                ));
            }
            scores.extend(read_scores_csv(&path).map_err(|reason| RunError::Config {
                path: path.clone(),
                reason,
            })?);
        }
        let covered: Vec<usize> = scores.iter().map(|s| s.index).collect();
        if covered != subset.indices {
            return Err(LabError::set(
                name,
                "the shards do not cover the set's images; score every shard with the same --limit and --seed",
            ));
        }
        let summary = summarize(&label, &model.bound(options.iw_samples).name(), &scores);
        merged.push((label, scores, summary));
    }
    let _lock = run.lock_within(WRITE_PATIENCE)?;
    check_still_current(&run, &made_by)?;
    let mut summaries = Vec::with_capacity(merged.len());
    for (label, scores, summary) in merged {
        write_scores(&run, &label, &scores, options.limit, &made_by)?;
        progress.note(&format!(
            "{} → {} (from {count} shards)",
            summary.set,
            run.scores(&label).display()
        ));
        summaries.push(summary);
    }
    write_summary(&run, &summaries)?;
    Ok(summaries)
}

/// Merges summaries into the run's `summary.json`, keyed by set.
fn write_summary(run: &RunDir, summaries: &[SetSummary]) -> Result<(), LabError> {
    let path = run.summary();
    let mut all: BTreeMap<String, SetSummary> = if path.exists() {
        run.read_json(&path)?
    } else {
        BTreeMap::new()
    };
    for s in summaries {
        all.insert(s.set.clone(), s.clone());
    }
    Ok(run.write_json(&path, &all)?)
}

/// The summaries as a Markdown table.
pub fn summary_table(summaries: &[SetSummary]) -> String {
    let mut table = String::from(
        "| set | images | mean bpd | std bpd | mean log p (nats) | log p is |\n|---|---:|---:|---:|---:|---|\n",
    );
    for s in summaries {
        table.push_str(&format!(
            "| {} | {} | {:.4} | {:.4} | {:.1} | {} |\n",
            s.set, s.count, s.mean_bpd, s.std_bpd, s.mean_log_p, s.bound
        ));
    }
    table
}
