//! Two stored runs side by side: before and after a defence, or the same attack over time.
//! Each metric of either run with both values and the change; the findings of each; the
//! techniques one exercised and the other did not.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use maud::html;
use serde::Deserialize;

use crate::pages::layout;
use crate::{AppState, PageError};

#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    pub a: i64,
    pub b: i64,
}

/// The figures of a run object, by metric name (numbers only).
fn metrics(run: &serde_json::Value) -> Vec<(String, f64)> {
    run["metrics"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// `b − a` with its sign; "—" where either is missing or the difference is not a number
/// (1e308 − (−1e308) overflows).
fn change(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(x), Some(y)) if (y - x).is_finite() => {
            let d = y - x;
            let text = aisec_report::run_view::number(d);
            if d >= 0.0 {
                format!("+{text}")
            } else {
                text
            }
        }
        _ => "—".into(),
    }
}

fn figure(v: Option<f64>) -> String {
    v.map_or_else(
        || aisec_core::NOT_MEASURED.to_string(),
        aisec_report::run_view::number,
    )
}

pub async fn compare(
    State(s): State<Arc<AppState>>,
    Query(q): Query<CompareQuery>,
) -> Result<Html<String>, PageError> {
    if q.a == q.b {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "a run compared with itself shows no change: choose two runs",
        ));
    }
    let store = s.store()?;
    let get = |id: i64| -> Result<aisec_store::StoredRun, PageError> {
        store
            .get(id)
            .map_err(PageError::internal)?
            .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, format!("no run {id}")))
    };
    let (a, b) = (get(q.a)?, get(q.b)?);
    let (ma, mb) = (metrics(&a.report), metrics(&b.report));
    let names: BTreeSet<&String> = ma.iter().chain(&mb).map(|(k, _)| k).collect();
    let value = |m: &[(String, f64)], k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let ta: BTreeSet<&String> = a.summary.techniques.iter().collect();
    let tb: BTreeSet<&String> = b.summary.techniques.iter().collect();
    let findings = |r: &serde_json::Value| -> Vec<(String, String)> {
        r["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                (
                    f["severity"].as_str().unwrap_or("").to_string(),
                    f["title"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let same_target = a.summary.target == b.summary.target;
    Ok(layout(
        &format!("Runs {} and {}", q.a, q.b),
        html! {
            h1 { "Run #" (q.a) " and run #" (q.b) }
            @if !same_target {
                p.error { "The runs are against different targets: the figures compare two systems, not one system over time." }
            }
            table.compare {
                thead { tr { th {} th { a href={"/runs/" (q.a)} { "#" (q.a) } } th { a href={"/runs/" (q.b)} { "#" (q.b) } } th { "change" } } }
                tbody {
                    tr { td { "name" } td { (a.summary.name) } td { (b.summary.name) } td {} }
                    tr { td { "target" } td { (a.summary.target) } td { (b.summary.target) } td {} }
                    tr { td { "stored" } td { (a.summary.stored_at) } td { (b.summary.stored_at) } td {} }
                    tr { td { "findings" } td.num { (a.summary.findings) } td.num { (b.summary.findings) } td.num { (format!("{:+}", b.summary.findings - a.summary.findings)) } }
                    @for k in &names {
                        @let (va, vb) = (value(&ma, k), value(&mb, k));
                        tr {
                            td { (k) }
                            td.num { (figure(va)) }
                            td.num { (figure(vb)) }
                            td.num { (change(va, vb)) }
                        }
                    }
                }
            }
            h2 { "Techniques" }
            p { "Only in #" (q.a) ": " @for t in ta.difference(&tb) { a href={"/objects/" (t)} { (t) } " " } }
            p { "Only in #" (q.b) ": " @for t in tb.difference(&ta) { a href={"/objects/" (t)} { (t) } " " } }
            p { "In both: " @for t in ta.intersection(&tb) { a href={"/objects/" (t)} { (t) } " " } }
            div.columns {
                @for (id, r) in [(q.a, &a.report), (q.b, &b.report)] {
                    section {
                        h2 { "Findings of #" (id) }
                        ul { @for (sev, title) in findings(r) { li { strong { (sev) } " " (title) } } }
                    }
                }
            }
        },
    ))
}
