//! An OpenAI-compatible chat endpoint (`POST {base}/chat/completions`): llama.cpp's server,
//! vLLM, Ollama, LM Studio, OpenAI itself. Streaming and tool calls are read the way the
//! OpenAI API documents them; temperature and seed are sent on every request.

use serde_json::{json, Value};

use crate::chat::{ChatRequest, Reply, SessionState, ToolCall, Usage};
use crate::error::{LlmError, Result};
use crate::transport::{snippet, Http};

#[derive(Debug, Clone, serde::Serialize)]
pub struct OpenAiOptions {
    pub model: String,
    /// Sent as `Authorization: Bearer …`; never written to a report.
    #[serde(skip)]
    pub api_key: Option<String>,
    pub temperature: f64,
    pub seed: Option<u64>,
    pub stream: bool,
}

pub struct OpenAiTarget {
    url: String,
    options: OpenAiOptions,
    pub http: Http,
}

impl OpenAiTarget {
    /// `base` is the API root, e.g. `http://127.0.0.1:8080/v1`.
    pub fn new(base: &str, options: OpenAiOptions, http: Http) -> Result<Self> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LlmError::Invalid(format!(
                "--target openai+{base}: the scheme must be http or https"
            )));
        }
        if options.model.trim().is_empty() {
            return Err(LlmError::Invalid(
                "--model: an OpenAI-compatible target needs the model's name".into(),
            ));
        }
        Ok(OpenAiTarget {
            url: format!("{}/chat/completions", base.trim_end_matches('/')),
            options,
            http,
        })
    }

    pub fn body(&self, req: &ChatRequest) -> Value {
        let messages: Vec<Value> = req
            .messages
            .iter()
            .map(|m| json!({ "role": m.role.as_str(), "content": m.content }))
            .collect();
        let mut body = json!({
            "model": self.options.model,
            "messages": messages,
            "temperature": self.options.temperature,
            "max_tokens": req.max_tokens,
            "stream": self.options.stream,
        });
        if let Some(seed) = self.options.seed {
            body["seed"] = json!(seed);
        }
        if self.options.stream {
            body["stream_options"] = json!({ "include_usage": true });
        }
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|t| {
                    json!({ "type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters } })
                })
                .collect();
        }
        body
    }

    fn protocol(&self, why: impl Into<String>) -> LlmError {
        LlmError::Protocol {
            target: self.url.clone(),
            why: why.into(),
        }
    }
}

impl super::Target for OpenAiTarget {
    fn describe(&self) -> String {
        format!("openai+{} (model {})", self.url, self.options.model)
    }

    fn http(&self) -> &Http {
        &self.http
    }

    fn chat(&self, req: &ChatRequest, _state: &mut SessionState) -> Result<Reply> {
        let mut headers = Vec::new();
        if let Some(key) = &self.options.api_key {
            headers.push(("authorization".to_string(), format!("Bearer {key}")));
        }
        let resp =
            self.http
                .post_json(&self.url, &headers, &self.body(req), self.options.stream)?;
        if resp.status == 400 && is_content_filter(&resp.body) {
            // A provider's (or aisec's guard's) input filter refused the prompt: the attack
            // was stopped, which is an answer, not a failure to reach the model — unless the
            // refusal itself carries what the attack was after, so its text is judged too.
            return Ok(Reply {
                finish_reason: Some("content_filter".into()),
                latency_ms: resp.elapsed_ms,
                delivered: delivered(&resp.body, &[]),
                ..Reply::default()
            });
        }
        if resp.status >= 300 {
            return Err(self.protocol(format!("HTTP {}: {}", resp.status, snippet(&resp.body))));
        }
        let mut reply = if resp.events.is_empty() {
            let v: Value = serde_json::from_str(&resp.body)
                .map_err(|e| self.protocol(format!("not JSON ({e}): {}", snippet(&resp.body))))?;
            parse_completion(&v).map_err(|w| self.protocol(w))?
        } else {
            parse_stream(&resp.events).map_err(|w| self.protocol(w))?
        };
        reply.latency_ms = resp.elapsed_ms;
        reply.first_token_ms = resp.first_event_ms;
        let all = delivered(&resp.body, &resp.events);
        // Kept only where it says more than the content, so journals do not carry it twice.
        if all.trim() != reply.content.trim() {
            reply.delivered = all;
        }
        self.http.record_usage(reply.usage);
        Ok(reply)
    }
}

/// Every text field of a response (a body, or a stream's events), one field a line.
fn delivered(body: &str, events: &[String]) -> String {
    use crate::guard::reply_fields::ResponseFields;
    let mut fields = ResponseFields::default();
    let parts: Vec<&str> = if events.is_empty() {
        vec![body]
    } else {
        events.iter().map(String::as_str).collect()
    };
    for part in parts {
        if part.trim() == "[DONE]" {
            continue;
        }
        fields.absorb_text(part);
    }
    let mut lines: Vec<String> = Vec::new();
    for f in fields.choices.values().chain(std::iter::once(&fields.rest)) {
        let r = f.reply();
        if !r.content.is_empty() {
            lines.push(r.content);
        }
        for c in r.tool_calls {
            lines.push(format!("{}({})", c.name, c.arguments));
        }
    }
    lines.join("\n")
}

/// `{"error": {"code": "content_filter", …}}`, as Azure OpenAI and aisec's guard answer a
/// prompt they refuse.
fn is_content_filter(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(|c| c == "content_filter"))
        .unwrap_or(false)
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usage")?;
    Some(Usage {
        prompt_tokens: u.get("prompt_tokens")?.as_u64()?,
        completion_tokens: u.get("completion_tokens")?.as_u64()?,
    })
}

/// A non-streamed `chat.completion` object.
pub fn parse_completion(v: &Value) -> std::result::Result<Reply, String> {
    if let Some(err) = v.get("error") {
        return Err(format!("error object: {}", snippet(&err.to_string())));
    }
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or("no `choices[0]`")?;
    let message = choice.get("message").ok_or("no `choices[0].message`")?;
    let content = message
        .get("content")
        .and_then(|c| c.as_str())
        .unwrap_or_default()
        .to_string();
    let tool_calls = message
        .get("tool_calls")
        .and_then(|t| t.as_array())
        .map(|calls| {
            calls
                .iter()
                .filter_map(|c| {
                    let f = c.get("function")?;
                    Some(ToolCall {
                        id: c.get("id").and_then(|i| i.as_str()).map(str::to_string),
                        name: f.get("name")?.as_str()?.to_string(),
                        arguments: match f.get("arguments") {
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        },
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Reply {
        content,
        tool_calls,
        finish_reason: choice
            .get("finish_reason")
            .and_then(|f| f.as_str())
            .map(str::to_string),
        usage: usage(v),
        ..Reply::default()
    })
}

/// The `data:` payloads of a streamed completion, `[DONE]` last: content deltas are joined,
/// tool-call fragments are joined by their index.
pub fn parse_stream(events: &[String]) -> std::result::Result<Reply, String> {
    let mut reply = Reply::default();
    let mut calls: Vec<(Option<String>, String, String)> = Vec::new();
    for event in events {
        if event.trim() == "[DONE]" {
            break;
        }
        let v: Value = serde_json::from_str(event)
            .map_err(|e| format!("a stream event is not JSON ({e}): {}", snippet(event)))?;
        if let Some(err) = v.get("error") {
            return Err(format!(
                "error in the stream: {}",
                snippet(&err.to_string())
            ));
        }
        if let Some(u) = usage(&v) {
            reply.usage = Some(u);
        }
        let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else {
            continue;
        };
        if let Some(f) = choice.get("finish_reason").and_then(|f| f.as_str()) {
            reply.finish_reason = Some(f.to_string());
        }
        let Some(delta) = choice.get("delta") else {
            continue;
        };
        if let Some(c) = delta.get("content").and_then(|c| c.as_str()) {
            reply.content.push_str(c);
        }
        for tc in delta
            .get("tool_calls")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            let index = tc.get("index").and_then(|i| i.as_u64()).unwrap_or(0) as usize;
            if index > 64 {
                return Err(format!("tool call index {index} in a stream"));
            }
            while calls.len() <= index {
                calls.push((None, String::new(), String::new()));
            }
            let slot = &mut calls[index];
            if let Some(id) = tc.get("id").and_then(|i| i.as_str()) {
                slot.0 = Some(id.to_string());
            }
            if let Some(f) = tc.get("function") {
                if let Some(n) = f.get("name").and_then(|n| n.as_str()) {
                    slot.1.push_str(n);
                }
                if let Some(a) = f.get("arguments").and_then(|a| a.as_str()) {
                    slot.2.push_str(a);
                }
            }
        }
    }
    reply.tool_calls = calls
        .into_iter()
        .filter(|c| !c.1.is_empty())
        .map(|(id, name, arguments)| ToolCall {
            id,
            name,
            arguments,
        })
        .collect();
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_completion_with_a_tool_call() {
        let v = json!({"choices":[{"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"c1","type":"function","function":{"name":"send_email","arguments":"{\"to\":\"a@b\"}"}}]}}],
            "usage":{"prompt_tokens":10,"completion_tokens":5}});
        let r = parse_completion(&v).unwrap();
        assert_eq!(r.tool_calls[0].name, "send_email");
        assert_eq!(r.tool_calls[0].arguments, "{\"to\":\"a@b\"}");
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(r.usage.unwrap().completion_tokens, 5);
    }

    #[test]
    fn joins_stream_deltas_and_tool_fragments() {
        let events: Vec<String> = [
            r#"{"choices":[{"delta":{"role":"assistant","content":"Hel"}}]}"#,
            r#"{"choices":[{"delta":{"content":"lo"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"x","function":{"name":"send_","arguments":"{\"to\""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"email","arguments":":1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
            "[DONE]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let r = parse_stream(&events).unwrap();
        assert_eq!(r.content, "Hello");
        assert_eq!(r.tool_calls[0].name, "send_email");
        assert_eq!(r.tool_calls[0].arguments, "{\"to\":1}");
        assert_eq!(r.usage.unwrap().prompt_tokens, 3);
    }

    #[test]
    fn an_error_object_is_not_a_reply() {
        let e = parse_completion(&json!({"error":{"message":"model not found"}})).unwrap_err();
        assert!(e.contains("model not found"));
        assert!(parse_completion(&json!({"id":"x"}))
            .unwrap_err()
            .contains("choices"));
    }
}
