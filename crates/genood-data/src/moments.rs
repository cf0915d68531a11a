//! Per-dimension moments of an image set (the paper's figure of per-pixel means and
//! variances) and the per-channel variance gap that its second-order argument rests on.

use crate::images::ImageSet;

/// Per-dimension mean and variance of a set's pixels on the `[0, 1]` scale (`x / 255`), in
/// `C·H·W` order. The variance is the population variance (divided by `N`), computed from
/// exact integer sums, so it carries no rounding error from accumulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Images the moments were taken over.
    pub count: usize,
    /// `E[x_d]` for each dimension `d`.
    pub mean: Vec<f64>,
    /// `Var[x_d]` for each dimension `d`.
    pub variance: Vec<f64>,
}

impl Moments {
    /// The moments of every image of `set`; `None` for an empty set.
    pub fn of(set: &ImageSet) -> Option<Moments> {
        if set.is_empty() {
            return None;
        }
        let d = set.image_size();
        let (mut sum, mut sum_sq) = (vec![0u64; d], vec![0u64; d]);
        for i in 0..set.len() {
            for ((s, q), &p) in sum.iter_mut().zip(&mut sum_sq).zip(set.image(i)) {
                *s += u64::from(p);
                *q += u64::from(p) * u64::from(p);
            }
        }
        let n = set.len() as u128;
        let scale = 255.0 * 255.0;
        let mean = sum.iter().map(|&s| s as f64 / (n as f64 * 255.0)).collect();
        // N·Σx² − (Σx)² is exact in integers and never negative.
        let variance = sum
            .iter()
            .zip(&sum_sq)
            .map(|(&s, &q)| {
                let centred = n * u128::from(q) - u128::from(s) * u128::from(s);
                centred as f64 / ((n * n) as f64 * scale)
            })
            .collect();
        Some(Moments {
            shape: set.shape,
            count: set.len(),
            mean,
            variance,
        })
    }

    /// `Σ_{h,w} (σ²_self − σ²_other)` for each channel: positive where `other` varies less.
    /// Panics if the shapes differ.
    pub fn variance_gap_per_channel(&self, other: &Moments) -> Vec<f64> {
        assert_eq!(
            self.shape, other.shape,
            "moments of differently shaped sets"
        );
        let plane = self.shape[1] * self.shape[2];
        self.variance
            .chunks(plane)
            .zip(other.variance.chunks(plane))
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x - y).sum())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(images: Vec<Vec<u8>>, shape: [usize; 3]) -> ImageSet {
        ImageSet::new("t", shape, images.concat(), None)
    }

    #[test]
    fn known_means_and_variances() {
        // Channel 0 is 0 in half the images and 255 in the other half: mean ½, variance ¼.
        // Channel 1 is always 51: mean 0.2, variance 0.
        let dark = [vec![0u8; 4], vec![51u8; 4]].concat();
        let bright = [vec![255u8; 4], vec![51u8; 4]].concat();
        let m = Moments::of(&set(
            vec![dark.clone(), bright.clone(), dark, bright],
            [2, 2, 2],
        ))
        .unwrap();
        assert_eq!(m.count, 4);
        for d in 0..4 {
            assert_eq!((m.mean[d], m.variance[d]), (0.5, 0.25));
            assert!((m.mean[4 + d] - 0.2).abs() < 1e-15);
            assert_eq!(m.variance[4 + d], 0.0);
        }
        let flat = Moments::of(&set(vec![vec![9u8; 8]; 3], [2, 2, 2])).unwrap();
        // Four pixels of variance ¼ in channel 0 against none: a gap of 1.
        assert_eq!(m.variance_gap_per_channel(&flat), vec![1.0, 0.0]);
        assert_eq!(flat.variance_gap_per_channel(&m), vec![-1.0, 0.0]);
    }

    #[test]
    fn matches_a_two_pass_computation() {
        let images: Vec<Vec<u8>> = (0..37u32)
            .map(|i| {
                (0..12u32)
                    .map(|d| ((i * 97 + d * 31) % 256) as u8)
                    .collect()
            })
            .collect();
        let m = Moments::of(&set(images.clone(), [3, 2, 2])).unwrap();
        for d in 0..12 {
            let values: Vec<f64> = images.iter().map(|im| im[d] as f64 / 255.0).collect();
            let mean = values.iter().sum::<f64>() / 37.0;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 37.0;
            assert!((m.mean[d] - mean).abs() < 1e-12);
            assert!((m.variance[d] - var).abs() < 1e-12);
        }
    }

    #[test]
    fn empty_set_has_no_moments() {
        assert!(Moments::of(&set(Vec::new(), [1, 2, 2])).is_none());
    }
}
