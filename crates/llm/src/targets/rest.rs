//! Any JSON-over-HTTP chat API, described by a template file (`--target rest+FILE`), the way
//! garak's REST generator does, with state carried across the turns of a conversation:
//!
//! ```json
//! { "url": "https://host/api/chat",
//!   "headers": { "Authorization": "Bearer $ENV{CHAT_API_KEY}" },
//!   "body": { "message": "$INPUT", "session": "$STATE{session}", "history": "$HISTORY" },
//!   "reply": "$.answer.text",
//!   "state": { "session": "$.session_id" } }
//! ```
//!
//! In the body, `$INPUT` is the latest user message, `$SYSTEM` the system prompt, and a string
//! that is exactly `$HISTORY` becomes the earlier messages as `[{"role","content"}…]`.
//! `$STATE{name}` is what the `state` path `name` picked from the previous reply of the same
//! conversation (empty on the first turn). `$ENV{NAME}` in a header is read from the
//! environment, so that keys stay out of the file. `reply` and the `state` paths are JSONPath:
//! `$`, `.key`, `['key']` and `[index]`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::chat::{ChatRequest, Reply, Role, SessionState};
use crate::error::{LlmError, Result};
use crate::transport::{snippet, Http};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestTemplate {
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    pub reply: String,
    #[serde(default)]
    pub state: BTreeMap<String, String>,
}

pub struct RestTarget {
    template: RestTemplate,
    reply_path: Vec<Step>,
    state_paths: Vec<(String, Vec<Step>)>,
    headers: Vec<(String, String)>,
    source: String,
    pub http: Http,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parses the JSONPath subset: `$.a.b[0]['c d']`.
pub fn parse_path(path: &str) -> std::result::Result<Vec<Step>, String> {
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("`{path}` must start with `$`"))?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    key.push(n);
                    chars.next();
                }
                if key.is_empty() {
                    return Err(format!("`{path}`: empty key after `.`"));
                }
                steps.push(Step::Key(key));
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                match quoted {
                    Some(k) => steps.push(Step::Key(k.to_string())),
                    None => steps.push(Step::Index(inner.trim().parse().map_err(|_| {
                        format!("`{path}`: `[{inner}]` is neither an index nor a quoted key")
                    })?)),
                }
            }
            other => return Err(format!("`{path}`: unexpected `{other}`")),
        }
    }
    Ok(steps)
}

pub fn select<'a>(v: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(*i),
    })
}

fn expand_env(text: &str, file: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("$ENV{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 5..];
        let end = after.find('}').ok_or_else(|| {
            LlmError::Invalid(format!(
                "{file}: `$ENV{{` without a closing `}}` in a header"
            ))
        })?;
        let name = &after[..end];
        let value = std::env::var(name).map_err(|_| {
            LlmError::Invalid(format!(
                "{file}: a header reads $ENV{{{name}}}, but {name} is not set in the environment"
            ))
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl RestTarget {
    pub fn from_file(path: &Path, http: Http) -> Result<Self> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| LlmError::Io {
            path: source.clone(),
            source: e,
        })?;
        let template: RestTemplate = serde_json::from_str(&text).map_err(|e| {
            LlmError::Invalid(format!(
                "{source}: not a REST template ({e}); expected an object with url, body, reply and optional headers and state"
            ))
        })?;
        Self::new(template, source, http)
    }

    pub fn new(template: RestTemplate, source: String, http: Http) -> Result<Self> {
        if !(template.url.starts_with("http://") || template.url.starts_with("https://")) {
            return Err(LlmError::Invalid(format!(
                "{source}: url `{}` must start with http:// or https://",
                template.url
            )));
        }
        if !contains_input(&template.body) {
            return Err(LlmError::Invalid(format!(
                "{source}: the body never uses $INPUT, so no probe would reach the model"
            )));
        }
        let reply_path = parse_path(&template.reply)
            .map_err(|e| LlmError::Invalid(format!("{source}: reply: {e}")))?;
        let state_paths = template
            .state
            .iter()
            .map(|(k, p)| {
                parse_path(p)
                    .map(|s| (k.clone(), s))
                    .map_err(|e| LlmError::Invalid(format!("{source}: state.{k}: {e}")))
            })
            .collect::<Result<_>>()?;
        let headers = template
            .headers
            .iter()
            .map(|(k, v)| Ok((k.clone(), expand_env(v, &source)?)))
            .collect::<Result<_>>()?;
        Ok(RestTarget {
            template,
            reply_path,
            state_paths,
            headers,
            source,
            http,
        })
    }

    /// The request body for this turn.
    pub fn body(&self, req: &ChatRequest, state: &SessionState) -> Value {
        let last_user = req
            .messages
            .iter()
            .rposition(|m| m.role == Role::User)
            .unwrap_or(req.messages.len());
        let input = req
            .messages
            .get(last_user)
            .map(|m| m.content.as_str())
            .unwrap_or("");
        let system = req
            .messages
            .iter()
            .find(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .unwrap_or("");
        let history: Vec<Value> = req.messages[..last_user]
            .iter()
            .map(|m| serde_json::json!({ "role": m.role.as_str(), "content": m.content }))
            .collect();
        fill(&self.template.body, input, system, &history, state)
    }
}

fn contains_input(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("$INPUT"),
        Value::Array(a) => a.iter().any(contains_input),
        Value::Object(o) => o.values().any(contains_input),
        _ => false,
    }
}

fn fill(v: &Value, input: &str, system: &str, history: &[Value], state: &SessionState) -> Value {
    match v {
        Value::String(s) if s == "$HISTORY" => Value::Array(history.to_vec()),
        Value::String(s) => {
            // $STATE first, from the template alone, so that text a server or a probe put
            // into a value is never expanded again.
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("$STATE{") {
                let Some(len) = rest[start..].find('}') else {
                    break;
                };
                out.push_str(&rest[..start]);
                let name = &rest[start + 7..start + len];
                out.push_str(state.get(name).map(String::as_str).unwrap_or(""));
                rest = &rest[start + len + 1..];
            }
            out.push_str(rest);
            let out = out
                .split("$INPUT")
                .map(|piece| piece.replace("$SYSTEM", system))
                .collect::<Vec<_>>()
                .join(input);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| fill(x, input, system, history, state))
                .collect(),
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), fill(x, input, system, history, state)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl super::Target for RestTarget {
    fn describe(&self) -> String {
        format!("rest+{} ({})", self.source, self.template.url)
    }

    fn http(&self) -> &Http {
        &self.http
    }

    fn chat(&self, req: &ChatRequest, state: &mut SessionState) -> Result<Reply> {
        let body = self.body(req, state);
        let resp = self
            .http
            .post_json(&self.template.url, &self.headers, &body, false)?;
        let protocol = |why: String| LlmError::Protocol {
            target: self.template.url.clone(),
            why,
        };
        if resp.status >= 300 {
            return Err(protocol(format!(
                "HTTP {}: {}",
                resp.status,
                snippet(&resp.body)
            )));
        }
        let v: Value = serde_json::from_str(&resp.body)
            .map_err(|e| protocol(format!("not JSON ({e}): {}", snippet(&resp.body))))?;
        let content = match select(&v, &self.reply_path) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => {
                return Err(protocol(format!(
                    "the reply path {} selects nothing in {}",
                    self.template.reply,
                    snippet(&resp.body)
                )))
            }
        };
        for (name, path) in &self.state_paths {
            if let Some(x) = select(&v, path) {
                let value = x
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string());
                state.insert(name.clone(), value);
            }
        }
        self.http.record_usage(None);
        Ok(Reply {
            content,
            latency_ms: resp.elapsed_ms,
            ..Reply::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Message;

    #[test]
    fn paths_parse_and_select() {
        let p = parse_path("$.data[1]['the text']").unwrap();
        let v = serde_json::json!({"data": [0, {"the text": "hi"}]});
        assert_eq!(select(&v, &p), Some(&serde_json::json!("hi")));
        assert!(parse_path("data.x")
            .unwrap_err()
            .contains("must start with"));
        assert!(parse_path("$[x]").unwrap_err().contains("neither an index"));
    }

    #[test]
    fn the_body_carries_input_history_and_state() {
        let template: RestTemplate = serde_json::from_value(serde_json::json!({
            "url": "http://127.0.0.1:1/chat",
            "body": {"q": "User says: $INPUT", "sys": "$SYSTEM", "h": "$HISTORY", "s": "$STATE{sid}"},
            "reply": "$.a", "state": {"sid": "$.session"}
        }))
        .unwrap();
        let http = Http::new("t", Default::default(), None).unwrap();
        let t = RestTarget::new(template, "t.json".into(), http).unwrap();
        let req = ChatRequest {
            messages: vec![
                Message::system("be nice"),
                Message::user("one"),
                Message::assistant("ok"),
                Message::user("two"),
            ],
            tools: vec![],
            max_tokens: 10,
        };
        let mut state = SessionState::new();
        state.insert("sid".into(), "abc".into());
        let body = t.body(&req, &state);
        assert_eq!(body["q"], "User says: two");
        assert_eq!(body["sys"], "be nice");
        assert_eq!(body["h"].as_array().unwrap().len(), 3);
        assert_eq!(body["s"], "abc");
    }

    #[test]
    fn a_template_without_input_is_refused() {
        let template: RestTemplate = serde_json::from_value(
            serde_json::json!({"url": "http://x/", "body": {"q": "hi"}, "reply": "$.a"}),
        )
        .unwrap();
        let http = Http::new("t", Default::default(), None).unwrap();
        let err = RestTarget::new(template, "t.json".into(), http)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("$INPUT"), "{err}");
    }
}
