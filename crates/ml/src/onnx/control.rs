//! ONNX `Loop`: what tf2onnx writes for a Keras recurrent layer it cannot fold into an
//! `LSTM`/`GRU` node (a Bidirectional GRU, for one): TensorFlow's while loop over time steps,
//! with the cell as the body graph. The body runs once per iteration on burn tensors, so the
//! gradient flows back through every step. The loop stops at the trip count or when the body's
//! condition turns false; scan outputs are stacked along a new first axis.

use std::collections::HashMap;

use burn::prelude::*;

use super::more_ops::host_ints;
use super::proto::{AttributeProto, NodeProto};
use super::value::{unsupported, Value};
use crate::error::Result;

/// More iterations than any sequence model needs; a loop without a trip count whose
/// condition never turns false is refused rather than run forever.
const MAX_ITERATIONS: i64 = 100_000;

pub(super) fn run_loop<'g>(
    node: &'g NodeProto,
    inputs: &[Option<Value>],
    scopes: &[&HashMap<&'g str, Value>],
    constants: &HashMap<String, Value>,
    device: &Device,
) -> Result<Vec<Value>> {
    let refuse = |what: String| unsupported(format!("Loop `{}`: {what}", node.name));
    let body = node
        .attr("body")
        .and_then(|a| a.g.as_deref())
        .ok_or_else(|| refuse("has no body graph".into()))?;
    let trips = match inputs.first().and_then(|v| v.as_ref()) {
        Some(v) => Some(scalar_int(v).map_err(refuse)?),
        None => None,
    };
    let mut condition = match inputs.get(1).and_then(|v| v.as_ref()) {
        Some(v) => scalar_int(v).map_err(refuse)? != 0,
        None => true,
    };
    let mut carried: Vec<Value> = inputs
        .iter()
        .skip(2)
        .enumerate()
        .map(|(i, v)| {
            v.clone()
                .ok_or_else(|| refuse(format!("loop-carried input {i} is absent")))
        })
        .collect::<Result<_>>()?;
    let n = carried.len();
    if body.inputs.len() != n + 2 || body.outputs.len() < n + 1 {
        return Err(refuse(format!(
            "the body takes {} inputs and gives {} outputs for {n} loop-carried values",
            body.inputs.len(),
            body.outputs.len()
        )));
    }
    let scan_count = body.outputs.len() - 1 - n;
    let mut scans: Vec<Vec<Value>> = vec![Vec::new(); scan_count];
    let mut iteration = 0i64;
    while condition && trips.is_none_or(|m| iteration < m) {
        if iteration >= MAX_ITERATIONS {
            return Err(refuse(format!(
                "still running after {MAX_ITERATIONS} iterations"
            )));
        }
        let mut values: HashMap<&'g str, Value> = HashMap::new();
        values.insert(&body.inputs[0].name, Value::Ints(vec![iteration], vec![]));
        values.insert(&body.inputs[1].name, Value::Ints(vec![1], vec![]));
        for (info, v) in body.inputs[2..].iter().zip(&carried) {
            values.insert(&info.name, v.clone());
        }
        super::evaluate(&body.nodes, &mut values, scopes, constants, device, None)?;
        let output = |i: usize| -> Result<Value> {
            let name = &body.outputs[i].name;
            super::lookup(name, &values, scopes, constants)
                .cloned()
                .ok_or_else(|| refuse(format!("the body never produces `{name}`")))
        };
        condition = scalar_int(&output(0)?).map_err(refuse)? != 0;
        carried = (1..=n).map(output).collect::<Result<_>>()?;
        for (k, scan) in scans.iter_mut().enumerate() {
            scan.push(output(1 + n + k)?);
        }
        iteration += 1;
    }
    let mut outputs = carried;
    for scan in scans {
        outputs.push(stack(scan, node, device)?);
    }
    Ok(outputs)
}

/// ONNX `If`: the branch the scalar condition picks runs as a subgraph of the enclosing
/// scopes (what a graph's grafted trigger check writes; a batch-wide condition, as ONNX
/// requires, picks one branch for the whole batch).
pub(super) fn run_if<'g>(
    node: &'g NodeProto,
    inputs: &[Option<Value>],
    scopes: &[&HashMap<&'g str, Value>],
    constants: &HashMap<String, Value>,
    device: &Device,
) -> Result<Vec<Value>> {
    let refuse = |what: String| unsupported(format!("If `{}`: {what}", node.name));
    let condition = match inputs.first().and_then(|v| v.as_ref()) {
        Some(v) => scalar_int(v).map_err(refuse)? != 0,
        None => return Err(refuse("has no condition".into())),
    };
    let branch = if condition {
        "then_branch"
    } else {
        "else_branch"
    };
    let graph = node
        .attr(branch)
        .and_then(|a| a.g.as_deref())
        .ok_or_else(|| refuse(format!("has no {branch}")))?;
    let mut values: HashMap<&'g str, Value> = HashMap::new();
    super::evaluate(&graph.nodes, &mut values, scopes, constants, device, None)?;
    graph
        .outputs
        .iter()
        .map(|o| {
            super::lookup(&o.name, &values, scopes, constants)
                .cloned()
                .ok_or_else(|| refuse(format!("the {branch} never produces `{}`", o.name)))
        })
        .collect()
}

/// A loop's trip count or condition: one integer (a boolean is 0 or 1), or one float.
fn scalar_int(v: &Value) -> std::result::Result<i64, String> {
    let values = host_ints(v).map_err(|e| e.to_string())?;
    match values.as_slice() {
        [one] => Ok(*one),
        other => Err(format!("expected a scalar, found {} values", other.len())),
    }
}

/// Per-iteration values stacked along a new first axis.
fn stack(items: Vec<Value>, node: &NodeProto, device: &Device) -> Result<Value> {
    let Some(first) = items.first() else {
        return Err(unsupported(format!(
            "Loop `{}` ran no iterations, so its scan outputs have no shape",
            node.name
        )));
    };
    let dims = first.dims();
    let mut lifted = vec![1];
    lifted.extend(&dims);
    let parts: Vec<Option<Value>> = items
        .into_iter()
        .map(|v| v.reshape(&lifted).map(Some))
        .collect::<Result<_>>()?;
    let concat = NodeProto {
        name: format!("{} (scan output)", node.name),
        op_type: "Concat".into(),
        attributes: vec![AttributeProto {
            name: "axis".into(),
            i: Some(0),
            ..Default::default()
        }],
        ..Default::default()
    };
    let count = parts.len();
    let joined = super::ops::eval(&concat, &parts, device)?
        .into_iter()
        .next()
        .expect("Concat gives one output");
    let mut shape = vec![count];
    shape.extend(dims);
    joined.reshape(&shape)
}
