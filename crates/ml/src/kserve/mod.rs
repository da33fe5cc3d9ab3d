//! The KServe v2 / Open Inference Protocol, both sides: a black-box client for remote
//! classifiers (`kserve+http://` or `kserve+https://HOST:PORT/v2/models/NAME`) and a small
//! server that exposes any [`crate::model::Classifier`] on it (for labs and tests).

mod client;
mod server;

use serde::{Deserialize, Serialize};

pub use client::{parse_url, tls_roots, KServeModel, KServeOptions, ShapeHint};
pub use server::{serve, serve_with, Release, ServeOptions, Server};

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
    /// The outputs the client wants; servers answer their default outputs without it
    /// (MLServer's scikit-learn runtime: the label, `predict`; `predict_proba` on request).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<RequestedOutput>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestedOutput {
    pub name: String,
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
    /// Servers may list none (MLServer does, for models without a declared signature).
    #[serde(default)]
    pub inputs: Vec<TensorMetadata>,
    #[serde(default)]
    pub outputs: Vec<TensorMetadata>,
}
