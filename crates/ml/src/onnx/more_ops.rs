//! The operators torchvision's exports of ShuffleNetV2 and vision transformers add to the
//! convolutional core in `ops.rs`: shape arithmetic on integers (Cast, Equal, Where, Mod,
//! ConstantOfShape, and Add/Sub/Mul/Div when both sides are integers), Slice, Squeeze,
//! Expand, Gather on floats, ReduceMean, LayerNormalization and the element-wise Sqrt, Pow
//! and Erf. Float paths
//! stay burn operations, so gradients flow through them; integer paths run on the host, as
//! shapes and indices carry no gradient.

use burn::prelude::*;

use super::ops::{axis, input};
use super::proto::NodeProto;
use super::value::{unsupported, Value};
use crate::error::Result;

/// ONNX element types `Cast` may produce here.
const FLOAT: i64 = 1;
const DOUBLE: i64 = 11;
const FLOAT16: i64 = 10;

pub(super) fn optional_ints(inputs: &[Option<Value>], i: usize) -> Result<Option<Vec<i64>>> {
    match inputs.get(i).and_then(|v| v.as_ref()) {
        Some(v) => Ok(Some(v.ints()?.to_vec())),
        None => Ok(None),
    }
}

/// The axes of a node, from its `axes` input (newer opsets) or attribute, made non-negative.
pub(super) fn axes(
    node: &NodeProto,
    inputs: &[Option<Value>],
    at: usize,
    rank: usize,
) -> Result<Vec<usize>> {
    let raw = match optional_ints(inputs, at)? {
        Some(a) => a,
        None => node
            .attr("axes")
            .map(|a| a.ints.clone())
            .unwrap_or_default(),
    };
    raw.iter().map(|a| axis(*a, rank, node)).collect()
}

/// Host integers of a value: integer data as it is, float data (a shape computed in floats
/// and cast back) rounded toward zero as ONNX casts do.
pub(super) fn host_ints(v: &Value) -> Result<Vec<i64>> {
    match v {
        Value::Ints(i, _) => Ok(i.clone()),
        other => Ok(crate::tensor::to_vec(other.clone().float1()?)
            .into_iter()
            .map(|f| f as i64)
            .collect()),
    }
}

/// Element-wise integer operation with numpy broadcasting.
pub(super) fn int_zip(
    a: &Value,
    b: &Value,
    node: &NodeProto,
    f: impl Fn(i64, i64) -> i64,
) -> Result<Value> {
    host_zip(node, (a, a.ints()?), (b, b.ints()?), f)
}

/// `f` over the host data of two values with numpy broadcasting, as integers (booleans are 0
/// and 1); shapes that do not broadcast are an error naming the node.
pub(super) fn host_zip<T: Copy>(
    node: &NodeProto,
    (a, x): (&Value, &[T]),
    (b, y): (&Value, &[T]),
    f: impl Fn(T, T) -> i64,
) -> Result<Value> {
    let (values, dims) = broadcast(x, &a.dims(), y, &b.dims(), f).ok_or_else(|| {
        unsupported(format!(
            "{} `{}`: shapes {:?} and {:?} do not broadcast",
            node.op_type,
            node.name,
            a.dims(),
            b.dims()
        ))
    })?;
    Ok(Value::Ints(values, dims))
}

/// Element-wise `f` over host data with numpy broadcasting; `None` when the shapes do not
/// broadcast.
pub(super) fn broadcast<T: Copy, U>(
    x: &[T],
    da: &[usize],
    y: &[T],
    db: &[usize],
    f: impl Fn(T, T) -> U,
) -> Option<(Vec<U>, Vec<usize>)> {
    let rank = da.len().max(db.len());
    let pad = |d: &[usize]| -> Vec<usize> {
        let mut v = vec![1; rank - d.len()];
        v.extend_from_slice(d);
        v
    };
    let (pa, pb) = (pad(da), pad(db));
    let mut out_dims = Vec::with_capacity(rank);
    for (p, q) in pa.iter().zip(&pb) {
        if p != q && *p != 1 && *q != 1 {
            return None;
        }
        out_dims.push(*p.max(q));
    }
    let total: usize = out_dims.iter().product();
    let index = |flat: usize, dims: &[usize]| -> usize {
        let (mut rest, mut at, mut stride) = (flat, 0, 1);
        for (d, od) in dims.iter().zip(&out_dims).rev() {
            let coord = rest % od;
            rest /= od;
            if *d != 1 {
                at += coord * stride;
            }
            stride *= d;
        }
        at
    };
    let values = (0..total)
        .map(|i| f(x[index(i, &pa)], y[index(i, &pb)]))
        .collect();
    Some((values, out_dims))
}

/// A float value's tensor as rank `R` (after checking the rank).
macro_rules! with_float_rank {
    ($value:expr, $node:expr, |$t:ident| $body:expr) => {
        match $value {
            Value::F1($t) => Value::F1($body),
            Value::F2($t) => Value::F2($body),
            Value::F3($t) => Value::F3($body),
            Value::F4($t) => Value::F4($body),
            Value::F5($t) => Value::F5($body),
            Value::Ints(..) => {
                return Err(unsupported(format!(
                    "{} `{}`: expected float data, found integers",
                    $node.op_type, $node.name
                )))
            }
        }
    };
}
pub(super) use with_float_rank;

/// `Some(outputs)` when this module evaluates `node`; `None` leaves it to `ops.rs`.
pub fn eval(node: &NodeProto, inputs: &[Option<Value>], device: &Device) -> Result<Option<Value>> {
    let x = |i: usize| input(inputs, i, node);
    let integer_pair = || {
        matches!(
            (inputs.first(), inputs.get(1)),
            (Some(Some(Value::Ints(..))), Some(Some(Value::Ints(..))))
        )
    };
    Ok(Some(match node.op_type.as_str() {
        "Add" if integer_pair() => int_zip(x(0)?, x(1)?, node, |a, b| a + b)?,
        "Sub" if integer_pair() => int_zip(x(0)?, x(1)?, node, |a, b| a - b)?,
        "Mul" if integer_pair() => int_zip(x(0)?, x(1)?, node, |a, b| a * b)?,
        // ONNX's integer division truncates, as Rust's does; a zero divisor is refused.
        "Div" if integer_pair() => {
            if x(1)?.ints()?.contains(&0) {
                return Err(unsupported(format!(
                    "Div `{}`: integer division by zero",
                    node.name
                )));
            }
            int_zip(x(0)?, x(1)?, node, |a, b| a / b)?
        }
        "Mod" if integer_pair() => {
            if x(1)?.ints()?.contains(&0) {
                return Err(unsupported(format!("Mod `{}`: modulo by zero", node.name)));
            }
            // fmod = 0 (the default): the result takes the divisor's sign, as Python's %.
            int_zip(x(0)?, x(1)?, node, |a, b| {
                let r = a % b;
                if r != 0 && (r < 0) != (b < 0) {
                    r + b
                } else {
                    r
                }
            })?
        }
        "Equal" if integer_pair() => int_zip(x(0)?, x(1)?, node, |p, q| i64::from(p == q))?,
        // Float data (a trigger check on pixel values) compares as floats: truncating to
        // integers first would call 0.2 equal to 0.7.
        "Equal" => super::keras_ops::compare(node, x(0)?, x(1)?, |p, q| p == q)?,
        "Where" if !integer_branches(inputs) => float_where(node, x(0)?, x(1)?, x(2)?, device)?,
        "Where" => {
            let condition = Value::Ints(host_ints(x(0)?)?, x(0)?.dims());
            let (a, b) = (x(1)?, x(2)?);
            if !matches!((a, b), (Value::Ints(..), Value::Ints(..))) {
                return Err(unsupported(format!(
                    "Where `{}`: only integer (shape) data is supported",
                    node.name
                )));
            }
            // Pick with broadcasting: where(c, a, b) = c·a + (1 − c)·b on integers.
            let picked_a = int_zip(&condition, a, node, |c, v| if c != 0 { v } else { 0 })?;
            let picked_b = int_zip(&condition, b, node, |c, v| if c != 0 { 0 } else { v })?;
            int_zip(&picked_a, &picked_b, node, |p, q| p + q)?
        }
        "ConstantOfShape" => {
            let shape: Vec<usize> = x(0)?.ints()?.iter().map(|d| (*d).max(0) as usize).collect();
            let n: usize = shape.iter().product();
            match node.attr("value").and_then(|a| a.t.as_ref()) {
                Some(t) if !t.floats.is_empty() => {
                    Value::from_floats(&vec![t.floats[0]; n], &shape, device)?
                }
                Some(t) => Value::Ints(vec![t.ints.first().copied().unwrap_or(0); n], shape),
                None => Value::from_floats(&vec![0.0; n], &shape, device)?,
            }
        }
        "Cast" => {
            let to = node.attr("to").and_then(|a| a.i).unwrap_or(FLOAT);
            let v = x(0)?.clone();
            let to_float = matches!(to, FLOAT | DOUBLE | FLOAT16);
            match (v, to_float) {
                (Value::Ints(i, shape), true) => {
                    let f: Vec<f32> = i.iter().map(|v| *v as f32).collect();
                    Value::from_floats(&f, &shape, device)?
                }
                (Value::Ints(i, shape), false) => Value::Ints(i, shape),
                (v, true) => v,
                (v, false) => Value::Ints(host_ints(&v)?, v.dims()),
            }
        }
        "Sqrt" => x(0)?.clone().map(|t| t.sqrt())?,
        "Erf" => x(0)?.clone().map(|t| t.erf())?,
        "Pow" => {
            let exponent = host_float_scalar(x(1)?, node)?;
            x(0)?.clone().map(|t| t.powf_scalar(exponent))?
        }
        "Squeeze" => {
            let v = x(0)?.clone();
            let dims = v.dims();
            let chosen = axes(node, inputs, 1, dims.len())?;
            let kept: Vec<usize> = dims
                .iter()
                .enumerate()
                .filter(|(i, d)| {
                    if chosen.is_empty() {
                        **d != 1
                    } else {
                        !chosen.contains(i)
                    }
                })
                .map(|(_, d)| *d)
                .collect();
            v.reshape(&kept)?
        }
        "Expand" => {
            let v = x(0)?.clone();
            let target = x(1)?.ints()?.to_vec();
            let dims = v.dims();
            let rank = dims.len().max(target.len());
            let mut shape = vec![1usize; rank - dims.len()];
            shape.extend(&dims);
            let lifted = v.reshape(&shape)?;
            let mut out = shape.clone();
            for (i, t) in target.iter().enumerate() {
                let at = rank - target.len() + i;
                if *t != 1 && *t >= 0 {
                    out[at] = *t as usize;
                }
            }
            match lifted {
                Value::Ints(i, _) => {
                    let zero = Value::Ints(vec![0; out.iter().product()], out.clone());
                    int_zip(&Value::Ints(i, shape), &zero, node, |a, _| a)?
                }
                v => with_float_rank!(v, node, |t| t.expand(to_array(&out)?)),
            }
        }
        "Slice" => slice(node, inputs)?,
        // Gather on integers (shapes) is in ops.rs; on floats (picking q, k, v or the class
        // token) it is burn's `select`, which carries the gradient.
        "Gather" if !matches!(x(0)?, Value::Ints(..)) => {
            let data = x(0)?.clone();
            let dims = data.dims();
            let a = axis(
                node.attr("axis").and_then(|a| a.i).unwrap_or(0),
                dims.len(),
                node,
            )?;
            let index_value = x(1)?;
            let picked: Vec<i64> = index_value
                .ints()?
                .iter()
                .map(|i| if *i < 0 { i + dims[a] as i64 } else { *i })
                .collect();
            if picked.iter().any(|i| *i < 0 || *i >= dims[a] as i64) {
                return Err(unsupported(format!(
                    "Gather `{}`: indices {picked:?} out of range for axis {a} of {dims:?}",
                    node.name
                )));
            }
            let indices = Tensor::<1, Int>::from_data(
                TensorData::new(picked.clone(), [picked.len()]),
                device,
            );
            let selected = with_float_rank!(data, node, |t| t.select(a, indices.clone()));
            // The output's shape: data's with axis `a` replaced by the indices' shape.
            let mut out = dims[..a].to_vec();
            out.extend(index_value.dims());
            out.extend(&dims[a + 1..]);
            selected.reshape(&out)?
        }
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" => reduce(node, inputs)?,
        "Abs" => x(0)?.clone().map(|t| t.abs())?,
        "Exp" => x(0)?.clone().map(|t| t.exp())?,
        // Steps: no gradient flows through them (as in ONNX Runtime's training), only values.
        "Sign" | "Round" | "Floor" | "Ceil" => {
            let v = x(0)?;
            let numbers = host_floats(v)?;
            let stepped: Vec<f32> = numbers
                .iter()
                .map(|a| match node.op_type.as_str() {
                    "Sign" => {
                        if *a > 0.0 {
                            1.0
                        } else if *a < 0.0 {
                            -1.0
                        } else {
                            0.0
                        }
                    }
                    // ONNX rounds half to even.
                    "Round" => a.round_ties_even(),
                    "Floor" => a.floor(),
                    _ => a.ceil(),
                })
                .collect();
            Value::from_floats(&stepped, &v.dims(), device)?
        }
        "IsNaN" => {
            let v = x(0)?;
            Value::Ints(
                host_floats(v)?
                    .iter()
                    .map(|a| i64::from(a.is_nan()))
                    .collect(),
                v.dims(),
            )
        }
        "Mod" => {
            // Float Mod is fmod (ONNX requires fmod = 1 for floats): the dividend's sign.
            let (a, b) = (x(0)?, x(1)?);
            let (p, q) = (host_floats(a)?, host_floats(b)?);
            host_zip_f32(node, (a, &p), (b, &q), |m, n| m % n)?
        }
        "LayerNormalization" => {
            let v = x(0)?.clone();
            let dims = v.dims();
            let a = axis(
                node.attr("axis").and_then(|a| a.i).unwrap_or(-1),
                dims.len(),
                node,
            )?;
            if a != dims.len() - 1 {
                return Err(unsupported(format!(
                    "LayerNormalization `{}`: only the last axis is supported (axis {a} of {dims:?})",
                    node.name
                )));
            }
            let eps = node.attr("epsilon").and_then(|a| a.f).unwrap_or(1e-5);
            let width = dims[a];
            let rows: usize = dims[..a].iter().product();
            let t = v.reshape(&[rows, width])?.float2()?;
            let mean = t.clone().mean_dim(1);
            let centred = t - mean;
            let var = centred.clone().powf_scalar(2.0).mean_dim(1);
            let normed = centred / (var + eps).sqrt();
            let scale = x(1)?.clone().float1()?.reshape([1, width]);
            let mut out = normed * scale;
            if let Some(Some(b)) = inputs.get(2) {
                out = out + b.clone().float1()?.reshape([1, width]);
            }
            Value::F2(out).reshape(&dims)?
        }
        _ => return Ok(None),
    }))
}

fn to_array<const D: usize>(shape: &[usize]) -> Result<[usize; D]> {
    shape
        .try_into()
        .map_err(|_| unsupported(format!("shape {shape:?} is not of rank {D}")))
}

fn host_float_scalar(v: &Value, node: &NodeProto) -> Result<f32> {
    let values: Vec<f32> = match v {
        Value::Ints(i, _) => i.iter().map(|v| *v as f32).collect(),
        other => crate::tensor::to_vec(other.clone().float1()?),
    };
    match values.as_slice() {
        [one] => Ok(*one),
        _ => Err(unsupported(format!(
            "{} `{}`: the exponent must be one number, found {} values",
            node.op_type,
            node.name,
            values.len()
        ))),
    }
}

/// ONNX Slice (opset 10+): `starts`, `ends`, optional `axes` and `steps` as inputs; steps of
/// 1 on float data, any step on integer data.
fn slice(node: &NodeProto, inputs: &[Option<Value>]) -> Result<Value> {
    let v = input(inputs, 0, node)?.clone();
    let dims = v.dims();
    let starts = input(inputs, 1, node)?.ints()?.to_vec();
    let ends = input(inputs, 2, node)?.ints()?.to_vec();
    let chosen = match optional_ints(inputs, 3)? {
        Some(a) => a
            .iter()
            .map(|a| axis(*a, dims.len(), node))
            .collect::<Result<Vec<_>>>()?,
        None => (0..starts.len()).collect(),
    };
    let steps = optional_ints(inputs, 4)?.unwrap_or_else(|| vec![1; starts.len()]);
    // The coordinates each axis keeps, by ONNX's rules: negative starts and ends count from
    // the end, then clamp to [0, d] going forward or [-1, d-1] going backward (an exporter
    // reverses a list with start -1, end INT64_MIN, step -1).
    let mut picks: Vec<Vec<usize>> = dims.iter().map(|d| (0..*d).collect()).collect();
    let mut contiguous = true;
    for (k, &a) in chosen.iter().enumerate() {
        let d = dims[a] as i64;
        let step = steps.get(k).copied().unwrap_or(1);
        let wrap = |i: i64| if i < 0 { i.saturating_add(d) } else { i };
        let (s, e) = (wrap(starts[k]), wrap(ends[k]));
        picks[a] = if step > 0 {
            let (s, e) = (s.clamp(0, d), e.clamp(0, d));
            (s..e.max(s))
                .step_by(step as usize)
                .map(|i| i as usize)
                .collect()
        } else if step < 0 {
            let (s, e) = (s.clamp(-1, d - 1), e.clamp(-1, d - 1));
            let mut out = Vec::new();
            let mut i = s;
            while i > e {
                out.push(i as usize);
                i += step;
            }
            out
        } else {
            return Err(unsupported(format!(
                "Slice `{}`: step 0 on axis {a}",
                node.name
            )));
        };
        contiguous &= step == 1;
    }
    match v {
        Value::Ints(values, _) => {
            // Row-major gather of the selected coordinates.
            let out_dims: Vec<usize> = picks.iter().map(Vec::len).collect();
            let mut out = Vec::new();
            let total: usize = out_dims.iter().product();
            for flat in 0..total {
                let (mut rest, mut at, mut stride) = (flat, 0, 1);
                let mut coords = vec![0; dims.len()];
                for a in (0..dims.len()).rev() {
                    coords[a] = picks[a][rest % out_dims[a]];
                    rest /= out_dims[a];
                }
                for a in (0..dims.len()).rev() {
                    at += coords[a] * stride;
                    stride *= dims[a];
                }
                out.push(values[at]);
            }
            Ok(Value::Ints(out, out_dims))
        }
        v if !contiguous => {
            // Strided or reversed float slices select their coordinates axis by axis (an
            // index selection, which carries the gradient).
            let mut out = v;
            for (a, picked) in picks.iter().enumerate() {
                if picked.len() == dims[a] && picked.iter().enumerate().all(|(i, p)| i == *p) {
                    continue;
                }
                let index: Vec<i64> = picked.iter().map(|p| *p as i64).collect();
                out = with_float_rank!(out, node, |t| {
                    let indices = Tensor::<1, Int>::from_data(
                        TensorData::new(index.clone(), [index.len()]),
                        &t.device(),
                    );
                    t.select(a, indices)
                });
            }
            Ok(out)
        }
        v => {
            let r: Vec<std::ops::Range<usize>> = picks
                .iter()
                .map(|p| p.first().map_or(0..0, |s| *s..s + p.len()))
                .collect();
            Ok(match v {
                Value::F1(t) => Value::F1(t.slice([r[0].clone()])),
                Value::F2(t) => Value::F2(t.slice([r[0].clone(), r[1].clone()])),
                Value::F3(t) => Value::F3(t.slice([r[0].clone(), r[1].clone(), r[2].clone()])),
                Value::F4(t) => {
                    Value::F4(t.slice([r[0].clone(), r[1].clone(), r[2].clone(), r[3].clone()]))
                }
                Value::F5(t) => Value::F5(t.slice([
                    r[0].clone(),
                    r[1].clone(),
                    r[2].clone(),
                    r[3].clone(),
                    r[4].clone(),
                ])),
                Value::Ints(..) => unreachable!("handled above"),
            })
        }
    }
}

fn integer_branches(inputs: &[Option<Value>]) -> bool {
    matches!(
        (inputs.get(1), inputs.get(2)),
        (Some(Some(Value::Ints(..))), Some(Some(Value::Ints(..))))
    )
}

/// Where on float data: the condition broadcast with both branches, each position taken from
/// the branch it picks (so the gradient reaches only the picked branch, and an infinite value
/// in the other branch stays out of the sum).
fn float_where(
    node: &NodeProto,
    condition: &Value,
    a: &Value,
    b: &Value,
    device: &Device,
) -> Result<Value> {
    let as_float = |v: &Value| -> Result<Value> {
        match v {
            Value::Ints(i, shape) => {
                let f: Vec<f32> = i.iter().map(|v| *v as f32).collect();
                Value::from_floats(&f, shape, device)
            }
            other => Ok(other.clone()),
        }
    };
    let picks: Vec<f32> = host_ints(condition)?
        .iter()
        .map(|c| if *c != 0 { 1.0 } else { 0.0 })
        .collect();
    let condition = Value::from_floats(&picks, &condition.dims(), device)?;
    let mut shape: Vec<usize> = Vec::new();
    for dims in [condition.dims(), a.dims(), b.dims()] {
        shape = broadcast_dims(&shape, &dims).ok_or_else(|| {
            unsupported(format!(
                "Where `{}`: shapes {:?}, {:?} and {:?} do not broadcast",
                node.name,
                condition.dims(),
                a.dims(),
                b.dims()
            ))
        })?;
    }
    if shape.len() > 4 {
        return Err(unsupported(format!(
            "Where `{}`: rank {} is above the 4 supported",
            node.name,
            shape.len()
        )));
    }
    let mut full = vec![1; 4 - shape.len()];
    full.extend(&shape);
    let target = [full[0], full[1], full[2], full[3]];
    let spread = |v: Value| -> Result<Tensor<4>> { Ok(v.lift(4)?.float4()?.expand(target)) };
    let mask = spread(condition)?.greater_elem(0.5);
    let picked = spread(as_float(b)?)?.mask_where(mask, spread(as_float(a)?)?);
    Value::F4(picked).reshape(&shape)
}

/// Numpy broadcasting of two shapes (trailing axes aligned).
fn broadcast_dims(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |d: &[usize], i: usize| (i + d.len()).checked_sub(rank).map(|j| d[j]).unwrap_or(1);
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

/// ReduceMean, ReduceSum, ReduceMax and ReduceMin over the chosen axes (all when none are
/// given, unless `noop_with_empty_axes` says to pass the data through).
fn reduce(node: &NodeProto, inputs: &[Option<Value>]) -> Result<Value> {
    let v = input(inputs, 0, node)?.clone();
    let v = match v {
        Value::Ints(i, shape) => {
            let f: Vec<f32> = i.iter().map(|v| *v as f32).collect();
            Value::from_floats(&f, &shape, &crate::tensor::device())?
        }
        other => other,
    };
    let rank = v.rank();
    let mut chosen = axes(node, inputs, 1, rank)?;
    if chosen.is_empty() {
        if node.attr("noop_with_empty_axes").and_then(|a| a.i) == Some(1) {
            return Ok(v);
        }
        chosen = (0..rank).collect();
    }
    let keep = node.attr("keepdims").and_then(|a| a.i).unwrap_or(1) != 0;
    let dims = v.dims();
    let mut reduced = v;
    for a in &chosen {
        reduced = match node.op_type.as_str() {
            "ReduceMean" => with_float_rank!(reduced, node, |t| t.mean_dim(*a)),
            "ReduceSum" => with_float_rank!(reduced, node, |t| t.sum_dim(*a)),
            "ReduceMax" => with_float_rank!(reduced, node, |t| t.max_dim(*a)),
            _ => with_float_rank!(reduced, node, |t| t.min_dim(*a)),
        };
    }
    if keep {
        return Ok(reduced);
    }
    let kept: Vec<usize> = dims
        .iter()
        .enumerate()
        .filter(|(i, _)| !chosen.contains(i))
        .map(|(_, d)| *d)
        .collect();
    reduced.reshape(&kept)
}

fn host_floats(v: &Value) -> Result<Vec<f32>> {
    Ok(match v {
        Value::Ints(i, _) => i.iter().map(|v| *v as f32).collect(),
        other => crate::tensor::to_vec(other.clone().float1()?),
    })
}

/// `f` over two values' host numbers with broadcasting, as a float value.
fn host_zip_f32(
    node: &NodeProto,
    a: (&Value, &[f32]),
    b: (&Value, &[f32]),
    f: impl Fn(f32, f32) -> f32,
) -> Result<Value> {
    let shape = broadcast_dims(&a.0.dims(), &b.0.dims()).ok_or_else(|| {
        unsupported(format!(
            "{} `{}`: shapes {:?} and {:?} do not broadcast",
            node.op_type,
            node.name,
            a.0.dims(),
            b.0.dims()
        ))
    })?;
    let count: usize = shape.iter().product();
    let index = |dims: &[usize], flat: usize| -> usize {
        // The element of a broadcast operand at output position `flat`.
        let mut rest = flat;
        let mut at = 0;
        let mut stride = 1;
        for (axis, out_dim) in shape.iter().enumerate().rev() {
            let coord = rest % out_dim;
            rest /= out_dim;
            let k = axis as isize - (shape.len() as isize - dims.len() as isize);
            if k >= 0 {
                let d = dims[k as usize];
                at += (if d == 1 { 0 } else { coord }) * stride;
                stride *= d;
            }
        }
        at
    };
    let (da, db) = (a.0.dims(), b.0.dims());
    let out: Vec<f32> = (0..count)
        .map(|i| f(a.1[index(&da, i)], b.1[index(&db, i)]))
        .collect();
    Value::from_floats(&out, &shape, &crate::tensor::device())
}
