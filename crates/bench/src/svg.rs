//! Hand-written SVG plots (no plotting dependency, deterministic output): cumulative
//! distributions on a log-scaled x axis, and panels of horizontal bars with min–max whiskers.

use std::fmt::Write as _;

/// One line of the plot.
pub struct Series<'a> {
    pub name: String,
    pub color: &'a str,
    pub values: &'a [f64],
}

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A CDF plot of each series (x: value, log scale; y: fraction of samples ≤ x).
pub fn cdf(title: &str, x_label: &str, series: &[Series<'_>]) -> String {
    let positive: Vec<f64> = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let lo = positive.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = positive.iter().copied().fold(0.0f64, f64::max);
    let (lo, hi) = if positive.is_empty() {
        (0.1, 10.0)
    } else {
        (lo, hi.max(lo * 1.01))
    };
    let d0 = lo.log10().floor();
    let d1 = hi.log10().ceil().max(d0 + 1.0);
    let px = |v: f64| LEFT + (v.max(10f64.powf(d0)).log10() - d0) / (d1 - d0) * (W - LEFT - RIGHT);
    let py = |f: f64| TOP + (1.0 - f) * (H - TOP - BOTTOM);
    // The legend goes under the plot, one line per series.
    let total_h = H + 18.0 * series.len() as f64 + 6.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{total_h}" viewBox="0 0 {W} {total_h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{W}" height="{total_h}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        esc(title)
    );
    // Grid: decades and 2×, 5× on x; tenths on y.
    let mut decade = d0;
    while decade <= d1 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powf(decade);
            if v.log10() > d1 + 1e-9 {
                continue;
            }
            let x = px(v);
            let strong = m == 1.0;
            let _ = writeln!(
                out,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="{}" />"##,
                H - BOTTOM,
                if strong { "#bbb" } else { "#eee" }
            );
            let label = if v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v}")
            };
            let _ = writeln!(
                out,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
                H - BOTTOM + 16.0
            );
        }
        decade += 1.0;
    }
    for i in 0..=10 {
        let f = f64::from(i) / 10.0;
        let y = py(f);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" />"##,
            W - RIGHT,
            if i % 5 == 0 { "#bbb" } else { "#eee" }
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{:.0}%</text>"#,
            LEFT - 6.0,
            y + 4.0,
            f * 100.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 18.0,
        esc(x_label)
    );
    let _ = writeln!(
        out,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">share of requests ≤ x</text>"#,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0
    );
    for (k, s) in series.iter().enumerate() {
        let mut v: Vec<f64> = s.values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n > 0 {
            // At most ~800 points: every value's step, thinned evenly.
            let step = n.div_ceil(800).max(1);
            let mut points = String::new();
            let mut i = 0;
            while i < n {
                let f = (i + 1) as f64 / n as f64;
                let _ = write!(points, "{:.1},{:.1} ", px(v[i]), py(f));
                if i + 1 < n && i + step >= n {
                    i = n - 1;
                } else {
                    i += step;
                }
            }
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
                s.color,
                points.trim_end()
            );
        }
        let ly = H + 4.0 + 18.0 * k as f64;
        let lx = LEFT + 12.0;
        let _ = writeln!(
            out,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{} (n={n})</text>"#,
            lx,
            lx + 24.0,
            s.color,
            lx + 30.0,
            ly + 4.0,
            esc(&s.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// One bar: a median with its min–max range.
pub struct Bar {
    pub label: String,
    pub color: &'static str,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// One panel of horizontal bars sharing a linear axis from 0, each with a min–max whisker and
/// its median printed at its end.
pub struct Panel {
    pub title: String,
    pub unit: String,
    pub bars: Vec<Bar>,
}

/// Panels of horizontal bars, one under the other (for example cold start in ms and peak RSS in
/// MiB for the same runtimes).
pub fn bars(title: &str, panels: &[Panel]) -> String {
    const LABEL_W: f64 = 250.0;
    const ROW: f64 = 26.0;
    const PANEL_GAP: f64 = 56.0;
    let plot_w = W - LABEL_W - RIGHT - 70.0;
    let height = TOP
        + panels
            .iter()
            .map(|p| p.bars.len() as f64 * ROW + PANEL_GAP)
            .sum::<f64>()
        + 10.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{height}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        esc(title)
    );
    let mut y = TOP;
    for p in panels {
        let hi = p
            .bars
            .iter()
            .map(|b| b.max.max(b.median))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let hi = if hi > 0.0 { hi * 1.05 } else { 1.0 };
        let px = |v: f64| LABEL_W + (v.max(0.0) / hi) * plot_w;
        let _ = writeln!(
            out,
            r#"<text x="{LABEL_W}" y="{:.1}" font-weight="bold">{} ({})</text>"#,
            y + 12.0,
            esc(&p.title),
            esc(&p.unit)
        );
        y += 20.0;
        for b in &p.bars {
            let cy = y + ROW / 2.0;
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LABEL_W - 8.0,
                cy + 4.0,
                esc(&b.label)
            );
            if b.median.is_finite() {
                let _ = writeln!(
                    out,
                    r#"<rect x="{LABEL_W}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                    y + 4.0,
                    (px(b.median) - LABEL_W).max(1.0),
                    ROW - 8.0,
                    b.color
                );
                if b.min.is_finite() && b.max.is_finite() && b.max > b.min {
                    let _ = writeln!(
                        out,
                        r##"<line x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="#333"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
                        px(b.min),
                        px(b.max),
                        px(b.min),
                        cy - 5.0,
                        px(b.min),
                        cy + 5.0,
                        px(b.max),
                        cy - 5.0,
                        px(b.max),
                        cy + 5.0
                    );
                }
                let digits = if b.median < 10.0 { 1 } else { 0 };
                let _ = writeln!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}">{:.*}</text>"#,
                    px(b.max.max(b.median)) + 6.0,
                    cy + 4.0,
                    digits,
                    b.median
                );
            } else {
                let _ = writeln!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}">not measured</text>"#,
                    LABEL_W + 4.0,
                    cy + 4.0
                );
            }
            y += ROW;
        }
        y += PANEL_GAP - 20.0;
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_well_formed_plot() {
        let a = [0.2, 0.3, 0.35, 1.5];
        let b = [10.0, 20.0, 30.0];
        let svg = cdf(
            "TTFB <x>",
            "ms",
            &[
                Series {
                    name: "a".into(),
                    color: "#1f77b4",
                    values: &a,
                },
                Series {
                    name: "b".into(),
                    color: "#d62728",
                    values: &b,
                },
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("TTFB &lt;x&gt;"));
        assert!(!svg.contains("NaN"));
        let empty = cdf("t", "ms", &[]);
        assert!(!empty.contains("NaN"));
    }

    #[test]
    fn draws_bars_with_whiskers() {
        let svg = bars(
            "Cold start",
            &[Panel {
                title: "first byte".into(),
                unit: "ms".into(),
                bars: vec![
                    Bar {
                        label: "rust".into(),
                        color: "#1f77b4",
                        median: 7.5,
                        min: 7.0,
                        max: 8.0,
                    },
                    Bar {
                        label: "node <20>".into(),
                        color: "#d62728",
                        median: 180.0,
                        min: 170.0,
                        max: 200.0,
                    },
                    Bar {
                        label: "skipped".into(),
                        color: "#999",
                        median: f64::NAN,
                        min: f64::NAN,
                        max: f64::NAN,
                    },
                ],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 3, "background + 2 bars");
        assert!(svg.contains("node &lt;20&gt;") && svg.contains(">180<") && svg.contains(">7.5<"));
        assert!(svg.contains("not measured") && !svg.contains("NaN"));
    }
}
