//! One self-contained HTML page (and the same figures as SVG/PNG files) from trained runs,
//! their per-example scores and, optionally, an analysis: the report composes what the
//! score and the analysis views produce.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::prelude::*;
use genood_data::DataSource;
use genood_data::SetSpec;
use genood_ood::metrics::roc_curve;
use genood_ood::report::{Block, render_html};
use genood_ood::svg::roc_chart;
use genood_train::eval::SetSummary;
use genood_train::provenance::read_scores;
use genood_train::run::{RunDir, RunError};

use crate::analysis::Analysis;
use crate::analysis_view;
use crate::error::LabError;
use crate::figures::{file_safe, likelihood_histograms, write_figure, write_file};
use crate::pairs::reported_auroc;
use crate::progress::Progress;
use crate::samples::sample_grid;
use crate::score::{Comparison, ScoreRow, score_rows};

/// Samples drawn from each model by default.
pub const SAMPLES: usize = 36;
/// The samples' temperature (Glow's usual 0.7).
const TEMPERATURE: f64 = 0.7;

/// Where [`write_report`] writes and what it adds.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// Output folder: report.html and every figure as SVG and PNG.
    pub out: PathBuf,
    /// An `analysis.json`, shown as the report's last section.
    pub analysis: Option<PathBuf>,
    /// Images drawn from each model for the page.
    pub samples: usize,
}

/// What a run's `log p` is, as its `eval` recorded it for `set` (empty if not recorded).
fn recorded_bound(run: &RunDir, set: &str) -> String {
    let path = run.summary();
    run.read_json::<BTreeMap<String, SetSummary>>(&path)
        .ok()
        .and_then(|all| all.get(set).map(|s| s.bound.clone()))
        .unwrap_or_default()
}

/// Builds the page for `runs` (each scored on the sets of `compared`; the companion models
/// apply to the first run) and writes it with its figures into `options.out`; returns the
/// page's path. Models are loaded on the CPU to draw their samples.
pub fn write_report(
    runs: &[PathBuf],
    compared: &Comparison,
    options: &ReportOptions,
    data: &DataSource,
    progress: &mut dyn Progress,
) -> Result<PathBuf, LabError> {
    let mut blocks = vec![Block::Text(format!(
        "In-distribution test set {}, OOD sets {}, reference (training) data {}. Lower bits per dimension means higher likelihood. \
         For OOD detection, OOD is the positive class and a higher score means more OOD; intervals are 95% bootstrap intervals.",
        compared.in_dist,
        compared.ood.join(", "),
        compared.reference
    ))];
    let mut sets = vec![compared.reference.clone(), compared.in_dist.clone()];
    sets.extend(compared.ood.iter().cloned());
    for (k, run_path) in runs.iter().enumerate() {
        let run = RunDir::new(run_path);
        let (config, model) = run.load_model(&Device::flex())?;
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
            write_figure(&options.out, &format!("{stem}-{kind}"), &svg)?;
            blocks.push(Block::Svg(svg));
        }

        // The companion models belong to the first run only.
        let mut comparison = compared.clone();
        if k > 0 {
            comparison.background = None;
            comparison.ensemble.clear();
        }
        let rows = score_rows(run_path, &comparison, 1000, 0, data)?;
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
            write_figure(
                &options.out,
                &format!("{stem}-roc-{}", file_safe(ood)),
                &svg,
            )?;
            blocks.push(Block::Svg(svg));
        }
        blocks.push(metrics_table(&rows));

        let png = sample_grid(
            &model,
            options.samples,
            TEMPERATURE,
            0,
            &format!("sampling {stem}"),
            progress,
        );
        write_file(&options.out.join(format!("{stem}-samples.png")), &png)?;
        blocks.push(Block::Png {
            caption: format!(
                "{} samples at temperature {TEMPERATURE} — {}",
                options.samples,
                config.model.label()
            ),
            bytes: png,
        });
        let config_path = run.config();
        blocks.push(Block::Pre(std::fs::read_to_string(&config_path).map_err(
            |source| LabError::Io {
                path: config_path.clone(),
                source,
            },
        )?));
    }
    if let Some(path) = &options.analysis {
        let text = std::fs::read_to_string(path).map_err(|source| LabError::Io {
            path: path.clone(),
            source,
        })?;
        let analysis: Analysis = serde_json::from_str(&text).map_err(|e| RunError::Config {
            path: path.clone(),
            reason: format!("not a genood analysis: {e}"),
        })?;
        let figures = analysis_view::figures(&analysis);
        blocks.extend(analysis_view::blocks(&analysis, &figures, None));
    }
    let html = render_html("genood report", &blocks);
    let path = options.out.join("report.html");
    write_file(&path, html.as_bytes())?;
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
