//! Every reader on small files written here in the exact published formats, including
//! truncated and corrupt ones, which must give a typed error naming the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use genood_data::checksum::Checksum;
use genood_data::cifar::{CifarKind, read_cifar};
use genood_data::fetch::{FetchOptions, fetch};
use genood_data::folder::{CELEBA_CROP, image_files, read_cropped};
use genood_data::idx::{encode_idx, read_idx};
use genood_data::mat::{MatData, compress_mat, encode_mat};
use genood_data::npz::{encode_npy, read_imagenet32};
use genood_data::svhn::read_svhn;
use genood_data::synthetic::{Synthetic, gray_blend};
use genood_data::{Conform, DataError, DataSource, Dataset, ImageSet, SetSpec};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("genood-formats-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn names_file(err: &DataError, path: &Path) {
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "`{err}` does not name {}",
        path.display()
    );
}

#[test]
fn idx_raw_and_gzipped() {
    let dir = TempDir::new("idx");
    let pixels: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8).collect();
    let raw = encode_idx(&[2, 3, 4], &pixels);
    for path in [
        dir.write("a-ubyte", &raw),
        dir.write("a-ubyte.gz", &gzip(&raw)),
    ] {
        let array = read_idx(&path).unwrap();
        assert_eq!(array.dims, [2, 3, 4]);
        assert_eq!(array.data, pixels);
    }
}

#[test]
fn idx_pair_loads_as_a_set_and_rejects_bad_files() {
    let dir = TempDir::new("idx-set");
    let cache = dir.0.join("cache");
    let images: Vec<u8> = (0..3 * 28 * 28).map(|v| (v % 251) as u8).collect();
    dir.write(
        "cache/fashion-mnist/t10k-images-idx3-ubyte.gz",
        &gzip(&encode_idx(&[3, 28, 28], &images)),
    );
    let labels_path = dir.write(
        "cache/fashion-mnist/t10k-labels-idx1-ubyte",
        &encode_idx(&[3], &[4, 0, 9]),
    );
    let set = Dataset::FashionMnist.load("test", &cache).unwrap();
    assert_eq!((set.len(), set.shape), (3, [1, 28, 28]));
    assert_eq!(set.labels, Some(vec![4, 0, 9]));
    assert_eq!(set.image(1)[..3], images[784..787]);

    // Fewer labels than images.
    std::fs::write(&labels_path, encode_idx(&[2], &[1, 2])).unwrap();
    let err = Dataset::FashionMnist.load("test", &cache).unwrap_err();
    names_file(&err, &labels_path);

    // Truncated data, a wrong type byte, and a corrupt gzip stream.
    let truncated = dir.write("t-ubyte", &encode_idx(&[3, 28, 28], &images)[..100]);
    assert!(matches!(
        read_idx(&truncated),
        Err(DataError::Truncated { .. })
    ));
    names_file(&read_idx(&truncated).unwrap_err(), &truncated);
    let mut wrong = encode_idx(&[1], &[0]);
    wrong[2] = 0x0d;
    let wrong = dir.write("w-ubyte", &wrong);
    assert!(matches!(
        read_idx(&wrong),
        Err(DataError::Format {
            offset: Some(2),
            ..
        })
    ));
    let mut corrupt = gzip(&encode_idx(&[3, 28, 28], &images));
    let len = corrupt.len();
    corrupt.truncate(len / 2);
    let corrupt = dir.write("c-ubyte.gz", &corrupt);
    let err = read_idx(&corrupt).unwrap_err();
    names_file(&err, &corrupt);
    // A decompressor's error has no byte position in the file: none is claimed.
    assert!(!err.to_string().contains("at byte"), "{err}");
    // A dimension of 0, and dimensions whose product wraps around to a small size: errors
    // naming the file, not a panic or an empty set.
    let empty = dir.write("e-ubyte", &encode_idx(&[0, 28, 28], &[]));
    let err = read_idx(&empty).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Format {
                offset: Some(4),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("dimension 0 is 0"), "{err}");
    names_file(&err, &empty);
    // (2³² − 1)³ does not fit in 64 bits (unchecked, it wraps to a size that may pass).
    let mut huge = encode_idx(&[1, 1, 1], &[7]);
    huge[4..16].copy_from_slice(&[0xff; 12]);
    let huge = dir.write("h-ubyte", &huge);
    let err = read_idx(&huge).unwrap_err();
    assert!(err.to_string().contains("multiply past"), "{err}");
    names_file(&err, &huge);
}

fn cifar_record(label_bytes: &[u8], seed: u8) -> Vec<u8> {
    let mut record = label_bytes.to_vec();
    record.extend((0..3072).map(|i| (i as u8).wrapping_mul(seed)));
    record
}

#[test]
fn cifar10_and_cifar100_binary() {
    let dir = TempDir::new("cifar");
    let ten = dir.write(
        "data_batch_1.bin",
        &[cifar_record(&[3], 1), cifar_record(&[7], 2)].concat(),
    );
    let set = read_cifar(&[&ten], CifarKind::Cifar10, "cifar10:train").unwrap();
    assert_eq!((set.len(), set.shape), (2, [3, 32, 32]));
    assert_eq!(set.labels, Some(vec![3, 7]));
    // The red plane comes first: pixel (0, 1) of channel 0 is byte 1 of the record's pixels.
    assert_eq!(set.image(1)[1], 2);
    assert_eq!(set.image(1)[1024], (1024u32 * 2 % 256) as u8);

    let hundred = dir.write("train.bin", &cifar_record(&[4, 42], 3));
    let set = read_cifar(&[&hundred], CifarKind::Cifar100, "cifar100:train").unwrap();
    assert_eq!(set.labels, Some(vec![42]));

    let truncated = dir.write("bad.bin", &cifar_record(&[1], 1)[..3000]);
    let err = read_cifar(&[&truncated], CifarKind::Cifar10, "x").unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }));
    names_file(&err, &truncated);
    let bad_label = dir.write("label.bin", &cifar_record(&[12], 1));
    names_file(
        &read_cifar(&[&bad_label], CifarKind::Cifar10, "x").unwrap_err(),
        &bad_label,
    );
}

/// Two 32×32×3 images in MATLAB's column-major order with labels 10 (digit 0) and 3.
fn svhn_mat() -> (Vec<u8>, Vec<u8>) {
    let n = 2;
    let mut x = vec![0u8; 32 * 32 * 3 * n];
    for img in 0..n {
        for ch in 0..3 {
            for r in 0..32 {
                for c in 0..32 {
                    x[r + 32 * c + 1024 * ch + 3072 * img] =
                        (r * 7 + c * 3 + ch * 50 + img * 100) as u8;
                }
            }
        }
    }
    let mat = encode_mat(&[
        ("X", &[32, 32, 3, n], MatData::U8(&x)),
        ("y", &[n, 1], MatData::F64(&[10.0, 3.0])),
    ]);
    (mat, x)
}

#[test]
fn svhn_mat_plain_and_compressed() {
    let dir = TempDir::new("svhn");
    let (mat, _) = svhn_mat();
    for path in [
        dir.write("plain.mat", &mat),
        dir.write("compressed.mat", &compress_mat(&mat)),
    ] {
        let set = read_svhn(&path, "svhn:test").unwrap();
        assert_eq!((set.len(), set.shape), (2, [3, 32, 32]));
        assert_eq!(set.labels, Some(vec![0, 3]));
        // Row-major after the transpose: pixel (r = 2, c = 5) of channel 1 of image 1.
        let expected = (2 * 7 + 5 * 3 + 50 + 100) as u8;
        assert_eq!(set.image(1)[1024 + 2 * 32 + 5], expected);
    }
    let truncated = dir.write("truncated.mat", &mat[..mat.len() - 100]);
    let err = read_svhn(&truncated, "svhn:test").unwrap_err();
    names_file(&err, &truncated);
    let mut corrupt = compress_mat(&mat);
    let mid = corrupt.len() / 2;
    corrupt[mid..mid + 16].fill(0xff);
    let corrupt = dir.write("corrupt.mat", &corrupt);
    names_file(&read_svhn(&corrupt, "svhn:test").unwrap_err(), &corrupt);
    let not_mat = dir.write("not.mat", &[0u8; 200]);
    names_file(&read_svhn(&not_mat, "svhn:test").unwrap_err(), &not_mat);
}

fn npz(dir: &TempDir, name: &str, data: &[u8], labels: &[i64]) -> PathBuf {
    let path = dir.0.join(name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("data.npy", options).unwrap();
    zip.write_all(&encode_npy("|u1", &[labels.len(), 3072], data))
        .unwrap();
    zip.start_file("labels.npy", options).unwrap();
    let raw: Vec<u8> = labels.iter().flat_map(|l| l.to_le_bytes()).collect();
    zip.write_all(&encode_npy("<i8", &[labels.len()], &raw))
        .unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn imagenet32_npz() {
    let dir = TempDir::new("npz");
    let data: Vec<u8> = (0..2 * 3072).map(|i| (i % 253) as u8).collect();
    let path = npz(&dir, "val_data.npz", &data, &[1, 1000]);
    let set = read_imagenet32(&[&path], "imagenet32:valid").unwrap();
    assert_eq!((set.len(), set.shape), (2, [3, 32, 32]));
    assert_eq!(set.labels, Some(vec![0, 999]));
    assert_eq!(set.pixels, data);
    let bad = npz(&dir, "bad.npz", &data, &[1, 1001]);
    names_file(&read_imagenet32(&[&bad], "x").unwrap_err(), &bad);
    let bytes = std::fs::read(&path).unwrap();
    let truncated = dir.write("truncated.npz", &bytes[..bytes.len() / 2]);
    names_file(
        &read_imagenet32(&[&truncated], "x").unwrap_err(),
        &truncated,
    );
}

#[test]
fn celeba_crop() {
    let dir = TempDir::new("celeba");
    // A 178×218 "face": red where x < 89, blue elsewhere, as PNG and JPEG.
    let image = image::RgbImage::from_fn(178, 218, |x, _| {
        if x < 89 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    image.save(dir.0.join("000001.png")).unwrap();
    image.save(dir.0.join("000002.jpg")).unwrap();
    std::fs::write(dir.0.join("notes.txt"), "ignored").unwrap();
    let files = image_files(&dir.0).unwrap();
    assert_eq!(files.len(), 2);
    let set = read_cropped(&files, CELEBA_CROP, 32, "celeba").unwrap();
    assert_eq!((set.len(), set.shape), (2, [3, 32, 32]));
    // Left column red, right column blue, in both (the JPEG within compression error).
    for i in 0..2 {
        let img = set.image(i);
        assert!(
            img[0] > 200 && img[2 * 1024] < 50,
            "left pixel of image {i}"
        );
        assert!(
            img[31] < 50 && img[2 * 1024 + 31] > 200,
            "right pixel of image {i}"
        );
    }
    let broken = dir.write("broken.png", b"\x89PNG\r\n\x1a\nnot really");
    names_file(
        &read_cropped(std::slice::from_ref(&broken), CELEBA_CROP, 32, "x").unwrap_err(),
        &broken,
    );
}

/// A 28×28 grey image whose every pixel is `value`.
fn grey(value: u8) -> image::GrayImage {
    image::GrayImage::from_pixel(28, 28, image::Luma([value]))
}

#[test]
fn an_image_folder_keeps_its_shape_labels_its_classes_and_names_bad_files() {
    let dir = TempDir::new("image-folder");
    // ImageFolder layout, one class nested a level deeper, a hidden file and a stray text.
    std::fs::create_dir_all(dir.0.join("shirt")).unwrap();
    std::fs::create_dir_all(dir.0.join("boot/left")).unwrap();
    grey(10).save(dir.0.join("shirt/a.png")).unwrap();
    grey(20).save(dir.0.join("shirt/b.PNG")).unwrap();
    grey(30).save(dir.0.join("boot/left/c.png")).unwrap();
    grey(40).save(dir.0.join("boot/.hidden.png")).unwrap();
    dir.write("boot/readme.txt", b"not an image");
    let spec = SetSpec::parse(&format!("folder:{}", dir.0.display())).unwrap();
    let strict = DataSource::new("unused");
    let set = spec.load(&strict, 0, Conform::default()).unwrap();
    // Grey images stay one channel at their own size; sub-folders are searched.
    assert_eq!((set.len(), set.shape), (3, [1, 28, 28]));
    assert_eq!(
        set.paths.as_deref().unwrap(),
        ["boot/left/c.png", "shirt/a.png", "shirt/b.PNG"]
    );
    // Classes in sorted order: boot 0, shirt 1.
    assert_eq!(set.labels, Some(vec![0, 1, 1]));
    assert_eq!(set.image(0)[0], 30);
    assert_eq!(
        spec.display_name(),
        dir.0.file_name().unwrap().to_str().unwrap()
    );
    // Explicit channels and size: RGB, 14×7 (centre-cropped to the aspect ratio first).
    let rgb = Conform {
        channels: Some(3),
        size: Some([14, 7]),
    };
    let resized = spec.load(&strict, 0, rgb).unwrap();
    assert_eq!(resized.shape, [3, 14, 7]);
    assert!(resized.image(1).iter().all(|&v| v == 10));
    assert_eq!(spec.native_shape(rgb).unwrap(), [3, 14, 7]);
    assert_eq!(spec.native_shape(Conform::default()).unwrap(), [1, 28, 28]);
    // A colour image makes the default three channels.
    image::RgbImage::from_pixel(28, 28, image::Rgb([200, 0, 0]))
        .save(dir.0.join("shirt/red.png"))
        .unwrap();
    let colour = spec.load(&strict, 0, Conform::default()).unwrap();
    assert_eq!(colour.shape, [3, 28, 28]);
    std::fs::remove_file(dir.0.join("shirt/red.png")).unwrap();
    // Two corrupt files: refused, both named; with skip_bad, left out and listed.
    let broken = [
        dir.write("shirt/broken.png", b"\x89PNG\r\n\x1a\nnot really"),
        dir.write("boot/cut.jpg", &[0xFF, 0xD8, 0xFF]),
    ];
    let err = spec.load(&strict, 0, Conform::default()).unwrap_err();
    for file in &broken {
        names_file(&err, file);
    }
    assert!(err.to_string().contains("--skip-bad"), "{err}");
    let lenient = DataSource {
        skip_bad: true,
        ..strict.clone()
    };
    let kept = spec.load(&lenient, 0, Conform::default()).unwrap();
    assert_eq!(kept.len(), 3);
    assert_eq!(kept.skipped, ["boot/cut.jpg", "shirt/broken.png"]);
    for file in &broken {
        std::fs::remove_file(file).unwrap();
    }
    // Images of different sizes need an explicit size.
    image::GrayImage::from_pixel(32, 30, image::Luma([5]))
        .save(dir.0.join("shirt/big.png"))
        .unwrap();
    let err = spec.load(&strict, 0, Conform::default()).unwrap_err();
    assert!(err.to_string().contains("--size"), "{err}");
    let sized = Conform {
        channels: None,
        size: Some([28, 28]),
    };
    assert_eq!(spec.load(&strict, 0, sized).unwrap().len(), 4);
    // An empty folder is refused with its name.
    let empty = TempDir::new("empty-folder");
    let spec = SetSpec::parse(&format!("folder:{}", empty.0.display())).unwrap();
    names_file(
        &spec.load(&strict, 0, Conform::default()).unwrap_err(),
        &empty.0,
    );
}

#[test]
fn arrays_from_npy_and_npz_in_every_layout() {
    let dir = TempDir::new("arrays");
    let source = DataSource::new("unused");
    let load = |text: String| {
        SetSpec::parse(&text)
            .unwrap()
            .load(&source, 0, Conform::default())
    };
    // Two 2×4 RGB images; value = 100·image + 10·channel + pixel.
    let chw: Vec<u8> = (0..2)
        .flat_map(|n| (0..3).flat_map(move |c| (0..8).map(move |p| 100 * n + 10 * c + p)))
        .collect();
    let hwc: Vec<u8> = (0..2)
        .flat_map(|n| (0..8).flat_map(move |p| (0..3).map(move |c| 100 * n + 10 * c + p)))
        .collect();
    let nchw = dir.write("nchw.npy", &encode_npy("|u1", &[2, 3, 2, 4], &chw));
    let nhwc = dir.write("nhwc.npy", &encode_npy("|u1", &[2, 2, 4, 3], &hwc));
    for path in [&nchw, &nhwc] {
        let set = load(format!("npy:{}", path.display())).unwrap();
        assert_eq!((set.len(), set.shape), (2, [3, 2, 4]));
        assert_eq!(set.pixels, chw, "{}", path.display());
    }
    let grey = dir.write("grey.npy", &encode_npy("|u1", &[3, 2, 2], &[7; 12]));
    let set = load(format!("npy:{}", grey.display())).unwrap();
    assert_eq!((set.len(), set.shape), (3, [1, 2, 2]));
    // An archive of two arrays needs the key; with it, the member is read.
    let archive = dir.0.join("sets.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("x_test.npy", options).unwrap();
    zip.write_all(&encode_npy("|u1", &[2, 3, 2, 4], &chw))
        .unwrap();
    zip.start_file("y_test.npy", options).unwrap();
    zip.write_all(&encode_npy("|u1", &[2], &[0, 1])).unwrap();
    zip.finish().unwrap();
    let err = load(format!("npz:{}", archive.display())).unwrap_err();
    assert!(err.to_string().contains("x_test, y_test"), "{err}");
    let set = load(format!("npz:{}:x_test", archive.display())).unwrap();
    assert_eq!(set.pixels, chw);
    // Wrong dtype, a shape that is not images, a truncated file: refused, naming the file.
    let floats = dir.write("floats.npy", &encode_npy("<f8", &[1], &[0; 8]));
    let flat = dir.write("flat.npy", &encode_npy("|u1", &[2, 3072], &[0; 6144]));
    let short = dir.write("short.npy", &encode_npy("|u1", &[2, 3, 2, 4], &chw[..20]));
    for path in [&floats, &flat, &short] {
        names_file(&load(format!("npy:{}", path.display())).unwrap_err(), path);
    }
}

#[test]
fn synthetic_sets_follow_their_definitions() {
    let base = ImageSet::new(
        "base",
        [1, 2, 2],
        vec![0, 100, 200, 255, 10, 20, 30, 40],
        Some(vec![1, 2]),
    );
    let mut rng = genood_data_rng();
    assert_eq!(
        Synthetic::Inverted.apply(&base, &mut rng).pixels,
        vec![255, 155, 55, 0, 245, 235, 225, 215]
    );
    assert_eq!(
        Synthetic::Gray(0.0).apply(&base, &mut rng).pixels,
        base.pixels
    );
    assert!(
        Synthetic::Gray(1.0)
            .apply(&base, &mut rng)
            .pixels
            .iter()
            .all(|&p| p == 128)
    );
    assert_eq!(gray_blend(0, 0.5), 64);
    assert_eq!(gray_blend(255, 0.5), 192);
    let constant = Synthetic::Constant.apply(&base, &mut rng);
    for i in 0..2 {
        assert!(constant.image(i).iter().all(|&p| p == constant.image(i)[0]));
    }
    let noise = Synthetic::UniformNoise.apply(&base, &mut rng);
    assert_eq!(
        (noise.len(), noise.shape, noise.name.as_str()),
        (2, [1, 2, 2], "uniform-noise/base")
    );
}

fn genood_data_rng() -> rand::rngs::StdRng {
    rand::SeedableRng::seed_from_u64(5)
}

#[test]
fn a_corrupt_archive_is_refused_and_nothing_is_left_behind() {
    let dir = TempDir::new("checksum");
    let mirror = dir.0.join("mirror");
    let cache = dir.0.join("cache");
    std::fs::create_dir_all(&mirror).unwrap();
    let fake = mirror.join("dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb");
    std::fs::write(&fake, b"!<arch>\nnot the real package").unwrap();
    // With or without --offline: a mirror's archive with the wrong checksum is an error
    // naming both digests, never a reason to fall back to the registry.
    for offline in [true, false] {
        let options = FetchOptions {
            mirror: Some(mirror.clone()),
            offline,
        };
        let err = fetch(Dataset::FashionMnist, &cache, &options, &mut |_| {}).unwrap_err();
        match &err {
            DataError::Checksum {
                path,
                algorithm,
                expected,
                actual,
            } => {
                assert_eq!(path, &fake);
                assert_eq!(*algorithm, "sha256");
                assert!(expected.starts_with("39e172fe"));
                assert!(err.to_string().contains(expected.as_str()));
                assert!(err.to_string().contains(actual.as_str()));
            }
            other => panic!("expected a checksum error (offline {offline}), got {other}"),
        }
        let left: Vec<_> = std::fs::read_dir(cache.join("fashion-mnist"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "files left in the cache: {left:?}");
    }
    // The mirror's own file is the user's and stays.
    assert!(fake.exists());
    assert_eq!(
        Checksum::Sha256("x").digest(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}
