//! Images drawn from a model, as a PNG grid.

use genood_data::ImageSet;
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
    let samples = sample_images(model, count, temperature, seed, task, progress);
    let images: Vec<&[u8]> = (0..samples.len()).map(|k| samples.image(k)).collect();
    let dims = samples.shape;
    image_grid_png(&images, dims, 6, if dims[1] <= 32 { 3 } else { 1 })
}

/// `count` samples of `model` at `temperature`, drawn from `seed`'s sample stream, as a set
/// called `samples`; progress goes to `progress` as `task`.
pub fn sample_images(
    model: &Model,
    count: usize,
    temperature: f64,
    seed: u64,
    task: &str,
    progress: &mut dyn Progress,
) -> ImageSet {
    progress.advance(task, 0, 1);
    let samples = model.sample(
        count,
        temperature,
        &mut stream_rng(seed, streams::SAMPLES, 0),
        task,
        progress,
    );
    let pixels: Vec<u8> = to_host_vec::<f32, 4>(samples)
        .iter()
        .map(|v| *v as u8)
        .collect();
    ImageSet::new("samples", model.image_dims(), pixels, None)
}
