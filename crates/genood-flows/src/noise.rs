//! Where the random draws of a batch come from: one generator for the whole batch, or one per
//! image.
//!
//! Training draws a batch's noise from one stream, image after image. Evaluation gives each
//! image its own generator, keyed by the image rather than by its batch, so an image's
//! dequantization noise and posterior samples (and with them its log p) are the same whatever
//! the batch size, limit, order or shard it is scored in.

use burn::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;

use crate::host::{standard_normal, tensor_from_f32};

/// The source of a batch's random draws.
#[derive(Debug)]
pub enum Noise<'a> {
    /// One generator for the whole batch; image `i`'s draws follow those of images `0..i`.
    Batch(&'a mut StdRng),
    /// One generator per image of the batch, in batch order.
    PerImage(&'a mut [StdRng]),
}

impl Noise<'_> {
    /// `per_image` draws of `one` for each of `images` images, image-major.
    fn draw<T>(
        &mut self,
        images: usize,
        per_image: usize,
        mut one: impl FnMut(&mut StdRng) -> T,
    ) -> Vec<T> {
        match self {
            Noise::Batch(rng) => (0..images * per_image).map(|_| one(rng)).collect(),
            Noise::PerImage(rngs) => {
                assert_eq!(rngs.len(), images, "one generator per image of the batch");
                let mut values = Vec::with_capacity(images * per_image);
                for rng in rngs.iter_mut() {
                    values.extend((0..per_image).map(|_| one(rng)));
                }
                values
            }
        }
    }

    /// Uniform values in `[0, 1)` of shape `[N, C, H, W]`, image `n` from image `n`'s draws.
    pub fn uniform(&mut self, shape: [usize; 4], device: &Device) -> Tensor<4> {
        let [n, c, h, w] = shape;
        let values = self.draw(n, c * h * w, |rng| rng.random::<f32>());
        tensor_from_f32(values, shape, device)
    }

    /// `per_image` uniform values in `[0, 1)` for each of `images` images, image-major.
    pub fn uniform_values(&mut self, images: usize, per_image: usize) -> Vec<f64> {
        self.draw(images, per_image, |rng| rng.random::<f64>())
    }

    /// `per_image` standard normal values for each of `images` images, image-major.
    pub fn normal(&mut self, images: usize, per_image: usize) -> Vec<f64> {
        self.draw(images, per_image, standard_normal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{seeded_rng, to_f32_vec};

    #[test]
    fn an_image_draws_the_same_values_in_any_batch() {
        let device = Device::flex();
        let mut alone = [seeded_rng(7)];
        let single = to_f32_vec(Noise::PerImage(&mut alone).uniform([1, 2, 3, 3], &device));
        let mut batch = [seeded_rng(5), seeded_rng(7), seeded_rng(9)];
        let three = to_f32_vec(Noise::PerImage(&mut batch).uniform([3, 2, 3, 3], &device));
        assert_eq!(single, three[18..36]);
        assert_ne!(three[..18], three[18..36]);
    }

    #[test]
    fn a_batch_stream_draws_image_after_image() {
        let mut rng = seeded_rng(3);
        let joint = Noise::Batch(&mut rng).normal(2, 4);
        let mut rng = seeded_rng(3);
        let first = Noise::Batch(&mut rng).normal(1, 4);
        let second = Noise::Batch(&mut rng).normal(1, 4);
        assert_eq!(joint, [first, second].concat());
    }
}
