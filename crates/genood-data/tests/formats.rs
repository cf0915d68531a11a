//! Every reader on small files written here in the exact published formats, including
//! truncated and corrupt ones, which must give a typed error naming the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use genood_data::checksum::Checksum;
use genood_data::cifar::{CifarKind, read_cifar};
use genood_data::fetch::{FetchOptions, fetch};
use genood_data::folder::{CELEBA_CROP, image_files, read_images};
use genood_data::idx::{encode_idx, read_idx};
use genood_data::mat::{MatData, compress_mat, encode_mat};
use genood_data::npz::{encode_npy, read_imagenet32};
use genood_data::svhn::read_svhn;
use genood_data::synthetic::{Synthetic, gray_blend};
use genood_data::{DataError, Dataset, ImageSet, SetSpec};

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
    names_file(&read_idx(&corrupt).unwrap_err(), &corrupt);
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
fn folders_and_celeba_crop() {
    let dir = TempDir::new("folder");
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
    let set = read_images(&files, Some(CELEBA_CROP), 32, "celeba").unwrap();
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
        &read_images(std::slice::from_ref(&broken), None, 32, "x").unwrap_err(),
        &broken,
    );
    // A folder spec reads the same images, centre-cropped.
    std::fs::remove_file(&broken).unwrap();
    let spec = SetSpec::parse(&format!("folder:{}", dir.0.display())).unwrap();
    assert_eq!(spec.load(Path::new("unused"), 0).unwrap().len(), 2);
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
