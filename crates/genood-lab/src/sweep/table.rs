//! The sweep's table: for each pair, model and preset, each score's AUROC and each set's mean
//! bpd, aggregated over the seeds as mean ± spread (the sample standard deviation), with links
//! to each seed's report. Written as `sweep.html`, `sweep.md`, `sweep.csv` (the AUROCs),
//! `sweep-bpd.csv` and `sweep.json`, all atomically; nothing in them depends on where the
//! sweep's folder is or how long its jobs took, so two runs of one sweep agree byte for byte.

use std::path::{Path, PathBuf};

use genood_data::atomic::write_atomically;
use genood_models::Named;
use genood_models::presets::{ModelKind, Preset};
use genood_ood::report::{Block, render_html, render_markdown};
use genood_train::csv::{CsvTable, number};
use serde::Serialize;
use serde_json::Value;

use crate::error::LabError;
use crate::sweep::layout::report_dir;
use crate::sweep::plan::Experiment;
use crate::sweep::summary::scored_sets;

/// One score on one (in, OOD) pair of one experiment kind, over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AurocCell {
    /// Pair.
    pub pair: String,
    /// Model.
    pub model: ModelKind,
    /// Preset.
    pub preset: Preset,
    /// Score.
    pub score: String,
    /// In-distribution set.
    pub in_dist: String,
    /// OOD set.
    pub ood: String,
    /// Seeds, in the spec's order.
    pub seeds: Vec<u64>,
    /// Each seed's AUROC.
    pub values: Vec<f64>,
    /// Each seed's 95% bootstrap interval.
    pub intervals: Vec<[f64; 2]>,
    /// Mean over the seeds.
    pub mean: f64,
    /// Sample standard deviation over the seeds (0 for one seed).
    pub spread: f64,
    /// Each seed's report, relative to the table's folder.
    pub reports: Vec<String>,
}

/// One set's mean bpd under one experiment kind, over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BpdCell {
    /// Pair.
    pub pair: String,
    /// Model.
    pub model: ModelKind,
    /// Preset.
    pub preset: Preset,
    /// The set.
    pub set: String,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Each seed's mean bpd.
    pub values: Vec<f64>,
    /// Mean over the seeds.
    pub mean: f64,
    /// Sample standard deviation over the seeds.
    pub spread: f64,
}

/// Everything `sweep.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepTable {
    /// AUROCs.
    pub auroc: Vec<AurocCell>,
    /// Mean bpd.
    pub bpd: Vec<BpdCell>,
}

/// Mean and sample standard deviation.
fn mean_spread(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let spread = match values.len() {
        0 | 1 => 0.0,
        _ => (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt(),
    };
    (mean, spread)
}

/// Reads the scores and bpd of every experiment in the sweep folder `sweep` and aggregates them
/// over seeds; only scores whose names start with one of `scores` are kept (all when it is
/// empty).
pub fn sweep_table(
    sweep: &Path,
    experiments: &[Experiment],
    scores: &[String],
) -> Result<SweepTable, LabError> {
    let mut auroc: Vec<AurocCell> = Vec::new();
    let mut bpd: Vec<BpdCell> = Vec::new();
    for e in experiments {
        let report = format!("../{}/report.html", e.report.display());
        for m in &e.models {
            let kind = (&e.pair, &m.model, &e.preset);
            let run = sweep.join(&m.run);
            let path = run.join("ood-scores.json");
            let text = std::fs::read_to_string(&path).map_err(LabError::io(&path))?;
            let rows: Vec<Value> = serde_json::from_str(&text).map_err(|err| LabError::File {
                path: path.clone(),
                reason: err.to_string(),
            })?;
            for row in rows {
                let text = |key: &str| row[key].as_str().unwrap_or_default().to_string();
                let number = |key: &str| row["metrics"]["auroc"][key].as_f64().unwrap_or(f64::NAN);
                let score = text("score");
                if !scores.is_empty() && !scores.iter().any(|s| score.starts_with(s.as_str())) {
                    continue;
                }
                let (in_dist, ood) = (text("in_dist"), text("ood"));
                let same = |c: &&mut AurocCell| {
                    ((&c.pair, &c.model, &c.preset), &c.score, &c.in_dist, &c.ood)
                        == (kind, &score, &in_dist, &ood)
                };
                let cell = match auroc.iter_mut().find(same) {
                    Some(cell) => cell,
                    None => {
                        auroc.push(AurocCell {
                            pair: e.pair.clone(),
                            model: m.model,
                            preset: e.preset,
                            score: score.clone(),
                            in_dist: in_dist.clone(),
                            ood: ood.clone(),
                            seeds: Vec::new(),
                            values: Vec::new(),
                            intervals: Vec::new(),
                            mean: 0.0,
                            spread: 0.0,
                            reports: Vec::new(),
                        });
                        auroc.last_mut().expect("just pushed")
                    }
                };
                cell.seeds.push(e.seed);
                cell.values.push(number("value"));
                cell.intervals.push([number("low"), number("high")]);
                cell.reports.push(report.clone());
            }
            let sets = [&e.sets.reference, &e.sets.test]
                .into_iter()
                .chain(&e.sets.ood);
            for summary in scored_sets(&run, sets)? {
                let same = |c: &&mut BpdCell| {
                    ((&c.pair, &c.model, &c.preset), &c.set) == (kind, &summary.set)
                };
                match bpd.iter_mut().find(same) {
                    Some(cell) => {
                        cell.seeds.push(e.seed);
                        cell.values.push(summary.mean_bpd);
                    }
                    None => bpd.push(BpdCell {
                        pair: e.pair.clone(),
                        model: m.model,
                        preset: e.preset,
                        set: summary.set,
                        seeds: vec![e.seed],
                        values: vec![summary.mean_bpd],
                        mean: 0.0,
                        spread: 0.0,
                    }),
                }
            }
        }
    }
    for cell in &mut auroc {
        (cell.mean, cell.spread) = mean_spread(&cell.values);
    }
    for cell in &mut bpd {
        (cell.mean, cell.spread) = mean_spread(&cell.values);
    }
    Ok(SweepTable { auroc, bpd })
}

/// `mean ± spread`, or the one value.
fn shown(mean: f64, spread: f64, n: usize) -> String {
    match n {
        1 => format!("{mean:.3}"),
        _ => format!("{mean:.3} ± {spread:.3}"),
    }
}

/// The values of `items` in first-seen order, without repeats.
fn distinct<'a, T: PartialEq + 'a>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// An AUROC cell as shown: the value over the seeds and a link to each seed's report.
fn auroc_shown(c: &AurocCell) -> String {
    let links: Vec<String> = c
        .seeds
        .iter()
        .zip(&c.reports)
        .map(|(seed, report)| format!("[s{seed}]({report})"))
        .collect();
    format!(
        "{} {}",
        shown(c.mean, c.spread, c.values.len()),
        links.join(" ")
    )
}

/// The page: per pair and (in, OOD) sets, a column per model and preset, a row for each
/// set's mean bpd and one per score, whose cells link to the seeds' reports.
fn blocks(table: &SweepTable) -> Vec<Block> {
    let mut blocks = vec![Block::Text(
        "AUROC of each score (OOD = positive; 0.5 is chance, below 0.5 the score ranks OOD inputs as more in-distribution), \
         and mean bits per dimension, as mean ± sample standard deviation over the seeds. \
         Each seed's link (s0, s1, …) opens its experiment's report."
            .into(),
    )];
    let comparisons = distinct(
        table
            .auroc
            .iter()
            .map(|c| (c.pair.as_str(), c.in_dist.as_str(), c.ood.as_str())),
    );
    for (pair, in_dist, ood) in comparisons {
        let cells: Vec<&AurocCell> = table
            .auroc
            .iter()
            .filter(|c| {
                (c.pair.as_str(), c.in_dist.as_str(), c.ood.as_str()) == (pair, in_dist, ood)
            })
            .collect();
        let kinds = distinct(cells.iter().map(|c| (c.model.name(), c.preset.name())));
        let mut header = vec![String::new()];
        header.extend(
            kinds
                .iter()
                .map(|(model, preset)| format!("{model} ({preset})")),
        );
        let bpd_row = |label: &str, set: &str| {
            let mut row = vec![format!("bpd, {label}")];
            row.extend(kinds.iter().map(|&(model, preset)| {
                table
                    .bpd
                    .iter()
                    .find(|b| {
                        (
                            b.pair.as_str(),
                            b.model.name(),
                            b.preset.name(),
                            b.set.as_str(),
                        ) == (pair, model, preset, set)
                    })
                    .map_or("–".into(), |b| shown(b.mean, b.spread, b.values.len()))
            }));
            row
        };
        let mut rows = vec![bpd_row(in_dist, in_dist), bpd_row(ood, ood)];
        for score in distinct(cells.iter().map(|c| c.score.as_str())) {
            let mut row = vec![score.to_string()];
            row.extend(kinds.iter().map(|&(model, preset)| {
                cells
                    .iter()
                    .find(|c| {
                        (c.model.name(), c.preset.name(), c.score.as_str())
                            == (model, preset, score)
                    })
                    .map_or("–".into(), |c| auroc_shown(c))
            }));
            rows.push(row);
        }
        blocks.push(Block::Heading(format!("{pair}: {in_dist} against {ood}")));
        blocks.push(Block::Table(header, rows));
    }
    blocks
}

/// A list of numbers as one field, `;`-separated, at full precision.
fn numbers<T>(values: impl IntoIterator<Item = T>, show: impl Fn(T) -> String) -> String {
    values.into_iter().map(show).collect::<Vec<_>>().join(";")
}

/// One row of `sweep.csv`.
#[derive(Serialize)]
struct AurocRow<'a> {
    pair: &'a str,
    model: ModelKind,
    preset: Preset,
    score: &'a str,
    #[serde(rename = "in")]
    in_dist: &'a str,
    ood: &'a str,
    seeds: String,
    auroc_mean: String,
    auroc_spread: String,
    auroc_per_seed: String,
    ci_low_per_seed: String,
    ci_high_per_seed: String,
}

/// One row of `sweep-bpd.csv`.
#[derive(Serialize)]
struct BpdRow<'a> {
    pair: &'a str,
    model: ModelKind,
    preset: Preset,
    set: &'a str,
    seeds: String,
    bpd_mean: String,
    bpd_spread: String,
    bpd_per_seed: String,
}

/// `sweep.csv` and `sweep-bpd.csv`, numbers at full precision.
fn csv(table: &SweepTable) -> (Vec<u8>, Vec<u8>) {
    let mut auroc = CsvTable::new([
        "pair",
        "model",
        "preset",
        "score",
        "in",
        "ood",
        "seeds",
        "auroc_mean",
        "auroc_spread",
        "auroc_per_seed",
        "ci_low_per_seed",
        "ci_high_per_seed",
    ]);
    for c in &table.auroc {
        auroc.serialize(&AurocRow {
            pair: &c.pair,
            model: c.model,
            preset: c.preset,
            score: &c.score,
            in_dist: &c.in_dist,
            ood: &c.ood,
            seeds: numbers(&c.seeds, u64::to_string),
            auroc_mean: number(c.mean),
            auroc_spread: number(c.spread),
            auroc_per_seed: numbers(&c.values, |v| number(*v)),
            ci_low_per_seed: numbers(&c.intervals, |i| number(i[0])),
            ci_high_per_seed: numbers(&c.intervals, |i| number(i[1])),
        });
    }
    let mut bpd = CsvTable::new([
        "pair",
        "model",
        "preset",
        "set",
        "seeds",
        "bpd_mean",
        "bpd_spread",
        "bpd_per_seed",
    ]);
    for c in &table.bpd {
        bpd.serialize(&BpdRow {
            pair: &c.pair,
            model: c.model,
            preset: c.preset,
            set: &c.set,
            seeds: numbers(&c.seeds, u64::to_string),
            bpd_mean: number(c.mean),
            bpd_spread: number(c.spread),
            bpd_per_seed: numbers(&c.values, |v| number(*v)),
        });
    }
    (auroc.into_bytes(), bpd.into_bytes())
}

/// Builds the table of `experiments` and writes it into the sweep folder's `report/`; returns
/// the HTML page's path.
pub fn write_sweep_table(
    sweep: &Path,
    experiments: &[Experiment],
    scores: &[String],
) -> Result<PathBuf, LabError> {
    let table = sweep_table(sweep, experiments, scores)?;
    let dir = report_dir(sweep);
    let page = blocks(&table);
    let (auroc, bpd) = csv(&table);
    let files = [
        (
            "sweep.html",
            render_html("genood sweep", &page).into_bytes(),
        ),
        ("sweep.md", render_markdown(&page).into_bytes()),
        ("sweep.csv", auroc),
        ("sweep-bpd.csv", bpd),
        (
            "sweep.json",
            serde_json::to_vec_pretty(&table).expect("the table serialises"),
        ),
    ];
    for (name, bytes) in files {
        let path = dir.join(name);
        write_atomically(&path, &bytes).map_err(LabError::io(&path))?;
    }
    Ok(dir.join("sweep.html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_spread_by_hand() {
        assert_eq!(mean_spread(&[0.5]), (0.5, 0.0));
        let (mean, spread) = mean_spread(&[0.2, 0.4, 0.9]);
        assert!((mean - 0.5).abs() < 1e-15);
        // Deviations −0.3, −0.1, 0.4: squares 0.09 + 0.01 + 0.16 = 0.26, over n − 1 = 2.
        assert!((spread - 0.13f64.sqrt()).abs() < 1e-15);
        assert_eq!(shown(0.5, 0.0, 1), "0.500");
        assert_eq!(shown(0.5, 0.36, 3), "0.500 ± 0.360");
    }
}
