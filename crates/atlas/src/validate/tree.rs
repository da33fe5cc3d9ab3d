//! Typed access to a YAML tree that records a problem, with its path, whenever a field is
//! missing or of the wrong type.

use serde_yaml_ng::{Mapping, Value};

use super::{Level, Report};

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A mapping being checked, with the object it belongs to and its path.
pub(crate) struct Node<'a> {
    pub map: &'a Mapping,
    pub object: Option<String>,
    pub path: String,
}

impl<'a> Node<'a> {
    pub fn new(
        value: &'a Value,
        object: Option<String>,
        path: String,
        report: &mut Report,
    ) -> Option<Self> {
        match value {
            Value::Mapping(map) => Some(Node { map, object, path }),
            other => {
                report.push(
                    Level::Error,
                    object.as_deref(),
                    &path,
                    format!("expected a mapping, found {}", type_name(other)),
                );
                None
            }
        }
    }

    pub fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    pub fn error(&self, report: &mut Report, key: &str, message: String) {
        report.push(
            Level::Error,
            self.object.as_deref(),
            &self.field_path(key),
            message,
        );
    }

    pub fn warn(&self, report: &mut Report, key: &str, message: String) {
        report.push(
            Level::Warning,
            self.object.as_deref(),
            &self.field_path(key),
            message,
        );
    }

    /// A required, non-empty string.
    pub fn req_str(&self, report: &mut Report, key: &str) -> Option<&'a str> {
        match self.get(key) {
            None => {
                self.error(report, key, "missing required field".into());
                None
            }
            Some(v) => self.str_value(report, key, v),
        }
    }

    /// An optional string: absent is fine, null is fine, anything else must be a string.
    pub fn opt_str(&self, report: &mut Report, key: &str) -> Option<&'a str> {
        match self.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => self.str_value(report, key, v),
        }
    }

    fn str_value(&self, report: &mut Report, key: &str, v: &'a Value) -> Option<&'a str> {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.error(report, key, "must not be empty".into());
                None
            }
            Value::String(s) => Some(s),
            other => {
                self.error(
                    report,
                    key,
                    format!("expected a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A list field; `required` decides whether absence is a problem.
    pub fn list(&self, report: &mut Report, key: &str, required: bool) -> Option<&'a [Value]> {
        match self.get(key) {
            None if required => {
                self.error(report, key, "missing required field".into());
                None
            }
            None => None,
            Some(Value::Sequence(items)) => Some(items),
            Some(other) => {
                self.error(
                    report,
                    key,
                    format!("expected a list, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// Strings of a list field, each non-empty; problems name the item's index.
    pub fn str_list(
        &self,
        report: &mut Report,
        key: &str,
        required: bool,
    ) -> Vec<(usize, &'a str)> {
        let Some(items) = self.list(report, key, required) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if !s.trim().is_empty() => out.push((i, s.as_str())),
                Value::Mapping(m) if m.contains_key("id") && m.contains_key("use") => self.error(
                    report,
                    &format!("{key}[{i}]"),
                    format!(
                        "expected a string, found a technique link ({{id: {}, use: ...}}) that belongs under `techniques`",
                        m.get("id").and_then(Value::as_str).unwrap_or("?")
                    ),
                ),
                other => self.error(
                    report,
                    &format!("{key}[{i}]"),
                    format!("expected a non-empty string, found {}", type_name(other)),
                ),
            }
        }
        out
    }

    /// Warns about keys outside `allowed`: a typo in a key silently drops data otherwise.
    pub fn unknown_keys(&self, report: &mut Report, allowed: &[&str]) {
        for key in self.map.keys() {
            match key {
                Value::String(k) if allowed.contains(&k.as_str()) => {}
                Value::String(k) => self.warn(
                    report,
                    k,
                    format!(
                        "unknown field `{k}`; known fields here: {}",
                        allowed.join(", ")
                    ),
                ),
                other => self.error(
                    report,
                    "<key>",
                    format!("field names must be strings, found {}", type_name(other)),
                ),
            }
        }
    }
}
