//! Stopping a training cleanly on a signal: a cluster's warning before its time limit
//! (Slurm's `--signal=B:USR1@…`), a preemption's SIGTERM or a Ctrl-C. While a training runs,
//! the first signal asks it to save a checkpoint at the end of its step and stop; the command
//! then exits with [`INTERRUPTED`], and a resume goes on from that step. Outside a training, or
//! at a second signal, the process ends at once, as it would without these handlers.

use std::sync::atomic::{AtomicBool, Ordering};

use genood_lab::Progress;
use genood_lab::progress::MetricsRow;
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

/// The exit status of a command whose training stopped at a checkpoint on a signal
/// (`EX_TEMPFAIL`: try again); the sweep's Slurm tasks requeue themselves on it.
pub const INTERRUPTED: i32 = 75;

/// A training is running: a signal asks it to stop instead of ending the process.
static TRAINING: AtomicBool = AtomicBool::new(false);
/// A signal asked the running training to stop.
static STOP: AtomicBool = AtomicBool::new(false);

/// A training is about to start: a signal from now on stops it at its first step's
/// checkpoint instead of ending the process while it reads its data.
pub fn training_ahead() {
    TRAINING.store(true, Ordering::SeqCst);
}

/// Handles SIGUSR1, SIGTERM and SIGINT for the rest of the process.
pub fn install() -> std::io::Result<()> {
    let mut signals = Signals::new([SIGUSR1, SIGTERM, SIGINT])?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if !TRAINING.load(Ordering::SeqCst) || STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(128 + signal);
            }
            eprintln!("signal {signal}: stopping the training at a checkpoint after this step");
        }
    });
    Ok(())
}

/// `progress`, with training stopping when a signal asks.
pub struct Stoppable(pub Box<dyn Progress>);

impl Progress for Stoppable {
    fn advance(&mut self, task: &str, done: usize, total: usize) {
        self.0.advance(task, done, total);
    }
    fn note(&mut self, line: &str) {
        self.0.note(line);
    }
    fn training(&mut self, label: &str) {
        self.0.training(label);
    }
    fn started(&mut self, first: usize, total: usize) {
        TRAINING.store(true, Ordering::SeqCst);
        self.0.started(first, total);
    }
    fn step(&mut self, step: usize, bpd: f64, images_per_sec: f64) {
        self.0.step(step, bpd, images_per_sec);
    }
    fn logged(&mut self, row: &MetricsRow) {
        self.0.logged(row);
    }
    fn message(&mut self, text: &str) {
        self.0.message(text);
    }
    fn should_stop(&mut self) -> bool {
        STOP.load(Ordering::SeqCst)
    }
}
