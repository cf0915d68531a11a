//! Deep generative models over 8-bit images, behind one [`DensityModel`] interface.
//!
//! Every model takes raw pixel values (`0..=255` as floats, `[N, C, H, W]`) and owns its
//! preprocessing, so bits per dimension are always measured on the same discrete input. A model
//! is built from its [`ModelConfig`] by one exhaustive `match` ([`Model::new`]).

pub mod config;
pub mod density;
pub mod diffusion;
pub mod footprint;
pub mod glow;
pub mod hvae;
pub mod layers;
pub mod mixture;
pub mod model;
pub mod named;
pub mod pixelcnn;
pub mod presets;
pub mod progress;
pub mod shape;
pub mod vae;

pub use config::ModelConfig;
pub use density::{Bound, DensityModel, KlWeight, LikelihoodTerms, PixelMap, TrainingTerms};
pub use model::Model;
pub use named::{Named, UnknownName};
pub use progress::{Progress, Quiet};
pub use shape::ImageShape;
