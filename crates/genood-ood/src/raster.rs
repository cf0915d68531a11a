//! SVG figures rendered to PNG with resvg and the embedded font, so a figure's `.svg` and
//! `.png` files show the same picture on any machine, fonts installed or not.

use std::sync::Arc;

use resvg::{tiny_skia, usvg};

use crate::report::FONT_TTF;

/// Pixels per SVG unit: the PNGs are twice the SVG's nominal size, sharp on high-DPI screens.
pub const PNG_SCALE: f32 = 2.0;

/// Why an SVG could not be rasterised.
#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    /// The SVG did not parse.
    #[error("the figure is not valid SVG")]
    Svg(#[from] usvg::Error),
    /// The SVG has no area to draw.
    #[error("the figure has an empty size")]
    Empty,
    /// PNG encoding failed.
    #[error("encoding the figure as PNG: {0}")]
    Png(String),
}

/// Renders `svg` at [`PNG_SCALE`] and encodes it as PNG. Text is drawn with the embedded
/// DejaVu Sans subset only; system fonts are never consulted.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, RasterError> {
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_font_data(FONT_TTF.to_vec());
    let options = usvg::Options {
        font_family: "DejaVu Sans".into(),
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options)?;
    let size = tree.size().to_int_size().scale_by(PNG_SCALE);
    let size = size.ok_or(RasterError::Empty)?;
    let mut pixmap =
        tiny_skia::Pixmap::new(size.width(), size.height()).ok_or(RasterError::Empty)?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(PNG_SCALE, PNG_SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| RasterError::Png(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn dark_pixels(rgba: &[u8]) -> usize {
        rgba.chunks(4).filter(|p| p[0] < 128 && p[3] > 128).count()
    }

    #[test]
    fn text_is_drawn_with_the_embedded_font() {
        let blank = r#"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="white"/></svg>"#;
        let text = r#"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="white"/><text x="2" y="15" font-family="DejaVu Sans, sans-serif" font-size="14">σ² α</text></svg>"#;
        let (w, h, pixels) = decode(&svg_to_png(blank).unwrap());
        assert_eq!((w, h), (80, 40));
        assert_eq!(dark_pixels(&pixels), 0);
        let (_, _, pixels) = decode(&svg_to_png(text).unwrap());
        assert!(
            dark_pixels(&pixels) > 40,
            "glyphs (Greek and superscript included) should leave ink"
        );
    }

    #[test]
    fn malformed_svg_is_an_error() {
        assert!(matches!(svg_to_png("<svg"), Err(RasterError::Svg(_))));
    }
}
