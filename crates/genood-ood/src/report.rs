//! A self-contained HTML report: inline SVG plots, PNG images as data URIs, and an embedded
//! font, so the page renders the same on any machine and needs nothing beside it.

use std::fmt::Write as _;

/// DejaVu Sans 2.37, subset to Latin, Greek, arrows, super- and subscripts and mathematical
/// operators (`pyftsubset DejaVuSans.ttf --unicodes=U+0020-007E,U+00A0-017F,U+0391-03C9,
/// U+2010-2044,U+2070-209F,U+2190-21FF,U+2200-22FF,U+2300-23FF,U+25A0-25FF`); licence in
/// `assets/DEJAVU-LICENSE.txt`. The report embeds it and the PNG renderer draws with it.
pub const FONT_TTF: &[u8] = include_bytes!("../assets/dejavu-sans-subset.ttf");

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A per-pixel map `[H, W]` as an RGB image `[3, H, W]` (planes): scaled from its own
/// minimum (black) through red and yellow to its maximum (white), so each map shows where
/// its image is most surprising, whatever its units.
pub fn heatmap(map: &[f64]) -> Vec<u8> {
    let low = map.iter().copied().fold(f64::INFINITY, f64::min);
    let high = map.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if high > low { high - low } else { 1.0 };
    let mut planes = vec![0u8; 3 * map.len()];
    for (k, v) in map.iter().enumerate() {
        // Three ramps of a third each: red rises, then green, then blue.
        let u = ((v - low) / span).clamp(0.0, 1.0) * 3.0;
        for (channel, plane) in planes.chunks_mut(map.len()).enumerate() {
            plane[k] = ((u - channel as f64).clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    planes
}

/// A grid of `[C, H, W]` images (C = 1 or 3) as one PNG, `columns` wide, each image scaled up
/// `scale` times with nearest-neighbour sampling and separated by a 2-pixel white border.
pub fn image_grid_png(
    images: &[&[u8]],
    [c, h, w]: [usize; 3],
    columns: usize,
    scale: usize,
) -> Vec<u8> {
    let rows = images.len().div_ceil(columns);
    let (cell_h, cell_w) = (h * scale + 2, w * scale + 2);
    let (height, width) = (rows * cell_h + 2, columns * cell_w + 2);
    let mut rgb = vec![255u8; height * width * 3];
    for (k, image) in images.iter().enumerate() {
        let (top, left) = (2 + (k / columns) * cell_h, 2 + (k % columns) * cell_w);
        for y in 0..h * scale {
            for x in 0..w * scale {
                for ch in 0..3 {
                    let source = image[(ch.min(c - 1) * h + y / scale) * w + x / scale];
                    rgb[((top + y) * width + left + x) * 3 + ch] = source;
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("in-memory PNG header");
    writer.write_image_data(&rgb).expect("in-memory PNG data");
    writer.finish().expect("in-memory PNG end");
    out
}

/// One block of the page.
#[derive(Debug, Clone)]
pub enum Block {
    /// A heading.
    Heading(String),
    /// A paragraph of plain text.
    Text(String),
    /// An SVG figure.
    Svg(String),
    /// A PNG image with a caption.
    Png {
        /// The caption.
        caption: String,
        /// The encoded PNG.
        bytes: Vec<u8>,
    },
    /// A table: header cells, then rows.
    Table(Vec<String>, Vec<Vec<String>>),
    /// Preformatted text (configurations).
    Pre(String),
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A table cell as HTML: escaped text, with Markdown links `[label](href)` as anchors (the
/// same cell reads as a link in the Markdown rendering too).
fn cell_html(text: &str) -> String {
    let mut html = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let link = rest[open + 1..].split_once("](").and_then(|(label, tail)| {
            let (href, after) = tail.split_once(')')?;
            (!label.contains('[')).then_some((label, href, after))
        });
        let Some((label, href, after)) = link else {
            html.push_str(&escape(&rest[..=open]));
            rest = &rest[open + 1..];
            continue;
        };
        html.push_str(&escape(&rest[..open]));
        let _ = write!(
            html,
            "<a href=\"{}\">{}</a>",
            escape(href).replace('"', "&quot;"),
            escape(label)
        );
        rest = after;
    }
    html.push_str(&escape(rest));
    html
}

/// The whole page, with a table of contents linking every heading.
pub fn render_html(title: &str, blocks: &[Block]) -> String {
    let mut body = String::new();
    let mut contents = String::new();
    let mut sections = 0;
    for block in blocks {
        match block {
            Block::Heading(text) => {
                sections += 1;
                let _ = write!(body, "<h2 id=\"s{sections}\">{}</h2>", escape(text));
                let _ = write!(
                    contents,
                    "<li><a href=\"#s{sections}\">{}</a></li>",
                    escape(text)
                );
            }
            Block::Text(text) => {
                let _ = write!(body, "<p>{}</p>", escape(text));
            }
            Block::Svg(svg) => {
                let _ = write!(body, "<figure>{svg}</figure>");
            }
            Block::Png { caption, bytes } => {
                let _ = write!(
                    body,
                    "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{1}\"><figcaption>{0}</figcaption></figure>",
                    escape(caption),
                    base64(bytes)
                );
            }
            Block::Table(header, rows) => {
                body.push_str("<table><thead><tr>");
                for h in header {
                    let _ = write!(body, "<th>{}</th>", escape(h));
                }
                body.push_str("</tr></thead><tbody>");
                for row in rows {
                    body.push_str("<tr>");
                    for cell in row {
                        let _ = write!(body, "<td>{}</td>", cell_html(cell));
                    }
                    body.push_str("</tr>");
                }
                body.push_str("</tbody></table>");
            }
            Block::Pre(text) => {
                let _ = write!(body, "<pre>{}</pre>", escape(text));
            }
        }
    }
    if sections > 1 {
        body = format!("<nav><h2>Contents</h2><ol>{contents}</ol></nav>{body}");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>\
@font-face{{font-family:'DejaVu Sans';src:url(data:font/ttf;base64,{font}) format('truetype');}}\
body{{font-family:'DejaVu Sans',sans-serif;max-width:1340px;margin:24px auto;padding:0 16px;color:#222}}\
h1{{font-size:24px}}h2{{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd}}\
figure{{display:inline-block;margin:8px;vertical-align:top}}figcaption{{font-size:13px;text-align:center}}\
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
td:first-child,th:first-child{{text-align:left}}pre{{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto}}\
</style></head><body><h1>{title}</h1>{body}</body></html>\n",
        title = escape(title),
        font = base64(FONT_TTF),
    )
}

/// The page's text and tables as Markdown (figures are left out: they are files beside it).
pub fn render_markdown(blocks: &[Block]) -> String {
    let cell = |text: &str| text.replace('|', "\\|");
    let mut md = String::new();
    for block in blocks {
        match block {
            Block::Heading(text) => {
                let _ = write!(md, "\n## {text}\n\n");
            }
            Block::Text(text) => {
                let _ = write!(md, "{text}\n\n");
            }
            Block::Table(header, rows) => {
                let _ = writeln!(
                    md,
                    "| {} |",
                    header
                        .iter()
                        .map(|h| cell(h))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
                let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
                for row in rows {
                    let _ = writeln!(
                        md,
                        "| {} |",
                        row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
                    );
                }
                md.push('\n');
            }
            Block::Pre(text) => {
                let _ = write!(md, "```\n{text}\n```\n\n");
            }
            Block::Svg(_) | Block::Png { .. } => {}
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_keep_brackets_and_turn_markdown_links_into_anchors() {
        assert_eq!(cell_html("0.093 [0.08, 0.10]"), "0.093 [0.08, 0.10]");
        assert_eq!(
            cell_html("0.5 ± 0.1 [s0](../a b/r.html) [s1](x\"y) <b>"),
            "0.5 ± 0.1 <a href=\"../a b/r.html\">s0</a> <a href=\"x&quot;y\">s1</a> &lt;b&gt;"
        );
        assert_eq!(cell_html("[a [b](c)"), "[a <a href=\"c\">b</a>");
    }

    #[test]
    fn base64_of_known_strings() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn grid_png_has_the_expected_size() {
        let a = vec![0u8; 4 * 4];
        let b = vec![255u8; 4 * 4];
        let png_bytes = image_grid_png(&[&a, &b, &a], [1, 4, 4], 2, 3);
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        // 2 columns × (12 + 2) + 2 wide, 2 rows × (12 + 2) + 2 high.
        assert_eq!((info.width, info.height), (30, 30));
    }

    #[test]
    fn markdown_keeps_text_and_tables_and_escapes_pipes() {
        let md = render_markdown(&[
            Block::Heading("H".into()),
            Block::Text("a".into()),
            Block::Svg("<svg/>".into()),
            Block::Table(
                vec!["x".into(), "y".into()],
                vec![vec!["1".into(), "a|b".into()]],
            ),
        ]);
        assert_eq!(md, "\n## H\n\na\n\n| x | y |\n|---|---|\n| 1 | a\\|b |\n\n");
    }

    #[test]
    fn page_embeds_the_font_and_escapes_text() {
        let html = render_html(
            "t",
            &[
                Block::Text("a < b".into()),
                Block::Table(vec!["x".into()], vec![vec!["1".into()]]),
            ],
        );
        assert!(html.contains("a &lt; b"));
        assert!(
            html.contains("font/ttf;base64,AAEAAA"),
            "TrueType magic 0x00010000 in base64"
        );
        assert!(!html.contains("<nav>"), "one section needs no contents");
    }

    #[test]
    fn the_contents_link_every_heading() {
        let html = render_html(
            "t",
            &[
                Block::Heading("Verdict".into()),
                Block::Heading("glow & co".into()),
            ],
        );
        assert!(html.contains("<li><a href=\"#s1\">Verdict</a></li>"));
        assert!(html.contains("<h2 id=\"s2\">glow &amp; co</h2>"));
    }
}
