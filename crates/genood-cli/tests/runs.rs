//! Run folders under concurrent and failing commands, with real processes on the real data:
//! a replacement or a score never loses a run or mislabels what it computed.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

mod common;

use common::{command, failure, genood, ok, real_data, scratch};

/// Waits until `path` exists (a first checkpoint, say), at most two minutes.
fn wait_for(path: &Path, child: &mut Child) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the training ended before {} appeared",
            path.display()
        );
        assert!(started.elapsed() < Duration::from_secs(120), "{path:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn overwrite_and_eval_during_a_training_neither_delete_nor_mislabel() {
    let run = scratch("concurrent").join("run");
    let r = run.to_str().unwrap();
    let mut training = command(
        &["train", "--run", r, "--preset", "tiny", "--steps", "240"],
        real_data(),
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    wait_for(&run.join("state.json"), &mut training);

    // A replacement is refused while the run trains, and deletes nothing.
    let err = failure(genood(
        &[
            "train",
            "--run",
            r,
            "--overwrite",
            "--preset",
            "tiny",
            "--steps",
            "5",
        ],
        real_data(),
    ));
    assert!(err.contains("another genood process"), "{err}");
    for file in ["config.json", "state.json", "model.safetensors"] {
        assert!(
            run.join(file).exists(),
            "{file} survives the refused overwrite"
        );
    }

    // An eval loads the checkpoint of the moment, then waits for the lock until the training
    // ends: what it scored is no longer the run's model, and it must not say it is.
    let err = failure(genood(
        &["eval", "--run", r, "--data", "mnist:test", "--limit", "100"],
        real_data(),
    ));
    assert!(
        err.contains("moved from step") || err.contains("another genood process"),
        "{err}"
    );
    assert!(!run.join("scores/mnist_test.csv").exists());
    assert!(training.wait().unwrap().success());
    ok(genood(
        &["eval", "--run", r, "--data", "mnist:test", "--limit", "100"],
        real_data(),
    ));
    let origin = std::fs::read_to_string(run.join("scores/mnist_test.json")).unwrap();
    assert!(origin.contains("\"step\": 240"), "{origin}");
}

#[test]
fn a_replacement_that_cannot_start_keeps_the_finished_run() {
    let run = scratch("replace").join("run");
    let r = run.to_str().unwrap();
    ok(genood(
        &["train", "--run", r, "--preset", "tiny", "--steps", "20"],
        real_data(),
    ));
    let files = [
        "config.json",
        "state.json",
        "model.safetensors",
        "metrics.csv",
    ];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(run.join(f)).unwrap())
        .collect();
    // Sets that are not there (MNIST has only its test split here; CIFAR-10 is not fetched).
    for data in ["mnist:train", "cifar10:train"] {
        let err = failure(genood(
            &[
                "train",
                "--run",
                r,
                "--overwrite",
                "--preset",
                "tiny",
                "--data",
                data,
            ],
            real_data(),
        ));
        assert!(err.contains(data.split(':').next().unwrap()), "{err}");
        let after: Vec<Vec<u8>> = files
            .iter()
            .map(|f| std::fs::read(run.join(f)).unwrap())
            .collect();
        assert_eq!(after, before, "{data}: the finished run is intact");
    }
    // Scoring reads only the weights: the optimiser state and the log may go or change.
    std::fs::remove_file(run.join("optimizer.safetensors")).unwrap();
    std::fs::write(run.join("metrics.csv"), "edited by hand\n").unwrap();
    ok(genood(
        &["eval", "--run", r, "--data", "mnist:test", "--limit", "20"],
        real_data(),
    ));
    // Resuming reads them all, and says which is gone.
    let err = failure(genood(
        &[
            "train", "--run", r, "--resume", "--preset", "tiny", "--steps", "40",
        ],
        real_data(),
    ));
    assert!(
        err.contains("metrics.csv") || err.contains("optimizer.safetensors"),
        "{err}"
    );
    // A resume that finds part of a checkpoint refuses and names the missing file.
    std::fs::remove_file(run.join("state.json")).unwrap();
    let err = failure(genood(
        &[
            "train", "--run", r, "--resume", "--preset", "tiny", "--steps", "40",
        ],
        real_data(),
    ));
    assert!(
        err.contains("state.json is missing") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(run.join("model.safetensors")).unwrap(),
        before[2]
    );
}
