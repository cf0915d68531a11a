//! Out-of-distribution detection metrics, free of any deep-learning dependency so they build
//! and test in seconds.
//!
//! The convention, stated once: **OOD inputs are the positive class, and a higher score means
//! "more likely OOD"**. A likelihood becomes a score by negation (`−log p`, or bpd).

pub mod metrics;
pub mod raster;
pub mod report;
pub mod scores;
pub mod svg;

pub use metrics::{Detection, detection};
