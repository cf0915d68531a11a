//! The likelihood of several sets over the course of training (`dynamics.csv`): the paper's
//! check that the OOD set is more likely at every stage, not only after over-fitting.

use std::path::Path;

use crate::csv::{CsvTable, number, read_rows};
use serde::{Deserialize, Serialize};

/// Header of `dynamics.csv`.
const HEADER: &str = "step,set,images,mean_log_p,mean_bpd";

/// Name of the fixed subset of the training images in `dynamics.csv`.
pub const TRAIN: &str = "train";
/// Name of the held-out images in `dynamics.csv`.
pub const HELDOUT: &str = "held-out";

/// One set's mean likelihood at one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynamicsRow {
    /// Optimiser steps completed (0: after initialisation, before any update).
    pub step: usize,
    /// [`TRAIN`], [`HELDOUT`] or a monitored set's spec, e.g. `mnist:test`.
    pub set: String,
    /// Images scored.
    pub images: usize,
    /// Mean `log p(x)` in nats.
    pub mean_log_p: f64,
    /// Mean bits per dimension.
    pub mean_bpd: f64,
}

/// Writes the rows as CSV, atomically.
pub fn write_dynamics_csv(path: &Path, rows: &[DynamicsRow]) -> std::io::Result<()> {
    let mut table = CsvTable::new(HEADER.split(','));
    for r in rows {
        table.row([
            r.step.to_string(),
            r.set.clone(),
            r.images.to_string(),
            number(r.mean_log_p),
            number(r.mean_bpd),
        ]);
    }
    table.write(path)
}

/// Reads a file written by [`write_dynamics_csv`], naming the file and line on error.
pub fn read_dynamics_csv(path: &Path) -> Result<Vec<DynamicsRow>, String> {
    read_rows(path, HEADER, "dynamics", |f| {
        Some(DynamicsRow {
            step: f[0].parse().ok()?,
            set: f[1].to_string(),
            images: f[2].parse().ok()?,
            mean_log_p: f[3].parse().ok()?,
            mean_bpd: f[4].parse().ok()?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_bad_rows_name_the_line() {
        let dir = std::env::temp_dir().join(format!("genood-dynamics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dynamics.csv");
        let rows = vec![
            DynamicsRow {
                step: 0,
                set: TRAIN.into(),
                images: 10,
                mean_log_p: -1234.5678901,
                mean_bpd: 2.25,
            },
            DynamicsRow {
                step: 200,
                set: "gray=0.5/mnist:test".into(),
                images: 3,
                mean_log_p: -1.0e-3,
                mean_bpd: 7.99,
            },
        ];
        write_dynamics_csv(&path, &rows).unwrap();
        assert_eq!(read_dynamics_csv(&path).unwrap(), rows);
        std::fs::write(&path, format!("{HEADER}\n0,train,x,1,2\n")).unwrap();
        let err = read_dynamics_csv(&path).unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("dynamics.csv"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
