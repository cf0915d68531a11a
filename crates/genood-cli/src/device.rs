//! `--device cpu|cuda|wgpu`.

use anyhow::{Result, bail};
use burn::prelude::*;
use genood_data::DataSource;
use genood_lab::Context;

/// The backends a build may hold.
pub const DEVICES: [&str; 3] = ["cpu", "cuda", "wgpu"];

/// The device named on the command line, or a clear error when this build lacks its backend.
pub fn parse_device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::flex()),
        "cuda" => cuda(),
        "wgpu" => wgpu(),
        other => bail!(
            "unknown device `{other}`; choose one of {}",
            DEVICES.join(", ")
        ),
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device> {
    bail!(
        "this genood was built without the CUDA backend; rebuild with `cargo build --release --features cuda`"
    )
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device> {
    Ok(Device::wgpu(Default::default()))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device> {
    bail!(
        "this genood was built without the wgpu backend; rebuild with `cargo build --release --features wgpu`"
    )
}

/// Where the work runs: `--device` and `--threads`, shared by every command that computes.
#[derive(clap::Args, Clone, Debug)]
pub struct Compute {
    /// cpu, cuda or wgpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Worker threads: each training batch is split into this many shards and evaluation
    /// batches are spread over them (default: every core on the CPU, 1 on a GPU). Training
    /// is bit-identical for a given count, which the run's config.json records; evaluation
    /// scores do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
}

impl Compute {
    /// The device, or a clear error when this build lacks its backend.
    pub fn device(&self) -> Result<Device> {
        parse_device(&self.device)
    }

    /// The data and the device, as the library's steps take them.
    pub fn context(&self, data: &DataSource) -> Result<Context> {
        Ok(Context::new(data.clone(), self.device()?))
    }

    /// The number of worker threads to use.
    pub fn threads(&self) -> usize {
        match self.threads {
            Some(n) => n as usize,
            None if self.device == "cpu" => genood_train::parallel::available_threads(),
            None => 1,
        }
    }
}
