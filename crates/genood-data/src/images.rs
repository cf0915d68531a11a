//! A set of 8-bit images in memory.

use rand::Rng;
use rand::seq::SliceRandom;

/// `N` images of shape `[C, H, W]`, stored as `u8` in `[N, C, H, W]` order, with optional
/// labels. Nothing is normalised.
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
        ImageSet::new(name, self.shape, pixels, labels)
    }

    /// Splits off the last `count` images: `(first N − count, last count)`.
    pub fn split_tail(&self, count: usize) -> (ImageSet, ImageSet) {
        let n = self.len();
        let count = count.min(n);
        let head: Vec<usize> = (0..n - count).collect();
        let tail: Vec<usize> = (n - count..n).collect();
        (
            self.select(&head, self.name.clone()),
            self.select(&tail, format!("{}[heldout]", self.name)),
        )
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
