//! ONNX `LSTM` and `GRU` (what `torch.onnx.export` writes for `nn.LSTM` and `nn.GRU`), unrolled
//! over time with burn's matrix products and activations so that gradients flow back to every
//! time step's input. Layout 0 (`[seq, batch, features]`), forward, reverse or bidirectional,
//! the activations Sigmoid, Tanh, Relu and HardSigmoid, optional biases and initial states. Per-sequence lengths shorter
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

    let acts = activations(node, gates, directions).map_err(refuse)?;

    let mut ys = Vec::with_capacity(directions);
    let (mut last_h, mut last_c) = (Vec::new(), Vec::new());
    for (d, &backward) in reversed.iter().enumerate() {
        // f for the gates, g for the candidate, h (LSTM) for the output.
        let (f, g) = (acts[d * (gates - 1)], acts[d * (gates - 1) + 1]);
        let h_act = if gates == 4 { acts[d * 3 + 2] } else { g };
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
                let i = f.apply(gate(&sum, 0));
                let o = f.apply(gate(&sum, 1));
                let forget = f.apply(gate(&sum, 2));
                let candidate = g.apply(gate(&sum, 3));
                c = forget * c + i * candidate;
                h = o * h_act.apply(c.clone());
            } else {
                // ONNX gate order: update, reset, hidden.
                let z = f.apply(gate(&from_x, 0) + gate(&from_h, 0));
                let reset = f.apply(gate(&from_x, 1) + gate(&from_h, 1));
                let candidate = if before_reset {
                    g.apply(gate(&from_x, 2) + reset * gate(&from_h, 2))
                } else {
                    let rh = gate(&rb, 2);
                    let recurrent = (reset * h.clone()).matmul(gate(&rt, 2)) + rh;
                    g.apply(gate(&from_x, 2) + recurrent)
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

/// An activation of the `activations` attribute.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Activation {
    Sigmoid,
    Tanh,
    Relu,
    HardSigmoid { alpha: f32, beta: f32 },
}

impl Activation {
    fn apply(self, t: Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Sigmoid => sigmoid(t),
            Activation::Tanh => t.tanh(),
            Activation::Relu => t.clamp_min(0.0),
            Activation::HardSigmoid { alpha, beta } => {
                t.mul_scalar(alpha).add_scalar(beta).clamp(0.0, 1.0)
            }
        }
    }
}

/// The activations per direction (LSTM: f, g, h; GRU: f, g): ONNX's defaults (Sigmoid, Tanh,
/// Tanh) unless the node names them, as tf2onnx always does. Parameters in
/// `activation_alpha`/`activation_beta` are consumed in order by the activations that take them.
fn activations(
    node: &NodeProto,
    gates: usize,
    directions: usize,
) -> std::result::Result<Vec<Activation>, String> {
    let per_direction = gates - 1;
    let Some(names) = node.attr("activations").map(|a| a.strings.clone()) else {
        let defaults = [Activation::Sigmoid, Activation::Tanh, Activation::Tanh];
        return Ok((0..directions)
            .flat_map(|_| defaults[..per_direction].to_vec())
            .collect());
    };
    if names.len() != per_direction * directions {
        return Err(format!(
            "{} activations {names:?} for {directions} direction(s) (expected {per_direction} each)",
            names.len()
        ));
    }
    let alphas = node
        .attr("activation_alpha")
        .map(|a| a.floats.clone())
        .unwrap_or_default();
    let betas = node
        .attr("activation_beta")
        .map(|a| a.floats.clone())
        .unwrap_or_default();
    let mut parameter = 0;
    names
        .iter()
        .map(|name| {
            Ok(match name.to_ascii_lowercase().as_str() {
                "sigmoid" => Activation::Sigmoid,
                "tanh" => Activation::Tanh,
                "relu" => Activation::Relu,
                "hardsigmoid" => {
                    let alpha = alphas.get(parameter).copied().unwrap_or(0.2);
                    let beta = betas.get(parameter).copied().unwrap_or(0.5);
                    parameter += 1;
                    Activation::HardSigmoid { alpha, beta }
                }
                other => {
                    return Err(format!(
                        "activation `{other}` is not supported (Sigmoid, Tanh, Relu, HardSigmoid)"
                    ))
                }
            })
        })
        .collect()
}
