//! TensorFlow graphs in protobuf text format: a SavedModel saved as `saved_model.pbtxt` (which
//! `tf.saved_model.load` reads as readily as the binary one) and `GraphDef`s written with
//! `tf.io.write_graph(..., as_text=True)`. They are text to the sniffer, so without this they
//! were listed as "not models" and their ops never judged. The text is read line by line as
//! nested `name {` … `}` blocks: each `op: "X"` of a `node` / `node_def` block is judged as in
//! the binary formats, inside the function whose `signature` names it, with the node's name
//! and its string attributes.

use super::tensorflow::{judge_node, report, Place, Walk};
use crate::scanner::{Ctx, Location};

/// A graph in text format: a SavedModel's `meta_graphs {` or a GraphDef's `node {` with an
/// `op: "` field.
pub fn looks_like_text_graph(text: &[u8]) -> bool {
    let head = &text[..text.len().min(1 << 16)];
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    (has(b"meta_graphs {") || has(b"node {") || has(b"node_def {")) && has(b"op: \"")
}

fn quoted(value: &str) -> Option<String> {
    let v = value.trim();
    let inner = v.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
}

#[derive(Default)]
struct Node {
    name: String,
    op: Option<String>,
    attrs: Vec<(String, String)>,
    key: Option<String>,
}

pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location) {
    let text = String::from_utf8_lossy(data);
    let mut walk = Walk::default();
    // First pass: the library's function names, so calls of them are not custom ops.
    let mut stack: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(block) = line.strip_suffix('{') {
            stack.push(block.trim().trim_end_matches(':').to_string());
        } else if line == "}" {
            stack.pop();
        } else if let Some(v) = line.strip_prefix("name:") {
            if stack.ends_with(&["function".into(), "signature".into()]) {
                walk.functions.extend(quoted(v));
            }
        }
    }
    stack.clear();
    let mut function: Option<String> = None;
    let mut node: Option<(usize, Node)> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(block) = line.strip_suffix('{') {
            let block = block.trim().trim_end_matches(':').to_string();
            if (block == "node" || block == "node_def") && node.is_none() {
                node = Some((stack.len(), Node::default()));
            }
            if block == "function" {
                function = None;
            }
            stack.push(block);
            continue;
        }
        if line == "}" {
            stack.pop();
            if node
                .as_ref()
                .is_some_and(|(depth, _)| *depth == stack.len())
            {
                let (_, n) = node.take().expect("checked");
                if let Some(op) = n.op {
                    let place = Place {
                        function: function.as_deref(),
                    };
                    let attrs = n.attrs;
                    // Inputs are not resolved in text graphs.
                    judge_node(
                        &mut walk,
                        n.name,
                        op,
                        &place,
                        &|k| {
                            attrs
                                .iter()
                                .find(|(key, _)| key == k)
                                .map(|(_, v)| v.clone())
                        },
                        &|_| None,
                    );
                }
            }
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let in_signature = stack.ends_with(&["function".into(), "signature".into()]);
        match (field.trim(), &mut node) {
            ("name", None) if in_signature => function = quoted(value),
            ("name", Some((depth, n))) if stack.len() == *depth + 1 => {
                n.name = quoted(value).unwrap_or_default()
            }
            ("op", Some((depth, n))) if stack.len() == *depth + 1 => n.op = quoted(value),
            ("key", Some((_, n))) if stack.last().is_some_and(|b| b == "attr") => {
                n.key = quoted(value)
            }
            ("s", Some((_, n))) if stack.last().is_some_and(|b| b == "value") => {
                if let (Some(k), Some(v)) = (n.key.clone(), quoted(value)) {
                    n.attrs.push((k, v));
                }
            }
            _ => {}
        }
    }
    report(ctx, walk, at);
}
