//! Keras: `.keras` archives (`config.json`) and HDF5 `.h5` files (the `model_config`
//! attribute). Lambda layers carry marshalled bytecode; `module`/`class_name` references
//! outside Keras make deserialisation import arbitrary code (CVE-2025-1550).

use serde_json::Value;

use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, ScanFinding};

fn keras_module(m: &str) -> bool {
    [
        "keras",
        "tensorflow.keras",
        "tf_keras",
        "tensorflow.python.keras",
    ]
    .iter()
    .any(|k| m == *k || m.starts_with(&format!("{k}.")))
}

/// Names inside Keras that switch its own protections off.
const DANGEROUS_KERAS: &[&str] = &[
    "enable_unsafe_deserialization",
    "load_model",
    "load_weights",
    "get_file",
];

pub fn scan_config(ctx: &mut Ctx, json: &[u8], at: &Location) {
    match serde_json::from_slice::<Value>(json) {
        Ok(v) => walk(ctx, &v, at, 0),
        Err(e) => ctx.error(crate::ScanError::Malformed {
            location: at.display(),
            format: "keras config".into(),
            offset: e.column() as u64,
            message: e.to_string(),
        }),
    }
}

fn walk(ctx: &mut Ctx, v: &Value, at: &Location, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Object(o) => {
            let class = o.get("class_name").and_then(|c| c.as_str());
            if class == Some("Lambda") {
                let layer = o
                    .get("config")
                    .and_then(|c| c.get("name"))
                    .and_then(|n| n.as_str())
                    .unwrap_or("?");
                ctx.findings.push(ScanFinding::new(
                    RuleId::KerasLambdaLayer,
                    Verdict::Dangerous,
                    at,
                    format!("Lambda layer {layer:?}: its function is Python bytecode, run when the model loads outside safe mode"),
                ));
            }
            if let (Some(module), Some(class)) = (o.get("module").and_then(|m| m.as_str()), class) {
                // Functions serialise as class_name "function" with the name in config.
                let name = if class == "function" {
                    o.get("config").and_then(|c| c.as_str()).unwrap_or(class)
                } else {
                    class
                };
                let verdict = if keras_module(module) {
                    DANGEROUS_KERAS
                        .contains(&name)
                        .then_some(Verdict::Dangerous)
                } else {
                    match ctx.policy.classify(module, name).verdict {
                        Verdict::Safe => None,
                        v => Some(v),
                    }
                };
                if let Some(verdict) = verdict {
                    ctx.findings.push(ScanFinding::new(
                        RuleId::KerasForeignReference,
                        verdict,
                        at,
                        format!("the config names {module}.{name}, which deserialisation imports and calls"),
                    ));
                }
            }
            for child in o.values() {
                walk(ctx, child, at, depth + 1);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk(ctx, i, at, depth + 1)),
        _ => {}
    }
}

/// HDF5 stores the model config as a JSON string attribute; find it by its shape.
pub fn scan_h5(ctx: &mut Ctx, data: &[u8], at: &Location) {
    let needle = b"{\"class_name\"";
    let mut i = 0;
    let mut found = 0;
    while let Some(p) = data[i..].windows(needle.len()).position(|w| w == needle) {
        let start = i + p;
        let mut stream = serde_json::Deserializer::from_slice(&data[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => {
                walk(ctx, &v, &at.child("model_config"), 0);
                found += 1;
                i = start + stream.byte_offset().max(1);
            }
            _ => i = start + 1,
        }
        if found > 16 {
            break;
        }
    }
}
