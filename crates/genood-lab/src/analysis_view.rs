//! Figures and the report section of an analysis, made from `analysis.json` alone, so `genood
//! report` can include the section without touching a model.

use std::path::{Path, PathBuf};

use genood_data::SetSpec;
use genood_ood::report::{Block, render_html};
use genood_ood::svg::{histogram, line_chart};
use genood_train::dynamics::{HELDOUT, TRAIN};

use crate::analysis::{Analysis, Analyzed, RunAnalysis, SetMoments};
use crate::error::LabError;
use crate::figures::{Figure, likelihood_histograms, write_figure, write_file};

/// Bins of the moment histograms.
const BINS: usize = 50;

/// The moment, graying and dynamics figures (the decomposition's need the per-example scores).
pub fn figures(analysis: &Analysis) -> Vec<Figure> {
    let mut out = Vec::new();
    type Pick = fn(&SetMoments) -> &Vec<f64>;
    let moments: [(&str, &str, &str, Pick); 2] = [
        ("moments-mean", "Per-dimension means", "mean", |m| &m.mean),
        (
            "moments-variance",
            "Per-dimension variances",
            "variance",
            |m| &m.variance,
        ),
    ];
    for (name, title, quantity, pick) in moments {
        let series: Vec<(String, Vec<f64>)> = analysis
            .moments
            .iter()
            .map(|m| (short(&m.set), pick(m).clone()))
            .collect();
        let x_label = format!("{quantity} of one pixel over the set (pixel scale [0, 1])");
        out.push((name.into(), histogram(title, &x_label, &series, BINS)));
    }
    for run in &analysis.runs {
        // The reference set is not grayed; its empty curve keeps each set's colour.
        let curves: Vec<(String, Vec<(f64, f64)>)> =
            std::iter::once((short(&analysis.reference), Vec::new()))
                .chain(run.graying.iter().map(|c| {
                    let images = c.points.first().map_or(0, |p| p.images);
                    (
                        format!("{} ({images} images)", short(&c.set)),
                        c.points.iter().map(|p| (p.alpha, p.mean_bpd)).collect(),
                    )
                }))
                .collect();
        out.push((
            format!("{}-graying", run.stem),
            line_chart(
                &format!("Graying toward mid-gray — {}", run.model),
                "α in x_α = (1 − α)·x + α·128",
                "mean bits/dim (lower = more likely)",
                &curves,
            ),
        ));
        if !run.dynamics.is_empty() {
            out.push((
                format!("{}-dynamics", run.stem),
                line_chart(
                    &format!("Likelihood over training — {}", run.model),
                    "optimiser step",
                    "mean bits/dim (lower = more likely)",
                    &dynamics_series(analysis, run),
                ),
            ));
        }
    }
    out
}

/// One curve per followed set, named for the reader.
fn dynamics_series(analysis: &Analysis, run: &RunAnalysis) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut names: Vec<&str> = Vec::new();
    for row in &run.dynamics {
        if !names.contains(&row.set.as_str()) {
            names.push(&row.set);
        }
    }
    names
        .iter()
        .map(|name| {
            let rows: Vec<_> = run.dynamics.iter().filter(|r| r.set == *name).collect();
            let images = rows.first().map_or(0, |r| r.images);
            let label = match *name {
                TRAIN => format!("{} (train subset, {images})", short(&analysis.reference)),
                HELDOUT => format!("held-out train ({images})"),
                other => format!("{} ({images})", short(other)),
            };
            (
                label,
                rows.iter().map(|r| (r.step as f64, r.mean_bpd)).collect(),
            )
        })
        .collect()
}

/// A set's short name for legends (`folder:/data/cats` → `cats`).
fn short(spec: &str) -> String {
    SetSpec::parse(spec).map_or_else(|_| spec.to_string(), |s| s.display_name())
}

/// A signed figure, in scientific notation once it is too long to read.
fn signed(v: f64) -> String {
    if v.abs() >= 1e5 {
        format!("{v:+.2e}")
    } else {
        format!("{v:+.1}")
    }
}

fn verdict(more_likely: bool) -> &'static str {
    if more_likely { "higher" } else { "lower" }
}

fn svg_of<'a>(figures: &'a [Figure], name: &str) -> Option<&'a str> {
    figures
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, svg)| svg.as_str())
}

fn moments_blocks(analysis: &Analysis, figures: &[Figure], blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading("Data moments".into()));
    blocks.push(Block::Text(format!(
        "Each pixel's mean and variance over every image of each set, on the [0, 1] scale. The second-order argument \
         says a set whose pixels vary less gets the higher expected likelihood, whatever the model's weights: \
         it rests on the per-channel sums Σ_h,w (σ²_{} − σ²_OOD), positive where the OOD set varies less.",
        analysis.reference
    )));
    for name in ["moments-mean", "moments-variance"] {
        if let Some(svg) = svg_of(figures, name) {
            blocks.push(Block::Svg(svg.into()));
        }
    }
    let channels = analysis.moments.first().map_or(0, |m| m.shape[0]);
    let mut header = vec!["set".to_string(), "images".into(), "mean pixel".into()];
    header.extend((0..channels).map(|c| format!("Σ σ² (channel {c})")));
    let rows = analysis
        .moments
        .iter()
        .map(|m| {
            let mut row = vec![
                m.set.clone(),
                m.images.to_string(),
                format!(
                    "{:.4}",
                    m.mean.iter().sum::<f64>() / m.mean.len().max(1) as f64
                ),
            ];
            row.extend(m.variance_sum_per_channel.iter().map(|v| format!("{v:.2}")));
            row
        })
        .collect();
    blocks.push(Block::Table(header, rows));
    let mut header = vec!["OOD set".to_string()];
    header.extend((0..channels).map(|c| format!("Σ(σ²_ref − σ²_OOD), channel {c}")));
    let rows = analysis
        .variance_gaps
        .iter()
        .map(|g| {
            let mut row = vec![g.ood.clone()];
            row.extend(g.per_channel.iter().map(|v| format!("{v:+.2}")));
            row
        })
        .collect();
    blocks.push(Block::Table(header, rows));
    for gap in &analysis.variance_gaps {
        let total: f64 = gap.per_channel.iter().sum();
        blocks.push(Block::Text(format!(
            "{} varies {} than {} (summed gap {}), so the paper's argument predicts it a {} likelihood.",
            gap.ood,
            if total > 0.0 { "less" } else { "more" },
            analysis.reference,
            signed(total),
            verdict(total > 0.0)
        )));
    }
}

fn terms_blocks(run: &RunAnalysis, decomposition: Option<&[Figure]>, blocks: &mut Vec<Block>) {
    if run.terms.is_empty() {
        return;
    }
    let rows = run
        .terms
        .iter()
        .map(|t| {
            vec![
                t.set.clone(),
                t.images.to_string(),
                format!("{:.1}", t.log_p.mean),
                format!("{:.1} ± {:.1}", t.log_prior.mean, t.log_prior.std),
                if t.log_det.min == t.log_det.max {
                    format!("{:.3} (the same for every input)", t.log_det.min)
                } else {
                    format!("{:.1} ± {:.1}", t.log_det.mean, t.log_det.std)
                },
            ]
        })
        .collect();
    blocks.push(Block::Text(
        "log p(x) = log p_z(f(x)) + log|det ∂f/∂x|: the distribution term and the volume term (nats, mean ± std; \
         the volume term includes dequantization's −D·ln 256)."
            .into(),
    ));
    blocks.push(Block::Table(
        ["set", "images", "log p", "distribution term", "volume term"]
            .map(String::from)
            .to_vec(),
        rows,
    ));
    if let Some(figures) = decomposition {
        for kind in ["prior", "logdet"] {
            if let Some(svg) = svg_of(figures, &format!("{}-{kind}", run.stem)) {
                blocks.push(Block::Svg(svg.into()));
            }
        }
    }
}

fn agreement(predicted: f64, measured: f64) -> &'static str {
    if (predicted > 0.0) == (measured > 0.0) {
        "agrees"
    } else {
        "disagrees"
    }
}

fn second_order_blocks(analysis: &Analysis, run: &RunAnalysis, blocks: &mut Vec<Block>) {
    if run.second_order.is_empty() {
        return;
    }
    blocks.push(Block::Text(format!(
        "Second order: E_OOD[log p] − E_{}[log p] in nats, measured on the scores and predicted by expanding log p \
         around the mean training image x0. The paper's closed form −½ Σ_d (1/σ²)(Π_k Σ_j u_k,c,j)² (σ²_OOD − σ²_ref) is \
         read off the model's weights; it keeps only actnorms, 1×1 convolutions (by their row sums) and the priors. \
         The same variance term ½ Tr(∇²log p(x0)·diag(σ²_OOD − σ²_ref)) is then measured (Hutchinson, ± one standard \
         error) on the linear flow (the model without its coupling networks) and on the model itself, where the ReLU \
         networks make the second difference depend on its step ε. The mean-shift terms ∇log p·δ and ½ δᵀ∇²log p δ \
         are what the paper assumes away by taking equal means.",
        analysis.reference
    )));
    let header = [
        "OOD set",
        "measured gap",
        "closed form (paper)",
        "linear flow, variance term",
        "ε",
        "model, variance term",
        "mean shift, 1st + 2nd order",
        "second-order total",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for s in &run.second_order {
        let closed = s
            .closed_form
            .as_ref()
            .map_or("– (affine couplings)".into(), |c| signed(c.gap));
        for (k, t) in s.measured_terms.iter().enumerate() {
            let first = |text: String| if k == 0 { text } else { String::new() };
            rows.push(vec![
                first(s.ood.clone()),
                first(signed(s.measured_gap)),
                first(closed.clone()),
                first(format!(
                    "{} ± {:.1}",
                    signed(s.linear_flow_variance_term.mean),
                    s.linear_flow_variance_term.std_error
                )),
                format!("{}", t.epsilon),
                format!(
                    "{} ± {:.1}",
                    signed(t.variance_term.mean),
                    t.variance_term.std_error
                ),
                format!(
                    "{} {}",
                    signed(t.mean_shift.first_order),
                    signed(t.mean_shift.second_order)
                ),
                signed(t.predicted_gap),
            ]);
        }
    }
    blocks.push(Block::Table(header, rows));
    for s in &run.second_order {
        let mut text = format!(
            "{}: {} is measured {} likely than {} ({} nats).",
            run.model,
            s.ood,
            if s.measured_gap > 0.0 { "more" } else { "less" },
            analysis.reference,
            signed(s.measured_gap)
        );
        if let Some(c) = &s.closed_form {
            text.push_str(&format!(
                " The paper's closed form predicts {} nats (sign {}).",
                signed(c.gap),
                agreement(c.gap, s.measured_gap),
            ));
        }
        let linear = s.linear_flow_variance_term.mean;
        text.push_str(&format!(
            " Measured on the linear flow that the closed form describes, the same term is {} nats (sign {}).",
            signed(linear),
            agreement(linear, s.measured_gap)
        ));
        let agreeing = s
            .measured_terms
            .iter()
            .filter(|t| agreement(t.variance_term.mean, s.measured_gap) == "agrees")
            .count();
        text.push_str(&format!(
            " On the model itself the variance term has the measured gap's sign at {agreeing} of {} steps ε.",
            s.measured_terms.len()
        ));
        blocks.push(Block::Text(text));
    }
}

fn graying_blocks(run: &RunAnalysis, figures: &[Figure], blocks: &mut Vec<Block>) {
    if let Some(svg) = svg_of(figures, &format!("{}-graying", run.stem)) {
        blocks.push(Block::Text(
            "Graying: each image blended toward constant mid-gray, x_α = round((1 − α)·x + α·128). The paper reports \
             that graying CIFAR-10 raises its likelihood monotonically, as lowering the variance should."
                .into(),
        ));
        blocks.push(Block::Svg(svg.into()));
    }
    for curve in &run.graying {
        let p = &curve.points;
        let (Some(first), Some(last)) = (p.first(), p.last()) else {
            continue;
        };
        let rising = p.windows(2).all(|w| w[1].mean_log_p >= w[0].mean_log_p);
        blocks.push(Block::Text(format!(
            "{}: graying {} from {:.3} bpd at α = 0 to {:.3} at α = 1 ({} over the {} levels).",
            curve.set,
            if last.mean_log_p > first.mean_log_p {
                "raises the likelihood"
            } else {
                "lowers the likelihood"
            },
            first.mean_bpd,
            last.mean_bpd,
            if rising {
                "monotonically"
            } else {
                "not monotonically"
            },
            p.len()
        )));
    }
}

fn dynamics_blocks(
    analysis: &Analysis,
    run: &RunAnalysis,
    figures: &[Figure],
    blocks: &mut Vec<Block>,
) {
    let Some(svg) = svg_of(figures, &format!("{}-dynamics", run.stem)) else {
        blocks.push(Block::Text(format!(
            "Training dynamics: not recorded for {} (train with --monitor SET… to log them).",
            run.run.display()
        )));
        return;
    };
    blocks.push(Block::Svg(svg.into()));
    let train: Vec<_> = run.dynamics.iter().filter(|r| r.set == TRAIN).collect();
    for ood in &analysis.ood {
        let rows: Vec<_> = run.dynamics.iter().filter(|r| &r.set == ood).collect();
        let pairs: Vec<_> = rows.iter().zip(&train).collect();
        let Some((first_ood, first_train)) = pairs.first() else {
            continue;
        };
        let trained: Vec<_> = pairs.iter().filter(|(o, _)| o.step > 0).collect();
        let above = trained
            .iter()
            .filter(|(o, t)| o.mean_log_p > t.mean_log_p)
            .count();
        let mut text = format!(
            "{ood} was more likely than the training images at {above} of the {} logged steps after initialisation",
            trained.len()
        );
        if first_ood.step == 0 {
            text.push_str(&format!(
                "; at step 0 (the initialised, untrained model) it scored {:.3} bpd against their {:.3}",
                first_ood.mean_bpd, first_train.mean_bpd
            ));
        }
        text.push('.');
        blocks.push(Block::Text(text));
    }
}

/// The section: moments, then per run the terms, the second order, graying and dynamics.
/// `decomposition` holds the term histograms when the page should show them (the report
/// already has them per run).
pub fn blocks(
    analysis: &Analysis,
    figures: &[Figure],
    decomposition: Option<&[Figure]>,
) -> Vec<Block> {
    let mut blocks = vec![
        Block::Heading("Why: the paper's analysis".into()),
        Block::Text(format!(
            "Training data {}, test set {}, OOD sets {}.",
            analysis.reference,
            analysis.in_dist,
            analysis.ood.join(", ")
        )),
    ];
    moments_blocks(analysis, figures, &mut blocks);
    for run in &analysis.runs {
        blocks.push(Block::Heading(format!(
            "Analysis of {} ({})",
            run.model,
            run.run.display()
        )));
        terms_blocks(run, decomposition, &mut blocks);
        second_order_blocks(analysis, run, &mut blocks);
        graying_blocks(run, figures, &mut blocks);
        dynamics_blocks(analysis, run, figures, &mut blocks);
    }
    blocks
}

/// The term histograms of each flow run (distribution and volume term, one series per set).
fn decomposition(analyzed: &Analyzed) -> Vec<Figure> {
    let mut out = Vec::new();
    for (run, scores) in analyzed.analysis.runs.iter().zip(&analyzed.scores) {
        let is_flow = scores
            .first()
            .and_then(|(_, s)| s.first())
            .is_some_and(|s| s.part(genood_models::density::part::LOG_DET).is_some());
        if is_flow {
            let named: Vec<_> = scores
                .iter()
                .map(|(set, s)| (short(set), s.clone()))
                .collect();
            for (kind, svg) in likelihood_histograms(&run.model, "", &named)
                .into_iter()
                .skip(1)
            {
                out.push((format!("{}-{kind}", run.stem), svg));
            }
        }
    }
    out
}

/// Reads an `analysis.json` that [`write_analysis`] wrote.
pub fn read_analysis(path: &Path) -> Result<Analysis, LabError> {
    let text = std::fs::read_to_string(path).map_err(LabError::io(path))?;
    serde_json::from_str(&text).map_err(|e| LabError::File {
        path: path.into(),
        reason: format!("not a genood analysis: {e}"),
    })
}

/// Writes `analysis.json`, every figure as SVG and PNG and `analysis.html` into `out`;
/// returns the paths of the JSON and the page.
pub fn write_analysis(out: &Path, analyzed: &Analyzed) -> Result<(PathBuf, PathBuf), LabError> {
    let analysis = &analyzed.analysis;
    let json = out.join("analysis.json");
    let text = serde_json::to_string_pretty(analysis).expect("an analysis serialises");
    write_file(&json, text.as_bytes())?;
    let figures = figures(analysis);
    let decomposition = decomposition(analyzed);
    for (name, svg) in decomposition.iter().chain(&figures) {
        write_figure(out, name, svg)?;
    }
    let blocks = blocks(analysis, &figures, Some(&decomposition));
    let html = out.join("analysis.html");
    write_file(&html, render_html("genood analysis", &blocks).as_bytes())?;
    Ok((json, html))
}

#[cfg(test)]
mod tests {
    use genood_ood::report::render_markdown;

    use super::*;

    /// An `analysis.json` of a tiny Glow and CV-Glow (FashionMNIST → MNIST, 40 steps), its
    /// data moments replaced by 2×2 images written by hand: the means of the training, test
    /// and MNIST images are 0.25, 0.275 and 0.15, their summed variances 0.26, 0.27 and 0.10.
    #[test]
    fn the_view_of_an_analysis_fixture() {
        let analysis: Analysis =
            serde_json::from_str(include_str!("../tests/fixtures/analysis.json")).unwrap();
        let figures = figures(&analysis);
        let names: Vec<&str> = figures.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "moments-mean",
                "moments-variance",
                "glow-graying",
                "glow-dynamics",
                "cv-glow-graying",
                "cv-glow-dynamics"
            ]
        );
        assert!(figures.iter().all(|(_, svg)| svg.starts_with("<svg")));
        let text = render_markdown(&blocks(&analysis, &figures, None));
        for expected in [
            // The moments, and the gap 0.26 − 0.10 that the second-order argument rests on.
            "| fashion-mnist:train | 60000 | 0.2500 | 0.26 |",
            "| mnist:test | 10000 | 0.1500 | 0.10 |",
            "| mnist:test | +0.16 |",
            "mnist:test varies less than fashion-mnist:train (summed gap +0.2), so the paper's argument predicts it a higher likelihood.",
            // Glow: MNIST measured 13.7 nats more likely; every estimate of the variance
            // term is positive too.
            "glow: mnist:test is measured more likely than fashion-mnist:train (+13.7 nats). Measured on the linear flow that the closed form describes, the same term is +687.1 nats (sign agrees). On the model itself the variance term has the measured gap's sign at 4 of 4 steps ε.",
            // CV-Glow: measured less likely (−9.2 nats) against a positive closed form.
            "The paper's closed form predicts +184.6 nats (sign disagrees).",
            "has the measured gap's sign at 0 of 4 steps ε.",
            "fashion-mnist:test: graying raises the likelihood from 7.066 bpd at α = 0 to 6.751 at α = 1 (monotonically over the 11 levels).",
            "mnist:test was more likely than the training images at 1 of the 2 logged steps after initialisation",
        ] {
            assert!(text.contains(expected), "{expected}\nmissing from:\n{text}");
        }
    }
}
