//! Synthetic out-of-distribution sets, each derived from a base set whose shape and size it
//! takes (and, for transforms, whose images it changes).

use rand::Rng;

use crate::images::ImageSet;

/// Mid-gray, the target of [`Synthetic::Gray`].
pub const MID_GRAY: f64 = 128.0;
/// Mean and standard deviation of [`Synthetic::GaussianNoise`] on the 0–255 scale.
pub const GAUSSIAN_NOISE: (f64, f64) = (127.5, 64.0);

/// How a synthetic set is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Synthetic {
    /// Each image one constant value per channel, drawn uniformly from 0–255.
    Constant,
    /// Independent uniform values 0–255.
    UniformNoise,
    /// Independent `N(127.5, 64²)` values, rounded and clipped to 0–255.
    GaussianNoise,
    /// `255 − x`.
    Inverted,
    /// Blended toward mid-gray: `round((1 − α)·x + α·128)`, α in [0, 1] (the paper's graying).
    Gray(f64),
}

impl Synthetic {
    /// Parses `constant`, `uniform-noise`, `gaussian-noise`, `inverted` or `gray=ALPHA`.
    pub fn parse(text: &str) -> Option<Synthetic> {
        match text {
            "constant" => Some(Synthetic::Constant),
            "uniform-noise" => Some(Synthetic::UniformNoise),
            "gaussian-noise" => Some(Synthetic::GaussianNoise),
            "inverted" => Some(Synthetic::Inverted),
            _ => text
                .strip_prefix("gray=")
                .and_then(|a| a.parse::<f64>().ok())
                // −0 would name the same set as 0 under another label (and another scores file).
                .filter(|a| (0.0..=1.0).contains(a) && a.is_sign_positive())
                .map(Synthetic::Gray),
        }
    }

    /// The name used in set specs.
    pub fn label(self) -> String {
        match self {
            Synthetic::Constant => "constant".into(),
            Synthetic::UniformNoise => "uniform-noise".into(),
            Synthetic::GaussianNoise => "gaussian-noise".into(),
            Synthetic::Inverted => "inverted".into(),
            Synthetic::Gray(alpha) => format!("gray={alpha}"),
        }
    }

    /// Makes the set from `base`, drawing any randomness from `rng`.
    pub fn apply(self, base: &ImageSet, rng: &mut impl Rng) -> ImageSet {
        let name = format!("{}/{}", self.label(), base.name);
        let pixels: Vec<u8> = match self {
            Synthetic::Constant => {
                let [c, h, w] = base.shape;
                (0..base.len() * c)
                    .flat_map(|_| std::iter::repeat_n(rng.random::<u8>(), h * w))
                    .collect()
            }
            Synthetic::UniformNoise => (0..base.pixels.len()).map(|_| rng.random::<u8>()).collect(),
            Synthetic::GaussianNoise => {
                let (mean, std) = GAUSSIAN_NOISE;
                (0..base.pixels.len())
                    .map(|_| {
                        (mean + std * standard_normal(rng))
                            .round()
                            .clamp(0.0, 255.0) as u8
                    })
                    .collect()
            }
            Synthetic::Inverted => base.pixels.iter().map(|&p| 255 - p).collect(),
            Synthetic::Gray(alpha) => base.pixels.iter().map(|&p| gray_blend(p, alpha)).collect(),
        };
        ImageSet::new(name, base.shape, pixels, None)
    }
}

/// Replaces each pixel by a uniform random value with probability `mu`: the input
/// perturbation that trains the background model of the likelihood-ratio score.
pub fn perturb_pixels(pixels: &mut [u8], mu: f64, rng: &mut impl Rng) {
    for p in pixels.iter_mut() {
        if rng.random::<f64>() < mu {
            *p = rng.random();
        }
    }
}

/// `round((1 − α)·x + α·128)`.
pub fn gray_blend(pixel: u8, alpha: f64) -> u8 {
    ((1.0 - alpha) * pixel as f64 + alpha * MID_GRAY).round() as u8
}

fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
