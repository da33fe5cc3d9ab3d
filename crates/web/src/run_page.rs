//! One stored run's page: its findings linked to their ATLAS pages, then the same tables and
//! charts the HTML report draws (metrics beside the defended run's, settings, every curve in
//! its observations), drawn by `aisec_report::run_view` from the stored JSON.

use std::sync::Arc;

use aisec_store::RunFilter;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use maud::{html, Markup};

use crate::pages::{heat_class_of, layout, Page};
use crate::{AppState, PageError};

/// Run objects larger than this are linked rather than shown in the page (the demo's is
/// 600 KiB, which would make its page slow to open).
const EMBEDDED_JSON_LIMIT: usize = 64 * 1024;

pub async fn run(State(s): State<Arc<AppState>>, Path(id): Path<i64>) -> Page {
    let stored = s
        .store()?
        .get(id)
        .map_err(PageError::internal)?
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, format!("no run {id}")))?;
    let r = &stored.report;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let findings = r["findings"].as_array().cloned().unwrap_or_default();
    let sections = aisec_report::run_view::sections(r);
    let pretty = serde_json::to_string_pretty(r).unwrap_or_default();
    let others = s
        .store()?
        .list(&RunFilter {
            target: Some(stored.summary.target.clone()),
            limit: 20,
            ..RunFilter::default()
        })
        .map_err(PageError::internal)?;
    Ok(layout(
        &format!("Run {id}"),
        html! {
            p.kind { "run #" (id) " · " (stored.summary.stored_at) }
            h1 { (stored.summary.name) }
            dl {
                dt { "Target" } dd { (stored.summary.target) }
                dt { "Data" } dd { (text(&r["data"])) }
                dt { "Techniques" } dd { @for t in &stored.summary.techniques { a href={"/objects/" (t)} { (t) } " " } }
            }
            @for section in sections.iter().take(1) { (report_section(section)) }
            h2 { "Findings" }
            @if findings.is_empty() { p.muted { "No findings." } }
            @for f in &findings {
                article.finding {
                    h3 { span.(severity_class(&f["severity"])) { (text(&f["severity"])) } " " (text(&f["title"])) }
                    p { "ATLAS: " @for a in f["atlas"].as_array().into_iter().flatten() { a href={"/objects/" (text(a))} { (text(a)) } " " } }
                    @if let Some(ms) = f["mitigations"].as_array().filter(|m| !m.is_empty()) {
                        p { "Mitigations: " @for m in ms { a href={"/objects/" (text(&m["id"]))} { (text(&m["id"])) } " (" (m["phases"].as_array().into_iter().flatten().map(|p| p.as_str().unwrap_or("")).collect::<Vec<_>>().join("; ")) ") " } }
                    }
                }
            }
            @for section in sections.iter().skip(1) { (report_section(section)) }
            @if others.iter().any(|o| o.id != id) {
                h2 { "Compare with another run of this target" }
                ul { @for o in others.iter().filter(|o| o.id != id) {
                    li { a href={"/runs/compare?a=" (o.id.min(id)) "&b=" (o.id.max(id))} { "#" (o.id) " " (crate::pages::listed(&o.name)) " (" (o.stored_at) ")" } }
                } }
            }
            @if pretty.len() <= EMBEDDED_JSON_LIMIT {
                details { summary { "The run object (JSON)" } pre { (pretty) } }
            } @else {
                p { a href={"/api/runs/" (id)} { "The run object (JSON, " (pretty.len() / 1024) " KiB)" } }
            }
        },
    ))
}

/// A section of the run's report, drawn with the HTML report's own blocks.
fn report_section(section: &aisec_report::html::Section) -> Markup {
    html! {
        section.report {
            h2 { (section.heading) }
            @for b in &section.blocks { (aisec_report::html::block(b)) }
        }
    }
}

fn severity_class(v: &serde_json::Value) -> &'static str {
    heat_class_of(serde_json::from_value(v.clone()).ok())
}

#[cfg(test)]
mod tests {
    use crate::tests::{app, block_on};
    use axum::http::StatusCode;

    /// A membership run measured behind DP-SGD, as `aisec attack membership --defend` stores it.
    fn defended_membership_run() -> serde_json::Value {
        let roc: Vec<serde_json::Value> = (0..=50)
            .map(|i| serde_json::json!({"fpr": f64::from(i) / 50.0, "tpr": (f64::from(i) / 50.0).sqrt()}))
            .collect();
        serde_json::json!({
            "kind": "attack", "name": "membership.lira", "atlas": ["AML.T0024.000"],
            "target": "purchase mlp", "config": {"shadow_models": 16}, "seed": 3,
            "metrics": {"auc": 0.81, "tpr_at_1pct_fpr": 0.2},
            "observations": {"members": 500, "non_members": 500, "roc": roc},
            "findings": [],
            "defended": {"kind": "attack", "name": "membership.lira", "atlas": ["AML.T0024.000"],
                "target": "purchase mlp, DP-SGD", "config": {}, "seed": 3,
                "metrics": {"auc": 0.53, "tpr_at_1pct_fpr": 0.011}, "findings": [],
                "defense": {"name": "defense.dp-sgd", "mitigations": ["AML.M0003"],
                    "phases": ["ML Model Engineering"], "settings": {"epsilon": 8.0}}}
        })
    }

    #[test]
    fn a_run_page_draws_the_reports_tables_and_charts() {
        block_on(async {
            let app = app();
            let id = app.store(defended_membership_run());
            let (status, _, page) = app.get(&format!("/runs/{id}")).await;
            assert_eq!(status, StatusCode::OK);
            assert!(
                page.contains("<th>This run</th><th>Behind the defence</th>"),
                "metrics before and after the defence side by side"
            );
            assert!(page.contains("<td>auc</td><td>0.81</td><td>0.53</td>"));
            assert!(
                page.contains("<svg") && page.contains("aria-label=\"roc\""),
                "the ROC curve is drawn"
            );
            assert!(page.contains("defense.dp-sgd") && page.contains("AML.M0003"));
            assert!(
                page.contains("The run object (JSON)"),
                "a small run object is shown inline"
            );
        });
    }

    #[test]
    fn a_large_run_object_is_linked_not_inlined() {
        block_on(async {
            let app = app();
            let mut run = defended_membership_run();
            run["observations"]["padding"] = serde_json::json!("x".repeat(100 * 1024));
            let id = app.store(run);
            let (_, _, page) = app.get(&format!("/runs/{id}")).await;
            assert!(page.contains(&format!("href=\"/api/runs/{id}\"")));
            assert!(
                page.len() < 100 * 1024,
                "the page stays small: {} bytes",
                page.len()
            );
        });
    }
}
