//! How a chat model is reached (garak's "generators").

pub mod openai;
pub mod rest;

use std::path::PathBuf;

use crate::chat::{ChatRequest, Reply, SessionState};
use crate::error::{LlmError, Result};
use crate::transport::{Http, Policy};

/// A chat model under test. One value is shared by every worker of a run.
pub trait Target: Send + Sync {
    /// What the report calls the target (no secrets).
    fn describe(&self) -> String;
    /// The client, with what the run spent through it.
    fn http(&self) -> &Http;
    /// Sends the conversation and returns the model's next message. `state` belongs to this
    /// conversation and lives across its turns.
    fn chat(&self, req: &ChatRequest, state: &mut SessionState) -> Result<Reply>;
}

/// Everything needed to connect, from flags and the environment.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// `openai+http(s)://HOST:PORT/v1` or `rest+FILE`.
    pub target: String,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub temperature: f64,
    pub seed: Option<u64>,
    pub stream: bool,
    pub ca_cert: Option<PathBuf>,
    pub policy: Policy,
}

/// Connects to the target the spec names (nothing is sent yet).
pub fn connect(spec: &TargetSpec) -> Result<Box<dyn Target>> {
    if let Some(base) = spec.target.strip_prefix("openai+") {
        let http = Http::new(base, spec.policy.clone(), spec.ca_cert.as_deref())?;
        let options = openai::OpenAiOptions {
            model: spec.model.clone().ok_or_else(|| {
                LlmError::Invalid(format!(
                    "--target {}: an OpenAI-compatible target needs --model NAME",
                    spec.target
                ))
            })?,
            api_key: spec.api_key.clone(),
            temperature: spec.temperature,
            seed: spec.seed,
            stream: spec.stream,
        };
        return Ok(Box::new(openai::OpenAiTarget::new(base, options, http)?));
    }
    if let Some(file) = spec.target.strip_prefix("rest+") {
        let http = Http::new(file, spec.policy.clone(), spec.ca_cert.as_deref())?;
        return Ok(Box::new(rest::RestTarget::from_file(
            std::path::Path::new(file),
            http,
        )?));
    }
    Err(LlmError::Invalid(format!(
        "--target {}: expected openai+http://HOST:PORT/v1 (an OpenAI-compatible chat API) or rest+FILE (a REST template)",
        spec.target
    )))
}

/// A target reached through something that changes from run to run (an in-process proxy on
/// a free port), named by what stays the same, so that reports compare and a journal resumes.
pub struct Named {
    pub inner: Box<dyn Target>,
    pub name: String,
}

impl Target for Named {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn http(&self) -> &Http {
        self.inner.http()
    }
    fn chat(&self, req: &ChatRequest, state: &mut SessionState) -> Result<Reply> {
        self.inner.chat(req, state)
    }
}
