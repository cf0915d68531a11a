//! The `genood` binary end to end on the real FashionMNIST and MNIST archives in
//! `../shared/data` (these tests fail, never skip, when the archives are missing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use genood_data::{Conform, DataSource, SetSpec};
use genood_train::eval::evaluate_with_progress;
use genood_train::run::RunDir;
use rand::SeedableRng;

mod common;

use common::{failure, genood, ok, real_data, scratch, write_pngs};

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
        Some("index,label,log_p,bpd,log_prior,log_det,path")
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
    // Each row says how much of each set was scored: 2,000 of the 10,000 test images.
    assert!(
        table.contains("| fashion-mnist:test (2000 of 10000) | mnist:test (2000 of 10000) |"),
        "{table}"
    );
    // Without --reference the run's own training set is the reference, and every
    // single-input score is written per image.
    let per_image = std::fs::read_to_string(run.join("ood-scores/mnist_test.csv")).unwrap();
    let mut lines = per_image.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("index,likelihood (bpd),typicality,input complexity (png-best)"),
        "{per_image}"
    );
    assert_eq!(lines.count(), 2000);

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

    // The verdict opens with a sentence on MNIST: what separates it per image, what only in
    // batches, what fails; the table after it is grouped by what a score decides on. With a
    // detector that labelled the sets, its flagged counts follow.
    let r = run.to_str().unwrap();
    ok(genood(
        &[
            "detect",
            "--run",
            r,
            "--data",
            "fashion-mnist:test",
            "mnist:test",
            "--limit",
            "500",
        ],
        real_data(),
    ));
    ok(genood(
        &[
            "report",
            "--run",
            r,
            "--in",
            "fashion-mnist:test",
            "--ood",
            "mnist:test",
            "--out",
            out.to_str().unwrap(),
        ],
        real_data(),
    ));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let verdict = html.find("Verdict</h2>").expect("a verdict");
    let headline = html
        .find("<p>mnist:test (glow): ")
        .expect("a headline on MNIST");
    let table = html[verdict..].find("<table").unwrap() + verdict;
    assert!(verdict < headline && headline < table, "the sentence first");
    let sentence = &html[headline..html[headline..].find("</p>").unwrap() + headline];
    // The tiny Glow's likelihood fails, or ranks MNIST as more in-distribution: said so.
    let likelihood = sentence.find("likelihood (bpd) (").expect(sentence);
    let after = &sentence[likelihood..];
    assert!(
        after.contains(" fail") || after.contains("more in-distribution than the test set"),
        "{sentence}"
    );
    assert!(
        html[table..].contains("<td>per image</td>")
            && html[table..].contains("<td>batches of 10</td>")
    );
    let counts = html
        .find("glow: its detector (detector.json, thresholds at 5% false positives on held-out) flags fashion-mnist:test ")
        .expect("the detector's counts");
    assert!(counts < table);
    let counts = &html[counts..html[counts..].find("</p>").unwrap() + counts];
    assert_eq!(counts.matches(" of 500)").count(), 2, "{counts}");
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
        .load(&DataSource::new(real_data()), 3, Conform::default())
        .unwrap();
    let indices = set.sample_indices(300, &mut rand::rngs::StdRng::seed_from_u64(3));
    let scores = evaluate_with_progress(
        &model,
        &set,
        &indices,
        500,
        100,
        3,
        2,
        &device,
        "evaluate",
        &mut genood_models::Quiet,
    );
    let csv = String::from_utf8(first).unwrap();
    let rows = |csv: &str| -> Vec<(usize, u64)> {
        csv.lines()
            .skip(1)
            .map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                let log_p: f64 = fields[2].parse().unwrap();
                (fields[0].parse().unwrap(), log_p.to_bits())
            })
            .collect()
    };
    let first = rows(&csv);
    for ((index, log_p), score) in first.iter().zip(&scores) {
        assert_eq!(
            score.index, *index,
            "rows name the image's index in the full set"
        );
        assert_eq!(*log_p, score.log_p.to_bits());
    }

    // Another batch size and a larger limit (whose images include the first 300) score every
    // image they share bit for bit alike.
    let mut other = args.to_vec();
    other[6] = "450";
    other.extend(["--batch-size", "7"]);
    ok(genood(&other, real_data()));
    let wider: BTreeMap<usize, u64> =
        rows(&std::fs::read_to_string(run.join("scores/mnist_test.csv")).unwrap())
            .into_iter()
            .collect();
    assert_eq!(wider.len(), 450);
    for (index, log_p) in &first {
        assert_eq!(wider.get(index), Some(log_p), "image {index}");
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
    // Mixed precision is for the flows; zero worker threads is no count.
    let run = dir.join("r");
    let err = failure(genood(
        &[
            "train",
            "--run",
            run.to_str().unwrap(),
            "--model",
            "pixelcnnpp",
            "--precision",
            "bf16",
        ],
        real_data(),
    ));
    assert!(
        err.contains("precision applies to glow and cv-glow"),
        "{err}"
    );
    let err = failure(genood(
        &["train", "--run", run.to_str().unwrap(), "--threads", "0"],
        real_data(),
    ));
    assert!(err.contains("--threads"), "{err}");
    // Sizes of 0 and rates that are not finite are refused as the command line is read,
    // naming the flag (they used to panic or fail mid-run).
    let r = run.to_str().unwrap();
    for (args, flag) in [
        (
            vec!["train", "--run", r, "--batch-size", "0"],
            "--batch-size",
        ),
        (vec!["train", "--run", r, "--lr", "NaN"], "--lr"),
        (vec!["train", "--run", r, "--lr", "inf"], "--lr"),
        (
            vec!["eval", "--run", r, "--data", "mnist:test", "--limit", "0"],
            "--limit",
        ),
        (vec!["sample", "--run", r, "--count", "0"], "--count"),
        (vec!["analyze", "--run", r, "--probes", "1"], "--probes"),
    ] {
        let err = failure(genood(&args, real_data()));
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    // The same numbers in a config file are refused with the field named.
    let config = dir.join("zero-batch.json");
    let printed = ok(genood(
        &["train", "--run", r, "--print-config"],
        real_data(),
    ));
    let start = printed.find('{').expect("a JSON config");
    let end = printed.rfind('}').expect("a JSON config");
    let mut json: serde_json::Value = serde_json::from_str(&printed[start..=end]).unwrap();
    json["train"]["init_batch_size"] = 0.into();
    std::fs::write(&config, json.to_string()).unwrap();
    let err = failure(genood(
        &["train", "--run", r, "--config", config.to_str().unwrap()],
        real_data(),
    ));
    assert!(
        err.contains("train.init_batch_size must be at least 1"),
        "{err}"
    );
    assert!(!run.exists(), "a refused command writes nothing");
    // Unknown names are refused with the choices listed; a missing config file is named.
    let out = dir.join("refused-reproduce");
    let missing = dir.join("no-such-config.json");
    for (args, expected) in [
        (
            vec!["train", "--run", r, "--model", "gloww"],
            "invalid value 'gloww' for '--model <MODEL>'\n  [possible values: glow, cv-glow,",
        ),
        (
            vec!["train", "--run", r, "--preset", "huge"],
            "invalid value 'huge' for '--preset <PRESET>'\n  [possible values: tiny, quick, paper]",
        ),
        (
            vec![
                "reproduce",
                "--pair",
                "mnist-omniglot",
                "--out",
                out.to_str().unwrap(),
            ],
            "unknown pair `mnist-omniglot`; choose one of fashion-mnist-mnist",
        ),
        (
            vec!["train", "--run", r, "--config", missing.to_str().unwrap()],
            "no-such-config.json",
        ),
    ] {
        let err = failure(genood(&args, real_data()));
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(
        !run.exists() && !out.exists(),
        "a refused command writes nothing"
    );

    // An I/O error is told once, with the file.
    let nowhere = dir.join("no-such-run");
    let err = failure(genood(
        &[
            "eval",
            "--run",
            nowhere.to_str().unwrap(),
            "--data",
            "mnist:test",
        ],
        real_data(),
    ));
    assert!(err.contains("no-such-run"), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");

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

    // Training into a folder that holds a run needs --resume or --overwrite: a fresh run
    // beside the old one's scores would make them stale.
    let r = run.to_str().unwrap();
    ok(genood(
        &["eval", "--run", r, "--data", "mnist:test", "--limit", "20"],
        real_data(),
    ));
    // A multi-set eval that fails on a later set writes nothing, the earlier set included.
    let scores = std::fs::read(run.join("scores/mnist_test.csv")).unwrap();
    let summary = std::fs::read(run.join("summary.json")).unwrap();
    let missing = format!("folder:{}", dir.join("no-such-folder").display());
    let err = failure(genood(
        &[
            "eval",
            "--run",
            r,
            "--data",
            "mnist:test",
            &missing,
            "--limit",
            "30",
        ],
        real_data(),
    ));
    assert!(err.contains("no-such-folder"), "{err}");
    assert_eq!(
        std::fs::read(run.join("scores/mnist_test.csv")).unwrap(),
        scores
    );
    assert_eq!(std::fs::read(run.join("summary.json")).unwrap(), summary);
    let weights = std::fs::read(run.join("model.safetensors")).unwrap();
    let tiny = ["--preset", "tiny", "--steps", "5"];
    let err = failure(genood(
        &[&["train", "--run", r][..], &tiny].concat(),
        real_data(),
    ));
    assert!(
        err.contains("already holds a run") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(run.join("model.safetensors")).unwrap(),
        weights
    );
    assert!(run.join("scores/mnist_test.csv").exists());

    // Scores record the checkpoint that made them: once training goes on, they are stale.
    let origin = std::fs::read_to_string(run.join("scores/mnist_test.json")).unwrap();
    assert!(
        origin.contains("\"step\": 150") && origin.contains("\"limit\": 20"),
        "{origin}"
    );
    ok(genood(
        &[
            "train", "--run", r, "--resume", "--preset", "tiny", "--steps", "155",
        ],
        real_data(),
    ));
    let err = failure(genood(
        &[
            "score",
            "--run",
            r,
            "--in",
            "mnist:test",
            "--ood",
            "mnist:test",
            "--reference",
            "mnist:test",
        ],
        real_data(),
    ));
    assert!(
        err.contains("mnist_test.csv")
            && err.contains("checkpoint of step 150")
            && err.contains("step 155"),
        "{err}"
    );

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

    // --overwrite starts over, the old run's scores and summary gone with it.
    std::fs::write(run.join("notes.txt"), b"mine").unwrap();
    ok(genood(
        &[&["train", "--run", r, "--overwrite"][..], &tiny].concat(),
        real_data(),
    ));
    assert!(!run.join("scores").exists() && !run.join("summary.json").exists());
    assert!(
        run.join("notes.txt").exists(),
        "files genood did not write are left alone"
    );
}

fn decoded_png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    (reader.info().width, reader.info().height)
}

#[test]
fn analyze_explains_a_tiny_cv_glow_on_the_real_data() {
    let run = scratch("analyze").join("run");
    ok(genood(
        &[
            "train",
            "--run",
            run.to_str().unwrap(),
            "--preset",
            "tiny",
            "--model",
            "cv-glow",
            "--steps",
            "60",
            "--monitor",
            "mnist:test",
        ],
        real_data(),
    ));
    let out = run.parent().unwrap().join("analysis");
    ok(genood(
        &[
            "analyze",
            "--run",
            run.to_str().unwrap(),
            "--in",
            "fashion-mnist:test",
            "--ood",
            "mnist:test",
            "--gray-limit",
            "100",
            "--probes",
            "8",
            "--eval-limit",
            "500",
            "--out",
            out.to_str().unwrap(),
        ],
        real_data(),
    ));
    let text = std::fs::read_to_string(out.join("analysis.json")).unwrap();
    let a: serde_json::Value = serde_json::from_str(&text).unwrap();
    let numbers = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };

    // Moments of the whole sets; the per-channel gap is the sum of the per-pixel differences.
    let moments = a["moments"].as_array().unwrap();
    let sets: Vec<&str> = moments.iter().map(|m| m["set"].as_str().unwrap()).collect();
    assert_eq!(
        sets,
        ["fashion-mnist:train", "fashion-mnist:test", "mnist:test"]
    );
    assert_eq!(moments[0]["images"], 60_000);
    let (train_var, mnist_var) = (
        numbers(&moments[0]["variance"]),
        numbers(&moments[2]["variance"]),
    );
    assert_eq!(train_var.len(), 784);
    let gap: f64 = train_var.iter().zip(&mnist_var).map(|(p, q)| p - q).sum();
    let reported = numbers(&a["variance_gaps"][0]["per_channel"]);
    assert!(
        (reported[0] - gap).abs() < 1e-9 && gap > 0.0,
        "MNIST varies less: {gap}"
    );

    let r = &a["runs"][0];
    assert_eq!(r["model"], "cv-glow");
    assert_eq!(r["constant_volume"], true);
    // The decomposition: one volume term for every image, and the two terms sum to log p.
    for t in r["terms"].as_array().unwrap() {
        let spread = |name: &str| t[name]["mean"].as_f64().unwrap();
        assert_eq!(t["log_det"]["min"], t["log_det"]["max"], "{t}");
        let sum = spread("log_prior") + spread("log_det");
        assert!(
            (sum - spread("log_p")).abs() < 1e-3 * spread("log_p").abs(),
            "{t}"
        );
    }
    assert_eq!(
        r["terms"][0]["images"], 500,
        "the reference was scored for the analysis"
    );
    let s = &r["second_order"][0];
    assert!(s["closed_form"]["gap"].as_f64().unwrap().is_finite());
    assert_eq!(s["measured_terms"].as_array().unwrap().len(), 4);
    assert_eq!(s["linear_flow_variance_term"]["probes"], 8);
    // Graying: the test set's curve and MNIST's, 11 levels from α = 0 to 1 on 100 images.
    let graying = r["graying"].as_array().unwrap();
    assert_eq!(graying.len(), 2);
    for curve in graying {
        let points = curve["points"].as_array().unwrap();
        assert_eq!(points.len(), 11);
        assert_eq!(
            (points[0]["alpha"].as_f64(), points[10]["alpha"].as_f64()),
            (Some(0.0), Some(1.0))
        );
        assert_eq!(points[5]["images"], 100);
    }
    // At α = 1 every image is the same mid-gray: both sets score the same, up to the
    // dequantization noise, which each set draws for itself.
    let gray = |c: usize| graying[c]["points"][10]["mean_log_p"].as_f64().unwrap();
    assert!(
        (gray(0) - gray(1)).abs() < 1e-4 * gray(0).abs(),
        "{} vs {}",
        gray(0),
        gray(1)
    );
    // Training dynamics from --monitor: three sets at steps 0, 20, 40 and 60 (tiny preset).
    let dynamics = r["dynamics"].as_array().unwrap();
    assert_eq!(dynamics.len(), 12);
    let steps: Vec<u64> = dynamics
        .iter()
        .map(|d| d["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [0, 0, 0, 20, 20, 20, 40, 40, 40, 60, 60, 60]);
    assert_eq!(dynamics[2]["set"], "mnist:test");

    // Every figure as SVG and as a PNG twice its size, and a page that embeds them.
    for name in [
        "run-prior",
        "run-logdet",
        "moments-mean",
        "moments-variance",
        "run-graying",
        "run-dynamics",
    ] {
        let svg = std::fs::read_to_string(out.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<text"), "{name}");
        assert_eq!(
            decoded_png_size(&out.join(format!("{name}.png"))),
            (1280, 800),
            "{name}"
        );
    }
    let html = std::fs::read_to_string(out.join("analysis.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 6);
    assert!(html.contains("the same for every input"));

    // The report shows the same section when given the analysis.
    ok(genood(
        &[
            "eval",
            "--run",
            run.to_str().unwrap(),
            "--data",
            "fashion-mnist:test",
            "mnist:test",
            "--limit",
            "300",
        ],
        real_data(),
    ));
    let report = run.parent().unwrap().join("report");
    ok(genood(
        &[
            "report",
            "--run",
            run.to_str().unwrap(),
            "--in",
            "fashion-mnist:test",
            "--ood",
            "mnist:test",
            "--analysis",
            out.join("analysis.json").to_str().unwrap(),
            "--out",
            report.to_str().unwrap(),
        ],
        real_data(),
    ));
    let page = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(page.contains("Why: the paper's analysis"));
    assert!(page.contains("Likelihood over training"));
    assert_eq!(decoded_png_size(&report.join("run-bpd.png")), (1280, 800));

    let err = failure(genood(
        &[
            "analyze",
            "--run",
            run.to_str().unwrap(),
            "--ood",
            "mnist:nope",
        ],
        real_data(),
    ));
    assert!(err.contains("nope"), "{err}");
}

/// Trains `model` on the tiny preset for `steps` and scores the reference, test and OOD sets
/// (`limit` images each).
fn tiny_family_run(model: &str, steps: &str, limit: &str) -> PathBuf {
    let run = scratch(&format!("family-{model}")).join("run");
    ok(genood(
        &[
            "train",
            "--run",
            run.to_str().unwrap(),
            "--preset",
            "tiny",
            "--model",
            model,
            "--steps",
            steps,
        ],
        real_data(),
    ));
    ok(genood(
        &[
            "eval",
            "--run",
            run.to_str().unwrap(),
            "--data",
            "fashion-mnist:train",
            "fashion-mnist:test",
            "mnist:test",
            "--limit",
            limit,
            "--iw-samples",
            "4",
        ],
        real_data(),
    ));
    run
}

#[test]
fn pixelcnn_and_both_vaes_on_fashion_mnist_give_mnist_the_higher_likelihood() {
    for (model, steps, header, bound) in [
        ("pixelcnnpp", "30", "index,label,log_p,bpd,path", "exact"),
        (
            "vae-categorical",
            "100",
            "index,label,log_p,bpd,elbo,rate,distortion,path",
            "IW bound, k = 4",
        ),
        (
            "vae-realnvp",
            "100",
            "index,label,log_p,bpd,elbo,rate,distortion,path",
            "IW bound, k = 4",
        ),
    ] {
        let run = tiny_family_run(model, steps, "300");
        let fashion = std::fs::read_to_string(run.join("scores/fashion-mnist_test.csv")).unwrap();
        let mnist = std::fs::read_to_string(run.join("scores/mnist_test.csv")).unwrap();
        assert_eq!(fashion.lines().next(), Some(header), "{model}");
        let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
        assert!(
            summary.contains(&format!("\"bound\": \"{bound}\"")),
            "{summary}"
        );
        let (f, m) = (mean_log_p(&fashion), mean_log_p(&mnist));
        assert!(
            m > f,
            "{model}: MNIST mean log p {m} should exceed FashionMNIST's {f} (the paper's finding)"
        );
        if model == "pixelcnnpp" {
            let err = failure(genood(
                &[
                    "regret",
                    "--run",
                    run.to_str().unwrap(),
                    "--data",
                    "mnist:test",
                ],
                real_data(),
            ));
            assert!(err.contains("needs a VAE"), "{err}");
            continue;
        }
        // Likelihood regret on a subset, then the score table has it and DoSE on the VAE's
        // statistics.
        let regret = ok(genood(
            &[
                "regret",
                "--run",
                run.to_str().unwrap(),
                "--data",
                "fashion-mnist:test",
                "mnist:test",
                "--limit",
                "60",
                "--steps",
                "10",
            ],
            real_data(),
        ));
        assert!(regret.contains("ms/image"), "{regret}");
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
        assert!(
            table.contains(
                "| likelihood regret | fashion-mnist:test (60 of 10000) | mnist:test (60 of 10000) |"
            ) && table.contains("| DoSE (KDE of log p, elbo, rate, distortion) |"),
            "{table}"
        );
        if model == "vae-categorical" {
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
                    "--out",
                    out.to_str().unwrap(),
                ],
                real_data(),
            ));
            for kind in ["bpd", "elbo", "rate", "distortion"] {
                assert_eq!(
                    decoded_png_size(&out.join(format!("run-{kind}.png"))),
                    (1280, 800),
                    "{kind}"
                );
            }
            // The ROC's legend lies below the plot: one 18-pixel line per curve (six here).
            assert_eq!(
                decoded_png_size(&out.join("run-roc-mnist_test.png")),
                (1280, 800 + 2 * (18 * 6 + 8))
            );
            let html = std::fs::read_to_string(out.join("report.html")).unwrap();
            assert!(
                html.contains("Bits per dimension (IW bound, k = 4)"),
                "bound in the title"
            );
        }
    }
}

#[test]
fn help_lists_every_subcommand_with_one_line() {
    let help = ok(genood(&["--help"], Path::new("unused")));
    assert!(help.starts_with("genood: can you trust"), "{help}");
    for command in [
        "fetch",
        "train",
        "eval",
        "regret",
        "score",
        "analyze",
        "sample",
        "report",
        "reproduce",
        "detect",
        "sweep",
        "bench",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "{command} missing from:\n{help}"
        );
    }
}

/// The scores CSV of the set whose label starts with `prefix` in `run`'s scores folder.
fn scores_named(run: &Path, prefix: &str) -> String {
    let file = std::fs::read_dir(run.join("scores"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(prefix) && name.ends_with(".csv")
        })
        .unwrap_or_else(|| panic!("no scores file for {prefix}"));
    std::fs::read_to_string(file).unwrap()
}

#[test]
fn own_image_folders_train_at_their_native_shape_and_show_the_failure() {
    let dir = scratch("own-folders");
    let source = DataSource::new(real_data());
    let load = |name: &str| {
        SetSpec::parse(name)
            .unwrap()
            .load(&source, 0, Conform::default())
            .unwrap()
    };
    let (train, test, digits) = (
        load("fashion-mnist:train"),
        load("fashion-mnist:test"),
        load("mnist:test"),
    );
    let (fashion, fashion_test, mnist) = (
        dir.join("fashion"),
        dir.join("fashion-test"),
        dir.join("digits"),
    );
    write_pngs(&train, 0, 2000, &fashion, true);
    write_pngs(&test, 0, 500, &fashion_test, true);
    write_pngs(&digits, 0, 500, &mnist, false);
    let folder = |path: &Path| format!("folder:{}", path.display());
    let run = dir.join("run");
    let r = run.to_str().unwrap();
    let train_args = |steps: &'static str| {
        vec![
            "train".to_string(),
            "--run".into(),
            r.into(),
            "--preset".into(),
            "tiny".into(),
            "--data".into(),
            folder(&fashion),
            "--steps".into(),
            steps.into(),
        ]
    };
    let args: Vec<String> = train_args("150");
    let out = ok(genood(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        real_data(),
    ));
    // A small set holds out a tenth, and says so.
    assert!(
        out.contains("training on 1800 images, 200 held out (a tenth of the set"),
        "{out}"
    );
    // The grey 28×28 images stay 1×28×28.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let image = &config["model"]["image"];
    assert_eq!(
        (&image["channels"], &image["height"], &image["width"]),
        (&1.into(), &28.into(), &28.into()),
        "{config}"
    );
    // Resuming needs no --config: the run's own is used.
    let mut resume = train_args("170");
    resume.push("--resume".into());
    let out = ok(genood(
        &resume.iter().map(String::as_str).collect::<Vec<_>>(),
        real_data(),
    ));
    assert!(out.contains("170 steps"), "{out}");
    ok(genood(
        &[
            "eval",
            "--run",
            r,
            "--data",
            &folder(&fashion_test),
            &folder(&mnist),
        ],
        real_data(),
    ));
    let in_csv = scores_named(&run, &format!("folder_{}-", file_safe(&fashion_test)));
    let ood_csv = scores_named(&run, &format!("folder_{}-", file_safe(&mnist)));
    // Each row names its file; the class folders (sorted: class-0 … class-9) are the labels.
    assert_eq!(in_csv.lines().count(), 501);
    for row in in_csv.lines().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        let (label, path) = (fields[1], fields[fields.len() - 1]);
        assert!(path.starts_with(&format!("class-{label}/")), "{row}");
    }
    assert!(ood_csv.lines().nth(1).unwrap().ends_with(",00000.png"));
    let (f, m) = (mean_log_p(&in_csv), mean_log_p(&ood_csv));
    assert!(
        m > f,
        "MNIST PNGs' mean log p {m} should exceed FashionMNIST PNGs' {f} (the paper's finding)"
    );

    // `detect`, fitted on the run's own held-out images, labels an unlabelled folder that
    // mixes unseen FashionMNIST and MNIST images.
    let mixed = dir.join("mixed");
    write_pngs(&test, 1000, 300, &mixed.join("f"), false);
    write_pngs(&digits, 1000, 300, &mixed.join("d"), false);
    for part in ["f", "d"] {
        for file in std::fs::read_dir(mixed.join(part)).unwrap() {
            let file = file.unwrap().path();
            let name = format!("{part}-{}", file.file_name().unwrap().to_string_lossy());
            std::fs::rename(&file, mixed.join(name)).unwrap();
        }
        std::fs::remove_dir(mixed.join(part)).unwrap();
    }
    let table = ok(genood(
        &[
            "detect",
            "--run",
            r,
            "--data",
            &folder(&mixed),
            &folder(&fashion_test),
        ],
        real_data(),
    ));
    assert!(run.join("detector.json").exists(), "{table}");
    assert!(
        table.contains("| likelihood | typicality | complexity | dose |"),
        "{table}"
    );
    let verdicts = |csv: &str| -> Vec<(String, String, String)> {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (by, verdict, path) = (at("flagged_by"), at("verdict"), at("path"));
        lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (
                    f[path].to_string(),
                    f[by].to_string(),
                    f[verdict].to_string(),
                )
            })
            .collect()
    };
    let detect_csv = |folder_path: &Path| {
        let name = format!("folder_{}-", file_safe(folder_path));
        let file = std::fs::read_dir(run.join("detect"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&name))
            .unwrap();
        std::fs::read_to_string(file).unwrap()
    };
    let rows = verdicts(&detect_csv(&mixed));
    assert_eq!(rows.len(), 600);
    let share = |prefix: &str, flagged: &dyn Fn(&(String, String, String)) -> bool| {
        let part: Vec<_> = rows.iter().filter(|r| r.0.starts_with(prefix)).collect();
        part.iter().filter(|r| flagged(r)).count() as f64 / part.len() as f64
    };
    let by_complexity = share("d-", &|r| r.1.contains("complexity"));
    let digits_out = share("d-", &|r| r.2 == "ood");
    let fashion_out = share("f-", &|r| r.2 == "ood");
    assert!(
        by_complexity > 0.8,
        "complexity flags {by_complexity} of the digits\n{table}"
    );
    assert!(
        digits_out > 0.8,
        "the verdict flags {digits_out} of the digits\n{table}"
    );
    assert!(
        fashion_out < 0.15,
        "the verdict flags {fashion_out} of FashionMNIST\n{table}"
    );
    // The likelihood itself flags almost none of the digits: the failure, per image.
    let by_likelihood = share("d-", &|r| r.1.split(';').any(|s| s == "likelihood"));
    assert!(by_likelihood < 0.05, "{by_likelihood}");
    // About the target 5% of unseen in-distribution images are flagged.
    let held = verdicts(&detect_csv(&fashion_test));
    let flagged = held.iter().filter(|r| r.2 == "ood").count() as f64 / held.len() as f64;
    assert!(
        (0.01..=0.12).contains(&flagged),
        "{flagged} of unseen FashionMNIST flagged"
    );

    // The scores are a choice; a misspelt one is refused with the choices.
    let chosen = ok(genood(
        &[
            "detect",
            "--run",
            r,
            "--refit",
            "--scores",
            "likelihood,complexity",
            "--data",
            &folder(&mnist),
        ],
        real_data(),
    ));
    assert!(
        chosen.contains("| likelihood | complexity | combined (verdict) |"),
        "{chosen}"
    );
    let err = failure(genood(
        &["detect", "--run", r, "--refit", "--scores", "entropy"],
        real_data(),
    ));
    assert!(
        err.contains("invalid value 'entropy' for '--scores <SCORES>'\n  [possible values: likelihood, typicality, complexity, dose, reconstruction, msma, diffpath, llr]"),
        "{err}"
    );

    // The whole experiment on the folders: no paper figures, so no literature columns.
    let out = dir.join("reproduce");
    let log = ok(genood(
        &[
            "reproduce",
            "--preset",
            "tiny",
            "--train",
            &folder(&fashion),
            "--in",
            &folder(&fashion_test),
            "--ood",
            &folder(&mnist),
            "--models",
            "glow",
            "--steps",
            "40",
            "--ensemble",
            "1",
            "--background-mu",
            "0",
            "--out",
            out.to_str().unwrap(),
        ],
        real_data(),
    ));
    // One model without companions on folders (nothing to fetch): train, three evaluations,
    // score, analyse, report, summarise, and the (one-column) table.
    assert!(
        log.contains("plan: 9 jobs") && log.contains("job 9 of 9: sweep-report-"),
        "{log}"
    );
    let experiment = out.join("fashion-vs-digits-glow-tiny");
    let summary = std::fs::read_to_string(experiment.join("summary.md")).unwrap();
    assert!(
        summary.contains("The paper has no figures for these sets."),
        "{summary}"
    );
    assert!(!summary.contains("reported bpd"), "{summary}");
    let report = std::fs::read_to_string(experiment.join("report/report.html")).unwrap();
    assert!(!report.contains("reported AUROC"));
    // Verdict first, sets named by their folders, each set's gallery.
    let verdict = report
        .find("<h2 id=\"s1\">Verdict</h2>")
        .expect("a verdict");
    assert!(verdict < report.find("Bits per dimension").unwrap());
    assert!(
        report.contains("digits: the 8 most likely images"),
        "gallery"
    );

    // A corrupt file is named and refused; --skip-bad leaves it out and says so.
    let broken = fashion_test.join("class-3").join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\nnot an image").unwrap();
    let eval = ["eval", "--run", r, "--data", &folder(&fashion_test)];
    let err = failure(genood(&eval, real_data()));
    assert!(
        err.contains(&broken.display().to_string()) && err.contains("--skip-bad"),
        "{err}"
    );
    let mut lenient = vec!["--skip-bad"];
    lenient.extend(eval);
    let out = ok(genood(&lenient, real_data()));
    assert!(
        out.contains("left out 1 unreadable file (--skip-bad): class-3/broken.png"),
        "{out}"
    );
    assert!(out.contains("| 500 |"), "{out}");
}

/// A folder path as it appears in its scores file's name (every character but letters,
/// digits, `-`, `.` and `=` becomes `_`).
fn file_safe(path: &Path) -> String {
    path.display()
        .to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '=' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[test]
fn sharded_evaluation_merges_to_the_bytes_of_an_unsharded_one() {
    let run = trained_run("shards", "glow");
    let r = run.to_str().unwrap();
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "--run", r, "--data", "mnist:test", "--limit", "701"];
        args.extend_from_slice(extra);
        genood(&args, real_data())
    };
    let read = |name: &str| std::fs::read(run.join("scores").join(name)).unwrap();
    ok(eval(&["--batch-size", "64"]));
    let (csv, origin) = (read("mnist_test.csv"), read("mnist_test.json"));
    let summary = std::fs::read(run.join("summary.json")).unwrap();
    std::fs::remove_file(run.join("scores/mnist_test.csv")).unwrap();
    // Three workers' parts, other batch sizes; one is missing at first.
    ok(eval(&["--shard", "1/3", "--batch-size", "50"]));
    ok(eval(&["--shard", "3/3"]));
    let err = failure(eval(&["--merge", "3"]));
    assert!(err.contains("shard 2 of 3 is missing"), "{err}");
    ok(eval(&["--shard", "2/3", "--batch-size", "7"]));
    // A merge with another --limit than the shards' is refused.
    let err = failure(genood(
        &[
            "eval",
            "--run",
            r,
            "--data",
            "mnist:test",
            "--limit",
            "700",
            "--merge",
            "3",
        ],
        real_data(),
    ));
    assert!(err.contains("another checkpoint or --limit"), "{err}");
    ok(eval(&["--merge", "3"]));
    assert_eq!(read("mnist_test.csv"), csv);
    assert_eq!(read("mnist_test.json"), origin);
    assert_eq!(std::fs::read(run.join("summary.json")).unwrap(), summary);
}
