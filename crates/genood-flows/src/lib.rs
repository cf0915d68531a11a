//! Normalising-flow building blocks with exact log-determinants.
//!
//! Direction convention, used everywhere in genood: [`Bijector::forward`] maps data `x` to the
//! latent `z` (the normalising direction) and [`Bijector::inverse`] maps `z` back to `x`. Both
//! return the per-example `log|det J|` of the map they compute, shape `[batch]`, so
//! `forward(x).1 + inverse(forward(x).0).1 == 0`.
//!
//! This crate does no I/O; models, data and the command line live in the other genood crates.

pub mod actnorm;
pub mod bijector;
pub mod bpd;
pub mod conv;
pub mod coupling;
pub mod dequantize;
pub mod fold;
pub mod host;
pub mod invconv;
pub mod linalg;
pub mod multiscale;
pub mod noise;
pub mod param;
pub mod prior;
pub mod second_order;
pub mod squeeze;
#[cfg(feature = "testing")]
pub mod testing;

pub use bijector::Bijector;
pub use bpd::bits_per_dim;
