//! SVG plots with `plotters` (SVG backend only; text is left to the viewer's fonts):
//! cumulative distributions on a log-scaled axis, and panels of horizontal bars (median) with
//! min–max whiskers.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::stats::Spread;

/// Blue, red, green, orange.
const PALETTE: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
];
const WIDTH: u32 = 760;
const FONT: &str = "sans-serif";

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One line of a CDF plot.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: usize,
    pub values: &'a [f64],
}

/// A CDF plot of each series (x: value, log scale by decades; y: share of samples ≤ x).
pub fn cdf(title: &str, x_label: &str, series: &[Series<'_>]) -> anyhow::Result<String> {
    let positive = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = positive.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (d0, d1) = if hi > 0.0 {
        (lo.log10().floor(), hi.log10().ceil())
    } else {
        (-1.0, 1.0)
    };
    let (lo, hi) = (10f64.powf(d0), 10f64.powf(d1.max(d0 + 1.0)));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 440)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.0)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("share of requests ≤ x")
            .x_label_formatter(&|v| {
                if *v >= 1.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v}")
                }
            })
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .draw()?;
        for s in series {
            let mut v: Vec<f64> = s
                .values
                .iter()
                .copied()
                .filter(|x| x.is_finite() && *x > 0.0)
                .collect();
            v.sort_by(f64::total_cmp);
            let n = v.len();
            // At most ~800 points: every value's step, thinned evenly, the last one kept.
            let step = n.div_ceil(800).max(1);
            let points = (0..n)
                .filter(|i| i % step == 0 || i + 1 == n)
                .map(|i| (v[i], (i + 1) as f64 / n as f64));
            let c = color(s.color);
            chart
                .draw_series(LineSeries::new(points, c.stroke_width(2)))?
                .label(format!("{} (n={n})", s.name))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE)
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 13))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// One bar: a median with its min–max range.
pub struct Bar {
    pub label: String,
    pub color: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Bar {
    /// The bar of `s`; "not measured" when `ran` is false.
    pub fn of(label: &str, color: usize, ran: bool, s: Spread) -> Bar {
        Bar {
            label: label.to_string(),
            color,
            median: if ran { s.median } else { f64::NAN },
            min: s.min,
            max: s.max,
        }
    }
}

/// Horizontal bars sharing a linear axis from 0, each with its median printed at its end.
pub struct Panel {
    pub title: String,
    pub unit: String,
    pub bars: Vec<Bar>,
}

const ROW: u32 = 30;
const PANEL_EXTRA: u32 = 70;

/// Panels of bars, one under the other (for example cold start in ms and peak RSS in MiB for
/// the same runtimes).
pub fn bars(title: &str, panels: &[Panel]) -> anyhow::Result<String> {
    let heights: Vec<u32> = panels
        .iter()
        .map(|p| p.bars.len() as u32 * ROW + PANEL_EXTRA)
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 40 + heights.iter().sum::<u32>()))
            .into_drawing_area();
        root.fill(&WHITE)?;
        let body = root.titled(title, (FONT, 18))?;
        let mut breaks = Vec::new();
        for h in &heights[..heights.len().saturating_sub(1)] {
            breaks.push(breaks.last().copied().unwrap_or(0) + *h as i32);
        }
        for (area, p) in body
            .split_by_breakpoints(Vec::<i32>::new(), breaks)
            .iter()
            .zip(panels)
        {
            panel(area, p)?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    p: &Panel,
) -> anyhow::Result<()> {
    let hi = p
        .bars
        .iter()
        .map(|b| b.max.max(b.median))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let hi = if hi > 0.0 { hi * 1.15 } else { 1.0 };
    let n = p.bars.len();
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} ({})", p.title, p.unit), (FONT, 14))
        .margin_right(20)
        .x_label_area_size(24)
        .y_label_area_size(250)
        .build_cartesian_2d(0f64..hi, (0..n.saturating_sub(1)).into_segmented())?;
    // Segment 0 is at the bottom: the first bar goes in the top one.
    let labels: Vec<&str> = p.bars.iter().rev().map(|b| b.label.as_str()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .label_style((FONT, 12))
        .y_labels(n)
        .x_label_formatter(&|v| format!("{v}"))
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).copied().unwrap_or("").to_string(),
            _ => String::new(),
        })
        .draw()?;
    for (i, b) in p.bars.iter().rev().enumerate() {
        let at = |x: f64| (x, SegmentValue::CenterOf(i));
        if !b.median.is_finite() {
            chart.draw_series([Text::new("not measured", at(0.0), (FONT, 12))])?;
            continue;
        }
        let c = color(b.color);
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(i)),
                (b.median, SegmentValue::Exact(i + 1)),
            ],
            c.filled(),
        );
        bar.set_margin(5, 5, 0, 0);
        chart.draw_series([bar])?;
        if b.min.is_finite() && b.max.is_finite() && b.max > b.min {
            chart.draw_series([ErrorBar::new_horizontal(
                SegmentValue::CenterOf(i),
                b.min,
                b.median,
                b.max,
                BLACK.stroke_width(1),
                10,
            )])?;
        }
        let digits = if b.median < 10.0 { 1 } else { 0 };
        let value = EmptyElement::at(at(b.max.max(b.median)))
            + Text::new(format!("{:.*}", digits, b.median), (6, -6), (FONT, 12));
        chart.draw_series([value])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_cumulative_lines_and_bars() {
        let (a, b) = ([0.2, 0.3, 0.35, 1.5], [10.0, 20.0, 30.0]);
        let svg = cdf(
            "TTFB <x>",
            "ms",
            &[
                Series {
                    name: "a",
                    color: 0,
                    values: &a,
                },
                Series {
                    name: "b",
                    color: 1,
                    values: &b,
                },
            ],
        )
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(
            svg.contains("TTFB &lt;x&gt;") && svg.contains("a (n=4)") && !svg.contains("NaN"),
            "{svg}"
        );
        assert!(!cdf("t", "ms", &[]).unwrap().contains("NaN"));
        let bar = |label: &str, median: f64| Bar {
            label: label.into(),
            color: 0,
            median,
            min: median * 0.9,
            max: median * 1.1,
        };
        let panels = [Panel {
            title: "first byte".into(),
            unit: "ms".into(),
            bars: vec![
                bar("rust", 7.5),
                bar("node <20>", 180.0),
                bar("skipped", f64::NAN),
            ],
        }];
        let svg = bars("Cold start", &panels).unwrap();
        assert!(
            svg.contains("node &lt;20&gt;") && svg.contains("\n180\n") && svg.contains("\n7.5\n"),
            "{svg}"
        );
        assert!(svg.contains("not measured") && !svg.contains("NaN"));
    }
}
