//! Bits per dimension: the one place the formula lives.

use core::f64::consts::LN_2;

/// Bits per dimension of a discrete log-likelihood in nats over `dims` dimensions:
/// `bpd = −log_p / (D · ln 2)`. A model uniform over 256 levels scores exactly 8.
pub fn bits_per_dim(log_p_nats: f64, dims: usize) -> f64 {
    -log_p_nats / (dims as f64 * LN_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_over_256_levels_is_eight_bits() {
        let dims = 784;
        let log_p = -(dims as f64) * 256f64.ln();
        assert!((bits_per_dim(log_p, dims) - 8.0).abs() < 1e-12);
    }

    #[test]
    fn certain_outcome_is_zero_bits() {
        assert_eq!(bits_per_dim(0.0, 3072), 0.0);
    }
}
