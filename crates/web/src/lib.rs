//! `aisec serve`: the ATLAS matrix with the user's own stored runs on it (a heat map of
//! findings per technique), object pages, search, stored runs, and the same as a REST API
//! with an OpenAPI document. Server-rendered HTML (maud escapes every piece of text), assets
//! embedded in the binary, no script on any page, a strict Content-Security-Policy.
//!
//! Security as for an internal tool that holds findings about an organisation's models: it
//! binds to 127.0.0.1 unless told otherwise; a request from any other address needs the
//! access token (generated on first start, printed once, stored as its SHA-256 hash beside
//! the run database); nothing from a request reaches the file system.

mod api;
mod auth;
mod casestudy;
mod compare;
mod jobs;
mod pages;
mod run_page;
mod threat;
mod upload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub use auth::{load_or_create_token, Sessions, TokenSetup};
pub use jobs::Assessments;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Store(#[from] aisec_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Token(String),
}

/// What every handler reads.
pub struct AppState {
    pub kb: Arc<KnowledgeBase>,
    pub store_path: PathBuf,
    /// SHA-256 of the access token requests from other addresses must carry.
    pub token_hash: [u8; 32],
    /// Assessments this server may start, and those it started.
    pub assessments: Assessments,
    /// Browser sessions opened at `/login`.
    pub sessions: auth::Sessions,
}

impl AppState {
    /// The run database, opened for one request (SQLite connections are not shared between
    /// threads; opening one is a file open and three pragmas).
    fn store(&self) -> Result<aisec_store::Store, PageError> {
        aisec_store::Store::open(&self.store_path).map_err(PageError::internal)
    }
}

/// The whole application: pages, API, assets, behind the access check and the security
/// headers.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/matrix", get(pages::matrix))
        .route("/objects/{id}", get(pages::object))
        .route("/search", get(pages::search))
        .route("/mitigations", get(pages::mitigations))
        .route("/runs", get(pages::runs))
        .route("/runs/compare", get(compare::compare))
        .route("/runs/{id}", get(run_page::run))
        .route("/login", get(pages::login_form).post(auth::login))
        .route("/casestudy/new", get(casestudy::new_form))
        .route("/casestudy", axum::routing::post(casestudy::build))
        .route(
            "/casestudy/import",
            get(casestudy::import_page).post(casestudy::import),
        )
        .route("/threat-model", get(threat::page).post(threat::build))
        .route("/api/threat-model", axum::routing::post(threat::api_build))
        .route("/api/threat-model/schema", get(threat::api_schema))
        .route(
            "/api/casestudies/validate",
            axum::routing::post(casestudy::api_validate),
        )
        .route("/assets/app.css", get(css))
        .route("/assets/progress.js", get(progress_js))
        .route("/assessments", get(jobs::page).post(jobs::start))
        .route("/assessments/{id}", get(jobs::show))
        .route("/assessments/{id}/report", get(jobs::report))
        .route("/api/assessments/{id}/events", get(jobs::events))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/matrix", get(api::matrix))
        .route("/api/objects/{id}", get(api::object))
        .route("/api/search", get(api::search))
        .route("/api/runs", get(api::runs).post(api::add_run))
        .route("/api/runs/{id}", get(api::run))
        .route("/logout", axum::routing::post(auth::logout))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(errors_in_kind))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token_off_host,
        ))
        .layer(axum::middleware::from_fn(auth::same_origin_writes))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// Uploads (a run object through the API, the login form) larger than this are refused.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// What `aisec serve` was told.
pub struct ServeOptions {
    pub store_path: PathBuf,
    pub addr: SocketAddr,
    pub token: TokenSetup,
    /// The folder of plans the UI may start (`--plans`), and the aisec executable.
    pub plans: Option<PathBuf>,
    pub exe: Option<PathBuf>,
}

/// Serves until the process ends. Prints where, and the token when it was just made.
pub fn serve(kb: KnowledgeBase, options: ServeOptions) -> Result<(), WebError> {
    let ServeOptions {
        store_path,
        addr,
        token,
        plans,
        exe,
    } = options;
    let store_path = store_path.as_path();
    // Creates the database (and its directory) now, so that a bad path fails before listening.
    aisec_store::Store::open(store_path)?;
    let out = store_path
        .parent()
        .map_or_else(|| PathBuf::from("assessments"), |d| d.join("assessments"));
    let state = Arc::new(AppState {
        kb: Arc::new(kb),
        store_path: store_path.to_path_buf(),
        token_hash: token.hash,
        assessments: Assessments {
            plans,
            exe,
            out,
            jobs: std::sync::Mutex::new(Vec::new()),
        },
        sessions: auth::Sessions::default(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|source| WebError::Io {
            path: "tokio runtime".into(),
            source,
        })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| WebError::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| WebError::Bind { addr, source })?;
        eprintln!("aisec serve: http://{local}/ (runs from {})", store_path.display());
        if let Some(t) = &token.new_token {
            eprintln!(
                "access token (shown once; requests from addresses other than this host need it): {t}"
            );
        }
        if !local.ip().is_loopback() {
            eprintln!("listening beyond this host: every request from another address must carry the token (Authorization: Bearer, or sign in at /login)");
        }
        axum::serve(
            listener,
            router(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .map_err(|source| WebError::Io {
            path: local.to_string(),
            source,
        })
    })
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../assets/app.css"),
    )
        .into_response()
}

async fn progress_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../assets/progress.js"),
    )
        .into_response()
}

async fn not_found() -> PageError {
    PageError::new(StatusCode::NOT_FOUND, "no such page")
}

/// Whether a path is the API's (answered in JSON).
pub(crate) fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Every refusal in the kind of its route: JSON (`{"error": …}`) under `/api/`, a page
/// elsewhere — including those the framework writes itself as plain text (a path parameter
/// of the wrong type, a body too large, a wrong method) and the access checks' pages.
async fn errors_in_kind(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = is_api(req.uri().path());
    let res = next.run(req).await;
    if !(res.status().is_client_error() || res.status().is_server_error()) {
        return res;
    }
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let wanted = if api { "application/json" } else { "text/html" };
    if content_type.starts_with(wanted)
        || (!api && !content_type.starts_with("text/plain") && !content_type.is_empty())
    {
        return res;
    }
    // A refusal of ours carries its message; the framework's are short plain text.
    let known = res.extensions().get::<Refusal>().map(|r| r.0.clone());
    let fallback = res
        .status()
        .canonical_reason()
        .unwrap_or("refused")
        .to_string();
    let (parts, body) = res.into_parts();
    let message = match known {
        Some(m) => m,
        None => axum::body::to_bytes(body, 64 * 1024)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .ok()
            .filter(|t| !t.is_empty() && !t.starts_with('<'))
            .unwrap_or(fallback),
    };
    let mut res = if api {
        (
            parts.status,
            axum::Json(serde_json::json!({ "error": message })),
        )
            .into_response()
    } else {
        (parts.status, pages::error_page(parts.status, &message)).into_response()
    };
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            res.headers_mut().insert(name.clone(), value.clone());
        }
    }
    res
}

/// Every response: scripts only from the server's own files (no inline script), no framing,
/// no sniffing, no referrer to other sites.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A handler that set its own policy (the assessment's self-styled report) keeps it.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
        );
    }
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Links out carry no referrer; the server's own forms keep their Origin.
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    res
}

/// An error as the client sees it: a status and a short message, never a file path or a
/// database detail (those go to the log).
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PageError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("{e}");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the run database could not be read; see the server's log",
        )
    }
}

/// A refusal's message, kept on the response so that [`errors_in_kind`] can restate it as
/// JSON under `/api/` without reading it back out of the page.
#[derive(Clone)]
struct Refusal(String);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = pages::error_page(self.status, &self.message);
        let mut res = (self.status, body).into_response();
        res.extensions_mut().insert(Refusal(self.message));
        res
    }
}

/// A field of a submitted form ("" when absent).
pub(crate) fn form_field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// A download: `body` as `content_type`, saved under the name `disposition` gives.
pub(crate) fn attachment(
    content_type: &'static str,
    disposition: &'static str,
    body: String,
) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// A page whose forms carry the browser's CSRF value (its cookie set when it is new).
pub(crate) fn page_with_forms(
    headers: &axum::http::HeaderMap,
    title: &str,
    body: impl FnOnce(&str) -> maud::Markup,
) -> Response {
    match auth::csrf_for(headers) {
        Ok((csrf, set)) => {
            auth::with_cookie(pages::layout(title, body(&csrf)).into_response(), set)
        }
        Err(e) => e.into_response(),
    }
}

/// Serialises `value` as a JSON response.
fn json_response<T: serde::Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

/// The same error as JSON, for the API.
struct ApiError(PageError);

impl From<PageError> for ApiError {
    fn from(e: PageError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0.status,
            axum::Json(serde_json::json!({ "error": self.0.message })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests;
