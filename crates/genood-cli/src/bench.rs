//! `genood bench`.

use anyhow::Result;
use clap::Args;
use genood_lab::bench::{BenchOptions, bench, bench_table};
use genood_lab::training::{model_kind_of, preset_of};

use crate::device::Compute;
use crate::progress::terminal;

/// Arguments of `genood bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Presets to measure (quick: 28×28×1 like FashionMNIST; paper: 32×32×3 like CIFAR-10).
    #[arg(long, value_delimiter = ',', default_value = "quick")]
    pub preset: Vec<String>,
    /// Models to measure: glow, cv-glow, pixelcnnpp, vae-categorical, vae-realnvp.
    #[arg(long, value_delimiter = ',', default_value = "glow")]
    pub model: Vec<String>,
    /// Device and worker threads.
    #[command(flatten)]
    pub compute: Compute,
    /// Timed steps (after one untimed warm-up step).
    #[arg(long, value_parser = crate::numbers::positive, default_value_t = 5)]
    pub steps: usize,
    /// Override the preset's batch size.
    #[arg(long, value_parser = crate::numbers::positive)]
    pub batch_size: Option<usize>,
}

/// Measures each preset and prints a table and JSON.
pub fn run(args: BenchArgs) -> Result<()> {
    let presets = args
        .preset
        .iter()
        .map(|p| preset_of(p))
        .collect::<Result<Vec<_>, _>>()?;
    let kinds = args
        .model
        .iter()
        .map(|m| model_kind_of(m))
        .collect::<Result<Vec<_>, _>>()?;
    let options = BenchOptions {
        steps: args.steps,
        batch_size: args.batch_size,
        threads: args.compute.threads(),
    };
    let results = bench(
        &presets,
        &kinds,
        &args.compute.device()?,
        &options,
        &mut *terminal(),
    );
    print!("{}", bench_table(&results));
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
}
