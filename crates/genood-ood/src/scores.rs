//! OOD scores computed from per-example model outputs (and, for input complexity, the image).
//! Every score follows the crate's convention: higher means more likely OOD.

use rand::Rng;
use rand::seq::SliceRandom;

/// Per-example outputs of a likelihood model, as `genood eval` writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleStats {
    /// `log p(x)` in nats (or the bound the model names).
    pub log_p: f64,
    /// Bits per dimension.
    pub bpd: f64,
    /// The model's own per-example statistics: a flow's prior and volume terms, a VAE's ELBO,
    /// rate and distortion; none for PixelCNN++.
    pub parts: Vec<f64>,
}

/// The paper's baseline: negative log-likelihood, as bits per dimension.
pub fn negative_log_likelihood(stats: &[ExampleStats]) -> Vec<f64> {
    stats.iter().map(|s| s.bpd).collect()
}

/// Typicality test (Nalisnick et al. 2019b) for single inputs: `|bpd(x) − Ĥ|`, where `Ĥ` is
/// the mean bpd of held-out in-distribution data (an estimate of the entropy rate).
pub fn typicality(bpd: &[f64], entropy: f64) -> Vec<f64> {
    bpd.iter().map(|b| (b - entropy).abs()).collect()
}

/// Typicality test for batches of `m` inputs: the set is shuffled (seeded) and cut into
/// `⌊N/m⌋` disjoint batches, each scored `|mean bpd − Ĥ|`.
pub fn typicality_batches(bpd: &[f64], m: usize, entropy: f64, rng: &mut impl Rng) -> Vec<f64> {
    let mut order: Vec<usize> = (0..bpd.len()).collect();
    order.shuffle(rng);
    order
        .chunks_exact(m)
        .map(|batch| (batch.iter().map(|&i| bpd[i]).sum::<f64>() / m as f64 - entropy).abs())
        .collect()
}

/// The typicality test's threshold ε: the `quantile` (e.g. 0.99) of `|mean bpd − Ĥ|` over
/// `resamples` batches of `m` drawn with replacement from held-out in-distribution bpd.
pub fn typicality_threshold(
    heldout_bpd: &[f64],
    m: usize,
    resamples: usize,
    quantile: f64,
    rng: &mut impl Rng,
) -> f64 {
    let entropy = heldout_bpd.iter().sum::<f64>() / heldout_bpd.len() as f64;
    let mut scores: Vec<f64> = (0..resamples)
        .map(|_| {
            let mean = (0..m)
                .map(|_| heldout_bpd[rng.random_range(0..heldout_bpd.len())])
                .sum::<f64>()
                / m as f64;
            (mean - entropy).abs()
        })
        .collect();
    scores.sort_by(f64::total_cmp);
    scores[((quantile * resamples as f64).ceil() as usize).clamp(1, resamples) - 1]
}

/// The typicality test as a decision rule: flag a batch when its score exceeds the bootstrap
/// threshold ε.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ThresholdTest {
    /// The 99th percentile of in-distribution batch scores under the bootstrap.
    pub epsilon: f64,
    /// Fraction of OOD batches flagged (the test's power).
    pub ood_flagged: f64,
    /// Fraction of in-distribution batches flagged (its false-alarm rate, about 1%).
    pub in_flagged: f64,
}

/// Sets ε from `heldout_bpd` (batches of `m`, 1,000 resamples, 99th percentile) and applies it
/// to already computed batch scores.
pub fn threshold_test(
    heldout_bpd: &[f64],
    m: usize,
    in_scores: &[f64],
    ood_scores: &[f64],
    rng: &mut impl Rng,
) -> ThresholdTest {
    let epsilon = typicality_threshold(heldout_bpd, m, 1000, 0.99, rng);
    let flagged = |scores: &[f64]| {
        scores.iter().filter(|s| **s > epsilon).count() as f64 / scores.len().max(1) as f64
    };
    ThresholdTest {
        epsilon,
        ood_flagged: flagged(ood_scores),
        in_flagged: flagged(in_scores),
    }
}

/// Likelihood ratio (Ren et al. 2019) as an OOD score: `log p_background(x) − log p_θ(x)`,
/// the negated ratio, so inputs whose likelihood is explained by background statistics score
/// high.
pub fn likelihood_ratio(model: &[ExampleStats], background: &[ExampleStats]) -> Vec<f64> {
    model
        .iter()
        .zip(background)
        .map(|(m, b)| b.log_p - m.log_p)
        .collect()
}

/// WAIC (Choi et al. 2018) as an OOD score: `−(E_θ[log p(x)] − Var_θ[log p(x)])` over an
/// ensemble; `log_p[k][i]` is model `k`'s log-likelihood of example `i`.
pub fn waic(log_p: &[Vec<f64>]) -> Vec<f64> {
    let k = log_p.len() as f64;
    (0..log_p[0].len())
        .map(|i| {
            let mean = log_p.iter().map(|m| m[i]).sum::<f64>() / k;
            let var = log_p.iter().map(|m| (m[i] - mean).powi(2)).sum::<f64>() / k;
            -(mean - var)
        })
        .collect()
}

/// A lossless codec for the input-complexity score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Codec {
    /// PNG at its best compression with adaptive filtering.
    Png,
    /// Lossless WebP (VP8L), stronger than PNG on natural images.
    WebpLossless,
}

impl std::str::FromStr for Codec {
    type Err = String;

    /// `png` or `webp` (lossless).
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "png" => Ok(Codec::Png),
            "webp" => Ok(Codec::WebpLossless),
            _ => Err(format!("unknown codec `{name}`; choose png or webp")),
        }
    }
}

impl Codec {
    /// The name recorded in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Png => "png-best",
            Codec::WebpLossless => "webp-lossless",
        }
    }

    /// Length in bits of the compressed file of one image (`[C, H, W]` bytes, C = 1 or 3).
    pub fn compressed_bits(self, image: &[u8], [c, h, w]: [usize; 3]) -> f64 {
        // Codecs take interleaved pixels.
        let mut interleaved = vec![0u8; image.len()];
        for ch in 0..c {
            for p in 0..h * w {
                interleaved[p * c + ch] = image[ch * h * w + p];
            }
        }
        let mut out = Vec::new();
        match self {
            Codec::Png => {
                let mut encoder = png::Encoder::new(&mut out, w as u32, h as u32);
                encoder.set_color(if c == 1 {
                    png::ColorType::Grayscale
                } else {
                    png::ColorType::Rgb
                });
                encoder.set_depth(png::BitDepth::Eight);
                encoder.set_compression(png::Compression::High);
                encoder.set_filter(png::Filter::Adaptive);
                let mut writer = encoder.write_header().expect("in-memory PNG header");
                writer
                    .write_image_data(&interleaved)
                    .expect("in-memory PNG data");
                writer.finish().expect("in-memory PNG end");
            }
            Codec::WebpLossless => {
                let color = if c == 1 {
                    image_webp::ColorType::L8
                } else {
                    image_webp::ColorType::Rgb8
                };
                image_webp::WebPEncoder::new(&mut out)
                    .encode(&interleaved, w as u32, h as u32, color)
                    .expect("in-memory WebP");
            }
        }
        8.0 * out.len() as f64
    }
}

/// Input complexity (Serrà et al. 2020): `S(x) = NLL_bits(x) − L(x)`, the model's code length
/// minus a generic lossless codec's, both in bits.
pub fn input_complexity(bpd: f64, dims: usize, compressed_bits: f64) -> f64 {
    bpd * dims as f64 - compressed_bits
}

/// A Gaussian kernel density over standardised feature vectors, for DoSE-style scoring
/// (Morningstar et al. 2021): fit on training statistics, score `−log density`.
///
/// Bandwidth by Scott's rule on standardised features: `h = n^(−1/(d+4))`.
#[derive(Debug, Clone)]
pub struct Kde {
    points: Vec<Vec<f64>>,
    mean: Vec<f64>,
    std: Vec<f64>,
    bandwidth: f64,
}

impl Kde {
    /// Fits the density to `features` (one row per example).
    pub fn fit(features: &[Vec<f64>]) -> Kde {
        let n = features.len();
        assert!(n > 1, "a density needs at least two points");
        let d = features[0].len();
        let mean: Vec<f64> = (0..d)
            .map(|j| features.iter().map(|f| f[j]).sum::<f64>() / n as f64)
            .collect();
        let std: Vec<f64> = (0..d)
            .map(|j| {
                let var = features
                    .iter()
                    .map(|f| (f[j] - mean[j]).powi(2))
                    .sum::<f64>()
                    / (n - 1) as f64;
                // A constant feature (CV-Glow's volume term) carries no information.
                if var > 0.0 { var.sqrt() } else { 1.0 }
            })
            .collect();
        let points = features
            .iter()
            .map(|f| standardise(f, &mean, &std))
            .collect();
        Kde {
            points,
            mean,
            std,
            bandwidth: (n as f64).powf(-1.0 / (d as f64 + 4.0)),
        }
    }

    /// `log` of the fitted density at `x` (in standardised units, up to the constant Jacobian
    /// of standardisation, which does not change rankings).
    pub fn log_density(&self, x: &[f64]) -> f64 {
        let z = standardise(x, &self.mean, &self.std);
        let d = z.len() as f64;
        let h2 = self.bandwidth * self.bandwidth;
        let exponents: Vec<f64> = self
            .points
            .iter()
            .map(|p| -0.5 * p.iter().zip(&z).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / h2)
            .collect();
        let max = exponents.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = exponents.iter().map(|e| (e - max).exp()).sum();
        max + sum.ln()
            - (self.points.len() as f64).ln()
            - 0.5 * d * (2.0 * std::f64::consts::PI * h2).ln()
    }
}

fn standardise(x: &[f64], mean: &[f64], std: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(mean)
        .zip(std)
        .map(|((v, m), s)| (v - m) / s)
        .collect()
}

/// DoSE features of a model's outputs: log p and the model's statistics (for a flow the prior
/// and volume terms; for a VAE its ELBO, rate and distortion, as Morningstar et al. use).
pub fn dose_features(stats: &[ExampleStats]) -> Vec<Vec<f64>> {
    stats
        .iter()
        .map(|s| {
            std::iter::once(s.log_p)
                .chain(s.parts.iter().copied())
                .collect()
        })
        .collect()
}

/// DoSE score: `−log density` of each example's features under a KDE fitted on training
/// examples' features.
pub fn dose(train: &[ExampleStats], stats: &[ExampleStats]) -> Vec<f64> {
    density_score(&dose_features(train), &dose_features(stats))
}

/// `−log density` of each row of `features` under a KDE fitted on `reference` (rows of the
/// same statistics of in-distribution examples): DoSE's rule, and how MSMA (Mahmood et al.
/// 2021) and DiffPath (Heng et al. 2024) turn a diffusion model's statistics into a score.
pub fn density_score(reference: &[Vec<f64>], features: &[Vec<f64>]) -> Vec<f64> {
    let kde = Kde::fit(reference);
    features.iter().map(|f| -kde.log_density(f)).collect()
}

/// Each row's mean over its columns of `(value − mean) / std`, the mean and (sample) standard
/// deviation of each column taken over `reference`: how Graham et al. (2023) combine a
/// diffusion model's reconstruction errors at several noise levels into one score.
pub fn standardized_mean(reference: &[Vec<f64>], features: &[Vec<f64>]) -> Vec<f64> {
    let n = reference.len() as f64;
    let d = reference.first().map_or(0, Vec::len);
    let moments: Vec<(f64, f64)> = (0..d)
        .map(|j| {
            let mean = reference.iter().map(|r| r[j]).sum::<f64>() / n;
            let var = reference.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (mean, if var > 0.0 { var.sqrt() } else { 1.0 })
        })
        .collect();
    features
        .iter()
        .map(|f| {
            f.iter()
                .zip(&moments)
                .map(|(v, (mean, std))| (v - mean) / std)
                .sum::<f64>()
                / d as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::auroc;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn normal(rng: &mut impl Rng) -> f64 {
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// NLL in nats of x under N(0, I_d).
    fn nll(x: &[f64]) -> f64 {
        0.5 * x.iter().map(|v| v * v).sum::<f64>()
            + 0.5 * x.len() as f64 * (2.0 * std::f64::consts::PI).ln()
    }

    /// The paper's phenomenon in miniature: the model is N(0, I) in d = 200 dimensions and the
    /// OOD data come from N(0, σ²I) with σ = 0.5. Every OOD point is *more* likely than typical
    /// in-distribution points, so raw likelihood fails; the typicality test does not.
    #[test]
    fn gaussian_annulus_fools_likelihood_but_not_typicality() {
        let d = 200;
        let mut rng = StdRng::seed_from_u64(1);
        let mut sample = |sigma: f64, n: usize| -> Vec<f64> {
            (0..n)
                .map(|_| {
                    nll(&(0..d).map(|_| sigma * normal(&mut rng)).collect::<Vec<_>>()) / d as f64
                })
                .collect()
        };
        let heldout = sample(1.0, 2000);
        let inside = sample(1.0, 1000);
        let outside = sample(0.5, 1000);
        let likelihood_auroc = auroc(&inside, &outside);
        assert!(
            likelihood_auroc < 0.01,
            "OOD should look more likely: AUROC {likelihood_auroc}"
        );
        let entropy = heldout.iter().sum::<f64>() / heldout.len() as f64;
        // The model's entropy rate is ½ ln(2πe) nats per dimension.
        assert!(
            (entropy - 0.5 * (2.0 * std::f64::consts::PI * std::f64::consts::E).ln()).abs() < 0.01
        );
        let typical = auroc(
            &typicality(&inside, entropy),
            &typicality(&outside, entropy),
        );
        assert!(typical > 0.99, "typicality AUROC {typical}");
        // Batches make it sharper still, and the bootstrap threshold rejects every OOD batch
        // while flagging about 1% of in-distribution ones.
        let ood_batches = typicality_batches(&outside, 10, entropy, &mut rng);
        let in_batches = typicality_batches(&inside, 10, entropy, &mut rng);
        let test = threshold_test(&heldout, 10, &in_batches, &ood_batches, &mut rng);
        assert_eq!(test.ood_flagged, 1.0);
        assert!(test.in_flagged < 0.05, "{test:?}");
        assert!(test.epsilon > 0.0 && test.epsilon < 0.1, "{test:?}");
    }

    #[test]
    fn likelihood_ratio_and_waic_on_hand_computed_cases() {
        let stats = |log_p: f64| ExampleStats {
            log_p,
            bpd: 0.0,
            parts: Vec::new(),
        };
        assert_eq!(
            likelihood_ratio(&[stats(-10.0), stats(-3.0)], &[stats(-12.0), stats(-1.0)]),
            vec![-2.0, 2.0]
        );
        // Two models: example 0 agrees (−5, −5): WAIC −5, score 5. Example 1 disagrees
        // (−4, −8): mean −6, variance 4, WAIC −10, score 10.
        assert_eq!(waic(&[vec![-5.0, -4.0], vec![-5.0, -8.0]]), vec![5.0, 10.0]);
    }

    #[test]
    fn standardized_mean_on_a_hand_computed_case() {
        // Column means 2 and 10, sample standard deviations 1 and 4.
        let reference = vec![vec![1.0, 6.0], vec![2.0, 10.0], vec![3.0, 14.0]];
        let scores = standardized_mean(&reference, &[vec![4.0, 18.0], vec![2.0, 10.0]]);
        assert_eq!(scores, vec![(2.0 + 2.0) / 2.0, 0.0]);
        // A constant column counts in raw units.
        let flat = vec![vec![5.0], vec![5.0]];
        assert_eq!(standardized_mean(&flat, &[vec![7.0]]), vec![2.0]);
    }

    #[test]
    fn kde_of_one_dimension_matches_the_formula() {
        // Two points at ±1 (standardised: ±1/√2 with sample std √2), bandwidth 2^(−1/5).
        let kde = Kde::fit(&[vec![-1.0], vec![1.0]]);
        let h = 2f64.powf(-0.2);
        let z = [-1.0 / 2f64.sqrt(), 1.0 / 2f64.sqrt()];
        let at_zero = z
            .iter()
            .map(|p| (-0.5 * p * p / (h * h)).exp())
            .sum::<f64>()
            / 2.0
            / (2.0 * std::f64::consts::PI * h * h).sqrt();
        assert!((kde.log_density(&[0.0]) - at_zero.ln()).abs() < 1e-12);
        // Far away is less dense than between the points.
        assert!(kde.log_density(&[10.0]) < kde.log_density(&[0.0]));
    }

    #[test]
    fn compression_ranks_flat_images_below_noise() {
        let mut rng = StdRng::seed_from_u64(2);
        let flat = vec![128u8; 3 * 32 * 32];
        let noise: Vec<u8> = (0..3 * 32 * 32).map(|_| rng.random()).collect();
        for codec in [Codec::Png, Codec::WebpLossless] {
            let (f, n) = (
                codec.compressed_bits(&flat, [3, 32, 32]),
                codec.compressed_bits(&noise, [3, 32, 32]),
            );
            assert!(f < 0.1 * n, "{}: flat {f} vs noise {n}", codec.name());
            // Noise cannot be compressed below 8 bits per sub-pixel by much.
            assert!(n > 0.95 * 8.0 * 3072.0, "{}: {n}", codec.name());
        }
        assert_eq!(input_complexity(2.0, 784, 1000.0), 568.0);
    }
}
