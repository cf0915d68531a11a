//! Inputs that used to panic (exit 101), abort on an allocation failure (exit 134) or run
//! away: each is now refused with exit 1 and a message naming the flag, field or file, and
//! the memory estimate where memory is the reason.

use std::path::Path;
use std::process::Output;

mod common;

use common::{genood, ok, real_data, tiny_config, tiny_run, write_pngs};
use genood_data::{Conform, DataSource, ImageSet, SetSpec};

/// What a refused command printed, after checking that it exited 1 (no panic, no abort).
fn refused(output: Output) -> String {
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{err}");
    err
}

/// The tiny Glow's configuration with `field` of its flow set to `value`, as a file.
fn config_with(dir: &Path, field: &str, value: u64) -> String {
    let mut config = tiny_config();
    config["model"]["flow"][field] = value.into();
    let path = dir.join(format!("{field}.json"));
    std::fs::write(&path, config.to_string()).unwrap();
    path.display().to_string()
}

fn fashion_test() -> ImageSet {
    SetSpec::parse("fashion-mnist:test")
        .unwrap()
        .load(&DataSource::new(real_data()), 0, Conform::default())
        .unwrap()
}

#[test]
fn sizes_no_machine_holds_are_refused_with_the_memory_estimate() {
    let (dir, run) = tiny_run("refusals-memory", 20);
    let r = run.to_str().unwrap();
    let err = refused(genood(
        &["sample", "--run", r, "--count", "100000000"],
        real_data(),
    ));
    assert!(
        err.contains("--count") && err.contains("needs about"),
        "{err}"
    );
    let folder = dir.join("one");
    write_pngs(&fashion_test(), 0, 1, &folder, false);
    let one = format!("folder:{}", folder.display());
    let err = refused(genood(
        &[
            "train",
            "--run",
            r,
            "--data",
            &one,
            "--size",
            "100000x100000",
        ],
        real_data(),
    ));
    assert!(
        err.contains("--size") && err.contains("needs about"),
        "{err}"
    );
    for (field, value, named) in [
        (
            "hidden_channels",
            100_000_000,
            "hidden_channels = 100000000",
        ),
        ("steps_per_level", 100_000, "steps_per_level = 100000"),
    ] {
        let config = config_with(&dir, field, value);
        let err = refused(genood(
            &[
                "train",
                "--run",
                &format!("{r}-{field}"),
                "--config",
                &config,
            ],
            real_data(),
        ));
        assert!(
            err.contains(named) && err.contains("needs about"),
            "{field}: {err}"
        );
    }
    // A run whose config.json was edited to such a size is refused before it is built.
    let saved = std::fs::read_to_string(run.join("config.json")).unwrap();
    let mut edited: serde_json::Value = serde_json::from_str(&saved).unwrap();
    edited["model"]["flow"]["hidden_channels"] = 100_000_000.into();
    std::fs::write(run.join("config.json"), edited.to_string()).unwrap();
    let err = refused(genood(
        &["eval", "--run", r, "--data", "mnist:test", "--limit", "10"],
        real_data(),
    ));
    assert!(
        err.contains("config.json") && err.contains("needs about"),
        "{err}"
    );
    // What fits is accepted.
    std::fs::write(run.join("config.json"), saved).unwrap();
    ok(genood(
        &[
            "sample",
            "--run",
            r,
            "--count",
            "4",
            "--out",
            dir.join("s.png").to_str().unwrap(),
        ],
        real_data(),
    ));
}

#[test]
fn numbers_that_overflow_are_refused_naming_the_file_or_field() {
    let (dir, run) = tiny_run("refusals-overflow", 20);
    let r = run.to_str().unwrap();
    let config = config_with(&dir, "levels", 64);
    let err = refused(genood(
        &[
            "train",
            "--run",
            &format!("{r}-levels"),
            "--config",
            &config,
        ],
        real_data(),
    ));
    assert!(err.contains("flow.levels = 64"), "{err}");
    // An .npy header whose dimensions' product overflows.
    let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend([0u8; 16]);
    let array = dir.join("huge.npy");
    std::fs::write(&array, npy).unwrap();
    let err = refused(genood(
        &[
            "eval",
            "--run",
            r,
            "--data",
            &format!("npy:{}", array.display()),
        ],
        real_data(),
    ));
    assert!(
        err.contains("huge.npy") && err.contains("too large"),
        "{err}"
    );
}

#[test]
fn absurd_learning_rates_and_link_loops_are_caught_up_front() {
    let (dir, run) = tiny_run("refusals-loops", 20);
    let r = run.to_str().unwrap();
    let err = refused(genood(
        &["train", "--run", &format!("{r}-lr"), "--lr", "1e39"],
        real_data(),
    ));
    assert!(err.contains("--lr") && err.contains("1e39"), "{err}");
    // A link back up the folder is followed once: one image stays one image.
    let looped = dir.join("looped");
    write_pngs(&fashion_test(), 0, 1, &looped.join("a"), false);
    std::os::unix::fs::symlink("..", looped.join("a").join("up")).unwrap();
    let table = ok(genood(
        &[
            "eval",
            "--run",
            r,
            "--data",
            &format!("folder:{}", looped.display()),
        ],
        real_data(),
    ));
    assert!(table.contains("looped | 1 |"), "{table}");
}
