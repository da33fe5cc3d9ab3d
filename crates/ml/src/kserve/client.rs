//! The black-box client: a remote classifier reached over KServe v2 REST, over http or https
//! (rustls, certificates verified against Mozilla's roots or a given CA), with an optional
//! bearer token. It follows the protocol as servers implement it: readiness is the status
//! code (MLServer answers 200 with an empty body), the metadata may list no tensors (then the
//! shapes come from the user's data and one probe request the assessor pays for, not the
//! adversary), an output can be requested by name, and integer outputs are labels (a
//! label-only target). Black box: no gradients.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{MlError, Result};
use crate::model::{rows, Classifier, ModelInfo, OutputKind, QueryBudget, QueryOutput};
use crate::tensor;

use super::{InferRequest, InferResponse, InferTensor, ModelMetadata, RequestedOutput};

/// Retry policy: transport errors and 5xx answers are retried with doubling back-off.
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How long one request may wait out a server's rate limit in total.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);

/// What the input and the classes look like when the server's metadata does not say.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeHint {
    /// One input's shape, without the batch axis.
    pub sample_shape: Vec<usize>,
    pub num_classes: usize,
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct KServeOptions {
    /// The adversary's query budget.
    pub max_queries: Option<u64>,
    /// Per request, all of it (connect, send, receive).
    pub timeout: Duration,
    /// A PEM file with the CA certificate(s) to trust instead of Mozilla's roots (https).
    pub ca_cert: Option<PathBuf>,
    /// Sent as `Authorization: Bearer TOKEN` on every request.
    pub bearer_token: Option<String>,
    /// The output tensor to request (e.g. MLServer's `predict_proba`); default: the
    /// server's default outputs, the first of which is read.
    pub output: Option<String>,
    /// Used when the metadata lists no input or no output shape (usually the data's).
    pub shape_hint: Option<ShapeHint>,
}

impl Default for KServeOptions {
    fn default() -> Self {
        KServeOptions {
            max_queries: None,
            timeout: Duration::from_secs(30),
            ca_cert: None,
            bearer_token: None,
            output: None,
            shape_hint: None,
        }
    }
}

/// A remote classifier reached over KServe v2 REST.
pub struct KServeModel {
    base: String,
    name: String,
    agent: ureq::Agent,
    authorization: Option<String>,
    input_name: String,
    input_datatype: String,
    output_name: Option<String>,
    info: ModelInfo,
    output: OutputKind,
    budget: QueryBudget,
    /// Whether the user was told that the server rate-limits this client (said once).
    told_rate_limited: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for KServeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KServeModel")
            .field("base", &self.base)
            .field("name", &self.name)
            .finish()
    }
}

/// Splits `kserve+http(s)://host:port/v2/models/NAME` into the server's base URL and the name.
pub fn parse_url(spec: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        MlError::Invalid(format!(
            "--model {spec}: {why}; expected kserve+http://HOST:PORT/v2/models/NAME or kserve+https://…"
        ))
    };
    let rest = spec
        .strip_prefix("kserve+")
        .ok_or_else(|| bad("not a KServe URL"))?;
    let (scheme, after_scheme) = if let Some(r) = rest.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = rest.strip_prefix("http://") {
        ("http", r)
    } else {
        return Err(bad("the scheme must be http or https"));
    };
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
    Ok((format!("{scheme}://{host}"), name.to_string()))
}

/// The roots a client trusts: the Web PKI, or only the CA certificates in a PEM file
/// (`--ca-cert`). Shared with the LLM targets.
pub fn tls_roots(ca_cert: Option<&Path>) -> Result<ureq::tls::RootCerts> {
    let Some(path) = ca_cert else {
        return Ok(ureq::tls::RootCerts::WebPki);
    };
    let pem = std::fs::read(path).map_err(|e| {
        MlError::Invalid(format!("--ca-cert {}: cannot read it: {e}", path.display()))
    })?;
    let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            MlError::Invalid(format!("--ca-cert {}: not valid PEM: {e}", path.display()))
        })?;
    if certs.is_empty() {
        return Err(MlError::Invalid(format!(
            "--ca-cert {}: no CERTIFICATE block in the file",
            path.display()
        )));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

/// What one infer answered.
enum Answer {
    Scores(Vec<f32>),
    Labels(Vec<usize>),
}

impl KServeModel {
    /// Connects with default options but for the budget and timeout.
    pub fn connect(spec: &str, max_queries: Option<u64>, timeout: Duration) -> Result<Self> {
        Self::connect_with(
            spec,
            &KServeOptions {
                max_queries,
                timeout,
                ..KServeOptions::default()
            },
        )
    }

    /// Connects, checks readiness, reads the metadata and, when it is silent, probes once.
    pub fn connect_with(spec: &str, options: &KServeOptions) -> Result<Self> {
        let (base, name) = parse_url(spec)?;
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(tls_roots(options.ca_cert.as_deref())?)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .timeout_connect(Some(Duration::from_secs(5).min(options.timeout)))
            .http_status_as_error(false)
            .tls_config(tls)
            .build()
            .into();
        let mut model = KServeModel {
            base,
            name,
            agent,
            authorization: options.bearer_token.as_ref().map(|t| format!("Bearer {t}")),
            input_name: "input".into(),
            input_datatype: "FP32".into(),
            output_name: options.output.clone(),
            info: ModelInfo {
                description: String::new(),
                input_shape: Vec::new(),
                num_classes: 0,
                input_range: None,
            },
            output: OutputKind::Probabilities,
            budget: QueryBudget::new(options.max_queries),
            told_rate_limited: std::sync::atomic::AtomicBool::new(false),
        };
        // Ready is the status code; a body, when there is one, may still say false.
        let ready = model.get_text(&format!("/v2/models/{}/ready", model.name))?;
        if serde_json::from_str::<serde_json::Value>(&ready)
            .ok()
            .and_then(|v| v.get("ready").and_then(|r| r.as_bool()))
            == Some(false)
        {
            return Err(MlError::Invalid(format!(
                "{}: the server says model `{}` is not ready",
                model.base, model.name
            )));
        }
        let meta_text = model.get_text(&format!("/v2/models/{}", model.name))?;
        let meta: ModelMetadata = serde_json::from_str(&meta_text)
            .map_err(|e| model.garbage(&format!("its metadata: {e}")))?;
        model.configure(&meta, options)?;
        Ok(model)
    }

    fn configure(&mut self, meta: &ModelMetadata, options: &KServeOptions) -> Result<()> {
        let hint = options.shape_hint.as_ref();
        let declared_input = meta.inputs.first();
        if let Some(input) = declared_input {
            self.input_name = input.name.clone();
            if input.datatype == "FP64" {
                self.input_datatype = "FP64".into();
            }
        }
        let declared_shape: Option<Vec<usize>> = declared_input.and_then(|input| {
            let sample: Vec<usize> = input
                .shape
                .iter()
                .skip(1)
                .map(|d| usize::try_from(*d).unwrap_or(0))
                .collect();
            (!sample.is_empty() && !sample.contains(&0)).then_some(sample)
        });
        let sample = match (declared_shape, hint) {
            (Some(s), _) => s,
            (None, Some(h)) => h.sample_shape.clone(),
            (None, None) => {
                return Err(self.garbage(&format!(
                    "its metadata gives no fixed input shape ({}); give the data to attack so that aisec can take the shape from it",
                    declared_input.map_or("no input listed".to_string(), |i| format!("`{}` {:?}", i.name, i.shape))
                )))
            }
        };
        self.info.input_shape = sample;
        let declared_output = match &self.output_name {
            Some(wanted) => meta.outputs.iter().find(|o| &o.name == wanted),
            None => meta.outputs.first(),
        };
        let declared_classes = declared_output.and_then(|o| match o.shape.as_slice() {
            [_, k] if *k > 1 && o.datatype.starts_with("FP") => Some(*k as usize),
            _ => None,
        });
        let output_label = declared_output.map(|o| o.name.clone());
        match declared_classes {
            Some(k) => {
                self.info.num_classes = k;
                self.output = if output_label.as_deref().is_some_and(|n| n.contains("logit")) {
                    OutputKind::Logits
                } else {
                    OutputKind::Probabilities
                };
            }
            None => self.probe(hint)?,
        }
        let what = match self.output {
            OutputKind::Label => "labels only".to_string(),
            OutputKind::Logits => "logits".to_string(),
            _ => "probabilities".to_string(),
        };
        self.info.description = format!(
            "kserve {}/v2/models/{} ({}; output {}, {what})",
            self.base,
            self.name,
            meta.platform
                .as_deref()
                .filter(|p| !p.is_empty())
                .unwrap_or("unknown platform"),
            self.output_name
                .as_deref()
                .or(output_label.as_deref())
                .unwrap_or("default"),
        );
        Ok(())
    }

    /// One request of zeros (the assessor's, not charged) to learn the output's kind and size.
    fn probe(&mut self, hint: Option<&ShapeHint>) -> Result<()> {
        let zeros = vec![0f32; self.info.features()];
        let response = self.post_infer(&zeros, 1)?;
        let out = self.pick_output(&response)?;
        let integer = out.datatype.starts_with("INT") || out.datatype.starts_with("UINT");
        let width = match out.shape.as_slice() {
            [1] => 1,
            [1, k] => *k as usize,
            other => {
                return Err(self.garbage(&format!(
                    "output `{}` has shape {other:?} for one input; aisec needs [1, classes] scores or [1, 1] labels",
                    out.name
                )))
            }
        };
        if integer || width == 1 {
            let classes = hint.map(|h| h.num_classes).ok_or_else(|| {
                self.garbage(&format!(
                    "output `{}` ({}) is a label, which does not say how many classes there are; give the data to attack",
                    out.name, out.datatype
                ))
            })?;
            self.info.num_classes = classes;
            self.output = OutputKind::Label;
        } else {
            let values = numbers(&out.data).ok_or_else(|| self.garbage("non-numeric scores"))?;
            let sum: f32 = values.iter().sum();
            let probabilities =
                values.iter().all(|v| (0.0..=1.0).contains(v)) && (sum - 1.0).abs() < 1e-3;
            self.info.num_classes = width;
            self.output = if probabilities && !out.name.contains("logit") {
                OutputKind::Probabilities
            } else {
                OutputKind::Logits
            };
        }
        if self.output_name.is_none() {
            self.output_name = Some(out.name.clone()).filter(|_| response.outputs.len() > 1);
        }
        Ok(())
    }

    fn pick_output<'r>(&self, response: &'r InferResponse) -> Result<&'r InferTensor> {
        match &self.output_name {
            Some(wanted) => response
                .outputs
                .iter()
                .find(|o| &o.name == wanted)
                .ok_or_else(|| {
                    let names: Vec<&str> =
                        response.outputs.iter().map(|o| o.name.as_str()).collect();
                    self.garbage(&format!(
                        "it answered outputs {names:?}, not the requested `{wanted}` (--output)"
                    ))
                }),
            None => response
                .outputs
                .first()
                .ok_or_else(|| self.garbage("infer returned no output")),
        }
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
        let mut server_error = false;
        while attempt <= RETRIES {
            if attempt > 0 && !std::mem::take(&mut waited_out_rate_limit) {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            attempt += 1;
            match call() {
                Ok(resp) if resp.status().as_u16() == 429 => {
                    let retry_header = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let text = resp.into_body().read_to_string().unwrap_or_default();
                    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    if let (Some(used), Some(max)) = (
                        body.get("budget_used").and_then(|v| v.as_u64()),
                        body.get("budget_max").and_then(|v| v.as_u64()),
                    ) {
                        return Err(MlError::BudgetExhausted { used, max });
                    }
                    let ms = body
                        .get("retry_after_ms")
                        .and_then(|v| v.as_u64())
                        .or(retry_header.map(|s| s * 1000));
                    let Some(ms) = ms else {
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
                    if !self
                        .told_rate_limited
                        .swap(true, std::sync::atomic::Ordering::Relaxed)
                    {
                        tracing::warn!(
                            "{}: the server rate-limits this client (HTTP 429); waiting {ms} ms as it asks, and again whenever it asks (-v logs each wait)",
                            self.base
                        );
                    } else {
                        tracing::info!(wait_ms = ms, "HTTP 429: waiting as the server asks");
                    }
                    std::thread::sleep(wait);
                    attempt -= 1;
                    waited_out_rate_limit = true;
                    last = format!("rate limited for {ms} ms");
                    continue;
                }
                Ok(resp) if resp.status().is_server_error() => {
                    let status = resp.status();
                    // The server's own error message is the cause the user needs (MLServer
                    // puts the runtime's exception there).
                    let text = resp.into_body().read_to_string().unwrap_or_default();
                    last = format!(
                        "HTTP {status}: {}",
                        text.trim().chars().take(300).collect::<String>()
                    );
                    server_error = true;
                }
                Ok(resp) if !resp.status().is_success() => {
                    let status = resp.status();
                    let text = resp.into_body().read_to_string().unwrap_or_default();
                    let hint = match status.as_u16() {
                        401 | 403 => " (check --bearer-token / AISEC_BEARER_TOKEN)",
                        _ => "",
                    };
                    return Err(MlError::Invalid(format!(
                        "{} {what}: HTTP {status}{hint}: {}",
                        self.base,
                        text.chars().take(300).collect::<String>()
                    )));
                }
                Ok(resp) => return parse(resp),
                // A certificate the client does not trust will not change on retry (rustls
                // reports it inside an InvalidData I/O error).
                Err(e) if self.base.starts_with("https://") && is_tls_failure(&e) => {
                    return Err(MlError::Invalid(format!(
                        "{} {what}: TLS failed: {e} (for a private CA, pass --ca-cert FILE.pem)",
                        self.base
                    )))
                }
                Err(e) => {
                    last = e.to_string();
                    server_error = false;
                }
            }
            tracing::debug!(attempt, error = %last, "KServe request failed, retrying");
        }
        if server_error {
            return Err(MlError::Invalid(format!(
                "{} {what}: the server answered with an error {} times; the last: {last}",
                self.base,
                RETRIES + 1
            )));
        }
        Err(MlError::Invalid(format!(
            "{} {what}: the server did not answer after {} tries ({last}); is it running?",
            self.base,
            RETRIES + 1
        )))
    }

    fn get_text(&self, path: &str) -> Result<String> {
        let url = format!("{}{}", self.base, path);
        self.with_retries(
            &format!("GET {path}"),
            || {
                let mut request = self.agent.get(&url);
                if let Some(auth) = &self.authorization {
                    request = request.header("Authorization", auth);
                }
                request.call()
            },
            |resp| {
                resp.into_body()
                    .read_to_string()
                    .map_err(|e| self.garbage(&format!("GET {path}: {e}")))
            },
        )
    }

    fn post_infer(&self, x: &[f32], n: usize) -> Result<InferResponse> {
        let mut shape = vec![n as i64];
        shape.extend(self.info.input_shape.iter().map(|d| *d as i64));
        let request = InferRequest {
            id: None,
            inputs: vec![InferTensor {
                name: self.input_name.clone(),
                shape,
                datatype: self.input_datatype.clone(),
                data: x.iter().map(|v| serde_json::json!(v)).collect(),
            }],
            outputs: self
                .output_name
                .iter()
                .map(|name| RequestedOutput { name: name.clone() })
                .collect(),
        };
        let url = format!("{}/v2/models/{}/infer", self.base, self.name);
        self.with_retries(
            "POST infer",
            || {
                let mut post = self.agent.post(&url);
                if let Some(auth) = &self.authorization {
                    post = post.header("Authorization", auth);
                }
                post.send_json(&request)
            },
            |resp| {
                resp.into_body()
                    .read_json::<InferResponse>()
                    .map_err(|e| self.garbage(&format!("infer: {e}")))
            },
        )
    }

    fn infer(&self, x: &[f32]) -> Result<Answer> {
        let n = rows(x, self.info.features())?;
        let response = self.post_infer(x, n)?;
        let out = self.pick_output(&response)?;
        let values =
            numbers(&out.data).ok_or_else(|| self.garbage("infer returned non-numeric data"))?;
        let classes = self.info.num_classes;
        if self.output == OutputKind::Label {
            let labels: Option<Vec<usize>> = values
                .iter()
                .map(|v| {
                    (v.fract() == 0.0 && *v >= 0.0 && (*v as usize) < classes)
                        .then_some(*v as usize)
                })
                .collect();
            return match labels {
                Some(l) if l.len() == n => Ok(Answer::Labels(l)),
                _ => Err(self.garbage(&format!(
                    "infer returned {} labels for {n} inputs, or labels outside 0..{classes}",
                    values.len()
                ))),
            };
        }
        if values.len() != n * classes || values.iter().any(|v| !v.is_finite()) {
            return Err(self.garbage(&format!(
                "infer returned {} values for {n} inputs of {classes} classes",
                values.len()
            )));
        }
        Ok(Answer::Scores(values))
    }

    fn answer(&self, x: &[f32]) -> Result<QueryOutput> {
        Ok(match self.infer(x)? {
            Answer::Labels(l) => QueryOutput::Labels(l),
            Answer::Scores(s) if self.output == OutputKind::Logits => QueryOutput::Logits(s),
            Answer::Scores(s) => QueryOutput::Probabilities(s),
        })
    }
}

fn is_tls_failure(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => true,
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

/// JSON numbers (FP32, FP64 or integers) as f32.
fn numbers(data: &[serde_json::Value]) -> Option<Vec<f32>> {
    data.iter().map(|v| v.as_f64().map(|f| f as f32)).collect()
}

impl Classifier for KServeModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn output_kind(&self) -> OutputKind {
        self.output
    }

    fn query(&self, x: &[f32]) -> Result<QueryOutput> {
        let n = rows(x, self.info.features())? as u64;
        self.budget.charge(n)?;
        // A request the server refused (a limit, a monitor, an error) taught the adversary
        // nothing: it is not counted as spent.
        self.answer(x).inspect_err(|_| self.budget.refund(n))
    }

    fn scores(&self, x: &[f32]) -> Result<QueryOutput> {
        rows(x, self.info.features())?;
        self.answer(x)
    }

    fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>> {
        Ok(match self.infer(x)? {
            Answer::Labels(l) => l,
            Answer::Scores(s) => tensor::argmax_rows(&s, self.info.num_classes),
        })
    }

    fn budget(&self) -> &QueryBudget {
        &self.budget
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
        assert_eq!(
            parse_url("kserve+https://models.example:443/v2/models/iris/").unwrap(),
            ("https://models.example:443".into(), "iris".into())
        );
        for bad in [
            "http://x/v2/models/a",
            "kserve+http://x/models/a",
            "kserve+http://x/v2/models/",
            "kserve+ftp://x/v2/models/a",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("aisec-ca-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate\n").unwrap();
        let err = tls_roots(Some(&dir)).err().unwrap().to_string();
        let _ = std::fs::remove_file(&dir);
        assert!(
            err.contains("--ca-cert") && err.contains("CERTIFICATE"),
            "{err}"
        );
        let err = tls_roots(Some(Path::new("/nonexistent/ca.pem")))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
