//! The report's verdict: for each OOD set, what separates it from the test set per image,
//! what only in batches of M inputs known to share a source, and what fails. Said first in
//! one sentence per set, then as a table grouped the same way.

use crate::score::ScoreRow;

/// How the verdict reads an AUROC's interval.
pub const RULE: &str = "A score separates the sets when its AUROC's 95% interval lies above 0.9, fails when it lies below 0.6 (below 0.5 it ranks the OOD set as more in-distribution than the test set), and works partly in between. A per-image score decides on each input alone; a batch test decides on M inputs at once and is valid only when they are known to share a source.";

/// What one score's AUROC interval says, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// The interval lies above 0.9.
    Separates,
    /// Between the other cases.
    Partly,
    /// The interval lies below 0.6.
    Fails,
    /// The interval lies below 0.5: the OOD set looks more in-distribution.
    Inverted,
}

impl Verdict {
    /// The verdict of `row`'s AUROC.
    pub fn of(row: &ScoreRow) -> Self {
        let auroc = &row.metrics.auroc;
        if auroc.low >= 0.9 {
            Verdict::Separates
        } else if auroc.high < 0.5 {
            Verdict::Inverted
        } else if auroc.high < 0.6 {
            Verdict::Fails
        } else {
            Verdict::Partly
        }
    }

    /// As the table says it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Separates => "separates",
            Verdict::Partly => "partly",
            Verdict::Fails => "fails",
            Verdict::Inverted => "fails: OOD looks more in-distribution",
        }
    }
}

/// "per image", or "batches of M" for a batch test.
pub fn decides_on(row: &ScoreRow) -> String {
    match row.batch {
        1 => "per image".into(),
        m => format!("batches of {m}"),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A batch test's name without its batch size ("typicality, batches of 10" → "typicality").
fn test_name(row: &ScoreRow) -> &str {
    if row.batch > 1 {
        row.kind.label()
    } else {
        &row.score
    }
}

/// One sentence on OOD set `ood` (the rows of one model against it): what separates it per
/// image, what only in batches, what works partly, what fails and what ranks it as more
/// in-distribution.
pub fn headline(model: &str, ood: &str, rows: &[&ScoreRow]) -> String {
    let named = |verdict: Verdict, per_image: Option<bool>| -> Vec<String> {
        rows.iter()
            .filter(|r| Verdict::of(r) == verdict && per_image.is_none_or(|p| p == (r.batch == 1)))
            .map(|r| format!("{} ({:.3})", r.score, r.metrics.auroc.value))
            .collect()
    };
    let verb = |items: &[String], one: &str, many: &str| {
        if items.len() == 1 { one } else { many }.to_string()
    };
    let per_image = named(Verdict::Separates, Some(true));
    let mut parts = vec![if per_image.is_empty() {
        "no single-image score separates it".to_string()
    } else {
        format!(
            "per image, {} {} it",
            listed(&per_image),
            verb(&per_image, "separates", "separate")
        )
    }];
    // Each batch test once, with the batch sizes at which it separates.
    let mut tests: Vec<&str> = rows
        .iter()
        .filter(|r| r.batch > 1)
        .map(|r| test_name(r))
        .collect();
    tests.dedup();
    for test in tests {
        let separating: Vec<&&ScoreRow> = rows
            .iter()
            .filter(|r| r.batch > 1 && test_name(r) == test && Verdict::of(r) == Verdict::Separates)
            .collect();
        let (Some(first), Some(last)) = (separating.first(), separating.last()) else {
            continue;
        };
        let sizes: Vec<String> = separating.iter().map(|r| r.batch.to_string()).collect();
        let range = if separating.len() == 1 {
            format!("AUROC {:.3}", first.metrics.auroc.value)
        } else {
            format!(
                "AUROC {:.3} to {:.3}",
                first.metrics.auroc.value, last.metrics.auroc.value
            )
        };
        parts.push(format!(
            "{}{test} separates it in batches of {} known to share a source ({range})",
            if per_image.is_empty() { "only " } else { "" },
            listed(&sizes)
        ));
    }
    // Each further verdict: its scores, the verb for one or several, what follows.
    for (verdict, one, several, rest) in [
        (Verdict::Partly, "works", "work", " partly"),
        (Verdict::Fails, "fails", "fail", ""),
        (
            Verdict::Inverted,
            "ranks",
            "rank",
            " it as more in-distribution than the test set",
        ),
    ] {
        let scores = named(verdict, None);
        if !scores.is_empty() {
            parts.push(format!(
                "{} {}{rest}",
                listed(&scores),
                verb(&scores, one, several)
            ));
        }
    }
    format!("{ood} ({model}): {}.", parts.join("; "))
}

/// The table's rows for one model's `rows` against one OOD set (`ood`, its display name):
/// per-image scores first, then each batch size, each from separating to failing.
pub fn grouped_rows(model: &str, ood: &str, rows: &[&ScoreRow]) -> Vec<Vec<String>> {
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| (r.batch, Verdict::of(r)));
    sorted
        .iter()
        .map(|r| {
            let auroc = &r.metrics.auroc;
            vec![
                model.into(),
                ood.into(),
                decides_on(r),
                r.score.clone(),
                format!("{:.3} [{:.3}, {:.3}]", auroc.value, auroc.low, auroc.high),
                Verdict::of(r).label().into(),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::{Coverage, Score};
    use genood_models::Named;
    use genood_ood::metrics::{Detection, Estimate};

    fn row(score: &str, batch: usize, auroc: [f64; 3]) -> ScoreRow {
        let estimate = Estimate {
            value: auroc[0],
            low: auroc[1],
            high: auroc[2],
        };
        // The score whose label is the longest that begins the row's.
        let kind = *Score::ALL
            .iter()
            .filter(|k| score.starts_with(k.label()))
            .max_by_key(|k| k.label().len())
            .unwrap();
        ScoreRow {
            kind,
            score: score.into(),
            in_dist: "fashion-mnist:test".parse().unwrap(),
            ood: "mnist:test".parse().unwrap(),
            batch,
            metrics: Detection {
                auroc: estimate,
                aupr_in: estimate,
                aupr_out: estimate,
                fpr95: estimate,
                detection_accuracy: estimate,
            },
            in_images: Coverage { scored: 10, of: 10 },
            ood_images: Coverage { scored: 10, of: 10 },
            cost: String::new(),
            threshold: None,
            in_scores: Vec::new(),
            ood_scores: Vec::new(),
        }
    }

    #[test]
    fn the_headline_says_what_separates_per_image_in_batches_and_what_fails() {
        let rows = [
            row("likelihood", 1, [0.093, 0.08, 0.10]),
            row("input complexity", 1, [0.996, 0.99, 0.998]),
            row("likelihood ratio", 1, [0.74, 0.72, 0.76]),
            row("typicality, batches of 2", 2, [0.747, 0.73, 0.76]),
            row("typicality, batches of 10", 10, [0.977, 0.96, 0.99]),
            row("typicality, batches of 25", 25, [1.0, 1.0, 1.0]),
            row("WAIC", 1, [0.55, 0.52, 0.58]),
        ];
        let refs: Vec<&ScoreRow> = rows.iter().collect();
        assert_eq!(
            headline("glow", "MNIST", &refs),
            "MNIST (glow): per image, input complexity (0.996) separates it; typicality \
             separates it in batches of 10 and 25 known to share a source (AUROC 0.977 to \
             1.000); likelihood ratio (0.740) and typicality, batches of 2 (0.747) work partly; \
             WAIC (0.550) fails; likelihood (0.093) ranks it as more in-distribution than the \
             test set."
        );
        let only_batches = [
            row("likelihood", 1, [0.2, 0.18, 0.22]),
            row("typicality, batches of 10", 10, [0.98, 0.95, 1.0]),
        ];
        let refs: Vec<&ScoreRow> = only_batches.iter().collect();
        let said = headline("cv-glow", "SVHN", &refs);
        assert!(
            said.starts_with(
                "SVHN (cv-glow): no single-image score separates it; only typicality separates it in batches of 10"
            ),
            "{said}"
        );
        // The table: per image first (separating first), then the batch test.
        let grouped = grouped_rows("glow", "MNIST", &rows.iter().collect::<Vec<_>>());
        let order: Vec<(&str, &str)> = grouped
            .iter()
            .map(|r| (r[2].as_str(), r[3].as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("per image", "input complexity"),
                ("per image", "likelihood ratio"),
                ("per image", "WAIC"),
                ("per image", "likelihood"),
                ("batches of 2", "typicality, batches of 2"),
                ("batches of 10", "typicality, batches of 10"),
                ("batches of 25", "typicality, batches of 25"),
            ]
        );
    }
}
