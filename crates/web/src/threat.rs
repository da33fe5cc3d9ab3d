//! Threat models in the browser: a system profile pasted (or posted to the API) in, the same
//! threat model `aisec threat-model` builds out — risks by likelihood × severity with the
//! profile fields that made each apply, the ATLAS techniques, what does not apply and why,
//! adversary tiers, mitigations by lifecycle phase, and the aisec attacks that test each risk.

use std::path::PathBuf;
use std::sync::Arc;

use aisec_assess::threat::{self, plan, profile, render, ThreatModel};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use crate::auth::check_csrf;
use crate::pages::layout;
use crate::AppState;

use crate::form_field as field;

/// Checks, parses and validates a profile's text, and builds its threat model.
pub fn model_of(s: &AppState, text: &str) -> Result<ThreatModel, String> {
    Ok(threat::build(&loaded_profile(text)?, &s.kb))
}

fn loaded_profile(text: &str) -> Result<profile::LoadedProfile, String> {
    plan::check_text(text, "profile").map_err(|e| e.to_string())?;
    let profile = profile::parse(text).map_err(|e| e.to_string())?;
    // Relative: the plan's paths stay relative to wherever the user keeps profile and plan.
    Ok(profile::LoadedProfile {
        profile,
        path: PathBuf::from("profile.yaml"),
    })
}

fn form(text: &str, csrf: &str) -> Markup {
    html! {
        form action="/threat-model" method="post" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(csrf);
            p { label { "Choose a profile file " input type="file" name="profile_file" accept=".yaml,.yml,.json"; } }
            label { "or write and edit it here (YAML; fields in docs/threat-model.md, JSON Schema at "
                a href="/api/threat-model/schema" { "/api/threat-model/schema" } ")"
                textarea name="profile" rows="18" cols="100" { (text) } }
            p {
                button type="submit" name="action" value="view" { "Build the threat model" } " "
                button type="submit" name="action" value="json" { "Download JSON" } " "
                button type="submit" name="action" value="navigator" { "Download Navigator layer" } " "
                button type="submit" name="action" value="markdown" { "Download Markdown" } " "
                button type="submit" name="action" value="plan" { "Download the assessment plan" }
            }
        }
    }
}

pub async fn page(headers: HeaderMap) -> Response {
    crate::page_with_forms(&headers, "Threat model", |csrf| {
        html! {
            h1 { "Threat model of your AI system" }
            p { "Describe the system — its models, what they answer, who reaches them, where their data and artifacts come from, its LLM applications — and get the ATLAS techniques that apply and why, adversary tiers, risks by likelihood × severity, mitigations by lifecycle phase, and the aisec attacks that test each risk. The same as "
                code { "aisec threat-model PROFILE" } "." }
            (form(EXAMPLE, csrf))
        }
    })
}

/// A small profile to start from.
const EXAMPLE: &str = "name: Loan scoring
models:
  - name: scorer
    task: classification
    outputs: probabilities
    access: [public]
    training_data: {sources: [user-generated], retrained: periodically}
    supply_chain: [pretrained-from-hub, pickled-artifacts]
objectives: [confidentiality, integrity, availability]
";

pub async fn build(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    crate::upload::Fields(fields): crate::upload::Fields,
) -> Response {
    if let Err(e) = check_csrf(&headers, field(&fields, "csrf")) {
        return e.into_response();
    }
    let text = field(&fields, "profile");
    let csrf = field(&fields, "csrf");
    let tm = match model_of(&s, text) {
        Ok(tm) => tm,
        Err(problems) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                layout(
                    "Threat model",
                    html! {
                        h1 { "Threat model of your AI system" }
                        p.error { "The profile is not valid:" }
                        pre.error { (problems) }
                        (form(text, csrf))
                    },
                ),
            )
                .into_response()
        }
    };
    let download = crate::attachment;
    match field(&fields, "action") {
        "json" => download(
            "application/json",
            "attachment; filename=\"threat-model.json\"",
            serde_json::to_string_pretty(&tm).unwrap_or_default(),
        ),
        "markdown" => download(
            "text/markdown; charset=utf-8",
            "attachment; filename=\"threat-model.md\"",
            render::markdown(&tm),
        ),
        "plan" => {
            let plan = loaded_profile(text).map(|loaded| {
                plan::from_threat_model(&tm, &loaded, std::path::Path::new("plan.yaml"))
            });
            match plan.and_then(|p| plan::to_yaml(&p).map_err(|e| e.to_string())) {
                Ok(yaml) => download(
                    "application/yaml; charset=utf-8",
                    "attachment; filename=\"plan.yaml\"",
                    yaml,
                ),
                Err(e) => {
                    crate::PageError::new(StatusCode::UNPROCESSABLE_ENTITY, e).into_response()
                }
            }
        }
        "navigator" => match render::navigator(&tm, &s.kb) {
            Ok(layer) => download(
                "application/json",
                "attachment; filename=\"threat-model.layer.json\"",
                serde_json::to_string_pretty(&layer).unwrap_or_default(),
            ),
            Err(e) => crate::PageError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
                .into_response(),
        },
        _ => layout(
            &format!("Threat model: {}", tm.system),
            html! {
                (model_body(&tm))
                h2 { "The profile" }
                (form(text, csrf))
            },
        )
        .into_response(),
    }
}

fn model_body(tm: &ThreatModel) -> Markup {
    let mut risks: Vec<&threat::Risk> = tm.risks.iter().collect();
    risks.sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
    html! {
        p.kind { "threat model · ATLAS " (tm.atlas_version) }
        h1 { (tm.system) }
        @if let Some(d) = &tm.description { p { (d) } }
        p.muted { "Likelihood: " (tm.scale.likelihood) } p.muted { "Severity: " (tm.scale.severity) } p.muted { "Risk: " (tm.scale.risk) }
        h2 { "Risks, worst first" }
        table.risks {
            thead { tr { th { "risk" } th { "component" } th { "what" } th { "likelihood" } th { "severity" } th { "risk" } th { "techniques" } } }
            tbody {
                @for r in &risks {
                    tr {
                        td { a href={"#" (r.id)} { (r.id) } }
                        td { (r.component) }
                        td { (r.title) }
                        td { (r.likelihood.level.as_str()) }
                        td { (r.severity.level.as_str()) }
                        td { strong { (r.rating.as_str()) } " (" (r.score) ")" }
                        td { @for t in &r.techniques { a href={"/objects/" (t.id)} { (t.id) } " " } }
                    }
                }
            }
        }
        @for r in &risks {
            section.risk id=(r.id) {
                h3 { (r.id) ": " (r.title) }
                p { strong { "Why it applies: " } (r.rationale.join("; ")) }
                p { strong { "Likelihood " (r.likelihood.level.as_str()) ": " } (r.likelihood.why.join("; ")) }
                p { strong { "Severity " (r.severity.level.as_str()) ": " } (r.severity.why.join("; ")) }
                @if !r.tested_by.is_empty() {
                    p { strong { "Tested by: " } }
                    ul { @for t in &r.tested_by { li { code { (t.command) } " (" (t.access) ")" } } }
                }
                @for phase in &r.mitigations {
                    p { strong { (phase.phase) ": " } @for m in &phase.mitigations { a href={"/objects/" (m.id)} { (m.id) " " (m.name) } "; " } }
                }
            }
        }
        h2 { "Adversaries" }
        ul { @for a in &tm.adversaries { li { strong { (a.name) } " — " (a.capabilities) "; reaches " (a.reaches.join(", ")) } } }
        h2 { "Techniques that apply" }
        ul { @for t in &tm.techniques { li { a href={"/objects/" (t.id)} { (t.id) " " (t.name) } " — " (t.rationale.join("; ")) } } }
        h2 { "Not applicable" }
        ul { @for n in &tm.not_applicable { li { (n.component) ", " (n.family) ": " (n.reason) } } }
    }
}

/// The API: a profile's YAML in, the threat model as JSON out.
pub async fn api_build(State(s): State<Arc<AppState>>, body: String) -> Response {
    match model_of(&s, &body) {
        Ok(tm) => axum::Json(tm).into_response(),
        Err(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({ "error": problems })),
        )
            .into_response(),
    }
}

pub async fn api_schema() -> Response {
    axum::Json(profile::json_schema()).into_response()
}
