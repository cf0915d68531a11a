//! Progress on standard error: a bar on a terminal; in a log, lines stamped with the time since
//! the command started and the running task's estimated time left.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use genood_train::trainer::{MetricsRow, TrainObserver};
use indicatif::{ProgressBar, ProgressStyle};

const TRAINING_BAR: &str = "{prefix} [{bar:30}] step {pos}/{len} {msg} ETA {eta}";
const WORK_BAR: &str = "{prefix} [{bar:30}] {pos}/{len} ETA {eta}";

/// The library's [`genood_lab::Progress`] and the trainer's [`TrainObserver`] on standard
/// error. One task shows at a time: a new task, or a note after the task is complete, clears
/// the last task's bar; a note during a task prints above it and keeps its time estimate. In a
/// log (standard error not a terminal) a task prints a line at each quarter and training one
/// at each metrics row.
pub struct Terminal {
    interactive: bool,
    started: Instant,
    task: Option<Task>,
}

/// The running task: its bar, and what its time-left estimate needs.
struct Task {
    name: String,
    bar: ProgressBar,
    started: Instant,
    first: usize,
    done: usize,
    total: usize,
    quarter: usize,
}

impl Default for Terminal {
    fn default() -> Self {
        Self {
            interactive: std::io::stderr().is_terminal(),
            started: Instant::now(),
            task: None,
        }
    }
}

impl Terminal {
    /// Clears the last task's bar and starts `name`'s, drawn with `template`.
    fn begin(&mut self, name: &str, template: &str) {
        self.finish();
        let bar = if self.interactive {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        self.task = Some(Task {
            name: name.into(),
            bar,
            started: Instant::now(),
            first: 0,
            done: 0,
            total: 0,
            quarter: 0,
        });
    }

    fn finish(&mut self) {
        if let Some(task) = self.task.take() {
            task.bar.finish_and_clear();
        }
    }

    /// A line above the bar on a terminal; in a log, stamped `[h:mm:ss]` since the start.
    fn line(&self, text: &str) {
        match &self.task {
            Some(task) if self.interactive => task.bar.println(text),
            _ if self.interactive => eprintln!("{text}"),
            _ => eprintln!("[{}] {text}", clock(self.started.elapsed())),
        }
    }

    /// `done` of the task's total is reached: moves the bar and returns the time left, once
    /// some of the work has been timed.
    fn reach(&mut self, done: usize) -> Option<Duration> {
        let task = self.task.as_mut()?;
        task.bar.set_position(done as u64);
        task.done = done;
        let timed = done.checked_sub(task.first).filter(|&n| n > 0)?;
        let left = task.total.saturating_sub(done) as f64;
        Some(task.started.elapsed().mul_f64(left / timed as f64))
    }
}

/// `h:mm:ss`.
fn clock(time: Duration) -> String {
    let s = time.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `, ETA h:mm:ss`, or nothing before any work is timed.
fn eta(left: Option<Duration>) -> String {
    left.map(|t| format!(", ETA {}", clock(t)))
        .unwrap_or_default()
}

impl genood_lab::Progress for Terminal {
    fn advance(&mut self, task: &str, done: usize, total: usize) {
        // Nothing counted yet (a set still loading): no bar, which would read "0/0" as done.
        if total == 0 {
            return;
        }
        let new = self.task.as_ref().is_none_or(|t| t.name != task);
        if new {
            self.begin(task, WORK_BAR);
        }
        let Some(current) = self.task.as_mut() else {
            return;
        };
        if new {
            // Work done before the task began (a sweep's finished jobs) is not timed.
            current.first = done;
        }
        current.total = total;
        current.bar.set_length(total as u64);
        let quarter = 4 * done / total;
        let report = quarter > current.quarter;
        if report {
            current.quarter = quarter;
        }
        let left = self.reach(done);
        if report && !self.interactive {
            self.line(&format!("{task}: {done}/{total}{}", eta(left)));
        }
    }

    fn note(&mut self, line: &str) {
        // A finished task's bar goes; a running one (a sweep's, between its jobs' notes) stays.
        if self.task.as_ref().is_some_and(|t| t.done >= t.total) {
            self.finish();
        }
        self.line(line);
    }

    fn training(&mut self, label: &str) {
        self.begin(label, TRAINING_BAR);
    }
}

impl TrainObserver for Terminal {
    fn started(&mut self, first: usize, total: usize) {
        if let Some(task) = &mut self.task {
            task.bar.set_length(total as u64);
            task.bar.set_position(first as u64);
            task.bar.reset_eta();
            (task.first, task.total, task.started) = (first, total, Instant::now());
        }
    }

    fn step(&mut self, step: usize, bpd: f64, images_per_sec: f64) {
        self.reach(step);
        if let Some(task) = &self.task {
            task.bar
                .set_message(format!("bpd {bpd:.3} | {images_per_sec:.0} img/s"));
        }
    }

    fn logged(&mut self, row: &MetricsRow) {
        let left = self.reach(row.step);
        if let Some(task) = &self.task {
            self.line(&format!(
                "{}: step {}/{} epoch {:.2} train {:.4} bpd, held-out {:.4} bpd, {:.0} img/s{}",
                task.name,
                row.step,
                task.total,
                row.epoch,
                row.train_bpd,
                row.heldout_bpd,
                row.images_per_sec,
                eta(left)
            ));
        }
    }

    fn message(&mut self, text: &str) {
        if let Some(task) = &self.task {
            self.line(&format!("{}: {text}", task.name));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_eta_read_as_hours_minutes_seconds() {
        assert_eq!(clock(Duration::from_secs(3 * 3600 + 7 * 60 + 9)), "3:07:09");
        assert_eq!(eta(Some(Duration::from_secs(61))), ", ETA 0:01:01");
        assert_eq!(eta(None), "");
    }
}
