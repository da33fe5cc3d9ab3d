//! Everything a client can read in a chat completion, gathered for the output checks: every
//! choice (a request may ask for `n` of them), and in each every string — the content (a
//! string or content parts), reasoning (`reasoning_content`, `reasoning`, `thinking`),
//! refusals, tool calls and legacy function calls, the tokens of `logprobs`, and any field a
//! server adds that this code has never heard of. Fields are read the same way from a whole
//! `message` and from stream `delta`s, whose pieces are joined per field, so a secret split
//! across events or tokens is whole again when it is checked.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::chat::{Reply, ToolCall};

/// Keys whose values name a kind, not text a person reads.
const NOT_TEXT: [&str; 5] = ["role", "type", "id", "finish_reason", "object"];

/// The text fields of one choice (or of the rest of a response), joined across events.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    /// Field path → text. Arrays with an `index` in their elements (tool calls) are keyed
    /// by it; other arrays (content parts, logprobs tokens) are joined into one field.
    by_path: BTreeMap<String, String>,
    chars: usize,
}

impl Fields {
    /// Takes in a choice (its `message` or `delta` and its `logprobs`), a response or event
    /// without its choices, or any other JSON value.
    pub fn absorb(&mut self, value: &Value) {
        self.walk(value, String::new());
    }

    /// Takes in text that is not JSON (an event a server sent as plain text).
    pub fn absorb_raw(&mut self, text: &str) {
        self.push("raw".into(), text);
    }

    /// Characters taken in so far.
    pub fn chars(&self) -> usize {
        self.chars
    }

    fn push(&mut self, path: String, text: &str) {
        if text.is_empty() {
            return;
        }
        self.chars += text.chars().count();
        self.by_path.entry(path).or_default().push_str(text);
    }

    fn walk(&mut self, value: &Value, path: String) {
        match value {
            Value::String(s) => self.push(path, s),
            Value::Object(map) => {
                for (key, v) in map {
                    if NOT_TEXT.contains(&key.as_str()) {
                        continue;
                    }
                    // A message and a delta are the same fields one level down.
                    let child = if key == "message" || key == "delta" {
                        path.clone()
                    } else if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    self.walk(v, child);
                }
            }
            // A token's `bytes` (logprobs) spell its text as numbers: read them as text.
            Value::Array(items)
                if path.ends_with("bytes")
                    && !items.is_empty()
                    && items.iter().all(|b| b.as_u64().is_some_and(|b| b < 256)) =>
            {
                let bytes: Vec<u8> = items
                    .iter()
                    .filter_map(|b| b.as_u64())
                    .map(|b| b as u8)
                    .collect();
                self.push(path, &String::from_utf8_lossy(&bytes));
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = match item.get("index").and_then(Value::as_u64) {
                        Some(index) => format!("{path}[{index}]"),
                        None if path.starts_with("tool_calls") => format!("{path}[{i}]"),
                        None => format!("{path}[]"),
                    };
                    self.walk(item, at);
                }
            }
            // Numbers and booleans carry no text a secret could hide in.
            _ => {}
        }
    }

    /// The fields as one reply for [`super::output::check`]: tool calls (and a legacy
    /// `function_call`) as calls, every other field as a line of content.
    pub fn reply(&self) -> Reply {
        let mut calls: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut content = Vec::new();
        for (path, text) in &self.by_path {
            let call = path
                .strip_prefix("tool_calls")
                .and_then(|rest| rest.split_once(".function."))
                .map(|(at, field)| (format!("tool_calls{at}"), field))
                .or_else(|| {
                    path.strip_prefix("function_call.")
                        .map(|field| ("function_call".to_string(), field))
                });
            match call {
                Some((at, "name")) => calls.entry(at).or_default().0.push_str(text),
                Some((at, "arguments")) => calls.entry(at).or_default().1.push_str(text),
                _ => content.push(text.as_str()),
            }
        }
        Reply {
            content: content.join("\n"),
            tool_calls: calls
                .into_values()
                .map(|(name, arguments)| ToolCall {
                    id: None,
                    name,
                    arguments,
                })
                .collect(),
            ..Reply::default()
        }
    }
}

/// A response's fields: one [`Fields`] per choice index, and the rest.
#[derive(Debug, Default, Clone)]
pub struct ResponseFields {
    pub choices: BTreeMap<u64, Fields>,
    pub rest: Fields,
}

impl ResponseFields {
    /// Takes in a body or a stream event as the server sent it: JSON read field by field,
    /// anything else as plain text.
    pub fn absorb_text(&mut self, text: &str) {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => {
                self.absorb(&v);
            }
            Err(_) => self.rest.absorb_raw(text),
        }
    }

    /// Takes in a whole response or one stream event; returns the choice indices it touched.
    pub fn absorb(&mut self, value: &Value) -> Vec<u64> {
        let mut touched = Vec::new();
        let Some(map) = value.as_object() else {
            self.rest.absorb(value);
            return touched;
        };
        for (key, v) in map {
            if key == "choices" {
                for (i, choice) in v.as_array().into_iter().flatten().enumerate() {
                    let index = choice
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(i as u64);
                    self.choices.entry(index).or_default().absorb(choice);
                    touched.push(index);
                }
            } else if !NOT_TEXT.contains(&key.as_str()) {
                self.rest.walk(v, key.clone());
            }
        }
        touched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_choice_and_every_text_field_is_read_and_stream_pieces_are_joined() {
        let mut r = ResponseFields::default();
        r.absorb(&json!({"id": "x", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "fine"}},
            {"index": 1, "message": {"role": "assistant",
                "content": [{"type": "text", "text": "part"}],
                "reasoning_content": "thinking about QQ-1648",
                "refusal": "no",
                "tool_calls": [{"id": "c", "type": "function",
                    "function": {"name": "send_email", "arguments": "{\"to\": 1}"}}]},
             "logprobs": {"content": [{"token": "QQ"}, {"token": "-16"}, {"token": "48"}]}}],
            "vendor_extra": {"echo": "some text"}}));
        let second = r.choices[&1].reply();
        assert!(second.content.contains("thinking about QQ-1648"));
        assert!(second.content.contains("QQ-1648"), "logprobs tokens joined");
        assert!(second.content.contains("part") && second.content.contains("no"));
        assert_eq!(second.tool_calls[0].name, "send_email");
        assert_eq!(r.choices[&0].reply().content, "fine");
        // Token bytes are text too.
        let mut b = ResponseFields::default();
        b.absorb(&json!({"choices": [{"index": 0, "logprobs": {"content": [
            {"token": "x", "bytes": [81, 81, 45, 49, 54]}, {"token": "y", "bytes": [52, 56]}]}}]}));
        assert!(
            b.choices[&0].reply().content.contains("QQ-1648"),
            "{:?}",
            b.choices[&0].reply()
        );
        assert!(r.rest.reply().content.contains("some text"));

        // The same reply streamed: pieces of one field are joined in order.
        let mut s = ResponseFields::default();
        for piece in ["QQ", "-16", "48"] {
            s.absorb(&json!({"choices": [{"index": 1, "delta": {"reasoning": piece}}]}));
        }
        for (name, args) in [("send_", "{\"a\":"), ("email", " 1}")] {
            s.absorb(&json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "function": {"name": name, "arguments": args}}]}}]}));
        }
        assert_eq!(s.choices[&1].reply().content, "QQ-1648");
        let call = &s.choices[&0].reply().tool_calls[0];
        assert_eq!(
            (call.name.as_str(), call.arguments.as_str()),
            ("send_email", "{\"a\": 1}")
        );
    }
}
