//! Naming a set on the command line: `NAME:SPLIT`, `folder:PATH`, `npy:PATH`,
//! `npz:PATH[:KEY]`, or `KIND/SPEC` for a synthetic set derived from another (e.g.
//! `inverted/mnist:test`, `gray=0.5/fashion-mnist:test`).

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::catalog::Dataset;
use crate::error::DataError;
use crate::folder::{Conform, read_folder};
use crate::images::ImageSet;
use crate::npz::read_image_array;
use crate::synthetic::Synthetic;

/// Where sets are read from: the cache of named data sets, and how strictly folders are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSource {
    /// The cache folder of the named data sets (`genood fetch` fills it).
    pub dir: PathBuf,
    /// Leave out image files that cannot be decoded (listed in the set's `skipped`) instead of
    /// refusing their folder.
    pub skip_bad: bool,
}

impl DataSource {
    /// Named sets from `dir`; folders read strictly.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            skip_bad: false,
        }
    }
}

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
    /// Every PNG/JPEG under a folder, sub-folders included ([`read_folder`]).
    Folder(PathBuf),
    /// A `uint8` image array in a `.npy` file, or in an `.npz` archive under a key.
    Array {
        /// The `.npy` or `.npz` file.
        path: PathBuf,
        /// Whether it is an `.npz` archive (`npz:`), not a bare `.npy` array.
        npz: bool,
        /// The `.npz` member; `None` for `.npy`, or for an archive of one array.
        key: Option<String>,
    },
    /// Images a caller holds in memory (a Python array), by the name it gave them
    /// (`memory:NAME`): they are scored where they are handed over and cannot be read by name.
    Memory(String),
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
        if let Some(path) = text.strip_prefix("npy:") {
            return Ok(SetSpec::Array {
                path: PathBuf::from(path),
                npz: false,
                key: None,
            });
        }
        if let Some(name) = text.strip_prefix("memory:") {
            return Ok(SetSpec::Memory(name.into()));
        }
        if let Some(rest) = text.strip_prefix("npz:") {
            let (path, key) = match rest.rsplit_once(':') {
                Some((path, key)) if path.ends_with(".npz") => (path, Some(key.to_string())),
                _ => (rest, None),
            };
            return Ok(SetSpec::Array {
                path: PathBuf::from(path),
                npz: true,
                key,
            });
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
            SetSpec::Array {
                path, npz: false, ..
            } => format!("npy:{}", path.display()),
            SetSpec::Array { path, key, .. } => match key {
                Some(key) => format!("npz:{}:{key}", path.display()),
                None => format!("npz:{}", path.display()),
            },
            SetSpec::Memory(name) => format!("memory:{name}"),
            SetSpec::Synthetic { kind, base } => format!("{}/{}", kind.label(), base.label()),
        }
    }

    /// The error of reading a [`SetSpec::Memory`] set by name.
    fn held_in_memory(&self) -> DataError {
        DataError::Unknown {
            name: self.label(),
            hint: "it names images held in memory by the caller; pass the array itself".into(),
        }
    }

    /// A short name for titles and legends: a named split as is, a folder or array by its
    /// file name (`folder:/data/cats` → `cats`).
    pub fn display_name(&self) -> String {
        let file_name = |path: &Path| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string())
        };
        match self {
            SetSpec::Real { .. } => self.label(),
            SetSpec::Memory(name) => name.clone(),
            SetSpec::Folder(path) => file_name(path),
            SetSpec::Array { path, key, .. } => match key {
                Some(key) => format!("{}:{key}", file_name(path)),
                None => file_name(path),
            },
            SetSpec::Synthetic { kind, base } => {
                format!("{}/{}", kind.label(), base.display_name())
            }
        }
    }

    /// Loads the set; synthetic sets draw their randomness from `seed`. A folder's images are
    /// brought to `conform` (other sets keep their shape, which the caller checks).
    pub fn load(
        &self,
        source: &DataSource,
        seed: u64,
        conform: Conform,
    ) -> Result<ImageSet, DataError> {
        match self {
            SetSpec::Real { dataset, split } => dataset.load(split, &source.dir),
            SetSpec::Folder(path) => read_folder(path, &self.label(), conform, source.skip_bad),
            SetSpec::Array { path, npz, key } => Ok(crate::folder::conform_set(
                read_image_array(path, *npz, key.as_deref(), &self.label())?,
                conform,
            )),
            SetSpec::Memory(_) => Err(self.held_in_memory()),
            SetSpec::Synthetic { kind, base } => {
                let base = base.load(source, seed, conform)?;
                Ok(kind.apply(&base, &mut StdRng::seed_from_u64(seed)))
            }
        }
    }

    /// Each set's canonical text, in order (for lists in messages and tables).
    pub fn labels(sets: &[SetSpec]) -> Vec<String> {
        sets.iter().map(SetSpec::label).collect()
    }

    /// The same set with its file's or folder's path made absolute (and free of `.` and
    /// `..`), so that a run that names it can be used from any working directory. Fails,
    /// naming the path, when it does not exist.
    pub fn absolute(&self) -> Result<SetSpec, DataError> {
        let absolute = |path: &PathBuf| std::fs::canonicalize(path).map_err(DataError::io(path));
        Ok(match self {
            SetSpec::Real { .. } | SetSpec::Memory(_) => self.clone(),
            SetSpec::Folder(path) => SetSpec::Folder(absolute(path)?),
            SetSpec::Array { path, npz, key } => SetSpec::Array {
                path: absolute(path)?,
                npz: *npz,
                key: key.clone(),
            },
            SetSpec::Synthetic { kind, base } => SetSpec::Synthetic {
                kind: *kind,
                base: Box::new(base.absolute()?),
            },
        })
    }

    /// The `[C, H, W]` a model of this set is built for: a named set's, an array's, or a
    /// folder's as `conform` makes it (reading only the image headers).
    pub fn native_shape(&self, conform: Conform) -> Result<[usize; 3], DataError> {
        match self {
            SetSpec::Real { dataset, .. } => Ok(dataset.shape()),
            SetSpec::Folder(path) => crate::folder::folder_shape(path, conform),
            SetSpec::Array { path, npz, key } => {
                Ok(read_image_array(path, *npz, key.as_deref(), &self.label())?.shape)
            }
            SetSpec::Memory(_) => Err(self.held_in_memory()),
            SetSpec::Synthetic { base, .. } => base.native_shape(conform),
        }
    }
}

impl std::str::FromStr for SetSpec {
    type Err = DataError;

    fn from_str(text: &str) -> Result<SetSpec, DataError> {
        SetSpec::parse(text)
    }
}

impl std::fmt::Display for SetSpec {
    /// The canonical text ([`SetSpec::label`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl serde::Serialize for SetSpec {
    /// As its canonical text, so files hold the name a user types.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.label())
    }
}

impl<'de> serde::Deserialize<'de> for SetSpec {
    /// From its text; an unknown name fails with the known ones listed.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SetSpec::parse(&text).map_err(serde::de::Error::custom)
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
            "npy:/tmp/x.npy",
            "npz:/tmp/x.npz",
            "npz:/tmp/x.npz:x_test",
        ] {
            let spec = SetSpec::parse(text).unwrap();
            assert_eq!(spec.label(), text);
            assert_eq!(spec.to_string(), text);
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(serde_json::from_str::<SetSpec>(&json).unwrap(), spec);
        }
        let err = serde_json::from_str::<SetSpec>("\"mnist:valid\"").unwrap_err();
        assert!(err.to_string().contains("mnist has splits"), "{err}");
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
