//! The KServe v2 / Open Inference Protocol, both sides: a black-box client for remote
//! classifiers (`kserve+http://host:port/v2/models/NAME`) and a small server that exposes
//! any [`Classifier`] on it (for labs and tests).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{MlError, Result};
use crate::model::{rows, Classifier, ModelInfo, OutputKind, QueryBudget, QueryOutput};
use crate::tensor;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InferTensor {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    pub data: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InferRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub inputs: Vec<InferTensor>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InferResponse {
    #[serde(default)]
    pub model_name: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    pub outputs: Vec<InferTensor>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub name: String,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub platform: Option<String>,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

/// Retry policy: transport errors and 5xx answers are retried with doubling back-off.
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How long one request may wait out a server's rate limit in total.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);

/// A remote classifier reached over KServe v2 REST. Black box: no gradients.
pub struct KServeModel {
    base: String,
    name: String,
    agent: ureq::Agent,
    info: ModelInfo,
    output: OutputKind,
    budget: QueryBudget,
}

impl std::fmt::Debug for KServeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KServeModel")
            .field("base", &self.base)
            .field("name", &self.name)
            .finish()
    }
}

/// Splits `kserve+http://host:port/v2/models/NAME` into the server's base URL and the name.
pub fn parse_url(spec: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        MlError::Invalid(format!(
            "--model {spec}: {why}; expected kserve+http://HOST:PORT/v2/models/NAME"
        ))
    };
    let rest = spec
        .strip_prefix("kserve+")
        .ok_or_else(|| bad("not a KServe URL"))?;
    if rest.starts_with("https://") {
        return Err(bad("https is not supported by this build (no TLS); put the endpoint behind a local http proxy"));
    }
    let after_scheme = rest
        .strip_prefix("http://")
        .ok_or_else(|| bad("the scheme must be http"))?;
    let (host, path) = after_scheme
        .split_once('/')
        .ok_or_else(|| bad("no model path"))?;
    let name = path
        .strip_prefix("v2/models/")
        .map(|n| n.trim_end_matches('/'))
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| bad("the path must be /v2/models/NAME"))?;
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((format!("http://{host}"), name.to_string()))
}

impl KServeModel {
    /// Connects, checks readiness and reads the model's metadata.
    pub fn connect(spec: &str, max_queries: Option<u64>, timeout: Duration) -> Result<Self> {
        let (base, name) = parse_url(spec)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(Duration::from_secs(5).min(timeout)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut model = KServeModel {
            base,
            name,
            agent,
            info: ModelInfo {
                description: String::new(),
                input_shape: Vec::new(),
                num_classes: 0,
                input_range: None,
            },
            output: OutputKind::Probabilities,
            budget: QueryBudget::new(max_queries),
        };
        let ready: serde_json::Value = model.get(&format!("/v2/models/{}/ready", model.name))?;
        if ready.get("ready").and_then(|r| r.as_bool()) == Some(false) {
            return Err(MlError::Invalid(format!(
                "{}: the server says model `{}` is not ready",
                model.base, model.name
            )));
        }
        let meta: ModelMetadata = model.get(&format!("/v2/models/{}", model.name))?;
        let input = meta
            .inputs
            .first()
            .ok_or_else(|| model.garbage("the metadata lists no input"))?;
        let output = meta
            .outputs
            .first()
            .ok_or_else(|| model.garbage("the metadata lists no output"))?;
        let sample: Vec<usize> = input
            .shape
            .iter()
            .skip(1)
            .map(|d| usize::try_from(*d).unwrap_or(0))
            .collect();
        if sample.is_empty() || sample.contains(&0) {
            return Err(model.garbage(&format!(
                "input `{}` has shape {:?}; aisec needs a fixed shape after the batch axis",
                input.name, input.shape
            )));
        }
        let classes = match output.shape.last() {
            Some(k) if *k > 1 && output.shape.len() == 2 => *k as usize,
            _ => {
                return Err(model.garbage(&format!(
                    "output `{}` has shape {:?}; aisec needs [batch, classes] scores",
                    output.name, output.shape
                )))
            }
        };
        model.info = ModelInfo {
            description: format!(
                "kserve {}/v2/models/{} ({})",
                model.base,
                model.name,
                meta.platform.unwrap_or_else(|| "unknown platform".into())
            ),
            input_shape: sample,
            num_classes: classes,
            input_range: None,
        };
        model.output = if output.name.contains("logit") {
            OutputKind::Logits
        } else {
            OutputKind::Probabilities
        };
        Ok(model)
    }

    fn garbage(&self, why: &str) -> MlError {
        MlError::Invalid(format!(
            "{}/v2/models/{} answered something that is not a KServe v2 classifier: {why}",
            self.base, self.name
        ))
    }

    fn with_retries<T>(
        &self,
        what: &str,
        mut call: impl FnMut() -> std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        parse: impl Fn(ureq::http::Response<ureq::Body>) -> Result<T>,
    ) -> Result<T> {
        let mut backoff = FIRST_BACKOFF;
        let mut last = String::new();
        let mut rate_limited_for = Duration::ZERO;
        let mut attempt = 0;
        let mut waited_out_rate_limit = false;
        while attempt <= RETRIES {
            if attempt > 0 && !std::mem::take(&mut waited_out_rate_limit) {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            attempt += 1;
            match call() {
                Ok(resp) if resp.status().as_u16() == 429 => {
                    let text = resp.into_body().read_to_string().unwrap_or_default();
                    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    if let (Some(used), Some(max)) = (
                        body.get("budget_used").and_then(|v| v.as_u64()),
                        body.get("budget_max").and_then(|v| v.as_u64()),
                    ) {
                        return Err(MlError::BudgetExhausted { used, max });
                    }
                    let Some(ms) = body.get("retry_after_ms").and_then(|v| v.as_u64()) else {
                        return Err(MlError::Invalid(format!(
                            "{} {what}: HTTP 429: {}",
                            self.base,
                            text.chars().take(300).collect::<String>()
                        )));
                    };
                    // A rate limit is waited out, not counted as a failed try, up to a cap so
                    // that a server that never lets the client through does not hang it.
                    let wait = Duration::from_millis(ms);
                    rate_limited_for += wait;
                    if rate_limited_for > MAX_RATE_LIMIT_WAIT {
                        return Err(MlError::RateLimited { retry_after_ms: ms });
                    }
                    std::thread::sleep(wait);
                    attempt -= 1;
                    waited_out_rate_limit = true;
                    last = format!("rate limited for {ms} ms");
                    continue;
                }
                Ok(resp) if resp.status().is_server_error() => {
                    last = format!("HTTP {}", resp.status())
                }
                Ok(resp) if !resp.status().is_success() => {
                    let status = resp.status();
                    let text = resp.into_body().read_to_string().unwrap_or_default();
                    return Err(MlError::Invalid(format!(
                        "{} {what}: HTTP {status}: {}",
                        self.base,
                        text.chars().take(300).collect::<String>()
                    )));
                }
                Ok(resp) => return parse(resp),
                Err(e) => last = e.to_string(),
            }
            tracing::debug!(attempt, error = %last, "KServe request failed, retrying");
        }
        Err(MlError::Invalid(format!(
            "{} {what}: the server did not answer after {} tries ({last}); is it running?",
            self.base,
            RETRIES + 1
        )))
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{}", self.base, path);
        self.with_retries(
            &format!("GET {path}"),
            || self.agent.get(&url).call(),
            |resp| {
                resp.into_body()
                    .read_json::<T>()
                    .map_err(|e| self.garbage(&format!("GET {path}: {e}")))
            },
        )
    }

    fn infer(&self, x: &[f32]) -> Result<Vec<f32>> {
        let n = rows(x, self.info.features())?;
        let mut shape = vec![n as i64];
        shape.extend(self.info.input_shape.iter().map(|d| *d as i64));
        let request = InferRequest {
            id: None,
            inputs: vec![InferTensor {
                name: "input".into(),
                shape,
                datatype: "FP32".into(),
                data: x.iter().map(|v| serde_json::json!(v)).collect(),
            }],
        };
        let url = format!("{}/v2/models/{}/infer", self.base, self.name);
        let response: InferResponse = self.with_retries(
            "POST infer",
            || self.agent.post(&url).send_json(&request),
            |resp| {
                resp.into_body()
                    .read_json::<InferResponse>()
                    .map_err(|e| self.garbage(&format!("infer: {e}")))
            },
        )?;
        let out = response
            .outputs
            .first()
            .ok_or_else(|| self.garbage("infer returned no output"))?;
        let expected = n * self.info.num_classes;
        let values: Vec<f32> = out
            .data
            .iter()
            .map(|v| v.as_f64().map(|f| f as f32))
            .collect::<Option<_>>()
            .ok_or_else(|| self.garbage("infer returned non-numeric data"))?;
        if values.len() != expected || values.iter().any(|v| !v.is_finite()) {
            return Err(self.garbage(&format!(
                "infer returned {} values for {n} inputs of {} classes",
                values.len(),
                self.info.num_classes
            )));
        }
        Ok(values)
    }
}

impl Classifier for KServeModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn output_kind(&self) -> OutputKind {
        self.output
    }

    fn query(&self, x: &[f32]) -> Result<QueryOutput> {
        let n = rows(x, self.info.features())?;
        self.budget.charge(n as u64)?;
        let scores = self.infer(x)?;
        Ok(match self.output {
            OutputKind::Logits => QueryOutput::Logits(scores),
            _ => QueryOutput::Probabilities(scores),
        })
    }

    fn scores(&self, x: &[f32]) -> Result<QueryOutput> {
        rows(x, self.info.features())?;
        let scores = self.infer(x)?;
        Ok(match self.output {
            OutputKind::Logits => QueryOutput::Logits(scores),
            _ => QueryOutput::Probabilities(scores),
        })
    }

    fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>> {
        Ok(tensor::argmax_rows(&self.infer(x)?, self.info.num_classes))
    }

    fn budget(&self) -> &QueryBudget {
        &self.budget
    }
}

/// A running KServe v2 server; stops when dropped.
pub struct Server {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub addr: std::net::SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Server {
    /// Blocks until the server stops (for `aisec model serve`).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `model` as KServe v2 model `name` on `addr` (`127.0.0.1:0` picks a free port).
pub fn serve(model: Arc<dyn Classifier>, name: &str, addr: &str) -> Result<Server> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| MlError::Invalid(format!("cannot listen on {addr}: {e}")))?;
    let local = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| MlError::Invalid(format!("{addr} is not an IP address")))?;
    let server = Arc::new(server);
    let worker = server.clone();
    let name = name.to_string();
    let thread = std::thread::spawn(move || {
        for mut request in worker.incoming_requests() {
            let (status, body) = handle(&*model, &name, &mut request);
            let mut response = tiny_http::Response::from_string(body.to_string())
                .with_status_code(status)
                .with_header(
                    tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
                        .expect("a valid header"),
                );
            if let Some(ms) = body.get("retry_after_ms").and_then(|v| v.as_u64()) {
                // Retry-After counts whole seconds; the body keeps the exact figure.
                let seconds = ms.div_ceil(1000).max(1).to_string();
                if let Ok(h) =
                    tiny_http::Header::from_bytes(&b"Retry-After"[..], seconds.as_bytes())
                {
                    response.add_header(h);
                }
            }
            let _ = request.respond(response);
        }
    });
    Ok(Server {
        server,
        thread: Some(thread),
        addr: local,
    })
}

fn handle(
    model: &dyn Classifier,
    name: &str,
    request: &mut tiny_http::Request,
) -> (u16, serde_json::Value) {
    use serde_json::json;
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    let method = request.method().clone();
    let model_path = format!("/v2/models/{name}");
    let info = model.info();
    let mut input_shape = vec![-1i64];
    input_shape.extend(info.input_shape.iter().map(|d| *d as i64));
    match (method, path.as_str()) {
        (tiny_http::Method::Get, "/v2/health/live") => (200, json!({ "live": true })),
        (tiny_http::Method::Get, "/v2/health/ready") => (200, json!({ "ready": true })),
        (tiny_http::Method::Get, "/v2") => (
            200,
            json!({ "name": "aisec", "version": env!("CARGO_PKG_VERSION"), "extensions": [] }),
        ),
        (tiny_http::Method::Get, p) if p == model_path => (
            200,
            serde_json::to_value(ModelMetadata {
                name: name.to_string(),
                versions: vec!["1".into()],
                platform: Some("aisec".into()),
                inputs: vec![TensorMetadata {
                    name: "input".into(),
                    datatype: "FP32".into(),
                    shape: input_shape,
                }],
                outputs: vec![TensorMetadata {
                    name: "probabilities".into(),
                    datatype: "FP32".into(),
                    shape: vec![-1, info.num_classes as i64],
                }],
            })
            .unwrap_or_default(),
        ),
        (tiny_http::Method::Get, p) if p == format!("{model_path}/ready") => {
            (200, json!({ "name": name, "ready": true }))
        }
        (tiny_http::Method::Post, p) if p == format!("{model_path}/infer") => {
            let mut body = String::new();
            if std::io::Read::read_to_string(request.as_reader(), &mut body).is_err() {
                return (400, json!({ "error": "the request body is not UTF-8" }));
            }
            let parsed: InferRequest = match serde_json::from_str(&body) {
                Ok(r) => r,
                Err(e) => {
                    return (
                        400,
                        json!({ "error": format!("not a KServe v2 infer request: {e}") }),
                    )
                }
            };
            let Some(input) = parsed.inputs.first() else {
                return (400, json!({ "error": "the request has no input" }));
            };
            let Some(x) = input
                .data
                .iter()
                .map(|v| v.as_f64().map(|f| f as f32))
                .collect::<Option<Vec<f32>>>()
            else {
                return (400, json!({ "error": "input data must be numbers" }));
            };
            let n = input.shape.first().copied().unwrap_or(0).max(0) as usize;
            if x.len() != n * info.features() {
                return (
                    400,
                    json!({ "error": format!("input shape {:?} with {} values does not fit inputs of shape {:?}", input.shape, x.len(), info.input_shape) }),
                );
            }
            // Per-client defences key on the caller's address.
            let client = request
                .remote_addr()
                .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
            match model.query_as(&client, &x) {
                Ok(out) => {
                    let probs = match out.restrict(OutputKind::Probabilities, info.num_classes) {
                        QueryOutput::Probabilities(p) => p,
                        _ => return (500, json!({ "error": "the model does not expose scores" })),
                    };
                    let response = InferResponse {
                        model_name: Some(name.to_string()),
                        id: parsed.id,
                        outputs: vec![InferTensor {
                            name: "probabilities".into(),
                            shape: vec![n as i64, info.num_classes as i64],
                            datatype: "FP32".into(),
                            data: probs.iter().map(|v| json!(v)).collect(),
                        }],
                    };
                    (200, serde_json::to_value(response).unwrap_or_default())
                }
                Err(MlError::BudgetExhausted { used, max }) => (
                    429,
                    json!({ "error": format!("query budget exhausted: {used} of {max}"), "budget_used": used, "budget_max": max }),
                ),
                Err(MlError::RateLimited { retry_after_ms }) => (
                    429,
                    json!({ "error": format!("rate limited: retry after {retry_after_ms} ms"), "retry_after_ms": retry_after_ms }),
                ),
                Err(e) => (500, json!({ "error": e.to_string() })),
            }
        }
        (_, p) => (
            404,
            json!({ "error": format!("no route {p}; this server serves /v2/models/{name}") }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing() {
        assert_eq!(
            parse_url("kserve+http://127.0.0.1:8080/v2/models/digits").unwrap(),
            ("http://127.0.0.1:8080".into(), "digits".into())
        );
        for bad in [
            "http://x/v2/models/a",
            "kserve+http://x/models/a",
            "kserve+http://x/v2/models/",
            "kserve+ftp://x/v2/models/a",
            "kserve+https://x/v2/models/a",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
