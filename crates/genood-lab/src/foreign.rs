//! Per-image scores of a model genood did not train: any model's log-likelihoods (a PyTorch
//! flow's `log_prob`, a scikit-learn density's `score_samples`) as the scores every OOD
//! score, the detector and the metrics take.

use genood_flows::bpd::bits_per_dim;
use genood_train::eval::ExampleScore;

use crate::error::LabError;

/// The per-image scores of images of `dims` dimensions whose log-likelihoods (nats, one per
/// image) are `log_p`, with each statistic of `parts` (a name and one value per image: DoSE's
/// features beside log p). A value that is not finite is refused, naming the image.
pub fn example_scores(
    log_p: &[f64],
    parts: &[(String, Vec<f64>)],
    dims: usize,
) -> Result<Vec<ExampleScore>, LabError> {
    for (name, values) in parts {
        if values.len() != log_p.len() {
            return Err(LabError::Invalid {
                what: "statistics",
                reason: format!(
                    "the statistic `{name}` has {} values for {} images",
                    values.len(),
                    log_p.len()
                ),
            });
        }
    }
    let not_finite = |what: &str, k: usize, v: f64| LabError::Invalid {
        what: "log-likelihood",
        reason: format!("{what} of image {k} is {v}; every value must be finite"),
    };
    log_p
        .iter()
        .enumerate()
        .map(|(k, &value)| {
            if !value.is_finite() {
                return Err(not_finite("the log-likelihood", k, value));
            }
            let mut own = Vec::with_capacity(parts.len());
            for (name, values) in parts {
                if !values[k].is_finite() {
                    return Err(not_finite(&format!("the statistic `{name}`"), k, values[k]));
                }
                own.push((name.clone(), values[k]));
            }
            Ok(ExampleScore {
                index: k,
                label: None,
                log_p: value,
                bpd: bits_per_dim(value, dims),
                parts: own,
                path: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_likelihoods_become_scores_in_bits_per_dimension() {
        // A model uniform over 256 levels: log p = −D·ln 256 nats, exactly 8 bpd.
        let dims = 784;
        let log_p = [-(dims as f64) * 256f64.ln(), -(dims as f64) * 2f64.ln()];
        let parts = [("prior".to_string(), vec![1.0, 2.0])];
        let scores = example_scores(&log_p, &parts, dims).unwrap();
        assert!((scores[0].bpd - 8.0).abs() < 1e-12);
        assert!((scores[1].bpd - 1.0).abs() < 1e-12);
        assert_eq!(scores[1].index, 1);
        assert_eq!(scores[1].part("prior"), Some(2.0));
        let nan = example_scores(&[0.0, f64::NAN], &[], dims).unwrap_err();
        assert!(nan.to_string().contains("image 1 is NaN"), "{nan}");
        let short = example_scores(&log_p, &[("prior".into(), vec![1.0])], dims).unwrap_err();
        assert!(
            short.to_string().contains("1 values for 2 images"),
            "{short}"
        );
    }
}
