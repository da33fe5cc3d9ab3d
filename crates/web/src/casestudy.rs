//! The case-study builder: a form that produces a case-study file in the ATLAS website
//! format, built and validated by the same code as `aisec casestudy new` / `validate`;
//! import of a case-study file (pasted, size-limited, parsed as data and validated); export
//! as YAML and as an ATT&CK Navigator layer. No state is kept between requests: each form
//! carries everything it needs.

use std::sync::Arc;

use aisec_atlas::case_study::{self, CaseStudyFile, Draft, DraftReference, DraftStep};
use aisec_atlas::export::navigator;
use aisec_atlas::validate;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};

use crate::attachment;
use crate::auth::check_csrf;
use crate::pages::layout;
use crate::{AppState, PageError};

/// Procedure rows the form offers (empty rows are ignored).
pub const STEP_ROWS: usize = 12;
/// The largest case-study file the import takes.
pub const MAX_IMPORT_BYTES: usize = 1 << 20;

type Fields = Vec<(String, String)>;

use crate::form_field as field;

fn optional(fields: &Fields, name: &str) -> Option<String> {
    Some(field(fields, name).trim().to_string()).filter(|v| !v.is_empty())
}

fn draft_of(fields: &Fields) -> Draft {
    let procedure = (0..STEP_ROWS)
        .filter_map(|i| {
            let technique = optional(fields, &format!("technique{i}"))?;
            Some(DraftStep {
                tactic: optional(fields, &format!("tactic{i}")),
                technique,
                description: field(fields, &format!("description{i}")).trim().to_string(),
            })
        })
        .collect();
    Draft {
        id: optional(fields, "id"),
        name: optional(fields, "name"),
        summary: optional(fields, "summary"),
        incident_date: optional(fields, "date"),
        incident_date_granularity: optional(fields, "granularity"),
        case_study_type: optional(fields, "type"),
        reporter: optional(fields, "reporter"),
        target: optional(fields, "target"),
        actor: optional(fields, "actor"),
        procedure,
        references: field(fields, "references")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| DraftReference::Url(l.to_string()))
            .collect(),
    }
}

fn builder_form(s: &AppState, fields: &Fields, csrf: &str) -> Markup {
    let v = |name: &str| field(fields, name).to_string();
    html! {
        form.casestudy action="/casestudy" method="post" {
            input type="hidden" name="csrf" value=(csrf);
            fieldset {
                legend { "The study" }
                label { "Name " input name="name" value=(v("name")) required maxlength="300"; }
                label { "ID (optional) " input name="id" value=(v("id")) placeholder="AML.CS0099"; }
                label { "Summary " textarea name="summary" rows="4" required { (v("summary")) } }
                label { "Incident date " input name="date" value=(v("date")) placeholder="2026, 2026-05 or 2026-05-03" required; }
                label { "Granularity " select name="granularity" {
                    option value="" { "from the date" }
                    @for g in ["YEAR", "MONTH", "DATE"] { option value=(g) selected[v("granularity") == g] { (g) } }
                } }
                label { "Type " select name="type" {
                    @for t in ["exercise", "incident"] { option value=(t) selected[v("type") == t] { (t) } }
                } }
                label { "Reporter " input name="reporter" value=(v("reporter")); }
                label { "Target " input name="target" value=(v("target")); }
                label { "Actor " input name="actor" value=(v("actor")); }
            }
            fieldset {
                legend { "Procedure (in order; the tactic may be left out when the technique has one)" }
                datalist #techniques {
                    @for t in &s.kb.techniques { option value=(t.id) { (t.name) } }
                }
                datalist #tactics {
                    @for t in &s.kb.tactics { option value=(t.id) { (t.name) } }
                }
                table.steps {
                    thead { tr { th { "#" } th { "tactic" } th { "technique" } th { "what happened" } } }
                    tbody {
                        @for i in 0..STEP_ROWS {
                            tr {
                                td { (i + 1) }
                                td { input name={"tactic" (i)} list="tactics" value=(v(&format!("tactic{i}"))) size="12"; }
                                td { input name={"technique" (i)} list="techniques" value=(v(&format!("technique{i}"))) size="16"; }
                                td { input name={"description" (i)} value=(v(&format!("description{i}"))) size="60"; }
                            }
                        }
                    }
                }
            }
            label { "References (one URL per line) " textarea name="references" rows="3" { (v("references")) } }
            p {
                button type="submit" name="action" value="preview" { "Build and validate" } " "
                button type="submit" name="action" value="yaml" { "Download YAML" } " "
                button type="submit" name="action" value="navigator" { "Download Navigator layer" }
            }
        }
    }
}

pub async fn new_form(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    crate::page_with_forms(&headers, "Case-study builder", |csrf| {
        html! {
            h1 { "Case-study builder" }
            p { "Builds a case study in the ATLAS website's format, checked by the same validator as "
                code { "aisec casestudy validate" } ". Or " a href="/casestudy/import" { "import a case-study file" } "." }
            (builder_form(&s, &Vec::new(), csrf))
        }
    })
}

pub async fn build(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    if let Err(e) = check_csrf(&headers, field(&fields, "csrf")) {
        return e.into_response();
    }
    let csrf = field(&fields, "csrf").to_string();
    match draft_of(&fields).build(&s.kb) {
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            layout(
                "Case-study builder",
                html! {
                    h1 { "Case-study builder" }
                    p.error { "Not a valid case study yet:" }
                    pre.error { (e.to_string()) }
                    (builder_form(&s, &fields, &csrf))
                },
            ),
        )
            .into_response(),
        Ok(file) => deliver(&s, &file, field(&fields, "action"), |body| {
            html! {
                (body)
                h2 { "Edit" }
                (builder_form(&s, &fields, &csrf))
            }
        }),
    }
}

/// The file as the action asks: a download (YAML or a Navigator layer) or a page showing it.
fn deliver(
    s: &AppState,
    file: &CaseStudyFile,
    action: &str,
    page: impl Fn(Markup) -> Markup,
) -> Response {
    let yaml = match case_study::to_yaml(file) {
        Ok(y) => y,
        Err(e) => return PageError::internal(e).into_response(),
    };
    match action {
        "yaml" => attachment(
            "application/yaml",
            "attachment; filename=\"case-study.yaml\"",
            yaml,
        ),
        "navigator" => match navigator::case_study_layer(&s.kb, &file.study.to_case_study()) {
            Ok(layer) => attachment(
                "application/json",
                "attachment; filename=\"case-study-layer.json\"",
                serde_json::to_string_pretty(&layer).unwrap_or_default(),
            ),
            Err(e) => PageError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).into_response(),
        },
        _ => layout(
            &file.study.name,
            page(html! {
                h1 { (file.study.name) }
                p.ok { "Valid: " (file.study.procedure.len()) " procedure steps, every technique and tactic in ATLAS " (s.kb.version) "." }
                pre { (yaml) }
            }),
        )
        .into_response(),
    }
}

fn import_form(yaml: &str, csrf: &str) -> Markup {
    html! {
        form action="/casestudy/import" method="post" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(csrf);
            p { label { "Choose a case-study file (YAML, at most 1 MiB) " input type="file" name="yaml_file" accept=".yaml,.yml,.json"; } }
            label { "or paste it here " textarea name="yaml" rows="16" cols="100" { (yaml) } }
            p {
                button type="submit" name="action" value="preview" { "Validate" } " "
                button type="submit" name="action" value="yaml" { "Download YAML" } " "
                button type="submit" name="action" value="navigator" { "Download Navigator layer" }
            }
        }
    }
}

pub async fn import_page(headers: HeaderMap) -> Response {
    crate::page_with_forms(&headers, "Import a case study", |csrf| {
        html! {
            h1 { "Import a case study" }
            p { "Paste a case-study file in the ATLAS website's format; it is read as data and validated against ATLAS." }
            (import_form("", csrf))
        }
    })
}

pub async fn import(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    crate::upload::Fields(fields): crate::upload::Fields,
) -> Response {
    if let Err(e) = check_csrf(&headers, field(&fields, "csrf")) {
        return e.into_response();
    }
    let csrf = field(&fields, "csrf").to_string();
    let yaml = field(&fields, "yaml");
    match read(&s, yaml) {
        Ok(file) => deliver(&s, &file, field(&fields, "action"), |body| {
            html! { (body) (import_form(yaml, &csrf)) }
        }),
        Err(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            layout(
                "Import a case study",
                html! {
                    h1 { "Import a case study" }
                    p.error { "Not a valid case study:" }
                    ul.error { @for p in &problems { li { (p) } } }
                    (import_form(yaml, &csrf))
                },
            ),
        )
            .into_response(),
    }
}

/// Parses and validates a case-study file; the problems when it is not clean of errors.
pub fn read(s: &AppState, yaml: &str) -> Result<CaseStudyFile, Vec<String>> {
    // Editors on Windows begin a UTF-8 file with a byte-order mark; YAML parsers do not all take it.
    let yaml = yaml.strip_prefix('\u{feff}').unwrap_or(yaml);
    if yaml.trim().is_empty() {
        return Err(vec!["the case-study file is empty".into()]);
    }
    if yaml.len() > MAX_IMPORT_BYTES {
        return Err(vec![format!(
            "{} bytes: a case-study file may have at most {MAX_IMPORT_BYTES}",
            yaml.len()
        )]);
    }
    aisec_atlas::check_yaml_nesting(yaml, "case study").map_err(|e| vec![e])?;
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(yaml).map_err(|e| vec![format!("not valid YAML: {e}")])?;
    let report = validate::validate_case_study_value(&value, s.kb.as_ref());
    let errors = report.error_lines();
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_yaml_ng::from_value(value).map_err(|e| vec![format!("not a case-study file: {e}")])
}

/// The API's validation: a case-study file in, the validator's report out.
pub async fn api_validate(State(s): State<Arc<AppState>>, body: String) -> Response {
    if body.len() > MAX_IMPORT_BYTES {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(serde_json::json!({"error": format!("a case-study file may have at most {MAX_IMPORT_BYTES} bytes")})),
        )
            .into_response();
    }
    if let Err(e) = aisec_atlas::check_yaml_nesting(&body, "case study") {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({ "error": e })),
        )
            .into_response();
    }
    let value: serde_yaml_ng::Value = match serde_yaml_ng::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(serde_json::json!({"error": format!("not valid YAML: {e}")})),
            )
                .into_response()
        }
    };
    let report = validate::validate_case_study_value(&value, s.kb.as_ref());
    axum::Json(serde_json::json!({
        "valid": report.errors() == 0,
        "errors": report.errors(),
        "warnings": report.warnings(),
        "problems": report.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
    }))
    .into_response()
}
