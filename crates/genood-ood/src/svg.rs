//! Small, dependency-free SVG plots: histograms and line charts with titles, axis labels with
//! units, ticks and a legend. Text uses the `DejaVu Sans` family, which the HTML report embeds.

use std::fmt::Write as _;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 56.0;
/// Colour-blind-safe palette (Okabe–Ito, yellow replaced by grey), ordered so that series
/// drawn together differ most: the two blues are the first and the seventh.
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#000000", "#56B4E9", "#777777",
];
const FONT: &str = "font-family=\"DejaVu Sans, sans-serif\"";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Round tick positions covering `[low, high]` (steps of 1, 2 or 5 × 10^k).
pub fn ticks(low: f64, high: f64, target: usize) -> Vec<f64> {
    let span = (high - low).max(f64::EPSILON);
    let raw = span / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (low / step).ceil() as i64;
    let last = (high / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn format_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-2..1e5).contains(&a) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.1e}")
    }
}

struct Frame {
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0) * (HEIGHT - TOP - BOTTOM)
    }

    /// The title, axes, ticks and axis labels.
    fn axes(&self, out: &mut String, title: &str, x_label: &str, y_label: &str) {
        let _ = write!(
            out,
            "<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>"
        );
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"26\" {FONT} font-size=\"16\" text-anchor=\"middle\">{}</text>",
            WIDTH / 2.0,
            escape(title)
        );
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        let _ = write!(
            out,
            "<rect x=\"{x0}\" y=\"{y0}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>",
            x1 - x0,
            y1 - y0
        );
        for t in ticks(self.x.0, self.x.1, 6) {
            let x = self.px(t);
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{y1}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#444\"/>",
                y1 + 5.0
            );
            let _ = write!(
                out,
                "<text x=\"{x:.1}\" y=\"{}\" {FONT} font-size=\"12\" text-anchor=\"middle\">{}</text>",
                y1 + 19.0,
                format_tick(t)
            );
        }
        for t in ticks(self.y.0, self.y.1, 5) {
            let y = self.py(t);
            let _ = write!(
                out,
                "<line x1=\"{}\" y1=\"{y:.1}\" x2=\"{x0}\" y2=\"{y:.1}\" stroke=\"#444\"/>",
                x0 - 5.0
            );
            let _ = write!(
                out,
                "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{x1}\" y2=\"{y:.1}\" stroke=\"#eee\"/>"
            );
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{:.1}\" {FONT} font-size=\"12\" text-anchor=\"end\">{}</text>",
                x0 - 8.0,
                y + 4.0,
                format_tick(t)
            );
        }
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" {FONT} font-size=\"13\" text-anchor=\"middle\">{}</text>",
            (x0 + x1) / 2.0,
            HEIGHT - 14.0,
            escape(x_label)
        );
        let _ = write!(
            out,
            "<text transform=\"translate(18 {}) rotate(-90)\" {FONT} font-size=\"13\" text-anchor=\"middle\">{}</text>",
            (y0 + y1) / 2.0,
            escape(y_label)
        );
    }
}

/// A corner of the plot area.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Corner {
    TopRight,
    BottomRight,
    TopLeft,
    BottomLeft,
}

/// The legend box's `(left, top, width, height)` in a corner of the plot area.
fn legend_box(labels: &[String], corner: Corner) -> (f64, f64, f64, f64) {
    let height = 8.0 + 18.0 * labels.len() as f64;
    let width = 34.0 + 7.2 * labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
    let left = match corner {
        Corner::TopRight | Corner::BottomRight => WIDTH - RIGHT - 12.0 - width,
        Corner::TopLeft | Corner::BottomLeft => LEFT + 12.0,
    };
    let top = match corner {
        Corner::TopRight | Corner::TopLeft => TOP + 8.0,
        Corner::BottomRight | Corner::BottomLeft => HEIGHT - BOTTOM - 8.0 - height,
    };
    (left, top, width, height)
}

/// A legend box in `corner`, one square per series in its palette colour `colours[i]`.
fn legend(out: &mut String, labels: &[String], colours: &[usize], corner: Corner) {
    let (left, top, width, height) = legend_box(labels, corner);
    let _ = write!(
        out,
        "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{height}\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>"
    );
    for (i, (label, colour)) in labels.iter().zip(colours).enumerate() {
        let y = top + 16.0 + 18.0 * i as f64;
        let color = PALETTE[colour % PALETTE.len()];
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/>",
            left + 8.0,
            y - 10.0
        );
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{y:.1}\" {FONT} font-size=\"12\">{}</text>",
            left + 26.0,
            escape(label)
        );
    }
}

/// Raises the top of the y axis so that a top legend sits above everything drawn so far.
fn make_room_for_legend(frame: &mut Frame, labels: &[String]) {
    let (_, _, _, box_height) = legend_box(labels, Corner::TopRight);
    let room = box_height + 16.0;
    let plot = HEIGHT - TOP - BOTTOM;
    frame.y.1 += (frame.y.1 - frame.y.0) * room / (plot - room);
}

/// The corner whose legend box covers the least of the series, counting each point and eight
/// points along each segment (top right on a tie), with how much it covers.
fn emptiest_corner(
    frame: &Frame,
    labels: &[String],
    series: &[(String, Vec<(f64, f64)>)],
) -> (Corner, usize) {
    let corners = [
        Corner::TopRight,
        Corner::BottomRight,
        Corner::TopLeft,
        Corner::BottomLeft,
    ];
    let covered = |corner: Corner| {
        let (left, top, width, height) = legend_box(labels, corner);
        series
            .iter()
            .flat_map(|(_, points)| {
                let along = points.windows(2).flat_map(|w| {
                    (1..=8).map(move |k| {
                        let t = k as f64 / 9.0;
                        (
                            w[0].0 + t * (w[1].0 - w[0].0),
                            w[0].1 + t * (w[1].1 - w[0].1),
                        )
                    })
                });
                points.iter().copied().chain(along)
            })
            .filter(|(x, y)| {
                let (px, py) = (frame.px(*x), frame.py(*y));
                (left - 4.0..=left + width + 4.0).contains(&px)
                    && (top - 4.0..=top + height + 4.0).contains(&py)
            })
            .count()
    };
    corners
        .into_iter()
        .map(|c| (c, covered(c)))
        .min_by_key(|(_, n)| *n)
        .unwrap_or((Corner::TopRight, 0))
}

fn document(body: String) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\">{body}</svg>"
    )
}

/// Overlaid density histograms of several samples on shared bins spanning their 0.5th to
/// 99.5th percentiles (so a few outliers do not squash the plot); each legend entry counts
/// the values left off either side. Series `i` takes palette colour `i`; an empty series is
/// neither drawn nor listed but keeps its colour, so a set can keep one colour in every figure. A sample with a single repeated value is drawn as one
/// bar and labelled with that value.
pub fn histogram(title: &str, x_label: &str, series: &[(String, Vec<f64>)], bins: usize) -> String {
    let mut pooled: Vec<f64> = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    pooled.sort_by(f64::total_cmp);
    let quantile =
        |q: f64| pooled[((q * (pooled.len() - 1) as f64).round() as usize).min(pooled.len() - 1)];
    let (mut low, mut high) = if pooled.is_empty() {
        (0.0, 1.0)
    } else {
        (quantile(0.005), quantile(0.995))
    };
    if high <= low {
        let pad = low.abs().max(1.0) * 0.01;
        (low, high) = (low - pad, high + pad);
    }
    let width = (high - low) / bins as f64;
    let mut densities = Vec::new();
    let mut labels = Vec::new();
    let mut colours = Vec::new();
    for (colour, (label, values)) in series.iter().enumerate() {
        if values.is_empty() {
            continue;
        }
        colours.push(colour);
        let mut counts = vec![0usize; bins];
        for &v in values.iter().filter(|v| v.is_finite()) {
            if (low..=high).contains(&v) {
                counts[(((v - low) / width) as usize).min(bins - 1)] += 1;
            }
        }
        let n = values.len().max(1) as f64;
        densities.push(
            counts
                .iter()
                .map(|&c| c as f64 / (n * width))
                .collect::<Vec<_>>(),
        );
        let single = values
            .first()
            .filter(|first| values.iter().all(|v| v == *first));
        let below = values.iter().filter(|v| **v < low).count();
        let above = values.iter().filter(|v| **v > high).count();
        let clipped = match (below, above) {
            (0, 0) => String::new(),
            (b, 0) => format!("; {b} left of the axis"),
            (0, a) => format!("; {a} right of the axis"),
            (b, a) => format!("; {b} left, {a} right of the axis"),
        };
        labels.push(match single {
            Some(v) if values.len() > 1 => format!("{label} (all = {})", format_tick(*v)),
            _ => format!("{label} (n = {}{clipped})", values.len()),
        });
    }
    let peak = densities
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut frame = Frame {
        x: (low, high),
        y: (0.0, peak * 1.08),
    };
    // A legend corner no bar reaches up into, else room above the tallest bar.
    let reaches = |frame: &Frame, corner: Corner| {
        let (left, top, width_px, height) = legend_box(&labels, corner);
        densities.iter().any(|density| {
            density.iter().enumerate().any(|(b, d)| {
                let x = frame.px(low + (b as f64 + 0.5) * width);
                (left - 4.0..=left + width_px + 4.0).contains(&x)
                    && frame.py(*d) < top + height + 4.0
            })
        })
    };
    let corner = match [Corner::TopRight, Corner::TopLeft]
        .into_iter()
        .find(|c| !reaches(&frame, *c))
    {
        Some(corner) => corner,
        None => {
            make_room_for_legend(&mut frame, &labels);
            Corner::TopRight
        }
    };
    let mut out = String::new();
    frame.axes(&mut out, title, x_label, "density");
    for (density, colour) in densities.iter().zip(&colours) {
        let color = PALETTE[colour % PALETTE.len()];
        let mut path = format!("M{:.1},{:.1}", frame.px(low), frame.py(0.0));
        for (b, d) in density.iter().enumerate() {
            let (a, z) = (low + b as f64 * width, low + (b + 1) as f64 * width);
            let _ = write!(
                path,
                " L{:.1},{:.1} L{:.1},{:.1}",
                frame.px(a),
                frame.py(*d),
                frame.px(z),
                frame.py(*d)
            );
        }
        let _ = write!(path, " L{:.1},{:.1} Z", frame.px(high), frame.py(0.0));
        let _ = write!(
            out,
            "<path d=\"{path}\" fill=\"{color}\" fill-opacity=\"0.28\" stroke=\"{color}\" stroke-width=\"1.5\"/>"
        );
    }
    legend(&mut out, &labels, &colours, corner);
    document(out)
}

/// Draws each series as a polyline (with a dot on each point when `markers`), thinning
/// thousands of points to those a reader can see (0.1% of the axes apart).
fn polylines(out: &mut String, frame: &Frame, series: &[(String, Vec<(f64, f64)>)], markers: bool) {
    let (x_span, y_span) = (frame.x.1 - frame.x.0, frame.y.1 - frame.y.0);
    for (i, (_, points)) in series.iter().enumerate() {
        if points.is_empty() {
            continue;
        }
        let color = PALETTE[i % PALETTE.len()];
        let mut kept: Vec<(f64, f64)> = Vec::new();
        for (k, &(x, y)) in points.iter().enumerate() {
            let far = kept
                .last()
                .is_none_or(|&(a, b)| (x - a).abs() / x_span + (y - b).abs() / y_span > 1e-3);
            if far || k + 1 == points.len() {
                kept.push((x, y));
            }
        }
        let path: Vec<String> = kept
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", frame.px(*x), frame.py(*y)))
            .collect();
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{}/>",
            path.join(" "),
            dashes(i)
        );
        if markers {
            for (x, y) in &kept {
                let _ = write!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                    frame.px(*x),
                    frame.py(*y)
                );
            }
        }
    }
}

/// `[low, high]` widened by 5% on each side (and to a non-empty range).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if low > high {
        return (0.0, 1.0);
    }
    let pad = if high > low {
        0.05 * (high - low)
    } else {
        low.abs().max(1.0) * 0.01
    };
    (low - pad, high + pad)
}

/// Line chart of several `(x, y)` series, axes fitted to the data, a dot on every point (for
/// curves measured at a few settings: graying levels, training steps). Colours as in
/// [`histogram`]: an empty series only holds its colour.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> String {
    let points = || series.iter().flat_map(|(_, p)| p.iter());
    let mut frame = Frame {
        x: padded(points().map(|p| p.0)),
        y: padded(points().map(|p| p.1)),
    };
    let drawn = || {
        series
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| !p.is_empty())
    };
    let labels: Vec<String> = drawn().map(|(_, (l, _))| l.clone()).collect();
    let colours: Vec<usize> = drawn().map(|(i, _)| i).collect();
    let (mut corner, covered) = emptiest_corner(&frame, &labels, series);
    if covered > 0 {
        make_room_for_legend(&mut frame, &labels);
        corner = Corner::TopRight;
    }
    let mut out = String::new();
    frame.axes(&mut out, title, x_label, y_label);
    polylines(&mut out, &frame, series, true);
    legend(&mut out, &labels, &colours, corner);
    document(out)
}

/// ROC curves on `[0, 1]²` with the chance diagonal; the legend sits below the plot, where it
/// covers no curve.
pub fn roc_chart(title: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let frame = Frame {
        x: (0.0, 1.0),
        y: (0.0, 1.0),
    };
    let mut out = String::new();
    frame.axes(
        &mut out,
        title,
        "false-positive rate (in-distribution flagged)",
        "true-positive rate (OOD flagged)",
    );
    let _ = write!(
        out,
        "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>",
        frame.px(0.0),
        frame.py(0.0),
        frame.px(1.0),
        frame.py(1.0)
    );
    polylines(&mut out, &frame, series, false);
    // One entry per line under the axis label.
    let height = HEIGHT + 18.0 * series.len() as f64 + 8.0;
    let _ = write!(
        out,
        "<rect y=\"{HEIGHT}\" width=\"{WIDTH}\" height=\"{:.1}\" fill=\"white\"/>",
        height - HEIGHT
    );
    for (i, (label, _)) in series.iter().enumerate() {
        let x = LEFT;
        let y = HEIGHT + 12.0 + 18.0 * i as f64;
        let color = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"3\"{}/><text x=\"{:.1}\" y=\"{y:.1}\" {FONT} font-size=\"12\">{}</text>",
            y - 4.0,
            x + 18.0,
            y - 4.0,
            dashes(i),
            x + 24.0,
            escape(label)
        );
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" viewBox=\"0 0 {WIDTH} {height:.0}\">{out}</svg>"
    )
}

/// Series past the palette's length repeat its colours dashed.
fn dashes(series: usize) -> &'static str {
    if series >= PALETTE.len() {
        " stroke-dasharray=\"6 3\""
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(ticks(2.3, 7.9, 6), vec![3.0, 4.0, 5.0, 6.0, 7.0]);
    }

    #[test]
    fn histogram_has_one_area_per_series_and_marks_a_constant_one() {
        let svg = histogram(
            "t",
            "x (bits/dim)",
            &[
                ("a".into(), vec![1.0, 2.0, 3.0]),
                ("b".into(), vec![5.0; 4]),
            ],
            20,
        );
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains("b (all = 5)"));
        assert!(svg.contains("x (bits/dim)") && svg.contains("density"));
    }

    #[test]
    fn a_histogram_legend_sits_where_no_bar_reaches() {
        let legend_left = |svg: &str| -> f64 {
            let before = svg.split("fill-opacity=\"0.85\"").next().unwrap();
            before
                .rsplit("<rect x=\"")
                .next()
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        // Tall bars on the right push the legend to the left.
        let right: Vec<f64> = (0..100)
            .map(|i| if i < 10 { i as f64 * 0.8 } else { 9.0 })
            .collect();
        assert!(legend_left(&histogram("t", "x", &[("r".into(), right)], 10)) < WIDTH / 2.0);
        // Tall bars on both sides: the legend stays right and the axis rises above the bars.
        let both: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { 0.0 } else { 9.0 })
            .collect();
        let three: Vec<(String, Vec<f64>)> = ["a", "b", "c"]
            .map(|name| (name.to_string(), both.clone()))
            .to_vec();
        let svg = histogram("t", "x", &three, 10);
        assert!(legend_left(&svg) > WIDTH / 2.0);
        // The peak density is 0.56; the raised axis reaches a tick at 0.8.
        assert!(svg.contains(">0.8</text>"), "{svg}");
    }

    #[test]
    fn the_legend_avoids_the_points() {
        let frame = Frame {
            x: (0.0, 1.0),
            y: (0.0, 1.0),
        };
        let labels = vec!["a long enough label".to_string()];
        let corner_points = |x: f64, y: f64| vec![("a".to_string(), vec![(x, y); 3])];
        let top_right = corner_points(0.95, 0.97);
        assert_ne!(
            emptiest_corner(&frame, &labels, &top_right).0,
            Corner::TopRight
        );
        let bottom_left = corner_points(0.05, 0.03);
        assert_eq!(
            emptiest_corner(&frame, &labels, &bottom_left),
            (Corner::TopRight, 0)
        );
        // A zigzag through every corner leaves none empty.
        let zigzag = vec![(
            "a".to_string(),
            vec![(0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)],
        )];
        assert!(emptiest_corner(&frame, &labels, &zigzag).1 > 0);
    }

    #[test]
    fn line_chart_marks_every_point_inside_the_plot_area() {
        let svg = line_chart(
            "t",
            "α",
            "bits/dim",
            &[
                ("a".into(), vec![(0.0, 3.0), (0.5, 2.0), (1.0, 1.0)]),
                ("b".into(), vec![(0.0, 4.0), (1.0, 4.0)]),
            ],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 5);
        for cx in svg.split("cx=\"").skip(1) {
            let x: f64 = cx.split('"').next().unwrap().parse().unwrap();
            assert!((LEFT..=WIDTH - RIGHT).contains(&x), "{x}");
        }
    }
}
