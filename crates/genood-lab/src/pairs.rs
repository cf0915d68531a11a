//! The paper's in-distribution / out-of-distribution pairs and the bits per dimension it
//! reports for Glow. Figures recalled rather than read from the paper's tables are flagged
//! as unverified.

use genood_data::SetSpec;
use serde::Serialize;

use crate::error::LabError;
use crate::figures::file_safe;
use crate::score::Score;

/// Glow bpd reported in the paper for one pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reported {
    /// On the training split.
    pub train: f64,
    /// On the test split.
    pub test: f64,
    /// On the OOD test split.
    pub ood: f64,
    /// False where the figures are recalled, not read from the paper's tables.
    pub verified: bool,
}

/// An experiment: train on one set, compare its test split with OOD sets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pair {
    /// `--pair` name.
    pub name: &'static str,
    /// Training split.
    pub train: &'static str,
    /// In-distribution test split.
    pub test: &'static str,
    /// OOD test splits.
    pub ood: &'static [&'static str],
    /// What the paper reports, where known.
    pub reported: Option<Reported>,
}

/// An experiment's sets, owned: a built-in [`Pair`]'s, or any the user names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairSets {
    /// The experiment's name (its output folder).
    pub name: String,
    /// Training set.
    pub train: SetSpec,
    /// In-distribution test set.
    pub test: SetSpec,
    /// OOD sets.
    pub ood: Vec<SetSpec>,
    /// What the paper reports, where known (built-in pairs only).
    pub reported: Option<Reported>,
}

impl From<Pair> for PairSets {
    fn from(pair: Pair) -> Self {
        let parse = |name: &str| SetSpec::parse(name).expect("built-in pairs name known sets");
        Self {
            name: pair.name.into(),
            train: parse(pair.train),
            test: parse(pair.test),
            ood: pair.ood.iter().map(|s| parse(s)).collect(),
            reported: pair.reported,
        }
    }
}

impl PairSets {
    /// Any sets: `train`, compared on `test` (default: the `test` split of a named training
    /// split) against `ood`. The name joins the sets' short names (`photos-vs-scans`).
    pub fn custom(
        train: &SetSpec,
        test: Option<&SetSpec>,
        ood: &[SetSpec],
    ) -> Result<Self, LabError> {
        if ood.is_empty() {
            return Err(LabError::Invalid {
                what: "ood",
                reason: "name at least one OOD set (--ood SET…)".into(),
            });
        }
        let test = match (test, train) {
            (Some(test), _) => test.clone(),
            (None, SetSpec::Real { dataset, .. }) if dataset.splits().contains(&"test") => {
                SetSpec::Real {
                    dataset: *dataset,
                    split: "test".into(),
                }
            }
            _ => {
                return Err(LabError::Invalid {
                    what: "in_dist",
                    reason: format!(
                        "{train} has no test split to compare with; name the in-distribution test set (--in SET)"
                    ),
                });
            }
        };
        let short: Vec<String> = ood.iter().map(SetSpec::display_name).collect();
        let name = file_safe(&format!("{}-vs-{}", train.display_name(), short.join("-")));
        Ok(Self {
            name,
            train: train.clone(),
            test,
            ood: ood.to_vec(),
            reported: None,
        })
    }
}

/// Every pair genood can reproduce.
pub const PAIRS: [Pair; 5] = [
    Pair {
        name: "fashion-mnist-mnist",
        train: "fashion-mnist:train",
        test: "fashion-mnist:test",
        ood: &["mnist:test"],
        reported: Some(Reported {
            train: 2.902,
            test: 2.958,
            ood: 1.833,
            verified: false,
        }),
    },
    Pair {
        name: "cifar10-svhn",
        train: "cifar10:train",
        test: "cifar10:test",
        ood: &["svhn:test"],
        reported: Some(Reported {
            train: 3.386,
            test: 3.464,
            ood: 2.389,
            verified: true,
        }),
    },
    Pair {
        name: "svhn-cifar10",
        train: "svhn:train",
        test: "svhn:test",
        ood: &["cifar10:test"],
        reported: Some(Reported {
            train: 2.057,
            test: 2.066,
            ood: 5.483,
            verified: false,
        }),
    },
    Pair {
        name: "celeba-svhn",
        train: "celeba:train",
        test: "celeba:test",
        ood: &["svhn:test"],
        reported: None,
    },
    Pair {
        name: "imagenet32-cifar10",
        train: "imagenet32:train",
        test: "imagenet32:valid",
        ood: &["cifar10:test", "cifar100:test", "svhn:test"],
        reported: None,
    },
];

/// The pair called `name`.
pub fn find_pair(name: &str) -> Result<Pair, LabError> {
    PAIRS
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| LabError::Unknown {
            what: "pair",
            name: name.into(),
            choices: PAIRS.map(|p| p.name).join(", "),
        })
}

/// AUROC reported in the follow-up literature (recalled, unverified) for a score
/// on FashionMNIST → MNIST or CIFAR-10 → SVHN.
pub fn reported_auroc(
    score: Score,
    batch: usize,
    in_dist: &str,
    ood: &str,
) -> Option<&'static str> {
    let fashion = in_dist.starts_with("fashion-mnist") && ood.starts_with("mnist");
    let cifar = in_dist.starts_with("cifar10:") && ood.starts_with("svhn");
    let (fm, c10) = match (score, batch) {
        (Score::Likelihood, _) => ("≈0.09", "≈0.09"),
        (Score::Typicality, 10 | 25) => ("≈1.0", "≈1.0"),
        (Score::Waic, _) => ("conflicting reports", "≈1.0"),
        (Score::LikelihoodRatio, _) => ("≈0.99", "≈0.93"),
        (Score::InputComplexity, _) => ("high", "≈0.95"),
        (Score::Dose, _) => ("≈0.99", "≈0.97"),
        // Havtorn et al. 2021, LLR>1 on binarised FashionMNIST and LLR>2 on CIFAR-10.
        (Score::Llr, _) => ("≈0.98", "≈0.81"),
        _ => return None,
    };
    match (fashion, cifar) {
        (true, _) => Some(fm),
        (_, true) => Some(c10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_pairs_name_known_sets_and_custom_pairs_find_their_test_split() {
        for pair in PAIRS {
            let sets = PairSets::from(pair);
            assert_eq!(sets.train.label(), pair.train);
            assert_eq!(SetSpec::labels(&sets.ood), pair.ood);
        }
        let set = |name: &str| SetSpec::parse(name).unwrap();
        let custom = PairSets::custom(&set("fashion-mnist:train"), None, &[set("mnist:test")]);
        let custom = custom.unwrap();
        assert_eq!(custom.test, set("fashion-mnist:test"));
        assert_eq!(custom.name, "fashion-mnist_train-vs-mnist_test");
        let no_test = PairSets::custom(&set("folder:/photos"), None, &[set("mnist:test")]);
        assert!(no_test.unwrap_err().to_string().contains("--in SET"));
    }
}
