//! `genood`: can you trust your generative model's likelihood to flag inputs unlike its
//! training data? Fetch data, train Glow / CV-Glow / PixelCNN++ / VAEs, score data sets, analyse why the likelihood
//! fails, reproduce the paper.

mod analyze;
mod bench;
mod choices;
mod comparison;
mod detect;
mod device;
mod eval;
mod fetch;
mod graceful;
mod numbers;
mod progress;
mod regret;
mod report;
mod reproduce;
mod sample;
mod score;
mod scoring;
mod sweep;
mod train;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use genood_data::DataSource;

/// Deep generative models and out-of-distribution detection (Nalisnick et al., ICLR 2019).
#[derive(Parser)]
#[command(name = "genood", version, about)]
struct Cli {
    /// Cache folder for data sets (default: $GENOOD_DATA, else ./data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Leave out image files in `folder:` sets that cannot be decoded (each command names
    /// them and counts them) instead of refusing the folder.
    #[arg(long, global = true)]
    skip_bad: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download data sets into the cache, checking published checksums.
    Fetch(fetch::FetchArgs),
    /// Train a model into a run folder (resumable).
    Train(train::TrainArgs),
    /// Score data sets with a trained model: per-example CSVs and a summary table.
    Eval(eval::EvalArgs),
    /// Likelihood regret of a trained VAE: each input's posterior refit with the decoder frozen.
    Regret(regret::RegretArgs),
    /// OOD scores (likelihood, typicality, input complexity, likelihood ratio, WAIC, DoSE,
    /// likelihood regret) with AUROC, AUPR, FPR@95.
    Score(score::ScoreArgs),
    /// Why the likelihood fails: its two terms, data moments, the second-order prediction,
    /// graying and training dynamics, as figures, JSON and an HTML section.
    Analyze(analyze::AnalyzeArgs),
    /// Fit OOD thresholds on a run's own held-out images, then label any set (a folder of
    /// unlabelled images, say) image by image: which inputs not to trust.
    Detect(detect::DetectArgs),
    /// Draw images from a trained model into a PNG grid (with a progress bar).
    Sample(sample::SampleArgs),
    /// A self-contained HTML report: histograms, ROC curves, metrics, samples, configs.
    Report(report::ReportArgs),
    /// Fetch, train (Glow and CV-Glow by default), evaluate, score, analyse, and report beside
    /// the paper.
    Reproduce(reproduce::ReproduceArgs),
    /// Sweeps of pairs × models × presets × seeds as a DAG of idempotent jobs, run here or
    /// on Slurm, summarised in one table.
    Sweep(sweep::SweepArgs),
    /// Training and evaluation throughput of the presets on a device.
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = graceful::install() {
        eprintln!("warning: signals will end trainings without a checkpoint: {error}");
    }
    let data = DataSource {
        dir: cli.data_dir.unwrap_or_else(genood_data::default_data_dir),
        skip_bad: cli.skip_bad,
    };
    let result = match cli.command {
        Command::Fetch(args) => fetch::run(args, &data.dir),
        Command::Train(args) => train::run(args, &data),
        Command::Eval(args) => eval::run(args, &data).map(|_| ()),
        Command::Regret(args) => regret::run(args, &data).map(|_| ()),
        Command::Score(args) => score::run(args, &data).map(|_| ()),
        Command::Analyze(args) => analyze::run(args, &data).map(|_| ()),
        Command::Detect(args) => detect::run(args, &data),
        Command::Sample(args) => sample::run(args),
        Command::Report(args) => report::run(args, &data).map(|_| ()),
        Command::Reproduce(args) => reproduce::run(args, &data),
        Command::Sweep(args) => sweep::run(args, &data),
        Command::Bench(args) => bench::run(args),
    };
    if let Err(error) = result {
        eprintln!("error: {}", describe(&error));
        let interrupted = error
            .downcast_ref::<genood_lab::LabError>()
            .is_some_and(genood_lab::LabError::interrupted);
        std::process::exit(if interrupted {
            graceful::INTERRUPTED
        } else {
            1
        });
    }
}

/// The error and its causes, joined by `: ` (no message repeats its cause).
fn describe(error: &anyhow::Error) -> String {
    genood_data::error::chain(error.as_ref())
}
