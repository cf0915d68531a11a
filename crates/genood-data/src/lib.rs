//! Real image data sets for genood: readers for their published formats, fetching with
//! checksums, synthetic out-of-distribution sets.
//!
//! Images stay `u8` (`[N, C, H, W]` order) until a model's own preprocessing; readers never
//! normalise. Every error names the file (and where it can, the byte offset).

pub mod archive;
pub mod atomic;
pub mod catalog;
pub mod checksum;
pub mod cifar;
pub mod error;
pub mod fetch;
pub mod folder;
pub mod idx;
pub mod images;
pub mod mat;
pub mod memory;
pub mod moments;
pub mod npz;
pub mod spec;
pub mod svhn;
pub mod synthetic;
#[cfg(feature = "testing")]
pub mod testing;

pub use catalog::{Dataset, default_data_dir};
pub use error::DataError;
pub use folder::Conform;
pub use images::ImageSet;
pub use spec::{DataSource, SetSpec};
