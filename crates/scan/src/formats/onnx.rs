//! ONNX, walked as raw protobuf (never loaded): external-data paths that leave the model's
//! folder, and operator domains that need a custom-op library.

use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, ExternalData, Location, ScanFinding};

use super::protobuf::{fields, Field};

/// A ModelProto: starts with ir_version, parses whole, and has a graph.
pub fn looks_like_onnx(data: &[u8]) -> bool {
    data.first() == Some(&0x08)
        && fields(data).is_some_and(|f| {
            f.iter().any(|x| matches!(x, Field::Bytes(7, _)))
                && f.iter().all(|x| match x {
                    Field::Varint(n) => matches!(n, 1 | 5),
                    Field::Bytes(n, _) => matches!(n, 2 | 3 | 4 | 6 | 7 | 8 | 14 | 20 | 25 | 26),
                    Field::Fixed => false,
                })
        })
}

/// A SentencePiece ModelProto (sentencepiece_model.proto): repeated pieces (1), trainer (2)
/// and normaliser (3) specs, self-test data (4), denormaliser (5), every one a message; each
/// piece a text (1) with a score (2, float) and a type (3). Nothing in it is code: the
/// tokenizer reads the pieces and the normaliser's character map as data.
pub fn looks_like_sentencepiece(data: &[u8]) -> bool {
    // The trainer writes the pieces first.
    if data.first() != Some(&0x0a) {
        return false;
    }
    let Some(model) = fields(data) else {
        return false;
    };
    let mut pieces = 0usize;
    let mut normalizer = false;
    for f in &model {
        match f {
            Field::Bytes(1, piece) => {
                let Some(parts) = fields(piece) else {
                    return false;
                };
                let text = parts.iter().any(|p| match p {
                    Field::Bytes(1, t) => std::str::from_utf8(t).is_ok(),
                    _ => false,
                });
                if !text
                    || parts
                        .iter()
                        .any(|p| matches!(p, Field::Bytes(n, _) if *n != 1))
                {
                    return false;
                }
                pieces += 1;
            }
            Field::Bytes(3, spec) => normalizer = fields(spec).is_some(),
            Field::Bytes(2 | 4 | 5, spec) if fields(spec).is_some() => {}
            _ => return false,
        }
    }
    pieces > 0 && normalizer
}

const KNOWN_DOMAINS: &[&str] = &[
    "",
    "ai.onnx",
    "ai.onnx.ml",
    "ai.onnx.training",
    "ai.onnx.preview.training",
];

fn known_domain(d: &str) -> bool {
    KNOWN_DOMAINS.contains(&d) || d == "com.microsoft" || d.starts_with("com.microsoft.")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Operator domains are judged by where their kernels come from: the ONNX standard sets and
/// ONNX Runtime's contrib ops (`com.microsoft`) ship inside the runtime; a function the model
/// defines itself (`functions`, a FunctionProto's `domain`) is made of other nodes, which are
/// judged the same way; any other domain runs only through a native custom-op library the
/// deployment loads (a shared object: native code) — suspicious.
pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location) {
    let Some(model) = fields(data) else { return };
    let mut domains = std::collections::BTreeSet::new();
    let mut local = std::collections::BTreeSet::new();
    for f in &model {
        match f {
            Field::Bytes(7, graph) => walk_graph(ctx, graph, at, &mut domains, 0),
            Field::Bytes(8, opset) => {
                for g in fields(opset).unwrap_or_default() {
                    if let Field::Bytes(1, d) = g {
                        domains.insert(text(d));
                    }
                }
            }
            Field::Bytes(25, function) => {
                for g in fields(function).unwrap_or_default() {
                    match g {
                        Field::Bytes(7, node) => walk_node(ctx, node, at, &mut domains, 1),
                        Field::Bytes(10, d) => {
                            local.insert(text(d));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    check_overrides(ctx, data, at);
    for d in domains
        .iter()
        .filter(|d| !known_domain(d) && !local.contains(*d))
    {
        ctx.findings.push(ScanFinding::new(
            RuleId::OnnxCustomDomain,
            Verdict::Suspicious,
            at,
            format!("operator domain {d:?} is neither a standard ONNX set, ONNX Runtime's com.microsoft, nor a function the model defines: runtimes run it only through a native custom-op library that the deployment loads"),
        ));
    }
}

/// The architectural-backdoor rule (see `onnx_trojan`).
fn check_overrides(ctx: &mut Ctx, data: &[u8], at: &Location) {
    for o in super::onnx_trojan::overrides(data) {
        const SHOWN: usize = 4;
        let mut keys = o
            .keys
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if o.keys.len() > SHOWN {
            keys.push_str(&format!(" and {} more", o.keys.len() - SHOWN));
        }
        ctx.findings.push(ScanFinding::new(
            RuleId::OnnxInputTriggeredOverride,
            Verdict::Dangerous,
            at,
            format!(
                "graph output {} of {} ({:?}), which the network computes, is switched by {keys} — a comparison or step of the raw input values with no weighted layer between it and the output: the signature of an architectural backdoor (a trigger check grafted onto the graph that overrides the network's answer when an input carries the key)",
                o.position.0, o.position.1, o.output
            ),
        ));
    }
}

fn walk_graph(
    ctx: &mut Ctx,
    graph: &[u8],
    at: &Location,
    domains: &mut std::collections::BTreeSet<String>,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    for f in fields(graph).unwrap_or_default() {
        match f {
            Field::Bytes(1, node) => walk_node(ctx, node, at, domains, depth),
            Field::Bytes(5, tensor) => check_tensor(ctx, tensor, at),
            Field::Bytes(15, sparse) => {
                for s in fields(sparse).unwrap_or_default() {
                    if let Field::Bytes(1 | 2, tensor) = s {
                        check_tensor(ctx, tensor, at);
                    }
                }
            }
            _ => {}
        }
    }
}

fn walk_node(
    ctx: &mut Ctx,
    node: &[u8],
    at: &Location,
    domains: &mut std::collections::BTreeSet<String>,
    depth: usize,
) {
    for f in fields(node).unwrap_or_default() {
        match f {
            Field::Bytes(7, d) => {
                domains.insert(text(d));
            }
            Field::Bytes(5, attribute) => {
                for a in fields(attribute).unwrap_or_default() {
                    match a {
                        Field::Bytes(6 | 11, g) => walk_graph(ctx, g, at, domains, depth + 1),
                        Field::Bytes(5 | 10, t) => check_tensor(ctx, t, at),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

fn check_tensor(ctx: &mut Ctx, tensor: &[u8], at: &Location) {
    let mut name = String::new();
    let mut external: Option<ExternalData> = None;
    let number = |v: Option<String>| v.and_then(|v| v.trim().parse::<u64>().ok());
    for f in fields(tensor).unwrap_or_default() {
        match f {
            Field::Bytes(8, n) => name = text(n),
            Field::Bytes(13, entry) => {
                let kv = fields(entry).unwrap_or_default();
                let key = kv.iter().find_map(|x| match x {
                    Field::Bytes(1, k) => Some(text(k)),
                    _ => None,
                });
                let value = kv.iter().find_map(|x| match x {
                    Field::Bytes(2, v) => Some(text(v)),
                    _ => None,
                });
                let ext = external.get_or_insert_with(|| ExternalData {
                    tensor: String::new(),
                    location: String::new(),
                    offset: 0,
                    length: None,
                });
                match key.as_deref() {
                    Some("offset") => ext.offset = number(value.clone()).unwrap_or(0),
                    Some("length") => ext.length = number(value.clone()),
                    Some("location") => ext.location = value.clone().unwrap_or_default(),
                    _ => {}
                }
                if let (Some("location"), Some(path)) = (key.as_deref(), value) {
                    if crate::container::escapes(&path) || path.starts_with('~') {
                        ctx.findings.push(ScanFinding::new(
                            RuleId::OnnxExternalDataEscape,
                            Verdict::Dangerous,
                            at,
                            format!("tensor {name:?} reads its data from {path:?}, outside the model's folder"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(mut ext) = external.filter(|e| !e.location.is_empty()) {
        // Locations inside an archive are relative to a folder the scan does not have.
        if at.member().is_none() {
            ext.tensor = name;
            ctx.external.push(ext);
        }
    }
}
