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

/// Operators through which values pass linearly or are only rearranged: they carry a key
/// but make none. Every other operator applied to the raw input alone — a comparison, a
/// step (`Sign`, rounding, a cast to integers, a steep `Clip`, `Sigmoid` or `Pow`), a
/// maximum, an operator the graph defines itself — can turn it into a switch, and makes a
/// key of it.
const LINEAR: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Sum",
    "Mean",
    "Identity",
    "Dropout",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Concat",
    "Split",
    "Slice",
    "Gather",
    "GatherElements",
    "GatherND",
    "Pad",
    "Expand",
    "Tile",
    "ReduceMean",
    "ReduceSum",
    "BatchNormalization",
    "AveragePool",
    "GlobalAveragePool",
    "DepthToSpace",
    "SpaceToDepth",
    "Resize",
    "Upsample",
    "Constant",
    "ConstantOfShape",
    "Range",
];

/// Gathers: an index chosen from the input that picks among the network's outputs (the last
/// real token of a padded sequence) selects its answer, it does not override it.
const GATHERS: &[&str] = &["Gather", "GatherElements", "GatherND"];

/// ONNX element types a Cast keeps as floating point (a cast among them is not a step).
const FLOAT_TYPES: &[u64] = &[1, 10, 11, 16];

/// Operators whose output mixes their input through learned weights (ONNX-ML's model
/// operators among them: a scikit-learn pipeline's tree ensemble or linear model).
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
    "FusedGemm",
    "QAttention",
    "QGemm",
    "MatMulNBits",
    "DynamicQuantizeMatMul",
    "GroupQueryAttention",
    "TreeEnsemble",
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "LinearClassifier",
    "LinearRegressor",
    "SVMClassifier",
    "SVMRegressor",
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
    /// A Cast's target element type.
    cast_to: Option<u64>,
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
        cast_to: None,
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
                let parts = fields(attribute).unwrap_or_default();
                let is_to = parts
                    .iter()
                    .any(|a| matches!(a, Field::Bytes(1, name) if *name == b"to"));
                for a in parts {
                    if let Field::Bytes(6 | 11, g) = a {
                        n.subgraphs.push(g);
                    }
                }
                if is_to {
                    n.cast_to = super::protobuf::varint_values(attribute)
                        .into_iter()
                        .find_map(|(number, v)| (number == 3).then_some(v));
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
/// The model's own functions (FunctionProto), by name: a node calling one is followed
/// through its body.
type Functions<'a> = HashMap<String, Graph<'a>>;

fn parse_function(function: &[u8]) -> Option<(String, Graph<'_>)> {
    let mut name = String::new();
    let mut g = Graph {
        nodes: Vec::new(),
        inputs: Vec::new(),
        initializers: BTreeSet::new(),
        outputs: Vec::new(),
    };
    for f in fields(function)? {
        match f {
            Field::Bytes(1, n) => name = text(n),
            Field::Bytes(4, i) => g.inputs.push(text(i)),
            Field::Bytes(5, o) => g.outputs.push(text(o)),
            Field::Bytes(7, node) => g.nodes.push(parse_node(node, g.nodes.len())),
            _ => {}
        }
    }
    Some((name, g))
}

fn follow(
    graph: &Graph<'_>,
    outer: &HashMap<String, Flow>,
    functions: &Functions<'_>,
    depth: usize,
) -> Vec<Flow> {
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
        let first = node
            .inputs
            .first()
            .and_then(|i| scope.get(i))
            .cloned()
            .unwrap_or_default();
        let out = if SHAPE_ONLY.contains(&op) {
            Flow::default()
        } else if WEIGHTED.contains(&op) {
            Flow {
                learned: true,
                ..Flow::default()
            }
        } else if GATHERS.contains(&op) && first.learned {
            first
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
                for o in follow(&body, &inner, functions, depth + 1) {
                    f.merge(&o);
                }
            }
            f
        } else if let Some(body) = functions.get(&node.op).filter(|_| depth < MAX_DEPTH) {
            // A function sees only its own inputs; its outputs are what its body makes of
            // them (a key check inside it is still a key check). Several outputs share one
            // flow here: the union of the body's.
            let mut inner: HashMap<String, Flow> = HashMap::new();
            for (formal, actual) in body.inputs.iter().zip(&node.inputs) {
                inner.insert(
                    formal.clone(),
                    scope.get(actual).cloned().unwrap_or_default(),
                );
            }
            let mut f = Flow::default();
            for o in follow(body, &inner, functions, depth + 1) {
                f.merge(&o);
            }
            f
        } else if LINEAR.contains(&op)
            || (op == "Cast" && node.cast_to.is_some_and(|t| FLOAT_TYPES.contains(&t)))
        {
            incoming
        } else {
            // A step of the input alone is a key; a clamp of the network's output mixed with
            // the input (a super-resolution model's clip(x + residual)) is not.
            let mut f = incoming.clone();
            if incoming.raw && !incoming.learned {
                f.keys.insert(node.label.clone());
            }
            f
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
    /// Its position among the graph's outputs, and their count.
    pub position: (usize, usize),
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
    let functions: Functions<'_> = fields(model)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| match f {
            Field::Bytes(25, function) => parse_function(function),
            _ => None,
        })
        .collect();
    let flows = follow(&graph, &HashMap::new(), &functions, 0);
    let count = graph.outputs.len();
    graph
        .outputs
        .iter()
        .enumerate()
        .zip(flows)
        // An output the network does not compute at all (a sequence length, a debugging copy
        // of the input) is a function of the input, not an override of the network.
        .filter(|(_, f)| !f.keys.is_empty() && f.learned)
        .map(|((i, o), f)| Override {
            output: o.clone(),
            position: (i + 1, count),
            keys: f.keys.into_iter().collect(),
        })
        .collect()
}
