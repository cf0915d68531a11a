//! Naming a set on the command line: `NAME:SPLIT`, `folder:PATH`, or `KIND/SPEC` for a
//! synthetic set derived from another (e.g. `inverted/mnist:test`, `gray=0.5/fashion-mnist:test`).

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::catalog::Dataset;
use crate::error::DataError;
use crate::folder::{image_files, read_images};
use crate::images::ImageSet;
use crate::synthetic::Synthetic;

/// Side of the square that images from a folder are resized to.
pub const FOLDER_IMAGE_SIZE: u32 = 32;

/// A parsed set name.
#[derive(Debug, Clone, PartialEq)]
pub enum SetSpec {
    /// A split of a known set.
    Real {
        /// The set.
        dataset: Dataset,
        /// The split.
        split: String,
    },
    /// Every PNG/JPEG in a folder, centre-cropped to a square and resized to 32×32 RGB.
    Folder(PathBuf),
    /// A synthetic set made from a base set.
    Synthetic {
        /// How it is made.
        kind: Synthetic,
        /// The set it is made from.
        base: Box<SetSpec>,
    },
}

impl SetSpec {
    /// Parses a set name.
    pub fn parse(text: &str) -> Result<SetSpec, DataError> {
        if let Some(path) = text.strip_prefix("folder:") {
            return Ok(SetSpec::Folder(PathBuf::from(path)));
        }
        if let Some((kind, base)) = text.split_once('/') {
            let kind = Synthetic::parse(kind).ok_or_else(|| DataError::Unknown {
                name: text.into(),
                hint: "synthetic kinds: constant, uniform-noise, gaussian-noise, inverted, gray=ALPHA (0–1)".into(),
            })?;
            return Ok(SetSpec::Synthetic {
                kind,
                base: Box::new(SetSpec::parse(base)?),
            });
        }
        let (name, split) = text.split_once(':').ok_or_else(|| DataError::Unknown {
            name: text.into(),
            hint: "name a split, e.g. fashion-mnist:test".into(),
        })?;
        let dataset = Dataset::parse(name)?;
        if !dataset.splits().contains(&split) {
            return Err(DataError::Unknown {
                name: text.into(),
                hint: format!("{name} has splits {}", dataset.splits().join(", ")),
            });
        }
        Ok(SetSpec::Real {
            dataset,
            split: split.into(),
        })
    }

    /// The canonical text of this spec.
    pub fn label(&self) -> String {
        match self {
            SetSpec::Real { dataset, split } => format!("{}:{split}", dataset.name()),
            SetSpec::Folder(path) => format!("folder:{}", path.display()),
            SetSpec::Synthetic { kind, base } => format!("{}/{}", kind.label(), base.label()),
        }
    }

    /// Loads the set; synthetic sets draw their randomness from `seed`.
    pub fn load(&self, data_dir: &Path, seed: u64) -> Result<ImageSet, DataError> {
        match self {
            SetSpec::Real { dataset, split } => dataset.load(split, data_dir),
            SetSpec::Folder(path) => {
                read_images(&image_files(path)?, None, FOLDER_IMAGE_SIZE, &self.label())
            }
            SetSpec::Synthetic { kind, base } => {
                let base = base.load(data_dir, seed)?;
                Ok(kind.apply(&base, &mut StdRng::seed_from_u64(seed)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_form() {
        for text in [
            "fashion-mnist:test",
            "svhn:train",
            "inverted/mnist:test",
            "gray=0.5/cifar10:test",
            "folder:/tmp/x",
        ] {
            assert_eq!(SetSpec::parse(text).unwrap().label(), text);
        }
    }

    #[test]
    fn rejects_unknown_names_and_splits() {
        for text in [
            "mnist",
            "imagenet:test",
            "svhn:valid",
            "blurred/mnist:test",
            "gray=2/mnist:test",
            "gray=-0/mnist:test",
        ] {
            assert!(SetSpec::parse(text).is_err(), "{text}");
        }
    }
}
