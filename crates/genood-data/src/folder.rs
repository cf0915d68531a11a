//! Folders of PNG or JPEG images, and CelebA's aligned faces.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::error::DataError;
use crate::images::ImageSet;

/// CelebA aligned faces are 178×218; genood takes the central 140×140 square (19 pixels in
/// from the sides, 39 from the top), which holds the face, then resizes it to 32×32.
pub const CELEBA_CROP: (u32, u32, u32) = (19, 39, 140);

/// Image files (`.png`, `.jpg`, `.jpeg`, any case) directly in `dir`, sorted by name.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(DataError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Decodes one image, crops it (`(left, top, side)`, or the central square when `None`) and
/// resizes it to `size × size` RGB, returned as `[3, size, size]` bytes.
pub fn load_square_rgb(
    path: &Path,
    crop: Option<(u32, u32, u32)>,
    size: u32,
) -> Result<Vec<u8>, DataError> {
    let decoded = image::open(path)
        .map_err(|e| DataError::format(path, 0, format!("cannot decode image: {e}")))?;
    let rgb = decoded.to_rgb8();
    let (w, h) = rgb.dimensions();
    let (left, top, side) = crop.unwrap_or_else(|| {
        let side = w.min(h);
        ((w - side) / 2, (h - side) / 2, side)
    });
    if left + side > w || top + side > h {
        return Err(DataError::content(
            path,
            format!("image is {w}×{h}, too small for a {side}×{side} crop at ({left}, {top})"),
        ));
    }
    let cropped = image::imageops::crop_imm(&rgb, left, top, side, side).to_image();
    // Triangle (bilinear) filtering averages over the source pixels when shrinking.
    let resized = image::imageops::resize(&cropped, size, size, FilterType::Triangle);
    let s = size as usize;
    let mut out = vec![0u8; 3 * s * s];
    for (x, y, p) in resized.enumerate_pixels() {
        for c in 0..3 {
            out[(c * s + y as usize) * s + x as usize] = p[c];
        }
    }
    Ok(out)
}

/// Reads `files` as one `[3, size, size]` set.
pub fn read_images(
    files: &[PathBuf],
    crop: Option<(u32, u32, u32)>,
    size: u32,
    name: &str,
) -> Result<ImageSet, DataError> {
    let mut pixels = Vec::with_capacity(files.len() * 3 * (size * size) as usize);
    for file in files {
        pixels.extend(load_square_rgb(file, crop, size)?);
    }
    if pixels.is_empty() {
        return Err(DataError::content(name, "no PNG or JPEG images found"));
    }
    Ok(ImageSet::new(
        name,
        [3, size as usize, size as usize],
        pixels,
        None,
    ))
}

/// The CelebA split (`0` train, `1` valid, `2` test) from `list_eval_partition.txt`.
pub fn celeba_split(dir: &Path, partition: u8) -> Result<Vec<PathBuf>, DataError> {
    let list = dir.join("list_eval_partition.txt");
    let text = std::fs::read_to_string(&list).map_err(DataError::io(&list))?;
    let mut files = Vec::new();
    let mut offset = 0u64;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next().map(str::parse::<u8>)) {
            (Some(file), Some(Ok(p))) => {
                if p == partition {
                    files.push(dir.join("img_align_celeba").join(file));
                }
            }
            (None, _) => {}
            _ => {
                return Err(DataError::format(
                    &list,
                    offset,
                    format!("bad line `{line}`"),
                ));
            }
        }
        offset += line.len() as u64 + 1;
    }
    Ok(files)
}
