//! A small KServe v2 server that exposes any [`Classifier`] (for labs, tests and
//! `aisec model serve`).

use std::collections::BinaryHeap;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{MlError, Result};
use crate::model::{Classifier, OutputKind, QueryOutput};

use super::{InferRequest, InferResponse, InferTensor, ModelMetadata, TensorMetadata};

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

/// When a response may leave, given when its request arrived and when the answer was ready
/// (a timing defence's padding); responses without one leave at once.
pub type Release = Arc<dyn Fn(Instant, Instant) -> Instant + Send + Sync>;

/// How the server answers beyond the protocol.
#[derive(Clone, Default)]
pub struct ServeOptions {
    pub release: Option<Release>,
}

/// Serves `model` as KServe v2 model `name` on `addr` (`127.0.0.1:0` picks a free port).
pub fn serve(model: Arc<dyn Classifier>, name: &str, addr: &str) -> Result<Server> {
    serve_with(model, name, addr, ServeOptions::default())
}

/// A response held until its release time.
struct Held {
    at: Instant,
    request: tiny_http::Request,
    response: tiny_http::Response<std::io::Cursor<Vec<u8>>>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        self.at == other.at
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Held) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    /// The earliest release first out of the max-heap.
    fn cmp(&self, other: &Held) -> std::cmp::Ordering {
        other.at.cmp(&self.at)
    }
}

/// Sends held responses at their release times, so that the server computes the next
/// request while the last one waits.
fn releaser(incoming: mpsc::Receiver<Held>) {
    let mut heap: BinaryHeap<Held> = BinaryHeap::new();
    loop {
        let next = match heap.peek() {
            None => match incoming.recv() {
                Ok(h) => Some(h),
                Err(_) => return,
            },
            Some(first) => {
                let wait = first.at.saturating_duration_since(Instant::now());
                match incoming.recv_timeout(wait) {
                    Ok(h) => Some(h),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    // The server stopped: what is held still leaves on time.
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        while let Some(h) = heap.pop() {
                            std::thread::sleep(h.at.saturating_duration_since(Instant::now()));
                            let _ = h.request.respond(h.response);
                        }
                        return;
                    }
                }
            }
        };
        if let Some(h) = next {
            heap.push(h);
        }
        while heap.peek().is_some_and(|h| h.at <= Instant::now()) {
            if let Some(h) = heap.pop() {
                let _ = h.request.respond(h.response);
            }
        }
    }
}

/// [`serve`] with options (response padding).
pub fn serve_with(
    model: Arc<dyn Classifier>,
    name: &str,
    addr: &str,
    options: ServeOptions,
) -> Result<Server> {
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
        let held = options.release.as_ref().map(|_| {
            let (send, receive) = mpsc::channel::<Held>();
            (send, std::thread::spawn(move || releaser(receive)))
        });
        for mut request in worker.incoming_requests() {
            let arrived = Instant::now();
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
            match (&options.release, &held) {
                // Every route is padded, errors too: a fast refusal would time the input.
                (Some(release), Some((send, _))) => {
                    let at = release(arrived, Instant::now());
                    let _ = send.send(Held {
                        at,
                        request,
                        response,
                    });
                }
                _ => {
                    let _ = request.respond(response);
                }
            }
        }
        if let Some((send, thread)) = held {
            drop(send);
            let _ = thread.join();
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
