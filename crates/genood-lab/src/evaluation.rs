//! Scoring sets with a run's model into the run folder: `scores/<set>.csv` with its origin
//! beside it, and `summary.json`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use genood_data::DataSource;
use genood_models::DensityModel;
use genood_train::eval::{SetSummary, evaluate_with_progress, summarize};
use genood_train::parallel::available_threads;
use genood_train::provenance::write_scores;
use genood_train::run::RunDir;

use crate::error::LabError;
use crate::progress::Progress;
use crate::sets::{load_subset, skipped_note};

/// Importance samples of a VAE's bound at evaluation, unless told otherwise.
pub const IW_SAMPLES: usize = 100;

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
}

impl Default for EvalOptions {
    /// Every image, batches of 500, 100 importance samples, seed 0, every core.
    fn default() -> Self {
        Self {
            limit: None,
            batch_size: 500,
            iw_samples: IW_SAMPLES,
            seed: 0,
            threads: available_threads(),
        }
    }
}

/// Scores every set named in `sets` with the model in `run_dir`, then writes each set's
/// scores and their origin and merges the summaries into `summary.json`. Every set is read
/// and scored before anything is written, so a bad set (missing, corrupt, the wrong shape,
/// empty) leaves the run's earlier scores and summary as they were.
pub fn evaluate_sets(
    run_dir: &Path,
    sets: &[String],
    data: &DataSource,
    device: &Device,
    options: &EvalOptions,
    progress: &mut dyn Progress,
) -> Result<Vec<SetSummary>, LabError> {
    let run = RunDir::new(run_dir);
    let (_, model) = run.load_model(device)?;
    let subsets = sets
        .iter()
        .map(|name| load_subset(name, data, options.seed, options.limit, model.image_dims()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut scored = Vec::with_capacity(subsets.len());
    for subset in subsets {
        let label = subset.spec.label();
        if let Some(note) = skipped_note(&subset.set) {
            progress.note(&note);
        }
        let task = format!("eval {label}");
        progress.advance(&task, 0, subset.indices.len());
        let started = Instant::now();
        let scores = evaluate_with_progress(
            &model,
            &subset.set,
            &subset.indices,
            options.batch_size,
            options.iw_samples,
            options.seed,
            options.threads,
            device,
            &mut |done, total| progress.advance(&task, done, total),
        );
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
    // Held while the scores and summary are written: a training run there waits its turn.
    let _lock = run.lock()?;
    let scores_dir = run.scores_dir();
    genood_data::atomic::remove_stale_temporaries(&scores_dir).map_err(|source| LabError::Io {
        path: scores_dir.clone(),
        source,
    })?;
    let mut summaries = Vec::with_capacity(scored.len());
    for (label, scores, summary) in scored {
        write_scores(&run, &label, &scores, options.limit)?;
        progress.note(&format!(
            "{} → {}",
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
