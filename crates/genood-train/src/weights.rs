//! Model weights as safetensors: one `F32` tensor per parameter, named by its dotted module
//! path, in the parameter's own shape (see docs/format.md).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::module::Module;
use genood_data::atomic::write_atomically;
use genood_flows::host::{tensor_from_f32, to_f32_vec};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::params::{for_each_parameter, map_parameters};

/// Why a safetensors file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file.
    #[error("{path}: not a valid safetensors file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The file does not fit the model built from the config.
    #[error("{path}: tensor `{name}`: {reason}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Missing, wrong shape or wrong dtype.
        reason: String,
    },
}

/// Named `f32` tensors with their shapes, in name order.
pub type NamedTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Every float parameter of `module`, read back to the host.
pub fn named_tensors<M: Module>(module: &M) -> NamedTensors {
    let mut out = NamedTensors::new();
    for_each_parameter(module, |path, value, shape| {
        out.insert(path.to_string(), (shape, to_f32_vec(value)));
    });
    out
}

/// Writes named tensors and string metadata as one safetensors file, atomically.
pub fn write_safetensors(
    path: &Path,
    tensors: &NamedTensors,
    metadata: HashMap<String, String>,
) -> Result<(), WeightsError> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), raw, shape.clone())
        })
        .collect();
    let views = bytes.iter().map(|(name, raw, shape)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), raw).expect("consistent sizes");
        (name.clone(), view)
    });
    let serialized =
        safetensors::serialize(views, Some(metadata)).map_err(|e| WeightsError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    write_atomically(path, &serialized).map_err(|source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a safetensors file of `F32` tensors and its string metadata.
pub fn read_safetensors(
    path: &Path,
) -> Result<(NamedTensors, HashMap<String, String>), WeightsError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_safetensors(path, &bytes)
}

/// [`read_safetensors`] of bytes already read from `path` (named in errors).
pub fn parse_safetensors(
    path: &Path,
    bytes: &[u8],
) -> Result<(NamedTensors, HashMap<String, String>), WeightsError> {
    let format = |e: safetensors::SafeTensorError| WeightsError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(format)?;
    let parsed = SafeTensors::deserialize(bytes).map_err(format)?;
    let mut tensors = NamedTensors::new();
    for (name, view) in parsed.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(WeightsError::Mismatch {
                path: path.to_path_buf(),
                name,
                reason: format!("dtype {:?}, expected F32", view.dtype()),
            });
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok((tensors, metadata.metadata().clone().unwrap_or_default()))
}

/// Saves every float parameter of `module` to `path`, atomically.
pub fn save_weights<M: Module>(module: &M, path: &Path) -> Result<(), WeightsError> {
    write_safetensors(path, &named_tensors(module), HashMap::new())
}

/// Replaces every float parameter of `module` by the tensor of the same name in `path`.
/// Fails, naming the tensor, when one is missing, has another shape, or is not used.
pub fn load_weights<M: Module>(module: M, path: &Path) -> Result<M, WeightsError> {
    let (tensors, _) = read_safetensors(path)?;
    weights_into(module, path, tensors)
}

/// [`load_weights`] from the tensors of `path`, already read.
pub fn weights_into<M: Module>(
    module: M,
    path: &Path,
    mut tensors: NamedTensors,
) -> Result<M, WeightsError> {
    let mut problem: Option<(String, String)> = None;
    let module = map_parameters(module, |name, current, expected| {
        match tensors.remove(name) {
            Some((shape, values)) if shape == expected => {
                if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                    let reason = format!("element {i} is {}: the weights are damaged", values[i]);
                    problem.get_or_insert((name.into(), reason));
                }
                tensor_from_f32(values, [current.dims()[0]], &current.device())
            }
            Some((shape, _)) => {
                let reason = format!("shape {shape:?}, the model expects {expected:?}");
                problem.get_or_insert((name.into(), reason));
                current
            }
            None => {
                problem.get_or_insert((name.into(), "missing".into()));
                current
            }
        }
    });
    if let Some(name) = tensors.keys().next() {
        problem.get_or_insert((name.clone(), "not a parameter of this model".into()));
    }
    match problem {
        Some((name, reason)) => Err(WeightsError::Mismatch {
            path: path.to_path_buf(),
            name,
            reason,
        }),
        None => Ok(module),
    }
}
