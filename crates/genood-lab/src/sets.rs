//! Data sets by name: fetching them, and a set checked against a model with the images of it
//! to score.

use std::path::Path;

use genood_data::fetch::{FetchOptions, fetch};
use genood_data::{Conform, DataSource, Dataset, ImageSet, SetSpec};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::error::LabError;
use crate::progress::Progress;

/// A whole set and the images of it to score.
#[derive(Debug, Clone)]
pub struct Subset {
    /// The set as parsed from its name.
    pub spec: SetSpec,
    /// Every image of the set.
    pub set: ImageSet,
    /// Indices of the images to score, in scoring order.
    pub indices: Vec<usize>,
}

/// Set `spec` from `data`, checked against the model's image `shape`, with the indices of
/// at most `limit` images to score: a subset seeded by `seed`, the same for every command
/// that takes a limit (a larger limit's subset contains a smaller one's). Scores keep each
/// image's index in the whole set, which also keys its noise, so a subset scores each image
/// as the whole set does.
pub fn load_subset(
    spec: &SetSpec,
    data: &DataSource,
    seed: u64,
    limit: Option<usize>,
    shape: [usize; 3],
) -> Result<Subset, LabError> {
    let set = spec.load(data, seed, Conform::to(shape))?;
    if set.is_empty() {
        return Err(LabError::set(
            spec,
            "the set has no images; nothing to score",
        ));
    }
    if set.shape != shape {
        return Err(LabError::set(
            spec,
            format!("images are {:?}, the model expects {shape:?}", set.shape),
        ));
    }
    let indices = set.sample_indices(
        limit.unwrap_or(usize::MAX),
        &mut StdRng::seed_from_u64(seed),
    );
    Ok(Subset {
        spec: spec.clone(),
        set,
        indices,
    })
}

/// What reading `set` left out (`--skip-bad`) or converted to the model's shape, one line
/// each, for the user.
pub fn loading_notes(set: &ImageSet) -> impl Iterator<Item = String> {
    skipped_note(set).into_iter().chain(converted_note(set))
}

/// "SET: left out N unreadable files: …" when `--skip-bad` left files out of `set`.
fn skipped_note(set: &ImageSet) -> Option<String> {
    (!set.skipped.is_empty()).then(|| {
        format!(
            "{}: left out {} unreadable file{} (--skip-bad): {}",
            set.name,
            set.skipped.len(),
            if set.skipped.len() == 1 { "" } else { "s" },
            set.skipped.join(", ")
        )
    })
}

/// "SET: converted N images from 3×32×32 to 1×28×28 to fit the model" when reading `set`
/// converted images (a folder's files or an array of another shape).
fn converted_note(set: &ImageSet) -> Option<String> {
    let shape = |[c, h, w]: [usize; 3]| format!("{c}×{h}×{w}");
    (!set.converted_from.is_empty()).then(|| {
        let from: Vec<String> = set
            .converted_from
            .iter()
            .map(|&(s, n)| format!("{n} from {}", shape(s)))
            .collect();
        format!(
            "{}: converted images to {} (cropped to its aspect ratio, resized, made {}) to fit the model: {}",
            set.name,
            shape(set.shape),
            if set.shape[0] == 1 { "grey" } else { "RGB" },
            from.join(", ")
        )
    })
}

/// Keeps images handed over in memory as a `.npy` file under `data_dir/arrays`, named by
/// their SHA-256, and returns the spec that reads them back: a run trained on them names
/// that file in its config, so it can be resumed, scored and reported from the command line.
/// The same images give the same file, written once (atomically).
pub fn keep_array(set: &ImageSet, data_dir: &Path) -> Result<SetSpec, LabError> {
    let [c, h, w] = set.shape;
    let npy = genood_data::npz::encode_npy("|u1", &[set.len(), c, h, w], &set.pixels);
    let digest = genood_data::checksum::sha256_hex(&npy);
    let path = data_dir
        .join("arrays")
        .join(format!("{}.npy", &digest[..16]));
    if !path.exists() {
        genood_data::atomic::write_atomically(&path, &npy).map_err(LabError::io(&path))?;
    }
    Ok(SetSpec::Array {
        path: std::path::absolute(&path).map_err(LabError::io(&path))?,
        npz: false,
        key: None,
    })
}

/// Fetches the data sets called `names` into `data_dir` (checking published checksums),
/// reporting each step through `progress`.
pub fn fetch_sets(
    names: &[String],
    data_dir: &Path,
    options: &FetchOptions,
    progress: &mut dyn Progress,
) -> Result<(), LabError> {
    for name in names {
        let dataset = Dataset::parse(name)?;
        fetch(dataset, data_dir, options, &mut |line| progress.note(line))?;
    }
    Ok(())
}
