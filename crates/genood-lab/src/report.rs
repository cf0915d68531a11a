//! One self-contained HTML page (and the same figures as SVG/PNG files) from trained runs,
//! their per-example scores and, optionally, an analysis: the report composes what the
//! score and the analysis views produce.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::prelude::*;
use genood_data::{Conform, DataSource, SetSpec};
use genood_models::{DensityModel, Model};
use genood_ood::metrics::roc_curve;
use genood_ood::report::{Block, image_grid_png, render_html};
use genood_ood::svg::roc_chart;
use genood_train::eval::{ExampleScore, SetSummary};
use genood_train::provenance::{current_model, read_scores};
use genood_train::run::RunDir;

use crate::analysis_view;
use crate::detect::{Detector, flagged_count};
use crate::error::LabError;
use crate::explain::{explained_png, pixel_maps};
use crate::figures::{file_safe, likelihood_histograms, write_figure, write_file};
use crate::pairs::reported_auroc;
use crate::progress::Progress;
use crate::samples::sample_grid;
use crate::score::{Bootstrap, Comparison, ScoreRow, score_rows};
use crate::verdict;

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

/// Images per row of the gallery, and how many of the most and least likely it shows.
const GALLERY: usize = 8;

/// The ROC curves of every single-input score of `rows` against `ood`, as an SVG chart.
fn roc_figure(rows: &[ScoreRow], ood: &SetSpec, title: &str) -> String {
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
    roc_chart(title, &series)
}

/// A self-contained HTML page of score rows alone (any model's, e.g. from arrays): each OOD
/// set's ROC curves, then the metrics table.
pub fn score_page(title: &str, rows: &[ScoreRow]) -> String {
    let mut oods: Vec<&SetSpec> = Vec::new();
    for row in rows {
        if !oods.contains(&&row.ood) {
            oods.push(&row.ood);
        }
    }
    let mut body = Vec::new();
    for ood in oods {
        let in_dist = rows
            .iter()
            .find(|r| &r.ood == ood)
            .map(|r| r.in_dist.display_name())
            .unwrap_or_default();
        let pair = format!("{in_dist} vs {}", ood.display_name());
        let svg = roc_figure(rows, ood, &format!("ROC, {pair}"));
        body.push(Block::Heading(pair));
        body.push(Block::Svg(svg));
    }
    body.push(Block::Heading("Metrics".into()));
    body.push(metrics_table(rows));
    render_html(title, &body)
}

/// Builds the page for `runs` (each scored on the sets of `compared`; the companion models
/// apply to the first run) and writes it with its figures into `options.out`; returns the
/// page's path. The page opens with the verdict of every score, then each run's figures, a
/// gallery of each set's most and least likely images, the analysis and the configurations.
/// Models are loaded on the CPU to draw their samples.
pub fn write_report(
    runs: &[PathBuf],
    compared: &Comparison,
    options: &ReportOptions,
    data: &DataSource,
    progress: &mut dyn Progress,
) -> Result<PathBuf, LabError> {
    let mut sets = vec![compared.reference.clone(), compared.in_dist.clone()];
    sets.extend(compared.ood.iter().cloned());
    let names: Vec<String> = sets.iter().map(SetSpec::display_name).collect();
    let intro = Block::Text(format!(
        "In-distribution test set {}, OOD sets {}, reference (training) data {}. Lower bits per dimension means higher likelihood. \
         For OOD detection, OOD is the positive class and a higher score means more OOD; intervals are 95% bootstrap intervals.",
        compared.in_dist,
        SetSpec::labels(&compared.ood).join(", "),
        compared.reference
    ));
    let (mut headlines, mut verdicts) = (Vec::new(), Vec::new());
    let mut body = Vec::new();
    let mut configs = vec![Block::Heading("Configurations".into())];
    for (k, run_path) in runs.iter().enumerate() {
        let run = RunDir::new(run_path);
        let (config, model) = run.load_model(&Device::flex())?;
        let model_name = config.model.label();
        let stem = run_path
            .file_name()
            .map_or("run".into(), |n| n.to_string_lossy().into_owned());
        body.push(Block::Heading(format!(
            "{model_name} ({})",
            run_path.display()
        )));

        let mut scores = Vec::new();
        for (set, name) in sets.iter().zip(&names) {
            let read = read_scores(&run, &set.label())?;
            scores.push((name.clone(), read));
        }
        let bound = recorded_bound(&run, &compared.in_dist.label());
        for (kind, svg) in likelihood_histograms(model_name, &bound, &scores) {
            write_figure(&options.out, &format!("{stem}-{kind}"), &svg)?;
            body.push(Block::Svg(svg));
        }

        // The companion models belong to the first run only.
        let mut comparison = compared.clone();
        if k > 0 {
            comparison.background = None;
            comparison.ensemble.clear();
        }
        let rows = score_rows(run_path, &comparison, Bootstrap::default(), data)?;
        for ood in &compared.ood {
            let of_set: Vec<&ScoreRow> = rows.iter().filter(|r| &r.ood == ood).collect();
            let name = ood.display_name();
            headlines.push(Block::Text(verdict::headline(model_name, &name, &of_set)));
            verdicts.extend(verdict::grouped_rows(model_name, &name, &of_set));
        }
        if let Some(counts) = detector_counts(&run, &sets[1..], &names[1..])? {
            headlines.push(Block::Text(format!("{model_name}: {counts}")));
        }
        for ood in &compared.ood {
            let svg = roc_figure(
                &rows,
                ood,
                &format!("ROC, {} vs {} — {model_name}", names[1], ood.display_name()),
            );
            write_figure(
                &options.out,
                &format!("{stem}-roc-{}", file_safe(&ood.label())),
                &svg,
            )?;
            body.push(Block::Svg(svg));
        }
        body.push(metrics_table(&rows));
        let gallery = likelihood_gallery(&model, &sets[1..], &names[1..], &scores[1..], data)?;
        for (name, png, explained) in gallery {
            write_file(
                &options
                    .out
                    .join(format!("{stem}-gallery-{}.png", file_safe(&name))),
                &png,
            )?;
            body.push(Block::Png {
                caption: format!(
                    "{name}: the {GALLERY} most likely images (top row, most likely first) and the {GALLERY} least likely (bottom row) — {model_name}"
                ),
                bytes: png,
            });
            if let Some((png, meaning)) = explained {
                write_file(
                    &options
                        .out
                        .join(format!("{stem}-maps-{}.png", file_safe(&name))),
                    &png,
                )?;
                body.push(Block::Png {
                    caption: format!(
                        "{name}: what drives the score of the same images, most likely first (top: the images; bottom: {meaning}, each map scaled from its own minimum, black, to its maximum, white) — {model_name}"
                    ),
                    bytes: png,
                });
            }
        }

        let png = sample_grid(
            &model,
            options.samples,
            TEMPERATURE,
            0,
            &format!("sampling {stem}"),
            progress,
        );
        write_file(&options.out.join(format!("{stem}-samples.png")), &png)?;
        body.push(Block::Png {
            caption: format!(
                "{} samples at temperature {TEMPERATURE} — {model_name}",
                options.samples,
            ),
            bytes: png,
        });
        let config_path = run.config();
        configs.push(Block::Text(format!(
            "{model_name}: {}",
            config_path.display()
        )));
        configs.push(Block::Pre(
            std::fs::read_to_string(&config_path).map_err(LabError::io(&config_path))?,
        ));
    }
    let mut blocks = vec![intro, Block::Heading("Verdict".into())];
    blocks.extend(headlines);
    blocks.extend([
        Block::Text(verdict::RULE.into()),
        Block::Table(
            [
                "model",
                "OOD set",
                "decides on",
                "score",
                "AUROC [95% CI]",
                "verdict",
            ]
            .map(String::from)
            .to_vec(),
            verdicts,
        ),
    ]);
    blocks.extend(body);
    if let Some(path) = &options.analysis {
        let analysis = analysis_view::read_analysis(path)?;
        let figures = analysis_view::figures(&analysis);
        blocks.extend(analysis_view::blocks(&analysis, &figures, None));
    }
    blocks.extend(configs);
    let html = render_html("genood report", &blocks);
    let path = options.out.join("report.html");
    write_file(&path, html.as_bytes())?;
    Ok(path)
}

/// "Its detector (…) flags …" with each set's flagged count, when the run has a detector
/// fitted on its current checkpoint and `genood detect` labelled some of `sets` with it.
fn detector_counts(
    run: &RunDir,
    sets: &[SetSpec],
    names: &[String],
) -> Result<Option<String>, LabError> {
    if !run.detector().exists() {
        return Ok(None);
    }
    let detector: Detector = run.read_json(&run.detector())?;
    if detector.model_sha256 != current_model(run)?.1 {
        return Ok(Some(format!(
            "its detector was fitted at step {}, on an earlier checkpoint; fit it again (`genood detect --refit`) to see its verdicts here",
            detector.step
        )));
    }
    let mut counts = Vec::new();
    for (set, name) in sets.iter().zip(names) {
        let csv = run.verdicts(&set.label());
        if csv.exists() {
            let (flagged, images) = flagged_count(&csv)?;
            counts.push(format!(
                "{name} {:.1}% ({flagged} of {images})",
                100.0 * flagged as f64 / images.max(1) as f64
            ));
        }
    }
    Ok((!counts.is_empty()).then(|| {
        format!(
            "its detector (detector.json, thresholds at {:.0}% false positives on {}) flags {}.",
            100.0 * detector.fpr,
            detector.calibration,
            counts.join(", ")
        )
    }))
}

/// A gallery of one set: its short name, its [`GALLERY`] most likely and least likely scored
/// images as one PNG (two rows), and, for a family with pixel maps, the same images above
/// their maps (one PNG) and what the maps hold.
type Gallery = (String, Vec<u8>, Option<(Vec<u8>, &'static str)>);

/// The [`Gallery`] of each set.
fn likelihood_gallery(
    model: &Model,
    sets: &[SetSpec],
    names: &[String],
    scores: &[(String, Vec<ExampleScore>)],
    data: &DataSource,
) -> Result<Vec<Gallery>, LabError> {
    let shape = model.image_dims();
    let mut out = Vec::new();
    for ((set, name), (_, scored)) in sets.iter().zip(names).zip(scores) {
        let images = set.load(data, 0, Conform::to(shape))?;
        let mut order: Vec<&ExampleScore> = scored.iter().collect();
        order.sort_by(|a, b| a.bpd.total_cmp(&b.bpd));
        let k = GALLERY.min(order.len() / 2);
        let picked: Vec<usize> = order[..k]
            .iter()
            .chain(order[order.len() - k..].iter().rev())
            .map(|s| s.index)
            .collect();
        let picks: Vec<&[u8]> = picked.iter().map(|&i| images.image(i)).collect();
        let scale = if shape[1] <= 32 { 3 } else { 1 };
        let explained = pixel_maps(model, &images, &picked, 0, &Device::flex())
            .map(|(maps, meaning)| (explained_png(&images, &picked, &maps), meaning));
        out.push((
            name.clone(),
            image_grid_png(&picks, shape, k.max(1), scale),
            explained,
        ));
    }
    Ok(out)
}

fn metrics_table(rows: &[ScoreRow]) -> Block {
    let reported: Vec<Option<&str>> = rows
        .iter()
        .map(|r| reported_auroc(r.kind, r.batch, &r.in_dist.label(), &r.ood.label()))
        .collect();
    // The literature column only where some figure exists for these sets.
    let literature = reported.iter().any(Option::is_some);
    let mut header = vec![
        "score",
        "in (images)",
        "OOD (images)",
        "AUROC [95% CI]",
        "AUPR-in",
        "AUPR-out",
        "FPR@95",
        "det. acc.",
    ];
    if literature {
        header.push("reported AUROC (literature)");
    }
    header.push("cost");
    let body = rows
        .iter()
        .zip(&reported)
        .map(|(r, reported)| {
            let m = &r.metrics;
            let mut row = vec![
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
            ];
            if literature {
                row.push(reported.map_or("–".into(), |v| format!("{v} (reported)")));
            }
            row.push(r.cost.clone());
            row
        })
        .collect();
    Block::Table(header.into_iter().map(String::from).collect(), body)
}
