//! `genood fetch NAME…`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use genood_data::fetch::FetchOptions;
use genood_lab::sets::fetch_sets;

use crate::progress::terminal;

/// Arguments of `genood fetch`.
#[derive(Args)]
pub struct FetchArgs {
    /// Data sets: fashion-mnist, mnist, cifar10, cifar100, svhn, celeba, imagenet32.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Take the registry archives or canonical files from this folder (e.g. ../shared/data).
    #[arg(long)]
    pub mirror: Option<PathBuf>,
    /// With --mirror: never touch the network.
    #[arg(long, requires = "mirror")]
    pub offline: bool,
}

/// Fetches each named set.
pub fn run(args: FetchArgs, data_dir: &Path) -> Result<()> {
    let options = FetchOptions {
        mirror: args.mirror,
        offline: args.offline,
    };
    fetch_sets(&args.names, data_dir, &options, &mut *terminal())?;
    Ok(())
}
