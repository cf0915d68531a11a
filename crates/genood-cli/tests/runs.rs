//! Run folders under concurrent and failing commands, with real processes on the real data:
//! a replacement or a score never loses a run or mislabels what it computed.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

mod common;

use common::{command, failure, genood, ok, real_data, scratch, tiny_config, tiny_run};

/// A training of the tiny Glow into `run`, started and left running (240 steps, a
/// checkpoint every 20), once its first checkpoint is committed.
fn training_in_progress(run: &Path) -> Child {
    let r = run.to_str().unwrap();
    let mut training = command(
        &["train", "--run", r, "--preset", "tiny", "--steps", "240"],
        real_data(),
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let state = run.join("state.json");
    let started = Instant::now();
    while !state.exists() {
        assert!(
            training.try_wait().unwrap().is_none(),
            "the training ended before its first checkpoint"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    training
}

/// The bytes of each of `files` in `run`.
fn contents(run: &Path, files: &[&str]) -> Vec<Vec<u8>> {
    files
        .iter()
        .map(|f| std::fs::read(run.join(f)).unwrap())
        .collect()
}

#[test]
fn an_overwrite_during_a_training_is_refused_and_deletes_nothing() {
    let run = scratch("overwrite-busy").join("run");
    let r = run.to_str().unwrap();
    let mut training = training_in_progress(&run);
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
    assert!(training.wait().unwrap().success());
    assert!(run.join("config.json").exists());
}

#[test]
fn an_eval_during_a_training_never_labels_its_scores_with_another_checkpoint() {
    let run = scratch("eval-busy").join("run");
    let r = run.to_str().unwrap();
    let mut training = training_in_progress(&run);
    // The eval loads the checkpoint of the moment, then waits for the lock until the
    // training ends: what it scored is no longer the run's model, and it must not say it is.
    let eval = ["eval", "--run", r, "--data", "mnist:test", "--limit", "100"];
    let err = failure(genood(&eval, real_data()));
    assert!(
        err.contains("moved from step") || err.contains("another genood process"),
        "{err}"
    );
    assert!(!run.join("scores/mnist_test.csv").exists());
    assert!(training.wait().unwrap().success());
    ok(genood(&eval, real_data()));
    let origin = std::fs::read_to_string(run.join("scores/mnist_test.json")).unwrap();
    assert!(origin.contains("\"step\": 240"), "{origin}");
}

#[test]
fn a_replacement_that_cannot_start_keeps_the_finished_run() {
    let (_, run) = tiny_run("replace", 20);
    let files = [
        "config.json",
        "state.json",
        "model.safetensors",
        "metrics.csv",
    ];
    let before = contents(&run, &files);
    // Sets that are not there (MNIST has only its test split here; CIFAR-10 is not fetched).
    for data in ["mnist:train", "cifar10:train"] {
        let err = failure(genood(
            &[
                "train",
                "--run",
                run.to_str().unwrap(),
                "--overwrite",
                "--preset",
                "tiny",
                "--data",
                data,
            ],
            real_data(),
        ));
        assert!(err.contains(data.split(':').next().unwrap()), "{err}");
        assert_eq!(
            contents(&run, &files),
            before,
            "{data}: the finished run is intact"
        );
    }
}

#[test]
fn scoring_needs_only_the_weights_and_resuming_needs_every_file() {
    let (_, run) = tiny_run("needs", 20);
    let r = run.to_str().unwrap();
    std::fs::remove_file(run.join("optimizer.safetensors")).unwrap();
    std::fs::write(run.join("metrics.csv"), "edited by hand\n").unwrap();
    ok(genood(
        &["eval", "--run", r, "--data", "mnist:test", "--limit", "20"],
        real_data(),
    ));
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
}

#[test]
fn a_resume_that_finds_part_of_a_checkpoint_refuses_naming_the_missing_file() {
    let (_, run) = tiny_run("partial", 20);
    let r = run.to_str().unwrap();
    std::fs::remove_file(run.join("state.json")).unwrap();
    let files = ["config.json", "model.safetensors", "metrics.csv"];
    let before = contents(&run, &files);
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
    assert_eq!(contents(&run, &files), before, "nothing was overwritten");
}

#[test]
fn likelihood_regret_made_by_an_earlier_checkpoint_is_refused() {
    let run = scratch("regret-stale").join("run");
    let r = run.to_str().unwrap();
    let vae = ["--preset", "tiny", "--model", "vae-categorical"];
    ok(genood(
        &[&["train", "--run", r, "--steps", "20"][..], &vae].concat(),
        real_data(),
    ));
    let sets = ["fashion-mnist:test", "mnist:test"];
    let eval = || {
        ok(genood(
            &[
                &[
                    "eval",
                    "--run",
                    r,
                    "--limit",
                    "30",
                    "--iw-samples",
                    "1",
                    "--data",
                ][..],
                &sets,
            ]
            .concat(),
            real_data(),
        ))
    };
    eval();
    ok(genood(
        &[
            &[
                "regret", "--run", r, "--limit", "30", "--steps", "2", "--data",
            ][..],
            &sets,
        ]
        .concat(),
        real_data(),
    ));
    // Training goes on; the scores are made again, the regret is not.
    ok(genood(
        &[
            &["train", "--run", r, "--resume", "--steps", "25"][..],
            &vae,
        ]
        .concat(),
        real_data(),
    ));
    eval();
    let err = failure(genood(
        &[
            "score",
            "--run",
            r,
            "--in",
            "fashion-mnist:test",
            "--ood",
            "mnist:test",
            "--reference",
            "fashion-mnist:test",
        ],
        real_data(),
    ));
    assert!(
        err.contains("regret") && err.contains("step 20") && err.contains("genood regret"),
        "{err}"
    );
    let summary = std::fs::read_to_string(run.join("regret/mnist_test.json")).unwrap();
    assert!(summary.contains("\"step\": 20"), "{summary}");
}

#[test]
fn a_manifest_without_digests_or_with_an_edited_step_is_refused() {
    let (_, run) = tiny_run("manifest", 20);
    let r = run.to_str().unwrap();
    let eval = ["eval", "--run", r, "--data", "mnist:test", "--limit", "10"];
    let saved = std::fs::read_to_string(run.join("state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&saved).unwrap();
    // Without its digests, damaged weights would load unchecked.
    let mut no_files = state.clone();
    no_files.as_object_mut().unwrap().remove("files");
    std::fs::write(run.join("state.json"), no_files.to_string()).unwrap();
    let mut weights = std::fs::read(run.join("model.safetensors")).unwrap();
    let last = weights.len() - 1;
    weights[last] ^= 0x40;
    std::fs::write(run.join("model.safetensors"), &weights).unwrap();
    let err = failure(genood(&eval, real_data()));
    assert!(
        err.contains("state.json") && err.contains("lists no SHA-256"),
        "{err}"
    );
    weights[last] ^= 0x40;
    std::fs::write(run.join("model.safetensors"), &weights).unwrap();
    // A step edited by hand no longer matches the optimiser's update count.
    let mut edited = state;
    edited["step"] = 400.into();
    std::fs::write(run.join("state.json"), edited.to_string()).unwrap();
    let err = failure(genood(&eval, real_data()));
    assert!(
        err.contains("step 400 is not its 20 optimiser updates"),
        "{err}"
    );
    std::fs::write(run.join("state.json"), saved).unwrap();
    ok(genood(&eval, real_data()));
}

#[test]
fn a_torn_commit_record_is_recovered_from_by_the_next_resume() {
    let (_, run) = tiny_run("torn", 20);
    let r = run.to_str().unwrap();
    let state = std::fs::read_to_string(run.join("state.json")).unwrap();
    std::fs::write(
        run.join("checkpoint.pending.json"),
        &state[..state.len() / 2],
    )
    .unwrap();
    let out = ok(genood(
        &[
            "train", "--run", r, "--resume", "--preset", "tiny", "--steps", "40",
        ],
        real_data(),
    ));
    assert!(
        out.contains("could not be read") && out.contains("step 20 stands"),
        "{out}"
    );
    assert!(!run.join("checkpoint.pending.json").exists());
    let state = std::fs::read_to_string(run.join("state.json")).unwrap();
    assert!(state.contains("\"step\": 40"), "{state}");
}

#[test]
fn a_resume_that_diverges_leaves_config_json_as_it_was() {
    let dir = scratch("diverged");
    let run = dir.join("run");
    let r = run.to_str().unwrap();
    // The largest learning rate accepted, unclipped, a checkpoint every step: it diverges
    // after a few good steps.
    let mut config = tiny_config();
    let train = &mut config["train"];
    train["learning_rate"] = 10.0.into();
    train["warmup_steps"] = 1.into();
    train["max_grad_norm"] = serde_json::Value::Null;
    train["checkpoint_every"] = 1.into();
    train["steps"] = 60.into();
    let file = dir.join("diverging.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let err = failure(genood(
        &["train", "--run", r, "--config", file],
        real_data(),
    ));
    assert!(err.contains("diverged"), "{err}");
    let before = std::fs::read_to_string(run.join("config.json")).unwrap();
    let err = failure(genood(
        &[
            "train", "--run", r, "--config", file, "--resume", "--steps", "80",
        ],
        real_data(),
    ));
    assert!(err.contains("diverged"), "{err}");
    assert_eq!(
        std::fs::read_to_string(run.join("config.json")).unwrap(),
        before,
        "config.json still belongs with the checkpoint"
    );
}
