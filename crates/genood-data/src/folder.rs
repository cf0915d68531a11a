//! Folders of PNG or JPEG images (ImageFolder layout: class sub-folders give labels), and
//! CelebA's aligned faces.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::error::DataError;
use crate::images::ImageSet;

/// CelebA aligned faces are 178×218; genood takes the central 140×140 square (19 pixels in
/// from the sides, 39 from the top), which holds the face, then resizes it to 32×32.
pub const CELEBA_CROP: (u32, u32, u32) = (19, 39, 140);

/// The largest side a folder's images keep without an explicit size: a model of larger
/// images is rarely meant, and a damaged header must not ask for gigabytes.
pub const MAX_NATIVE_SIDE: usize = 1024;

/// The shape a folder's images are brought to; what is left `None` is the images' own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conform {
    /// 1 (grey) or 3 (RGB). Default: 1 when every image is grey, else 3.
    pub channels: Option<usize>,
    /// `[height, width]`: each image is centre-cropped to this aspect ratio, then resized.
    /// Default: the images' common size (images of different sizes need one).
    pub size: Option<[usize; 2]>,
}

impl Conform {
    /// Exactly `[channels, height, width]` (a model's input shape).
    pub fn to(shape: [usize; 3]) -> Self {
        Self {
            channels: Some(shape[0]),
            size: Some([shape[1], shape[2]]),
        }
    }
}

/// Image files (`.png`, `.jpg`, `.jpeg`, any case) under `dir`, sub-folders included, sorted
/// by path. Hidden entries (names starting with `.`) are left out.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    // Each directory is read once, however many links lead to it: a link to a folder above
    // it would otherwise read the same images again, down to the system's link limit.
    let mut visited = std::collections::HashSet::new();
    while let Some(folder) = pending.pop() {
        let real = std::fs::canonicalize(&folder).map_err(DataError::io(&folder))?;
        if !visited.insert(real) {
            continue;
        }
        for entry in std::fs::read_dir(&folder).map_err(DataError::io(&folder))? {
            let path = entry.map_err(DataError::io(&folder))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if is_image_file(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

/// Every image under `dir` as one set named `name`, brought to one shape by `conform`.
///
/// Images in class sub-folders (`dir/CLASS/…`, at any depth below) are labelled by their
/// class's position among the sorted class names, as torchvision's `ImageFolder` does; a
/// folder with images directly in it has no labels. Each image's path relative to `dir` is
/// kept. A file that cannot be decoded refuses the set with every such file named, unless
/// `skip_bad`, which leaves them out and lists them in the set's `skipped`.
pub fn read_folder(
    dir: &Path,
    name: &str,
    conform: Conform,
    skip_bad: bool,
) -> Result<ImageSet, DataError> {
    let (headers, mut bad) = headers(dir)?;
    let shape = target_shape(&headers, conform, dir)?;
    let needed = shape
        .iter()
        .fold(headers.len() as u128, |n, &d| n.saturating_mul(d as u128));
    crate::memory::check_available(needed).map_err(|e| {
        DataError::content(
            dir,
            format!(
                "its {} images at {}×{}×{} (--size, --channels) {e}",
                headers.len(),
                shape[0],
                shape[1],
                shape[2]
            ),
        )
    })?;
    let mut pixels = Vec::with_capacity(headers.len() * shape.iter().product::<usize>());
    let mut kept = Vec::with_capacity(headers.len());
    let mut converted = Vec::new();
    for (file, header) in headers {
        match image::open(&file) {
            Ok(decoded) => {
                pixels.extend(conform_image(&decoded, shape));
                let own = [
                    if header.grey { 1 } else { 3 },
                    header.height as usize,
                    header.width as usize,
                ];
                if own != shape {
                    converted.push(own);
                }
                kept.push(file);
            }
            Err(e) => bad.push((file, format!("cannot decode image: {e}"))),
        }
    }
    bad.sort();
    if !bad.is_empty() && !skip_bad {
        let list: Vec<String> = bad
            .iter()
            .map(|(file, reason)| format!("  {}: {reason}", file.display()))
            .collect();
        return Err(DataError::content(
            dir,
            format!(
                "{} of the image files cannot be read (pass --skip-bad to leave them out):\n{}",
                bad.len(),
                list.join("\n")
            ),
        ));
    }
    if kept.is_empty() {
        return Err(DataError::content(dir, "no image file could be read"));
    }
    let relative: Vec<String> = kept.iter().map(|f| relative_path(f, dir)).collect();
    let mut set = ImageSet::new(name, shape, pixels, class_labels(&relative));
    set.paths = Some(relative);
    set.skipped = bad.iter().map(|(f, _)| relative_path(f, dir)).collect();
    for own in converted {
        set.note_converted(own);
    }
    Ok(set)
}

/// `set` brought to the shape `conform` asks (what it leaves `None` stays the set's own),
/// each image converted as [`read_folder`] converts a file: an array of other images is
/// treated as the same images in a folder would be.
pub fn conform_set(set: ImageSet, conform: Conform) -> ImageSet {
    let [c, h, w] = set.shape;
    let [height, width] = conform.size.unwrap_or([h, w]);
    let shape = [conform.channels.unwrap_or(c), height, width];
    if shape == set.shape {
        return set;
    }
    let mut pixels = Vec::with_capacity(set.len() * shape.iter().product::<usize>());
    for i in 0..set.len() {
        let interleaved = channel_last(set.image(i), c);
        let image = if c == 1 {
            DynamicImage::ImageLuma8(
                image::GrayImage::from_raw(w as u32, h as u32, interleaved).expect("H×W bytes"),
            )
        } else {
            DynamicImage::ImageRgb8(
                image::RgbImage::from_raw(w as u32, h as u32, interleaved).expect("H×W×3 bytes"),
            )
        };
        pixels.extend(conform_image(&image, shape));
    }
    let mut converted = ImageSet::new(set.name, shape, pixels, set.labels);
    converted.paths = set.paths;
    converted.skipped = set.skipped;
    converted.converted_from = vec![([c, h, w], set.pixels.len() / (c * h * w))];
    converted
}

/// `[C, H, W]` bytes as interleaved `[H, W, C]`.
fn channel_last(planar: &[u8], channels: usize) -> Vec<u8> {
    let pixels = planar.len() / channels;
    let mut out = vec![0u8; planar.len()];
    for c in 0..channels {
        for (i, &v) in planar[c * pixels..(c + 1) * pixels].iter().enumerate() {
            out[i * channels + c] = v;
        }
    }
    out
}

/// The `[C, H, W]` [`read_folder`] gives the folder's images under `conform`, from their
/// headers alone.
pub fn folder_shape(dir: &Path, conform: Conform) -> Result<[usize; 3], DataError> {
    target_shape(&headers(dir)?.0, conform, dir)
}

/// A file and why it cannot be read.
type BadFile = (PathBuf, String);

/// Image files and their headers.
type Headers = Vec<(PathBuf, Header)>;

/// The headers of the image files under `dir`, and the files whose header cannot be read.
fn headers(dir: &Path) -> Result<(Headers, Vec<BadFile>), DataError> {
    let files = image_files(dir)?;
    if files.is_empty() {
        return Err(DataError::content(
            dir,
            "no PNG or JPEG images found (sub-folders included)",
        ));
    }
    let mut bad = Vec::new();
    let headers = files
        .into_iter()
        .filter_map(|file| match read_header(&file) {
            Ok(header) => Some((file, header)),
            Err(reason) => {
                bad.push((file, reason));
                None
            }
        })
        .collect();
    Ok((headers, bad))
}

/// What a file's header says: its size and whether it has colour.
struct Header {
    width: u32,
    height: u32,
    grey: bool,
}

fn read_header(file: &Path) -> Result<Header, String> {
    let decoder = ImageReader::open(file)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_decoder()
        .map_err(|e| format!("cannot decode image: {e}"))?;
    let (width, height) = decoder.dimensions();
    Ok(Header {
        width,
        height,
        grey: !decoder.color_type().has_color(),
    })
}

/// `[C, H, W]` from `conform`, filling in what it leaves open from the headers.
fn target_shape(
    headers: &[(PathBuf, Header)],
    conform: Conform,
    dir: &Path,
) -> Result<[usize; 3], DataError> {
    let channels = conform.channels.unwrap_or_else(|| {
        if headers.iter().all(|(_, h)| h.grey) {
            1
        } else {
            3
        }
    });
    let [height, width] = match conform.size {
        Some(size) => size,
        None => {
            let Some((first, h0)) = headers.first() else {
                return Ok([channels, 1, 1]);
            };
            if let Some((other, h)) = headers
                .iter()
                .find(|(_, h)| (h.width, h.height) != (h0.width, h0.height))
            {
                return Err(DataError::content(
                    dir,
                    format!(
                        "images differ in size ({} is {}×{}, {} is {}×{}); pass --size HxW to \
                         resize them all",
                        first.display(),
                        h0.height,
                        h0.width,
                        other.display(),
                        h.height,
                        h.width
                    ),
                ));
            }
            let side = h0.height.max(h0.width) as usize;
            if side > MAX_NATIVE_SIDE {
                return Err(DataError::content(
                    dir,
                    format!(
                        "images are {}×{} ({} is); pass --size HxW (at most {MAX_NATIVE_SIDE} \
                         on a side is kept without one)",
                        h0.height,
                        h0.width,
                        first.display()
                    ),
                ));
            }
            [h0.height as usize, h0.width as usize]
        }
    };
    Ok([channels, height, width])
}

/// `image` as `[C, H, W]` bytes of `shape`: centre-cropped to the shape's aspect ratio and
/// resized where its size differs, then made grey (ITU-R 601 luma) or RGB.
fn conform_image(image: &DynamicImage, shape: [usize; 3]) -> Vec<u8> {
    let [channels, height, width] = shape;
    let (w, h) = (image.width() as usize, image.height() as usize);
    let image = if (w, h) == (width, height) {
        image.clone()
    } else {
        // The largest centred window with the target's aspect ratio.
        let (cw, ch) = if w * height > h * width {
            (h * width / height, h)
        } else {
            (w, w * height / width)
        };
        let (cw, ch) = (cw.max(1), ch.max(1));
        // Triangle (bilinear) filtering averages over the source pixels when shrinking.
        image
            .crop_imm(
                ((w - cw) / 2) as u32,
                ((h - ch) / 2) as u32,
                cw as u32,
                ch as u32,
            )
            .resize_exact(width as u32, height as u32, FilterType::Triangle)
    };
    if channels == 1 {
        image.to_luma8().into_raw()
    } else {
        channel_major(&image.to_rgb8().into_raw(), 3)
    }
}

/// Interleaved `[H, W, C]` bytes as `[C, H, W]`.
pub fn channel_major(interleaved: &[u8], channels: usize) -> Vec<u8> {
    let pixels = interleaved.len() / channels;
    let mut out = vec![0u8; interleaved.len()];
    for (i, values) in interleaved.chunks_exact(channels).enumerate() {
        for (c, &v) in values.iter().enumerate() {
            out[c * pixels + i] = v;
        }
    }
    out
}

fn relative_path(file: &Path, dir: &Path) -> String {
    let relative = file.strip_prefix(dir).unwrap_or(file);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Labels from the first folder of each relative path (the class), numbered in sorted order;
/// `None` when some image lies directly in the folder.
fn class_labels(relative: &[String]) -> Option<Vec<u32>> {
    let classes: Vec<&str> = relative
        .iter()
        .map(|p| p.split_once('/').map(|(class, _)| class))
        .collect::<Option<_>>()?;
    let mut names = classes.clone();
    names.sort_unstable();
    names.dedup();
    Some(
        classes
            .iter()
            .map(|c| names.binary_search(c).expect("listed") as u32)
            .collect(),
    )
}

/// Decodes `files` as CelebA faces: each cropped at `crop` (`(left, top, side)`) and resized
/// to `size × size` RGB, one `[3, size, size]` set.
pub fn read_cropped(
    files: &[PathBuf],
    crop: (u32, u32, u32),
    size: u32,
    name: &str,
) -> Result<ImageSet, DataError> {
    let s = size as usize;
    let mut pixels = Vec::with_capacity(files.len() * 3 * s * s);
    for file in files {
        let decoded = image::open(file)
            .map_err(|e| DataError::content(file, format!("cannot decode image: {e}")))?;
        let (left, top, side) = crop;
        if left + side > decoded.width() || top + side > decoded.height() {
            return Err(DataError::content(
                file,
                format!(
                    "image is {}×{}, too small for a {side}×{side} crop at ({left}, {top})",
                    decoded.width(),
                    decoded.height()
                ),
            ));
        }
        pixels.extend(conform_image(
            &decoded.crop_imm(left, top, side, side),
            [3, s, s],
        ));
    }
    if pixels.is_empty() {
        return Err(DataError::content(name, "no PNG or JPEG images found"));
    }
    Ok(ImageSet::new(name, [3, s, s], pixels, None))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_folders_label_in_sorted_order() {
        let paths = ["cat/1.png", "ant/x/2.png", "cat/3.png"].map(String::from);
        assert_eq!(class_labels(&paths), Some(vec![1, 0, 1]));
        let flat = ["cat/1.png", "2.png"].map(String::from);
        assert_eq!(class_labels(&flat), None);
    }

    #[test]
    fn interleaved_pixels_become_channel_major() {
        assert_eq!(
            channel_major(&[1, 2, 3, 4, 5, 6], 3),
            vec![1, 4, 2, 5, 3, 6]
        );
    }
}
