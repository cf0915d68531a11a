//! A sweep's folder and its jobs' marks, and running one job (`genood sweep run-job`).
//!
//! `SWEEP/sweep.json` holds the spec and where the data is; `SWEEP/jobs/<id>/` is a job's
//! folder: its log, its outputs (a train job's run folder is `run/` there), and `done.json`,
//! written atomically as its last act, so a killed job never looks finished. A failed job
//! leaves `failed.json` with the error and its log's path. Eval, merge and score jobs write
//! their scores into the run folder they score, where `eval`, `score` and `report` read them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use genood_data::DataSource;
use genood_data::atomic::write_atomically;
use genood_data::error::chain;
use genood_data::fetch::FetchOptions;
use serde::{Deserialize, Serialize};

use crate::analysis::{AnalysisOptions, analyze};
use crate::analysis_view::write_analysis;
use crate::context::Context;
use crate::error::LabError;
use crate::evaluation::{EvalOptions, Shard, evaluate_sets, merge_shards};
use crate::progress::Progress;
use crate::regret::{self, RegretOptions, regret_sets};
use crate::report::{ReportOptions, write_report};
use crate::score::{Bootstrap, Comparison, score_rows, write_per_image_scores, write_score_tables};
use crate::sets::fetch_sets;
use crate::sweep::layout;
use crate::sweep::plan::{Compared, Job, Plan, Work, plan};
use crate::sweep::spec::SweepSpec;
use crate::sweep::table::write_sweep_table;
use crate::training::ensure_trained;

/// Where a sweep reads its data: fixed when the sweep starts, the same for every job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// The sweep.
    pub spec: SweepSpec,
    /// The data cache, on a file system every job sees.
    pub data_dir: PathBuf,
    /// Leave out undecodable images of `folder:` sets.
    pub skip_bad: bool,
    /// A folder of data archives tried before the network.
    pub mirror: Option<PathBuf>,
}

/// How far a job got.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// `done.json` is there.
    Done,
    /// It failed: the error, and its log.
    Failed {
        /// The error.
        error: String,
        /// Its log.
        log: PathBuf,
    },
    /// Not run, running, or killed.
    Unfinished,
}

/// `failed.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Failure {
    error: String,
    log: PathBuf,
}

/// `done.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Finished {
    id: String,
    seconds: f64,
}

/// A sweep's folder, its setup and its plan.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The folder.
    pub dir: PathBuf,
    /// What it runs, on which data.
    pub setup: Setup,
    /// Its jobs.
    pub plan: Plan,
}

impl Sweep {
    /// Writes `setup` into `dir/sweep.json` (the folder made absolute, so that jobs started
    /// elsewhere find it) and plans it. Jobs of an earlier spec in the same folder stay, and a
    /// job of the new plan that one of them finished is not run again.
    pub fn create(dir: &Path, setup: Setup) -> Result<Sweep, LabError> {
        std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
        let dir = std::path::absolute(dir).map_err(LabError::io(dir))?;
        let plan = plan(&setup.spec)?;
        let path = dir.join("sweep.json");
        let text = serde_json::to_string_pretty(&setup).expect("setup serialises");
        write_atomically(&path, text.as_bytes()).map_err(LabError::io(&path))?;
        Ok(Sweep { dir, setup, plan })
    }

    /// The sweep in `dir`.
    pub fn open(dir: &Path) -> Result<Sweep, LabError> {
        let path = dir.join("sweep.json");
        let text = std::fs::read_to_string(&path).map_err(LabError::io(&path))?;
        let setup: Setup = serde_json::from_str(&text).map_err(|e| LabError::File {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let dir = std::path::absolute(dir).map_err(LabError::io(dir))?;
        Ok(Sweep {
            plan: plan(&setup.spec)?,
            dir,
            setup,
        })
    }

    /// A job's folder.
    pub fn job_dir(&self, id: &str) -> PathBuf {
        layout::job_dir(&self.dir, id)
    }

    /// A job's log.
    pub fn log(&self, id: &str) -> PathBuf {
        self.job_dir(id).join("log.txt")
    }

    /// The run folder of train job `id`.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        layout::run_dir(&self.dir, id)
    }

    /// The sweep's table: `report/sweep.{html,md,csv,json}`.
    pub fn report_dir(&self) -> PathBuf {
        layout::report_dir(&self.dir)
    }

    /// How far job `id` got.
    pub fn state(&self, id: &str) -> JobState {
        let dir = self.job_dir(id);
        if dir.join("done.json").exists() {
            return JobState::Done;
        }
        match std::fs::read_to_string(dir.join("failed.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Failure>(&t).ok())
        {
            Some(f) => JobState::Failed {
                error: f.error,
                log: f.log,
            },
            None => JobState::Unfinished,
        }
    }

    /// The data every job reads.
    pub fn data(&self) -> DataSource {
        DataSource {
            dir: self.setup.data_dir.clone(),
            skip_bad: self.setup.skip_bad,
        }
    }

    /// Runs job `id` on `device` unless it finished before: checks that its dependencies
    /// finished, does its work, then marks it done; a failure is marked with its error.
    pub fn run_job(
        &self,
        id: &str,
        device: &Device,
        progress: &mut dyn Progress,
    ) -> Result<(), LabError> {
        let job = self.plan.job(id).ok_or_else(|| LabError::Sweep {
            reason: format!(
                "{} plans no job `{id}` (`genood sweep plan` lists them)",
                self.dir.display()
            ),
        })?;
        if self.state(id) == JobState::Done {
            progress.note(&format!("{id}: finished before"));
            return Ok(());
        }
        if let Some(dep) = job.deps.iter().find(|d| self.state(d) != JobState::Done) {
            return Err(LabError::Sweep {
                reason: format!("{id} waits for {dep}, which has not finished"),
            });
        }
        let dir = self.job_dir(id);
        std::fs::create_dir_all(&dir).map_err(LabError::io(&dir))?;
        let failed = dir.join("failed.json");
        if failed.exists() {
            std::fs::remove_file(&failed).map_err(LabError::io(&failed))?;
        }
        let started = Instant::now();
        let outcome = self.work(job, device, progress);
        if outcome.as_ref().is_err_and(LabError::interrupted) {
            // Stopped at a checkpoint (a time limit ahead): unfinished, to be run again.
            return outcome;
        }
        let (path, value) = match &outcome {
            Ok(()) => (
                dir.join("done.json"),
                serde_json::to_string_pretty(&Finished {
                    id: id.into(),
                    seconds: started.elapsed().as_secs_f64(),
                }),
            ),
            Err(error) => (
                failed,
                serde_json::to_string_pretty(&Failure {
                    error: chain(error),
                    log: self.log(id),
                }),
            ),
        };
        let text = value.expect("marks serialise");
        write_atomically(&path, text.as_bytes()).map_err(LabError::io(&path))?;
        outcome
    }

    /// The comparison of `sets`, with the companions' run folders.
    fn comparison(
        &self,
        sets: &Compared,
        background: &Option<String>,
        ensemble: &[String],
    ) -> Comparison {
        Comparison {
            in_dist: sets.test.clone(),
            ood: sets.ood.clone(),
            reference: sets.reference.clone(),
            background: background.as_deref().map(|b| self.run_dir(b)),
            ensemble: ensemble.iter().map(|m| self.run_dir(m)).collect(),
        }
    }

    fn work(
        &self,
        job: &Job,
        device: &Device,
        progress: &mut dyn Progress,
    ) -> Result<(), LabError> {
        let context = Context::new(self.data(), device.clone());
        let data = &context.data;
        let threads = self
            .setup
            .spec
            .resources_of(job.stage.name())
            .cpus
            .unwrap_or(1);
        let scoring = |limit, iw_samples, shard| EvalOptions {
            limit,
            batch_size: 500,
            iw_samples,
            seed: 0,
            threads,
            shard,
        };
        match &job.work {
            Work::Fetch { datasets } => {
                let options = FetchOptions {
                    mirror: self.setup.mirror.clone(),
                    offline: false,
                };
                fetch_sets(datasets, &data.dir, &options, progress)
            }
            Work::Train { config } => {
                ensure_trained(config, &self.run_dir(&job.id), &context, progress)?;
                Ok(())
            }
            Work::Eval {
                run,
                set,
                limit,
                iw_samples,
                shard,
                shards,
            } => {
                let shard = Shard {
                    index: *shard,
                    count: *shards,
                };
                let options = scoring(*limit, *iw_samples, Some(shard));
                evaluate_sets(
                    &self.run_dir(run),
                    std::slice::from_ref(set),
                    &context,
                    &options,
                    progress,
                )?;
                Ok(())
            }
            Work::Merge {
                run,
                groups,
                iw_samples,
                shards,
            } => {
                for group in groups {
                    let options = scoring(group.limit, *iw_samples, None);
                    merge_shards(
                        &self.run_dir(run),
                        &group.sets,
                        *shards,
                        data,
                        &options,
                        progress,
                    )?;
                }
                Ok(())
            }
            Work::Score {
                run,
                sets,
                background,
                ensemble,
                regret_limit,
                vae,
            } => {
                let run_dir = self.run_dir(run);
                let compared = self.comparison(sets, background, ensemble);
                if *vae {
                    let mut held_out = vec![sets.test.clone()];
                    held_out.extend(sets.ood.iter().cloned());
                    let options = RegretOptions {
                        limit: *regret_limit,
                        batch_size: 250,
                        seed: 0,
                        threads,
                    };
                    regret_sets(
                        &run_dir,
                        &held_out,
                        &context,
                        regret::DEFAULT_REFIT,
                        &options,
                        progress,
                    )?;
                }
                let rows = score_rows(&run_dir, &compared, Bootstrap::default(), data)?;
                write_per_image_scores(&run_dir, &compared, &rows)?;
                progress.note(&write_score_tables(&self.job_dir(&job.id), &rows)?);
                Ok(())
            }
            Work::Analyze {
                run,
                sets,
                gray_limit,
                eval_limit,
                iw_samples,
            } => {
                let options = AnalysisOptions {
                    reference: Some(sets.reference.clone()),
                    gray_limit: *gray_limit,
                    eval_limit: *eval_limit,
                    iw_samples: *iw_samples,
                    threads,
                    ..AnalysisOptions::default()
                };
                let analyzed = analyze(
                    &[self.run_dir(run)],
                    &sets.test,
                    &sets.ood,
                    &options,
                    &context,
                    progress,
                )?;
                write_analysis(&self.job_dir(&job.id).join("analysis"), &analyzed)?;
                Ok(())
            }
            Work::Report {
                run,
                sets,
                background,
                ensemble,
                analysis,
                samples,
            } => {
                let options = ReportOptions {
                    out: self.job_dir(&job.id).join("report"),
                    analysis: Some(self.job_dir(analysis).join("analysis/analysis.json")),
                    samples: *samples,
                };
                let page = write_report(
                    &[self.run_dir(run)],
                    &self.comparison(sets, background, ensemble),
                    &options,
                    data,
                    progress,
                )?;
                progress.note(&format!("wrote {}", page.display()));
                Ok(())
            }
            Work::SweepReport {
                experiments,
                scores,
            } => {
                let page = write_sweep_table(&self.dir, experiments, scores)?;
                progress.note(&format!("wrote {}", page.display()));
                Ok(())
            }
        }
    }
}
