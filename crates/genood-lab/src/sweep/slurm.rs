//! The Slurm executor. Each experiment's unfinished jobs of a stage go in as one `sbatch` job
//! array, whose tasks run the launcher's command for one job each on a shared file system,
//! with the stage's resources, after the same experiment's arrays of the earlier stages (and
//! the shared fetch) succeeded (`--dependency=afterok:…`): a failure stops its own
//! experiment, and the others run to their end. The sweep's table waits for every array.
//! `--kill-on-invalid-dep=yes` cancels what waits for a failed job, which Slurm would otherwise
//! leave pending forever (reason `DependencyNeverSatisfied`). Tasks are warned before their
//! time limit (`--signal=B:USR1@…`): a training stops at a checkpoint and the task requeues
//! itself (`--requeue`) to resume there. `SWEEP/slurm/` keeps each
//! array's job list, batch script and Slurm output, and `submissions.json` their ids for
//! `status` and `cancel`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::LabError;
use crate::progress::Progress;
use crate::sweep::executor::{Executor, Launcher, Outcome};
use crate::sweep::jobs::{JobState, Sweep};
use crate::sweep::plan::{Plan, Stage, Work};

/// One submitted job array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// Its stage.
    pub stage: Stage,
    /// The experiment its jobs belong to (`None`: jobs every experiment shares).
    #[serde(default)]
    pub experiment: Option<String>,
    /// Slurm's job id of the array.
    pub slurm_id: String,
    /// The sweep's jobs, one per array task, in task order.
    pub jobs: Vec<String>,
}

/// A task Slurm still holds: pending, running or completing.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// The sweep's job.
    pub job: String,
    /// Slurm's id, `<array>_<task>`.
    pub slurm_id: String,
    /// Slurm's state (PENDING, RUNNING, …).
    pub state: String,
    /// Why it waits, if it does.
    pub reason: String,
}

fn slurm_dir(sweep: &Sweep) -> PathBuf {
    sweep.dir.join("slurm")
}

fn submissions_path(sweep: &Sweep) -> PathBuf {
    slurm_dir(sweep).join("submissions.json")
}

/// Every array submitted for the sweep so far.
pub fn submissions(sweep: &Sweep) -> Result<Vec<Submission>, LabError> {
    let path = submissions_path(sweep);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).map_err(LabError::io(&path))?;
    serde_json::from_str(&text).map_err(|e| LabError::File {
        path: path.clone(),
        reason: e.to_string(),
    })
}

/// Runs a Slurm command and returns what it printed, or an error with what it said.
fn slurm(program: &str, args: &[String]) -> Result<String, LabError> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| LabError::Slurm {
            command: program.into(),
            reason: format!("it could not run ({e}): is Slurm installed and on PATH?"),
        })?;
    if !output.status.success() {
        return Err(LabError::Slurm {
            command: format!("{program} {}", args.join(" ")),
            reason: String::from_utf8_lossy(&output.stderr).trim().into(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The sweep's tasks that Slurm still holds.
pub fn queued(sweep: &Sweep) -> Result<Vec<Queued>, LabError> {
    let submitted = submissions(sweep)?;
    if submitted.is_empty() {
        return Ok(Vec::new());
    }
    // All of this user's jobs, not `-j` ids, so that ids Slurm has forgotten are no error;
    // filtered to the sweep's arrays below.
    let text = slurm(
        "squeue",
        &["-h", "--me", "-o", "%F|%i|%K|%T|%r"].map(String::from),
    )?;
    let mut tasks = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.trim().split('|').collect();
        let [array, id, task, state, reason] = fields[..] else {
            continue;
        };
        let Some(submission) = submitted.iter().find(|s| s.slurm_id == array) else {
            continue;
        };
        // A pending array shows as one line with a range of tasks (`0-11`): each of them.
        let mut indices: Vec<usize> = Vec::new();
        for part in task.split('%').next().unwrap_or_default().split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                        indices.extend(a..=b);
                    }
                }
                None => indices.extend(part.parse::<usize>().ok()),
            }
        }
        for index in indices {
            if let Some(job) = submission.jobs.get(index) {
                tasks.push(Queued {
                    job: job.clone(),
                    slurm_id: if id.contains('[') {
                        format!("{array}_{index}")
                    } else {
                        id.to_string()
                    },
                    state: state.to_string(),
                    reason: reason.to_string(),
                });
            }
        }
    }
    Ok(tasks)
}

/// Refuses while Slurm still holds tasks of `sweep`: new jobs, or a new spec in its folder,
/// would race them.
pub fn ensure_idle(sweep: &Sweep) -> Result<(), LabError> {
    let held = queued(sweep)?;
    match held.first() {
        None => Ok(()),
        Some(task) => Err(LabError::Sweep {
            reason: format!(
                "Slurm still holds {} task(s) of this sweep (e.g. {} {}); wait for them or run `genood sweep cancel {}`",
                held.len(),
                task.slurm_id,
                task.job,
                sweep.dir.display()
            ),
        }),
    }
}

/// `text` in single quotes for bash.
fn shell_quoted(text: impl AsRef<std::ffi::OsStr>) -> String {
    let text = text.as_ref().to_string_lossy();
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// One `sbatch` job array per stage, each task running the launcher's command for one job,
/// on a file system every node sees; waits for Slurm to finish them.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmArrays {
    /// How a task starts its job.
    pub launcher: Launcher,
}

impl Executor for SlurmArrays {
    fn run(&self, sweep: &Sweep, progress: &mut dyn Progress) -> Result<Outcome, LabError> {
        let submitted = submit(sweep, &self.launcher, progress)?;
        wait(sweep, &submitted, progress)
    }
}

/// Submits every unfinished job of `sweep`, stage by stage, each task started by `launcher`;
/// returns the arrays. Refused while Slurm still holds an earlier submission of the sweep.
pub fn submit(
    sweep: &Sweep,
    launcher: &Launcher,
    progress: &mut dyn Progress,
) -> Result<Vec<Submission>, LabError> {
    ensure_idle(sweep)?;
    let dir = slurm_dir(sweep);
    std::fs::create_dir_all(&dir).map_err(LabError::io(&dir))?;
    let mut all = submissions(sweep)?;
    let round = all.len();
    let mut submitted: Vec<Submission> = Vec::new();
    let experiment_of = experiments(&sweep.plan);
    let mut groups: Vec<(Stage, Option<String>, Vec<String>)> = Vec::new();
    for job in &sweep.plan.jobs {
        if sweep.state(&job.id) == JobState::Done {
            continue;
        }
        let experiment = experiment_of.get(&job.id).cloned();
        match groups
            .iter_mut()
            .find(|(s, e, _)| *s == job.stage && *e == experiment)
        {
            Some((_, _, ids)) => ids.push(job.id.clone()),
            None => groups.push((job.stage, experiment, vec![job.id.clone()])),
        }
    }
    groups.sort_by_key(|(stage, _, _)| *stage);
    for (stage, experiment, jobs) in groups {
        let name = format!("{}-{}", round + submitted.len(), stage.name());
        let list = dir.join(format!("{name}.jobs"));
        std::fs::write(&list, jobs.join("\n") + "\n").map_err(LabError::io(&list))?;
        let jobs_dir = sweep.dir.join("jobs");
        let script = dir.join(format!("{name}.sh"));
        let text = format!(
            r#"#!/bin/bash
# genood sweep: the {stage} jobs of {sweep}, one per array task.
set -uo pipefail
job=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {list})
mkdir -p {jobs}/"$job"
{command} "$job" >> {jobs}/"$job"/log.txt 2>&1 &
child=$!
# Slurm warns this shell before the time limit (--signal=B:USR1@...), and a cancellation or
# preemption sends SIGTERM: the job's training then stops at a checkpoint and exits with 75.
warned=0
trap 'warned=1; kill -USR1 $child' USR1
trap 'kill -TERM $child' TERM
status=0
wait $child || status=$?
# A trapped signal ends `wait` early: wait for the job itself.
while kill -0 $child 2>/dev/null; do status=0; wait $child || status=$?; done
if [ "$status" -eq 75 ] && [ "$warned" -eq 1 ]; then
    # Warned of the time limit: back in the queue, to resume from the checkpoint.
    scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
fi
exit "$status"
"#,
            stage = stage.name(),
            sweep = shell_quoted(&sweep.dir),
            list = shell_quoted(&list),
            jobs = shell_quoted(&jobs_dir),
            command = std::iter::once(launcher.program.as_os_str())
                .chain(launcher.prefix.iter().map(|a| a.as_os_str()))
                .chain([sweep.dir.as_os_str()])
                .map(shell_quoted)
                .collect::<Vec<_>>()
                .join(" "),
        );
        std::fs::write(&script, text).map_err(LabError::io(&script))?;
        let r = sweep.setup.spec.resources_of(stage.name());
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name=genood-{}", stage.name()),
            format!("--array=0-{}", jobs.len() - 1),
            format!("--cpus-per-task={}", r.cpus.unwrap_or(1)),
            format!("--output={}", dir.join(format!("{name}-%a.out")).display()),
            format!("--chdir={}", sweep.dir.display()),
            "--kill-on-invalid-dep=yes".to_string(),
            "--requeue".to_string(),
        ];
        args.extend(r.warn.map(|seconds| format!("--signal=B:USR1@{seconds}")));
        args.extend(r.mem.map(|m| format!("--mem={m}")));
        args.extend(r.time.map(|t| format!("--time={t}")));
        args.extend(r.gpus.filter(|g| *g > 0).map(|g| format!("--gres=gpu:{g}")));
        args.extend(r.partition.map(|p| format!("--partition={p}")));
        args.extend(r.sbatch);
        // After the shared arrays and this experiment's; the shared ones after all.
        let after: Vec<&str> = submitted
            .iter()
            .filter(|s| {
                experiment.is_none() || s.experiment.is_none() || s.experiment == experiment
            })
            .map(|s| s.slurm_id.as_str())
            .collect();
        if !after.is_empty() {
            args.push(format!("--dependency=afterok:{}", after.join(":")));
        }
        args.push(script.display().to_string());
        let printed = slurm("sbatch", &args)?;
        // `--parsable` prints `<id>` or `<id>;<cluster>`.
        let slurm_id = printed
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        if slurm_id.is_empty() || !slurm_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LabError::Slurm {
                command: "sbatch".into(),
                reason: format!("it printed `{}`, not a job id", printed.trim()),
            });
        }
        progress.note(&format!(
            "submitted {} {} job(s) as Slurm array {slurm_id}",
            jobs.len(),
            stage.name()
        ));
        submitted.push(Submission {
            stage,
            experiment,
            slurm_id,
            jobs,
        });
        all.push(submitted.last().cloned().expect("just pushed"));
        let path = submissions_path(sweep);
        let text = serde_json::to_string_pretty(&all).expect("submissions serialise");
        genood_data::atomic::write_atomically(&path, text.as_bytes())
            .map_err(LabError::io(&path))?;
    }
    Ok(submitted)
}

/// A task of a submitted array that Slurm no longer holds, as its output file tells.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    /// The sweep's job.
    pub job: String,
    /// Slurm's output file of the task (absent when it never started).
    pub output: PathBuf,
    /// Why Slurm killed it, when it did: its time limit, a preemption, a node failure, or a
    /// cancellation; `None` for a task that ended by itself or never started.
    pub killed: Option<String>,
}

/// Every task of every array submitted for the sweep, the latest submission of each job
/// only, with what its Slurm output file says.
pub fn ended_tasks(sweep: &Sweep) -> Result<Vec<Ended>, LabError> {
    let mut latest: BTreeMap<String, Ended> = BTreeMap::new();
    for (round, submission) in submissions(sweep)?.iter().enumerate() {
        let name = format!("{round}-{}", submission.stage.name());
        for (task, job) in submission.jobs.iter().enumerate() {
            let output = slurm_dir(sweep).join(format!("{name}-{task}.out"));
            let said = std::fs::read_to_string(&output).unwrap_or_default();
            latest.insert(
                job.clone(),
                Ended {
                    job: job.clone(),
                    killed: killed_because(&said),
                    output,
                },
            );
        }
    }
    Ok(latest.into_values().collect())
}

/// Why slurmstepd says it killed a task (`*** JOB 12 ON node CANCELLED AT … DUE TO TIME
/// LIMIT ***`), if it does.
fn killed_because(output: &str) -> Option<String> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.contains("*** JOB") && l.contains("CANCELLED AT"))?;
    Some(
        match line
            .split(" DUE TO ")
            .nth(1)
            .map(|r| r.trim_end_matches(" ***").trim())
        {
            Some("TIME LIMIT") => "its time limit".into(),
            Some("PREEMPTION") => "preempted".into(),
            Some("NODE FAILURE") => "a node failure".into(),
            Some(other) => other.to_lowercase(),
            None => "cancelled (scancel)".into(),
        },
    )
}

/// The experiment of each job that belongs to one: its summary and every job the summary
/// waits for, directly or not. The fetch and the sweep's table belong to none.
fn experiments(plan: &Plan) -> BTreeMap<String, String> {
    let mut of = BTreeMap::new();
    for job in &plan.jobs {
        let Work::Summary { experiment } = &job.work else {
            continue;
        };
        let own = std::iter::once(job.id.clone()).chain(plan.prerequisites(&job.id));
        for id in own {
            if plan.job(&id).is_some_and(|j| j.stage != Stage::Fetch) {
                of.insert(id, experiment.name.clone());
            }
        }
    }
    of
}

/// Waits until Slurm holds none of the sweep's tasks, then tells which jobs finished, failed
/// (with their logs) or were cancelled.
pub fn wait(
    sweep: &Sweep,
    submitted: &[Submission],
    progress: &mut dyn Progress,
) -> Result<Outcome, LabError> {
    let total: usize = submitted.iter().map(|s| s.jobs.len()).sum();
    loop {
        let held = queued(sweep)?.len();
        progress.advance("sweep (Slurm)", total - held.min(total), total);
        if held == 0 {
            break;
        }
        // Gently: squeue asks the controller, which a whole cluster shares.
        std::thread::sleep(Duration::from_secs(2));
    }
    let mut outcome = Outcome {
        finished_before: sweep.plan.jobs.len() - total,
        ..Outcome::default()
    };
    for id in submitted.iter().flat_map(|s| &s.jobs) {
        match sweep.state(id) {
            JobState::Done => outcome.finished += 1,
            JobState::Failed { log, .. } => outcome.failed.push((id.clone(), log)),
            JobState::Unfinished => outcome.cancelled.push(id.clone()),
        }
    }
    Ok(outcome)
}

/// Cancels every task of the sweep that Slurm still holds; returns their Slurm ids.
pub fn cancel(sweep: &Sweep) -> Result<Vec<String>, LabError> {
    let mut arrays: Vec<String> = queued(sweep)?
        .into_iter()
        .map(|q| q.slurm_id.split('_').next().unwrap_or_default().to_string())
        .collect();
    arrays.sort();
    arrays.dedup();
    if !arrays.is_empty() {
        slurm("scancel", &arrays)?;
    }
    Ok(arrays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurmstepds_last_word_on_a_task_gives_the_reason() {
        let line = |reason: &str| {
            format!(
                "slurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026-12-07T04:13:26{reason} ***\n"
            )
        };
        for (said, reason) in [
            (line(" DUE TO TIME LIMIT"), Some("its time limit")),
            (line(" DUE TO PREEMPTION"), Some("preempted")),
            (line(" DUE TO NODE FAILURE"), Some("a node failure")),
            (line(""), Some("cancelled (scancel)")),
            (line(" DUE TO JOB REQUEUE"), Some("job requeue")),
            ("a task that ended by itself\n".into(), None),
            (String::new(), None),
        ] {
            assert_eq!(killed_because(&said).as_deref(), reason, "{said}");
        }
    }
}
