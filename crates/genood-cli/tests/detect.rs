//! `genood detect` on folders and arrays nobody prepared for it, on the real data: verdicts
//! that mean what they say, whatever order, path, shape or working directory the images come in.

use std::path::{Path, PathBuf};

use genood_data::{Conform, DataSource, ImageSet, SetSpec};

mod common;

use common::{command, genood, ok, real_data, scratch, tiny_config, write_pngs};

fn load(name: &str) -> ImageSet {
    SetSpec::parse(name)
        .unwrap()
        .load(&DataSource::new(real_data()), 0, Conform::default())
        .unwrap()
}

/// The cells of the table row that starts with `| prefix`.
fn row<'a>(table: &'a str, prefix: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("| {prefix}")))
        .unwrap_or_else(|| panic!("no row {prefix} in\n{table}"));
    line.trim_matches('|').split('|').map(str::trim).collect()
}

fn percent(cell: &str) -> f64 {
    cell.split('%').next().unwrap().parse().unwrap()
}

#[test]
fn detect_keeps_its_stated_rate_on_an_image_folder_read_in_path_order() {
    let dir = scratch("detect-rate");
    let run = dir.join("run");
    let r = run.to_str().unwrap();
    // The tiny Glow, with 2,000 held-out images so that the thresholds' own sampling error
    // stays well inside the tolerance.
    let mut config = tiny_config();
    config["train"]["steps"] = 150.into();
    config["train"]["heldout_size"] = 2000.into();
    let config_file = dir.join("config.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    ok(genood(
        &[
            "train",
            "--run",
            r,
            "--config",
            config_file.to_str().unwrap(),
        ],
        real_data(),
    ));
    // FashionMNIST's test set as an ImageFolder: read in path order, so class after class.
    let test = load("fashion-mnist:test");
    let folder = dir.join("fashion-test");
    write_pngs(&test, 0, test.len(), &folder, true);
    let set = format!("folder:{}", folder.display());
    let table = ok(genood(
        &["detect", "--run", r, "--data", &set, "--fpr", "0.05"],
        real_data(),
    ));
    assert!(
        table.contains("batch test: seeded random batches of 10 within each set"),
        "{table}"
    );
    let cells = row(&table, &set);
    let (images, batches) = (percent(cells[6]), percent(cells[7]));
    assert!(
        (3.5..=6.5).contains(&images),
        "{images}% of in-distribution images flagged at 5%\n{table}"
    );
    assert!(
        (3.5..=6.5).contains(&batches),
        "{batches}% of in-distribution batches flagged at 5%\n{table}"
    );
    assert!(cells[7].ends_with("of 1000"), "{table}");
    // The rate per class, beside the overall one.
    for class in 0..10 {
        let cells = row(&table, &format!("class-{class} "));
        assert_eq!(cells[1], "1000", "{table}");
    }
}

/// A scratch folder holding `imgs/` (300 FashionMNIST test images as PNGs) and `run/`, the
/// tiny Glow trained on it for 40 steps with the folder named relatively, from the scratch
/// folder; and a runner of `genood` from there.
struct FolderRun {
    dir: PathBuf,
    run: PathBuf,
}

impl FolderRun {
    fn new(name: &str) -> Self {
        let dir = scratch(name);
        write_pngs(
            &load("fashion-mnist:test"),
            0,
            300,
            &dir.join("imgs"),
            false,
        );
        let run = dir.join("run");
        let made = Self { dir, run };
        made.in_dir(&[
            "train",
            "--run",
            made.r(),
            "--preset",
            "tiny",
            "--steps",
            "40",
            "--data",
            "folder:imgs",
        ]);
        made
    }

    fn r(&self) -> &str {
        self.run.to_str().unwrap()
    }

    /// `genood args` run from the scratch folder, succeeding.
    fn in_dir(&self, args: &[&str]) -> String {
        ok(command(args, real_data())
            .current_dir(&self.dir)
            .output()
            .unwrap())
    }

    fn detector(&self) -> String {
        std::fs::read_to_string(self.run.join("detector.json")).unwrap()
    }
}

#[test]
fn a_folder_scores_byte_for_byte_alike_however_its_path_is_spelled() {
    let f = FolderRun::new("detect-paths");
    // Its images' noise is keyed by their paths inside it.
    let absolute = format!("folder:{}", f.dir.join("imgs").display());
    f.in_dir(&[
        "eval",
        "--run",
        f.r(),
        "--data",
        "folder:imgs",
        "folder:./imgs",
        &absolute,
    ]);
    let csvs: Vec<String> = std::fs::read_dir(f.run.join("scores"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(csvs.len(), 3);
    assert!(
        csvs.iter()
            .all(|c| *c == csvs[0] && c.lines().count() == 301)
    );
}

#[test]
fn a_detector_refits_from_any_directory_with_the_codec_chosen() {
    let f = FolderRun::new("detect-refit");
    // The run's training set is found from elsewhere (--refit reads it again).
    let elsewhere = scratch("detect-elsewhere");
    let out = ok(command(
        &["detect", "--run", f.r(), "--refit", "--codec", "png"],
        real_data(),
    )
    .current_dir(&elsewhere)
    .output()
    .unwrap());
    assert!(out.contains("held-out"), "{out}");
    assert!(f.detector().contains("\"codec\": \"png\""));
    ok(genood(&["detect", "--run", f.r(), "--refit"], real_data()));
    assert!(f.detector().contains("\"codec\": \"webp-lossless\""));
}

/// `count` of the test images as 32×32 RGB PNGs in `dir` (each 28×28 image, its last row
/// and column repeated).
fn write_rgb_pngs(dir: &Path, count: usize) {
    let test = load("fashion-mnist:test");
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        let grey = test.image(i);
        let mut interleaved = Vec::with_capacity(32 * 32 * 3);
        for y in 0..32 {
            for x in 0..32 {
                let v = grey[y.min(27) * 28 + x.min(27)];
                interleaved.extend([v, v, v]);
            }
        }
        let file = std::fs::File::create(dir.join(format!("{i:03}.png"))).unwrap();
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), 32, 32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&interleaved).unwrap();
    }
}

#[test]
fn a_detector_calibrates_on_a_trusted_set_of_another_shape_and_says_it_converted() {
    let f = FolderRun::new("detect-calibrate");
    let rgb = f.dir.join("rgb");
    write_rgb_pngs(&rgb, 100);
    let rgb_set = format!("folder:{}", rgb.display());
    let out = ok(genood(
        &["detect", "--run", f.r(), "--calibrate", &rgb_set],
        real_data(),
    ));
    assert!(
        out.contains("converted images to 1×28×28") && out.contains("100 from 3×32×32"),
        "{out}"
    );
    assert!(out.contains("100 calibration images"), "{out}");
    assert!(
        f.detector()
            .contains(&format!("\"calibration\": \"{rgb_set}\""))
    );
}

#[test]
fn detect_converts_arrays_like_folders_writes_where_told_and_names_skipped_files() {
    let f = FolderRun::new("detect-arrays");
    let test = load("fashion-mnist:test");
    let mut pixels = Vec::new();
    for i in 0..100 {
        for v in test.image(i) {
            pixels.extend([*v, *v, *v]);
        }
    }
    let array = f.dir.join("rgb.npy");
    std::fs::write(
        &array,
        genood_data::npz::encode_npy("|u1", &[100, 28, 28, 3], &pixels),
    )
    .unwrap();
    let array_set = format!("npy:{}", array.display());
    let verdicts = f.dir.join("verdicts.csv");
    let out = ok(genood(
        &[
            "detect",
            "--run",
            f.r(),
            "--data",
            &array_set,
            "--out",
            verdicts.to_str().unwrap(),
        ],
        real_data(),
    ));
    assert!(out.contains("100 from 3×28×28"), "{out}");
    // Scoring the array says it too.
    let out = ok(genood(
        &["eval", "--run", f.r(), "--data", &array_set],
        real_data(),
    ));
    assert!(
        out.contains("converted images to 1×28×28") && out.contains("100 from 3×28×28"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&verdicts).unwrap().lines().count(),
        101
    );
    assert!(
        !f.run.join("detect").exists(),
        "--out leaves no CSV in the run"
    );

    // Unreadable files are named, not only counted.
    std::fs::write(
        f.dir.join("imgs/broken.png"),
        b"\x89PNG\r\n\x1a\nnot an image",
    )
    .unwrap();
    let absolute = format!("folder:{}", f.dir.join("imgs").display());
    let out = ok(genood(
        &["--skip-bad", "detect", "--run", f.r(), "--data", &absolute],
        real_data(),
    ));
    assert!(
        out.contains("left out 1 unreadable file (--skip-bad): broken.png"),
        "{out}"
    );
}

/// A tiny `model` trained 30 steps, its scores of 100 images of FashionMNIST's training and
/// test sets and of MNIST written, and the `score` table of the test set against MNIST: the
/// run folder, the table, and the flags that limit later commands the same way.
fn scored_tiny_run(model: &str) -> (PathBuf, String, [&'static str; 4]) {
    let dir = scratch(&format!("detect-{model}"));
    let run = dir.join("run");
    let r = run.to_str().unwrap();
    let train = [
        "train", "--run", r, "--preset", "tiny", "--model", model, "--steps", "30",
    ];
    ok(genood(&train, real_data()));
    let limit = ["--limit", "100", "--iw-samples", "2"];
    let sets = ["fashion-mnist:train", "fashion-mnist:test", "mnist:test"];
    let eval = [&["eval", "--run", r, "--data"][..], &sets, &limit].concat();
    ok(genood(&eval, real_data()));
    let score = [
        "score",
        "--run",
        r,
        "--in",
        sets[1],
        "--ood",
        sets[2],
        "--reference",
        sets[0],
    ];
    let table = ok(genood(&score, real_data()));
    (run, table, limit)
}

/// The header of the scores file of MNIST's test set in `run`.
fn mnist_header(run: &Path) -> String {
    let csv = std::fs::read_to_string(run.join("scores/mnist_test.csv")).unwrap();
    csv.lines().next().unwrap().to_string()
}

#[test]
fn a_diffusion_models_own_detectors_are_scores_of_eval_score_and_detect() {
    let (run, table, limit) = scored_tiny_run("diffusion");
    let r = run.to_str().unwrap();
    // The scores file carries the bound's terms, then the detectors' statistics.
    let header = mnist_header(&run);
    assert!(
        header.starts_with("index,label,log_p,bpd,prior_kl,reconstruction,diffusion,msma@0.1,"),
        "{header}"
    );
    assert!(
        header.contains("path_curvature,recon@0.5,recon@0.65,recon@0.8,path"),
        "{header}"
    );
    for label in [
        "diffusion reconstruction (mean z-score",
        "MSMA (KDE of msma@0.1",
        "DiffPath (KDE of path_rate, path_curvature)",
        "DoSE (KDE of log p, prior_kl, reconstruction, diffusion)",
    ] {
        assert!(table.contains(label), "{label} missing from\n{table}");
    }
    // `detect` thresholds them when asked, fitted on the reference's statistics.
    let detect = [
        &[
            "detect",
            "--run",
            r,
            "--data",
            "mnist:test",
            "--scores",
            "typicality,reconstruction,msma,diffpath",
            "--reference-images",
            "200",
            "--explain",
        ][..],
        &limit,
    ]
    .concat();
    let table = ok(genood(&detect, real_data()));
    // The most flagged images above their reconstruction-error maps.
    let explained = std::fs::read(run.join("detect/mnist_test-explain.png")).unwrap();
    assert_eq!(&explained[1..4], b"PNG");
    assert!(
        table.contains("most flagged images above their maps (squared error of the reconstruction"),
        "{table}"
    );
    assert!(table.contains("mnist:test"), "{table}");
    let detector: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("detector.json")).unwrap()).unwrap();
    let fitted: Vec<&str> = detector["statistics_reference"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["score"].as_str().unwrap())
        .collect();
    assert_eq!(fitted, ["reconstruction", "msma", "diffpath"]);
    assert_eq!(
        detector["statistics_reference"][1]["rows"][0]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let verdicts = std::fs::read_to_string(run.join("detect/mnist_test.csv")).unwrap();
    assert!(
        verdicts.lines().next().unwrap().contains("msma"),
        "{verdicts}"
    );
    // A model without those statistics is refused by name.
    let (_, glow) = common::tiny_run("detect-diffusion-glow", 5);
    let refused = common::failure(genood(
        &[
            "detect",
            "--run",
            glow.to_str().unwrap(),
            "--scores",
            "msma",
            "--reference-images",
            "50",
        ],
        real_data(),
    ));
    assert!(
        refused.contains("`msma` needs a diffusion model's statistics"),
        "{refused}"
    );
}

#[test]
fn a_hierarchical_vaes_likelihood_ratios_are_scores_of_score_and_detect() {
    let (run, table, limit) = scored_tiny_run("hvae");
    let r = run.to_str().unwrap();
    // The tiny model has two stochastic layers: one rate each, one likelihood ratio.
    assert_eq!(
        mnist_header(&run),
        "index,label,log_p,bpd,elbo,rate_1,rate_2,distortion,llr>1,path"
    );
    assert!(table.contains("hierarchical VAE LLR (llr>1)"), "{table}");
    assert!(
        table.contains("DoSE (KDE of log p, elbo, rate_1, rate_2, distortion)"),
        "{table}"
    );
    let detect = [
        &[
            "detect",
            "--run",
            r,
            "--data",
            "mnist:test",
            "--scores",
            "likelihood,llr",
            "--reference-images",
            "100",
        ][..],
        &limit,
    ]
    .concat();
    ok(genood(&detect, real_data()));
    let verdicts = std::fs::read_to_string(run.join("detect/mnist_test.csv")).unwrap();
    assert!(
        verdicts.lines().next().unwrap().contains("llr"),
        "{verdicts}"
    );
    // `eval --no-detectors` leaves the ratios out; the bound, drawn first, is unchanged.
    let log_p = |run: &Path| {
        let csv = std::fs::read_to_string(run.join("scores/mnist_test.csv")).unwrap();
        let lines: Vec<String> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().to_string())
            .collect();
        lines
    };
    let with_ratios = log_p(&run);
    let eval = [
        &["eval", "--run", r, "--data", "mnist:test", "--no-detectors"][..],
        &limit,
    ]
    .concat();
    ok(genood(&eval, real_data()));
    assert_eq!(
        mnist_header(&run),
        "index,label,log_p,bpd,elbo,rate_1,rate_2,distortion,path"
    );
    assert_eq!(log_p(&run), with_ratios);
}
