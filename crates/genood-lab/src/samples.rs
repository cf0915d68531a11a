//! Images drawn from a model, as a PNG grid.

use genood_flows::host::to_host_vec;
use genood_models::{DensityModel, Model};
use genood_ood::report::image_grid_png;
use genood_train::run::{stream_rng, streams};

use crate::progress::Progress;

/// `count` samples of `model` at `temperature`, drawn from `seed`'s sample stream, as a PNG
/// grid (six per row, small images enlarged); progress goes to `progress` as `task`.
pub fn sample_grid(
    model: &Model,
    count: usize,
    temperature: f64,
    seed: u64,
    task: &str,
    progress: &mut dyn Progress,
) -> Vec<u8> {
    progress.advance(task, 0, 1);
    let samples = model.sample(
        count,
        temperature,
        &mut stream_rng(seed, streams::SAMPLES, 0),
        task,
        progress,
    );
    let dims = model.image_dims();
    let pixels: Vec<u8> = to_host_vec::<f32, 4>(samples)
        .iter()
        .map(|v| *v as u8)
        .collect();
    let images: Vec<&[u8]> = pixels.chunks(dims.iter().product()).collect();
    image_grid_png(&images, dims, 6, if dims[1] <= 32 { 3 } else { 1 })
}
