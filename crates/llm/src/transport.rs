//! HTTP to an LLM target: certificate-verified TLS (rustls, the Web PKI roots or a CA file),
//! timeouts, retries with back-off, HTTP 429 waited out as `Retry-After` asks, and the run's
//! request and token budgets, with everything counted in a [`Ledger`] for the report.

use std::io::BufRead;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{LlmError, Result};

/// How requests are sent; every limit is reported with what was spent against it.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// Per request, connection to last byte.
    pub timeout_s: f64,
    /// Tries after the first one for a connection failure or an HTTP 5xx.
    pub retries: u32,
    /// The first back-off; each later one doubles.
    pub backoff_ms: u64,
    /// Total time a run may spend waiting out HTTP 429s before it gives up on a request.
    pub max_rate_limit_wait_s: f64,
    /// HTTP requests the run may send in all, retries included; `None`: unlimited.
    pub max_requests: Option<u64>,
    /// Prompt plus completion tokens, as the target's `usage` reports them, summed over the
    /// run; checked before each request, so the request that crosses it still completes (and,
    /// with several workers, those already in flight).
    pub max_tokens_total: Option<u64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout_s: 120.0,
            retries: 3,
            backoff_ms: 500,
            max_rate_limit_wait_s: 300.0,
            max_requests: None,
            max_tokens_total: None,
        }
    }
}

/// What the run spent, shared by every worker.
#[derive(Debug, Default)]
pub struct Ledger {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    pub rate_limit_wait_ms: AtomicU64,
    pub failures: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    /// Replies that did not say how many tokens they used.
    pub replies_without_usage: AtomicU64,
}

/// The ledger as numbers, with the limits it was held to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Spent {
    pub requests: u64,
    pub max_requests: Option<u64>,
    pub retries: u64,
    pub rate_limited: u64,
    pub rate_limit_wait_s: f64,
    pub failed_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub max_tokens_total: Option<u64>,
    pub replies_without_usage: u64,
}

impl Ledger {
    pub fn spent(&self, policy: &Policy) -> Spent {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Spent {
            requests: get(&self.requests),
            max_requests: policy.max_requests,
            retries: get(&self.retries),
            rate_limited: get(&self.rate_limited),
            rate_limit_wait_s: get(&self.rate_limit_wait_ms) as f64 / 1000.0,
            failed_requests: get(&self.failures),
            prompt_tokens: get(&self.prompt_tokens),
            completion_tokens: get(&self.completion_tokens),
            max_tokens_total: policy.max_tokens_total,
            replies_without_usage: get(&self.replies_without_usage),
        }
    }

    pub fn tokens(&self) -> u64 {
        self.prompt_tokens.load(Ordering::Relaxed) + self.completion_tokens.load(Ordering::Relaxed)
    }
}

/// A response read in full: the status and the body, or the SSE `data:` payloads in order
/// with when the first one arrived.
pub struct Response {
    pub status: u16,
    pub body: String,
    pub events: Vec<String>,
    pub first_event_ms: Option<f64>,
    pub elapsed_ms: f64,
}

/// A blocking HTTP client shared by a run's workers.
pub struct Http {
    agent: ureq::Agent,
    pub policy: Policy,
    pub ledger: Ledger,
    /// Who is being talked to, for error messages.
    pub label: String,
}

fn tls_roots(ca_cert: Option<&Path>) -> Result<ureq::tls::RootCerts> {
    aisec_ml::kserve::tls_roots(ca_cert).map_err(|e| LlmError::Invalid(e.to_string()))
}

/// A client that verifies TLS against the Web PKI roots or `ca_cert`, gives up after
/// `timeout` (connecting after at most 10 s of it) and hands every HTTP status back to the
/// caller rather than turning it into an error.
pub fn agent(timeout: Duration, ca_cert: Option<&Path>) -> Result<ureq::Agent> {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(tls_roots(ca_cert)?)
        .build();
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(Duration::from_secs(10).min(timeout)))
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .into())
}

impl Http {
    pub fn new(label: impl Into<String>, policy: Policy, ca_cert: Option<&Path>) -> Result<Self> {
        // A week is longer than any request or wait should take; larger values (1e30) do not
        // fit a timer at all.
        const LONGEST: f64 = 7.0 * 86_400.0;
        if !(policy.timeout_s > 0.0 && policy.timeout_s <= LONGEST) {
            return Err(LlmError::Invalid(format!(
                "--timeout {}: expected a positive number of seconds, at most {LONGEST}",
                policy.timeout_s
            )));
        }
        if !(policy.max_rate_limit_wait_s >= 0.0 && policy.max_rate_limit_wait_s <= LONGEST) {
            return Err(LlmError::Invalid(format!(
                "--max-rate-limit-wait {}: expected seconds from 0 to {LONGEST}",
                policy.max_rate_limit_wait_s
            )));
        }
        Ok(Http {
            agent: agent(Duration::from_secs_f64(policy.timeout_s), ca_cert)?,
            policy,
            ledger: Ledger::default(),
            label: label.into(),
        })
    }

    /// Takes one request from the budget, or refuses; the request count is reserved
    /// atomically, so concurrent workers never send more than the budget allows.
    fn take_request(&self) -> Result<()> {
        if let Some(allowed) = self.policy.max_tokens_total {
            let spent = self.ledger.tokens();
            if spent >= allowed {
                return Err(LlmError::BudgetSpent {
                    which: "token",
                    spent,
                    allowed,
                });
            }
        }
        let before = self.ledger.requests.fetch_add(1, Ordering::SeqCst);
        if let Some(allowed) = self.policy.max_requests {
            if before >= allowed {
                self.ledger.requests.fetch_sub(1, Ordering::SeqCst);
                return Err(LlmError::BudgetSpent {
                    which: "request",
                    spent: allowed,
                    allowed,
                });
            }
        }
        Ok(())
    }

    /// Counts the tokens a reply reports against the run's budget.
    pub fn record_usage(&self, usage: Option<crate::chat::Usage>) {
        match usage {
            Some(u) => {
                self.ledger
                    .prompt_tokens
                    .fetch_add(u.prompt_tokens, Ordering::Relaxed);
                self.ledger
                    .completion_tokens
                    .fetch_add(u.completion_tokens, Ordering::Relaxed);
            }
            None => {
                self.ledger
                    .replies_without_usage
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// POSTs `body` as JSON and reads the whole answer. Connection failures and 5xx are
    /// retried with doubling back-off; a 429 is waited out as its `Retry-After` says (or the
    /// back-off when it says nothing) and is not counted as a failed try. Other statuses are
    /// returned to the caller.
    pub fn post_json(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &serde_json::Value,
        stream: bool,
    ) -> Result<Response> {
        let started = Instant::now();
        let payload = serde_json::to_vec(body).map_err(|e| LlmError::Invalid(e.to_string()))?;
        let mut backoff = Duration::from_millis(self.policy.backoff_ms);
        let mut failures = 0u32;
        let mut waited = Duration::ZERO;
        let max_wait = Duration::from_secs_f64(self.policy.max_rate_limit_wait_s.max(0.0));
        loop {
            self.take_request()?;
            let mut req = self
                .agent
                .post(url)
                .header("content-type", "application/json");
            for (k, v) in headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let why = match req.send(&payload[..]) {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status == 429 {
                        let ask = resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<f64>().ok())
                            .filter(|s| s.is_finite() && *s >= 0.0)
                            .map(Duration::from_secs_f64)
                            .unwrap_or(backoff);
                        self.ledger.rate_limited.fetch_add(1, Ordering::Relaxed);
                        waited += ask;
                        if waited > max_wait {
                            self.ledger.failures.fetch_add(1, Ordering::Relaxed);
                            return Err(LlmError::Unreachable {
                                target: self.label.clone(),
                                why: format!(
                                    "still rate-limited (HTTP 429) after waiting {:.1} s in all; --max-rate-limit-wait allows {:.1} s",
                                    waited.as_secs_f64(),
                                    max_wait.as_secs_f64()
                                ),
                            });
                        }
                        tracing::info!(
                            wait_ms = ask.as_millis() as u64,
                            "HTTP 429: waiting as the server asks"
                        );
                        self.ledger
                            .rate_limit_wait_ms
                            .fetch_add(ask.as_millis() as u64, Ordering::Relaxed);
                        std::thread::sleep(ask);
                        continue;
                    }
                    if status >= 500 {
                        let text = resp.into_body().read_to_string().unwrap_or_default();
                        format!("HTTP {status}: {}", snippet(&text))
                    } else {
                        match read_body(resp, stream, started) {
                            Ok(r) => return Ok(r),
                            Err(e) => format!("the connection broke while reading: {e}"),
                        }
                    }
                }
                Err(e) => e.to_string(),
            };
            failures += 1;
            if failures > self.policy.retries {
                self.ledger.failures.fetch_add(1, Ordering::Relaxed);
                return Err(LlmError::Unreachable {
                    target: self.label.clone(),
                    why: format!("{why} (after {} tries)", failures),
                });
            }
            self.ledger.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%why, "retrying after {} ms", backoff.as_millis());
            std::thread::sleep(backoff);
            backoff *= 2;
        }
    }
}

fn read_body(
    resp: ureq::http::Response<ureq::Body>,
    stream: bool,
    started: Instant,
) -> std::io::Result<Response> {
    let status = resp.status().as_u16();
    let is_sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut body = resp.into_body();
    if !(stream && is_sse && status < 300) {
        let text = body
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(std::io::Error::other)?;
        return Ok(Response {
            status,
            body: text,
            events: Vec::new(),
            first_event_ms: None,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        });
    }
    let reader = std::io::BufReader::new(body.as_reader());
    let mut events = Vec::new();
    let mut first = None;
    let mut data = String::new();
    for line in reader.lines() {
        let line = line?;
        if line.is_empty() {
            if !data.is_empty() {
                first.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1e3);
                events.push(std::mem::take(&mut data));
            }
            continue;
        }
        if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    if !data.is_empty() {
        events.push(data);
    }
    // OpenAI-style streams end with `[DONE]`; one that stops before it was cut off.
    if events.last().map(|e| e.trim()) != Some("[DONE]") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the event stream ended before [DONE]",
        ));
    }
    Ok(Response {
        status,
        body: String::new(),
        events,
        first_event_ms: first,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// The first 300 characters of a body, for error messages.
pub fn snippet(text: &str) -> String {
    let s: String = text.chars().take(300).collect();
    if s.len() < text.len() {
        format!("{s}…")
    } else {
        s
    }
}
