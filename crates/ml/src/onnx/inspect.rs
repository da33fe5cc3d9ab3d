//! `aisec model inspect`: what an ONNX file holds and whether aisec can attack it white-box —
//! its operators (with a node of each, so that a refusal can be traced in Netron), inputs,
//! outputs and parameter count. The file is parsed, never executed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ops::SUPPORTED;
use super::proto::{ModelProto, ValueInfo};
use super::OnnxModel;
use crate::error::Result;

#[derive(Debug, Clone, Serialize)]
pub struct TensorDesc {
    pub name: String,
    /// ONNX element type name (`float`, `int64` …).
    pub element_type: String,
    /// `None` for a symbolic dimension (the batch axis, usually).
    pub shape: Vec<Option<i64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperatorUse {
    /// `Conv`, or `domain::Op` outside the default domain.
    pub operator: String,
    pub nodes: usize,
    /// The first node using it (`node \`NAME\``, or `unnamed node #I` by position).
    pub first_node: String,
    /// Whether aisec evaluates it (every evaluated operator is differentiable).
    pub supported: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub path: PathBuf,
    pub producer: String,
    pub ir_version: i64,
    /// (domain, version); the default domain is "".
    pub opsets: Vec<(String, i64)>,
    pub inputs: Vec<TensorDesc>,
    pub outputs: Vec<TensorDesc>,
    /// Numbers held in initializers (the weights).
    pub parameters: usize,
    pub nodes: usize,
    pub operators: Vec<OperatorUse>,
    /// Whether aisec loads it as a classifier whose input gradients it computes.
    pub white_box: bool,
    /// Why not, when it cannot; what a white-box run gets, when it can.
    pub verdict: String,
}

fn element_type(t: i32) -> String {
    match t {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        9 => "bool",
        10 => "float16",
        11 => "double",
        16 => "bfloat16",
        _ => return format!("type {t}"),
    }
    .to_string()
}

fn describe(v: &ValueInfo) -> TensorDesc {
    TensorDesc {
        name: v.name.clone(),
        element_type: element_type(v.elem_type),
        shape: v.shape.clone(),
    }
}

/// Reads `path` and says what it is; an unreadable or malformed file is an error.
pub fn inspect(path: &Path) -> Result<Inspection> {
    let model = ModelProto::read(path)?;
    let graph = &model.graph;
    let mut operators: BTreeMap<String, OperatorUse> = BTreeMap::new();
    for (index, node) in graph.all_nodes().into_iter().enumerate() {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        let operator = if default_domain {
            node.op_type.clone()
        } else {
            format!("{}::{}", node.domain, node.op_type)
        };
        operators
            .entry(operator.clone())
            .or_insert_with(|| OperatorUse {
                operator,
                nodes: 0,
                first_node: super::node_label(node, index),
                supported: default_domain && SUPPORTED.contains(&node.op_type.as_str()),
            })
            .nodes += 1;
    }
    let initialized: Vec<&str> = graph.initializers.iter().map(|t| t.name.as_str()).collect();
    let parameters = graph
        .initializers
        .iter()
        .map(|t| {
            t.dims
                .iter()
                .map(|d| (*d).max(0) as usize)
                .product::<usize>()
        })
        .sum();
    let (white_box, verdict) = match OnnxModel::load(path) {
        Ok(m) => (
            true,
            format!(
                "white-box: every operator is evaluated by aisec and differentiable, so gradient attacks (FGSM, PGD, APGD, C&W, DeepFool) compute input gradients through it; input {:?}, {} classes",
                m.info.input_shape, m.info.num_classes
            ),
        ),
        Err(e) => (false, format!("not attackable white-box by aisec: {e}")),
    };
    Ok(Inspection {
        path: path.to_path_buf(),
        producer: model.producer.clone(),
        ir_version: model.ir_version,
        opsets: model.opsets.clone(),
        inputs: graph
            .inputs
            .iter()
            .filter(|i| !initialized.contains(&i.name.as_str()))
            .map(describe)
            .collect(),
        outputs: graph.outputs.iter().map(describe).collect(),
        parameters,
        nodes: graph.nodes.len(),
        operators: operators.into_values().collect(),
        white_box,
        verdict,
    })
}
