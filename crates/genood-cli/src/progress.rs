//! Progress on standard error: bars on a terminal, else the library's stamped log lines.

use std::io::IsTerminal;

use genood_lab::progress::MetricsRow;
use genood_lab::{Log, Progress};

use crate::graceful::Stoppable;
use indicatif::{ProgressBar, ProgressStyle};

const TRAINING_BAR: &str = "{prefix} [{bar:30}] step {pos}/{len} {msg} ETA {eta}";
const WORK_BAR: &str = "{prefix} [{bar:30}] {pos}/{len} ETA {eta}";

/// Where a command reports its progress: bars when standard error is a terminal, lines
/// stamped with the time since the start (and each task's time left) when it is a log.
/// Training stops at a checkpoint when a signal asks ([`crate::graceful`]).
pub fn terminal() -> Box<dyn Progress> {
    let inner: Box<dyn Progress> = if std::io::stderr().is_terminal() {
        Box::new(Bars::default())
    } else {
        Box::new(Log::new(std::io::stderr()))
    };
    Box::new(Stoppable(inner))
}

/// One bar at a time, for the running task: a new task, or a note once the task is complete,
/// clears the last one; notes, messages and metrics rows print above it.
#[derive(Default)]
struct Bars {
    task: Option<(String, ProgressBar)>,
}

impl Bars {
    fn begin(&mut self, name: &str, template: &str) -> &ProgressBar {
        self.finish();
        let style = ProgressStyle::with_template(template).expect("valid template");
        let bar = ProgressBar::new(0).with_style(style.progress_chars("=> "));
        bar.set_prefix(name.to_string());
        &self.task.insert((name.into(), bar)).1
    }

    fn finish(&mut self) {
        if let Some((_, bar)) = self.task.take() {
            bar.finish_and_clear();
        }
    }

    fn line(&self, text: &str) {
        match &self.task {
            Some((_, bar)) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Progress for Bars {
    fn advance(&mut self, task: &str, done: usize, total: usize) {
        // Nothing counted yet (a set still loading): no bar, which would read "0/0" as done.
        if total == 0 {
            return;
        }
        let bar = match &self.task {
            Some((name, bar)) if name == task => bar,
            _ => {
                // Work done before the task began (a sweep's finished jobs) is not timed.
                let bar = self.begin(task, WORK_BAR);
                bar.set_position(done as u64);
                bar.reset_eta();
                bar
            }
        };
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }

    fn note(&mut self, line: &str) {
        // A finished task's bar goes; a running one (a sweep's, between its jobs' notes) stays.
        if let Some((_, bar)) = &self.task
            && bar.length().is_some_and(|total| bar.position() >= total)
        {
            self.finish();
        }
        self.line(line);
    }

    fn training(&mut self, label: &str) {
        self.begin(label, TRAINING_BAR);
    }

    fn started(&mut self, first: usize, total: usize) {
        if let Some((_, bar)) = &self.task {
            bar.set_length(total as u64);
            bar.set_position(first as u64);
            bar.reset_eta();
        }
    }

    fn step(&mut self, step: usize, bpd: f64, images_per_sec: f64) {
        if let Some((_, bar)) = &self.task {
            bar.set_position(step as u64);
            bar.set_message(format!("bpd {bpd:.3} | {images_per_sec:.0} img/s"));
        }
    }

    fn logged(&mut self, row: &MetricsRow) {
        if let Some((name, bar)) = &self.task {
            bar.println(format!(
                "{name}: step {} epoch {:.2} train {:.4} bpd, held-out {:.4} bpd, {:.0} img/s",
                row.step, row.epoch, row.train_bpd, row.heldout_bpd, row.images_per_sec
            ));
        }
    }

    fn message(&mut self, text: &str) {
        if let Some((name, _)) = &self.task {
            self.line(&format!("{name}: {text}"));
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.finish();
    }
}
