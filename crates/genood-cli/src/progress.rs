//! A progress bar on a terminal, plain log lines elsewhere.

use std::io::IsTerminal;

use genood_train::trainer::{MetricsRow, TrainObserver};
use indicatif::{ProgressBar, ProgressStyle};

/// Shows step, bpd, images/s and ETA while training.
pub struct Progress {
    bar: ProgressBar,
    label: String,
    interactive: bool,
}

/// A bar drawn with `template` on a terminal (hidden elsewhere), and whether it is drawn.
fn styled_bar(label: &str, template: &str) -> (ProgressBar, bool) {
    let interactive = std::io::stderr().is_terminal();
    let bar = if interactive {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    (bar, interactive)
}

impl Progress {
    /// A progress display for the run called `label`.
    pub fn new(label: &str) -> Self {
        let (bar, interactive) = styled_bar(
            label,
            "{prefix} [{bar:30}] step {pos}/{len} {msg} ETA {eta}",
        );
        Self {
            bar,
            label: label.into(),
            interactive,
        }
    }

    fn line(&self, text: &str) {
        if self.interactive {
            self.bar.println(text);
        } else {
            eprintln!("{text}");
        }
    }
}

impl TrainObserver for Progress {
    fn started(&mut self, first: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(first as u64);
        self.bar.reset_eta();
    }

    fn step(&mut self, step: usize, bpd: f64, images_per_sec: f64) {
        self.bar.set_position(step as u64);
        self.bar
            .set_message(format!("bpd {bpd:.3} | {images_per_sec:.0} img/s"));
    }

    fn logged(&mut self, row: &MetricsRow) {
        self.line(&format!(
            "{}: step {} epoch {:.2} train {:.4} bpd, held-out {:.4} bpd, {:.0} img/s",
            self.label, row.step, row.epoch, row.train_bpd, row.heldout_bpd, row.images_per_sec
        ));
    }

    fn message(&mut self, text: &str) {
        self.line(&format!("{}: {text}", self.label));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A bar for work counted in units (sampling's network passes, regret's batches); on a
/// non-terminal, a line at each quarter.
pub struct WorkProgress {
    bar: ProgressBar,
    label: String,
    interactive: bool,
    quarter: usize,
}

impl WorkProgress {
    /// A progress display for the work called `label`.
    pub fn new(label: &str) -> Self {
        let (bar, interactive) = styled_bar(label, "{prefix} [{bar:30}] {pos}/{len} ETA {eta}");
        Self {
            bar,
            label: label.into(),
            interactive,
            quarter: 0,
        }
    }

    /// `done` of `total` units finished.
    pub fn update(&mut self, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        let quarter = 4 * done / total.max(1);
        if !self.interactive && quarter > self.quarter {
            self.quarter = quarter;
            eprintln!("{}: {done}/{total}", self.label);
        }
    }
}

impl Drop for WorkProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// The library's [`genood_lab::Progress`] on the terminal: a [`Progress`] bar for the running
/// training, one [`WorkProgress`] bar per task (a new task replaces the last one's bar) and
/// notes as lines on standard error.
#[derive(Default)]
pub struct Terminal {
    bar: Option<(String, WorkProgress)>,
    training: Option<Progress>,
}

impl genood_lab::Progress for Terminal {
    fn advance(&mut self, task: &str, done: usize, total: usize) {
        if self.bar.as_ref().is_none_or(|(t, _)| t != task) {
            // The old bars are cleared before the new one is drawn.
            self.bar = None;
            self.training = None;
            self.bar = Some((task.into(), WorkProgress::new(task)));
        }
        if let Some((_, bar)) = &mut self.bar {
            bar.update(done, total);
        }
    }

    fn note(&mut self, line: &str) {
        self.bar = None;
        self.training = None;
        eprintln!("{line}");
    }

    fn training(&mut self, label: &str) {
        self.bar = None;
        self.training = None;
        self.training = Some(Progress::new(label));
    }
}

impl TrainObserver for Terminal {
    fn started(&mut self, first: usize, total: usize) {
        if let Some(t) = &mut self.training {
            t.started(first, total);
        }
    }

    fn step(&mut self, step: usize, bpd: f64, images_per_sec: f64) {
        if let Some(t) = &mut self.training {
            t.step(step, bpd, images_per_sec);
        }
    }

    fn logged(&mut self, row: &MetricsRow) {
        if let Some(t) = &mut self.training {
            t.logged(row);
        }
    }

    fn message(&mut self, text: &str) {
        if let Some(t) = &mut self.training {
            t.message(text);
        }
    }
}
