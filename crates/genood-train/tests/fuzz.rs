//! Every file reader genood has, fed seeded mutations of valid files: bits flipped, the file
//! cut short, a size field overwritten, bytes inserted or removed. Compressed formats are
//! mutated both as stored and before compression, so the mutations also reach the parser
//! behind the decompressor. No case may panic, and every failure must be an error naming the
//! file.
//!
//! Two targets mutate numbers rather than bytes: the dimensions of a `.npy` header (which may
//! overflow any integer) and the size fields of a run configuration (which may ask for more
//! memory than any machine has: refused with the estimate, never an allocation failure).
//!
//! The suite runs a short version; `cargo test --release -p genood-train --test fuzz --
//! --ignored` runs 80,000.

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use burn::prelude::*;
use genood_data::Conform;
use genood_data::cifar::{CifarKind, read_cifar};
use genood_data::folder::read_folder;
use genood_data::idx::{encode_idx, read_idx};
use genood_data::mat::{MatData, compress_mat, encode_mat};
use genood_data::memory::check_available;
use genood_data::npz::{encode_npy, read_image_array, read_imagenet32};
use genood_data::svhn::read_svhn;
use genood_models::footprint::bytes_needed;
use genood_models::presets::{ModelKind, Preset};
use genood_models::{ImageShape, Model};
use genood_train::run::{RunConfig, stream_rng};
use genood_train::weights::{load_weights, save_weights};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Turns a mutated payload into a file's bytes.
type Wrap = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// Reads a file; the error as text.
type Read = Box<dyn Fn(&Path) -> Result<(), String>>;

/// One reader under test: a valid file, how to read it, and how a mutated payload becomes the
/// file (compressed again, say, or as stored).
struct Target {
    name: &'static str,
    /// File name the mutated bytes are written under (readers look at the extension).
    file: &'static str,
    /// The valid payload that is mutated.
    seed: Vec<u8>,
    wrap: Wrap,
    read: Read,
}

impl Target {
    fn stored(
        name: &'static str,
        file: &'static str,
        seed: Vec<u8>,
        read: impl Fn(&Path) -> Result<(), String> + 'static,
    ) -> Self {
        Self::wrapped(name, file, seed, <[u8]>::to_vec, read)
    }

    fn wrapped(
        name: &'static str,
        file: &'static str,
        seed: Vec<u8>,
        wrap: impl Fn(&[u8]) -> Vec<u8> + 'static,
        read: impl Fn(&Path) -> Result<(), String> + 'static,
    ) -> Self {
        Self {
            name,
            file,
            seed,
            wrap: Box::new(wrap),
            read: Box::new(read),
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An ImageNet32 `.npz` whose `data.npy` member is `data` (labels of 2 images).
fn npz(data: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("data.npy", options).unwrap();
    zip.write_all(data).unwrap();
    zip.start_file("labels.npy", options).unwrap();
    let labels: Vec<u8> = [1i64, 1000].iter().flat_map(|l| l.to_le_bytes()).collect();
    zip.write_all(&encode_npy("<i8", &[2], &labels)).unwrap();
    zip.finish().unwrap().into_inner()
}

/// A tar holding `bytes` as `package/data_batch_1.bin`.
fn tar(bytes: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "package/data_batch_1.bin", bytes)
        .unwrap();
    builder.into_inner().unwrap()
}

fn encoded_image(format: image::ImageFormat) -> Vec<u8> {
    let image =
        image::RgbImage::from_fn(20, 12, |x, y| image::Rgb([x as u8 * 12, y as u8 * 20, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn cifar_records(label_bytes: usize, count: usize) -> Vec<u8> {
    (0..count)
        .flat_map(|i| {
            let mut record = vec![i as u8 % 10; label_bytes];
            record.extend((0..3072).map(|p| (p * (i + 3)) as u8));
            record
        })
        .collect()
}

fn svhn_mat() -> Vec<u8> {
    let x: Vec<u8> = (0..32 * 32 * 3 * 2).map(|i| (i * 7) as u8).collect();
    encode_mat(&[
        ("X", &[32, 32, 3, 2], MatData::U8(&x)),
        ("y", &[2, 1], MatData::F64(&[10.0, 3.0])),
    ])
}

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Little-endian u32 words, the form in which numbers are mutated (size fields overwritten
/// with 0, 2³¹, 2³²−1, …).
fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The u32 words of `bytes` (a last partial word left out).
fn unwords(bytes: &[u8]) -> Vec<usize> {
    bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize)
        .collect()
}

/// A `.npy` array whose shape is the mutated words (its dimensions, overflowing or not), over
/// the bytes of two 28×28 images.
fn npy_of_shape(shape_words: &[u8]) -> Vec<u8> {
    let data: Vec<u8> = (0..2 * 28 * 28).map(|i| (i % 249) as u8).collect();
    encode_npy("|u1", &unwords(shape_words), &data)
}

/// The fields of a run configuration that set its size, in this order.
const SIZE_FIELDS: [(&str, &str); 7] = [
    ("model", "levels"),
    ("model", "steps_per_level"),
    ("model", "hidden_channels"),
    ("image", "height"),
    ("image", "width"),
    ("train", "batch_size"),
    ("image", "channels"),
];

/// The tiny Glow's run configuration with its size fields set from the mutated words.
fn config_of_sizes(size_words: &[u8]) -> Vec<u8> {
    let mut config = serde_json::to_value(RunConfig {
        model: Preset::Tiny.model(
            ImageShape {
                channels: 1,
                height: 8,
                width: 8,
            },
            ModelKind::Glow,
        ),
        train: Preset::Tiny.train(ModelKind::Glow),
        data: "x".into(),
        monitor: Vec::new(),
        threads: 1,
    })
    .unwrap();
    for ((part, field), value) in SIZE_FIELDS.iter().zip(unwords(size_words)) {
        let slot = match *part {
            "model" => &mut config["model"]["flow"][field],
            "image" => &mut config["model"]["image"][field],
            _ => &mut config["train"][field],
        };
        *slot = value.into();
    }
    config.to_string().into_bytes()
}

/// Reads a run configuration as training does before it allocates: checked, then its memory
/// estimated against what the machine has; one that fits in a few MiB is built.
fn read_sized_config(path: &Path) -> Result<(), String> {
    let named = |e: String| format!("{}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(text)?;
    let config: RunConfig = serde_json::from_str(&text).map_err(|e| named(e.to_string()))?;
    config.validate().map_err(named)?;
    let needed = bytes_needed(&config.model, config.train.batch_size, true);
    check_available(needed).map_err(named)?;
    if bytes_needed(&config.model, 1, false) < 16 << 20 {
        Model::new(&config.model, &mut stream_rng(0, 1, 0), &Device::flex());
    }
    Ok(())
}

/// Every reader, each with a valid seed file; `dir` is scratch space.
fn targets(dir: &Path) -> Vec<Target> {
    let pixels: Vec<u8> = (0..3 * 28 * 28).map(|i| (i % 251) as u8).collect();
    let idx = encode_idx(&[3, 28, 28], &pixels);
    let read_idx = |p: &Path| read_idx(p).map(drop).map_err(text);
    let cifar = |kind| move |p: &Path| read_cifar(&[p], kind, "x").map(drop).map_err(text);
    let svhn = |p: &Path| read_svhn(p, "svhn:test").map(drop).map_err(text);
    let npy: Vec<u8> = (0..2 * 3072).map(|i| (i % 253) as u8).collect();
    let npy = encode_npy("|u1", &[2, 3072], &npy);
    let imagenet = |p: &Path| read_imagenet32(&[p], "x").map(drop).map_err(text);
    // Each image lies alone in its own folder, read as a folder set.
    let folder = |p: &Path| {
        read_folder(
            p.parent().expect("in a folder"),
            "x",
            Conform::default(),
            false,
        )
        .map(drop)
        .map_err(text)
    };
    for format in ["png", "jpeg"] {
        std::fs::create_dir_all(dir.join(format)).unwrap();
    }
    let tgz_read = |p: &Path| {
        genood_data::archive::tgz_files(p, &[".bin"])
            .map(drop)
            .map_err(text)
    };
    // A tiny Glow's checkpoint, loaded into a freshly built model of the same config.
    let device = Device::flex();
    let shape = ImageShape {
        channels: 1,
        height: 8,
        width: 8,
    };
    let config = Preset::Tiny.model(shape, ModelKind::Glow);
    let model = Model::new(&config, &mut stream_rng(0, 1, 0), &device);
    let checkpoint = dir.join("seed.safetensors");
    save_weights(&model, &checkpoint).unwrap();
    let weights = std::fs::read(&checkpoint).unwrap();
    std::fs::remove_file(&checkpoint).unwrap();
    let load = move |p: &Path| load_weights(model.clone(), p).map(drop).map_err(text);
    vec![
        Target::stored("idx", "x-ubyte", idx.clone(), read_idx),
        Target::stored("idx.gz as stored", "x-ubyte.gz", gzip(&idx), read_idx),
        Target::wrapped("idx inside gzip", "x-ubyte.gz", idx, gzip, read_idx),
        Target::stored(
            "cifar-10",
            "data_batch_1.bin",
            cifar_records(1, 3),
            cifar(CifarKind::Cifar10),
        ),
        Target::stored(
            "cifar-100",
            "train.bin",
            cifar_records(2, 3),
            cifar(CifarKind::Cifar100),
        ),
        Target::wrapped(
            "tar inside gzip",
            "cifar.tgz",
            tar(&cifar_records(1, 2)),
            gzip,
            tgz_read,
        ),
        Target::stored("svhn .mat", "test_32x32.mat", svhn_mat(), svhn),
        Target::stored(
            "svhn compressed .mat as stored",
            "c.mat",
            compress_mat(&svhn_mat()),
            svhn,
        ),
        Target::wrapped(
            "svhn .mat elements inside compression",
            "c.mat",
            svhn_mat()[128..].to_vec(),
            // The 128-byte header stays intact; the elements are mutated, then compressed.
            |elements| compress_mat(&[&svhn_mat()[..128], elements].concat()),
            svhn,
        ),
        Target::stored("npz as stored", "val_data.npz", npz(&npy), imagenet),
        Target::wrapped("npy inside npz", "val_data.npz", npy, npz, imagenet),
        Target::stored(
            "png",
            "png/a.png",
            encoded_image(image::ImageFormat::Png),
            folder,
        ),
        Target::stored(
            "jpeg",
            "jpeg/a.jpg",
            encoded_image(image::ImageFormat::Jpeg),
            folder,
        ),
        Target::stored("safetensors checkpoint", "model.safetensors", weights, load),
        Target::wrapped(
            "npy shape",
            "x.npy",
            words(&[2, 28, 28]),
            npy_of_shape,
            |p: &Path| {
                read_image_array(p, false, None, "x")
                    .map(drop)
                    .map_err(text)
            },
        ),
        Target::wrapped(
            "config sizes",
            "config.json",
            words(&[2, 2, 16, 8, 8, 32, 1]),
            config_of_sizes,
            read_sized_config,
        ),
    ]
}

/// A little-endian or big-endian 32-bit value a size field might be overwritten with.
fn size_field(rng: &mut StdRng, original: u32) -> u32 {
    match rng.random_range(0..7) {
        0 => 0,
        1 => u32::MAX,
        2 => i32::MAX as u32,
        3 => 1 << 31,
        4 => original.wrapping_add(rng.random_range(1..16)),
        5 => original.wrapping_sub(rng.random_range(1..16)),
        _ => rng.random(),
    }
}

/// One to three seeded mutations of `bytes`. Offsets favour the first 64 bytes, where the
/// headers and their size fields are.
fn mutate(bytes: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..rng.random_range(1..=3) {
        if out.is_empty() {
            break;
        }
        let offset = if rng.random_bool(0.5) {
            rng.random_range(0..out.len().min(64))
        } else {
            rng.random_range(0..out.len())
        };
        match rng.random_range(0..6) {
            0 => {
                for _ in 0..rng.random_range(1..=8) {
                    let at = rng.random_range(0..out.len());
                    out[at] ^= 1 << rng.random_range(0..8);
                }
            }
            1 => out.truncate(rng.random_range(0..out.len())),
            2 if offset + 4 <= out.len() => {
                let window: [u8; 4] = out[offset..offset + 4].try_into().unwrap();
                let big = rng.random_bool(0.5);
                let original = if big {
                    u32::from_be_bytes(window)
                } else {
                    u32::from_le_bytes(window)
                };
                let value = size_field(rng, original);
                let bytes = if big {
                    value.to_be_bytes()
                } else {
                    value.to_le_bytes()
                };
                out[offset..offset + 4].copy_from_slice(&bytes);
            }
            3 => {
                let count = rng.random_range(1..=16);
                let inserted: Vec<u8> = (0..count).map(|_| rng.random()).collect();
                out.splice(offset..offset, inserted);
            }
            4 => {
                let end = (offset + rng.random_range(1..=16)).min(out.len());
                out.drain(offset..end);
            }
            _ => out[offset] = [0x00, 0xff, 0x7f, 0x80][rng.random_range(0..4)],
        }
    }
    out
}

/// What a fuzz run saw.
struct Outcome {
    /// `(target, files read, files refused)`.
    counts: Vec<(&'static str, usize, usize)>,
    /// A line per panic, or per error that does not name its file.
    problems: Vec<String>,
}

/// Runs `cases` mutations of every target.
fn fuzz(cases: usize, seed: u64) -> Outcome {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("genood-fuzz-{seed}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut problems = Vec::new();
    let mut counts = Vec::new();
    for (t, target) in targets(&dir).iter().enumerate() {
        assert_eq!(
            {
                let path = dir.join(target.file);
                std::fs::write(&path, (target.wrap)(&target.seed)).unwrap();
                (target.read)(&path)
            },
            Ok(()),
            "{}: the unmutated file reads",
            target.name
        );
        let mut rng = StdRng::seed_from_u64(seed ^ (t as u64) << 40);
        let (mut read, mut refused) = (0, 0);
        for case in 0..cases {
            let bytes = (target.wrap)(&mutate(&target.seed, &mut rng));
            let path = dir.join(target.file);
            std::fs::write(&path, &bytes).unwrap();
            match catch_unwind(AssertUnwindSafe(|| (target.read)(&path))) {
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let kept = dir.join(format!(
                        "panic-{t}-{case}-{}",
                        target.file.replace('/', "-")
                    ));
                    std::fs::write(&kept, &bytes).unwrap();
                    problems.push(format!(
                        "{} case {case}: panicked ({message}); input kept in {}",
                        target.name,
                        kept.display()
                    ));
                }
                Ok(Ok(())) => read += 1,
                Ok(Err(e)) if e.contains(&path.display().to_string()) => refused += 1,
                Ok(Err(e)) => {
                    problems.push(format!(
                        "{} case {case}: `{e}` does not name the file",
                        target.name
                    ));
                }
            }
        }
        counts.push((target.name, read, refused));
    }
    if problems.is_empty() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    Outcome { counts, problems }
}

/// Fuzzes every target with `cases` mutations, prints what each reader did, and checks that
/// nothing panicked or failed without naming its file, and that the mutations reached past
/// the first check of every reader (each refused some files and, but for the compressed and
/// checksummed ones, read some).
fn check(cases: usize, seed: u64) {
    let outcome = fuzz(cases, seed);
    let total: usize = outcome.counts.iter().map(|(_, r, f)| r + f).sum();
    for (name, read, refused) in &outcome.counts {
        eprintln!("{name}: {read} read, {refused} refused");
        assert!(*refused > 0, "{name}: no mutation was refused");
    }
    eprintln!("{total} mutated files, {} problems", outcome.problems.len());
    assert_eq!(total + outcome.problems.len(), cases * outcome.counts.len());
    assert!(
        outcome.problems.is_empty(),
        "{}",
        outcome.problems.join("\n")
    );
}

#[test]
fn every_reader_survives_mutated_files() {
    check(200, 1);
}

#[test]
#[ignore = "80,000 cases (about 20 s in release); run by hand"]
fn every_reader_survives_eighty_thousand_mutated_files() {
    check(5000, 2);
}
