//! The guarding proxy (`aisec llm guard serve`): an OpenAI-compatible endpoint in front of
//! another. Each request's messages are checked before they are forwarded (ATLAS AML.M0020),
//! each reply before it is returned — streamed replies as they stream, with a short hold-back
//! so that a secret is caught before its last characters leave — and every decision is
//! logged as a JSON line (AML.M0024 AI Telemetry Logging).
//!
//! Blocking looks like a provider's content filter: a request is refused with HTTP 400 and
//! `{"error": {"code": "content_filter", "type": "aisec_guard", …}}`; a reply comes back with
//! its content withheld and `finish_reason: "content_filter"`. Flagging forwards everything
//! and says so in the `x-aisec-guard` header (or, in a stream, an SSE comment line).

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::output::{self, Protected};
use super::Guard;
use crate::chat::{Reply, ToolCall};
use crate::error::{LlmError, Result};
use crate::targets::openai;

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
        if role == "system" {
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
    if let Some((i, role, c)) = &flagged {
        s.stats.flagged.fetch_add(1, Ordering::Relaxed);
        if s.config.mode == Mode::Block {
            s.stats.blocked_requests.fetch_add(1, Ordering::Relaxed);
            let _ = request.respond(
                json_response(400, &json!({"error": {
                    "message": format!("aisec guard blocked the request: messages[{i}] ({role}) scored {:.3} ≥ {:.3} by {}{}", c.score, c.threshold, c.detector,
                        if c.evidence.is_empty() { String::new() } else { format!(" ({})", c.evidence) }),
                    "type": "aisec_guard", "code": "content_filter", "param": format!("messages[{i}]")}}))
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
            let _ = request.respond(json_response(
                502,
                &json!({"error": {"message": format!("aisec guard proxy: upstream {url}: {e}"), "type": "upstream_error"}}),
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
        return stream_reply(request, s, resp, &protect, id, input_verdict);
    }
    let text = resp
        .into_body()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap_or_default();
    let mut out: Value = match serde_json::from_str(&text) {
        Ok(v) if status < 300 => v,
        _ => {
            // Errors pass through as the upstream wrote them.
            let _ = request.respond(
                tiny_http::Response::from_string(text)
                    .with_status_code(status)
                    .with_header(header("Content-Type", "application/json")),
            );
            return;
        }
    };
    let started = Instant::now();
    let findings = match openai::parse_completion(&out) {
        Ok(reply) => output::check(&reply, &protect),
        Err(_) => Vec::new(),
    };
    let micros = started.elapsed().as_secs_f64() * 1e6;
    s.time(micros);
    let decision = match (findings.is_empty(), s.config.mode) {
        (true, _) => "pass",
        (false, Mode::Block) => "block",
        (false, Mode::Flag) => "flag",
    };
    s.log(
        json!({"time": now_s(), "id": id, "direction": "reply", "decision": decision,
        "streamed": false, "guard_us": micros, "findings": findings}),
    );
    let verdict = if !findings.is_empty() {
        s.stats.flagged.fetch_add(1, Ordering::Relaxed);
        if s.config.mode == Mode::Block {
            s.stats.blocked_replies.fetch_add(1, Ordering::Relaxed);
            if let Some(choice) = out["choices"].get_mut(0) {
                choice["message"] = json!({"role": "assistant", "content": ""});
                choice["finish_reason"] = json!("content_filter");
            }
            out["aisec_guard"] = json!({"blocked": true, "findings": findings});
            "blocked"
        } else {
            out["aisec_guard"] = json!({"blocked": false, "findings": findings});
            "flagged"
        }
    } else {
        input_verdict
    };
    let _ =
        request.respond(json_response(status, &out).with_header(header("x-aisec-guard", verdict)));
}

fn forward_get(request: tiny_http::Request, s: &Shared, path: &str) {
    let base = s.config.upstream.trim_end_matches('/');
    let url = format!("{base}{}", path.strip_prefix("/v1").unwrap_or(path));
    let (status, text) = match s.agent.get(&url).call() {
        Ok(r) => {
            let st = r.status().as_u16();
            (st, r.into_body().read_to_string().unwrap_or_default())
        }
        Err(e) => (
            502,
            json!({"error": {"message": format!("upstream {url}: {e}")}}).to_string(),
        ),
    };
    let _ = request.respond(
        tiny_http::Response::from_string(text)
            .with_status_code(status)
            .with_header(header("Content-Type", "application/json")),
    );
}

/// Feeds a chunked response from another thread.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.pending = b,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// The state of a reply being streamed: its text and tool calls so far.
#[derive(Default)]
struct Partial {
    content: String,
    calls: Vec<(String, String)>,
}

impl Partial {
    /// Takes one event's deltas in; returns false for an event that is not JSON.
    fn absorb(&mut self, event: &str) -> bool {
        let Ok(v) = serde_json::from_str::<Value>(event) else {
            return false;
        };
        let delta = &v["choices"][0]["delta"];
        if let Some(c) = delta["content"].as_str() {
            self.content.push_str(c);
        }
        if let Some(calls) = delta["tool_calls"].as_array() {
            for c in calls {
                let i = c["index"].as_u64().unwrap_or(0) as usize;
                while self.calls.len() <= i {
                    self.calls.push(Default::default());
                }
                if let Some(n) = c["function"]["name"].as_str() {
                    self.calls[i].0.push_str(n);
                }
                if let Some(a) = c["function"]["arguments"].as_str() {
                    self.calls[i].1.push_str(a);
                }
            }
        }
        true
    }

    fn reply(&self) -> Reply {
        Reply {
            content: self.content.clone(),
            tool_calls: self
                .calls
                .iter()
                .map(|(n, a)| ToolCall {
                    id: None,
                    name: n.clone(),
                    arguments: a.clone(),
                })
                .collect(),
            ..Reply::default()
        }
    }
}

fn stream_reply(
    request: tiny_http::Request,
    s: &Shared,
    resp: ureq::http::Response<ureq::Body>,
    protect: &Protected,
    id: u64,
    input_verdict: &str,
) {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let response = tiny_http::Response::new(
        200.into(),
        vec![
            header("Content-Type", "text/event-stream"),
            header("Cache-Control", "no-cache"),
            header("x-aisec-guard", input_verdict),
        ],
        ChannelReader {
            rx,
            pending: Vec::new(),
        },
        None,
        None,
    );
    // The client is written to on this thread's helper while this one reads upstream.
    let writer = std::thread::spawn(move || {
        let _ = request.respond(response);
    });
    let send = |event: &str| tx.send(format!("data: {event}\n\n").into_bytes()).is_ok();
    let mut partial = Partial::default();
    // Events not yet sent, with the content length after each.
    let mut held: Vec<(String, usize)> = Vec::new();
    let mut blocked: Vec<output::OutputFinding> = Vec::new();
    let mut flagged: Vec<output::OutputFinding> = Vec::new();
    let mut micros = 0.0;
    let mut data = String::new();
    let mut done = false;
    let mut body = resp.into_body();
    let reader = std::io::BufReader::new(body.as_reader());
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
            continue;
        }
        if !line.is_empty() || data.is_empty() {
            continue;
        }
        let event = std::mem::take(&mut data);
        if event.trim() == "[DONE]" {
            done = true;
            break;
        }
        partial.absorb(&event);
        let started = Instant::now();
        let findings = output::check(&partial.reply(), protect);
        micros += started.elapsed().as_secs_f64() * 1e6;
        if !findings.is_empty() && s.config.mode == Mode::Block {
            blocked = findings;
            break;
        }
        if !findings.is_empty() && flagged.is_empty() {
            flagged = findings;
        }
        held.push((event, partial.content.len()));
        if s.config.mode == Mode::Flag {
            for (e, _) in held.drain(..) {
                send(&e);
            }
            continue;
        }
        let safe = partial.content.len().saturating_sub(HOLD_BACK);
        let release = held.iter().take_while(|(_, end)| *end <= safe).count();
        for (e, _) in held.drain(..release) {
            send(&e);
        }
    }
    s.time(micros);
    let decision = if !blocked.is_empty() {
        s.stats.blocked_replies.fetch_add(1, Ordering::Relaxed);
        s.stats.flagged.fetch_add(1, Ordering::Relaxed);
        let stop = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}],
            "aisec_guard": {"blocked": true, "findings": blocked}});
        send(&stop.to_string());
        send("[DONE]");
        "block"
    } else {
        for (e, _) in held.drain(..) {
            send(&e);
        }
        if !flagged.is_empty() {
            s.stats.flagged.fetch_add(1, Ordering::Relaxed);
            let _ =
                tx.send(format!(": aisec-guard flagged {}\n\n", flagged[0].detector).into_bytes());
        }
        if done {
            send("[DONE]");
        }
        if flagged.is_empty() {
            "pass"
        } else {
            "flag"
        }
    };
    s.log(
        json!({"time": now_s(), "id": id, "direction": "reply", "decision": decision,
        "streamed": true, "complete": done || decision == "block", "guard_us": micros,
        "findings": if blocked.is_empty() { &flagged } else { &blocked }}),
    );
    drop(tx);
    let _ = writer.join();
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
