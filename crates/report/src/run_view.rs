//! A stored run object drawn as report sections — metrics (before and after a defence), the
//! settings, and every curve and table in its observations — from the JSON alone, so a run
//! written by any family (or imported with `aisec runs add`) shows its figures the way the
//! HTML report does. Charts are drawn here from numbers; no markup from the run is trusted.

use crate::html::{Block, Section};
use crate::{svg, Series};
use serde_json::{Map, Value};

/// Sections past this many are summarised: a hostile or huge run must not make a huge page.
const MAX_SECTIONS: usize = 48;
const MAX_ROWS: usize = 200;
const MAX_COLUMNS: usize = 10;
const MAX_POINTS: usize = 2_000;
/// Characters of one text value shown; the run object has the rest.
const MAX_TEXT: usize = 2_000;
/// Charts on one page, and curves in one chart (a legend past a dozen is unreadable).
const MAX_CHARTS: usize = 24;
const MAX_SERIES: usize = 12;
/// Characters of a curve's name in a legend (the legend is a fixed width).
const MAX_LEGEND: usize = 34;
/// Characters of one table cell.
const MAX_CELL: usize = 300;
/// Values a chart can draw: past this the axis labels stop meaning anything.
const MAX_PLOTTED: f64 = 1e12;
/// Nesting followed into observations (objects inside objects); deeper values are summarised.
const MAX_DEPTH: usize = 8;
/// Nested run objects followed (the demo holds runs that hold defended runs).
const MAX_RUN_DEPTH: usize = 3;

/// The sections describing `run` beyond its own findings: its metrics (side by side with the
/// defended and adaptive runs when it has them), settings, defence, observations, and each
/// run object nested in its observations as a section of its own.
pub fn sections(run: &Value) -> Vec<Section> {
    let mut view = View::default();
    view.run(run, None, 0);
    if view.dropped > 0 {
        view.sections.push(Section {
            heading: "Not shown".into(),
            blocks: vec![Block::Paragraph(format!(
                "{} more part{} of this run (past the first {MAX_SECTIONS} sections, or runs nested more than {MAX_RUN_DEPTH} deep); the run object has everything.",
                view.dropped,
                if view.dropped == 1 { "" } else { "s" }
            ))],
        });
    }
    if view.charts > MAX_CHARTS {
        view.sections.push(Section {
            heading: "Charts not drawn".into(),
            blocks: vec![Block::Paragraph(format!(
                "{} curves past the first {MAX_CHARTS} charts are not drawn.",
                view.charts - MAX_CHARTS
            ))],
        });
    }
    view.sections
}

#[derive(Default)]
struct View {
    sections: Vec<Section>,
    dropped: usize,
    charts: usize,
}

/// `run` and the runs nested in its observations, however deep (bounded by [`MAX_DEPTH`]
/// levels of nesting per run).
fn count_runs(run: &Value, depth: usize) -> usize {
    fn within(v: &Value, depth: usize) -> usize {
        if depth > MAX_DEPTH {
            return 0;
        }
        match v {
            // Each run's own nesting is bounded anew; the parser bounds the whole (128 levels).
            Value::Object(_) if is_run(v) => count_runs(v, 0),
            Value::Object(m) => m.values().map(|x| within(x, depth + 1)).sum(),
            Value::Array(a) => a.iter().map(|x| within(x, depth + 1)).sum(),
            _ => 0,
        }
    }
    1 + run.get("observations").map_or(0, |o| within(o, depth + 1))
}

/// Whether a value is a run object (the shared shape every command writes).
fn is_run(v: &Value) -> bool {
    v.get("kind").is_some_and(Value::is_string)
        && v.get("name").is_some_and(Value::is_string)
        && v.get("metrics").is_some_and(Value::is_object)
}

impl View {
    fn push(&mut self, heading: String, blocks: Vec<Block>) {
        if blocks.is_empty() {
            return;
        }
        if self.sections.len() >= MAX_SECTIONS {
            self.dropped += 1;
        } else {
            self.sections.push(Section { heading, blocks });
        }
    }

    /// A run: the top-level one as sections (metrics, settings, defence, observations), a
    /// nested one (`nested_in` names its parent) as one section holding the same blocks.
    fn run(&mut self, run: &Value, nested_in: Option<&str>, depth: usize) {
        let name = text(&run["name"]);
        let mut parts: Vec<(String, Vec<Block>)> =
            vec![("Metrics".into(), vec![metrics_table(run)])];
        if nested_in.is_some() {
            let findings: Vec<Vec<String>> = run["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .take(MAX_ROWS)
                .map(|f| vec![text(&f["severity"]), text(&f["title"])])
                .collect();
            if !findings.is_empty() {
                parts.push((
                    "Findings".into(),
                    vec![Block::Table {
                        headers: vec!["Severity".into(), "Finding".into()],
                        rows: findings,
                    }],
                ));
            }
        }
        let mut settings = Vec::new();
        flatten(&run["config"], "", &mut settings, 0);
        if !settings.is_empty() {
            parts.push(("Settings".into(), vec![facts_table(settings)]));
        }
        if let Some(defense) = run.get("defense").filter(|d| d.is_object()) {
            parts.push(("Defence".into(), defense_blocks(defense)));
        }
        let mut nested = Vec::new();
        if let Some(obs) = run.get("observations").filter(|o| !o.is_null()) {
            parts.push((
                "Observations".into(),
                observations(obs, &mut nested, &mut self.charts),
            ));
        }
        for key in ["defended", "adaptive"] {
            if let Some(other) = run.get(key).filter(|v| is_run(v)) {
                // Their metrics already stand beside this run's; what remains is what they
                // observed and which defence they ran behind.
                if let Some(defense) = other.get("defense").filter(|d| d.is_object()) {
                    parts.push((
                        format!("{} run: defence", label(key)),
                        defense_blocks(defense),
                    ));
                }
                if let Some(obs) = other.get("observations").filter(|o| !o.is_null()) {
                    let mut ignored = Vec::new();
                    parts.push((
                        format!("{} run: observations", label(key)),
                        observations(obs, &mut ignored, &mut self.charts),
                    ));
                }
            }
        }
        match nested_in {
            None => {
                for (heading, blocks) in parts {
                    self.push(heading, blocks);
                }
            }
            Some(_) => {
                let heading = match run["target"].as_str() {
                    Some(t) if !t.is_empty() => format!("{name} on {t}"),
                    _ => name.clone(),
                };
                let blocks = parts
                    .into_iter()
                    .filter(|(_, b)| !b.is_empty())
                    .flat_map(|(h, b)| std::iter::once(Block::Subheading(h)).chain(b))
                    .collect();
                self.push(heading, blocks);
            }
        }
        for nested_run in nested {
            if depth + 1 < MAX_RUN_DEPTH {
                self.run(nested_run, Some(&name), depth + 1);
            } else {
                self.dropped += count_runs(nested_run, 0);
            }
        }
    }
}

/// The observations as blocks: scalar facts in one table, then each curve and each table
/// found in them. Nested run objects are collected into `nested` to get sections of their own.
fn observations<'a>(obs: &'a Value, nested: &mut Vec<&'a Value>, charts: &mut usize) -> Vec<Block> {
    let mut facts = Vec::new();
    let mut blocks = Vec::new();
    walk(
        obs,
        "",
        &mut Walk {
            facts: &mut facts,
            blocks: &mut blocks,
            nested,
            charts,
        },
        0,
    );
    if !facts.is_empty() {
        blocks.insert(0, facts_table(facts));
    }
    blocks
}

fn label(key: &str) -> &'static str {
    match key {
        "defended" => "Defended",
        _ => "Adaptive",
    }
}

fn defense_blocks(defense: &Value) -> Vec<Block> {
    let mut rows = vec![
        ("name".to_string(), text(&defense["name"])),
        ("mitigations".to_string(), joined(&defense["mitigations"])),
        ("lifecycle phases".to_string(), joined(&defense["phases"])),
    ];
    flatten(&defense["settings"], "settings", &mut rows, 0);
    flatten(&defense["observed"], "observed", &mut rows, 0);
    vec![facts_table(rows)]
}

/// This run's metrics, with the defended and adaptive runs' figures beside them.
fn metrics_table(run: &Value) -> Block {
    let mut columns: Vec<(&str, &Map<String, Value>)> = Vec::new();
    let empty = Map::new();
    columns.push(("This run", run["metrics"].as_object().unwrap_or(&empty)));
    for (key, head) in [
        ("defended", "Behind the defence"),
        ("adaptive", "Adaptive attack"),
    ] {
        if let Some(m) = run.get(key).and_then(|d| d["metrics"].as_object()) {
            columns.push((head, m));
        }
    }
    let mut names: Vec<&String> = Vec::new();
    for (_, m) in &columns {
        for k in m.keys() {
            if !names.contains(&k) {
                names.push(k);
            }
        }
    }
    let mut headers = vec!["Metric".to_string()];
    headers.extend(columns.iter().map(|(h, _)| h.to_string()));
    let rows = names
        .into_iter()
        .take(MAX_ROWS)
        .map(|k| {
            let mut row = vec![k.clone()];
            row.extend(
                columns
                    .iter()
                    .map(|(_, m)| m.get(k).map(scalar).unwrap_or_else(|| "—".into())),
            );
            row
        })
        .collect();
    Block::Table { headers, rows }
}

fn facts_table(rows: Vec<(String, String)>) -> Block {
    let total = rows.len();
    let mut rows: Vec<Vec<String>> = rows
        .into_iter()
        .take(MAX_ROWS)
        .map(|(k, v)| vec![k, v])
        .collect();
    if total > MAX_ROWS {
        rows.push(vec!["…".into(), format!("{} more", total - MAX_ROWS)]);
    }
    Block::Table {
        headers: vec!["".into(), "Value".into()],
        rows,
    }
}

/// Every scalar under `v` as (dotted path, value); arrays of scalars joined.
fn flatten(v: &Value, path: &str, out: &mut Vec<(String, String)>, depth: usize) {
    match v {
        Value::Null => {}
        Value::Object(m) => {
            for (k, x) in m {
                let p = join_path(path, k);
                if depth >= MAX_DEPTH {
                    out.push((p, "(nested too deep to show)".into()));
                } else {
                    flatten(x, &p, out, depth + 1);
                }
            }
        }
        Value::Array(items) if items.iter().all(is_scalar) => {
            out.push((path.to_string(), joined(v)));
        }
        Value::Array(items) => out.push((path.to_string(), format!("{} entries", items.len()))),
        _ => out.push((path.to_string(), scalar(v))),
    }
}

/// Where a walk through the observations puts what it finds.
struct Walk<'w, 'a> {
    facts: &'w mut Vec<(String, String)>,
    blocks: &'w mut Vec<Block>,
    nested: &'w mut Vec<&'a Value>,
    charts: &'w mut usize,
}

fn walk<'a>(v: &'a Value, path: &str, out: &mut Walk<'_, 'a>, depth: usize) {
    if depth > MAX_DEPTH {
        out.facts
            .push((path.to_string(), "(nested too deep to show)".into()));
        return;
    }
    match v {
        Value::Null => {}
        Value::Object(_) if is_run(v) && !path.is_empty() => out.nested.push(v),
        Value::Object(m) => {
            for (k, x) in m {
                walk(x, &join_path(path, k), out, depth + 1);
            }
        }
        Value::Array(items) if items.iter().any(is_run) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), out, depth + 1);
            }
        }
        Value::Array(items) => array(path, items, out),
        _ => out.facts.push((path.to_string(), scalar(v))),
    }
}

/// An array in the observations: a chart where it is a curve, a table where it is records,
/// one joined fact where it is scalars.
fn array(path: &str, items: &[Value], out: &mut Walk<'_, '_>) {
    if items.is_empty() {
        return;
    }
    if items.iter().all(is_scalar) {
        out.facts.push((path.to_string(), joined_items(items)));
        return;
    }
    let title = humanise(path);
    let last = path.rsplit(['.', ']']).next().unwrap_or(path);
    let (x_label, y_label) = axes(last);
    // Past the page's chart budget a curve is counted, not drawn.
    let draw = |svg: Option<String>, out: &mut Walk<'_, '_>| -> bool {
        let Some(svg) = svg else { return false };
        *out.charts += 1;
        if *out.charts <= MAX_CHARTS {
            out.blocks.push(Block::Svg(svg));
        }
        true
    };
    if let Some(series) = series_list(items) {
        if draw(chart(&title, x_label, y_label, &series), out) {
            return;
        }
    }
    if let Some(points) = pairs(items) {
        if last.to_ascii_lowercase().contains("roc") {
            if !draw(roc(&title, points), out) {
                out.facts.push((
                    path.to_string(),
                    format!("{} points, not rates in [0, 1]", items.len()),
                ));
            }
            return;
        }
        let series = vec![Series {
            label: title.clone(),
            points,
        }];
        if draw(chart(&title, x_label, y_label, &series), out) {
            return;
        }
    }
    // Records: a table, and a chart of their numeric columns when the first one rises.
    let columns = record_columns(items);
    if columns.is_empty() {
        out.facts
            .push((path.to_string(), format!("{} entries", items.len())));
        return;
    }
    let numeric: Vec<&String> = columns
        .iter()
        .filter(|c| {
            items
                .iter()
                .all(|r| r.get(c.as_str()).is_some_and(Value::is_number))
        })
        .collect();
    let is_roc = last.to_ascii_lowercase().contains("roc");
    if is_roc && numeric.iter().any(|c| *c == "fpr") {
        let points = items
            .iter()
            .filter_map(|r| Some((r["fpr"].as_f64()?, r.get("tpr")?.as_f64()?)))
            .collect();
        draw(roc(&title, points), out);
    }
    // A ROC that is not one (rates outside [0, 1]) gets its table, not another kind of chart.
    if !is_roc && items.len() >= 3 && numeric.len() >= 2 {
        let x = numeric[0];
        let xs: Vec<f64> = items
            .iter()
            .filter_map(|r| r[x.as_str()].as_f64())
            .collect();
        if xs.windows(2).all(|w| w[0] <= w[1]) && xs[0] >= 0.0 {
            let series: Vec<Series> = numeric[1..]
                .iter()
                .map(|c| Series {
                    label: c.replace('_', " "),
                    points: items
                        .iter()
                        .filter_map(|r| Some((r[x.as_str()].as_f64()?, r[c.as_str()].as_f64()?)))
                        .collect(),
                })
                .collect();
            draw(chart(&title, &x.replace('_', " "), "", &series), out);
        }
    }
    let mut rows: Vec<Vec<String>> = items
        .iter()
        .take(MAX_ROWS)
        .map(|r| {
            columns
                .iter()
                .map(|c| match r.get(c.as_str()) {
                    Some(v) if is_scalar(v) => short(&scalar(v), MAX_CELL),
                    Some(Value::Array(a)) if a.iter().all(is_scalar) => {
                        short(&joined(&r[c.as_str()]), MAX_CELL)
                    }
                    Some(Value::Null) | None => "—".into(),
                    Some(other) => {
                        let mut inner = Vec::new();
                        flatten(other, "", &mut inner, MAX_DEPTH - 2);
                        let text = inner
                            .iter()
                            .map(|(k, v)| format!("{k}: {v}"))
                            .collect::<Vec<_>>()
                            .join("; ");
                        short(&text, MAX_CELL)
                    }
                })
                .collect()
        })
        .collect();
    if items.len() > MAX_ROWS {
        rows.push(vec![format!("… {} more", items.len() - MAX_ROWS)]);
    }
    out.blocks.push(Block::Paragraph(title));
    out.blocks.push(Block::Table {
        headers: columns.iter().map(|c| c.replace('_', " ")).collect(),
        rows,
    });
}

/// The keys of an array of objects, in first-seen order, at most [`MAX_COLUMNS`].
fn record_columns(items: &[Value]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for m in items.iter().filter_map(Value::as_object) {
        for k in m.keys() {
            if columns.len() < MAX_COLUMNS && !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    columns
}

/// `[{label, points: [[x, y], …]}, …]`, the shape of the report's own curves.
fn series_list(items: &[Value]) -> Option<Vec<Series>> {
    items
        .iter()
        .map(|s| {
            Some(Series {
                label: short(
                    s.get("label").or_else(|| s.get("name"))?.as_str()?,
                    MAX_LEGEND,
                ),
                points: pairs(s.get("points")?.as_array()?)?,
            })
        })
        .collect()
}

/// Axis names for the curves aisec's reports write, by their field's name.
fn axes(field: &str) -> (&'static str, &'static str) {
    match field {
        "robustness_curves" => ("ε", "robust accuracy"),
        "hopskipjump_curves" | "median_distance_by_queries" => {
            ("queries per input", "median distance")
        }
        "fidelity_curves" | "fidelity_by_queries" => ("queries", "fidelity"),
        _ => ("", ""),
    }
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let head: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

/// `[[x, y], …]`.
fn pairs(items: &[Value]) -> Option<Vec<(f64, f64)>> {
    items
        .iter()
        .map(|p| match p.as_array()?.as_slice() {
            [x, y] => Some((x.as_f64()?, y.as_f64()?)),
            _ => None,
        })
        .collect()
}

/// A line chart, or none where the x values are negative (the charts start at 0) or there is
/// nothing to draw. Fractions get a percentage axis, other values one up to their largest.
fn chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Option<String> {
    let series: Vec<Series> = series
        .iter()
        .take(MAX_SERIES)
        .map(|s| Series {
            label: s.label.clone(),
            points: thin(&s.points),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let all = || series.iter().flat_map(|s| s.points.iter());
    let drawable = |p: &(f64, f64)| {
        (0.0..=MAX_PLOTTED).contains(&p.0) && p.1.is_finite() && p.1.abs() <= MAX_PLOTTED
    };
    if series.is_empty() || !all().all(drawable) || all().count() < 2 {
        return None;
    }
    Some(if all().all(|p| (0.0..=1.0).contains(&p.1)) {
        svg::line_chart(title, x_label, y_label, &series)
    } else if all().all(|p| p.1 >= 0.0) {
        svg::line_chart_values(title, x_label, y_label, &series)
    } else {
        return None;
    })
}

/// A ROC curve on log–log axes, or none unless every rate lies in [0, 1] and there are two
/// points to join.
fn roc(title: &str, points: Vec<(f64, f64)>) -> Option<String> {
    let rate = |v: f64| (0.0..=1.0).contains(&v);
    if points.len() < 2 || !points.iter().all(|p| rate(p.0) && rate(p.1)) {
        return None;
    }
    let points = thin(&points);
    let floor = points
        .iter()
        .map(|p| p.0)
        .filter(|x| *x > 0.0)
        .fold(1.0f64, f64::min);
    Some(svg::roc_log_log(
        title,
        &[Series {
            label: "ROC".into(),
            points,
        }],
        floor,
    ))
}

/// At most [`MAX_POINTS`] evenly spaced points, the last kept.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let step = points.len().div_ceil(MAX_POINTS);
    let mut out: Vec<_> = points.iter().step_by(step).copied().collect();
    if let Some(last) = points.last() {
        out.push(*last);
    }
    out
}

fn is_scalar(v: &Value) -> bool {
    !(v.is_array() || v.is_object())
}

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// "detection.non_adaptive.roc" → "detection non adaptive roc".
fn humanise(path: &str) -> String {
    path.replace(['.', '_'], " ")
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_default()
}

fn joined(v: &Value) -> String {
    match v {
        Value::Array(items) => joined_items(items),
        other => scalar(other),
    }
}

fn joined_items(items: &[Value]) -> String {
    const SHOWN: usize = 24;
    let mut s = items
        .iter()
        .take(SHOWN)
        .map(scalar)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(", … ({} in all)", items.len()));
    }
    s
}

/// A measured figure as the run pages print it: whole numbers whole, fractions and measures
/// to four decimals (trailing zeros dropped), the very large and very small in e-notation.
pub fn number(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{f:.0}");
    }
    if f.abs() >= 1e-3 && f.abs() < 1e6 {
        let s = format!("{f:.4}");
        return s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{f:.3e}")
}

/// A scalar as the reports print it: fractions and measures to four significant places.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > MAX_TEXT => {
            let head: String = s.chars().take(MAX_TEXT).collect();
            format!("{head}… ({} characters in all)", s.chars().count())
        }
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => number(f),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn html(run: &Value) -> String {
        sections(run)
            .iter()
            .map(|s| {
                let body: String = s
                    .blocks
                    .iter()
                    .map(|b| crate::html::block(b).into_string())
                    .collect();
                format!("<h2>{}</h2>{body}", s.heading)
            })
            .collect()
    }

    #[test]
    fn metrics_stand_beside_the_defended_run_and_curves_become_charts() {
        let run = json!({
            "kind": "attack", "name": "membership.lira", "target": "m", "seed": 1,
            "config": {"shadow_models": 16, "norm": "inf"},
            "metrics": {"auc": 0.71, "tpr_at_1pct_fpr": 0.12},
            "observations": {
                "members": 500,
                "roc": [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 0.01, "tpr": 0.12}, {"fpr": 1.0, "tpr": 1.0}],
                "median_distance_by_queries": [
                    {"queries": 100, "median_distance": 3.5},
                    {"queries": 200, "median_distance": 2.0},
                    {"queries": 400, "median_distance": 1.2}
                ]
            },
            "findings": [],
            "defended": {"kind": "attack", "name": "membership.lira", "target": "m, DP-SGD",
                "config": {}, "seed": 1, "metrics": {"auc": 0.52}, "findings": [],
                "defense": {"name": "defense.dp-sgd", "mitigations": ["AML.M0003"],
                    "phases": ["ML Model Engineering"], "settings": {"epsilon": 8.0}}}
        });
        let page = html(&run);
        assert!(page.contains("Behind the defence"), "{page}");
        assert!(page.contains("<td>0.71</td><td>0.52</td>"), "{page}");
        assert!(page.contains("<td>tpr_at_1pct_fpr</td><td>0.12</td><td>—</td>"));
        assert_eq!(
            page.matches("<svg").count(),
            2,
            "the ROC and the distance curve: {page}"
        );
        assert!(page.contains("defense.dp-sgd") && page.contains("settings.epsilon"));
        assert!(page.contains("<td>shadow_models</td><td>16</td>"));
    }

    #[test]
    fn nested_runs_get_sections_and_series_are_drawn() {
        let inner = json!({"kind": "attack", "name": "evasion.pgd", "target": "m", "config": {},
            "seed": 7, "metrics": {"robust_accuracy": 0.1},
            "findings": [{"severity": "high", "title": "PGD evades", "atlas": []}]});
        let run = json!({"kind": "assessment", "name": "demo", "target": "m", "config": {},
            "seed": 7, "metrics": {}, "findings": [],
            "observations": {"runs": [inner],
                "robustness_curves": [{"label": "PGD", "points": [[0.0, 0.98], [0.1, 0.6], [0.2, 0.02]]}]}});
        let page = html(&run);
        assert!(page.contains("<h2>evasion.pgd on m</h2>"), "{page}");
        assert!(page.contains("<h3>Metrics</h3>"), "{page}");
        assert!(page.contains("PGD evades"));
        assert_eq!(page.matches("<svg").count(), 1);
    }

    #[test]
    fn hostile_values_stay_text_and_bounded() {
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!({ "a": deep });
        }
        let rows: Vec<Value> = (0..5_000).map(|i| json!({"x": i, "y": -i})).collect();
        let run = json!({"kind": "attack", "name": "<script>x</script>", "target": "t",
            "config": {"<img src=x onerror=alert(1)>": "\"><svg onload=alert(1)>"},
            "seed": 0, "metrics": {"m": 1e308}, "findings": [],
            "observations": {"deep": deep, "rows": rows,
                "curve": [{"label": "<b>", "points": [[-1.0, 0.5], [2.0, 0.5]]}]}});
        let page = html(&run);
        assert!(!page.contains("<script") && !page.contains("<img") && !page.contains("<b>"));
        assert!(!page.contains("<svg onload"));
        assert!(page.contains("nested too deep"));
        assert!(page.contains("4800 more"), "rows capped");
        assert!(page.len() < 2_000_000);
    }

    #[test]
    fn what_cannot_be_drawn_honestly_is_not_drawn() {
        let run = json!({"kind": "attack", "name": "x", "target": "t", "config": {}, "seed": 0,
        "metrics": {}, "findings": [],
        "observations": {
            "roc": [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 0.5, "tpr": 2.0}, {"fpr": 3.0, "tpr": 1.0}],
            "curve": [{"label": "huge", "points": [[0.0, 0.0], [1.0, 1e308]]}],
            "single_roc": [[0.5, 0.5]]
        }});
        let page = html(&run);
        assert_eq!(page.matches("<svg").count(), 0, "{page}");
    }

    #[test]
    fn charts_and_curves_per_page_are_bounded() {
        let mut obs = serde_json::Map::new();
        for i in 0..100 {
            obs.insert(format!("c{i}_roc"), json!([[0.0, 0.0], [1.0, 1.0]]));
        }
        let many: Vec<Value> = (0..50)
            .map(|i| json!({"label": format!("series {i} with a very long name indeed, longer than a legend"), "points": [[0.0, 0.5], [1.0, 0.4]]}))
            .collect();
        obs.insert("robustness_curves".into(), Value::Array(many));
        let run = json!({"kind": "attack", "name": "x", "target": "t", "config": {}, "seed": 0,
            "metrics": {}, "findings": [], "observations": obs});
        let page = html(&run);
        assert_eq!(page.matches("<svg").count(), MAX_CHARTS, "charts capped");
        assert!(
            page.contains("77 curves past the first 24 charts"),
            "and counted"
        );
        assert!(!page.contains("series 12 "), "a dozen curves a chart");
        assert!(!page.contains("longer than a legend"), "legend names cut");
    }

    #[test]
    fn runs_nested_past_the_depth_are_counted_and_records_show_their_objects() {
        let mut run = json!({"kind": "attack", "name": "lvl20", "target": "t", "config": {},
            "seed": 0, "metrics": {}, "findings": []});
        for i in (0..20).rev() {
            run = json!({"kind": "attack", "name": format!("lvl{i}"), "target": "t", "config": {},
                "seed": 0, "metrics": {}, "findings": [], "observations": {"runs": [run]}});
        }
        run["observations"]["defenses"] = json!([{"name": "adv-train",
            "robust_accuracy_after": {"pgd eps=0.1": 0.85, "fgsm eps=0.1": 0.87}}]);
        let page = html(&run);
        assert!(page.contains("18 more parts of this run"), "{page}");
        assert!(
            page.contains("pgd eps=0.1: 0.85; fgsm eps=0.1: 0.87"),
            "{page}"
        );
    }
}
