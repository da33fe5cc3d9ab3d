//! Architectural backdoors in ONNX graphs (a "model graph trojan": HiddenLayer's ShadowLogic,
//! 2024; Bober-Irizar et al., "Architectural Backdoors in Neural Networks", CVPR 2023): extra
//! nodes that compare the raw input with a key and switch the output, so the weights are
//! clean and retraining or fine-tuning never removes it. ATLAS AML.T0018.001 Modify AI Model
//! Architecture, delivered through AML.T0010.003 (a poisoned model in the supply chain).
//!
//! The graph is followed as data flow, never run. Each value records whether it still
//! depends on input *values* with no weighted layer in between (`raw`: Shape and Size read
//! only the shape), and which comparisons of such raw values it carries (`keys`). A weighted
//! layer (Conv, Gemm, MatMul, a recurrent cell, attention) consumes its input's keys: an
//! input-dependent choice made before the network, such as clamping negative pixels, shapes
//! what the network sees but does not choose its answer. A graph output that still carries
//! keys is chosen by a comparison on the raw input that no weighted layer separates from the
//! output — the trojan's shape whether the switch is a `Where`, an `If` branch or arithmetic
//! on a cast mask. A comparison on the network's own output (a threshold, NMS) is not raw and
//! is not reported. Keys hidden behind a weighted layer built to detect the trigger are out of
//! reach of this rule; `aisec defend trigger-search` looks for dormant switches by running
//! the graph.

use std::collections::{BTreeSet, HashMap};

use super::protobuf::{fields, Field};

/// Operators that turn raw input values into a switch: comparisons, and the step-like
/// functions that make one without a comparison (`Clip((m − 0.99)·10⁴, 0, 1)` is a mask that
/// is 0 or 1, `Sign`, rounding). A Relu, a Min or a Max of raw values is one too when its
/// result reaches the output unmixed; before the network they are ordinary preprocessing,
/// and the weighted layer after them consumes the key.
const KEY_OPS: &[&str] = &[
    "Equal",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "IsNaN",
    "IsInf",
    "Sign",
    "Round",
    "Floor",
    "Ceil",
    "Clip",
    "Relu",
    "Min",
    "Max",
    "HardSigmoid",
];

/// Operators whose output mixes their input through learned weights.
const WEIGHTED: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "ConvInteger",
    "QLinearConv",
    "Gemm",
    "MatMul",
    "MatMulInteger",
    "QLinearMatMul",
    "Einsum",
    "LSTM",
    "GRU",
    "RNN",
    "Attention",
    "MultiHeadAttention",
    "FusedConv",
    "FusedMatMul",
    "QAttention",
];

/// Operators whose output depends on the input's shape, not its values.
const SHAPE_ONLY: &[&str] = &["Shape", "Size"];

/// How deep nested subgraphs are followed (an `If` inside a `Loop` …).
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Default)]
struct Flow {
    /// Depends on input values through no weighted layer.
    raw: bool,
    /// Depends on a weighted layer's output (the network's computation).
    learned: bool,
    keys: BTreeSet<String>,
}

impl Flow {
    fn merge(&mut self, other: &Flow) {
        self.raw |= other.raw;
        self.learned |= other.learned;
        self.keys.extend(other.keys.iter().cloned());
    }
}

struct Node<'a> {
    op: String,
    label: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    subgraphs: Vec<&'a [u8]>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn value_name(info: &[u8]) -> Option<String> {
    fields(info)?.into_iter().find_map(|f| match f {
        Field::Bytes(1, n) => Some(text(n)),
        _ => None,
    })
}

struct Graph<'a> {
    nodes: Vec<Node<'a>>,
    inputs: Vec<String>,
    initializers: BTreeSet<String>,
    outputs: Vec<String>,
}

fn parse_graph(graph: &[u8]) -> Graph<'_> {
    let mut g = Graph {
        nodes: Vec::new(),
        inputs: Vec::new(),
        initializers: BTreeSet::new(),
        outputs: Vec::new(),
    };
    for f in fields(graph).unwrap_or_default() {
        match f {
            Field::Bytes(1, node) => g.nodes.push(parse_node(node, g.nodes.len())),
            Field::Bytes(5, tensor) => {
                if let Some(name) = fields(tensor).and_then(|t| {
                    t.into_iter().find_map(|x| match x {
                        Field::Bytes(8, n) => Some(text(n)),
                        _ => None,
                    })
                }) {
                    g.initializers.insert(name);
                }
            }
            Field::Bytes(11, info) => g.inputs.extend(value_name(info)),
            Field::Bytes(12, info) => g.outputs.extend(value_name(info)),
            _ => {}
        }
    }
    g
}

fn parse_node(node: &[u8], index: usize) -> Node<'_> {
    let mut n = Node {
        op: String::new(),
        label: String::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        subgraphs: Vec::new(),
    };
    let mut name = String::new();
    for f in fields(node).unwrap_or_default() {
        match f {
            Field::Bytes(1, i) => n.inputs.push(text(i)),
            Field::Bytes(2, o) => n.outputs.push(text(o)),
            Field::Bytes(3, s) => name = text(s),
            Field::Bytes(4, op) => n.op = text(op),
            Field::Bytes(5, attribute) => {
                for a in fields(attribute).unwrap_or_default() {
                    if let Field::Bytes(6 | 11, g) = a {
                        n.subgraphs.push(g);
                    }
                }
            }
            _ => {}
        }
    }
    n.label = if name.is_empty() {
        format!("{} #{index}", n.op)
    } else {
        format!("{} `{name}`", n.op)
    };
    n
}

/// Follows `graph` with `outer` as the enclosing scope; returns the flow of its outputs.
fn follow(graph: &Graph<'_>, outer: &HashMap<String, Flow>, depth: usize) -> Vec<Flow> {
    let mut scope = outer.clone();
    for input in &graph.inputs {
        if !graph.initializers.contains(input) {
            // A top-level input is the data; a subgraph's formal inputs are set by its
            // caller before this runs (they are already in `outer`).
            scope.entry(input.clone()).or_insert_with(|| Flow {
                raw: depth == 0,
                learned: false,
                keys: BTreeSet::new(),
            });
        }
    }
    for init in &graph.initializers {
        scope.insert(init.clone(), Flow::default());
    }
    for node in &graph.nodes {
        let mut incoming = Flow::default();
        for i in node.inputs.iter().filter(|i| !i.is_empty()) {
            if let Some(f) = scope.get(i) {
                incoming.merge(f);
            }
        }
        let op = node.op.as_str();
        let out = if SHAPE_ONLY.contains(&op) {
            Flow::default()
        } else if WEIGHTED.contains(&op) {
            Flow {
                learned: true,
                ..Flow::default()
            }
        } else if KEY_OPS.contains(&op) {
            // A step of the input alone is a key; a clamp of the network's output mixed with
            // the input (a super-resolution model's clip(x + residual)) is not.
            let mut f = incoming.clone();
            if incoming.raw && !incoming.learned {
                f.keys.insert(node.label.clone());
            }
            f
        } else if !node.subgraphs.is_empty() && depth < MAX_DEPTH {
            // If, Loop, Scan: a body's formal inputs take what the node is given; its
            // outputs (either branch of an If) join the node's own inputs (the condition
            // chooses among them).
            let mut f = incoming.clone();
            for sub in &node.subgraphs {
                let body = parse_graph(sub);
                let mut inner = scope.clone();
                for formal in &body.inputs {
                    inner.insert(formal.clone(), incoming.clone());
                }
                for o in follow(&body, &inner, depth + 1) {
                    f.merge(&o);
                }
            }
            f
        } else {
            incoming
        };
        for o in &node.outputs {
            scope.insert(o.clone(), out.clone());
        }
    }
    graph
        .outputs
        .iter()
        .map(|o| scope.get(o).cloned().unwrap_or_default())
        .collect()
}

/// One graph output chosen by key checks on the raw input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub output: String,
    /// The comparisons, as `Op \`name\`` (or `Op #index` for an unnamed node).
    pub keys: Vec<String>,
}

/// The outputs of the ONNX model's main graph that a comparison on raw input values switches
/// with no weighted layer in between.
pub fn overrides(model: &[u8]) -> Vec<Override> {
    let Some(graph) = fields(model).and_then(|m| {
        m.into_iter().find_map(|f| match f {
            Field::Bytes(7, g) => Some(g),
            _ => None,
        })
    }) else {
        return Vec::new();
    };
    let graph = parse_graph(graph);
    let flows = follow(&graph, &HashMap::new(), 0);
    graph
        .outputs
        .iter()
        .zip(flows)
        .filter(|(_, f)| !f.keys.is_empty())
        .map(|(o, f)| Override {
            output: o.clone(),
            keys: f.keys.into_iter().collect(),
        })
        .collect()
}
