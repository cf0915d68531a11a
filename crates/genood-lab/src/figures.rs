//! Figures as files (an SVG and a PNG of the same picture, written atomically) and the
//! likelihood histograms that the report and the analysis share.

use std::path::{Path, PathBuf};

use genood_data::atomic::write_atomically;
use genood_models::density::part;
use genood_ood::raster::svg_to_png;
use genood_ood::svg::histogram;
use genood_train::eval::ExampleScore;

use crate::error::LabError;

/// Bins of every likelihood histogram.
const BINS: usize = 60;

/// A figure: file-name stem and SVG.
pub type Figure = (String, String);

/// Writes `bytes` to `path` atomically, naming the file on error.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), LabError> {
    write_atomically(path, bytes).map_err(LabError::io(path))
}

/// Writes `dir/name.svg` and `dir/name.png`.
pub fn write_figure(dir: &Path, name: &str, svg: &str) -> Result<(), LabError> {
    write_file(&dir.join(format!("{name}.svg")), svg.as_bytes())?;
    let png_path: PathBuf = dir.join(format!("{name}.png"));
    let png = svg_to_png(svg).map_err(|e| LabError::Io {
        path: png_path.clone(),
        source: std::io::Error::other(e),
    })?;
    write_file(&png_path, &png)
}

/// A set spec as a file-name part: `gray=0.5/mnist:test` → `gray=0.5_mnist_test`.
pub(crate) fn file_safe(spec: &str) -> String {
    spec.replace([':', '/'], "_")
}

/// File kind, title and axis of each named statistic's histogram.
fn part_axis(name: &str) -> (&'static str, &'static str, &'static str) {
    match name {
        part::LOG_PRIOR => ("prior", "Distribution term", "log p_z(f(x)) (nats)"),
        part::LOG_DET => ("logdet", "Volume term", "log |det ∂f/∂x| (nats)"),
        part::ELBO => ("elbo", "ELBO", "ELBO (nats)"),
        part::RATE => ("rate", "Rate", "KL(q(z|x) ‖ p(z)) (nats)"),
        part::DISTORTION => ("distortion", "Distortion", "−E_q log p(x|z) (nats)"),
        _ => ("part", "Statistic", "nats"),
    }
}

/// Histograms of bits per dimension and of each statistic the model reports (a flow's two
/// terms, a VAE's ELBO, rate and distortion), one series per set: `(kind, svg)`, kinds `bpd`
/// then e.g. `prior` and `logdet`. `bound` names what the bits measure.
pub fn likelihood_histograms(
    model: &str,
    bound: &str,
    sets: &[(String, Vec<ExampleScore>)],
) -> Vec<(&'static str, String)> {
    let column = |pick: &dyn Fn(&ExampleScore) -> f64| -> Vec<(String, Vec<f64>)> {
        sets.iter()
            .map(|(set, scores)| (set.clone(), scores.iter().map(pick).collect()))
            .collect()
    };
    let mut figures = vec![(
        "bpd",
        histogram(
            &if bound.is_empty() {
                format!("Bits per dimension — {model}")
            } else {
                format!("Bits per dimension ({bound}) — {model}")
            },
            "bits per dimension (bits/dim)",
            &column(&|s| s.bpd),
            BINS,
        ),
    )];
    let names: Vec<String> = sets
        .first()
        .and_then(|(_, scores)| scores.first())
        .map(|s| s.parts.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    for name in names {
        let (kind, title, axis) = part_axis(&name);
        figures.push((
            kind,
            histogram(
                &format!("{title} — {model}"),
                axis,
                &column(&|s| s.part(&name).unwrap_or(f64::NAN)),
                BINS,
            ),
        ));
    }
    figures
}
