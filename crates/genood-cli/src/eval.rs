//! `genood eval`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use genood_data::{ImageSet, SetSpec};
use genood_models::DensityModel;
use genood_train::eval::{SetSummary, evaluate_with_progress, summarize};
use genood_train::provenance::write_scores;
use genood_train::run::RunDir;
use rand::SeedableRng;

use crate::device::Compute;
use crate::progress::WorkProgress;

/// Importance samples of a VAE's bound at evaluation, unless told otherwise.
pub const IW_SAMPLES: usize = 100;

/// Arguments of `genood eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// The run folder of a trained model.
    #[arg(long)]
    pub run: PathBuf,
    /// Sets to score, e.g. fashion-mnist:test mnist:test inverted/mnist:test.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<String>,
    /// Score at most this many images per set (a seeded random subset).
    #[arg(long, value_parser = crate::numbers::positive)]
    pub limit: Option<usize>,
    /// Images per batch.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 500)]
    pub batch_size: usize,
    /// Importance samples k of a VAE's bound: 1 gives the ELBO, more the tighter IW bound
    /// (batched: memory does not grow with k). Exact models and flows ignore it.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = IW_SAMPLES)]
    pub iw_samples: usize,
    /// Seed of dequantization noise, subsets and synthetic sets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device and worker threads.
    #[command(flatten)]
    pub compute: Compute,
}

/// Scores every set, writes `scores/<set>.csv` and `summary.json` into the run folder, and
/// prints a table.
pub fn run(args: EvalArgs, data_dir: &Path) -> Result<Vec<SetSummary>> {
    let device = args.compute.device()?;
    let run = RunDir::new(&args.run);
    let (_, model) = run
        .load_model(&device)
        .with_context(|| format!("loading the model from {}", args.run.display()))?;
    // Every set is read and scored before anything is written, so that a bad set (missing,
    // corrupt, the wrong shape, empty) leaves the run's earlier scores and summary as they were.
    let sets = args
        .data
        .iter()
        .map(|name| load_subset(name, data_dir, args.seed, args.limit, model.image_dims()))
        .collect::<Result<Vec<_>>>()?;
    let mut scored = Vec::with_capacity(sets.len());
    for (spec, set, indices) in sets {
        let started = std::time::Instant::now();
        let mut bar = WorkProgress::new(&format!("eval {}", spec.label()));
        let scores = evaluate_with_progress(
            &model,
            &set,
            &indices,
            args.batch_size,
            args.iw_samples,
            args.seed,
            args.compute.threads(),
            &device,
            &mut |done, total| bar.update(done, total),
        );
        drop(bar);
        let summary = summarize(&spec.label(), &model.bound(args.iw_samples).name(), &scores);
        eprintln!(
            "{}: {} images in {:.1} s ({:.0} img/s)",
            summary.set,
            summary.count,
            started.elapsed().as_secs_f64(),
            summary.count as f64 / started.elapsed().as_secs_f64(),
        );
        scored.push((spec, scores, summary));
    }
    // Held while the scores and summary are written: a training run there waits its turn.
    let _lock = run.lock()?;
    let scores_dir = run.scores_dir();
    genood_data::atomic::remove_stale_temporaries(&scores_dir)
        .with_context(|| format!("cleaning {}", scores_dir.display()))?;
    let mut summaries = Vec::with_capacity(scored.len());
    for (spec, scores, summary) in scored {
        write_scores(&run, &spec.label(), &scores, args.limit)?;
        eprintln!("{} → {}", summary.set, run.scores(&spec.label()).display());
        summaries.push(summary);
    }
    write_summary(&run, &summaries)?;
    print_table(&summaries);
    Ok(summaries)
}

/// Set `name` as `(spec, set, indices)`: the whole set, checked against the model's image
/// shape, and the indices of the at most `limit` images to score (a subset seeded by `seed`,
/// the same for every command that takes `--limit`). Rows keep each image's index in the whole
/// set, which also keys its noise, so a subset scores each image as the whole set does.
pub fn load_subset(
    name: &str,
    data_dir: &Path,
    seed: u64,
    limit: Option<usize>,
    shape: [usize; 3],
) -> Result<(SetSpec, ImageSet, Vec<usize>)> {
    let spec = SetSpec::parse(name)?;
    let full = spec.load(data_dir, seed)?;
    if full.is_empty() {
        bail!("{name}: the set has no images; nothing to score");
    }
    if full.shape != shape {
        bail!(
            "{name}: images are {:?}, the model expects {shape:?}",
            full.shape
        );
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let indices = full.sample_indices(limit.unwrap_or(usize::MAX), &mut rng);
    Ok((spec, full, indices))
}

/// Merges summaries into the run's `summary.json`, keyed by set.
fn write_summary(run: &RunDir, summaries: &[SetSummary]) -> Result<()> {
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

fn print_table(summaries: &[SetSummary]) {
    println!("| set | images | mean bpd | std bpd | mean log p (nats) | log p is |");
    println!("|---|---:|---:|---:|---:|---|");
    for s in summaries {
        println!(
            "| {} | {} | {:.4} | {:.4} | {:.1} | {} |",
            s.set, s.count, s.mean_bpd, s.std_bpd, s.mean_log_p, s.bound
        );
    }
}
