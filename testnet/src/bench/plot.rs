//! SVG plots of a report's series, drawn with plotters' SVG backend. Text is written as SVG
//! `<text>` elements (plotters without its font features), so no system font is needed to draw.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::report::{Report, Series};

/// A plot could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {}: {detail}", .path.display())]
pub struct PlotError {
    /// The SVG file.
    pub path: PathBuf,
    /// What failed.
    pub detail: String,
}

/// Draws every series of `report` into `dir` as `<scenario>-<series>.svg`; the files written.
pub fn draw_all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(dir).map_err(|e| PlotError {
        path: dir.to_owned(),
        detail: e.to_string(),
    })?;
    let mut out = Vec::new();
    for series in &report.series {
        let path = dir.join(format!("{}-{}.svg", report.scenario, series.name));
        draw(series, &path)?;
        out.push(path);
    }
    Ok(out)
}

/// Line colours: distinct on white, in legend order.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// An axis tick label: whole numbers from 10 on, one decimal below.
fn tick(v: f64) -> String {
    if v.abs() >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The x and y ranges that hold every point (with a little room), never empty.
fn bounds(series: &Series) -> ((f64, f64), (f64, f64)) {
    let points = series.lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        if series.x_log && x <= 0.0 {
            continue;
        }
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1) = (1.0, 10.0);
    }
    if y0 > y1 {
        (y0, y1) = (0.0, 1.0);
    }
    if series.x_log {
        x0 /= 1.2;
        x1 *= 1.2;
    } else {
        x0 = x0.min(0.0);
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
    }
    y0 = y0.min(0.0);
    y1 = if y1 <= y0 { y0 + 1.0 } else { y1 * 1.05 };
    ((x0, x1), (y0, y1))
}

/// Draws one series as an 900×540 SVG at `path`.
pub fn draw(series: &Series, path: &Path) -> Result<(), PlotError> {
    let fail = |detail: String| PlotError {
        path: path.to_owned(),
        detail,
    };
    let ((x0, x1), (y0, y1)) = bounds(series);
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&series.title, ("sans-serif", 20))
        .margin(18)
        .x_label_area_size(48)
        .y_label_area_size(72);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(series.x_label.as_str())
                .y_desc(series.y_label.as_str())
                .label_style(("sans-serif", 14))
                .x_labels(10)
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v))
                .draw()
                .map_err(|e| fail(e.to_string()))?;
            for (i, line) in series.lines.iter().enumerate() {
                let color = COLORS[i % COLORS.len()].to_rgba();
                let points: Vec<(f64, f64)> = line
                    .points
                    .iter()
                    .copied()
                    .filter(|&(x, _)| !series.x_log || x > 0.0)
                    .collect();
                chart
                    .draw_series(LineSeries::new(points, color.stroke_width(2)))
                    .map_err(|e| fail(e.to_string()))?
                    .label(line.label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                // CDFs rise to the right (upper left is empty); growth curves leave the lower right.
                .position(if series.x_log {
                    SeriesLabelPosition::UpperLeft
                } else {
                    SeriesLabelPosition::LowerRight
                })
                .label_font(("sans-serif", 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| fail(e.to_string()))?;
        }};
    }
    if series.x_log {
        finish!(
            builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(|e| fail(e.to_string()))?
        );
    } else {
        finish!(
            builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| fail(e.to_string()))?
        );
    }
    root.present().map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::bench::report::Line;

    #[test]
    fn a_plot_is_an_svg_with_its_labels_as_text() {
        let tmp = tempfile::tempdir().unwrap();
        for x_log in [false, true] {
            let series = Series {
                name: "latency-cdf".into(),
                title: "Latency CDF".into(),
                x_label: "latency (ms)".into(),
                y_label: "fraction of deliveries".into(),
                x_log,
                lines: vec![
                    Line {
                        label: "to each node".into(),
                        points: vec![(0.5, 0.1), (2.0, 0.5), (9.0, 1.0)],
                    },
                    Line {
                        label: "to every node".into(),
                        points: vec![(1.0, 0.2), (12.0, 1.0)],
                    },
                ],
            };
            let path = tmp.path().join(format!("p{x_log}.svg"));
            draw(&series, &path).unwrap();
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
            for text in ["Latency CDF", "latency (ms)", "to every node"] {
                assert!(svg.contains(text), "{text} missing");
            }
            assert!(svg.contains("<polyline"), "no line drawn");
        }
    }
}
