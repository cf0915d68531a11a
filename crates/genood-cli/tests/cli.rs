//! The `genood` binary end to end on the real FashionMNIST and MNIST archives in
//! `../shared/data` (these tests fail, never skip, when the archives are missing).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use burn::prelude::*;
use genood_data::SetSpec;
use genood_train::eval::evaluate;
use genood_train::run::RunDir;
use rand::SeedableRng;

fn genood(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_genood"))
        .args(args)
        .env("GENOOD_DATA", data_dir)
        .output()
        .expect("run genood")
}

fn ok(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "genood failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned() + &stderr
}

fn failure(output: Output) -> String {
    assert!(!output.status.success(), "genood should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genood-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// FashionMNIST and MNIST fetched once from the mirror, offline, as a user would.
fn real_data() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mirror = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        assert!(
            mirror.join("SHA256SUMS").exists(),
            "real-data archives expected in {}",
            mirror.display()
        );
        let data = scratch("data");
        ok(genood(
            &[
                "fetch",
                "fashion-mnist",
                "mnist",
                "--mirror",
                mirror.to_str().unwrap(),
                "--offline",
            ],
            &data,
        ));
        data
    })
}

/// Trains a tiny Glow briefly on real FashionMNIST (about 10 s).
fn trained_run(name: &str, model: &str) -> PathBuf {
    let run = scratch(name).join("run");
    let out = ok(genood(
        &[
            "train",
            "--run",
            run.to_str().unwrap(),
            "--preset",
            "tiny",
            "--model",
            model,
            "--steps",
            "150",
        ],
        real_data(),
    ));
    assert!(out.contains("150 steps"), "{out}");
    run
}

fn mean_log_p(csv: &str) -> f64 {
    let values: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn tiny_glow_on_fashion_mnist_gives_mnist_the_higher_likelihood() {
    let run = trained_run("paper-effect", "glow");
    let table = ok(genood(
        &[
            "eval",
            "--run",
            run.to_str().unwrap(),
            "--data",
            "fashion-mnist:test",
            "mnist:test",
            "--limit",
            "2000",
        ],
        real_data(),
    ));
    assert!(table.contains("| fashion-mnist:test | 2000 |"), "{table}");
    let fashion = std::fs::read_to_string(run.join("scores/fashion-mnist_test.csv")).unwrap();
    let mnist = std::fs::read_to_string(run.join("scores/mnist_test.csv")).unwrap();
    assert_eq!(
        fashion.lines().next(),
        Some("index,label,log_p,bpd,log_prior,log_det")
    );
    let (f, m) = (mean_log_p(&fashion), mean_log_p(&mnist));
    assert!(
        m > f,
        "MNIST mean log p {m} should exceed FashionMNIST's {f} (the paper's finding)"
    );

    // The OOD scores: raw likelihood ranks MNIST as in-distribution (AUROC < 0.5).
    ok(genood(
        &[
            "eval",
            "--run",
            run.to_str().unwrap(),
            "--data",
            "fashion-mnist:train",
            "--limit",
            "1000",
        ],
        real_data(),
    ));
    let table = ok(genood(
        &[
            "score",
            "--run",
            run.to_str().unwrap(),
            "--in",
            "fashion-mnist:test",
            "--ood",
            "mnist:test",
            "--resamples",
            "50",
        ],
        real_data(),
    ));
    assert!(table.contains("typicality, batches of 25"), "{table}");

    // A background model (perturbed inputs) and a second ensemble member add the
    // likelihood-ratio and WAIC scores.
    let extra = |name: &str, flags: &[&str]| {
        let dir = run.parent().unwrap().join(name);
        let mut train = vec![
            "train",
            "--run",
            dir.to_str().unwrap(),
            "--preset",
            "tiny",
            "--steps",
            "60",
        ];
        train.extend_from_slice(flags);
        ok(genood(&train, real_data()));
        let eval = [
            "eval",
            "--run",
            dir.to_str().unwrap(),
            "--data",
            "fashion-mnist:test",
            "mnist:test",
            "--limit",
            "2000",
        ];
        ok(genood(&eval, real_data()));
        dir
    };
    let background = extra("background", &["--background"]);
    let config = std::fs::read_to_string(background.join("config.json")).unwrap();
    assert!(config.contains("\"background_noise\": 0.2"), "{config}");
    let member = extra("member", &["--seed", "1"]);
    let table = ok(genood(
        &[
            "score",
            "--run",
            run.to_str().unwrap(),
            "--in",
            "fashion-mnist:test",
            "--ood",
            "mnist:test",
            "--resamples",
            "50",
            "--background",
            background.to_str().unwrap(),
            "--ensemble",
            member.to_str().unwrap(),
        ],
        real_data(),
    ));
    assert!(
        table.contains("| likelihood ratio |") && table.contains("| WAIC (2 models) |"),
        "{table}"
    );

    let text = std::fs::read_to_string(run.join("ood-scores.json")).unwrap();
    let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
    let likelihood = &rows[0];
    assert_eq!(likelihood["score"], "likelihood (bpd)");
    assert!(
        likelihood["metrics"]["auroc"]["value"].as_f64().unwrap() < 0.5,
        "{likelihood}"
    );

    // The report: parsable HTML whose embedded images decode and whose plots are not empty.
    let out = run.parent().unwrap().join("report");
    ok(genood(
        &[
            "report",
            "--run",
            run.to_str().unwrap(),
            "--in",
            "fashion-mnist:test",
            "--ood",
            "mnist:test",
            "--background",
            background.to_str().unwrap(),
            "--ensemble",
            member.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        real_data(),
    ));
    check_report(&out);
}

fn check_report(out: &Path) {
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for tag in ["svg", "table", "figure", "pre", "h2"] {
        let (open, close) = (
            html.matches(&format!("<{tag}")).count(),
            html.matches(&format!("</{tag}>")).count(),
        );
        assert!(
            open > 0 && open == close,
            "<{tag}>: {open} opened, {close} closed"
        );
    }
    // Three histograms and one ROC chart, each with data drawn in it.
    assert_eq!(html.matches("<svg").count(), 4);
    assert!(html.matches("<path d=\"M").count() >= 9, "histogram areas");
    assert!(html.matches("<polyline").count() >= 5, "ROC curves");
    // The sample grid is embedded, is the PNG written beside the page, and decodes.
    let png_bytes = std::fs::read(out.join("run-samples.png")).unwrap();
    assert!(html.contains(&format!(
        "data:image/png;base64,{}",
        genood_ood::report::base64(&png_bytes)
    )));
    let reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .unwrap();
    assert!(reader.info().width > 100 && reader.info().height > 100);
    assert!(html.contains("≈0.09 (reported)"), "literature column");
}

#[test]
fn a_reloaded_checkpoint_gives_bit_identical_log_p_in_a_new_process() {
    let run = trained_run("reload", "cv-glow");
    let args = [
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        "mnist:test",
        "--limit",
        "300",
        "--seed",
        "3",
    ];
    ok(genood(&args, real_data()));
    let first = std::fs::read(run.join("scores/mnist_test.csv")).unwrap();
    ok(genood(&args, real_data()));
    assert_eq!(
        std::fs::read(run.join("scores/mnist_test.csv")).unwrap(),
        first
    );

    // And this process, loading the same files, computes the very same numbers.
    let device = Device::flex();
    let (_, model) = RunDir::new(&run).load_model(&device).unwrap();
    let set = SetSpec::parse("mnist:test")
        .unwrap()
        .load(real_data(), 3)
        .unwrap();
    let indices = set.sample_indices(300, &mut rand::rngs::StdRng::seed_from_u64(3));
    let set = set.select(&indices, "subset");
    let scores = evaluate(&model, &set, 500, 3, &device);
    let csv = String::from_utf8(first).unwrap();
    for ((line, score), index) in csv.lines().skip(1).zip(&scores).zip(&indices) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(
            fields[0],
            index.to_string(),
            "rows name the image's index in the full set"
        );
        let log_p: f64 = fields[2].parse().unwrap();
        assert_eq!(log_p.to_bits(), score.log_p.to_bits());
    }
}

#[test]
fn bad_input_gets_a_clear_error_naming_the_file_or_step() {
    let dir = scratch("errors");
    let missing = dir.join("no-such-run");
    let err = failure(genood(
        &[
            "eval",
            "--run",
            missing.to_str().unwrap(),
            "--data",
            "mnist:test",
        ],
        real_data(),
    ));
    assert!(err.contains("config.json"), "{err}");

    let err = failure(genood(
        &[
            "train",
            "--run",
            dir.join("r").to_str().unwrap(),
            "--device",
            "cuda",
        ],
        real_data(),
    ));
    if cfg!(not(feature = "cuda")) {
        assert!(err.contains("built without the CUDA backend"), "{err}");
    }
    let err = failure(genood(
        &[
            "train",
            "--run",
            dir.join("r").to_str().unwrap(),
            "--data",
            "mnist",
        ],
        real_data(),
    ));
    assert!(err.contains("name a split"), "{err}");

    // A set without a public download says where its files go.
    let err = failure(genood(&["fetch", "celeba"], &dir.join("empty-cache")));
    assert!(
        err.contains("celeba") && err.contains("img_align_celeba/000001.jpg"),
        "{err}"
    );

    // A truncated IDX file in the cache is named in the error.
    let cache = dir.join("cache/fashion-mnist");
    std::fs::create_dir_all(&cache).unwrap();
    let source = real_data().join("fashion-mnist");
    for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(source.join(name), cache.join(name)).unwrap();
    }
    let images = cache.join("t10k-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() / 3]).unwrap();
    let run = trained_run("errors-run", "glow");
    let err = failure(genood(
        &[
            "eval",
            "--run",
            run.to_str().unwrap(),
            "--data",
            "fashion-mnist:test",
        ],
        &dir.join("cache"),
    ));
    assert!(err.contains("t10k-images-idx3-ubyte.gz"), "{err}");

    // Corrupt weights are named too.
    std::fs::write(run.join("model.safetensors"), b"garbage").unwrap();
    let err = failure(genood(
        &[
            "eval",
            "--run",
            run.to_str().unwrap(),
            "--data",
            "mnist:test",
        ],
        real_data(),
    ));
    assert!(err.contains("model.safetensors"), "{err}");
}
