//! `genood sweep plan|run|run-job|status|cancel`: pairs × models × presets × seeds as a DAG of
//! idempotent jobs, on this machine or on Slurm.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use genood_data::DataSource;
use genood_lab::sweep::{
    Executor, InProcess, Launcher, LocalPool, Setup, SlurmArrays, Stage, Sweep, SweepSpec, local,
    plan, slurm, status,
};

use crate::device::parse_device;
use crate::graceful;
use crate::progress::terminal;

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
    /// How far a sweep got: jobs per stage, failed jobs with their logs, Slurm's queue by
    /// stage and state, the jobs Slurm killed and why.
    Status {
        /// The sweep folder.
        sweep: PathBuf,
        /// List every task Slurm holds.
        #[arg(long)]
        verbose: bool,
    },
    /// Cancel the sweep's tasks that Slurm still holds.
    Cancel {
        /// The sweep folder.
        sweep: PathBuf,
    },
}

/// Where the jobs run.
#[derive(Clone, Copy, ValueEnum)]
enum Where {
    /// One job after another in this process.
    InProcess,
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
    /// in-process, local, or slurm.
    #[arg(long, value_enum, default_value = "local")]
    executor: Where,
    /// Local executor: jobs at once, each with its stage's CPUs (default: as many as the
    /// machine's cores hold at the spec's largest CPU count).
    #[arg(long, value_name = "N", value_parser = crate::numbers::positive)]
    jobs: Option<usize>,
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
            if sweep
                .plan
                .job(&job)
                .is_some_and(|j| j.stage == Stage::Train)
            {
                graceful::training_ahead();
            }
            let device = parse_device(&sweep.setup.spec.device)?;
            sweep.run_job(&job, &device, &mut *terminal())?;
            Ok(())
        }
        SweepCommand::Status { sweep, verbose } => {
            print!("{}", status::describe(&Sweep::open(&sweep)?, verbose)?);
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
    if args.out.join("sweep.json").exists() {
        slurm::ensure_idle(&Sweep::open(&args.out)?)?;
    }
    let sweep = Sweep::create(&args.out, setup)?;
    // Each job's own process is this binary's `sweep run-job SWEEP JOB`.
    let launcher = Launcher {
        program: std::env::current_exe().context("the path of this genood binary")?,
        prefix: vec!["sweep".into(), "run-job".into()],
    };
    let mut progress = terminal();
    let executor: Box<dyn Executor> = match args.executor {
        Where::InProcess => Box::new(InProcess {
            device: parse_device(&sweep.setup.spec.device)?,
        }),
        Where::Local => Box::new(LocalPool {
            launcher,
            workers: args
                .jobs
                .unwrap_or_else(|| local::default_workers(&sweep.setup.spec)),
        }),
        Where::Slurm if !args.wait => {
            let submitted = slurm::submit(&sweep, &launcher, &mut *progress)?;
            println!(
                "submitted {} Slurm array(s); `genood sweep status {}` follows them",
                submitted.len(),
                sweep.dir.display()
            );
            return Ok(());
        }
        Where::Slurm => Box::new(SlurmArrays { launcher }),
    };
    let outcome = executor.run(&sweep, &mut *progress)?;
    println!("{}", outcome.describe());
    outcome.into_result()?;
    println!(
        "the sweep's table: {}",
        sweep.report_dir().join("sweep.html").display()
    );
    Ok(())
}
