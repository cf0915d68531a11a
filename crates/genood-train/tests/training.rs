//! Training, checkpoints and resumption on small synthetic images.

use burn::prelude::*;
use genood_data::ImageSet;
use genood_flows::host::to_f64_vec;
use genood_flows::noise::Noise;
use genood_models::density::part;
use genood_models::presets::{ModelKind, Preset};
use genood_models::{DensityModel, ImageShape, KlWeight, Model, Named, Progress, Quiet};
use genood_train::dynamics::read_dynamics_csv;
use genood_train::eval::{batch_tensor, evaluate};
use genood_train::optim::Optimizer;
use genood_train::run::{RunConfig, RunDir, image_rngs, stream_rng};
use genood_train::trainer::{Start, TrainError, train};
use genood_train::weights::{load_weights, read_safetensors, save_weights, write_safetensors};

const IMAGE: ImageShape = ImageShape {
    channels: 1,
    height: 8,
    width: 8,
};

/// Blobs of light on a dark background, with a little noise: easy to model, not trivial.
fn blobs(count: usize, seed: u64) -> ImageSet {
    use rand::Rng;
    let mut rng = stream_rng(seed, 0, 0);
    let mut pixels = Vec::with_capacity(count * 64);
    for _ in 0..count {
        let (cy, cx) = (rng.random_range(2.0..6.0), rng.random_range(2.0..6.0));
        for y in 0..8 {
            for x in 0..8 {
                let d2: f64 = (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2);
                let v = 220.0 * (-d2 / 4.0).exp() + rng.random_range(0.0..20.0);
                pixels.push(v.min(255.0) as u8);
            }
        }
    }
    ImageSet::new("blobs", [1, 8, 8], pixels, None)
}

fn tiny_config(kind: ModelKind, steps: usize) -> RunConfig {
    let mut train = Preset::Tiny.train(kind);
    train.steps = steps;
    train.heldout_size = 64;
    train.init_batch_size = 64;
    train.log_every = 10;
    train.checkpoint_every = 10;
    RunConfig {
        model: Preset::Tiny.model(IMAGE, kind),
        train,
        data: "blobs".into(),
        monitor: Vec::new(),
        // Two shards per batch: the tests that compare runs bit for bit pin this count.
        threads: 2,
    }
}

fn temp_run(name: &str) -> RunDir {
    let dir = std::env::temp_dir().join(format!("genood-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    RunDir::new(dir)
}

#[test]
fn a_few_optimiser_steps_lower_the_loss_for_every_model() {
    let device = Device::flex().autodiff();
    let data = blobs(64, 1);
    for &kind in ModelKind::ALL {
        let config = Preset::Tiny.model(IMAGE, kind);
        let mut model = Model::new(&config, &mut stream_rng(0, 1, 0), &device);
        let indices: Vec<usize> = (0..64).collect();
        let pixels = batch_tensor(&data, &indices, &device);
        model.initialize(pixels.clone(), &mut stream_rng(0, 2, 0));
        let loss = |model: &Model, i: u64| {
            model
                .log_likelihood(
                    pixels.clone(),
                    1,
                    &mut Noise::Batch(&mut stream_rng(0, 3, i)),
                )
                .log_p
                .mean()
                .neg()
        };
        let before = loss(&model, 0).into_scalar::<f64>();
        let mut optimizer = Optimizer::new(genood_models::config::OptimizerKind::Adam, Some(50.0));
        for i in 0..15 {
            let grads = loss(&model, i).backward();
            model = optimizer.step(model, &grads, 2e-3).0;
        }
        let after = loss(&model, 0).into_scalar::<f64>();
        assert!(after < before - 1.0, "{kind:?}: loss {before} → {after}");
    }
}

#[test]
fn actnorm_flag_and_log_p_survive_save_and_load() {
    let device = Device::flex();
    let config = Preset::Tiny.model(IMAGE, ModelKind::Glow);
    let mut model = Model::new(&config, &mut stream_rng(0, 1, 0), &device);
    let data = blobs(32, 2);
    let pixels = batch_tensor(&data, &(0..32).collect::<Vec<_>>(), &device);
    model.initialize(pixels.clone(), &mut stream_rng(0, 2, 0));
    let run = temp_run("flag");
    std::fs::create_dir_all(&run.path).unwrap();
    save_weights(&model, &run.weights()).unwrap();

    // A fresh model from another seed, then the saved weights.
    let fresh = Model::new(&config, &mut stream_rng(9, 1, 0), &device);
    let mut loaded = load_weights(fresh, &run.weights()).unwrap();
    let Model::Glow(glow) = &loaded else {
        panic!("a Glow config builds a Glow");
    };
    assert!(glow.flow.levels[0].steps[0].actnorm.is_initialized());
    let log_p = |m: &Model| {
        to_f64_vec(
            m.log_likelihood(
                pixels.clone(),
                1,
                &mut Noise::Batch(&mut stream_rng(0, 4, 0)),
            )
            .log_p,
        )
    };
    let expected = log_p(&model);
    assert_eq!(
        log_p(&loaded),
        expected,
        "log p must be bit-identical after reload"
    );
    // Initialising again is a no-op: the saved flag wins.
    loaded.initialize(pixels.clone().mul_scalar(0.5), &mut stream_rng(0, 2, 0));
    assert_eq!(log_p(&loaded), expected);
    std::fs::remove_dir_all(&run.path).unwrap();
}

#[test]
fn weights_that_do_not_fit_are_refused_with_the_tensor_named() {
    let device = Device::flex();
    let run = temp_run("mismatch");
    std::fs::create_dir_all(&run.path).unwrap();
    let small = Model::new(
        &Preset::Tiny.model(IMAGE, ModelKind::Glow),
        &mut stream_rng(0, 1, 0),
        &device,
    );
    save_weights(&small, &run.weights()).unwrap();
    let mut wider = Preset::Tiny.model(IMAGE, ModelKind::Glow);
    let genood_models::ModelConfig::Glow(g) = &mut wider else {
        panic!("the Glow preset is a Glow config");
    };
    g.flow.hidden_channels = 8;
    let other = Model::new(&wider, &mut stream_rng(0, 1, 0), &device);
    let err = load_weights(other, &run.weights()).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("conv_in.weight"),
        "{err}"
    );
    // A NaN weight (a file from elsewhere, without a checkpoint's digests) is damage too.
    let (mut tensors, _) = read_safetensors(&run.weights()).unwrap();
    let (name, (_, values)) = tensors.iter_mut().next().unwrap();
    let name = name.clone();
    values[0] = f32::NAN;
    write_safetensors(&run.weights(), &tensors, Default::default()).unwrap();
    let fresh = Model::new(
        &Preset::Tiny.model(IMAGE, ModelKind::Glow),
        &mut stream_rng(0, 1, 0),
        &device,
    );
    let err = load_weights(fresh, &run.weights()).unwrap_err().to_string();
    assert!(err.contains(&name) && err.contains("NaN"), "{err}");
    std::fs::write(run.weights(), b"not safetensors").unwrap();
    let err = load_weights(small, &run.weights()).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("not a valid safetensors"),
        "{err}"
    );
    std::fs::remove_dir_all(&run.path).unwrap();
}

fn weights_bytes(run: &RunDir) -> Vec<u8> {
    std::fs::read(run.weights()).unwrap()
}

#[test]
fn resuming_gives_exactly_the_uninterrupted_run() {
    let device = Device::flex();
    let data = blobs(600, 3);
    // Clip hard so the gradient norm (whose summation order once depended on a hash map's
    // per-instance order) decides every update.
    let tiny_config = |coupling, steps| {
        let mut config = tiny_config(coupling, steps);
        config.train.max_grad_norm = Some(0.5);
        config.monitor = vec!["other blobs".into()];
        config
    };
    // Monitored: its likelihood over training must also continue exactly.
    let mut other = blobs(100, 30);
    other.name = "other blobs".into();
    let monitor = [other];
    let straight = temp_run("straight");
    train(
        &straight,
        &tiny_config(ModelKind::Glow, 30),
        &data,
        &monitor,
        Start::Fresh,
        &device,
        &mut Quiet,
    )
    .unwrap();
    let interrupted = temp_run("interrupted");
    train(
        &interrupted,
        &tiny_config(ModelKind::Glow, 20),
        &data,
        &monitor,
        Start::Fresh,
        &device,
        &mut Quiet,
    )
    .unwrap();
    let summary = train(
        &interrupted,
        &tiny_config(ModelKind::Glow, 30),
        &data,
        &monitor,
        Start::Resume,
        &device,
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(summary.steps, 30);
    assert_eq!(weights_bytes(&straight), weights_bytes(&interrupted));
    let moments = |run: &RunDir| read_safetensors(&run.optimizer()).unwrap();
    assert_eq!(moments(&straight), moments(&interrupted));
    // Byte for byte, metadata included (its order once came from a hash map).
    let bytes = |run: &RunDir| std::fs::read(run.optimizer()).unwrap();
    assert_eq!(bytes(&straight), bytes(&interrupted));
    // The log has a row every 10 steps and at each epoch's end (16 steps), the same numbers
    // with or without the interruption (throughput aside).
    let log = |run: &RunDir| -> Vec<String> {
        let text = std::fs::read_to_string(run.metrics()).unwrap();
        text.lines()
            .skip(1)
            .map(|l| l.split(',').take(4).collect::<Vec<_>>().join(","))
            .collect()
    };
    let rows = log(&interrupted);
    let steps: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    assert_eq!(steps, ["10", "16", "20", "30"]);
    assert_eq!(rows, log(&straight));
    let dynamics = |run: &RunDir| read_dynamics_csv(&run.dynamics()).unwrap();
    let followed = dynamics(&interrupted);
    assert_eq!(followed, dynamics(&straight));
    let at_step = |step| -> Vec<&str> {
        followed
            .iter()
            .filter(|r| r.step == step)
            .map(|r| r.set.as_str())
            .collect()
    };
    for step in [0, 10, 16, 20, 30] {
        assert_eq!(
            at_step(step),
            ["train", "held-out", "other blobs"],
            "step {step}"
        );
    }
    assert_eq!(followed.len(), 15);
    // The held-out row is the metrics row's figure.
    let heldout_30: f64 = rows[3].split(',').nth(3).unwrap().parse().unwrap();
    assert!((followed[13].mean_bpd - heldout_30).abs() < 1e-5);
    // Changing anything but the number of steps is refused.
    let mut changed = tiny_config(ModelKind::Glow, 40);
    changed.train.learning_rate = 0.1;
    let err = train(
        &interrupted,
        &changed,
        &data,
        &monitor,
        Start::Resume,
        &device,
        &mut Quiet,
    )
    .unwrap_err();
    assert!(matches!(err, TrainError::ConfigChanged { .. }), "{err}");
    // Another thread count is allowed, and said.
    let mut fewer_threads = tiny_config(ModelKind::Glow, 32);
    fewer_threads.threads = 1;
    let mut messages = Messages::default();
    train(
        &interrupted,
        &fewer_threads,
        &data,
        &monitor,
        Start::Resume,
        &device,
        &mut messages,
    )
    .unwrap();
    let said = messages.0.join("\n");
    assert!(
        said.contains("trained on 2 threads, it goes on with 1"),
        "{said}"
    );
    for run in [straight, interrupted] {
        std::fs::remove_dir_all(&run.path).unwrap();
    }
}

#[derive(Default)]
struct Messages(Vec<String>);

impl Progress for Messages {
    fn message(&mut self, text: &str) {
        self.0.push(text.to_string());
    }
}

#[test]
fn resuming_without_the_optimiser_state_is_refused_and_changes_nothing() {
    let device = Device::flex();
    let data = blobs(200, 4);
    let run = temp_run("no-optimizer");
    train(
        &run,
        &tiny_config(ModelKind::Glow, 10),
        &data,
        &[],
        Start::Fresh,
        &device,
        &mut Quiet,
    )
    .unwrap();
    std::fs::remove_file(run.optimizer()).unwrap();
    let config_before = std::fs::read(run.config()).unwrap();
    let weights_before = weights_bytes(&run);
    let err = train(
        &run,
        &tiny_config(ModelKind::Glow, 20),
        &data,
        &[],
        Start::Resume,
        &device,
        &mut Quiet,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("optimizer.safetensors is missing") && err.contains("step 10"),
        "{err}"
    );
    assert_eq!(std::fs::read(run.config()).unwrap(), config_before);
    assert_eq!(weights_bytes(&run), weights_before);
}

#[test]
fn a_run_folder_another_process_writes_is_refused() {
    let run = temp_run("locked");
    let held = run.lock().unwrap();
    let err = train(
        &run,
        &tiny_config(ModelKind::Glow, 5),
        &blobs(200, 5),
        &[],
        Start::Fresh,
        &Device::flex(),
        &mut Quiet,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("another genood process"), "{err}");
    assert!(!run.is_occupied(), "nothing was written");
    drop(held);
    assert!(run.lock().is_ok(), "the lock goes with its holder");
}

#[test]
fn non_finite_steps_are_skipped_then_the_last_checkpoint_is_reloaded() {
    let device = Device::flex();
    let data = blobs(600, 4);
    let run = temp_run("nan");
    let mut config = tiny_config(ModelKind::Glow, 60);
    // A learning rate this large blows the weights up within a few steps.
    config.train.learning_rate = 1e6;
    config.train.warmup_steps = 1;
    config.train.max_grad_norm = None;
    config.train.checkpoint_every = 1;
    let mut messages = Messages::default();
    let err = train(
        &run,
        &config,
        &data,
        &[],
        Start::Fresh,
        &device,
        &mut messages,
    )
    .unwrap_err();
    assert!(
        matches!(err, TrainError::Diverged { reloads: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("after 3 reloads"), "{err}");
    // Without a checkpoint to go back to, the error says so instead of counting reloads.
    let mut early = config.clone();
    early.train.checkpoint_every = 1000;
    let err = train(
        &temp_run("nan-early"),
        &early,
        &data,
        &[],
        Start::Fresh,
        &device,
        &mut Messages::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("before any checkpoint could be reloaded"),
        "{err}"
    );
    let text = messages.0.join("\n");
    assert!(text.contains("update skipped"), "{text}");
    assert!(text.contains("reloaded the last good checkpoint"), "{text}");
    // Nothing already written was lost: the last checkpoint is complete and loadable.
    assert!(run.load_model(&device).is_ok());
    // A resume asking for more steps that diverges too leaves config.json as it was: its
    // step count still that of the checkpoint it belongs with.
    let config_before = std::fs::read(run.config()).unwrap();
    let mut longer = config.clone();
    longer.train.steps = 80;
    let err = train(
        &run,
        &longer,
        &data,
        &[],
        Start::Resume,
        &device,
        &mut Messages::default(),
    )
    .unwrap_err();
    assert!(matches!(err, TrainError::Diverged { .. }), "{err}");
    assert_eq!(std::fs::read(run.config()).unwrap(), config_before);
    std::fs::remove_dir_all(&run.path).unwrap();
}

/// A finished 10-step run of the tiny Glow.
fn finished_run(name: &str, data: &ImageSet) -> RunDir {
    let run = temp_run(name);
    let config = tiny_config(ModelKind::Glow, 10);
    train(
        &run,
        &config,
        data,
        &[],
        Start::Fresh,
        &Device::flex(),
        &mut Quiet,
    )
    .unwrap();
    run
}

/// The bytes of each checkpoint file the run still has.
fn checkpoint_bytes(run: &RunDir) -> Vec<Vec<u8>> {
    [run.metrics(), run.optimizer(), run.state(), run.weights()]
        .iter()
        .filter(|f| f.exists())
        .map(|f| std::fs::read(f).unwrap())
        .collect()
}

/// Why resuming `run` to 20 steps was refused.
fn resume_to_20(run: &RunDir, data: &ImageSet) -> String {
    train(
        run,
        &tiny_config(ModelKind::Glow, 20),
        data,
        &[],
        Start::Resume,
        &Device::flex(),
        &mut Quiet,
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn a_resume_that_finds_part_of_a_checkpoint_is_refused_naming_the_missing_file() {
    let data = blobs(200, 4);
    for (removed, named) in [
        ("state.json", "state.json"),
        ("model.safetensors", "model.safetensors"),
    ] {
        let run = finished_run("partial", &data);
        std::fs::remove_file(run.path.join(removed)).unwrap();
        let left = checkpoint_bytes(&run);
        let err = resume_to_20(&run, &data);
        assert!(
            err.contains(&format!("{named} is missing"))
                && err.contains("part of a checkpoint")
                && err.contains("--overwrite"),
            "{err}"
        );
        let after = checkpoint_bytes(&run);
        assert_eq!(after, left, "nothing left of the run was overwritten");
        std::fs::remove_dir_all(&run.path).unwrap();
    }
}

#[test]
fn non_finite_optimiser_moments_are_refused_on_resume() {
    let data = blobs(200, 4);
    let run = finished_run("nan-moments", &data);
    let (mut tensors, metadata) = read_safetensors(&run.optimizer()).unwrap();
    let (name, (_, values)) = tensors.iter_mut().next().unwrap();
    let name = name.clone();
    values[0] = f32::NAN;
    write_safetensors(&run.optimizer(), &tensors, metadata).unwrap();
    // The digest updated too, as a damage after a checkpoint's write would not: this test
    // reaches the check of the values themselves.
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.state()).unwrap()).unwrap();
    state["files"]["optimizer.safetensors"] = genood_train::checkpoint::digest(&run.optimizer())
        .unwrap()
        .into();
    std::fs::write(run.state(), state.to_string()).unwrap();
    let err = resume_to_20(&run, &data);
    assert!(
        err.contains("optimizer.safetensors") && err.contains(&name) && err.contains("NaN"),
        "{err}"
    );
    std::fs::remove_dir_all(&run.path).unwrap();
}

#[test]
fn overwrite_replaces_a_run_only_under_its_lock() {
    let data = blobs(200, 4);
    let run = finished_run("overwrite", &data);
    let weights = weights_bytes(&run);
    std::fs::create_dir_all(run.scores_dir()).unwrap();
    std::fs::write(run.scores("blobs"), "old").unwrap();
    let held = run.lock().unwrap();
    let err = train(
        &run,
        &tiny_config(ModelKind::Glow, 5),
        &data,
        &[],
        Start::Overwrite,
        &Device::flex(),
        &mut Quiet,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("another genood process"), "{err}");
    assert_eq!(weights_bytes(&run), weights, "refused: nothing deleted");
    assert!(run.config().exists() && run.scores("blobs").exists());
    drop(held);
    let mut messages = Messages::default();
    let summary = train(
        &run,
        &tiny_config(ModelKind::Glow, 5),
        &data,
        &[],
        Start::Overwrite,
        &Device::flex(),
        &mut messages,
    )
    .unwrap();
    assert_eq!(summary.steps, 5);
    assert!(
        !run.scores_dir().exists(),
        "the old run's scores went with it"
    );
    assert!(messages.0.join("\n").contains("deleted the earlier run"));
    std::fs::remove_dir_all(&run.path).unwrap();
}

#[test]
fn evaluation_is_deterministic_for_a_seed() {
    let device = Device::flex();
    let model = Model::new(
        &Preset::Tiny.model(IMAGE, ModelKind::CvGlow),
        &mut stream_rng(0, 1, 0),
        &device,
    );
    let data = blobs(50, 5);
    let a = evaluate(&model, &data, 16, 1, 7, 1, &device);
    // Batches spread over worker threads draw the same noise: the same bits.
    let b = evaluate(&model, &data, 16, 1, 7, 3, &device);
    assert_eq!(a, b);
    let c = evaluate(&model, &data, 16, 1, 8, 2, &device);
    assert_ne!(a, c, "another seed draws other dequantization noise");
    // The parts add up to log p (to f32 rounding: the model computes in f32).
    let term = |s: &genood_train::eval::ExampleScore, name| s.part(name).expect("a flow's term");
    for s in &a {
        let sum = term(s, part::LOG_PRIOR) + term(s, part::LOG_DET);
        assert!((s.log_p - sum).abs() < 1e-6 * s.log_p.abs());
    }
    // CV-Glow: the volume term is the same for every image.
    assert!(
        a.iter()
            .all(|s| term(s, part::LOG_DET) == term(&a[0], part::LOG_DET))
    );
}

#[test]
fn likelihood_regret_refit_raises_the_elbo_of_each_image() {
    use genood_train::regret::{
        RegretConfig, likelihood_regret, read_regret_csv, write_regret_csv,
    };
    let device = Device::flex().autodiff();
    let config = Preset::Tiny.model(IMAGE, ModelKind::VaeCategorical);
    let mut model = Model::new(&config, &mut stream_rng(0, 1, 0), &device);
    // A briefly trained VAE: its decoder uses the latent, its encoder is amortised.
    let data = blobs(12, 3);
    let pixels = batch_tensor(&data, &(0..12).collect::<Vec<_>>(), &device);
    let mut optimizer = Optimizer::new(genood_models::config::OptimizerKind::Adam, None);
    for i in 0..40 {
        let loss = model
            .log_likelihood(
                pixels.clone(),
                1,
                &mut Noise::Batch(&mut stream_rng(0, 3, i)),
            )
            .log_p
            .mean()
            .neg();
        model = optimizer.step(model, &loss.backward(), 5e-3).0;
    }
    let vae = model.vae().expect("a VAE");
    let refit = RegretConfig {
        steps: 30,
        learning_rate: 0.01,
        samples: 128,
    };
    let all: Vec<usize> = (0..12).collect();
    let scores = likelihood_regret(
        vae, &data, &all, 5, refit, 0, 1, &device, "regret", &mut Quiet,
    );
    assert_eq!(scores.len(), 12);
    // Refitting to one image can only help it, up to the noise of two 128-sample ELBOs.
    for s in &scores {
        assert!((s.regret - (s.refit_elbo - s.elbo)).abs() < 1e-9);
        assert!(
            s.regret > -0.05,
            "refitting lowered image {}'s ELBO: {s:?}",
            s.index
        );
    }
    let mean = scores.iter().map(|s| s.regret).sum::<f64>() / 12.0;
    assert!(mean > 0.2, "mean regret {mean}");
    // The same seed gives the same scores, also spread over 3 workers, and each image's score
    // does not depend on its batch or the other images scored; the CSV keeps every bit.
    let again = likelihood_regret(
        vae, &data, &all, 5, refit, 0, 3, &device, "regret", &mut Quiet,
    );
    assert_eq!(scores, again);
    let some = [11, 3, 7];
    let subset = likelihood_regret(
        vae, &data, &some, 2, refit, 0, 1, &device, "regret", &mut Quiet,
    );
    assert_eq!(subset, some.map(|i| scores[i]));
    let run = temp_run("regret");
    std::fs::create_dir_all(&run.path).unwrap();
    let path = run.regret("blobs");
    write_regret_csv(&path, &scores).unwrap();
    assert_eq!(read_regret_csv(&path).unwrap(), scores);
}

#[test]
fn scores_csv_keeps_each_familys_named_parts() {
    use genood_train::eval::{ExampleScore, read_scores_csv, write_scores_csv};
    let run = temp_run("parts");
    std::fs::create_dir_all(run.path.join("scores")).unwrap();
    let vae = vec![ExampleScore {
        index: 3,
        label: Some(7),
        log_p: -1000.25,
        bpd: 1.8,
        parts: vec![
            ("elbo".into(), -1001.5),
            ("rate".into(), 20.125),
            ("distortion".into(), 981.375),
        ],
        path: Some("shirts/a, \"b\".png".into()),
    }];
    let exact = vec![ExampleScore {
        index: 0,
        label: None,
        log_p: -2.5,
        bpd: 0.1,
        parts: Vec::new(),
        path: None,
    }];
    for scores in [vae, exact] {
        let path = run.scores("set");
        write_scores_csv(&path, &scores).unwrap();
        assert_eq!(read_scores_csv(&path).unwrap(), scores);
    }
    // A file from before the path column reads, its last column a part.
    let path = run.scores("set");
    std::fs::write(&path, "index,label,log_p,bpd,elbo\n1,,-3.0,0.5,-3.5\n").unwrap();
    let old = read_scores_csv(&path).unwrap();
    assert_eq!(
        (old[0].part("elbo"), old[0].path.as_deref()),
        (Some(-3.5), None)
    );
    let path = run.scores("set");
    std::fs::write(&path, "index,label,log_p,bpd,elbo\n1,,-3.0,0.5\n").unwrap();
    let err = read_scores_csv(&path).unwrap_err();
    assert!(err.contains("set.csv") && err.contains("line 2"), "{err}");
    std::fs::write(&path, "index,log_p\n").unwrap();
    assert!(read_scores_csv(&path).unwrap_err().contains("header"));
}

#[test]
fn a_batch_split_across_threads_has_the_gradient_of_the_whole_batch() {
    use genood_train::parallel::{Shard, batch_gradients};
    use genood_train::params::gradients_by_path;
    let device = Device::flex().autodiff();
    let data = blobs(24, 11);
    for kind in [ModelKind::Glow, ModelKind::VaeRealNvp] {
        let config = Preset::Tiny.model(IMAGE, kind);
        let mut model = Model::new(&config, &mut stream_rng(0, 1, 0), &device);
        let all: Vec<usize> = (0..24).collect();
        model.initialize(batch_tensor(&data, &all, &device), &mut stream_rng(0, 2, 0));
        let ranges = [0..9, 9..17, 17..24];
        let shards = || {
            ranges
                .iter()
                .enumerate()
                .map(|(k, r)| Shard {
                    pixels: batch_tensor(&data, &r.clone().collect::<Vec<_>>(), &device),
                    rng: stream_rng(5, 6, k as u64),
                })
                .collect::<Vec<_>>()
        };
        // The reference: the same shards and draws on one thread, one loss, one backward.
        let scale = 1.0 / (24 * model.dims()) as f64 / std::f64::consts::LN_2;
        let loss = shards()
            .into_iter()
            .map(|mut s| {
                model
                    .log_likelihood(s.pixels, 1, &mut Noise::Batch(&mut s.rng))
                    .log_p
                    .sum()
            })
            .reduce(|a, b| a + b)
            .unwrap()
            .neg()
            .mul_scalar(scale);
        let expected_bpd = loss.clone().into_scalar::<f64>();
        let expected = gradients_by_path(&model, &loss.backward());
        let split = batch_gradients(&model, shards(), 24, KlWeight::BOUND, None);
        assert!((split.bpd - expected_bpd).abs() < 1e-5, "{kind:?}");
        let found = split.gradients.expect("finite");
        assert_eq!(found.len(), expected.len(), "{kind:?}");
        for ((path, a), (other, b)) in found.into_iter().zip(expected) {
            assert_eq!(path, other);
            let (a, b) = (to_f64_vec(a), to_f64_vec(b));
            let scale = b.iter().fold(1e-3, |m, v| f64::max(m, v.abs()));
            let diff = a
                .iter()
                .zip(&b)
                .fold(0.0, |m, (x, y)| f64::max(m, (x - y).abs()));
            assert!(
                diff < 1e-4 * scale,
                "{kind:?} {path}: {diff} vs scale {scale}"
            );
        }
    }
}

#[test]
fn folding_actnorm_leaves_log_p_of_a_saved_checkpoint_unchanged() {
    let device = Device::flex();
    let data = blobs(300, 12);
    for kind in [ModelKind::Glow, ModelKind::CvGlow] {
        let run = temp_run(&format!("fold-{kind:?}"));
        let mut config = tiny_config(kind, 20);
        config.train.learning_rate = 5e-3;
        train(&run, &config, &data, &[], Start::Fresh, &device, &mut Quiet).unwrap();
        let (_, model) = run.load_model(&device).unwrap();
        let Model::Glow(glow) = &model else {
            panic!("a Glow config builds a Glow");
        };
        // Training moved every actnorm away from the identity, so folding has work to do.
        let norm = &glow.flow.levels[0].steps[0].actnorm;
        assert!(
            to_f64_vec(norm.log_scale.val())
                .iter()
                .any(|v| v.abs() > 1e-3)
        );
        let scores = evaluate(&model, &data, 64, 1, 3, 1, &device);
        // The same images and noise through the layers one by one.
        let dims = model.dims();
        for chunk in (0..data.len()).collect::<Vec<_>>().chunks(64) {
            let pixels = batch_tensor(&data, chunk, &device);
            let mut rngs = image_rngs(3, genood_train::run::streams::EVAL_NOISE, &data, chunk);
            let noise = Noise::PerImage(&mut rngs).uniform(pixels.dims(), &device);
            let (x, scaling) = genood_flows::dequantize::dequantize(pixels, noise);
            let out = genood_flows::testing::unfolded_forward(&glow.flow, x);
            let log_p = to_f64_vec(out.log_prior + out.log_det + scaling);
            for (k, &i) in chunk.iter().enumerate() {
                let unfolded = genood_flows::bits_per_dim(log_p[k], dims);
                assert!(
                    (scores[i].bpd - unfolded).abs() < 1e-4,
                    "{kind:?} image {i}: folded {} vs unfolded {unfolded} bpd",
                    scores[i].bpd
                );
            }
        }
        std::fs::remove_dir_all(&run.path).unwrap();
    }
}

#[test]
fn a_glow_trained_in_bf16_scores_like_one_trained_in_f32() {
    let device = Device::flex();
    let data = blobs(600, 13);
    let heldout = |precision| {
        let run = temp_run(&format!("precision-{precision:?}"));
        let mut config = tiny_config(ModelKind::Glow, 80);
        config.train.learning_rate = 3e-3;
        let genood_models::ModelConfig::Glow(glow) = &mut config.model else {
            panic!("a Glow config");
        };
        glow.flow.precision = precision;
        let summary = train(&run, &config, &data, &[], Start::Fresh, &device, &mut Quiet).unwrap();
        let saved: RunConfig = run.read_config().unwrap();
        assert_eq!(
            saved.model, config.model,
            "the precision is recorded in config.json"
        );
        std::fs::remove_dir_all(&run.path).unwrap();
        summary.heldout_bpd
    };
    let f32 = heldout(genood_flows::multiscale::Precision::F32);
    let bf16 = heldout(genood_flows::multiscale::Precision::Bf16);
    // Held-out bpd is scored in f32 for both; training noise of this size is about 0.05 bpd.
    assert!(f32 < 7.0, "training moved the f32 model: {f32} bpd");
    assert!((bf16 - f32).abs() < 0.15, "bf16 {bf16} vs f32 {f32} bpd");
    assert!(bf16 != f32, "the bf16 run computed in bf16");
}

#[test]
fn an_images_log_p_does_not_depend_on_batch_size_limit_or_order() {
    use genood_train::eval::evaluate_with_progress;
    let device = Device::flex();
    let data = blobs(300, 21);
    for kind in [
        ModelKind::Glow,
        ModelKind::VaeRealNvp,
        ModelKind::PixelCnnPp,
    ] {
        let config = Preset::Tiny.model(IMAGE, kind);
        let mut model = Model::new(&config, &mut stream_rng(0, 1, 0), &device);
        let all: Vec<usize> = (0..data.len()).collect();
        model.initialize(batch_tensor(&data, &all, &device), &mut stream_rng(0, 2, 0));
        let score = |indices: &[usize], batch: usize, threads: usize| {
            let mut scores = evaluate_with_progress(
                &model, &data, indices, batch, 3, 5, threads, &device, "evaluate", &mut Quiet,
            );
            scores.sort_by_key(|s| s.index);
            scores
        };
        let by_7 = score(&all, 7, 1);
        let by_250 = score(&all, 250, 2);
        assert_eq!(by_7, by_250, "{kind:?}: batch size 7 against 250");
        // Two limits that overlap in images 100..150, each in a shuffled order.
        let mut first: Vec<usize> = (0..150).rev().collect();
        let mut second: Vec<usize> = (100..220).collect();
        first.swap(3, 70);
        second.swap(0, 99);
        for subset in [first, second] {
            let scores = score(&subset, 13, 1);
            assert_eq!(scores.len(), subset.len());
            for s in scores {
                assert_eq!(s, by_7[s.index], "{kind:?}: image {}", s.index);
            }
        }
        // Another set name keys other noise (PixelCNN draws none).
        let renamed = data.select(&all, "other");
        let other = evaluate(&model, &renamed, 250, 3, 5, 1, &device);
        assert_eq!(other == by_7, kind == ModelKind::PixelCnnPp, "{kind:?}");
    }
}
