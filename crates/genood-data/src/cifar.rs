//! The binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky 2009).
//!
//! Each record is the label byte(s) followed by 3072 pixel bytes: the 1024 red values of the
//! 32×32 image in row-major order, then green, then blue, which is already `[C, H, W]`.

use std::path::Path;

use crate::error::DataError;
use crate::images::ImageSet;

/// Bytes of pixels per CIFAR image.
pub const IMAGE_BYTES: usize = 3 * 32 * 32;

/// Which CIFAR variant a file holds; the variant fixes the label bytes per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarKind {
    /// One label byte (0–9).
    Cifar10,
    /// A coarse (0–19) and a fine (0–99) label byte; the fine label is kept.
    Cifar100,
}

impl CifarKind {
    fn label_bytes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 1,
            CifarKind::Cifar100 => 2,
        }
    }

    fn max_label(self) -> u8 {
        match self {
            CifarKind::Cifar10 => 9,
            CifarKind::Cifar100 => 99,
        }
    }
}

/// Reads CIFAR binary files, concatenated in the given order, as one set named `name`.
pub fn read_cifar(paths: &[&Path], kind: CifarKind, name: &str) -> Result<ImageSet, DataError> {
    let record = kind.label_bytes() + IMAGE_BYTES;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for &path in paths {
        let bytes = std::fs::read(path).map_err(DataError::io(path))?;
        if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
            let whole = bytes.len() / record;
            return Err(DataError::Truncated {
                path: path.into(),
                expected: ((whole + 1) * record) as u64,
                found: bytes.len() as u64,
            });
        }
        for (i, chunk) in bytes.chunks_exact(record).enumerate() {
            let label = chunk[kind.label_bytes() - 1];
            if label > kind.max_label() {
                let offset = (i * record + kind.label_bytes() - 1) as u64;
                return Err(DataError::format(
                    path,
                    offset,
                    format!("label {label} out of range"),
                ));
            }
            labels.push(label as u32);
            pixels.extend_from_slice(&chunk[kind.label_bytes()..]);
        }
    }
    Ok(ImageSet::new(name, [3, 32, 32], pixels, Some(labels)))
}
