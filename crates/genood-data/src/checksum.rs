//! Published checksums of downloaded archives.

use std::path::Path;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::error::DataError;

/// The SHA-256 of `bytes`, lower-case hex: how genood names a file's content (weights in a
/// manifest, a job's inputs, a set's cache key).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Checksum::Sha256("").digest(bytes)
}

/// A published digest, lower-case hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// SHA-256 (the registry archives).
    Sha256(&'static str),
    /// MD5 (what the canonical data set pages publish).
    Md5(&'static str),
}

impl Checksum {
    fn algorithm(self) -> &'static str {
        match self {
            Checksum::Sha256(_) => "sha256",
            Checksum::Md5(_) => "md5",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Checksum::Sha256(d) | Checksum::Md5(d) => d,
        }
    }

    /// The digest of `bytes` in this checksum's algorithm.
    pub fn digest(self, bytes: &[u8]) -> String {
        let raw: Vec<u8> = match self {
            Checksum::Sha256(_) => Sha256::digest(bytes).to_vec(),
            Checksum::Md5(_) => Md5::digest(bytes).to_vec(),
        };
        raw.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Checks the file at `path`; on a mismatch the file is removed, so no corrupt archive is
    /// ever left in the cache, and the error names both digests.
    pub fn verify(self, path: &Path) -> Result<(), DataError> {
        let bytes = std::fs::read(path).map_err(DataError::io(path))?;
        let actual = self.digest(&bytes);
        if actual == self.expected() {
            return Ok(());
        }
        let _ = std::fs::remove_file(path);
        Err(DataError::Checksum {
            path: path.into(),
            algorithm: self.algorithm(),
            expected: self.expected().into(),
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_of_abc() {
        assert_eq!(
            Checksum::Sha256("").digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            Checksum::Md5("").digest(b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}
