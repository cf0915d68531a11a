//! Why an image was flagged: each family's per-pixel map of what drives its score
//! ([`genood_models::DensityModel::pixel_map`]), drawn under the images it explains, for the
//! report's galleries and `detect --explain`.

use burn::prelude::*;
use genood_data::ImageSet;
use genood_flows::host::to_f64_vec;
use genood_flows::noise::Noise;
use genood_models::{DensityModel, Model};
use genood_ood::report::{heatmap, image_grid_png};
use genood_train::eval::batch_tensor;
use genood_train::run::{image_rngs, streams};

/// Images per pass when maps are computed.
const BATCH: usize = 64;

/// Per-pixel maps of images `indices` of `set` (`H · W` values each), and what their values
/// are; `None` when `indices` is empty. Each image draws its noise from `(seed, set, its
/// index)`, so its map does not depend on the others.
pub fn pixel_maps(
    model: &Model,
    set: &ImageSet,
    indices: &[usize],
    seed: u64,
    device: &Device,
) -> Option<(Vec<Vec<f64>>, &'static str)> {
    let [_, h, w] = set.shape;
    let mut maps = Vec::with_capacity(indices.len());
    let mut meaning = None;
    for chunk in indices.chunks(BATCH) {
        let mut rngs = image_rngs(seed, streams::PIXEL_MAPS, set, chunk);
        let map = model.pixel_map(
            batch_tensor(set, chunk, device),
            &mut Noise::PerImage(&mut rngs),
        );
        meaning = Some(map.meaning);
        maps.extend(to_f64_vec(map.values).chunks(h * w).map(<[f64]>::to_vec));
    }
    Some((maps, meaning?))
}

/// Images `indices` of `set` in the top row and their maps as heat maps in the row below, one
/// PNG.
pub fn explained_png(set: &ImageSet, indices: &[usize], maps: &[Vec<f64>]) -> Vec<u8> {
    let [c, h, w] = set.shape;
    // Both rows in RGB planes: a grey image's one plane three times.
    let rgb = |image: &[u8]| -> Vec<u8> {
        (0..3)
            .flat_map(|ch| image[ch.min(c - 1) * h * w..][..h * w].iter().copied())
            .collect()
    };
    let mut cells: Vec<Vec<u8>> = indices.iter().map(|&i| rgb(set.image(i))).collect();
    cells.extend(maps.iter().map(|m| heatmap(m)));
    let views: Vec<&[u8]> = cells.iter().map(Vec::as_slice).collect();
    let scale = if h <= 32 { 3 } else { 1 };
    image_grid_png(&views, [3, h, w], indices.len().max(1), scale)
}
