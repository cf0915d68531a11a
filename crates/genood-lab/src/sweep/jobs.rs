//! A sweep's folder and its jobs' marks, and running one job (`genood sweep run-job`): one
//! function per kind of job.
//!
//! `SWEEP/sweep.json` holds the spec and where the data is; `SWEEP/jobs/<id>/` is a job's
//! folder: its log and `done.json`, written atomically as its last act, so a killed job never
//! looks finished. A failed job leaves `failed.json` with the error and its log's path. The
//! outputs go where the plan names them: run folders, each experiment's analysis, report and
//! summary in its folder (`SWEEP/<experiment>/`), where `eval`, `score` and `report` read them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use genood_data::atomic::write_atomically;
use genood_data::error::chain;
use genood_data::fetch::FetchOptions;
use genood_data::{DataSource, SetSpec};
use serde::{Deserialize, Serialize};

use crate::analysis::{AnalysisOptions, analyze};
use crate::analysis_view::write_analysis;
use crate::context::Context;
use crate::error::LabError;
use crate::evaluation::{EvalOptions, Shard, evaluate_sets, merge_shards, summary_table};
use crate::progress::Progress;
use crate::regret::{self, RegretOptions, regret_sets};
use crate::report::{ReportOptions, write_report};
use crate::score::{Bootstrap, Comparison, score_rows, write_per_image_scores, write_score_tables};
use crate::sets::fetch_sets;
use crate::sweep::layout::{self, Finished};
use crate::sweep::plan::{Compared, Job, Plan, SetGroup, Work, plan};
use crate::sweep::spec::SweepSpec;
use crate::sweep::summary::write_summary;
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
        // A spec that does not plan writes nothing.
        let plan = plan(&setup.spec)?;
        std::fs::create_dir_all(dir).map_err(LabError::io(dir))?;
        let dir = std::path::absolute(dir).map_err(LabError::io(dir))?;
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

    /// A folder the plan names (relative to the sweep folder).
    pub fn path(&self, planned: &Path) -> PathBuf {
        self.dir.join(planned)
    }

    /// The sweep's table: `report/sweep.{html,md,csv,json}`.
    pub fn report_dir(&self) -> PathBuf {
        layout::report_dir(&self.dir)
    }

    /// How far job `id` got.
    pub fn state(&self, id: &str) -> JobState {
        let dir = self.job_dir(id);
        if layout::done_mark(&self.dir, id).exists() {
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
            return outcome.map(|_| ());
        }
        let (path, value) = match &outcome {
            Ok(images_per_sec) => (
                layout::done_mark(&self.dir, id),
                serde_json::to_string_pretty(&Finished {
                    id: id.into(),
                    seconds: started.elapsed().as_secs_f64(),
                    images_per_sec: *images_per_sec,
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
        outcome.map(|_| ())
    }

    /// The comparison of `sets`, with the companions' run folders.
    fn comparison(
        &self,
        sets: &Compared,
        background: &Option<PathBuf>,
        ensemble: &[PathBuf],
    ) -> Comparison {
        Comparison {
            in_dist: sets.test.clone(),
            ood: sets.ood.clone(),
            reference: sets.reference.clone(),
            background: background.as_deref().map(|b| self.path(b)),
            ensemble: ensemble.iter().map(|m| self.path(m)).collect(),
        }
    }

    /// Does `job`'s work; a train job returns its training images per second.
    fn work(
        &self,
        job: &Job,
        device: &Device,
        progress: &mut dyn Progress,
    ) -> Result<Option<f64>, LabError> {
        let step = Step {
            sweep: self,
            context: Context::new(self.data(), device.clone()),
            threads: self
                .setup
                .spec
                .resources_of(job.stage.name())
                .cpus
                .unwrap_or(1),
        };
        match &job.work {
            Work::Fetch { datasets } => step.fetch(datasets, progress),
            Work::Train { config, run } => {
                let (_, images_per_sec) =
                    ensure_trained(config, &self.path(run), &step.context, progress)?;
                return Ok(Some(images_per_sec));
            }
            Work::Eval {
                run,
                set,
                limit,
                iw_samples,
                shard,
                shards,
                likelihood_only,
            } => step.eval(
                run,
                set,
                (*limit, *iw_samples, !*likelihood_only),
                (*shard, *shards),
                progress,
            ),
            Work::Merge {
                run,
                groups,
                iw_samples,
                shards,
            } => step.merge(run, groups, *iw_samples, *shards, progress),
            Work::Score {
                run,
                sets,
                background,
                ensemble,
                regret_limit,
                vae,
            } => {
                if *vae {
                    step.regret(run, &sets.held_out(), *regret_limit, progress)?;
                }
                step.score(run, &self.comparison(sets, background, ensemble), progress)
            }
            Work::Analyze {
                runs,
                sets,
                gray_limit,
                eval_limit,
                iw_samples,
                out,
            } => {
                let options = AnalysisOptions {
                    reference: Some(sets.reference.clone()),
                    gray_limit: *gray_limit,
                    eval_limit: *eval_limit,
                    iw_samples: *iw_samples,
                    threads: step.threads,
                    ..AnalysisOptions::default()
                };
                step.analyze(runs, sets, &options, out, progress)
            }
            Work::Report {
                runs,
                sets,
                background,
                ensemble,
                analysis,
                samples,
                out,
            } => {
                let options = ReportOptions {
                    out: self.path(out),
                    analysis: Some(self.path(analysis)),
                    samples: *samples,
                };
                let compared = self.comparison(sets, background, ensemble);
                step.report(runs, &compared, &options, progress)
            }
            Work::Summary { experiment } => {
                let written =
                    write_summary(&self.dir, &self.setup.spec, &self.plan, &job.id, experiment)?;
                progress.note(&format!("wrote {}", written.display()));
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
        }?;
        Ok(None)
    }
}

/// One job being run: its sweep, the context it computes in and its threads.
struct Step<'a> {
    sweep: &'a Sweep,
    context: Context,
    threads: usize,
}

impl Step<'_> {
    /// How a set is scored: at most `limit` images, seed 0, batches of 500.
    fn scoring(
        &self,
        limit: Option<usize>,
        iw_samples: usize,
        shard: Option<Shard>,
    ) -> EvalOptions {
        EvalOptions {
            limit,
            batch_size: 500,
            iw_samples,
            seed: 0,
            threads: self.threads,
            shard,
            detectors: true,
        }
    }

    fn fetch(&self, datasets: &[String], progress: &mut dyn Progress) -> Result<(), LabError> {
        let options = FetchOptions {
            mirror: self.sweep.setup.mirror.clone(),
            offline: false,
        };
        fetch_sets(datasets, &self.context.data.dir, &options, progress)
    }

    /// Scores part `shard` of `shards` of `set` (the whole set's scores when there is one part).
    fn eval(
        &self,
        run: &Path,
        set: &SetSpec,
        (limit, iw_samples, detectors): (Option<usize>, usize, bool),
        (shard, shards): (usize, usize),
        progress: &mut dyn Progress,
    ) -> Result<(), LabError> {
        let part = (shards > 1).then_some(Shard {
            index: shard,
            count: shards,
        });
        let options = EvalOptions {
            detectors,
            ..self.scoring(limit, iw_samples, part)
        };
        let summaries = evaluate_sets(
            &self.sweep.path(run),
            std::slice::from_ref(set),
            &self.context,
            &options,
            progress,
        )?;
        if !summaries.is_empty() {
            progress.note(&summary_table(&summaries));
        }
        Ok(())
    }

    fn merge(
        &self,
        run: &Path,
        groups: &[SetGroup],
        iw_samples: usize,
        shards: usize,
        progress: &mut dyn Progress,
    ) -> Result<(), LabError> {
        for group in groups {
            let options = self.scoring(group.limit, iw_samples, None);
            let summaries = merge_shards(
                &self.sweep.path(run),
                &group.sets,
                shards,
                &self.context.data,
                &options,
                progress,
            )?;
            progress.note(&summary_table(&summaries));
        }
        Ok(())
    }

    /// A VAE's likelihood regret on `held_out`.
    fn regret(
        &self,
        run: &Path,
        held_out: &[SetSpec],
        limit: Option<usize>,
        progress: &mut dyn Progress,
    ) -> Result<(), LabError> {
        let options = RegretOptions {
            limit,
            batch_size: 250,
            seed: 0,
            threads: self.threads,
        };
        regret_sets(
            &self.sweep.path(run),
            held_out,
            &self.context,
            regret::DEFAULT_REFIT,
            &options,
            progress,
        )?;
        Ok(())
    }

    /// Every OOD score with intervals, into the run folder: `ood-scores.{json,md}` and the
    /// per-image values.
    fn score(
        &self,
        run: &Path,
        compared: &Comparison,
        progress: &mut dyn Progress,
    ) -> Result<(), LabError> {
        let run_dir = self.sweep.path(run);
        let rows = score_rows(&run_dir, compared, Bootstrap::default(), &self.context.data)?;
        write_per_image_scores(&run_dir, compared, &rows)?;
        progress.note(&write_score_tables(&run_dir, &rows)?);
        Ok(())
    }

    fn analyze(
        &self,
        runs: &[PathBuf],
        sets: &Compared,
        options: &AnalysisOptions,
        out: &Path,
        progress: &mut dyn Progress,
    ) -> Result<(), LabError> {
        let runs: Vec<PathBuf> = runs.iter().map(|r| self.sweep.path(r)).collect();
        let analyzed = analyze(
            &runs,
            &sets.test,
            &sets.ood,
            options,
            &self.context,
            progress,
        )?;
        let (json, html) = write_analysis(&self.sweep.path(out), &analyzed)?;
        progress.note(&format!(
            "wrote {}, {} and the figures",
            json.display(),
            html.display()
        ));
        Ok(())
    }

    fn report(
        &self,
        runs: &[PathBuf],
        compared: &Comparison,
        options: &ReportOptions,
        progress: &mut dyn Progress,
    ) -> Result<(), LabError> {
        let runs: Vec<PathBuf> = runs.iter().map(|r| self.sweep.path(r)).collect();
        let page = write_report(&runs, compared, options, &self.context.data, progress)?;
        progress.note(&format!("wrote {}", page.display()));
        Ok(())
    }
}
