//! How a long step reports its progress: through the one [`Progress`] trait (from
//! `genood-models`, so that a model's sampler and a training report the same way); the command
//! line draws bars, a log gets stamped lines ([`Log`]), code that calls the library may ignore
//! it ([`Quiet`]).

use std::io::Write;
use std::time::{Duration, Instant};

pub use genood_models::progress::{MetricsRow, Progress, Quiet};

/// Progress as lines for a log (standard error redirected to a file, a Slurm job's output):
/// each stamped `[h:mm:ss]` since the start, one at each quarter of a task and one per
/// training metrics row, both with the task's estimated time left, and one per note and
/// training message.
pub struct Log<W: Write> {
    out: W,
    started: Instant,
    task: Option<Task>,
}

/// The running task, and what its time-left estimate needs.
struct Task {
    name: String,
    started: Instant,
    /// Units done when the task began here (a sweep's finished jobs): not timed.
    first: usize,
    done: usize,
    total: usize,
    /// Quarters of the task reported so far.
    quarter: usize,
}

impl Task {
    fn new(name: &str, first: usize, total: usize) -> Self {
        Self {
            name: name.into(),
            started: Instant::now(),
            first,
            done: first,
            total,
            quarter: 0,
        }
    }

    /// `done` units are finished: the time left, once some of the work has been timed.
    fn reach(&mut self, done: usize) -> Option<Duration> {
        self.done = done;
        let timed = done.checked_sub(self.first).filter(|&n| n > 0)?;
        let left = self.total.saturating_sub(done) as f64;
        Some(self.started.elapsed().mul_f64(left / timed as f64))
    }
}

impl<W: Write> Log<W> {
    /// A log written to `out`, its clock starting now.
    pub fn new(out: W) -> Self {
        Self {
            out,
            started: Instant::now(),
            task: None,
        }
    }

    /// Writes one stamped line. A log that cannot be written must not stop the work it
    /// follows, so a write error is dropped.
    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "[{}] {text}", clock(self.started.elapsed()));
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

impl<W: Write> Progress for Log<W> {
    fn advance(&mut self, task: &str, done: usize, total: usize) {
        // Nothing counted yet (a set still loading): nothing to report.
        if total == 0 {
            return;
        }
        let current = match &mut self.task {
            Some(current) if current.name == task => current,
            slot => slot.insert(Task::new(task, done, total)),
        };
        current.total = total;
        let left = current.reach(done);
        let quarter = 4 * done / total;
        if quarter > current.quarter {
            current.quarter = quarter;
            self.line(&format!("{task}: {done}/{total}{}", eta(left)));
        }
    }

    fn note(&mut self, line: &str) {
        // A finished task ends here, so that a task of the same name counts afresh; a running
        // one (a sweep's, between its jobs' notes) keeps its estimate.
        if self.task.as_ref().is_some_and(|t| t.done >= t.total) {
            self.task = None;
        }
        self.line(line);
    }

    fn training(&mut self, label: &str) {
        self.task = Some(Task::new(label, 0, 0));
    }

    fn started(&mut self, first: usize, total: usize) {
        if let Some(task) = &mut self.task {
            *task = Task::new(&task.name, first, total);
        }
    }

    fn logged(&mut self, row: &MetricsRow) {
        let Some(task) = &mut self.task else { return };
        let left = eta(task.reach(row.step));
        let text = format!(
            "{}: step {}/{} epoch {:.2} train {:.4} bpd, held-out {:.4} bpd, {:.0} img/s{}",
            task.name,
            row.step,
            task.total,
            row.epoch,
            row.train_bpd,
            row.heldout_bpd,
            row.images_per_sec,
            left
        );
        self.line(&text);
    }

    fn message(&mut self, text: &str) {
        if let Some(task) = &self.task {
            let text = format!("{}: {text}", task.name);
            self.line(&text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(log: Log<Vec<u8>>) -> Vec<String> {
        String::from_utf8(log.out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn clock_and_eta_read_as_hours_minutes_seconds() {
        assert_eq!(clock(Duration::from_secs(3 * 3600 + 7 * 60 + 9)), "3:07:09");
        assert_eq!(eta(Some(Duration::from_secs(61))), ", ETA 0:01:01");
        assert_eq!(eta(None), "");
    }

    #[test]
    fn a_log_reports_each_quarter_once_and_a_repeated_task_afresh() {
        let mut log = Log::new(Vec::new());
        for round in 0..2 {
            for done in 0..=8 {
                log.advance("scoring", done, 8);
            }
            log.note(&format!("round {round} done"));
        }
        let lines = lines(log);
        let texts: Vec<&str> = lines
            .iter()
            .map(|line| {
                let text = line.strip_prefix("[0:00:00] ").expect("stamped");
                text.split(", ETA ").next().unwrap()
            })
            .collect();
        let quarters = [
            "scoring: 2/8",
            "scoring: 4/8",
            "scoring: 6/8",
            "scoring: 8/8",
        ];
        let expected = [
            &quarters[..],
            &["round 0 done"],
            &quarters,
            &["round 1 done"],
        ]
        .concat();
        assert_eq!(texts, expected);
        assert!(
            lines[0].ends_with(", ETA 0:00:00"),
            "timed work gives an ETA"
        );
    }

    #[test]
    fn a_log_follows_training_from_where_it_resumes() {
        let mut log = Log::new(Vec::new());
        log.message("before any run: dropped");
        log.training("training glow");
        log.started(100, 400);
        log.message("resumed at step 100");
        let row = MetricsRow {
            step: 200,
            epoch: 1.5,
            train_bpd: 4.25,
            heldout_bpd: 4.5,
            images_per_sec: 600.0,
            learning_rate: 1e-3,
        };
        log.logged(&row);
        let lines = lines(log);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], "[0:00:00] training glow: resumed at step 100");
        assert_eq!(
            lines[1],
            "[0:00:00] training glow: step 200/400 epoch 1.50 train 4.2500 bpd, held-out \
             4.5000 bpd, 600 img/s, ETA 0:00:00"
        );
    }
}
