//! Where an experiment's steps read their data and compute: one value, passed by reference to
//! every step that loads sets and runs a model.

use burn::prelude::Device;
use genood_data::DataSource;

/// The data source and the device of an experiment's steps.
#[derive(Debug, Clone)]
pub struct Context {
    /// The data cache, and how folder sets are read.
    pub data: DataSource,
    /// The device models run on (training differentiates on it).
    pub device: Device,
}

impl Context {
    /// `data` on `device`.
    pub fn new(data: DataSource, device: Device) -> Self {
        Self { data, device }
    }

    /// `data` on the CPU.
    pub fn cpu(data: DataSource) -> Self {
        Self::new(data, Device::flex())
    }
}
