//! NumPy `.npy` arrays, alone or inside `.npz` archives: images from a Python pipeline
//! (`npy:PATH`, `npz:PATH[:KEY]`), and downsampled ImageNet 32×32 (Chrabaszcz et al. 2017),
//! whose `data` rows hold 3072 bytes (red plane, green, blue, each row-major, so already
//! `[C, H, W]`) and whose `labels` run from 1 to 1000.

use std::io::Read;
use std::path::Path;

use crate::error::DataError;
use crate::images::ImageSet;

/// A C-ordered NumPy array: its shape and its values as `f64` (or raw bytes for `u1`).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape.
    pub shape: Vec<usize>,
    /// Raw values for `|u1` arrays.
    pub bytes: Option<Vec<u8>>,
    /// Values for every other supported dtype.
    pub values: Option<Vec<f64>>,
}

/// A `.npy` header: the Python dict literal NumPy writes,
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
#[derive(Debug, Clone, PartialEq)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// One value of a header's dict.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Reads a header's dict literal: exactly the keys `descr` (a string), `fortran_order` (a
/// bool) and `shape` (a tuple of non-negative integers), each once; spaces and trailing commas
/// as Python allows them.
fn parse_header(text: &str) -> Result<Header, String> {
    let mut at = Cursor { text, at: 0 };
    at.expect('{')?;
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    while !at.eat('}') {
        let key = match at.value()? {
            Value::Text(key) => key,
            other => return Err(format!("a key must be a string, not {other:?}")),
        };
        at.expect(':')?;
        let value = at.value()?;
        let slot_taken = match (key.as_str(), value) {
            ("descr", Value::Text(v)) => descr.replace(v).is_some(),
            ("fortran_order", Value::Bool(v)) => fortran_order.replace(v).is_some(),
            ("shape", Value::Tuple(v)) => shape.replace(v).is_some(),
            (key @ ("descr" | "fortran_order" | "shape"), v) => {
                return Err(format!("`{key}` cannot be {v:?}"));
            }
            (key, _) => return Err(format!("unknown key `{key}`")),
        };
        if slot_taken {
            return Err(format!("`{key}` given twice"));
        }
        if !at.eat(',') {
            at.expect('}')?;
            break;
        }
    }
    if !at.rest().trim().is_empty() {
        return Err(format!("`{}` after the dict", at.rest().trim()));
    }
    Ok(Header {
        descr: descr.ok_or("no `descr`")?,
        fortran_order: fortran_order.ok_or("no `fortran_order`")?,
        shape: shape.ok_or("no `shape`")?,
    })
}

/// A position in a header's text.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        self.at = self.text.len() - self.rest().trim_start().len();
    }

    /// Consumes `c` (after spaces) if it comes next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        let found = self.rest().starts_with(c);
        if found {
            self.at += c.len_utf8();
        }
        found
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.eat(c) {
            true => Ok(()),
            false => Err(format!("expected `{c}` at `{}`", self.rest())),
        }
    }

    /// A quoted string, `True`/`False`, or a tuple of integers.
    fn value(&mut self) -> Result<Value, String> {
        self.skip_space();
        let rest = self.rest();
        if let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let end = rest[1..]
                .find(quote)
                .ok_or_else(|| format!("unterminated string at `{rest}`"))?;
            self.at += end + 2;
            return Ok(Value::Text(rest[1..=end].to_string()));
        }
        for (word, value) in [("True", true), ("False", false)] {
            if rest.starts_with(word) {
                self.at += word.len();
                return Ok(Value::Bool(value));
            }
        }
        self.expect('(')?;
        let mut items = Vec::new();
        while !self.eat(')') {
            let digits: String = self
                .rest()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let item = digits
                .parse::<usize>()
                .map_err(|_| format!("not a dimension at `{}`", self.rest()))?;
            self.at += digits.len();
            items.push(item);
            if !self.eat(',') {
                self.expect(')')?;
                break;
            }
        }
        Ok(Value::Tuple(items))
    }
}

/// Parses `.npy` bytes (`path` and `member` name the source in errors).
pub fn parse_npy(bytes: &[u8], path: &Path, member: &str) -> Result<NpyArray, DataError> {
    let fail = |offset: u64, reason: String| {
        DataError::format(path, offset, format!("{member}: {reason}"))
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(fail(0, "not a .npy array".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(fail(6, format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| fail(start as u64, "truncated header".into()))?;
    let header = std::str::from_utf8(header)
        .map_err(|_| fail(start as u64, "the header is not text".into()))
        .and_then(|text| {
            parse_header(text).map_err(|e| fail(start as u64, format!("header: {e}")))
        })?;
    if header.fortran_order {
        return Err(fail(
            start as u64,
            "Fortran-ordered arrays are not supported".into(),
        ));
    }
    let (descr, shape) = (header.descr.as_str(), header.shape);
    let shape_text = format!("{shape:?}");
    let data = &bytes[start + header_len..];
    let width = match descr {
        "|u1" | "|i1" => 1,
        "<i2" | "<u2" => 2,
        "<i4" | "<u4" | "<f4" => 4,
        "<i8" | "<u8" | "<f8" => 8,
        other => return Err(fail(start as u64, format!("unsupported dtype {other}"))),
    };
    // A damaged or hostile header can name more elements than any memory holds.
    let count = shape
        .iter()
        .try_fold(width, |n: usize, &d| n.checked_mul(d))
        .map(|bytes| bytes / width)
        .ok_or_else(|| fail(start as u64, format!("shape `{shape_text}` is too large")))?;
    if data.len() < count * width {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: (start + header_len + count * width) as u64,
            found: bytes.len() as u64,
        });
    }
    let data = &data[..count * width];
    if descr == "|u1" {
        return Ok(NpyArray {
            shape,
            bytes: Some(data.to_vec()),
            values: None,
        });
    }
    let values = data
        .chunks_exact(width)
        .map(|b| match descr {
            "|i1" => b[0] as i8 as f64,
            "<i2" => i16::from_le_bytes([b[0], b[1]]) as f64,
            "<u2" => u16::from_le_bytes([b[0], b[1]]) as f64,
            "<i4" => i32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
            "<u4" => u32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
            "<f4" => f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64,
            "<i8" => i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64,
            "<u8" => u64::from_le_bytes(b.try_into().expect("8 bytes")) as f64,
            _ => f64::from_le_bytes(b.try_into().expect("8 bytes")),
        })
        .collect();
    Ok(NpyArray {
        shape,
        bytes: None,
        values: Some(values),
    })
}

/// Reads one member (`data` or `data.npy`) of an `.npz` archive.
pub fn read_npz_member(path: &Path, member: &str) -> Result<NpyArray, DataError> {
    let file = std::fs::File::open(path).map_err(DataError::io(path))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| DataError::content(path, format!("not a valid .npz (zip) archive: {e}")))?;
    let name = format!("{member}.npy");
    let mut entry = archive
        .by_name(&name)
        .map_err(|_| DataError::content(path, format!("no member `{name}`")))?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::content(path, format!("{name}: corrupt member: {e}")))?;
    parse_npy(&bytes, path, &name)
}

/// The names of an `.npz` archive's arrays (its members without `.npy`), in archive order.
pub fn npz_members(path: &Path) -> Result<Vec<String>, DataError> {
    let file = std::fs::File::open(path).map_err(DataError::io(path))?;
    let archive = zip::ZipArchive::new(file)
        .map_err(|e| DataError::content(path, format!("not a valid .npz (zip) archive: {e}")))?;
    Ok(archive
        .file_names()
        .map(|n| n.strip_suffix(".npy").unwrap_or(n).to_string())
        .collect())
}

/// A `uint8` image array as a set: the `.npy` file at `path`, or (`npz`) the archive's member
/// `npz_key`, which may be left out when the archive holds one array. Shapes: N×H×W (grey), N×H×W×C or N×C×H×W with
/// C = 1 or 3; a last axis of 1 or 3 is read as the channels.
pub fn read_image_array(
    path: &Path,
    npz: bool,
    npz_key: Option<&str>,
    name: &str,
) -> Result<ImageSet, DataError> {
    let array = if npz {
        let key = match npz_key {
            Some(key) => key.to_string(),
            None => match npz_members(path)?.as_slice() {
                [only] => only.clone(),
                members => {
                    return Err(DataError::content(
                        path,
                        format!(
                            "holds the arrays {}; name one as npz:PATH:KEY",
                            members.join(", ")
                        ),
                    ));
                }
            },
        };
        read_npz_member(path, &key)?
    } else {
        let bytes = std::fs::read(path).map_err(DataError::io(path))?;
        parse_npy(&bytes, path, "array")?
    };
    let bytes = array.bytes.ok_or_else(|| {
        DataError::content(
            path,
            "the array is not uint8 (convert with .astype('uint8'))",
        )
    })?;
    image_array(name, &array.shape, std::borrow::Cow::Owned(bytes))
        .map_err(|reason| DataError::content(path, reason))
}

/// The images of a `uint8` array of `shape` (N×H×W, N×H×W×C or N×C×H×W with C = 1 or 3; a
/// last axis of 1 or 3 is read as the channels) as a set called `name`; the rule for `npy:`
/// sets and for arrays handed over in memory. Channel-major pixels are taken as they are
/// (owned bytes are not copied), channel-last ones are reordered. The error says what shape
/// was expected.
pub fn image_array(
    name: &str,
    shape: &[usize],
    bytes: std::borrow::Cow<'_, [u8]>,
) -> Result<ImageSet, String> {
    let (shape, channels_last) = match shape[..] {
        [n, h, w] => ([n, 1, h, w], false),
        [n, h, w, c] if c == 1 || c == 3 => ([n, c, h, w], true),
        [n, c, h, w] if c == 1 || c == 3 => ([n, c, h, w], false),
        _ => {
            return Err(format!(
                "an array of shape {shape:?} is not images: expected N×H×W, N×H×W×C or N×C×H×W \
                 with C = 1 or 3"
            ));
        }
    };
    let [n, c, h, w] = shape;
    if n == 0 || h == 0 || w == 0 {
        return Err("the array holds no images".into());
    }
    if bytes.len() != n * c * h * w {
        return Err(format!(
            "the array has {} bytes, not the {} of its shape",
            bytes.len(),
            n * c * h * w
        ));
    }
    let pixels = if channels_last {
        bytes
            .chunks_exact(c * h * w)
            .flat_map(|image| crate::folder::channel_major(image, c))
            .collect()
    } else {
        bytes.into_owned()
    };
    Ok(ImageSet::new(name, [c, h, w], pixels, None))
}

/// Reads downsampled-ImageNet `.npz` files, concatenated, as a `[3, 32, 32]` set with labels
/// shifted to 0–999.
pub fn read_imagenet32(paths: &[&Path], name: &str) -> Result<ImageSet, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for &path in paths {
        let data = read_npz_member(path, "data")?;
        let bytes = data
            .bytes
            .ok_or_else(|| DataError::content(path, "data.npy is not uint8"))?;
        if data.shape.len() != 2 || data.shape[1] != 3072 {
            return Err(DataError::content(
                path,
                format!("data.npy has shape {:?}, expected (N, 3072)", data.shape),
            ));
        }
        let found = read_npz_member(path, "labels")?;
        let values = found.values.unwrap_or_else(|| {
            found
                .bytes
                .unwrap_or_default()
                .iter()
                .map(|&b| b as f64)
                .collect()
        });
        if values.len() != data.shape[0] {
            return Err(DataError::content(
                path,
                format!("{} labels for {} images", values.len(), data.shape[0]),
            ));
        }
        for v in values {
            if !(1.0..=1000.0).contains(&v) {
                return Err(DataError::content(path, format!("label {v} is not 1–1000")));
            }
            labels.push(v as u32 - 1);
        }
        pixels.extend_from_slice(&bytes);
    }
    Ok(ImageSet::new(name, [3, 32, 32], pixels, Some(labels)))
}

/// Serialises a `u8` or `i64` array as `.npy` version 1 (for tests and conversions).
pub fn encode_npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod header_tests {
    use super::*;

    #[test]
    fn numpys_headers_read_as_written() {
        // What `np.save` writes (version 1, padded with spaces to a multiple of 64, newline).
        let written = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 28, 28), }        \n";
        assert_eq!(
            parse_header(written),
            Ok(Header {
                descr: "<f8".into(),
                fortran_order: false,
                shape: vec![3, 28, 28],
            })
        );
        for (text, shape) in [
            (
                "{'descr': '|u1', 'fortran_order': False, 'shape': (7,), }",
                vec![7],
            ),
            (
                "{'shape': (), 'fortran_order': True, 'descr': \"<i4\"}",
                vec![],
            ),
            (
                "{ 'descr' : '|u1' , 'fortran_order' : False , 'shape' : ( 2 , 3 ) }",
                vec![2, 3],
            ),
        ] {
            assert_eq!(parse_header(text).map(|h| h.shape), Ok(shape), "{text}");
        }
    }

    #[test]
    fn malformed_headers_are_refused_with_the_reason() {
        for (text, reason) in [
            ("{'descr': '<f8', 'fortran_order': False}", "no `shape`"),
            (
                "{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
                "twice",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 'x'}",
                "unknown key",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}",
                "not a dimension",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': '(1,)'}",
                "`shape` cannot be",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2)} x",
                "after the dict",
            ),
            (
                "{'descr': '<f8, 'fortran_order': False, 'shape': (1,)}",
                "expected `}`",
            ),
            ("'descr': '<f8'", "expected `{`"),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2",
                "expected `)`",
            ),
        ] {
            let err = parse_header(text).unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }
}
