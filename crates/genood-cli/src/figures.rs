//! Writing files atomically, and figures as an SVG and a PNG of the same picture.

use std::path::Path;

use anyhow::{Context, Result};
use genood_data::atomic::write_atomically;
use genood_ood::raster::svg_to_png;

/// Writes `bytes` to `path` atomically, naming the file on error.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes).with_context(|| path.display().to_string())
}

/// Writes `dir/name.svg` and `dir/name.png`.
pub fn write_figure(dir: &Path, name: &str, svg: &str) -> Result<()> {
    write_file(&dir.join(format!("{name}.svg")), svg.as_bytes())?;
    let png = svg_to_png(svg).with_context(|| format!("rendering {name}.png"))?;
    write_file(&dir.join(format!("{name}.png")), &png)
}

/// A set spec as a file-name part: `gray=0.5/mnist:test` → `gray=0.5_mnist_test`.
pub fn file_safe(spec: &str) -> String {
    spec.replace([':', '/'], "_")
}
