//! Reading a graph's intermediate values: the comparisons a graph makes and what they give
//! for given inputs. `aisec defend trigger-search` looks for dormant key checks this way
//! (comparisons that never change on clean data) and for the input that flips them.

use std::collections::{BTreeSet, HashMap};

use super::value::Value;
use super::{evaluate, OnnxModel};
use crate::error::{MlError, Result};
use crate::tensor;

/// Operators that can turn input values into a switch: comparisons, and the steps and steep
/// functions that make a 0/1 mask without one (`Clip`, `Sign`, rounding, casts, a steep
/// `Sigmoid` or `Pow`, the minimum of a patch).
pub const SWITCH_OPS: &[&str] = &[
    "Equal",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Clip",
    "Sign",
    "Round",
    "Floor",
    "Ceil",
    "Cast",
    "Relu",
    "Sigmoid",
    "HardSigmoid",
    "Tanh",
    "Pow",
    "Exp",
    "Softmax",
    "Mod",
    "Max",
    "Min",
    "ReduceMin",
    "ReduceMax",
    "Not",
    "And",
    "Or",
    "IsNaN",
];

/// Operators whose output mixes their input through learned weights.
const WEIGHTED_OPS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "LSTM",
    "GRU",
    "RNN",
    "Einsum",
];

/// A switch-like node of the main graph that reads input values through no weighted layer
/// (one inside an `If` or `Loop` body is not listed, nor one after the network: a threshold
/// on the model's own output is not a key check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphComparison {
    /// `Op \`name\``, or `Op #index` for an unnamed node (as `aisec scan` names it).
    pub label: String,
    pub op: String,
    pub inputs: Vec<String>,
    pub output: String,
}

/// One probed value for every input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    /// Numbers per input row (booleans are 0 and 1).
    pub per_row: usize,
    /// Whether the value has one entry per input row (a batch-wide value does not).
    pub row_wise: bool,
    /// `rows × per_row` numbers, row-major (the first chunk's only when not row-wise).
    pub values: Vec<f32>,
}

/// Rows evaluated together.
const CHUNK: usize = 512;

impl OnnxModel {
    pub fn comparisons(&self) -> Vec<GraphComparison> {
        let mut learned: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for n in &self.model.graph.nodes {
            if WEIGHTED_OPS.contains(&n.op_type.as_str())
                || n.inputs.iter().any(|i| learned.contains(i.as_str()))
            {
                learned.extend(n.outputs.iter().map(String::as_str));
            }
        }
        self.model
            .graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                SWITCH_OPS.contains(&n.op_type.as_str())
                    && !n.outputs.is_empty()
                    && !n.inputs.iter().any(|i| learned.contains(i.as_str()))
            })
            .map(|(i, n)| GraphComparison {
                label: if n.name.is_empty() {
                    format!("{} #{i}", n.op_type)
                } else {
                    format!("{} `{}`", n.op_type, n.name)
                },
                op: n.op_type.clone(),
                inputs: n.inputs.clone(),
                output: n.outputs[0].clone(),
            })
            .collect()
    }

    /// Whether `name` is an initializer (a constant of the graph).
    pub fn is_constant(&self, name: &str) -> bool {
        self.plain_constants.contains_key(name)
    }

    /// The values named `names` for the `[rows, features]` inputs `x`. Only the nodes they
    /// depend on are evaluated.
    pub fn probe(&self, x: &[f32], names: &[&str]) -> Result<Vec<Probed>> {
        let f = self.info.features();
        let rows = crate::model::rows(x, f)?;
        let nodes = self.ancestors(names)?;
        let mut out: Vec<Probed> = Vec::new();
        for (c, chunk) in x.chunks(CHUNK * f).enumerate() {
            let n = chunk.len() / f;
            let device = tensor::device();
            let mut shape = vec![n];
            shape.extend(&self.info.input_shape);
            let mut values: HashMap<&str, Value> = HashMap::new();
            values.insert(
                self.input_name.as_str(),
                Value::F2(tensor::matrix(chunk, n, &device)).reshape(&shape)?,
            );
            evaluate(
                &nodes,
                &mut values,
                &[],
                &self.plain_constants,
                &device,
                None,
            )?;
            for (k, name) in names.iter().enumerate() {
                let v = values
                    .get(name)
                    .or_else(|| self.plain_constants.get(*name))
                    .cloned()
                    .ok_or_else(|| {
                        MlError::Invalid(format!("the graph computes no value named `{name}`"))
                    })?;
                let dims = v.dims();
                let numbers = numbers(v)?;
                let row_wise = dims.first() == Some(&n) && rows > 0;
                let per_row = if row_wise {
                    numbers.len() / n
                } else {
                    numbers.len()
                };
                if c == 0 {
                    out.push(Probed {
                        per_row,
                        row_wise,
                        values: numbers,
                    });
                } else if out[k].row_wise && row_wise {
                    out[k].values.extend(numbers);
                }
            }
        }
        Ok(out)
    }

    /// The values computed on the way to `name` (its ancestors' outputs, `name` included),
    /// nearest first.
    pub fn upstream(&self, name: &str) -> Vec<String> {
        let nodes = match self.ancestors(&[name]) {
            Ok(n) => n,
            Err(_) => return Vec::new(),
        };
        nodes
            .iter()
            .rev()
            .flat_map(|n| n.outputs.iter().filter(|o| !o.is_empty()).cloned())
            .collect()
    }

    /// The main graph's nodes that the named values depend on, in graph order (all nodes up
    /// to the last one needed when one of them has a subgraph, whose outer references are
    /// not followed).
    fn ancestors(&self, names: &[&str]) -> Result<Vec<super::proto::NodeProto>> {
        let nodes = &self.model.graph.nodes;
        let mut producer: HashMap<&str, usize> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for o in &n.outputs {
                producer.insert(o.as_str(), i);
            }
        }
        let mut needed: BTreeSet<usize> = BTreeSet::new();
        let mut stack: Vec<&str> = names.to_vec();
        while let Some(name) = stack.pop() {
            if let Some(&i) = producer.get(name) {
                if needed.insert(i) {
                    stack.extend(nodes[i].inputs.iter().map(String::as_str));
                }
            }
        }
        let last = needed.last().copied();
        if needed
            .iter()
            .any(|&i| nodes[i].attributes.iter().any(|a| a.g.is_some()))
        {
            return Ok(nodes[..=last.unwrap_or(0)].to_vec());
        }
        Ok(needed.into_iter().map(|i| nodes[i].clone()).collect())
    }
}

fn numbers(v: Value) -> Result<Vec<f32>> {
    Ok(match v {
        Value::Ints(i, _) => i.into_iter().map(|v| v as f32).collect(),
        other => tensor::to_vec(other.float1()?),
    })
}
