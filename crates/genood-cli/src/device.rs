//! `--device cpu|cuda|wgpu`.

use anyhow::{Result, bail};
use burn::prelude::*;

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
