//! `genood detect`.

use genood_data::SetSpec;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use genood_data::DataSource;
use genood_lab::detect::{
    DetectOptions, Grouping, SCORES, apply_detector, fit_detector, verdict_table,
};
use genood_lab::score::Score;
use genood_ood::scores::Codec;
use genood_train::run::RunDir;

use crate::choices;
use crate::progress::terminal;
use crate::scoring::ScoringArgs;

/// Arguments of `genood detect`.
#[derive(Args)]
pub struct DetectArgs {
    /// The run folder of a trained model; its detector is `detector.json` there.
    #[arg(long)]
    pub run: PathBuf,
    /// Sets to label, e.g. folder:incoming (none: only fit the detector).
    #[arg(long, num_args = 1..)]
    pub data: Vec<SetSpec>,
    /// Scores to fit thresholds for: likelihood, typicality, complexity, dose, and for a
    /// diffusion model reconstruction, msma, diffpath, for a hierarchical VAE llr (its
    /// `llr>1`) (used when the detector is fitted;
    /// --refit changes a fitted one).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "likelihood,typicality,complexity,dose",
        value_parser = choices::named_of(&SCORES)
    )]
    pub scores: Vec<Score>,
    /// Fit the detector again even if the run has one.
    #[arg(long)]
    pub refit: bool,
    /// In-distribution false-positive rate each threshold is fitted at.
    #[arg(long, value_parser = crate::numbers::positive_finite, default_value_t = 0.05)]
    pub fpr: f64,
    /// Inputs per decision of the batch typicality test.
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 10)]
    pub batch: usize,
    /// How the batch test forms its batches: random (seeded random batches within each
    /// set), label (within each class folder) or order (consecutive images as read: only for
    /// a stream whose order is its source). A batch test is valid only for a sample of one
    /// source.
    #[arg(long, value_parser = str::parse::<Grouping>, default_value = "random")]
    pub group_by: Grouping,
    /// Compressor of the input-complexity score: webp (lossless) or png (used when the
    /// detector is fitted; which separates better depends on the images).
    #[arg(long, value_parser = str::parse::<Codec>, default_value = "webp")]
    pub codec: Codec,
    /// Fit the thresholds on this in-distribution set (any set you trust, at any shape the
    /// run accepts) instead of the run's own held-out images; implies --refit.
    #[arg(long, value_name = "SET")]
    pub calibrate: Option<SetSpec>,
    /// Write the verdicts of the one --data set to FILE instead of detect/<set>.csv in the run.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Beside each set's verdicts, draw its 16 most flagged images above their per-pixel maps
    /// of what drives the score (PixelCNN++: −log p per pixel; VAEs: the decoder's surprise;
    /// diffusion: the reconstruction's error), into detect/<set>-explain.png.
    #[arg(long)]
    pub explain: bool,
    /// Training images scored as the reference of typicality and DoSE.
    #[arg(long, value_parser = crate::numbers::at_least_two, default_value_t = 2000)]
    pub reference_images: usize,
    /// Which images and how.
    #[command(flatten)]
    pub scoring: ScoringArgs,
}

/// Fits the run's detector when it has none (or on --refit), then labels every image of
/// each set into `detect/<set>.csv` and prints the fractions flagged.
pub fn run(args: DetectArgs, data: &DataSource) -> Result<()> {
    let eval = args.scoring.options();
    let options = DetectOptions {
        scores: args.scores,
        fpr: args.fpr,
        batch: args.batch,
        grouping: args.group_by,
        codec: args.codec,
        calibrate: args.calibrate,
        out: args.out,
        reference_images: args.reference_images,
        limit: eval.limit,
        batch_size: eval.batch_size,
        iw_samples: eval.iw_samples,
        seed: eval.seed,
        threads: eval.threads,
        explain: args.explain,
    };
    let context = args.scoring.compute.context(data)?;
    let mut progress = terminal();
    let run = RunDir::new(&args.run);
    let detector = if args.refit || options.calibrate.is_some() || !run.detector().exists() {
        fit_detector(&args.run, &context, &options, &mut *progress)?
    } else {
        run.read_json(&run.detector())?
    };
    if !args.data.is_empty() {
        let verdicts = apply_detector(&args.run, &args.data, &context, &options, &mut *progress)?;
        print!("{}", verdict_table(&verdicts, &detector));
    }
    Ok(())
}
