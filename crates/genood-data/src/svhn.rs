//! SVHN cropped digits, `train_32x32.mat` / `test_32x32.mat` (Netzer et al. 2011).
//!
//! `X` is `32 × 32 × 3 × N` uint8 in MATLAB's column-major order, so pixel `(row r, column c)`
//! of channel `ch` of image `n` is at `r + 32·c + 1024·ch + 3072·n`. `y` holds labels 1–10,
//! where 10 means the digit 0.

use std::path::Path;

use crate::error::DataError;
use crate::images::ImageSet;
use crate::mat::read_mat;

/// Reads one SVHN `.mat` file as a `[3, 32, 32]` set with labels 0–9.
pub fn read_svhn(path: &Path, name: &str) -> Result<ImageSet, DataError> {
    let arrays = read_mat(path)?;
    let missing = |var: &str| DataError::format(path, 128, format!("no variable `{var}`"));
    let x = arrays.get("X").ok_or_else(|| missing("X"))?;
    let y = arrays.get("y").ok_or_else(|| missing("y"))?;
    if x.dims.len() != 4 || x.dims[..3] != [32, 32, 3] {
        return Err(DataError::format(
            path,
            128,
            format!("X has dimensions {:?}, expected 32×32×3×N", x.dims),
        ));
    }
    let n = x.dims[3];
    let bytes = x
        .bytes
        .as_ref()
        .ok_or_else(|| DataError::format(path, 128, "X is not stored as uint8"))?;
    let labels: Vec<u32> = y
        .as_f64()
        .into_iter()
        .map(|v| match v as u32 {
            10 => Ok(0),
            d @ 1..=9 if v.fract() == 0.0 => Ok(d),
            _ => Err(DataError::format(
                path,
                128,
                format!("label {v} is not 1–10"),
            )),
        })
        .collect::<Result<_, _>>()?;
    if labels.len() != n {
        return Err(DataError::format(
            path,
            128,
            format!("{} labels for {n} images", labels.len()),
        ));
    }
    let mut pixels = vec![0u8; n * 3 * 32 * 32];
    for img in 0..n {
        for ch in 0..3 {
            for r in 0..32 {
                for c in 0..32 {
                    pixels[((img * 3 + ch) * 32 + r) * 32 + c] =
                        bytes[r + 32 * c + 1024 * ch + 3072 * img];
                }
            }
        }
    }
    Ok(ImageSet::new(name, [3, 32, 32], pixels, Some(labels)))
}
