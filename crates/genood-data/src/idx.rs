//! The IDX format of MNIST and FashionMNIST, raw or gzipped.
//!
//! Header: two zero bytes, a type byte (`0x08` = u8), the number of dimensions, then each
//! dimension as a big-endian u32; the data follow.

use std::io::Read;
use std::path::Path;

use crate::error::DataError;

/// An IDX array of bytes: its dimensions and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The data, row-major.
    pub data: Vec<u8>,
}

/// Reads a whole file, gunzipping it when it starts with the gzip magic bytes.
pub fn read_maybe_gzipped(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(DataError::io(path))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::content(path, format!("corrupt gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses IDX bytes read from `path` (named in errors).
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: 4,
            found: bytes.len() as u64,
        });
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::format(
            path,
            0,
            "not an IDX file (magic must start with two zero bytes)",
        ));
    }
    if bytes[2] != 0x08 {
        return Err(DataError::format(
            path,
            2,
            format!("IDX type 0x{:02x} is not unsigned byte (0x08)", bytes[2]),
        ));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: header as u64,
            found: bytes.len() as u64,
        });
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    if let Some(axis) = dims.iter().position(|&d| d == 0) {
        return Err(DataError::format(
            path,
            (4 + 4 * axis) as u64,
            format!("IDX dimension {axis} is 0: the file holds no items"),
        ));
    }
    // Checked: a product that wrapped around would pass the size check below.
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|size| size.checked_add(header))
        .ok_or_else(|| {
            DataError::format(
                path,
                4,
                format!("IDX dimensions {dims:?} multiply past this machine's address space"),
            )
        })?;
    if bytes.len() < expected {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: expected as u64,
            found: bytes.len() as u64,
        });
    }
    if bytes.len() > expected {
        return Err(DataError::format(
            path,
            expected as u64,
            "trailing bytes after the IDX data",
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads an IDX file (raw or gzipped).
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    parse_idx(&read_maybe_gzipped(path)?, path)
}

/// Serialises an array of bytes as IDX (used to cache converted sets and in tests).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
