//! Small dense linear algebra in `f64` for the invertible 1×1 convolution: a random rotation to
//! start from, its LU factorisation, and inverses for sampling and tests.
//!
//! Matrices are row-major `Vec<f64>` of size `n × n`. burn has no slogdet or inverse, and these
//! matrices are at most a few hundred wide, so plain host code is exact enough and simple.

use rand::Rng;

use crate::host::standard_normal;

/// `a · b` for two `n × n` matrices.
pub fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                out[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    out
}

/// The `n × n` identity.
pub fn identity(n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        out[i * n + i] = 1.0;
    }
    out
}

/// A random orthogonal matrix: modified Gram–Schmidt on the columns of a Gaussian matrix.
pub fn random_orthogonal(n: usize, rng: &mut impl Rng) -> Vec<f64> {
    let mut cols: Vec<Vec<f64>> = (0..n)
        .map(|_| (0..n).map(|_| standard_normal(rng)).collect())
        .collect();
    for j in 0..n {
        let (done, rest) = cols.split_at_mut(j);
        let col = &mut rest[0];
        for prev in done.iter() {
            let dot: f64 = col.iter().zip(prev).map(|(a, b)| a * b).sum();
            col.iter_mut().zip(prev).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
        col.iter_mut().for_each(|v| *v /= norm);
    }
    let mut out = vec![0.0; n * n];
    for (j, col) in cols.iter().enumerate() {
        for i in 0..n {
            out[i * n + j] = col[i];
        }
    }
    out
}

/// The factors of `a = p · l · u`: `p` a permutation, `l` unit lower triangular, `u` upper
/// triangular.
pub struct Lu {
    /// Permutation matrix.
    pub p: Vec<f64>,
    /// Unit lower triangular factor.
    pub l: Vec<f64>,
    /// Upper triangular factor (its diagonal holds the pivots).
    pub u: Vec<f64>,
}

/// LU factorisation with partial pivoting. Panics on a singular matrix, which cannot arise for
/// the rotations it is used on.
pub fn lu(a: &[f64], n: usize) -> Lu {
    let mut u = a.to_vec();
    let mut l = identity(n);
    let mut order: Vec<usize> = (0..n).collect();
    for k in 0..n {
        let pivot = (k..n)
            .max_by(|&i, &j| u[i * n + k].abs().total_cmp(&u[j * n + k].abs()))
            .expect("non-empty range");
        assert!(u[pivot * n + k] != 0.0, "singular matrix in LU");
        if pivot != k {
            for j in 0..n {
                u.swap(k * n + j, pivot * n + j);
            }
            for j in 0..k {
                l.swap(k * n + j, pivot * n + j);
            }
            order.swap(k, pivot);
        }
        for i in k + 1..n {
            let factor = u[i * n + k] / u[k * n + k];
            l[i * n + k] = factor;
            u[i * n + k] = 0.0;
            for j in k + 1..n {
                u[i * n + j] -= factor * u[k * n + j];
            }
        }
    }
    // Row k of l·u is row order[k] of a, so a = pᵀ-applied: p[order[k], k] = 1.
    let mut p = vec![0.0; n * n];
    for (k, &row) in order.iter().enumerate() {
        p[row * n + k] = 1.0;
    }
    Lu { p, l, u }
}

/// The inverse of an `n × n` matrix by Gauss–Jordan elimination with partial pivoting.
pub fn inverse(a: &[f64], n: usize) -> Vec<f64> {
    let mut m = a.to_vec();
    let mut inv = identity(n);
    for k in 0..n {
        let pivot = (k..n)
            .max_by(|&i, &j| m[i * n + k].abs().total_cmp(&m[j * n + k].abs()))
            .expect("non-empty range");
        assert!(m[pivot * n + k] != 0.0, "singular matrix in inverse");
        for j in 0..n {
            m.swap(k * n + j, pivot * n + j);
            inv.swap(k * n + j, pivot * n + j);
        }
        let d = m[k * n + k];
        for j in 0..n {
            m[k * n + j] /= d;
            inv[k * n + j] /= d;
        }
        for i in 0..n {
            if i != k {
                let f = m[i * n + k];
                if f != 0.0 {
                    for j in 0..n {
                        m[i * n + j] -= f * m[k * n + j];
                        inv[i * n + j] -= f * inv[k * n + j];
                    }
                }
            }
        }
    }
    inv
}

/// `log|det a|` via LU: the sum of the logs of the pivots' magnitudes.
pub fn log_abs_det(a: &[f64], n: usize) -> f64 {
    let f = lu(a, n);
    (0..n).map(|i| f.u[i * n + i].abs().ln()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::seeded_rng;

    fn assert_close(a: &[f64], b: &[f64], tol: f64) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < tol, "{x} vs {y}");
        }
    }

    #[test]
    fn orthogonal_times_transpose_is_identity() {
        let n = 6;
        let q = random_orthogonal(n, &mut seeded_rng(1));
        let mut qt = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                qt[j * n + i] = q[i * n + j];
            }
        }
        assert_close(&matmul(&q, &qt, n), &identity(n), 1e-12);
        assert!(log_abs_det(&q, n).abs() < 1e-12);
    }

    #[test]
    fn lu_reconstructs_the_matrix() {
        let n = 5;
        let a = random_orthogonal(n, &mut seeded_rng(2));
        let f = lu(&a, n);
        let plu = matmul(&f.p, &matmul(&f.l, &f.u, n), n);
        assert_close(&plu, &a, 1e-12);
        for i in 0..n {
            assert_eq!(f.l[i * n + i], 1.0);
            for j in i + 1..n {
                assert_eq!(f.l[i * n + j], 0.0);
                assert_eq!(f.u[j * n + i], 0.0);
            }
        }
    }

    #[test]
    fn inverse_of_hand_computed_matrix() {
        // [[2, 1], [1, 1]]⁻¹ = [[1, −1], [−1, 2]], det = 1.
        let a = [2.0, 1.0, 1.0, 1.0];
        assert_close(&inverse(&a, 2), &[1.0, -1.0, -1.0, 2.0], 1e-12);
        assert!(log_abs_det(&a, 2).abs() < 1e-12);
        let b = [0.0, 3.0, 2.0, 0.0]; // det = −6, needs a pivot
        assert!((log_abs_det(&b, 2) - 6f64.ln()).abs() < 1e-12);
        assert_close(&inverse(&b, 2), &[0.0, 0.5, 1.0 / 3.0, 0.0], 1e-12);
    }
}
