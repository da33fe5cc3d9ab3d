//! The REST API: the same views as the pages, as JSON, described by `/api/openapi.json`.

use std::sync::Arc;

use aisec_atlas::views::{MatrixView, ShowView};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::pages::{heat_map, parse_maturity, run_filter, MatrixQuery, RunsQuery, SearchQuery};
use crate::{json_response, ApiError, AppState, PageError};

type ApiResult = Result<Response, ApiError>;

/// The matrix with the stored runs' heat on each technique that has any.
#[derive(Serialize)]
struct MatrixWithHeat {
    #[serde(flatten)]
    matrix: MatrixView,
    heat: Vec<aisec_store::TechniqueHeat>,
}

pub async fn matrix(State(s): State<Arc<AppState>>, Query(q): Query<MatrixQuery>) -> ApiResult {
    let min = parse_maturity(q.maturity.as_deref())?;
    let matrix = MatrixView::new(&s.kb, min);
    let mut heat: Vec<_> = heat_map(s.store()?.heat().map_err(PageError::internal)?)
        .into_values()
        .collect();
    heat.sort_by(|a, b| a.technique.cmp(&b.technique));
    Ok(json_response(&MatrixWithHeat { matrix, heat }))
}

pub async fn object(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    crate::pages::id_too_long(&id)?;
    let view = ShowView::new(&s.kb, &id)
        .map_err(|e| PageError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(json_response(&view))
}

#[derive(Serialize)]
struct Hit {
    id: String,
    name: String,
    kind: String,
    score: f64,
}

pub async fn search(State(s): State<Arc<AppState>>, Query(q): Query<SearchQuery>) -> ApiResult {
    let query = q.q.unwrap_or_default();
    if query.chars().count() > crate::pages::MAX_QUERY_CHARS {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            format!("q: at most {} characters", crate::pages::MAX_QUERY_CHARS),
        )
        .into());
    }
    let hits: Vec<Hit> =
        s.kb.search_index()
            .search(&s.kb, &query, 50)
            .into_iter()
            .map(|h| Hit {
                id: s.kb.object_id(h.object).to_string(),
                name: s.kb.object_name(h.object).to_string(),
                kind: format!("{:?}", s.kb.object_kind(h.object)).to_lowercase(),
                score: h.score,
            })
            .collect();
    Ok(json_response(&hits))
}

pub async fn runs(State(s): State<Arc<AppState>>, Query(q): Query<RunsQuery>) -> ApiResult {
    let filter = run_filter(q)?;
    Ok(json_response(
        &s.store()?.list(&filter).map_err(PageError::internal)?,
    ))
}

pub async fn run(State(s): State<Arc<AppState>>, Path(id): Path<i64>) -> ApiResult {
    let stored = s
        .store()?
        .get(id)
        .map_err(PageError::internal)?
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, format!("no run {id}")))?;
    Ok(json_response(&stored))
}

/// Stores a run object (what `--format json` prints); answers its id.
pub async fn add_run(
    State(s): State<Arc<AppState>>,
    Json(run): Json<serde_json::Value>,
) -> ApiResult {
    let id = s.store()?.add(&run).map_err(|e| match e {
        aisec_store::StoreError::NotARun(why) => PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("not a run object: {why}"),
        ),
        other => PageError::internal(other),
    })?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

pub async fn openapi() -> Response {
    json_response(&openapi_document())
}

/// The OpenAPI 3.1 description of the API (paths, parameters, responses).
pub fn openapi_document() -> serde_json::Value {
    let error = serde_json::json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let json_ok = |description: &str| serde_json::json!({"description": description, "content": {"application/json": {}}});
    let query = |name: &str, description: &str| serde_json::json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description});
    let run_filters = vec![
        query("target", "exact target name"),
        query(
            "family",
            "run name prefix: evasion, extract, membership, scan, llm, demo …",
        ),
        query(
            "technique",
            "an ATLAS technique ID; a parent includes its sub-techniques",
        ),
        query("since", "stored on or after this date (YYYY-MM-DD)"),
        query("until", "stored before this date (YYYY-MM-DD)"),
        query("limit", "at most this many, 1 to 500 (default 500)"),
        query("offset", "skip this many of the newest first"),
    ];
    serde_json::json!({
        "openapi": "3.1.0",
        "info": {
            "title": "aisec",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The MITRE ATLAS knowledge base with the findings of your stored aisec runs. Requests from addresses other than the server's own host need `Authorization: Bearer TOKEN` (the token aisec serve printed on first start)."
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}
        },
        "security": [{}, {"token": []}],
        "paths": {
            "/api/matrix": {"get": {
                "summary": "The ATLAS matrix (tactics, techniques, sub-techniques) and the heat of stored runs per technique",
                "parameters": [query("maturity", "feasible | demonstrated | realized: hide techniques below it")],
                "responses": {"200": json_ok("matrix and heat"), "400": error}
            }},
            "/api/objects/{id}": {"get": {
                "summary": "A tactic, technique, mitigation or case study with its reverse links",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": json_ok("the object"), "404": error}
            }},
            "/api/search": {"get": {
                "summary": "Typo-tolerant search over ATLAS objects, ranked",
                "parameters": [query("q", "words, IDs or names (at most 200 characters)")],
                "responses": {"200": json_ok("hits, best first"), "400": error}
            }},
            "/api/runs": {
                "get": {
                    "summary": "Stored runs, newest first (at most 500 an answer; page with offset)",
                    "parameters": run_filters,
                    "responses": {"200": json_ok("run summaries"), "400": error}
                },
                "post": {
                    "summary": "Store a run object (what any aisec command prints with --format json)",
                    "requestBody": {"required": true, "content": {"application/json": {}}},
                    "responses": {"201": json_ok("the new run's id"), "413": error, "422": error}
                }
            },
            "/api/runs/{id}": {"get": {
                "summary": "One stored run: its summary and the run object as stored",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": json_ok("the run"), "404": error}
            }},
            "/api/casestudies/validate": {"post": {
                "summary": "Validate a case-study file (ATLAS website format, YAML) with the validator of `aisec casestudy validate`",
                "requestBody": {"required": true, "content": {"application/yaml": {}, "text/plain": {}}},
                "responses": {"200": json_ok("valid, errors, warnings, problems"), "413": error, "422": error}
            }},
            "/api/threat-model": {"post": {
                "summary": "A system profile (YAML, the fields of docs/threat-model.md) in, the threat model of `aisec threat-model` out",
                "requestBody": {"required": true, "content": {"application/yaml": {}, "text/plain": {}}},
                "responses": {"200": json_ok("the threat model"), "413": error, "422": error}
            }},
            "/api/threat-model/schema": {"get": {"summary": "The system profile's JSON Schema", "responses": {"200": json_ok("JSON Schema")}}},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": json_ok("OpenAPI 3.1")}}}
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::tests::{app, block_on, LOCAL};
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};

    #[test]
    fn every_api_refusal_is_json() {
        block_on(async {
            let app = app();
            let too_big = vec![b'{'; crate::MAX_BODY_BYTES + 1];
            let requests = [
                (
                    Request::get("/api/runs/not-a-number")
                        .body(Body::empty())
                        .unwrap(),
                    StatusCode::BAD_REQUEST,
                ),
                (
                    Request::get("/api/runs/99").body(Body::empty()).unwrap(),
                    StatusCode::NOT_FOUND,
                ),
                (
                    Request::get("/api/nothing-here")
                        .body(Body::empty())
                        .unwrap(),
                    StatusCode::NOT_FOUND,
                ),
                (
                    Request::delete("/api/runs").body(Body::empty()).unwrap(),
                    StatusCode::METHOD_NOT_ALLOWED,
                ),
                (
                    Request::post("/api/runs")
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(too_big))
                        .unwrap(),
                    StatusCode::PAYLOAD_TOO_LARGE,
                ),
                (
                    Request::get("/api/runs?limit=x")
                        .body(Body::empty())
                        .unwrap(),
                    StatusCode::BAD_REQUEST,
                ),
            ];
            for (req, expected) in requests {
                let what = format!("{} {}", req.method(), req.uri());
                let (status, headers, body) = app.send(req, LOCAL).await;
                assert_eq!(status, expected, "{what}: {body}");
                assert!(
                    headers[header::CONTENT_TYPE]
                        .to_str()
                        .unwrap()
                        .starts_with("application/json"),
                    "{what}: {body}"
                );
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let message = v["error"].as_str().unwrap_or_default();
                assert!(
                    !message.is_empty() && !message.contains('<'),
                    "{what}: {body}"
                );
            }
            // A page outside /api/ stays a page.
            let (_, headers, page) = app.get("/runs/not-a-number").await;
            let kind = headers[header::CONTENT_TYPE].to_str().unwrap();
            assert!(kind.starts_with("text/html"), "{kind} {page}");
        });
    }
}
