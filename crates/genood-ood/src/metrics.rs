//! Threshold-free detection metrics, tie-aware, with seeded bootstrap intervals.

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

/// Area under the ROC curve: the probability that a random OOD input scores higher than a
/// random in-distribution one, ties counting one half (the Mann–Whitney statistic).
pub fn auroc(in_dist: &[f64], ood: &[f64]) -> f64 {
    assert!(
        !in_dist.is_empty() && !ood.is_empty(),
        "AUROC needs both classes"
    );
    auroc_of(&tied_groups(in_dist, ood))
}

fn auroc_of(groups: &[(usize, usize)]) -> f64 {
    // Average ranks (1-based) over runs of tied scores.
    let mut rank_sum_ood = 0.0;
    let mut below = 0;
    for &(negatives, positives) in groups {
        let size = negatives + positives;
        let average_rank = below as f64 + (size + 1) as f64 / 2.0;
        rank_sum_ood += average_rank * positives as f64;
        below += size;
    }
    let (n_neg, n_pos) = class_sizes(groups);
    let (n_pos, n_neg) = (n_pos as f64, n_neg as f64);
    (rank_sum_ood - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// (negatives, positives) over all groups.
fn class_sizes(groups: &[(usize, usize)]) -> (usize, usize) {
    groups
        .iter()
        .fold((0, 0), |(n, p), &(gn, gp)| (n + gn, p + gp))
}

/// The operating points of every distinct threshold, from the highest score down: after
/// including all inputs with score ≥ t, the counts of (true positives, false positives).
fn operating_points(groups: &[(usize, usize)]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let (mut tp, mut fp) = (0, 0);
    groups.iter().rev().map(move |&(n, p)| {
        tp += p;
        fp += n;
        (tp, fp)
    })
}

/// Both classes' scores sorted once: for each input, the index of its score among the
/// distinct scores in increasing order. Resamples of the inputs then group their ties by
/// counting, without sorting again.
struct Ranking {
    negatives: Vec<usize>,
    positives: Vec<usize>,
    distinct: usize,
}

impl Ranking {
    fn new(negatives: &[f64], positives: &[f64]) -> Self {
        let mut all: Vec<(f64, bool, usize)> = negatives
            .iter()
            .enumerate()
            .map(|(i, &s)| (s, false, i))
            .chain(positives.iter().enumerate().map(|(i, &s)| (s, true, i)))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut ranking = Self {
            negatives: vec![0; negatives.len()],
            positives: vec![0; positives.len()],
            distinct: 0,
        };
        for (k, &(score, positive, i)) in all.iter().enumerate() {
            if k == 0 || all[k - 1].0 != score {
                ranking.distinct += 1;
            }
            let class = if positive {
                &mut ranking.positives
            } else {
                &mut ranking.negatives
            };
            class[i] = ranking.distinct - 1;
        }
        ranking
    }

    /// Runs of equal scores in increasing order, each as (negatives, positives) in the run,
    /// over the inputs picked by index (with repetition); scores no pick has drop out.
    fn groups(
        &self,
        negatives: impl Iterator<Item = usize>,
        positives: impl Iterator<Item = usize>,
    ) -> Vec<(usize, usize)> {
        let mut groups = vec![(0, 0); self.distinct];
        negatives.for_each(|i| groups[self.negatives[i]].0 += 1);
        positives.for_each(|i| groups[self.positives[i]].1 += 1);
        groups.retain(|&(n, p)| n + p > 0);
        groups
    }
}

/// Runs of equal scores in increasing order, each as (negatives, positives) in the run: the
/// one place ties are grouped, for every metric.
fn tied_groups(negatives: &[f64], positives: &[f64]) -> Vec<(usize, usize)> {
    Ranking::new(negatives, positives).groups(0..negatives.len(), 0..positives.len())
}

/// The ROC curve as `(false-positive rate, true-positive rate)` points from `(0, 0)` to
/// `(1, 1)`, one per distinct threshold.
pub fn roc_curve(in_dist: &[f64], ood: &[f64]) -> Vec<(f64, f64)> {
    let (p, n) = (ood.len() as f64, in_dist.len() as f64);
    let groups = tied_groups(in_dist, ood);
    std::iter::once((0.0, 0.0))
        .chain(operating_points(&groups).map(|(tp, fp)| (fp as f64 / n, tp as f64 / p)))
        .collect()
}

/// Average precision with `positives` as the positive class (higher score = positive):
/// Σ_k (R_k − R_{k−1})·P_k over distinct thresholds, tied scores entering together.
pub fn average_precision(negatives: &[f64], positives: &[f64]) -> f64 {
    assert!(!positives.is_empty(), "average precision needs positives");
    average_precision_of(&tied_groups(negatives, positives))
}

fn average_precision_of(groups: &[(usize, usize)]) -> f64 {
    let positives = class_sizes(groups).1 as f64;
    let mut previous_recall = 0.0;
    let mut ap = 0.0;
    for (tp, fp) in operating_points(groups) {
        let recall = tp as f64 / positives;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - previous_recall) * precision;
        previous_recall = recall;
    }
    ap
}

/// False-positive rate at the first threshold (from the top) whose true-positive rate reaches
/// `tpr` (e.g. 0.95).
pub fn fpr_at_tpr(in_dist: &[f64], ood: &[f64], tpr: f64) -> f64 {
    fpr_at_tpr_of(&tied_groups(in_dist, ood), tpr)
}

fn fpr_at_tpr_of(groups: &[(usize, usize)], tpr: f64) -> f64 {
    let (n, p) = class_sizes(groups);
    operating_points(groups)
        .find(|&(tp, _)| tp as f64 / p as f64 >= tpr)
        .map_or(1.0, |(_, fp)| fp as f64 / n as f64)
}

/// Best accuracy of a single threshold on balanced classes: `max_t ½(TPR + TNR)`, including
/// the thresholds that call everything in-distribution or everything OOD.
pub fn detection_accuracy(in_dist: &[f64], ood: &[f64]) -> f64 {
    detection_accuracy_of(&tied_groups(in_dist, ood))
}

fn detection_accuracy_of(groups: &[(usize, usize)]) -> f64 {
    let (n, p) = class_sizes(groups);
    let (n, p) = (n as f64, p as f64);
    operating_points(groups)
        .map(|(tp, fp)| 0.5 * (tp as f64 / p + 1.0 - fp as f64 / n))
        .fold(0.5, f64::max)
}

/// A metric with its bootstrap percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// On the data as given.
    pub value: f64,
    /// 2.5th percentile over bootstrap resamples.
    pub low: f64,
    /// 97.5th percentile over bootstrap resamples.
    pub high: f64,
}

/// Every metric of one score on one (in-distribution, OOD) pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Detection {
    /// Area under the ROC curve (OOD positive).
    pub auroc: Estimate,
    /// Average precision with OOD as the positive class.
    pub aupr_out: Estimate,
    /// Average precision with in-distribution as the positive class (scores negated).
    pub aupr_in: Estimate,
    /// False-positive rate at 95% true-positive rate.
    pub fpr95: Estimate,
    /// Best balanced single-threshold accuracy.
    pub detection_accuracy: Estimate,
}

/// Every metric from the tied groups of (in-distribution, OOD) scores.
fn all_metrics(groups: &[(usize, usize)]) -> [f64; 5] {
    // With the scores negated and the classes swapped, the runs come in reverse order.
    let swapped: Vec<(usize, usize)> = groups.iter().rev().map(|&(n, p)| (p, n)).collect();
    [
        auroc_of(groups),
        average_precision_of(groups),
        average_precision_of(&swapped),
        fpr_at_tpr_of(groups, 0.95),
        detection_accuracy_of(groups),
    ]
}

/// `count` indices drawn uniformly from `0..count`, with replacement.
fn resample(count: usize, rng: &mut impl Rng) -> Vec<usize> {
    (0..count).map(|_| rng.random_range(0..count)).collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64)
}

/// All metrics with 95% percentile-bootstrap intervals from `resamples` resamples of each
/// class (with replacement), seeded by `seed`.
pub fn detection(in_dist: &[f64], ood: &[f64], resamples: usize, seed: u64) -> Detection {
    assert!(
        !in_dist.is_empty() && !ood.is_empty(),
        "detection metrics need both classes"
    );
    let ranking = Ranking::new(in_dist, ood);
    let values = all_metrics(&ranking.groups(0..in_dist.len(), 0..ood.len()));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut samples: Vec<[f64; 5]> = (0..resamples)
        .map(|_| {
            let picked_in = resample(in_dist.len(), &mut rng);
            let picked_ood = resample(ood.len(), &mut rng);
            all_metrics(&ranking.groups(picked_in.into_iter(), picked_ood.into_iter()))
        })
        .collect();
    let estimate = |k: usize, samples: &mut Vec<[f64; 5]>| {
        let mut column: Vec<f64> = samples.iter().map(|s| s[k]).collect();
        column.sort_by(f64::total_cmp);
        let (low, high) = if column.is_empty() {
            (values[k], values[k])
        } else {
            (percentile(&column, 0.025), percentile(&column, 0.975))
        };
        Estimate {
            value: values[k],
            low,
            high,
        }
    };
    Detection {
        auroc: estimate(0, &mut samples),
        aupr_out: estimate(1, &mut samples),
        aupr_in: estimate(2, &mut samples),
        fpr95: estimate(3, &mut samples),
        detection_accuracy: estimate(4, &mut samples),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn perfect_separation() {
        let (inside, outside) = ([0.1, 0.2, 0.3], [0.7, 0.8]);
        close(auroc(&inside, &outside), 1.0);
        close(average_precision(&inside, &outside), 1.0);
        close(fpr_at_tpr(&inside, &outside, 0.95), 0.0);
        close(detection_accuracy(&inside, &outside), 1.0);
        // Reversed scores: every OOD input looks the most in-distribution.
        close(auroc(&outside, &inside), 0.0);
        close(fpr_at_tpr(&outside, &inside, 0.95), 1.0);
    }

    #[test]
    fn roc_curve_of_the_hand_computed_case() {
        let curve = roc_curve(&[1.0, 2.0, 3.0], &[2.0, 4.0]);
        let expected = [
            (0.0, 0.0),
            (0.0, 0.5),
            (1.0 / 3.0, 0.5),
            (2.0 / 3.0, 1.0),
            (1.0, 1.0),
        ];
        assert_eq!(curve.len(), expected.len());
        for ((x, y), (ex, ey)) in curve.iter().zip(expected) {
            close(*x, ex);
            close(*y, ey);
        }
    }

    #[test]
    fn identical_lists_are_chance() {
        let scores = [1.0, 2.0, 3.0, 4.0];
        close(auroc(&scores, &scores), 0.5);
        // All eight tie in pairs: precision at each threshold is exactly one half.
        close(average_precision(&scores, &scores), 0.5);
        close(detection_accuracy(&scores, &scores), 0.5);
    }

    #[test]
    fn all_scores_tied() {
        let (inside, outside) = ([5.0; 3], [5.0; 4]);
        close(auroc(&inside, &outside), 0.5);
        // One threshold admits everything: recall 1 at precision 4/7.
        close(average_precision(&inside, &outside), 4.0 / 7.0);
        close(fpr_at_tpr(&inside, &outside, 0.95), 1.0);
    }

    #[test]
    fn hand_computed_case_with_a_tie() {
        // in = [1, 2, 3], ood = [2, 4]. Pairs (ood > in): 4 beats all three (3); 2 beats 1 (1)
        // and ties 2 (0.5): U = 4.5 of 6 pairs.
        let (inside, outside) = ([1.0, 2.0, 3.0], [2.0, 4.0]);
        close(auroc(&inside, &outside), 0.75);
        // Thresholds from the top: 4 → tp 1, fp 0 (P 1, R ½); 3 → tp 1, fp 1; 2 → tp 2, fp 2
        // (P ½, R 1); 1 → tp 2, fp 3. AP = ½·1 + ½·½ = 0.75.
        close(average_precision(&inside, &outside), 0.75);
        // TPR ≥ 0.95 first at threshold 2, where 2 of 3 in-distribution scores are ≥ 2.
        close(fpr_at_tpr(&inside, &outside, 0.95), 2.0 / 3.0);
        // Best threshold 4: ½(½ + 1) = 0.75.
        close(detection_accuracy(&inside, &outside), 0.75);
    }

    #[test]
    fn bootstrap_interval_brackets_the_value_and_is_seeded() {
        let inside: Vec<f64> = (0..200).map(|i| (i as f64 * 0.37).sin()).collect();
        let outside: Vec<f64> = (0..150).map(|i| (i as f64 * 0.91).cos() + 0.4).collect();
        let a = detection(&inside, &outside, 200, 7);
        assert!(a.auroc.low <= a.auroc.value && a.auroc.value <= a.auroc.high);
        assert!(a.auroc.high - a.auroc.low > 0.01);
        assert_eq!(a, detection(&inside, &outside, 200, 7));
        assert_ne!(a, detection(&inside, &outside, 200, 8));
    }
}
