//! The shape of the images a model is built for.

use serde::{Deserialize, Serialize};

/// Shape of the images a model is built for. Height and width are used as they are, never
/// padded: bits per dimension are always over `D = channels · height · width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageShape {
    /// Colour channels (1 for grey, 3 for RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// `[channels, height, width]`.
    pub fn dims(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Number of sub-pixels `D`.
    pub fn size(&self) -> usize {
        self.channels * self.height * self.width
    }
}
