//! `genood sweep plan|run|run-job|status|cancel`: pairs × models × presets × seeds as a DAG of
//! idempotent jobs, on this machine or on Slurm.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use genood_data::DataSource;
use genood_lab::sweep::{JobState, Setup, Stage, Sweep, SweepSpec, local, plan, slurm};

use crate::device::parse_device;
use crate::progress::Terminal;

/// Arguments of `genood sweep`.
#[derive(Args)]
pub struct SweepArgs {
    #[command(subcommand)]
    command: SweepCommand,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Print a spec's jobs, stage by stage, with their resources and what each waits for.
    Plan {
        /// The sweep spec (JSON; see docs/distributed.md).
        spec: PathBuf,
    },
    /// Run (or submit) every job of a spec that has not finished in the sweep folder.
    Run(RunArgs),
    /// Run one job of a sweep (what the executors start; rerunning a finished job does nothing).
    RunJob {
        /// The sweep folder.
        sweep: PathBuf,
        /// The job's id, as `sweep plan` prints it.
        job: String,
    },
    /// How far a sweep got: jobs per stage, failed jobs with their logs, Slurm's queue.
    Status {
        /// The sweep folder.
        sweep: PathBuf,
    },
    /// Cancel the sweep's tasks that Slurm still holds.
    Cancel {
        /// The sweep folder.
        sweep: PathBuf,
    },
}

/// Where the jobs run.
#[derive(Clone, Copy, ValueEnum)]
enum Executor {
    /// A pool of `genood` processes on this machine.
    Local,
    /// One `sbatch` job array per stage.
    Slurm,
}

/// Arguments of `genood sweep run`.
#[derive(Args)]
struct RunArgs {
    /// The sweep spec (JSON).
    spec: PathBuf,
    /// The sweep folder, on a file system every job sees: job folders, logs, the table.
    #[arg(long)]
    out: PathBuf,
    /// local, or slurm.
    #[arg(long, value_enum, default_value = "local")]
    executor: Executor,
    /// Local executor: jobs at once (default: 1; each uses its stage's CPUs).
    #[arg(long, value_name = "N", default_value = "1", value_parser = crate::numbers::positive)]
    jobs: usize,
    /// Slurm executor: wait for the sweep to end, then say how it went.
    #[arg(long)]
    wait: bool,
    /// Take the data archives from this folder (e.g. ../shared/data) before the network.
    #[arg(long)]
    mirror: Option<PathBuf>,
}

/// Runs a `genood sweep` command.
pub fn run(args: SweepArgs, data: &DataSource) -> Result<()> {
    match args.command {
        SweepCommand::Plan { spec } => {
            let spec = SweepSpec::read(&spec)?;
            print!("{}", plan(&spec)?.describe(&spec));
            Ok(())
        }
        SweepCommand::Run(args) => run_sweep(args, data),
        SweepCommand::RunJob { sweep, job } => {
            let sweep = Sweep::open(&sweep)?;
            let device = parse_device(&sweep.setup.spec.device)?;
            sweep.run_job(&job, &device, &mut Terminal::default())?;
            Ok(())
        }
        SweepCommand::Status { sweep } => {
            print!("{}", status(&Sweep::open(&sweep)?)?);
            Ok(())
        }
        SweepCommand::Cancel { sweep } => {
            let cancelled = slurm::cancel(&Sweep::open(&sweep)?)?;
            println!("cancelled Slurm arrays: {}", cancelled.join(" "));
            Ok(())
        }
    }
}

/// An absolute path, for jobs that start in another folder.
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}", path.display()))
}

fn run_sweep(args: RunArgs, data: &DataSource) -> Result<()> {
    let setup = Setup {
        spec: SweepSpec::read(&args.spec)?,
        data_dir: absolute(&data.dir)?,
        skip_bad: data.skip_bad,
        mirror: args.mirror.as_deref().map(absolute).transpose()?,
    };
    let sweep = Sweep::create(&args.out, setup)?;
    let program = std::env::current_exe().context("the path of this genood binary")?;
    let mut progress = Terminal::default();
    let outcome = match args.executor {
        Executor::Local => local::run_local(&sweep, &program, args.jobs, &mut progress)?,
        Executor::Slurm => {
            let submitted = slurm::submit(&sweep, &program, &mut progress)?;
            if !args.wait {
                println!(
                    "submitted {} Slurm array(s); `genood sweep status {}` follows them",
                    submitted.len(),
                    sweep.dir.display()
                );
                return Ok(());
            }
            slurm::wait(&sweep, &submitted, &mut progress)?
        }
    };
    println!("{}", outcome.describe());
    outcome.into_result()?;
    println!(
        "the sweep's table: {}",
        sweep.report_dir().join("sweep.html").display()
    );
    Ok(())
}

/// Jobs per stage (finished, failed, not finished), each failed job with its error and log,
/// and the tasks Slurm still holds.
fn status(sweep: &Sweep) -> Result<String> {
    let failed: Vec<_> = sweep
        .plan
        .jobs
        .iter()
        .filter_map(|job| match sweep.state(&job.id) {
            JobState::Failed { error, log } => Some((job.id.clone(), error, log)),
            _ => None,
        })
        .collect();
    let blocked: BTreeSet<String> = failed
        .iter()
        .flat_map(|(id, _, _)| sweep.plan.dependents(id))
        .collect();
    let mut text = String::new();
    for stage in Stage::ALL {
        let jobs: Vec<_> = sweep
            .plan
            .jobs
            .iter()
            .filter(|j| j.stage == stage)
            .collect();
        if jobs.is_empty() {
            continue;
        }
        let mut counts = [0usize; 4];
        for job in jobs {
            let kind = match sweep.state(&job.id) {
                JobState::Done => 0,
                JobState::Failed { .. } => 1,
                JobState::Unfinished if blocked.contains(&job.id) => 2,
                JobState::Unfinished => 3,
            };
            counts[kind] += 1;
        }
        text.push_str(&format!(
            "{:<13} {} finished, {} failed, {} waiting for a failed job, {} not finished\n",
            stage.name(),
            counts[0],
            counts[1],
            counts[2],
            counts[3]
        ));
    }
    for (id, error, log) in failed {
        text.push_str(&format!(
            "failed: {id}\n  {error}\n  log: {}\n",
            log.display()
        ));
    }
    if !slurm::submissions(sweep)?.is_empty() {
        let queued = slurm::queued(sweep)?;
        text.push_str(&format!("Slurm holds {} task(s)\n", queued.len()));
        for task in queued {
            text.push_str(&format!(
                "  {} {} {} {}\n",
                task.slurm_id, task.state, task.reason, task.job
            ));
        }
    }
    if sweep.report_dir().join("sweep.html").exists() {
        text.push_str(&format!(
            "table: {}\n",
            sweep.report_dir().join("sweep.html").display()
        ));
    }
    Ok(text)
}
