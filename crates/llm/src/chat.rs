//! The chat model every target speaks: messages in, one reply out.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One tool call: the function's name and its arguments as the model wrote them (a JSON
/// string, not always valid JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
    fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
        }
    }
}

/// A function the model is offered (OpenAI's `tools` entry of type `function`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// What the model answered to one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// `stop`, `length`, `tool_calls`… as the target said; `None` when it did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Token counts as the target reported them; `None` when it reported none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// From sending the request to the last byte of the reply, retries included.
    pub latency_ms: f64,
    /// For a streamed reply: until the first content arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<f64>,
    /// Every text the HTTP response carried, in every choice and field (reasoning, refusals,
    /// other choices, fields a server or proxy added, a refusal's error body), one field a
    /// line; empty when the target gives only `content`. Goals are judged on it: what the
    /// client received was delivered, whatever field it sat in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub delivered: String,
}

impl Reply {
    /// What the client received as text: `delivered` when the target recorded it, else the
    /// content.
    pub fn delivered_text(&self) -> &str {
        if self.delivered.is_empty() {
            &self.content
        } else {
            &self.delivered
        }
    }
}

/// One request: the conversation so far and what the model is offered.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    /// The cap on the reply's length in tokens (`max_tokens`).
    pub max_tokens: u32,
}

/// State a target keeps across the turns of one conversation (a REST API's session id).
pub type SessionState = std::collections::BTreeMap<String, String>;
