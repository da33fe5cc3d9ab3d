//! The guarding proxy (`aisec llm guard serve`): an OpenAI-compatible endpoint in front of
//! another. Each request's messages are checked before they are forwarded (ATLAS AML.M0020),
//! each reply before it is returned — streamed replies as they stream, with a short hold-back
//! so that a secret is caught before its last characters leave — and every decision is
//! logged as a JSON line (AML.M0024 AI Telemetry Logging).
//!
//! Blocking looks like a provider's content filter: a request is refused with HTTP 400 and
//! `{"error": {"code": "content_filter", "type": "aisec_guard", …}}` and a generic message; a
//! reply comes back with each offending choice withheld and `finish_reason: "content_filter"`.
//! Every choice and every text field of a reply is checked ([`super::reply_fields`]), and so
//! is every upstream error body. What the client learns of a block is the detector's name and
//! the request's id in the decision log: the evidence (the secret, the system-prompt text, the
//! words that weighed most) goes to the log only, never into a body, header, stream event or
//! error message. Flagging forwards everything and says so in the `x-aisec-guard` header (or,
//! in a stream, an SSE comment line). A stream's headers leave before its reply is checked, so
//! its header tells the input check alone (`input-pass`, `input-flagged`); the reply's verdict
//! is its last event: `aisec_guard` on a withheld stream, an `: aisec-guard …` comment else.

mod stream;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::output::{self, Protected};
use super::reply_fields::ResponseFields;
use super::Guard;
use crate::detectors::canary;
use crate::error::{LlmError, Result};

/// Characters of a streamed reply held back until the next check passes: longer than a
/// spaced-out secret, so that none leaves before the check that catches it.
pub const HOLD_BACK: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Block,
    Flag,
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The upstream API root, e.g. `http://127.0.0.1:8080/v1`.
    pub upstream: String,
    pub mode: Mode,
    /// Secrets to keep out of replies, besides those found in the system prompt.
    pub secrets: Vec<String>,
    /// The roles whose messages are checked.
    pub check_roles: Vec<String>,
    pub log: Option<PathBuf>,
    pub timeout_s: f64,
    pub ca_cert: Option<PathBuf>,
}

impl ProxyConfig {
    pub fn new(upstream: impl Into<String>) -> Self {
        ProxyConfig {
            upstream: upstream.into(),
            mode: Mode::Block,
            secrets: Vec::new(),
            // Not the system prompt: it is the application's own, and the training data labels
            // persona text ("You are a helpful travel assistant.") as jailbreaks, so every
            // application would be blocked.
            check_roles: ["user", "tool", "function"].map(String::from).to_vec(),
            log: None,
            timeout_s: 120.0,
            ca_cert: None,
        }
    }
}

/// What the proxy has done so far.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub requests: AtomicU64,
    pub blocked_requests: AtomicU64,
    pub blocked_replies: AtomicU64,
    pub flagged: AtomicU64,
    /// Microseconds the guard spent per request (input checks) and per reply (output checks).
    pub guard_micros: Mutex<Vec<f64>>,
}

struct Shared {
    guard: Arc<Guard>,
    config: ProxyConfig,
    agent: ureq::Agent,
    log: Option<Mutex<std::fs::File>>,
    stats: Arc<ProxyStats>,
    ids: AtomicU64,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub base_url: String,
    pub stats: Arc<ProxyStats>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Proxy {
    /// Blocks until the server stops (for the CLI).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the proxy on `bind` (`127.0.0.1:0` picks a free port); its API root is `base_url`.
pub fn start(guard: Arc<Guard>, config: ProxyConfig, bind: &str) -> Result<Proxy> {
    if !(config.upstream.starts_with("http://") || config.upstream.starts_with("https://")) {
        return Err(LlmError::Invalid(format!(
            "--upstream {}: expected openai+http(s)://HOST:PORT/v1",
            config.upstream
        )));
    }
    if !(config.timeout_s > 0.0 && config.timeout_s.is_finite()) {
        return Err(LlmError::Invalid(format!(
            "--timeout {}: expected a positive number of seconds",
            config.timeout_s
        )));
    }
    let agent = crate::transport::agent(
        Duration::from_secs_f64(config.timeout_s),
        config.ca_cert.as_deref(),
    )?;
    let log = match &config.log {
        Some(p) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| LlmError::Io {
                    path: p.display().to_string(),
                    source: e,
                })?,
        )),
        None => None,
    };
    let server = tiny_http::Server::http(bind)
        .map_err(|e| LlmError::Invalid(format!("--port: cannot listen on {bind}: {e}")))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| LlmError::Invalid(format!("{bind}: not an IP address")))?;
    let server = Arc::new(server);
    let stats = Arc::new(ProxyStats::default());
    let shared = Arc::new(Shared {
        guard,
        config,
        agent,
        log,
        stats: stats.clone(),
        ids: AtomicU64::new(0),
    });
    let worker = server.clone();
    let thread = std::thread::spawn(move || {
        for request in worker.incoming_requests() {
            let s = shared.clone();
            std::thread::spawn(move || handle(request, &s));
        }
    });
    Ok(Proxy {
        server,
        thread: Some(thread),
        base_url: format!("http://{addr}/v1"),
        stats,
    })
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn json_response(status: u16, body: &Value) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Shared {
    fn log(&self, line: Value) {
        if let Some(f) = &self.log {
            if let Ok(mut f) = f.lock() {
                let _ = writeln!(f, "{line}");
            }
        }
    }

    fn time(&self, micros: f64) {
        if let Ok(mut v) = self.stats.guard_micros.lock() {
            v.push(micros);
        }
    }
}

/// The text of a message's content: a string, or the text parts of an array.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The error a client gets when its request is blocked: a code and the request's id, nothing
/// that would tell an attacker what to change.
fn blocked_request(id: u64) -> Value {
    json!({"error": {
        "message": format!("The request was blocked by the deployment's content policy (aisec guard request {id})."),
        "type": "aisec_guard", "code": "content_filter", "param": null}})
}

/// What the client sees of the findings: which check, and where; never the evidence.
fn public(findings: &[Placed]) -> Value {
    Value::Array(
        findings
            .iter()
            .map(|(choice, f)| json!({"detector": f.detector, "choice": choice}))
            .collect(),
    )
}

/// What the log keeps of the findings: everything.
fn logged(findings: &[Placed]) -> Value {
    Value::Array(
        findings
            .iter()
            .map(|(choice, f)| json!({"detector": f.detector, "evidence": f.evidence, "choice": choice}))
            .collect(),
    )
}

/// An output finding and the choice it is in (`None`: outside the choices).
type Placed = (Option<u64>, output::OutputFinding);

/// Every finding in a response's (or a stream's) fields so far.
fn check_fields(fields: &ResponseFields, protect: &Protected) -> Vec<Placed> {
    let mut out = Vec::new();
    for (index, f) in &fields.choices {
        out.extend(
            output::check(&f.reply(), protect)
                .into_iter()
                .map(|x| (Some(*index), x)),
        );
    }
    out.extend(
        output::check(&fields.rest.reply(), protect)
            .into_iter()
            .map(|x| (None, x)),
    );
    out
}

/// Everything protected that `text` (a body as it would be sent) carries: the checks on its
/// fields, and a protected secret anywhere in its bytes. Empty when it may leave.
fn leaks_in(text: &str, protect: &Protected) -> Vec<Placed> {
    let mut fields = ResponseFields::default();
    fields.absorb_text(text);
    let mut findings = check_fields(&fields, protect);
    let raw = canary::detect(text, &protect.secrets);
    if findings.is_empty() && raw.hit {
        findings.push((
            None,
            output::OutputFinding {
                detector: "secret-leak",
                evidence: raw.evidence.unwrap_or_default(),
            },
        ));
    }
    findings
}

fn withheld_choice(index: u64) -> Value {
    json!({"index": index, "message": {"role": "assistant", "content": ""},
        "logprobs": null, "finish_reason": "content_filter"})
}

/// A whole reply withheld, with nothing of the upstream's in it.
fn withheld_reply(id: u64, findings: &[Placed]) -> Value {
    json!({"id": format!("aisec-guard-{id}"), "object": "chat.completion",
        "choices": [withheld_choice(0)],
        "aisec_guard": {"blocked": true, "request": id, "findings": public(findings)}})
}

/// `out` with every choice that has a finding withheld and every other field that carries
/// one removed; the whole reply withheld if anything would still leak.
fn block_reply(mut out: Value, findings: &[Placed], protect: &Protected, id: u64) -> Value {
    if let Some(choices) = out.get_mut("choices").and_then(Value::as_array_mut) {
        for (pos, choice) in choices.iter_mut().enumerate() {
            let index = choice
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            if findings.iter().any(|(c, _)| *c == Some(index)) {
                *choice = withheld_choice(index);
            }
        }
    }
    if let Some(map) = out.as_object_mut() {
        map.retain(|key, value| {
            key == "choices" || {
                let mut one = ResponseFields::default();
                one.absorb(&json!({ key.as_str(): value.clone() }));
                check_fields(&one, protect).is_empty()
            }
        });
    }
    out["aisec_guard"] = json!({"blocked": true, "request": id, "findings": public(findings)});
    // The last net before a blocked reply leaves: its serialized bytes carry nothing
    // protected, or nothing of the upstream's leaves at all.
    if !leaks_in(&out.to_string(), protect).is_empty() {
        return withheld_reply(id, findings);
    }
    out
}

/// An upstream error body passes unchanged unless it carries something protected (a server
/// that echoes the prompt in its error): then a generic error with the same status.
fn upstream_error(status: u16, text: String, protect: &Protected, s: &Shared, id: u64) -> String {
    let findings = leaks_in(&text, protect);
    if findings.is_empty() {
        return text;
    }
    s.log(
        json!({"time": now_s(), "id": id, "direction": "upstream-error", "decision": "block",
        "status": status, "findings": logged(&findings)}),
    );
    json!({"error": {"message": format!("The upstream's error was withheld by the content policy (aisec guard request {id})."),
        "type": "aisec_guard", "code": "content_filter"}})
    .to_string()
}

fn handle(mut request: tiny_http::Request, s: &Shared) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let method = request.method().as_str().to_string();
    if method == "GET" && path.ends_with("/models") {
        return forward_get(request, s, &path);
    }
    if !(method == "POST" && path.ends_with("/chat/completions")) {
        let _ = request.respond(json_response(
            404,
            &json!({"error": {"message": format!("aisec guard proxy: {method} {path} is not proxied (POST …/chat/completions, GET …/models)"), "type": "invalid_request_error"}}),
        ));
        return;
    }
    let id = s.ids.fetch_add(1, Ordering::SeqCst);
    s.stats.requests.fetch_add(1, Ordering::Relaxed);
    let mut body = Vec::new();
    if let Err(e) = request.as_reader().read_to_end(&mut body) {
        let _ = request.respond(json_response(
            400,
            &json!({"error": {"message": format!("reading the body: {e}")}}),
        ));
        return;
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let _ = request.respond(json_response(
                400,
                &json!({"error": {"message": format!("the body is not JSON: {e}"), "type": "invalid_request_error"}}),
            ));
            return;
        }
    };
    let auth = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("authorization"))
        .map(|h| h.value.as_str().to_string());

    // Input checks.
    let started = Instant::now();
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let mut system_prompt = String::new();
    let mut request_text = String::new();
    let mut flagged: Option<(usize, String, super::Check)> = None;
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("").to_string();
        let text = content_text(&m["content"]);
        if role == "system" || role == "developer" {
            system_prompt.push_str(&text);
            system_prompt.push('\n');
        } else {
            request_text.push_str(&text);
            request_text.push('\n');
        }
        if !s.config.check_roles.contains(&role) || text.trim().is_empty() {
            continue;
        }
        let c = s.guard.check_long(&text);
        if c.flagged && flagged.as_ref().is_none_or(|f| f.2.score < c.score) {
            flagged = Some((i, role, c));
        }
    }
    let input_micros = started.elapsed().as_secs_f64() * 1e6;
    s.time(input_micros);
    let decision = match (&flagged, s.config.mode) {
        (None, _) => "pass",
        (Some(_), Mode::Block) => "block",
        (Some(_), Mode::Flag) => "flag",
    };
    s.log(json!({
        "time": now_s(), "id": id, "direction": "request", "decision": decision,
        "messages": messages.len(), "guard_us": input_micros,
        "finding": flagged.as_ref().map(|(i, role, c)| json!({
            "message": i, "role": role, "detector": c.detector, "score": c.score,
            "threshold": c.threshold, "evidence": c.evidence })),
    }));
    if flagged.is_some() {
        s.stats.flagged.fetch_add(1, Ordering::Relaxed);
        if s.config.mode == Mode::Block {
            s.stats.blocked_requests.fetch_add(1, Ordering::Relaxed);
            let _ = request.respond(
                json_response(400, &blocked_request(id))
                    .with_header(header("x-aisec-guard", "blocked")),
            );
            return;
        }
    }
    let protect = Protected::from_request(&s.config.secrets, &system_prompt, &request_text);
    let input_verdict = if flagged.is_some() { "flagged" } else { "pass" };
    let url = format!(
        "{}/chat/completions",
        s.config.upstream.trim_end_matches('/')
    );
    let mut up = s
        .agent
        .post(&url)
        .header("content-type", "application/json");
    if let Some(a) = &auth {
        up = up.header("authorization", a);
    }
    let resp = match up.send(&body[..]) {
        Ok(r) => r,
        Err(e) => {
            // Where the upstream is and why it failed is the operator's business.
            s.log(
                json!({"time": now_s(), "id": id, "direction": "upstream", "decision": "error",
                "error": format!("{url}: {e}")}),
            );
            let _ = request.respond(json_response(
                502,
                &json!({"error": {"message": format!("aisec guard proxy: the upstream did not answer (request {id})"), "type": "upstream_error"}}),
            ));
            return;
        }
    };
    let status = resp.status().as_u16();
    let sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if sse && status < 300 {
        return stream::reply(request, s, resp, &protect, id, input_verdict);
    }
    let text = resp
        .into_body()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap_or_default();
    let out: Value = match serde_json::from_str(&text) {
        Ok(v) if status < 300 => v,
        _ => {
            let text = upstream_error(status, text, &protect, s, id);
            let _ = request.respond(
                tiny_http::Response::from_string(text)
                    .with_status_code(status)
                    .with_header(header("Content-Type", "application/json")),
            );
            return;
        }
    };
    let started = Instant::now();
    let mut fields = ResponseFields::default();
    fields.absorb(&out);
    let findings = check_fields(&fields, &protect);
    let micros = started.elapsed().as_secs_f64() * 1e6;
    s.time(micros);
    let decision = match (findings.is_empty(), s.config.mode) {
        (true, _) => "pass",
        (false, Mode::Block) => "block",
        (false, Mode::Flag) => "flag",
    };
    s.log(
        json!({"time": now_s(), "id": id, "direction": "reply", "decision": decision,
        "streamed": false, "guard_us": micros, "findings": logged(&findings)}),
    );
    let (out, verdict) = if findings.is_empty() {
        (out, input_verdict)
    } else {
        s.stats.flagged.fetch_add(1, Ordering::Relaxed);
        if s.config.mode == Mode::Block {
            s.stats.blocked_replies.fetch_add(1, Ordering::Relaxed);
            (block_reply(out, &findings, &protect, id), "blocked")
        } else {
            let mut out = out;
            out["aisec_guard"] =
                json!({"blocked": false, "request": id, "findings": public(&findings)});
            (out, "flagged")
        }
    };
    let _ =
        request.respond(json_response(status, &out).with_header(header("x-aisec-guard", verdict)));
}

fn forward_get(request: tiny_http::Request, s: &Shared, path: &str) {
    let base = s.config.upstream.trim_end_matches('/');
    let url = format!("{base}{}", path.strip_prefix("/v1").unwrap_or(path));
    let (status, mut text) = match s.agent.get(&url).call() {
        Ok(r) => {
            let st = r.status().as_u16();
            (st, r.into_body().read_to_string().unwrap_or_default())
        }
        Err(e) => {
            s.log(
                json!({"time": now_s(), "direction": "upstream", "decision": "error",
                "error": format!("{url}: {e}")}),
            );
            (
                502,
                json!({"error": {"message": "aisec guard proxy: the upstream did not answer", "type": "upstream_error"}}).to_string(),
            )
        }
    };
    // The models list passes only if it carries none of the operator's declared secrets.
    if canary::detect(&text, &s.config.secrets).hit {
        s.log(json!({"time": now_s(), "direction": "models", "decision": "block"}));
        text = json!({"error": {"message": "aisec guard proxy: the upstream's answer was withheld by the content policy", "type": "aisec_guard", "code": "content_filter"}}).to_string();
    }
    let _ = request.respond(
        tiny_http::Response::from_string(text)
            .with_status_code(status)
            .with_header(header("Content-Type", "application/json")),
    );
}

/// Reads a decision log back (for tests and reports).
pub fn read_log(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| LlmError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| LlmError::Invalid(format!("{}: {e}", path.display())))
        })
        .collect()
}
