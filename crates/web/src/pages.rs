//! The HTML pages. Every piece of ATLAS or user text goes through maud, which escapes it;
//! no page carries script, and the only interactivity (expanding sub-techniques, filters)
//! is HTML's own (`<details>`, GET forms).

use std::collections::HashMap;
use std::sync::Arc;

use aisec_atlas::views::{
    Cell, MatrixView, MitigationsFilter, MitigationsView, ObjectDetails as Details, ShowView,
};
use aisec_atlas::KnowledgeBase;
use aisec_core::Severity;
use aisec_store::{RunFilter, RunSummary, TechniqueHeat};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, Redirect, Response};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use crate::{AppState, PageError};

pub(crate) type Page = Result<Html<String>, PageError>;

pub(crate) fn layout(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " — aisec" }
                    link rel="stylesheet" href="/assets/app.css";
                }
                body {
                    header {
                        a.brand href="/matrix" { "aisec" }
                        nav {
                            a href="/matrix" { "Matrix" }
                            a href="/mitigations" { "Mitigations" }
                            a href="/runs" { "Runs" }
                            a href="/threat-model" { "Threat model" }
                            a href="/casestudy/new" { "Case study" }
                            a href="/assessments" { "Assessments" }
                            a href="/api/openapi.json" { "API" }
                        }
                        form.search action="/search" method="get" {
                            input type="search" name="q" placeholder="Search ATLAS (typos are fine)" aria-label="Search ATLAS";
                            button type="submit" { "Search" }
                        }
                    }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    layout(
        status.canonical_reason().unwrap_or("error"),
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            p.error { (message) }
        },
    )
}

pub async fn home() -> Redirect {
    Redirect::to("/matrix")
}

#[derive(Debug, Deserialize)]
pub struct MatrixQuery {
    /// feasible | demonstrated | realized: hide techniques below it.
    pub maturity: Option<String>,
}

/// The heat per technique, and each parent's own worst over its sub-techniques.
pub(crate) fn heat_map(heat: Vec<TechniqueHeat>) -> HashMap<String, TechniqueHeat> {
    heat.into_iter().map(|h| (h.technique.clone(), h)).collect()
}

pub(crate) fn parse_maturity(
    text: Option<&str>,
) -> Result<Option<aisec_atlas::model::Maturity>, PageError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => aisec_atlas::model::Maturity::parse(t)
            .map(Some)
            .ok_or_else(|| {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    "maturity: expected feasible, demonstrated or realized",
                )
            }),
    }
}

pub async fn matrix(State(s): State<Arc<AppState>>, Query(q): Query<MatrixQuery>) -> Page {
    let min = parse_maturity(q.maturity.as_deref())?;
    let view = MatrixView::new(&s.kb, min);
    let heat = heat_map(s.store()?.heat().map_err(PageError::internal)?);
    let runs = s.store()?.count().map_err(PageError::internal)?;
    let selected = |m: &str| q.maturity.as_deref() == Some(m);
    Ok(layout(
        "ATLAS matrix",
        html! {
            h1 { "ATLAS " (view.atlas_version) " matrix" }
            p.lede {
                (view.technique_count) " techniques, " (view.subtechnique_count) " sub-techniques. "
                "Shaded cells carry findings from your " (runs) " stored runs (darker: worse); a number is the findings that name the technique."
            }
            form.filters action="/matrix" method="get" {
                label { "Maturity at least "
                    select name="maturity" {
                        option value="" selected[q.maturity.is_none()] { "any" }
                        @for m in ["feasible", "demonstrated", "realized"] {
                            option value=(m) selected[selected(m)] { (m) }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            div.matrix {
                @for column in &view.tactics {
                    section.tactic {
                        h2 { a href={"/objects/" (column.id)} { (column.name) } }
                        @for cell in &column.techniques {
                            (technique_cell(cell, &heat))
                        }
                    }
                }
            }
            (legend())
        },
    ))
}

/// A matrix cell's shade: its worst finding's, or "exercised" when runs named it without one.
fn heat_class(h: Option<&TechniqueHeat>) -> &'static str {
    match h {
        Some(h) if h.worst_severity.is_none() => "heat-run",
        Some(h) => heat_class_of(h.worst_severity),
        None => "",
    }
}

fn heat_title(h: Option<&TechniqueHeat>) -> String {
    match h {
        Some(h) => format!(
            "{} runs, {} findings, worst {}, last seen {}",
            h.runs,
            h.findings,
            h.worst_severity.map_or("none", |s| s.as_str()),
            h.last_seen
        ),
        None => "not exercised by a stored run".into(),
    }
}

fn cell_link(cell: &Cell, heat: &HashMap<String, TechniqueHeat>) -> Markup {
    let h = heat.get(&cell.id);
    html! {
        a.technique.(heat_class(h)) href={"/objects/" (cell.id)} title=(heat_title(h)) data-technique=(cell.id) {
            span.name { (cell.name) }
            @if let Some(h) = h.filter(|h| h.findings > 0) {
                span.count { (h.findings) }
            }
        }
    }
}

fn technique_cell(cell: &Cell, heat: &HashMap<String, TechniqueHeat>) -> Markup {
    if cell.subtechniques.is_empty() {
        return html! { div.cell { (cell_link(cell, heat)) } };
    }
    // Open when a sub-technique carries findings, so that the evidence is in view.
    let open = cell.subtechniques.iter().any(|s| heat.contains_key(&s.id));
    html! {
        details.cell open[open] {
            summary { (cell_link(cell, heat)) span.subcount { "+" (cell.subtechniques.len()) } }
            @for sub in &cell.subtechniques {
                div.sub { (cell_link(sub, heat)) }
            }
        }
    }
}

fn legend() -> Markup {
    html! {
        p.legend {
            "Worst finding: "
            @for (class, label) in [("heat-critical", "critical"), ("heat-high", "high"), ("heat-medium", "medium"), ("heat-low", "low"), ("heat-info", "info"), ("heat-run", "exercised, no finding")] {
                span.(class) { (label) } " "
            }
        }
    }
}

/// Longer than any ATLAS ID: such a request gets no near-miss search (its cost grows with
/// the length).
pub const MAX_ID_CHARS: usize = 64;

pub(crate) fn id_too_long(id: &str) -> Result<(), PageError> {
    if id.chars().count() > MAX_ID_CHARS {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            format!("not an ATLAS ID: at most {MAX_ID_CHARS} characters"),
        ));
    }
    Ok(())
}

pub async fn object(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Page {
    id_too_long(&id)?;
    let Ok(view) = ShowView::new(&s.kb, &id) else {
        let near = s.kb.nearest_ids(&id, 5);
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            if near.is_empty() {
                format!("{id} is not in ATLAS {}", s.kb.version)
            } else {
                format!(
                    "{id} is not in ATLAS {}; nearest: {}",
                    s.kb.version,
                    near.join(", ")
                )
            },
        ));
    };
    let runs = match &view.details {
        Details::Technique { .. } => s
            .store()?
            .list(&RunFilter {
                technique: Some(view.id.clone()),
                limit: 100,
                ..RunFilter::default()
            })
            .map_err(PageError::internal)?,
        _ => Vec::new(),
    };
    Ok(layout(&view.name, object_body(&s.kb, &view, &runs)))
}

fn object_body(kb: &KnowledgeBase, view: &ShowView, runs: &[RunSummary]) -> Markup {
    html! {
        p.kind { (view.id) }
        h1 { (view.name) }
        @if let Some(d) = &view.description {
            p.description { (d) }
        } @else if !kb.has_full_text() {
            p.muted { "Descriptions come with the full ATLAS data: start aisec serve with --atlas-data ATLAS.yaml." }
        }
        p { a href=(view.url) rel="noreferrer" { "On the ATLAS website" } }
        @match &view.details {
            Details::Tactic { techniques } => {
                h2 { "Techniques" }
                ul { @for t in techniques { li { a href={"/objects/" (t.id)} { (t.id) " " (t.name) } } } }
            }
            Details::Technique { maturity, tactics, parent, subtechniques, mitigations, case_studies } => {
                dl {
                    dt { "Maturity" } dd { (maturity.as_deref().unwrap_or("not stated")) }
                    dt { "Tactics" } dd { @for t in tactics { a href={"/objects/" (t.id)} { (t.name) } " " } }
                    @if let Some(p) = parent { dt { "Sub-technique of" } dd { a href={"/objects/" (p.id)} { (p.name) } } }
                }
                @if !subtechniques.is_empty() {
                    h2 { "Sub-techniques" }
                    ul { @for t in subtechniques { li { a href={"/objects/" (t.id)} { (t.id) " " (t.name) } } } }
                }
                h2 { "Mitigations by lifecycle phase" }
                @if mitigations.is_empty() { p.muted { "ATLAS links no mitigation to this technique." } }
                @for phase in aisec_atlas::model::LIFECYCLE_PHASES {
                    @let here: Vec<_> = mitigations.iter().filter(|m| m.phases.iter().any(|p| p == phase)).collect();
                    @if !here.is_empty() {
                        h3 { (phase) }
                        ul { @for m in here { li { a href={"/objects/" (m.id)} { (m.id) " " (m.name) } @if let Some(u) = &m.usage { " — " (u) } } } }
                    }
                }
                h2 { "Case studies" }
                @if case_studies.is_empty() { p.muted { "None in this ATLAS data." } }
                ul { @for c in case_studies { li { a href={"/objects/" (c.id)} { (c.id) " " (c.name) } } } }
                h2 { "Your runs that exercised it" }
                (runs_table(runs, NO_RUNS))
            }
            Details::Mitigation { categories, lifecycle_phases, techniques, frameworks } => {
                dl {
                    dt { "Categories" } dd { (categories.join(", ")) }
                    dt { "Lifecycle phases" } dd { (lifecycle_phases.join(", ")) }
                }
                h2 { "Techniques it addresses" }
                ul { @for t in techniques { li { a href={"/objects/" (t.id)} { (t.id) " " (t.name) } @if let Some(u) = &t.usage { " — " (u) } } } }
                @if !frameworks.is_empty() {
                    h2 { "Policy frameworks it serves" }
                    p.muted { "aisec's mapping (crates/atlas/data/frameworks.yaml), not the frameworks' own." }
                    ul {
                        @for r in frameworks {
                            li {
                                (aisec_atlas::frameworks::describe(&r.framework).map_or(r.framework.as_str(), |(name, _)| name))
                                " " strong { (r.item) } ": " (r.title) " — " (r.why)
                            }
                        }
                    }
                }
            }
            Details::CaseStudy { case_study_type, incident_date, target, actor, procedure, .. } => {
                dl {
                    dt { "Type" } dd { (case_study_type.as_deref().unwrap_or("not stated")) }
                    dt { "Incident date" } dd { (incident_date) }
                    @if let Some(t) = target { dt { "Target" } dd { (t) } }
                    @if let Some(a) = actor { dt { "Actor" } dd { (a) } }
                }
                h2 { "Procedure" }
                ol { @for step in procedure { li { a href={"/objects/" (step.tactic.id)} { (step.tactic.name) } ": " a href={"/objects/" (step.technique.id)} { (step.technique.name) } @if let Some(d) = &step.description { p { (d) } } } } }
            }
        }
    }
}

/// What the runs list says when it has nothing to show.
const NO_RUNS: &str = "No stored run. Run any attack or scan with --store, or aisec demo --store.";

/// Names and targets are shown to this many characters in lists (the run page has them whole).
const LISTED_TEXT: usize = 120;

pub(crate) fn listed(text: &str) -> String {
    aisec_report::run_view::short(text, LISTED_TEXT)
}

fn runs_table(runs: &[RunSummary], empty: &str) -> Markup {
    html! {
        @if runs.is_empty() {
            p.muted { (empty) }
        } @else {
            table.runs {
                thead { tr { th { "run" } th { "stored" } th { "name" } th { "target" } th { "findings" } th { "worst" } } }
                tbody {
                    @for r in runs {
                        tr {
                            td { a href={"/runs/" (r.id)} { "#" (r.id) } }
                            td { (r.stored_at) }
                            td { (listed(&r.name)) }
                            td { (listed(&r.target)) }
                            td.num { (r.findings) }
                            td { span.(heat_class_of(r.worst_severity)) { (r.worst_severity.map_or("none", |s| s.as_str())) } }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn heat_class_of(s: Option<Severity>) -> &'static str {
    match s {
        Some(Severity::Critical) => "heat-critical",
        Some(Severity::High) => "heat-high",
        Some(Severity::Medium) => "heat-medium",
        Some(Severity::Low) => "heat-low",
        Some(Severity::Info) => "heat-info",
        None => "",
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pub q: Option<String>,
}

/// Longest query the search takes (the index ranks words; a page of text is not a query).
pub const MAX_QUERY_CHARS: usize = 200;

pub async fn search(State(s): State<Arc<AppState>>, Query(q): Query<SearchQuery>) -> Page {
    let query = q.q.unwrap_or_default();
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            format!("q: at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let hits = s.kb.search_index().search(&s.kb, &query, 50);
    Ok(layout(
        "Search",
        html! {
            h1 { "Search: " (query) }
            @if hits.is_empty() { p.muted { "Nothing matches." } }
            ol.hits {
                @for h in &hits {
                    li {
                        a href={"/objects/" (s.kb.object_id(h.object))} { (s.kb.object_id(h.object)) " " (s.kb.object_name(h.object)) }
                        " " span.muted { (format!("{:?}", s.kb.object_kind(h.object)).to_lowercase()) }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct MitigationsQuery {
    pub phase: Option<String>,
    pub category: Option<String>,
}

pub async fn mitigations(
    State(s): State<Arc<AppState>>,
    Query(q): Query<MitigationsQuery>,
) -> Page {
    let filter = MitigationsFilter {
        phase: q.phase.filter(|p| !p.is_empty()),
        category: q.category.filter(|c| !c.is_empty()),
    };
    let view = MitigationsView::new(&s.kb, &filter)
        .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok(layout(
        "Mitigations",
        html! {
            h1 { "Mitigations" }
            form.filters action="/mitigations" method="get" {
                label { "Phase " select name="phase" {
                    option value="" { "any" }
                    @for p in aisec_atlas::model::LIFECYCLE_PHASES { option value=(p) selected[view.phase.as_deref() == Some(p)] { (p) } }
                } }
                label { "Category " select name="category" {
                    option value="" { "any" }
                    @for c in aisec_atlas::model::MITIGATION_CATEGORIES { option value=(c) selected[view.category.as_deref() == Some(c)] { (c) } }
                } }
                button type="submit" { "Filter" }
            }
            table.mitigations {
                thead { tr { th { "ID" } th { "Name" } th { "Phases" } th { "Category" } th { "Techniques" } } }
                tbody {
                    @for m in &view.mitigations {
                        tr {
                            td { a href={"/objects/" (m.id)} { (m.id) } }
                            td { (m.name) }
                            td { (m.lifecycle_phases.join(", ")) }
                            td { (m.categories.join(", ")) }
                            td.num { (m.techniques.len()) }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct RunsQuery {
    pub target: Option<String>,
    pub family: Option<String>,
    pub technique: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// At most this many (1 to 500; default 500).
    pub limit: Option<usize>,
    /// Skip this many of the newest first.
    pub offset: Option<usize>,
}

/// The most runs one page or one API answer lists.
pub const MAX_LISTED: usize = 500;

pub(crate) fn run_filter(q: RunsQuery) -> Result<RunFilter, PageError> {
    let nonempty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let date = |field: &str, v: Option<String>| -> Result<Option<String>, PageError> {
        match nonempty(v) {
            None => Ok(None),
            Some(d) if aisec_store::is_calendar_date(&d) => Ok(Some(d)),
            Some(_) => Err(PageError::new(
                StatusCode::BAD_REQUEST,
                format!("{field}: expected a calendar date as YYYY-MM-DD"),
            )),
        }
    };
    let limit = q.limit.unwrap_or(MAX_LISTED);
    if !(1..=MAX_LISTED).contains(&limit) {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            format!("limit: from 1 to {MAX_LISTED}"),
        ));
    }
    Ok(RunFilter {
        since: date("since", q.since)?,
        until: date("until", q.until)?,
        target: nonempty(q.target),
        family: nonempty(q.family),
        technique: nonempty(q.technique),
        limit,
        offset: q.offset.unwrap_or(0),
    })
}

pub async fn runs(State(s): State<Arc<AppState>>, Query(q): Query<RunsQuery>) -> Page {
    let shown = (
        q.target.clone().unwrap_or_default(),
        q.family.clone().unwrap_or_default(),
        q.technique.clone().unwrap_or_default(),
        q.since.clone().unwrap_or_default(),
        q.until.clone().unwrap_or_default(),
    );
    let mut filter = run_filter(q)?;
    // One more than shown, to know whether older runs follow.
    filter.limit += 1;
    let mut runs = s.store()?.list(&filter).map_err(PageError::internal)?;
    filter.limit -= 1;
    let more = runs.len() > filter.limit;
    runs.truncate(filter.limit);
    let older = format!(
        "/runs?target={}&family={}&technique={}&since={}&until={}&limit={}&offset={}",
        query_escape(&shown.0),
        query_escape(&shown.1),
        query_escape(&shown.2),
        query_escape(&shown.3),
        query_escape(&shown.4),
        filter.limit,
        filter.offset.saturating_add(filter.limit)
    );
    Ok(layout(
        "Runs",
        html! {
            h1 { "Stored runs" }
            form.filters action="/runs" method="get" {
                label { "Target " input name="target" value=(shown.0); }
                label { "Family " input name="family" value=(shown.1) placeholder="evasion, extract, scan…"; }
                label { "Technique " input name="technique" value=(shown.2) placeholder="AML.T0043"; }
                label { "Since " input type="date" name="since" value=(shown.3); }
                label { "Until " input type="date" name="until" value=(shown.4); }
                button type="submit" { "Filter" }
            }
            @let filtered = [&shown.0, &shown.1, &shown.2, &shown.3, &shown.4].iter().any(|v| !v.is_empty());
            @let empty = if filter.offset > 0 {
                "No runs this far back."
            } else if filtered {
                "No stored run matches these filters."
            } else {
                NO_RUNS
            };
            (runs_table(&runs, empty))
            @if !runs.is_empty() && (filter.offset > 0 || more) {
                p { "Runs " (filter.offset.saturating_add(1)) "–" (filter.offset.saturating_add(runs.len())) ", newest first. "
                    @if more { a href=(older) { "Older runs" } } }
            }
        },
    ))
}

/// A value for a URL's query string.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn login_form(headers: axum::http::HeaderMap) -> Response {
    login_page(&headers, None)
}

/// The sign-in page, with what went wrong when a sign-in was refused.
pub(crate) fn login_page(headers: &axum::http::HeaderMap, error: Option<&str>) -> Response {
    crate::page_with_forms(headers, "Sign in", |csrf| {
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { p.error { (e) } }
            p { "Requests from other hosts need the access token aisec serve printed when it first started." }
            form action="/login" method="post" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Token " input type="password" name="token" autocomplete="off" required; }
                button type="submit" { "Sign in" }
            }
            form action="/logout" method="post" {
                input type="hidden" name="csrf" value=(csrf);
                "Done on this browser? "
                button type="submit" { "Sign out" }
            }
        }
    })
}
