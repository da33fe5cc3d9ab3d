//! ONNX operators on burn tensors. Every operator here is differentiable through burn's
//! autodiff, which is what makes an ONNX file a white-box target.

use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};

use super::proto::{NodeProto, DOUBLE, FLOAT};
use super::value::{unsupported, Value};
use crate::error::{MlError, Result};

/// The operators aisec evaluates.
pub const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Ceil",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Div",
    "Dropout",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Floor",
    "Flatten",
    "GRU",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "Greater",
    "GreaterOrEqual",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "If",
    "IsNaN",
    "LSTM",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "LogSoftmax",
    "Loop",
    "MatMul",
    "Max",
    "MaxPool",
    "Min",
    "Mod",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "Pad",
    "Pow",
    "Reciprocal",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Round",
    "Resize",
    "ReverseSequence",
    "Shape",
    "Sigmoid",
    "Sign",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Tile",
    "Transpose",
    "Unsqueeze",
    "Where",
];

fn ints_attr(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    node.attr(name).map(|a| a.ints.clone())
}

fn int_attr(node: &NodeProto, name: &str, default: i64) -> i64 {
    node.attr(name).and_then(|a| a.i).unwrap_or(default)
}

fn float_attr(node: &NodeProto, name: &str, default: f32) -> f32 {
    node.attr(name).and_then(|a| a.f).unwrap_or(default)
}

fn positive(values: &[i64], what: &str, node: &NodeProto) -> Result<Vec<usize>> {
    values
        .iter()
        .map(|v| {
            usize::try_from(*v).ok().filter(|v| *v > 0).ok_or_else(|| {
                unsupported(format!(
                    "{} `{}`: {what} must be positive, found {values:?}",
                    node.op_type, node.name
                ))
            })
        })
        .collect()
}

fn pair(values: &[usize], what: &str, node: &NodeProto) -> Result<[usize; 2]> {
    match values {
        [a, b] => Ok([*a, *b]),
        _ => Err(unsupported(format!(
            "{} `{}`: only 2-D spatial operators are supported ({what} {values:?})",
            node.op_type, node.name
        ))),
    }
}

/// ONNX pads `[h_begin, w_begin, h_end, w_end]` as burn's per-axis (begin, end).
fn pads(node: &NodeProto) -> Result<[(usize, usize); 2]> {
    if let Some(mode) = node.attr("auto_pad").and_then(|a| a.s.as_deref()) {
        if mode != "NOTSET" && mode != "VALID" {
            return Err(unsupported(format!(
                "{} `{}`: auto_pad {mode} is not supported; export with explicit pads",
                node.op_type, node.name
            )));
        }
    }
    let p = ints_attr(node, "pads").unwrap_or_else(|| vec![0; 4]);
    let p: Vec<usize> = p
        .iter()
        .map(|v| {
            usize::try_from(*v).map_err(|_| {
                unsupported(format!(
                    "{} `{}`: negative pads {p:?}",
                    node.op_type, node.name
                ))
            })
        })
        .collect::<Result<_>>()?;
    match p.as_slice() {
        [hb, wb, he, we] => Ok([(*hb, *he), (*wb, *we)]),
        _ => Err(unsupported(format!(
            "{} `{}`: pads {p:?} are not 2-D",
            node.op_type, node.name
        ))),
    }
}

pub(super) fn axis(axis: i64, rank: usize, node: &NodeProto) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a)
        .ok()
        .filter(|a| *a < rank.max(1))
        .ok_or_else(|| {
            unsupported(format!(
                "{} `{}`: axis {axis} is out of range for rank {rank}",
                node.op_type, node.name
            ))
        })
}

pub(super) fn input<'a>(
    inputs: &'a [Option<Value>],
    i: usize,
    node: &NodeProto,
) -> Result<&'a Value> {
    inputs.get(i).and_then(|v| v.as_ref()).ok_or_else(|| {
        unsupported(format!(
            "{} `{}` is missing input {i}",
            node.op_type, node.name
        ))
    })
}

/// A positive 2-D attribute (`strides`, `dilations`, `kernel_shape`), `default` per axis when
/// the attribute is absent.
fn spatial(node: &NodeProto, name: &str, default: Option<i64>) -> Result<[usize; 2]> {
    let values = ints_attr(node, name)
        .or_else(|| default.map(|d| vec![d, d]))
        .unwrap_or_default();
    pair(&positive(&values, name, node)?, name, node)
}

/// Kernel, strides and pads of a 2-D pooling node.
struct PoolGeometry {
    kernel: [usize; 2],
    strides: [usize; 2],
    padding: [(usize, usize); 2],
}

fn pool_geometry(node: &NodeProto) -> Result<PoolGeometry> {
    let kernel = spatial(node, "kernel_shape", None)?;
    let strides = spatial(node, "strides", Some(1))?;
    Ok(PoolGeometry {
        kernel,
        strides,
        padding: pads(node)?,
    })
}

/// Evaluates one node on its inputs (absent optional inputs are `None`).
pub fn eval(node: &NodeProto, inputs: &[Option<Value>], device: &Device) -> Result<Vec<Value>> {
    if let Some(out) = super::more_ops::eval(node, inputs, device)? {
        return Ok(vec![out]);
    }
    if let Some(outs) = super::exporter_ops::eval(node, inputs, device)? {
        return Ok(outs);
    }
    if let Some(out) = super::keras_ops::eval(node, inputs)? {
        return Ok(vec![out]);
    }
    if let Some(outs) = super::recurrent::eval(node, inputs, device)? {
        return Ok(outs);
    }
    let x = |i: usize| input(inputs, i, node).cloned();
    let out = match node.op_type.as_str() {
        "Identity" | "Dropout" => x(0)?,
        "Relu" => x(0)?.map(activation::relu)?,
        "LeakyRelu" => {
            let alpha = float_attr(node, "alpha", 0.01);
            x(0)?.map(|t| activation::leaky_relu(t, f64::from(alpha)))?
        }
        // x for x > 0, α(eˣ − 1) otherwise; written with clamps so that both sides stay
        // differentiable burn operations.
        "Elu" => {
            let alpha = float_attr(node, "alpha", 1.0);
            x(0)?.map(|t| {
                let negative = t.clone().clamp_max(0.0).exp().sub_scalar(1.0);
                t.clamp_min(0.0) + negative.mul_scalar(alpha)
            })?
        }
        "Sigmoid" => x(0)?.map(activation::sigmoid)?,
        "Tanh" => x(0)?.map(|t| t.tanh())?,
        "HardSigmoid" => {
            let alpha = float_attr(node, "alpha", 0.2);
            let beta = float_attr(node, "beta", 0.5);
            x(0)?.map(|t| t.mul_scalar(alpha).add_scalar(beta).clamp(0.0, 1.0))?
        }
        // x · HardSigmoid(x) with α = 1/6, β = 1/2 (ONNX's definition, torch's hardswish).
        "HardSwish" => x(0)?.map(|t| {
            let gate = t.clone().div_scalar(6.0).add_scalar(0.5).clamp(0.0, 1.0);
            t * gate
        })?,
        "Clip" => {
            // Opset 11+ gives the bounds as optional inputs, earlier opsets as attributes.
            let bound = |i: usize, attr: &str| -> Result<Option<f32>> {
                match inputs.get(i).and_then(|v| v.clone()) {
                    Some(v) => Ok(Some(scalar(v, node)?)),
                    None => Ok(node.attr(attr).and_then(|a| a.f)),
                }
            };
            let (lo, hi) = (bound(1, "min")?, bound(2, "max")?);
            x(0)?.map(|t| match (lo, hi) {
                (Some(lo), Some(hi)) => t.clamp(lo, hi),
                (Some(lo), None) => t.clamp_min(lo),
                (None, Some(hi)) => t.clamp_max(hi),
                (None, None) => t,
            })?
        }
        "Add" => x(0)?.zip(x(1)?, |a, b| a + b)?,
        "Sub" => x(0)?.zip(x(1)?, |a, b| a - b)?,
        "Mul" => x(0)?.zip(x(1)?, |a, b| a * b)?,
        "Div" => x(0)?.zip(x(1)?, |a, b| a / b)?,
        "Softmax" | "LogSoftmax" => {
            let v = x(0)?;
            let dims = v.dims();
            let a = axis(int_attr(node, "axis", -1), dims.len(), node)?;
            let shift = 4 - dims.len();
            if node.op_type == "Softmax" {
                v.map(|t| activation::softmax(t, a + shift))?
            } else {
                v.map(|t| activation::log_softmax(t, a + shift))?
            }
        }
        "Conv" => {
            let input = x(0)?.float4()?;
            let weight = x(1)?.float4()?;
            let bias = match inputs.get(2).and_then(|v| v.clone()) {
                Some(b) => Some(b.float1()?),
                None => None,
            };
            let strides = spatial(node, "strides", Some(1))?;
            let dilations = spatial(node, "dilations", Some(1))?;
            let groups = positive(&[int_attr(node, "group", 1)], "group", node)?[0];
            let padding = pads(node)?;
            let [_, c, h, w] = input.dims();
            let [c_out, c_in, kh, kw] = weight.dims();
            if let Some(kernel) = ints_attr(node, "kernel_shape") {
                if kernel != [kh as i64, kw as i64] {
                    return Err(MlError::Invalid(format!(
                        "kernel_shape {kernel:?} does not match the weights' {kh}×{kw} kernel"
                    )));
                }
            }
            // burn checks these by panicking; a malformed file gets an error naming the node.
            if c_in * groups != c || c_out % groups != 0 {
                return Err(MlError::Invalid(format!(
                    "weights [{c_out}, {c_in}, {kh}, {kw}] in {groups} group(s) do not fit an input of {c} channels"
                )));
            }
            if let Some(b) = &bias {
                if b.dims()[0] != c_out {
                    return Err(MlError::Invalid(format!(
                        "a bias of {} values for {c_out} output channels",
                        b.dims()[0]
                    )));
                }
            }
            let axis = |d: usize, input: usize, kernel: usize| {
                let a = super::batched_conv::Axis {
                    kernel,
                    stride: strides[d],
                    dilation: dilations[d],
                    pad_before: padding[d].0,
                    pad_after: padding[d].1,
                };
                (a, a.output_len(input))
            };
            let ((rows, ho), (cols, wo)) = (axis(0, h, kh), axis(1, w, kw));
            // The host's product where it is faster, for queries and (recorded with its own
            // backward pass) for gradients through constant weights; otherwise burn's
            // operations, batched over the images for small planes.
            let flex = crate::tensor::compute() == crate::tensor::Compute::Flex;
            let host = kh > 0 && kw > 0 && groups == 1 && flex;
            let recorded = (host && device.is_autodiff())
                .then(|| {
                    super::host_conv_grad::conv2d(
                        Some(node as *const NodeProto as usize),
                        &input,
                        &weight,
                        bias.as_ref(),
                        rows,
                        cols,
                    )
                })
                .flatten();
            if let Some(out) = recorded {
                Value::F4(out)
            } else if host
                && !device.is_autodiff()
                && super::host_conv::prefer(c_in, kh, kw, ho * wo)
            {
                Value::F4(super::host_conv::conv2d_of(
                    node, input, weight, bias, rows, cols,
                ))
            } else if kh > 0 && kw > 0 && super::batched_conv::prefer(h * w, ho * wo, groups) {
                Value::F4(super::batched_conv::conv2d(input, weight, bias, rows, cols))
            } else {
                Value::F4(conv2d(
                    input,
                    weight,
                    bias,
                    ConvOptions::new_with_padding(strides, padding, dilations, groups),
                ))
            }
        }
        "MaxPool" => {
            let PoolGeometry {
                kernel,
                strides,
                padding,
            } = pool_geometry(node)?;
            let dilations = spatial(node, "dilations", Some(1))?;
            let ceil_mode = int_attr(node, "ceil_mode", 0) != 0;
            let input = x(0)?.float4()?;
            let axis = |i: usize| super::host_pool::Axis {
                kernel: kernel[i],
                stride: strides[i],
                pad_before: padding[i].0,
                pad_after: padding[i].1,
                dilation: dilations[i],
            };
            let flex = crate::tensor::compute() == crate::tensor::Compute::Flex;
            let recorded = (flex && device.is_autodiff())
                .then(|| {
                    super::host_pool::max_pool2d_recorded(
                        input.clone(),
                        axis(0),
                        axis(1),
                        ceil_mode,
                    )
                })
                .flatten();
            if let Some(pooled) = recorded {
                Value::F4(pooled)
            } else if device.is_autodiff() || !flex {
                let mut options = MaxPoolOptions::new(kernel).with_stride(strides);
                options.padding = padding;
                options.dilation = dilations;
                options.ceil_mode = ceil_mode;
                Value::F4(max_pool2d(input, options))
            } else {
                Value::F4(super::host_pool::max_pool2d(
                    input,
                    axis(0),
                    axis(1),
                    ceil_mode,
                ))
            }
        }
        "AveragePool" => {
            let PoolGeometry {
                kernel,
                strides,
                padding,
            } = pool_geometry(node)?;
            let mut options = AvgPoolOptions::new(kernel);
            options.stride = strides;
            options.padding = padding;
            options.count_include_pad = int_attr(node, "count_include_pad", 0) != 0;
            options.ceil_mode = int_attr(node, "ceil_mode", 0) != 0;
            Value::F4(avg_pool2d(x(0)?.float4()?, options))
        }
        // Mean over every spatial axis, kept as size 1: [N, C, H, W] or, as tf2onnx writes
        // a mean over the last axis, [N, C, L].
        "GlobalAveragePool" => {
            let v = x(0)?;
            let rank = v.rank();
            if rank < 3 {
                return Err(unsupported(format!(
                    "GlobalAveragePool `{}`: input of shape {:?} has no spatial axes",
                    node.name,
                    v.dims()
                )));
            }
            let mut pooled = v;
            for a in 2..rank {
                pooled = super::more_ops::with_float_rank!(pooled, node, |t| t.mean_dim(a));
            }
            pooled
        }
        "BatchNormalization" => {
            let t = x(0)?.float4()?;
            let c = t.dims()[1];
            let per_channel =
                |v: Value| -> Result<Tensor<4>> { Ok(v.float1()?.reshape([1, c, 1, 1])) };
            let (scale, bias, mean, var) = (
                per_channel(x(1)?)?,
                per_channel(x(2)?)?,
                per_channel(x(3)?)?,
                per_channel(x(4)?)?,
            );
            let eps = float_attr(node, "epsilon", 1e-5);
            Value::F4((t - mean) / (var + eps).sqrt() * scale + bias)
        }
        "Gemm" => {
            let mut a = x(0)?.float2()?;
            let mut b = x(1)?.float2()?;
            if int_attr(node, "transA", 0) != 0 {
                a = a.transpose();
            }
            if int_attr(node, "transB", 0) != 0 {
                b = b.transpose();
            }
            let product = Value::F2(a.matmul(b).mul_scalar(float_attr(node, "alpha", 1.0)));
            match inputs.get(2).and_then(|v| v.clone()) {
                Some(c) => {
                    let beta = float_attr(node, "beta", 1.0);
                    product.zip(c, move |p, c| p + c.mul_scalar(beta))?
                }
                None => product,
            }
        }
        "MatMul" => {
            let (a, b) = (x(0)?, x(1)?);
            match (a, b) {
                (Value::F2(a), Value::F2(b)) => Value::F2(a.matmul(b)),
                (Value::F3(a), Value::F3(b)) => Value::F3(a.matmul(b)),
                (Value::F4(a), Value::F4(b)) => Value::F4(a.matmul(b)),
                (Value::F4(a), Value::F2(b)) => {
                    let [n, h, k, m] = [a.dims()[0], a.dims()[1], b.dims()[0], b.dims()[1]];
                    Value::F4(a.matmul(b.reshape([1, 1, k, m]).expand([n, h, k, m])))
                }
                (Value::F3(a), Value::F2(b)) => {
                    let [n, k, m] = [a.dims()[0], b.dims()[0], b.dims()[1]];
                    Value::F3(a.matmul(b.reshape([1, k, m]).expand([n, k, m])))
                }
                (a, b) => {
                    return Err(unsupported(format!(
                        "MatMul `{}`: shapes {:?} × {:?} are not supported",
                        node.name,
                        a.dims(),
                        b.dims()
                    )))
                }
            }
        }
        "Flatten" => {
            let v = x(0)?;
            let dims = v.dims();
            let a = axis(int_attr(node, "axis", 1), dims.len() + 1, node)?;
            let outer: usize = dims[..a].iter().product();
            let inner: usize = dims[a..].iter().product();
            v.reshape(&[outer, inner])?
        }
        "Reshape" => {
            let v = x(0)?;
            let target = x(1)?;
            let target = target.ints()?;
            let dims = v.dims();
            let allow_zero = int_attr(node, "allowzero", 0) != 0;
            let mut shape: Vec<i64> = target
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    if *d == 0 && !allow_zero {
                        dims.get(i).map_or(0, |v| *v as i64)
                    } else {
                        *d
                    }
                })
                .collect();
            let total: usize = dims.iter().product();
            if let Some(free) = shape.iter().position(|d| *d == -1) {
                let known: i64 = shape.iter().filter(|d| **d != -1).product();
                if known <= 0 || total as i64 % known != 0 {
                    return Err(unsupported(format!(
                        "Reshape `{}`: cannot reshape {dims:?} to {target:?}",
                        node.name
                    )));
                }
                shape[free] = total as i64 / known;
            }
            let shape: Vec<usize> = shape
                .iter()
                .map(|d| {
                    usize::try_from(*d).map_err(|_| {
                        unsupported(format!("Reshape `{}`: bad target {target:?}", node.name))
                    })
                })
                .collect::<Result<_>>()?;
            v.reshape(&shape)?
        }
        "Transpose" => {
            let v = x(0)?;
            let rank = v.rank();
            let perm: Vec<usize> = match ints_attr(node, "perm") {
                Some(p) => p
                    .iter()
                    .map(|a| axis(*a, rank, node))
                    .collect::<Result<_>>()?,
                None => (0..rank).rev().collect(),
            };
            match (v, perm.as_slice()) {
                (Value::F2(t), [a, b]) => Value::F2(t.permute([*a, *b])),
                (Value::F3(t), [a, b, c]) => Value::F3(t.permute([*a, *b, *c])),
                (Value::F4(t), [a, b, c, d]) => Value::F4(t.permute([*a, *b, *c, *d])),
                (Value::F5(t), [a, b, c, d, e]) => Value::F5(t.permute([*a, *b, *c, *d, *e])),
                (Value::F1(t), _) => Value::F1(t),
                // Shape arithmetic (the legacy exporter's Pad reorders its pads this way).
                (Value::Ints(values, dims), p) if p.len() == dims.len() => {
                    let out_dims: Vec<usize> = p.iter().map(|a| dims[*a]).collect();
                    let mut strides = vec![1; dims.len()];
                    for a in (0..dims.len().saturating_sub(1)).rev() {
                        strides[a] = strides[a + 1] * dims[a + 1];
                    }
                    let total: usize = out_dims.iter().product();
                    let mut out = Vec::with_capacity(total);
                    for flat in 0..total {
                        let (mut rest, mut at) = (flat, 0);
                        for (k, a) in p.iter().enumerate().rev() {
                            at += (rest % out_dims[k]) * strides[*a];
                            rest /= out_dims[k];
                        }
                        out.push(values[at]);
                    }
                    Value::Ints(out, out_dims)
                }
                (v, p) => {
                    return Err(unsupported(format!(
                        "Transpose `{}`: permutation {p:?} does not fit shape {:?}",
                        node.name,
                        v.dims()
                    )))
                }
            }
        }
        "Concat" => {
            let values: Vec<Value> = inputs.iter().flatten().cloned().collect();
            let first = values
                .first()
                .ok_or_else(|| unsupported(format!("Concat `{}` has no inputs", node.name)))?;
            let a = axis(int_attr(node, "axis", 0), first.rank(), node)?;
            if let Value::Ints(..) = first {
                let mut all = Vec::new();
                for v in &values {
                    all.extend_from_slice(v.ints()?);
                }
                let n = all.len();
                Value::Ints(all, vec![n])
            } else {
                match first.rank() {
                    1 => Value::F1(Tensor::cat(
                        values
                            .into_iter()
                            .map(Value::float1)
                            .collect::<Result<_>>()?,
                        a,
                    )),
                    2 => Value::F2(Tensor::cat(
                        values
                            .into_iter()
                            .map(Value::float2)
                            .collect::<Result<_>>()?,
                        a,
                    )),
                    3 => Value::F3(Tensor::cat(
                        values
                            .into_iter()
                            .map(Value::float3)
                            .collect::<Result<_>>()?,
                        a,
                    )),
                    4 => Value::F4(Tensor::cat(
                        values
                            .into_iter()
                            .map(Value::float4)
                            .collect::<Result<_>>()?,
                        a,
                    )),
                    r => {
                        return Err(unsupported(format!(
                            "Concat `{}`: rank {r} is not supported",
                            node.name
                        )))
                    }
                }
            }
        }
        "Shape" => {
            let dims: Vec<i64> = x(0)?.dims().iter().map(|d| *d as i64).collect();
            // Opset 15's `start`/`end` take part of the shape (negative: from the end,
            // clamped), as the torch.export-based exporter writes for `x.shape[0]`.
            let rank = dims.len() as i64;
            let bound = |name: &str, default: i64| {
                let v = int_attr(node, name, default);
                (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize
            };
            let (start, end) = (bound("start", 0), bound("end", rank));
            let part = dims[start..end.max(start)].to_vec();
            let n = part.len();
            Value::Ints(part, vec![n])
        }
        "Gather" => {
            let data = x(0)?;
            let indices = x(1)?;
            let values = data.ints()?;
            let picked: Vec<i64> = indices
                .ints()?
                .iter()
                .map(|i| {
                    let j = if *i < 0 { *i + values.len() as i64 } else { *i };
                    values.get(j as usize).copied().ok_or_else(|| {
                        unsupported(format!("Gather `{}`: index {i} out of range", node.name))
                    })
                })
                .collect::<Result<_>>()?;
            let shape = indices.dims();
            Value::Ints(picked, shape)
        }
        "Unsqueeze" => {
            let v = x(0)?;
            let axes: Vec<i64> = match inputs.get(1).and_then(|a| a.as_ref()) {
                Some(a) => a.ints()?.to_vec(),
                None => ints_attr(node, "axes").unwrap_or_default(),
            };
            let mut dims = v.dims();
            let out_rank = dims.len() + axes.len();
            let mut sorted: Vec<usize> = axes
                .iter()
                .map(|a| axis(*a, out_rank, node))
                .collect::<Result<_>>()?;
            sorted.sort();
            for a in sorted {
                dims.insert(a, 1);
            }
            v.reshape(&dims)?
        }
        "Constant" => constant(node, device)?,
        other => {
            return Err(unsupported(format!(
                "operator {other} (node `{}`) is not supported; aisec evaluates {}",
                node.name,
                SUPPORTED.join(", ")
            )))
        }
    };
    Ok(vec![out])
}

/// The one number of a scalar input (Clip's bounds).
fn scalar(v: Value, node: &NodeProto) -> Result<f32> {
    let dims = v.dims();
    if dims.iter().product::<usize>() != 1 {
        return Err(unsupported(format!(
            "{} `{}`: expected a scalar, found shape {dims:?}",
            node.op_type, node.name
        )));
    }
    match v {
        Value::Ints(i, _) => Ok(i[0] as f32),
        other => Ok(crate::tensor::to_vec(other.float1()?)[0]),
    }
}

fn constant(node: &NodeProto, device: &Device) -> Result<Value> {
    if let Some(t) = node.attr("value").and_then(|a| a.t.as_ref()) {
        return super::tensor_value(t, device);
    }
    if let Some(f) = node.attr("value_float").and_then(|a| a.f) {
        return Value::from_floats(&[f], &[1], device);
    }
    if let Some(fs) = node.attr("value_floats") {
        return Value::from_floats(&fs.floats, &[fs.floats.len()], device);
    }
    if let Some(i) = node.attr("value_int").and_then(|a| a.i) {
        return Ok(Value::Ints(vec![i], vec![1]));
    }
    if let Some(is) = node.attr("value_ints") {
        return Ok(Value::Ints(is.ints.clone(), vec![is.ints.len()]));
    }
    let _ = (FLOAT, DOUBLE);
    Err(unsupported(format!(
        "Constant `{}` has no value aisec can read",
        node.name
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::AttributeProto;

    #[test]
    fn a_conv_whose_kernel_shape_differs_from_its_weights_is_refused() {
        let device = crate::tensor::device();
        let conv = |kernel: Vec<i64>| NodeProto {
            op_type: "Conv".into(),
            inputs: vec!["x".into(), "w".into()],
            outputs: vec!["y".into()],
            attributes: vec![AttributeProto {
                name: "kernel_shape".into(),
                ints: kernel,
                ..AttributeProto::default()
            }],
            ..NodeProto::default()
        };
        let inputs = vec![
            Some(Value::F4(Tensor::zeros([1, 2, 6, 6], &device))),
            Some(Value::F4(Tensor::zeros([4, 2, 3, 3], &device))),
        ];
        let err = eval(&conv(vec![5, 5]), &inputs, &device).unwrap_err();
        assert!(err.to_string().contains("kernel_shape [5, 5]"), "{err}");
        let out = eval(&conv(vec![3, 3]), &inputs, &device).unwrap();
        assert_eq!(out[0].dims(), vec![1, 4, 4, 4]);
    }
}
