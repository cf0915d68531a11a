//! numpy arrays to the library's images and scores, and back.

use std::borrow::Cow;

use genood_data::npz::image_array;
use genood_data::{Conform, DataSource, ImageSet, SetSpec};
use genood_train::eval::ExampleScore;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::errors::{IntoPy, value_error};

/// The shapes images may have, for errors.
const SHAPES: &str = "uint8 images as N×H×W, N×H×W×C or N×C×H×W with C = 1 or 3";

/// The images of a uint8 numpy array, called `memory:<name>`; read in place when the array
/// is C-contiguous (one copy into the set), refused with the shapes expected otherwise.
pub fn images(array: &Bound<'_, PyAny>, name: &str) -> PyResult<ImageSet> {
    let label = SetSpec::Memory(name.into()).label();
    let Ok(array) = array.extract::<PyReadonlyArrayDyn<'_, u8>>() else {
        let described = match (array.getattr("dtype"), array.getattr("shape")) {
            (Ok(dtype), Ok(shape)) => format!("an array of dtype {dtype} and shape {shape}"),
            _ => format!("a {}", array.get_type().name()?),
        };
        return Err(value_error(format!(
            "{name}: expected {SHAPES}, got {described} (convert with .astype('uint8') after \
             checking the values are 0–255)"
        )));
    };
    let shape = array.shape().to_vec();
    // A Fortran-ordered or strided array is contiguous in no useful sense: copy it in C order.
    let bytes = match array.as_slice() {
        Ok(slice) if array.is_c_contiguous() => Cow::Borrowed(slice),
        _ => Cow::Owned(array.as_array().iter().copied().collect()),
    };
    image_array(&label, &shape, bytes).map_err(|reason| value_error(format!("{name}: {reason}")))
}

/// A set named by text (`fashion-mnist:test`, `folder:PATH`) or given as an array, with its
/// spec; folders are brought to `conform`.
pub fn set(
    value: &Bound<'_, PyAny>,
    name: &str,
    data: &DataSource,
    seed: u64,
    conform: Conform,
) -> PyResult<(SetSpec, ImageSet)> {
    if value.is_instance_of::<PyString>() {
        let spec: SetSpec = value.extract::<String>()?.parse().py()?;
        let images = spec.load(data, seed, conform).py()?;
        return Ok((spec, images));
    }
    Ok((SetSpec::Memory(name.into()), images(value, name)?))
}

/// A set's images as a uint8 array of shape N×C×H×W.
pub fn to_numpy<'py>(py: Python<'py>, set: &ImageSet) -> PyResult<Bound<'py, PyAny>> {
    let [c, h, w] = set.shape;
    let flat = PyArray1::from_slice(py, &set.pixels);
    Ok(flat.reshape([set.len(), c, h, w])?.into_any())
}

/// `{"log_p", "bpd", "parts": {name: values}}` of per-image scores, as float64 arrays.
pub fn scores_dict<'py>(py: Python<'py>, scores: &[ExampleScore]) -> PyResult<Bound<'py, PyDict>> {
    let column = |f: &dyn Fn(&ExampleScore) -> f64| PyArray1::from_iter(py, scores.iter().map(f));
    let dict = PyDict::new(py);
    dict.set_item("log_p", column(&|s| s.log_p))?;
    dict.set_item("bpd", column(&|s| s.bpd))?;
    let parts = PyDict::new(py);
    for (k, (name, _)) in scores
        .first()
        .map(|s| s.parts.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        parts.set_item(name, column(&|s| s.parts[k].1))?;
    }
    dict.set_item("parts", parts)?;
    Ok(dict)
}

/// Named statistics (`{name: values}`) as the library takes them.
pub fn parts(parts: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, Vec<f64>)>> {
    let Some(parts) = parts else {
        return Ok(Vec::new());
    };
    parts
        .iter()
        .map(|(name, values)| Ok((name.extract::<String>()?, values.extract::<Vec<f64>>()?)))
        .collect()
}
