//! The access token: made on first start, printed once, kept only as its SHA-256 hash;
//! required of every request that does not come from this host.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use sha2::{Digest, Sha256};

use crate::{AppState, PageError, WebError};

/// The cookie `/login` sets (HttpOnly, SameSite=Strict): a session of this server's, not the
/// token, so that signing out ends it and a copied cookie dies with the server.
pub const COOKIE: &str = "aisec_session";

/// Sessions opened at `/login` since the server started, by the SHA-256 of their cookie.
#[derive(Default)]
pub struct Sessions {
    open: std::sync::Mutex<std::collections::VecDeque<[u8; 32]>>,
}

impl Sessions {
    /// The most sessions kept; signing in past it ends the oldest.
    pub const MAX: usize = 256;

    /// Opens a session; its cookie value.
    fn open(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).ok()?;
        let id = hex(&bytes);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= Self::MAX {
            open.pop_front();
        }
        open.push_back(sha256(&id));
        Some(id)
    }

    fn is_open(&self, id: &str) -> bool {
        let hash = sha256(id);
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.iter().fold(false, |found, h| found | same(h, &hash))
    }

    fn close(&self, id: &str) {
        let hash = sha256(id);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|h| !same(h, &hash));
    }
}
/// The form's CSRF cookie: a form is accepted only when its hidden `csrf` field equals it
/// (a page on another site can send the form but cannot read or set this cookie).
pub const CSRF_COOKIE: &str = "aisec_csrf";

/// A fresh random value for a form's CSRF field and cookie.
pub fn csrf_value() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).ok()?;
    Some(hex(&bytes))
}

/// The CSRF value a page's forms carry: the browser's cookie when it has one (so that two
/// open forms both stay valid), else a new one with the `Set-Cookie` that gives it.
pub fn csrf_for(headers: &axum::http::HeaderMap) -> Result<(String, Option<String>), PageError> {
    if let Some(v) = cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 32) {
        return Ok((v, None));
    }
    let v =
        csrf_value().ok_or_else(|| PageError::internal("no randomness for a form's CSRF value"))?;
    let set = format!("{CSRF_COOKIE}={v}; HttpOnly; SameSite=Strict; Path=/");
    Ok((v, Some(set)))
}

/// A form is accepted only when its CSRF field equals the browser's CSRF cookie.
pub fn check_csrf(headers: &axum::http::HeaderMap, field: &str) -> Result<(), PageError> {
    match cookie(headers, CSRF_COOKIE) {
        Some(c) if !field.is_empty() && same(&sha256(&c), &sha256(field)) => Ok(()),
        _ => Err(PageError::new(
            StatusCode::FORBIDDEN,
            "the form's CSRF field is missing or does not match: reload the page and send the form again",
        )),
    }
}

/// Adds the `Set-Cookie` a page's CSRF value needs, when it is new.
pub fn with_cookie(mut res: Response, set: Option<String>) -> Response {
    if let Some(v) = set.and_then(|s| s.parse().ok()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The value of cookie `name` in the request's headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
        .map(str::to_string)
        .next()
}

/// The token's hash, and the token itself when it was made by this start (to print once).
pub struct TokenSetup {
    pub hash: [u8; 32],
    pub new_token: Option<String>,
}

/// Reads the token hash from `path` (hex), or makes a token, stores its hash there (mode
/// 0600) and returns it to be printed. `renew` replaces an existing one.
pub fn load_or_create_token(path: &Path, renew: bool) -> Result<TokenSetup, WebError> {
    let io = |source| WebError::Io {
        path: path.display().to_string(),
        source,
    };
    if !renew {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let hash = parse_hash(text.trim()).ok_or_else(|| {
                    WebError::Token(format!(
                        "{}: not a token hash (64 hex digits); delete it or start with --new-token",
                        path.display()
                    ))
                })?;
                return Ok(TokenSetup {
                    hash,
                    new_token: None,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| WebError::Token(format!("no randomness for the token: {e}")))?;
    let token = hex(&bytes);
    let hash = sha256(&token);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    write_private(path, &hex(&hash)).map_err(io)?;
    Ok(TokenSetup {
        hash,
        new_token: Some(token),
    })
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

pub fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Compares without stopping at the first difference.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token a request carries in `Authorization: Bearer T`.
fn bearer(req: &Request) -> Option<String> {
    let h = req.headers();
    // The scheme is case-insensitive (RFC 7235).
    if let Some((scheme, token)) = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
    {
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(token.trim().to_string());
        }
    }
    None
}

/// Whether the request names this host as a loopback name: `localhost`, `127.x.y.z` or
/// `[::1]`, with any port. A page on another site that rebinds its own name to 127.0.0.1
/// still sends that name, so it does not pass as local.
fn names_loopback(req: &Request) -> bool {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Requests from this host that name it as such pass; others need the token (the sign-in
/// page and the stylesheet excepted, so that a person can sign in). A request whose peer is
/// unknown is refused.
pub async fn require_token_off_host(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let local = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(a)| a.ip().to_canonical().is_loopback())
        && names_loopback(&req);
    let open_path = matches!(req.uri().path(), "/login" | "/assets/app.css");
    let valid = bearer(&req).is_some_and(|t| same(&sha256(&t), &state.token_hash))
        || cookie(req.headers(), COOKIE).is_some_and(|id| state.sessions.is_open(&id));
    if local || open_path || valid {
        return next.run(req).await;
    }
    if crate::is_api(req.uri().path()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "this server needs its access token from addresses other than its own host, and for names other than localhost (Authorization: Bearer TOKEN)"})),
        )
            .into_response();
    }
    PageError::new(
        StatusCode::UNAUTHORIZED,
        "this server needs its access token from addresses other than its own host, and for names other than localhost: sign in at /login",
    )
    .into_response()
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(default)]
    csrf: String,
}

/// Refuses a state-changing request a browser sent from another site: its `Origin` (or
/// `Sec-Fetch-Site`) says so. Scripts that send no such header pass to the other checks.
pub async fn same_origin_writes(req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if unsafe_method {
        let h = req.headers();
        let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
        let origin_host = h
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(|o| o.split_once("://").map_or(o, |(_, rest)| rest));
        // The browser's own verdict when it gives one; else the Origin it names.
        // An opaque origin (`null`) names no site: refused too.
        let refused = match h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some(site) => site == "cross-site" || site == "same-site",
            None => origin_host.is_some_and(|o| Some(o) != host),
        };
        if refused {
            return PageError::new(
                StatusCode::FORBIDDEN,
                "a form sent from another site is refused",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Checks the form's CSRF field against its cookie, then the token, and keeps the token in
/// a cookie for this browser.
pub async fn login(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(e) = check_csrf(&headers, &form.csrf) {
        return e.into_response();
    }
    let token = form.token.trim();
    if token.len() > 256 || !same(&sha256(token), &state.token_hash) {
        let mut res = crate::pages::login_page(&headers, Some("wrong token"));
        *res.status_mut() = StatusCode::UNAUTHORIZED;
        return res;
    }
    let Some(session) = state.sessions.open() else {
        return PageError::internal("no randomness for a session").into_response();
    };
    let cookie = format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/");
    let mut res = Redirect::to("/matrix").into_response();
    if let Ok(v) = cookie.parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// Ends this browser's session (a copy of its cookie no longer works) and expires the cookie. A form (CSRF-checked) so another
/// site cannot sign the user out.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Err(e) = check_csrf(&headers, &form.csrf) {
        return e.into_response();
    }
    if let Some(id) = cookie(&headers, COOKIE) {
        state.sessions.close(&id);
    }
    let mut res = Redirect::to("/login").into_response();
    let expired = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(v) = expired.parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[derive(serde::Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_made_once_kept_hashed_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web-token.sha256");
        let first = load_or_create_token(&path, false).unwrap();
        let token = first.new_token.clone().expect("made on first start");
        assert_eq!(token.len(), 64);
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(!stored.contains(&token), "only the hash is stored");
        let again = load_or_create_token(&path, false).unwrap();
        assert!(again.new_token.is_none(), "printed once");
        assert_eq!(again.hash, sha256(&token));
        let renewed = load_or_create_token(&path, true).unwrap();
        assert_ne!(renewed.hash, again.hash);
        std::fs::write(&path, "not hex").unwrap();
        let Err(e) = load_or_create_token(&path, false) else {
            panic!("a damaged token file must be refused")
        };
        assert!(e.to_string().contains("--new-token"), "{e}");
    }
}

#[cfg(test)]
mod logout_tests {
    use crate::tests::{app, block_on, ELSEWHERE, LOCAL, TOKEN};
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};

    #[test]
    fn signing_out_expires_the_cookie_and_needs_the_forms_value() {
        block_on(async {
            let app = app();
            let post = |csrf: &str| {
                Request::post("/logout")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(
                        header::COOKIE,
                        "aisec_csrf=abcdefabcdefabcdefabcdefabcdefab",
                    )
                    .body(Body::from(format!("csrf={csrf}")))
                    .unwrap()
            };
            let (status, _, _) = app.send(post("other"), LOCAL).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            let (status, headers, _) = app
                .send(post("abcdefabcdefabcdefabcdefabcdefab"), LOCAL)
                .await;
            assert_eq!(status, StatusCode::SEE_OTHER);
            let cookie = headers[header::SET_COOKIE].to_str().unwrap();
            assert!(
                cookie.starts_with("aisec_session=;") && cookie.contains("Max-Age=0"),
                "{cookie}"
            );
        });
    }

    #[test]
    fn a_signed_out_session_is_over_even_for_a_copy_of_its_cookie() {
        block_on(async {
            let app = app();
            let csrf = "0123456789abcdef0123456789abcdef";
            let form = |path: &str, body: String, cookie: String| {
                Request::post(path)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::COOKIE, cookie)
                    .body(Body::from(body))
                    .unwrap()
            };
            let (status, headers, _) = app
                .send(
                    form(
                        "/login",
                        format!("token={TOKEN}&csrf={csrf}"),
                        format!("aisec_csrf={csrf}"),
                    ),
                    ELSEWHERE,
                )
                .await;
            assert_eq!(status, StatusCode::SEE_OTHER);
            let session = headers[header::SET_COOKIE]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string();
            assert!(
                session.starts_with("aisec_session=") && !session.contains(TOKEN),
                "{session}"
            );
            let runs = |cookie: &str| {
                Request::get("/runs")
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())
                    .unwrap()
            };
            assert_eq!(app.send(runs(&session), ELSEWHERE).await.0, StatusCode::OK);
            let (status, _, _) = app
                .send(
                    form(
                        "/logout",
                        format!("csrf={csrf}"),
                        format!("aisec_csrf={csrf}; {session}"),
                    ),
                    ELSEWHERE,
                )
                .await;
            assert_eq!(status, StatusCode::SEE_OTHER);
            assert_eq!(
                app.send(runs(&session), ELSEWHERE).await.0,
                StatusCode::UNAUTHORIZED
            );
            // The token itself in a cookie is not a session.
            let raw = format!("aisec_session={TOKEN}");
            assert_eq!(
                app.send(runs(&raw), ELSEWHERE).await.0,
                StatusCode::UNAUTHORIZED
            );
        });
    }
}
