//! `genood bench`.

use anyhow::Result;
use clap::Args;
use genood_lab::bench::{BenchOptions, bench, bench_table};
use genood_models::presets::{ModelKind, Preset};

use crate::choices;
use crate::device::Compute;
use crate::progress::terminal;

/// Arguments of `genood bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Presets to measure (quick: 28×28×1 like FashionMNIST; paper: 32×32×3 like CIFAR-10).
    #[arg(long, value_delimiter = ',', default_value = "quick", value_parser = choices::named::<Preset>())]
    pub preset: Vec<Preset>,
    /// Models to measure: glow, cv-glow, pixelcnnpp, vae-categorical, vae-realnvp, diffusion,
    /// hvae.
    #[arg(long, value_delimiter = ',', default_value = "glow", value_parser = choices::named::<ModelKind>())]
    pub model: Vec<ModelKind>,
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
    let options = BenchOptions {
        steps: args.steps,
        batch_size: args.batch_size,
        threads: args.compute.threads(),
    };
    let results = bench(
        &args.preset,
        &args.model,
        &args.compute.device()?,
        &options,
        &mut *terminal(),
    );
    print!("{}", bench_table(&results));
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
}
