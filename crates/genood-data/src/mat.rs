//! Numeric arrays from MATLAB level-5 `.mat` files (the format of SVHN's cropped digits),
//! including zlib-compressed elements.
//!
//! Layout: a 128-byte header (text, subsystem offset, version, endian indicator `IM` for
//! little-endian), then data elements, each a tag (type, byte count) and data padded to 8
//! bytes; a small element packs its type and size into one 4-byte word. A matrix element
//! (`miMATRIX`) holds array flags, dimensions, name and the real part, in column-major order.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::error::DataError;

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

/// The real part of a numeric MATLAB array, column-major.
#[derive(Debug, Clone, PartialEq)]
pub struct MatArray {
    /// Dimensions as MATLAB lists them (rows first).
    pub dims: Vec<usize>,
    /// Values as stored when they are bytes (kept exact and compact).
    pub bytes: Option<Vec<u8>>,
    /// Values converted to `f64` for every other storage type.
    pub values: Option<Vec<f64>>,
}

impl MatArray {
    /// Every value as `f64`, whatever the storage type.
    pub fn as_f64(&self) -> Vec<f64> {
        match (&self.bytes, &self.values) {
            (Some(b), _) => b.iter().map(|&v| v as f64).collect(),
            (None, Some(v)) => v.clone(),
            (None, None) => Vec::new(),
        }
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Offset of `bytes[0]` in the file, for error messages (0 inside decompressed data).
    base: u64,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn error(&self, reason: impl Into<String>) -> DataError {
        DataError::format(self.path, self.base + self.pos as u64, reason)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DataError> {
        if self.pos + n > self.bytes.len() {
            return Err(DataError::Truncated {
                path: self.path.into(),
                expected: self.base + (self.pos + n) as u64,
                found: self.base + self.bytes.len() as u64,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, DataError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads one element: its type and its data (padding skipped).
    fn element(&mut self) -> Result<(u32, &'a [u8]), DataError> {
        let first = self.u32()?;
        if first >> 16 != 0 {
            // Small data element: size in the upper half, data in the next 4 bytes.
            let size = (first >> 16) as usize;
            if size > 4 {
                return Err(self.error("small data element larger than 4 bytes"));
            }
            let data = self.take(4)?;
            return Ok((first & 0xffff, &data[..size]));
        }
        let size = self.u32()? as usize;
        let data = self.take(size)?;
        if first != MI_COMPRESSED {
            let padding = (8 - size % 8) % 8;
            self.take(padding.min(self.bytes.len() - self.pos))?;
        }
        Ok((first, data))
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

fn numbers(kind: u32, data: &[u8], cursor: &Cursor) -> Result<Vec<f64>, DataError> {
    fn chunks<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> f64) -> Vec<f64> {
        data.chunks_exact(N)
            .map(|c| f(c.try_into().expect("chunk of N bytes")))
            .collect()
    }
    Ok(match kind {
        MI_INT8 => data.iter().map(|&b| b as i8 as f64).collect(),
        MI_UINT8 => data.iter().map(|&b| b as f64).collect(),
        MI_INT16 => chunks(data, |b| i16::from_le_bytes(b) as f64),
        MI_UINT16 => chunks(data, |b| u16::from_le_bytes(b) as f64),
        MI_INT32 => chunks(data, |b| i32::from_le_bytes(b) as f64),
        MI_UINT32 => chunks(data, |b| u32::from_le_bytes(b) as f64),
        MI_SINGLE => chunks(data, |b| f32::from_le_bytes(b) as f64),
        MI_DOUBLE => chunks(data, f64::from_le_bytes),
        MI_INT64 => chunks(data, |b| i64::from_le_bytes(b) as f64),
        MI_UINT64 => chunks(data, |b| u64::from_le_bytes(b) as f64),
        other => return Err(cursor.error(format!("unsupported numeric storage type {other}"))),
    })
}

fn read_matrix(data: &[u8], base: u64, path: &Path) -> Result<(String, MatArray), DataError> {
    let mut cursor = Cursor {
        bytes: data,
        pos: 0,
        base,
        path,
    };
    let (_, _flags) = cursor.element()?;
    let (dims_kind, dims_data) = cursor.element()?;
    if dims_kind != MI_INT32 {
        return Err(cursor.error("matrix dimensions are not int32"));
    }
    let dims = dims_data
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect::<Vec<_>>();
    let (_, name) = cursor.element()?;
    let name = String::from_utf8_lossy(name).into_owned();
    let (kind, real) = cursor.element()?;
    let count: usize = dims.iter().product();
    let array = if kind == MI_UINT8 {
        MatArray {
            dims,
            bytes: Some(real.to_vec()),
            values: None,
        }
    } else {
        MatArray {
            dims,
            bytes: None,
            values: Some(numbers(kind, real, &cursor)?),
        }
    };
    let stored = array
        .bytes
        .as_ref()
        .map_or_else(|| array.values.as_ref().map_or(0, Vec::len), Vec::len);
    if stored != count {
        return Err(cursor.error(format!(
            "array `{name}` holds {stored} values, its dimensions say {count}"
        )));
    }
    Ok((name, array))
}

fn read_elements(
    bytes: &[u8],
    base: u64,
    path: &Path,
    out: &mut HashMap<String, MatArray>,
) -> Result<(), DataError> {
    let mut cursor = Cursor {
        bytes,
        pos: 0,
        base,
        path,
    };
    while !cursor.at_end() {
        let start = base + cursor.pos as u64;
        let (kind, data) = cursor.element()?;
        match kind {
            MI_COMPRESSED => {
                let mut inflated = Vec::new();
                flate2::read::ZlibDecoder::new(data)
                    .read_to_end(&mut inflated)
                    .map_err(|e| {
                        DataError::format(path, start, format!("corrupt compressed element: {e}"))
                    })?;
                // Offsets inside a compressed element are reported from its start.
                read_elements(&inflated, start, path, out)?;
            }
            MI_MATRIX => {
                let (name, array) = read_matrix(data, start + 8, path)?;
                out.insert(name, array);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads every numeric array of a level-5 `.mat` file, by variable name.
pub fn read_mat(path: &Path) -> Result<HashMap<String, MatArray>, DataError> {
    let bytes = std::fs::read(path).map_err(DataError::io(path))?;
    if bytes.len() < 128 {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: 128,
            found: bytes.len() as u64,
        });
    }
    if &bytes[126..128] != b"IM" {
        return Err(DataError::format(
            path,
            126,
            "not a little-endian MATLAB 5 file (endian indicator must be `IM`; v7.3 HDF5 files are not supported)",
        ));
    }
    let mut out = HashMap::new();
    read_elements(&bytes[128..], 128, path, &mut out)?;
    Ok(out)
}

/// Writes arrays as an uncompressed level-5 `.mat` file (for tests and conversions).
pub fn encode_mat(arrays: &[(&str, &[usize], MatData)]) -> Vec<u8> {
    fn element(out: &mut Vec<u8>, kind: u32, data: &[u8]) {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        out.resize(out.len() + (8 - data.len() % 8) % 8, 0);
    }
    let mut out = vec![b' '; 116];
    out[..10].copy_from_slice(b"MATLAB 5.0");
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&0x0100u16.to_le_bytes());
    out.extend_from_slice(b"IM");
    for (name, dims, data) in arrays {
        let mut body = Vec::new();
        let class: u32 = match data {
            MatData::U8(_) => 9,
            MatData::F64(_) => 6,
        };
        element(
            &mut body,
            MI_UINT32,
            &[class.to_le_bytes(), 0u32.to_le_bytes()].concat(),
        );
        let dims_bytes: Vec<u8> = dims
            .iter()
            .flat_map(|&d| (d as i32).to_le_bytes())
            .collect();
        element(&mut body, MI_INT32, &dims_bytes);
        element(&mut body, MI_INT8, name.as_bytes());
        match data {
            MatData::U8(v) => element(&mut body, MI_UINT8, v),
            MatData::F64(v) => {
                let raw: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                element(&mut body, MI_DOUBLE, &raw)
            }
        }
        element(&mut out, MI_MATRIX, &body);
    }
    out
}

/// Data for [`encode_mat`].
#[derive(Debug, Clone, Copy)]
pub enum MatData<'a> {
    /// `uint8` values.
    U8(&'a [u8]),
    /// `double` values.
    F64(&'a [f64]),
}

/// Wraps an encoded `.mat` file's elements in one zlib-compressed element, as MATLAB's
/// `save -v7` does (for tests).
pub fn compress_mat(encoded: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = encoded[..128].to_vec();
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&encoded[128..]).expect("in-memory write");
    let compressed = encoder.finish().expect("in-memory write");
    out.extend_from_slice(&MI_COMPRESSED.to_le_bytes());
    out.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    out.extend_from_slice(&compressed);
    out
}
