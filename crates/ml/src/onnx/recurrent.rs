//! ONNX `LSTM` and `GRU` (what `torch.onnx.export` writes for `nn.LSTM` and `nn.GRU`), unrolled
//! over time with burn's matrix products and activations so that gradients flow back to every
//! time step's input. Layout 0 (`[seq, batch, features]`), forward, reverse or bidirectional,
//! the default activations, optional biases and initial states. Per-sequence lengths shorter
//! than the input and the `clip` attribute are refused, not ignored.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::ops::input;
use super::proto::NodeProto;
use super::value::{unsupported, Value};
use crate::error::Result;

/// `Some(outputs)` for LSTM and GRU nodes: `Y` `[seq, directions, batch, hidden]`, `Y_h` and
/// (LSTM) `Y_c` `[directions, batch, hidden]`.
pub fn eval(
    node: &NodeProto,
    inputs: &[Option<Value>],
    device: &Device,
) -> Result<Option<Vec<Value>>> {
    let gates = match node.op_type.as_str() {
        "LSTM" => 4,
        "GRU" => 3,
        _ => return Ok(None),
    };
    let refuse = |what: String| unsupported(format!("{} `{}`: {what}", node.op_type, node.name));
    if node.attr("layout").and_then(|a| a.i).unwrap_or(0) != 0 {
        return Err(refuse("layout 1 (batch first) is not supported".into()));
    }
    if node.attr("clip").is_some() {
        return Err(refuse("the clip attribute is not supported".into()));
    }
    if node.attr("activations").is_some() {
        return Err(refuse("custom activations are not supported".into()));
    }
    if inputs.get(7).is_some_and(|p| p.is_some()) {
        return Err(refuse(
            "peephole weights (input P) are not supported".into(),
        ));
    }
    let x = input(inputs, 0, node)?.clone().float3()?;
    let w = input(inputs, 1, node)?.clone().float3()?;
    let r = input(inputs, 2, node)?.clone().float3()?;
    let [seq, batch, _features] = x.dims();
    let [directions, rows, _] = w.dims();
    let hidden = rows / gates;
    if let Some(h) = node.attr("hidden_size").and_then(|a| a.i) {
        if h as usize != hidden {
            return Err(refuse(format!(
                "hidden_size {h} but W has {rows} rows for {gates} gates"
            )));
        }
    }
    let direction = node
        .attr("direction")
        .and_then(|a| a.s.clone())
        .unwrap_or_else(|| "forward".into());
    let reversed: Vec<bool> = match (direction.as_str(), directions) {
        ("forward", 1) => vec![false],
        ("reverse", 1) => vec![true],
        ("bidirectional", 2) => vec![false, true],
        (d, n) => return Err(refuse(format!("direction `{d}` with {n} weight sets"))),
    };
    if let Some(Some(lengths)) = inputs.get(4) {
        if lengths.ints()?.iter().any(|l| *l as usize != seq) {
            return Err(refuse(format!(
                "sequence lengths {:?} differ from the input's {seq} steps (padded sequences are not supported)",
                lengths.ints()?
            )));
        }
    }
    let optional3 = |i: usize| -> Result<Option<Tensor<3>>> {
        match inputs.get(i).and_then(|v| v.clone()) {
            Some(v) => Ok(Some(v.float3()?)),
            None => Ok(None),
        }
    };
    let bias = match inputs.get(3).and_then(|v| v.clone()) {
        Some(b) => Some(b.float2()?),
        None => None,
    };
    let (initial_h, initial_c) = (optional3(5)?, optional3(6)?);
    let before_reset = node
        .attr("linear_before_reset")
        .and_then(|a| a.i)
        .unwrap_or(0)
        != 0;

    let mut ys = Vec::with_capacity(directions);
    let (mut last_h, mut last_c) = (Vec::new(), Vec::new());
    for (d, &backward) in reversed.iter().enumerate() {
        let pick = |t: &Tensor<3>| {
            t.clone()
                .narrow(0, d, 1)
                .reshape([t.dims()[1], t.dims()[2]])
        };
        let wt = pick(&w).transpose(); // [features, gates·hidden]
        let rt = pick(&r).transpose(); // [hidden, gates·hidden]
        let (wb, rb) = match &bias {
            Some(b) => {
                let row = b.clone().narrow(0, d, 1);
                (
                    row.clone().narrow(1, 0, gates * hidden),
                    row.narrow(1, gates * hidden, gates * hidden),
                )
            }
            None => {
                let zero = Tensor::<2>::zeros([1, gates * hidden], device);
                (zero.clone(), zero)
            }
        };
        let start = |s: &Option<Tensor<3>>| match s {
            Some(t) => pick(t),
            None => Tensor::<2>::zeros([batch, hidden], device),
        };
        let mut h = start(&initial_h);
        let mut c = start(&initial_c);
        let gate = |t: &Tensor<2>, k: usize| t.clone().narrow(1, k * hidden, hidden);
        let mut outputs: Vec<Tensor<2>> = Vec::with_capacity(seq);
        for step in 0..seq {
            let t = if backward { seq - 1 - step } else { step };
            let xt = x.clone().narrow(0, t, 1).reshape([batch, x.dims()[2]]);
            let from_x = xt.matmul(wt.clone()) + wb.clone();
            let from_h = h.clone().matmul(rt.clone()) + rb.clone();
            if gates == 4 {
                // ONNX gate order: input, output, forget, cell.
                let sum = from_x + from_h;
                let i = sigmoid(gate(&sum, 0));
                let o = sigmoid(gate(&sum, 1));
                let f = sigmoid(gate(&sum, 2));
                let candidate = gate(&sum, 3).tanh();
                c = f * c + i * candidate;
                h = o * c.clone().tanh();
            } else {
                // ONNX gate order: update, reset, hidden.
                let z = sigmoid(gate(&from_x, 0) + gate(&from_h, 0));
                let reset = sigmoid(gate(&from_x, 1) + gate(&from_h, 1));
                let candidate = if before_reset {
                    (gate(&from_x, 2) + reset * gate(&from_h, 2)).tanh()
                } else {
                    let rh = gate(&rb, 2);
                    let recurrent = (reset * h.clone()).matmul(gate(&rt, 2)) + rh;
                    (gate(&from_x, 2) + recurrent).tanh()
                };
                h = z.clone().neg().add_scalar(1.0) * candidate + z * h;
            }
            outputs.push(h.clone());
        }
        if backward {
            outputs.reverse();
        }
        ys.push(Tensor::stack::<3>(outputs, 0)); // [seq, batch, hidden]
        last_h.push(h);
        last_c.push(c);
    }
    let y = Tensor::stack::<4>(ys, 1); // [seq, directions, batch, hidden]
    let mut out = vec![Value::F4(y), Value::F3(Tensor::stack::<3>(last_h, 0))];
    if gates == 4 {
        out.push(Value::F3(Tensor::stack::<3>(last_c, 0)));
    }
    Ok(Some(out))
}
