//! `genood sweep` end to end through a real single-node Slurm (`scripts/slurm-cluster.sh`),
//! on the real FashionMNIST and MNIST archives. Fails, never skips, when Slurm or the archives
//! are missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{command, failure, ok, real_data, scratch};

/// Steps of each training: long enough to be killed after its first checkpoint (20 steps).
const STEPS: usize = 800;

/// A Slurm cluster started for one test and stopped when dropped, daemons and all.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    fn start(dir: PathBuf) -> Cluster {
        let output = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&dir)
            .output()
            .expect("run scripts/slurm-cluster.sh");
        assert!(
            output.status.success(),
            "could not start a Slurm cluster (this test needs `apt-get install -y slurm-wlm munge` and root): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Cluster { dir }
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }

    /// `genood args` talking to this cluster.
    fn genood(&self, args: &[&str]) -> Command {
        let mut command = command(args, real_data());
        command.env("SLURM_CONF", self.conf());
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm-cluster.sh")
}

/// `genood sweep run SPEC --out SWEEP --executor slurm --wait`.
fn slurm_run<'a>(spec: &'a str, sweep: &'a str) -> Vec<&'a str> {
    vec![
        "sweep",
        "run",
        spec,
        "--out",
        sweep,
        "--executor",
        "slurm",
        "--wait",
    ]
}

fn write_spec(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The id of the job `genood sweep plan` prints on a line starting with `prefix`.
fn job_id(plan: &str, prefix: &str) -> String {
    plan.lines()
        .map(str::trim)
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no job {prefix}… in:\n{plan}"))
        .to_string()
}

/// Every file under `dir`, relative, but those that record times (logs, marks, training
/// metrics, the checkpoint's state, each experiment's results and summary) and the setup,
/// which names the folders.
fn outputs(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "slurm" {
                    todo.push(path);
                }
            } else if ![
                "log.txt",
                "done.json",
                "metrics.csv",
                "state.json",
                "results.json",
                "summary.md",
            ]
            .contains(&name.as_str())
                && path != dir.join("sweep.json")
            {
                files.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// A file's bytes with the sweep folder's path written as `SWEEP`.
fn relative_bytes(dir: &Path, file: &Path) -> Vec<u8> {
    let bytes = std::fs::read(dir.join(file)).unwrap();
    let from = dir.to_str().unwrap().as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at..].starts_with(from) {
            out.extend_from_slice(b"SWEEP");
            at += from.len();
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    out
}

#[test]
fn a_sweep_through_real_slurm_equals_the_local_one_resumes_after_scancel_and_reports_failures() {
    let dir = scratch("sweep");
    let spec = write_spec(
        &dir,
        "spec.json",
        &format!(
            r#"{{
  "pairs": ["fashion-mnist-mnist"],
  "models": ["glow"],
  "presets": ["tiny"],
  "seeds": [0, 1],
  "steps": {STEPS},
  "eval_shards": 2,
  "train_eval_limit": 1000,
  "eval_limit": 1000,
  "background_mu": 0,
  "ensemble": 1,
  "resources": {{"default": {{"cpus": 1, "mem": "1G", "time": "0:20:00", "sbatch": ["--comment=genood-test"]}}}}
}}"#
        ),
    );
    let plan = ok(command(&["sweep", "plan", &spec], real_data())
        .output()
        .unwrap());
    for stage in [
        "fetch (1 job; each 1 CPU, 1G, 0:20:00, sbatch --comment=genood-test)",
        "train (2 jobs",
        "eval (12 jobs",
        "merge (2 jobs",
        "score (2 jobs",
        "analyze (2 jobs",
        "report (2 jobs",
        "summary (2 jobs",
        "sweep-report (1 job",
    ] {
        assert!(plan.contains(stage), "{stage} missing from:\n{plan}");
    }
    // Seed 0's experiment folder is named like `reproduce`'s, seed 1's adds the seed.
    let (seed0, seed1) = (
        "fashion-mnist-mnist-glow-tiny",
        "fashion-mnist-mnist-glow-tiny-s1",
    );
    let train = job_id(&plan, &format!("train-{seed0}-glow-"));

    // The local executor: the reference.
    let local = dir.join("local");
    let args = [
        "sweep",
        "run",
        &spec,
        "--out",
        local.to_str().unwrap(),
        "--jobs",
        "2",
    ];
    let out = ok(command(&args, real_data()).output().unwrap());
    assert!(
        out.contains("26 jobs finished now, 0 had finished before"),
        "{out}"
    );

    let cluster = Cluster::start(dir.join("cluster"));
    let sweep = dir.join("slurm");
    let sweep_arg = sweep.to_str().unwrap();
    let submit = slurm_run(&spec, sweep_arg);
    // Kill the seed-0 training through Slurm once it has written a checkpoint.
    let first = cluster
        .genood(&submit)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = sweep.join(seed0).join("glow/state.json");
    let started = Instant::now();
    while !state.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint in {}",
            state.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = ok(cluster
        .genood(&["sweep", "status", sweep_arg, "--verbose"])
        .output()
        .unwrap());
    let task = status
        .lines()
        .find(|l| l.contains(&train) && l.contains("RUNNING"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{train} not running in:\n{status}"))
        .to_string();
    let cancelled = Command::new("scancel")
        .arg(&task)
        .env("SLURM_CONF", cluster.conf())
        .status()
        .unwrap();
    assert!(cancelled.success(), "scancel {task}");
    let killed = first.wait_with_output().unwrap();
    let said = failure(killed);
    assert!(said.contains("the sweep did not finish"), "{said}");
    let step: usize = {
        let text = std::fs::read_to_string(&state).unwrap();
        let at = text.find("\"step\":").expect("a step in state.json") + 7;
        text[at..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(step > 0 && step < STEPS, "killed at step {step} of {STEPS}");
    let status = ok(cluster
        .genood(&["sweep", "status", sweep_arg])
        .output()
        .unwrap());
    assert!(
        status.contains(
            "train         1 finished, 0 failed, 0 waiting for a failed job, 1 not finished"
        ),
        "{status}"
    );
    assert!(
        status.contains(&format!("training: {train} at step {step} of {STEPS}")),
        "{status}"
    );
    // Slurm cancelled what waited for the killed job instead of leaving it pending forever,
    // and only that: the other seed's experiment ran to its report.
    assert!(status.contains("Slurm holds 0 task(s)"), "{status}");
    assert!(
        status.contains(&format!(
            "killed by Slurm: {train} (cancelled (scancel); log: "
        )),
        "{status}"
    );
    assert!(status.contains("the sweep has stalled"), "{status}");
    let reports: Vec<String> = std::fs::read_dir(sweep.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("report-"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("-s1-"), "{reports:?}");
    assert!(
        sweep
            .join("jobs")
            .join(&reports[0])
            .join("done.json")
            .exists()
    );
    assert!(sweep.join(seed1).join("report/report.html").exists());
    assert!(!sweep.join(seed0).join("report").exists());

    // Again: the killed training resumes, the finished jobs are skipped.
    let out = ok(cluster.genood(&submit).output().unwrap());
    assert!(out.contains("had finished before"), "{out}");
    assert!(!out.contains(", 0 had finished before"), "{out}");
    let log = std::fs::read_to_string(sweep.join("jobs").join(&train).join("log.txt")).unwrap();
    assert!(
        log.contains(&format!("at step {step}")),
        "no resumption in:\n{log}"
    );

    // The table: a column per model, the seeds aggregated, each cell linking to both reports.
    let table = std::fs::read_to_string(local.join("report/sweep.md")).unwrap();
    assert!(table.contains("|  | glow (tiny) |"), "{table}");
    let likelihood = table
        .lines()
        .find(|l| l.starts_with("| likelihood (bpd) | "))
        .unwrap_or_else(|| panic!("no likelihood row in:\n{table}"));
    assert!(likelihood.contains(" ± "), "{likelihood}");
    for (seed, folder) in [("s0", seed0), ("s1", seed1)] {
        assert!(
            likelihood.contains(&format!("[{seed}](../{folder}/report/report.html)")),
            "{likelihood}"
        );
    }
    let csv = std::fs::read_to_string(local.join("report/sweep.csv")).unwrap();
    assert!(
        csv.lines().nth(1).is_some_and(|l| l.contains(",0;1,")),
        "{csv}"
    );

    // The same results as the local executor's, byte for byte.
    let files = outputs(&local);
    assert_eq!(files, outputs(&sweep));
    for name in [
        "report/sweep.csv",
        "report/sweep.json",
        "report/sweep-bpd.csv",
        "report/sweep.html",
    ] {
        assert!(files.contains(&PathBuf::from(name)), "{name}");
    }
    assert!(
        files
            .iter()
            .filter(|f| f.ends_with("model.safetensors"))
            .count()
            == 2
    );
    for file in &files {
        assert!(
            relative_bytes(&local, file) == relative_bytes(&sweep, file),
            "{} differs between the local and the Slurm sweep",
            file.display()
        );
    }

    // A job made to fail: its log is named, its dependents cancelled, the status says which.
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("broken.png"), b"not a png").unwrap();
    let spec = write_spec(
        &dir,
        "broken.json",
        &format!(
            r#"{{"pairs": [{{"name": "broken", "train": "fashion-mnist:train", "ood": ["folder:{}"]}}],
"models": ["glow"], "presets": ["tiny"], "steps": 40, "train_eval_limit": 200,
"background_mu": 0, "ensemble": 1, "resources": {{"default": {{"cpus": 1, "mem": "1G"}}}}}}"#,
            broken.display()
        ),
    );
    let sweep = dir.join("broken-sweep");
    let sweep_arg = sweep.to_str().unwrap();
    let args = slurm_run(&spec, sweep_arg);
    let said = failure(cluster.genood(&args).output().unwrap());
    let train = job_id(
        &ok(command(&["sweep", "plan", &spec], real_data())
            .output()
            .unwrap()),
        "train-broken-",
    );
    let log = sweep.join("jobs").join(&train).join("log.txt");
    assert!(
        said.contains(&format!("failed: {train} (log: {})", log.display())),
        "{said}"
    );
    assert!(
        said.contains("8 not run because a job they wait for failed"),
        "{said}"
    );
    let status = ok(cluster
        .genood(&["sweep", "status", sweep_arg])
        .output()
        .unwrap());
    assert!(status.contains(&format!("failed: {train}")), "{status}");
    assert!(
        status.contains("broken.png: cannot decode image"),
        "{status}"
    );
    assert!(
        status.contains(&format!("log: {}", log.display())),
        "{status}"
    );
    assert!(
        status.contains("eval          0 finished, 0 failed, 3 waiting for a failed job"),
        "{status}"
    );
    assert!(status.contains("Slurm holds 0 task(s)"), "{status}");

    // `sweep cancel` takes back a submission that has not finished.
    let sweep = dir.join("cancelled");
    let sweep_arg = sweep.to_str().unwrap();
    let mut args = slurm_run(&spec, sweep_arg);
    args.retain(|a| *a != "--wait");
    let out = ok(cluster.genood(&args).output().unwrap());
    assert!(out.contains("submitted 8 Slurm array(s)"), "{out}");
    let again = failure(cluster.genood(&args).output().unwrap());
    assert!(again.contains("Slurm still holds"), "{again}");
    let out = ok(cluster
        .genood(&["sweep", "cancel", sweep_arg])
        .output()
        .unwrap());
    assert!(out.contains("cancelled Slurm arrays: "), "{out}");
    let started = Instant::now();
    loop {
        let status = ok(cluster
            .genood(&["sweep", "status", sweep_arg])
            .output()
            .unwrap());
        if status.contains("Slurm holds 0 task(s)") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{status}");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(cluster);
}

#[test]
fn the_in_process_executor_writes_what_the_process_pool_writes() {
    let dir = scratch("executors");
    let spec = write_spec(
        &dir,
        "spec.json",
        r#"{"pairs": ["fashion-mnist-mnist"], "models": ["glow"], "presets": ["tiny"],
"seeds": [0], "steps": 40, "eval_shards": 2, "train_eval_limit": 400, "eval_limit": 300,
"background_mu": 0.2, "ensemble": 2, "resources": {"default": {"cpus": 1}}}"#,
    );
    let run = |executor: &str| {
        let out = dir.join(executor);
        let said = ok(command(
            &[
                "sweep",
                "run",
                &spec,
                "--out",
                out.to_str().unwrap(),
                "--executor",
                executor,
                "--jobs",
                "2",
            ],
            real_data(),
        )
        .output()
        .unwrap());
        assert!(
            said.contains("finished now, 0 had finished before"),
            "{said}"
        );
        out
    };
    let (in_process, pool) = (run("in-process"), run("local"));
    let files = outputs(&pool);
    assert_eq!(files, outputs(&in_process));
    // Three trainings (the model, its background, a second member), each with its scores.
    let scores = files
        .iter()
        .filter(|f| f.parent().is_some_and(|p| p.ends_with("scores")))
        .filter(|f| f.extension().is_some_and(|e| e == "csv"))
        .count();
    assert_eq!(scores, 3 + 2 + 2, "{files:?}");
    for file in &files {
        assert!(
            relative_bytes(&pool, file) == relative_bytes(&in_process, file),
            "{} differs between the in-process and the local executor",
            file.display()
        );
    }
    // Run again in process: nothing left to do.
    let again = ok(command(
        &[
            "sweep",
            "run",
            &spec,
            "--out",
            in_process.to_str().unwrap(),
            "--executor",
            "in-process",
        ],
        real_data(),
    )
    .output()
    .unwrap());
    assert!(again.contains("0 jobs finished now"), "{again}");
}

#[test]
fn a_training_warned_of_its_time_limit_checkpoints_requeues_and_loses_no_step() {
    let dir = scratch("warned");
    // A minute per training task, a warning 30 s before its end: 4,000 steps take longer.
    let spec = write_spec(
        &dir,
        "spec.json",
        r#"{"pairs": ["fashion-mnist-mnist"], "models": ["glow"], "presets": ["tiny"],
"seeds": [0], "steps": 4000, "train_eval_limit": 200, "eval_limit": 200,
"background_mu": 0, "ensemble": 1,
"resources": {"default": {"cpus": 1, "mem": "1G", "time": "0:10:00"},
              "train": {"time": "0:01:00", "warn": 30}}}"#,
    );
    let reference = dir.join("in-process");
    let reference_arg = reference.to_str().unwrap();
    let args = ["sweep", "run", &spec, "--out", reference_arg];
    ok(command(
        &[&args[..], &["--executor", "in-process"]].concat(),
        real_data(),
    )
    .output()
    .unwrap());

    let cluster = Cluster::start(dir.join("cluster"));
    let sweep = dir.join("slurm");
    let out = ok(cluster
        .genood(&slurm_run(&spec, sweep.to_str().unwrap()))
        .output()
        .unwrap());
    assert!(out.contains("finished now"), "{out}");
    let train = std::fs::read_dir(sweep.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("train-")
        })
        .unwrap();
    let log = std::fs::read_to_string(train.join("log.txt")).unwrap();
    let stopped: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("training stopped at step ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap())
        .collect();
    assert!(!stopped.is_empty(), "never warned:\n{log}");
    for step in &stopped {
        assert!(
            log.contains(&format!("at step {step}")),
            "no resumption at {step}:\n{log}"
        );
    }
    // Every step was done once: the same weights, scores and tables as without a time limit.
    let files = outputs(&reference);
    assert_eq!(files, outputs(&sweep));
    for file in &files {
        assert!(
            relative_bytes(&reference, file) == relative_bytes(&sweep, file),
            "{} differs from the run without a time limit",
            file.display()
        );
    }
}

#[test]
fn reproduce_is_the_one_seed_sweep_of_its_spec() {
    let dir = scratch("reproduce-as-sweep");
    let reproduced = dir.join("reproduce");
    ok(command(
        &[
            "reproduce",
            "--preset",
            "tiny",
            "--models",
            "glow",
            "--steps",
            "40",
            "--train-eval-limit",
            "400",
            "--eval-limit",
            "300",
            "--threads",
            "1",
            "--out",
            reproduced.to_str().unwrap(),
        ],
        real_data(),
    )
    .output()
    .unwrap());
    // The same experiment written as a spec, run by the process pool.
    let spec = write_spec(
        &dir,
        "spec.json",
        r#"{"pairs": ["fashion-mnist-mnist"], "models": ["glow"], "presets": ["tiny"],
"seeds": [0], "steps": 40, "train_eval_limit": 400, "eval_limit": 300,
"companions": "first", "resources": {"default": {"cpus": 1}}}"#,
    );
    let swept = dir.join("sweep");
    let said = ok(command(
        &[
            "sweep",
            "run",
            &spec,
            "--out",
            swept.to_str().unwrap(),
            "--jobs",
            "2",
        ],
        real_data(),
    )
    .output()
    .unwrap());
    // Fetch; three trainings and seven evaluations (the model on three sets, its background
    // and second member on two each); score, analyse, report, summarise; the table.
    assert!(said.contains("16 jobs finished now"), "{said}");
    // The same jobs, run folders and files, byte for byte.
    let files = outputs(&reproduced);
    assert_eq!(files, outputs(&swept));
    let experiment = Path::new("fashion-mnist-mnist-glow-tiny");
    for run in ["glow", "glow-background", "glow-member1"] {
        let scores = experiment.join(run).join("scores/mnist_test.csv");
        assert!(files.contains(&scores), "{}", scores.display());
    }
    assert!(files.contains(&experiment.join("analysis/analysis.json")));
    for file in &files {
        assert!(
            relative_bytes(&reproduced, file) == relative_bytes(&swept, file),
            "{} differs between reproduce and the sweep",
            file.display()
        );
    }
    for written in ["results.json", "summary.md"] {
        assert!(swept.join(experiment).join(written).exists());
        assert!(reproduced.join(experiment).join(written).exists());
    }
    // A run folder holding another configuration is refused, not trained further, and kept.
    let spec = spec.replace(".json", "-longer.json");
    let longer = std::fs::read_to_string(dir.join("spec.json"))
        .unwrap()
        .replace("\"steps\": 40", "\"steps\": 41");
    std::fs::write(&spec, longer).unwrap();
    let weights = swept.join(experiment).join("glow/model.safetensors");
    let before = std::fs::read(&weights).unwrap();
    let args = ["sweep", "run", &spec, "--out", swept.to_str().unwrap()];
    let said = failure(command(&args, real_data()).output().unwrap());
    assert!(said.contains("the sweep did not finish"), "{said}");
    let status = ok(
        command(&["sweep", "status", swept.to_str().unwrap()], real_data())
            .output()
            .unwrap(),
    );
    assert!(
        status.contains("holds a run of another configuration (train.steps: 40 → 41)"),
        "{status}"
    );
    assert_eq!(std::fs::read(&weights).unwrap(), before);
}
