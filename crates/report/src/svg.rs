//! Small, dependency-free SVG charts for the HTML report.

use crate::Series;

const COLORS: [&str; 6] = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart with y in [0, 1] (accuracies, rates) against x.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    chart(title, x_label, y_label, series, None)
}

/// A line chart with y from 0 to the largest value (distances, counts).
pub fn line_chart_values(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    chart(title, x_label, y_label, series, Some(nice_ceiling(y_max)))
}

/// The smallest of 1, 2, 2.5, 4, 5, 8 or 10 times a power of ten at or above `v`, so the four
/// gridlines fall on round values (0.7 → 0.8, 1438 → 2000).
fn nice_ceiling(v: f64) -> f64 {
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 4.0, 5.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|c| *c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * power)
}

/// `y_max` None: fractions shown as percentages; Some: plain values up to y_max.
fn chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y_max: Option<f64>,
) -> String {
    let (w, h) = (680.0, 320.0);
    let (left, right, top, bottom) = (56.0, 230.0, 30.0, 44.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let sx = |x: f64| left + pw * x / x_max;
    let scale = y_max.unwrap_or(1.0);
    let sy = |y: f64| top + ph * (1.0 - (y / scale).clamp(0.0, 1.0));
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        esc(title)
    );
    out.push_str(&format!(
        r#"<text x="{}" y="18" font-size="14" font-weight="bold">{}</text>"#,
        left,
        esc(title)
    ));
    for i in 0..=4 {
        let y = scale * i as f64 / 4.0;
        let label = match y_max {
            None => format!("{:.0}%", y * 100.0),
            Some(_) => format!("{y:.2}"),
        };
        out.push_str(&format!(
            r##"<line x1="{left}" x2="{}" y1="{yy}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" font-size="11" text-anchor="end">{label}</text>"##,
            left + pw,
            left - 6.0,
            sy(y) + 4.0,
            yy = sy(y)
        ));
    }
    for i in 0..=4 {
        let x = x_max * i as f64 / 4.0;
        let label = if x_max >= 10.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.3}")
        };
        out.push_str(&format!(
            r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>"#,
            sx(x),
            top + ph + 16.0,
            label
        ));
    }
    out.push_str(&format!(
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        h - 6.0,
        esc(x_label)
    ));
    out.push_str(&format!(r#"<text x="14" y="{}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>"#, top + ph / 2.0, top + ph / 2.0, esc(y_label)));
    plot_series(&mut out, series, &sx, &sy, left + pw, top, true);
    out.push_str("</svg>");
    out
}

/// ROC curves on log–log axes (Carlini et al. 2022: the low-FPR end is what matters), from
/// `floor` (the smallest false-positive rate the data can show, 1 / non-members) to 1, with
/// the diagonal of a guess. Points at a rate of 0 are drawn on the axis at `floor`.
pub fn roc_log_log(title: &str, series: &[Series], floor: f64) -> String {
    let (w, h) = (680.0, 360.0);
    let (left, right, top, bottom) = (56.0, 230.0, 30.0, 44.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let decades = (-floor.clamp(1e-9, 0.1).log10()).ceil();
    let lo = 10f64.powf(-decades);
    let t = |v: f64| (v.max(lo).log10() + decades) / decades;
    let sx = |x: f64| left + pw * t(x);
    let sy = |y: f64| top + ph * (1.0 - t(y));
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        esc(title)
    );
    out.push_str(&format!(
        r#"<text x="{left}" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    ));
    for d in 0..=decades as i32 {
        let v = 10f64.powi(-d);
        let label = if v >= 0.01 {
            format!("{}%", 100.0 * v)
        } else {
            format!("{}%", format_args!("{:.*}", (d - 2) as usize, 100.0 * v))
        };
        out.push_str(&format!(
            r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><line x1="{x}" x2="{x}" y1="{top}" y2="{}" stroke="#ddd"/><text x="{}" y="{}" font-size="11" text-anchor="end">{label}</text><text x="{x}" y="{}" font-size="11" text-anchor="middle">{label}</text>"##,
            left + pw,
            top + ph,
            left - 6.0,
            sy(v) + 4.0,
            top + ph + 16.0,
            y = sy(v),
            x = sx(v),
        ));
    }
    out.push_str(&format!(
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-dasharray="4 4"/>"##,
        sx(lo),
        sy(lo),
        sx(1.0),
        sy(1.0)
    ));
    out.push_str(&format!(
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">false-positive rate (log)</text>"#,
        left + pw / 2.0,
        h - 6.0
    ));
    out.push_str(&format!(r#"<text x="14" y="{0}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {0})">true-positive rate (log)</text>"#, top + ph / 2.0));
    plot_series(&mut out, series, &sx, &sy, left + pw, top, false);
    out.push_str("</svg>");
    out
}

/// Each series as a line (with a marker and tooltip per point when `markers`), and its
/// legend entry right of the plot, which ends at `plot_right`.
fn plot_series(
    out: &mut String,
    series: &[Series],
    sx: &dyn Fn(f64) -> f64,
    sy: &dyn Fn(f64) -> f64,
    plot_right: f64,
    top: f64,
    markers: bool,
) {
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        out.push_str(&format!(
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            pts.join(" "),
            esc(&s.label)
        ));
        if markers {
            for (x, y) in &s.points {
                out.push_str(&format!(r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{}: {:.3} at {:.3}</title></circle>"#, sx(*x), sy(*y), esc(&s.label), y, x));
            }
        }
        let ly = top + 14.0 + 18.0 * i as f64;
        out.push_str(&format!(
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}" font-size="11">{}</text>"#,
            plot_right + 10.0,
            plot_right + 28.0,
            plot_right + 32.0,
            ly + 4.0,
            esc(&s.label)
        ));
    }
}

/// A grey-scale image (values in [lo, hi]) as SVG cells.
pub fn image(
    pixels: &[f32],
    height: usize,
    width: usize,
    lo: f32,
    hi: f32,
    cell: f64,
    caption: &str,
) -> String {
    let (w, h) = (width as f64 * cell, height as f64 * cell + 16.0);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}">"#
    );
    for r in 0..height {
        for c in 0..width {
            let v = pixels.get(r * width + c).copied().unwrap_or(0.0);
            let t = ((v - lo) / (hi - lo).max(1e-9)).clamp(0.0, 1.0);
            // Ink is dark: high values are drawn black, as digits are usually shown.
            let g = (255.0 * (1.0 - t)).round() as u8;
            out.push_str(&format!(
                r#"<rect x="{}" y="{}" width="{cell}" height="{cell}" fill="rgb({g},{g},{g})"/>"#,
                c as f64 * cell,
                r as f64 * cell
            ));
        }
    }
    out.push_str(&format!(
        r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text></svg>"#,
        w / 2.0,
        h - 3.0,
        esc(caption)
    ));
    out
}

/// A signed perturbation (blue negative, red positive) scaled to ±`scale`.
pub fn perturbation(
    delta: &[f32],
    height: usize,
    width: usize,
    scale: f32,
    cell: f64,
    caption: &str,
) -> String {
    let (w, h) = (width as f64 * cell, height as f64 * cell + 16.0);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}">"#
    );
    for r in 0..height {
        for c in 0..width {
            let v = (delta.get(r * width + c).copied().unwrap_or(0.0) / scale.max(1e-9))
                .clamp(-1.0, 1.0);
            let (red, green, blue) = if v >= 0.0 {
                (255, (255.0 * (1.0 - v)) as u8, (255.0 * (1.0 - v)) as u8)
            } else {
                ((255.0 * (1.0 + v)) as u8, (255.0 * (1.0 + v)) as u8, 255)
            };
            out.push_str(&format!(r#"<rect x="{}" y="{}" width="{cell}" height="{cell}" fill="rgb({red},{green},{blue})"/>"#, c as f64 * cell, r as f64 * cell));
        }
    }
    out.push_str(&format!(
        r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text></svg>"#,
        w / 2.0,
        h - 3.0,
        esc(caption)
    ));
    out
}

/// Horizontal bars of fractions in [0, 1], one per `(label, value)`, with the value printed.
pub fn bars(title: &str, items: &[(String, f64)]) -> String {
    let (left, top, bar_h, gap, width) = (190.0, 30.0, 18.0, 8.0, 260.0);
    let height = top + items.len() as f64 * (bar_h + gap) + 10.0;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif"><text x="4" y="16" font-size="13" font-weight="bold">{}</text>"#,
        left + width + 70.0,
        esc(title)
    );
    for (i, (label, value)) in items.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        let w = width * value.clamp(0.0, 1.0);
        out.push_str(&format!(
            r##"<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text><rect x="{left}" y="{y}" width="{width}" height="{bar_h}" fill="#eee"/><rect x="{left}" y="{y}" width="{w:.1}" height="{bar_h}" fill="#c0392b"/><text x="{}" y="{}" font-size="11">{:.1}%</text>"##,
            left - 6.0,
            y + bar_h - 5.0,
            esc(label),
            left + width + 6.0,
            y + bar_h - 5.0,
            100.0 * value
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_plots_every_point_and_escapes_labels() {
        let s = vec![Series {
            label: "PGD <baseline>".into(),
            points: vec![(0.0, 1.0), (0.1, 0.2), (0.2, 0.0)],
        }];
        let svg = line_chart("acc", "ε", "accuracy", &s);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("PGD &lt;baseline&gt;"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn value_axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.68), 0.8);
        assert_eq!(nice_ceiling(2.72), 4.0);
        assert_eq!(nice_ceiling(1438.0), 2000.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(2.3), 2.5);
    }

    #[test]
    fn image_has_one_cell_per_pixel() {
        let svg = image(&[0.0, 1.0, 0.5, 0.25], 2, 2, 0.0, 1.0, 10.0, "x");
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("rgb(0,0,0)") && svg.contains("rgb(255,255,255)"));
    }

    #[test]
    fn roc_axes_reach_down_to_one_non_member() {
        let s = vec![Series {
            label: "LiRA <16>".into(),
            points: vec![(0.0, 0.0), (0.0004, 0.1), (0.01, 0.25), (1.0, 1.0)],
        }];
        let svg = roc_log_log("ROC", &s, 1.0 / 2500.0);
        // 2,500 non-members: four decades, 0.01% to 100%.
        assert!(svg.contains(">0.01%<") && svg.contains(">100%<") && !svg.contains(">0.001%<"));
        assert!(svg.contains("LiRA &lt;16&gt;"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn bars_print_their_values() {
        let svg = super::bars("t", &[("a".into(), 0.5), ("b<".into(), 1.0)]);
        assert!(svg.contains("50.0%") && svg.contains("100.0%") && svg.contains("b&lt;"));
    }
}
