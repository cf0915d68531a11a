//! `genood report`: one self-contained HTML page (and the same figures as SVG/PNG files) from
//! trained runs and their per-example scores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use genood_data::SetSpec;
use genood_lab::analysis::Analysis;
use genood_lab::analysis_view;
use genood_lab::figures::{file_safe, likelihood_histograms, write_figure, write_file};
use genood_lab::pairs::reported_auroc;
use genood_lab::score::{ScoreRow, score_rows};
use genood_ood::metrics::roc_curve;
use genood_ood::report::{Block, render_html};
use genood_ood::svg::roc_chart;
use genood_train::eval::SetSummary;
use genood_train::provenance::read_scores;
use genood_train::run::RunDir;

use crate::device::parse_device;
use crate::sample::sample_grid;
use crate::score::ComparisonArgs;

/// Samples drawn from each model by default, and their temperature (Glow's usual 0.7).
pub const SAMPLES: usize = 36;
const TEMPERATURE: f64 = 0.7;

/// Arguments of `genood report`.
#[derive(Args, Clone)]
pub struct ReportArgs {
    /// Run folders to report, each scored by `genood eval` on the sets below.
    #[arg(long, num_args = 1.., required = true)]
    pub run: Vec<PathBuf>,
    /// The sets and companion models (background and ensemble apply to the first run).
    #[command(flatten)]
    pub comparison: ComparisonArgs,
    /// Output folder: report.html and every figure as SVG and PNG.
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    /// An `analysis.json` from `genood analyze`, shown as the report's last section.
    #[arg(long)]
    pub analysis: Option<PathBuf>,
    /// Images drawn from each model for the page (PixelCNN++ takes one pass per pixel).
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = SAMPLES)]
    pub samples: usize,
}

/// What a run's `log p` is, as its `eval` recorded it for `set` (empty if not recorded).
pub fn recorded_bound(run: &RunDir, set: &str) -> String {
    let path = run.summary();
    run.read_json::<BTreeMap<String, SetSummary>>(&path)
        .ok()
        .and_then(|all| all.get(set).map(|s| s.bound.clone()))
        .unwrap_or_default()
}

/// Builds the page and writes it with its figures into `--out`.
pub fn run(args: ReportArgs, data_dir: &Path) -> Result<PathBuf> {
    let compared = &args.comparison;
    let mut blocks = vec![Block::Text(format!(
        "In-distribution test set {}, OOD sets {}, reference (training) data {}. Lower bits per dimension means higher likelihood. \
         For OOD detection, OOD is the positive class and a higher score means more OOD; intervals are 95% bootstrap intervals.",
        compared.in_dist,
        compared.ood.join(", "),
        compared.reference
    ))];
    let mut sets = vec![compared.reference.clone(), compared.in_dist.clone()];
    sets.extend(compared.ood.iter().cloned());
    for (k, run_path) in args.run.iter().enumerate() {
        let run = RunDir::new(run_path);
        let (config, model) = run.load_model(&parse_device("cpu")?)?;
        let name = format!("{} ({})", config.model.label(), run_path.display());
        let stem = run_path
            .file_name()
            .map_or("run".into(), |n| n.to_string_lossy().into_owned());
        blocks.push(Block::Heading(name.clone()));

        let mut scores = Vec::new();
        for set in &sets {
            let read = read_scores(&run, &SetSpec::parse(set)?.label())?;
            scores.push((set.clone(), read));
        }
        let bound = recorded_bound(&run, &SetSpec::parse(&compared.in_dist)?.label());
        for (kind, svg) in likelihood_histograms(config.model.label(), &bound, &scores) {
            write_figure(&args.out, &format!("{stem}-{kind}"), &svg)?;
            blocks.push(Block::Svg(svg));
        }

        // The companion models belong to the first run only.
        let mut comparison = compared.comparison();
        if k > 0 {
            comparison.background = None;
            comparison.ensemble.clear();
        }
        let rows = score_rows(run_path, &comparison, 1000, 0, data_dir)?;
        for ood in &compared.ood {
            let series: Vec<(String, Vec<(f64, f64)>)> = rows
                .iter()
                .filter(|r| &r.ood == ood && r.batch == 1)
                .map(|r| {
                    (
                        format!("{} (AUROC {:.3})", r.score, r.metrics.auroc.value),
                        roc_curve(&r.in_scores, &r.ood_scores),
                    )
                })
                .collect();
            let svg = roc_chart(
                &format!(
                    "ROC, {} vs {} — {}",
                    compared.in_dist,
                    ood,
                    config.model.label()
                ),
                &series,
            );
            write_figure(&args.out, &format!("{stem}-roc-{}", file_safe(ood)), &svg)?;
            blocks.push(Block::Svg(svg));
        }
        blocks.push(metrics_table(&rows));

        let png = sample_grid(
            &model,
            args.samples,
            TEMPERATURE,
            0,
            &format!("sampling {stem}"),
        );
        write_file(&args.out.join(format!("{stem}-samples.png")), &png)?;
        blocks.push(Block::Png {
            caption: format!(
                "{} samples at temperature {TEMPERATURE} — {}",
                args.samples,
                config.model.label()
            ),
            bytes: png,
        });
        blocks.push(Block::Pre(
            std::fs::read_to_string(run.config())
                .with_context(|| run.config().display().to_string())?,
        ));
    }
    if let Some(path) = &args.analysis {
        let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        let analysis: Analysis = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a genood analysis", path.display()))?;
        let figures = analysis_view::figures(&analysis);
        blocks.extend(analysis_view::blocks(&analysis, &figures, None));
    }
    let html = render_html("genood report", &blocks);
    let path = args.out.join("report.html");
    write_file(&path, html.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(path)
}

fn metrics_table(rows: &[ScoreRow]) -> Block {
    let header = [
        "score",
        "in (images)",
        "OOD (images)",
        "AUROC [95% CI]",
        "AUPR-in",
        "AUPR-out",
        "FPR@95",
        "det. acc.",
        "reported AUROC (literature)",
        "cost",
    ];
    let body = rows
        .iter()
        .map(|r| {
            let m = &r.metrics;
            vec![
                r.score.clone(),
                r.in_images.label(&r.in_dist),
                r.ood_images.label(&r.ood),
                format!(
                    "{:.3} [{:.3}, {:.3}]",
                    m.auroc.value, m.auroc.low, m.auroc.high
                ),
                format!("{:.3}", m.aupr_in.value),
                format!("{:.3}", m.aupr_out.value),
                format!("{:.3}", m.fpr95.value),
                format!("{:.3}", m.detection_accuracy.value),
                reported_auroc(&r.score, &r.in_dist, &r.ood)
                    .map_or("–".into(), |v| format!("{v} (reported)")),
                r.cost.clone(),
            ]
        })
        .collect();
    Block::Table(header.map(String::from).to_vec(), body)
}
