//! Operators that newer exporters write where the older ones did not: `torch.onnx.export`'s
//! torch.export-based path (the default since PyTorch 2.9) emits `Gelu` (opset 20) and
//! `Split` (ShuffleNet's channel split), and Keras/TensorFlow exports pad explicitly with
//! `Pad`. Float paths are burn operations (slices, concatenations, index selections), so
//! gradients flow through them.

use burn::prelude::*;

use super::more_ops::{optional_ints, with_float_rank};
use super::ops::{axis, input};
use super::proto::NodeProto;
use super::value::{unsupported, Value};
use crate::error::Result;

/// `Some(outputs)` when this module evaluates `node`.
pub fn eval(
    node: &NodeProto,
    inputs: &[Option<Value>],
    device: &Device,
) -> Result<Option<Vec<Value>>> {
    let out = match node.op_type.as_str() {
        "Gelu" => vec![gelu(node, input(inputs, 0, node)?.clone())?],
        "Split" => split(node, inputs)?,
        "Pad" => vec![pad(node, inputs, device)?],
        _ => return Ok(None),
    };
    Ok(Some(out))
}

fn gelu(node: &NodeProto, x: Value) -> Result<Value> {
    let approximate = node
        .attr("approximate")
        .and_then(|a| a.s.clone())
        .unwrap_or_else(|| "none".into());
    match approximate.as_str() {
        // 0.5·x·(1 + erf(x/√2))
        "none" => x.map(|t| {
            let cdf = t
                .clone()
                .div_scalar(std::f32::consts::SQRT_2)
                .erf()
                .add_scalar(1.0);
            t.mul(cdf).mul_scalar(0.5)
        }),
        // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        "tanh" => x.map(|t| {
            let inner = t
                .clone()
                .add(t.clone().powi_scalar(3).mul_scalar(0.044715))
                .mul_scalar((2.0 / std::f32::consts::PI).sqrt());
            t.mul(inner.tanh().add_scalar(1.0)).mul_scalar(0.5)
        }),
        other => Err(unsupported(format!(
            "Gelu `{}`: approximate `{other}` (expected none or tanh)",
            node.name
        ))),
    }
}

/// The part lengths: the `split` input (opset 13+) or attribute, else equal parts, one per
/// output (`num_outputs` in opset 18, the last part smaller when the axis does not divide).
fn split_lengths(node: &NodeProto, inputs: &[Option<Value>], extent: usize) -> Result<Vec<usize>> {
    let given = match optional_ints(inputs, 1)? {
        Some(v) => Some(v),
        None => node
            .attr("split")
            .map(|a| a.ints.clone())
            .filter(|v| !v.is_empty()),
    };
    let lengths: Vec<usize> = match given {
        Some(v) => v
            .iter()
            .map(|l| usize::try_from(*l))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                unsupported(format!(
                    "Split `{}`: negative part length in {v:?}",
                    node.name
                ))
            })?,
        None => {
            let parts = node
                .attr("num_outputs")
                .and_then(|a| a.i)
                .map_or(node.outputs.len(), |n| n.max(1) as usize);
            let each = extent.div_ceil(parts.max(1));
            (0..parts)
                .map(|i| each.min(extent.saturating_sub(i * each)))
                .collect()
        }
    };
    if lengths.iter().sum::<usize>() != extent {
        return Err(unsupported(format!(
            "Split `{}`: parts {lengths:?} do not add up to the axis length {extent}",
            node.name
        )));
    }
    Ok(lengths)
}

fn split(node: &NodeProto, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = input(inputs, 0, node)?.clone();
    let dims = v.dims();
    let a = axis(
        node.attr("axis").and_then(|a| a.i).unwrap_or(0),
        dims.len(),
        node,
    )?;
    let lengths = split_lengths(node, inputs, dims[a])?;
    let mut start = 0;
    let mut parts = Vec::with_capacity(lengths.len());
    for len in lengths {
        let part = match &v {
            Value::Ints(values, shape) => {
                if shape.len() != 1 {
                    return Err(unsupported(format!(
                        "Split `{}`: integer data of rank {} (only 1-D shapes are split)",
                        node.name,
                        shape.len()
                    )));
                }
                Value::Ints(values[start..start + len].to_vec(), vec![len])
            }
            float => with_float_rank!(float.clone(), node, |t| t.narrow(a, start, len)),
        };
        parts.push(part);
        start += len;
    }
    Ok(parts)
}

/// Source index along one axis for output position `i` of a padded axis (`None`: the constant).
fn padded_source(i: i64, before: i64, extent: i64, mode: &str) -> Option<i64> {
    let j = i - before;
    if (0..extent).contains(&j) {
        return Some(j);
    }
    match mode {
        "edge" => Some(j.clamp(0, extent - 1)),
        "reflect" if extent > 1 => {
            let period = 2 * (extent - 1);
            let m = j.rem_euclid(period);
            Some(if m < extent { m } else { period - m })
        }
        "reflect" => Some(0),
        _ => None,
    }
}

fn pad(node: &NodeProto, inputs: &[Option<Value>], device: &Device) -> Result<Value> {
    let v = input(inputs, 0, node)?.clone();
    if matches!(v, Value::Ints(..)) {
        return Err(unsupported(format!("Pad `{}`: integer data", node.name)));
    }
    let dims = v.dims();
    let rank = dims.len();
    let pads = match optional_ints(inputs, 1)? {
        Some(p) => p,
        None => node
            .attr("pads")
            .map(|a| a.ints.clone())
            .unwrap_or_default(),
    };
    let constant = match inputs.get(2).and_then(|c| c.as_ref()) {
        Some(Value::Ints(i, _)) => i.first().copied().unwrap_or(0) as f32,
        Some(c) => crate::tensor::to_vec(c.clone().reshape(&[1])?.float1()?)
            .first()
            .copied()
            .unwrap_or(0.0),
        None => node.attr("value").and_then(|a| a.f).unwrap_or(0.0),
    };
    let chosen: Vec<usize> = match optional_ints(inputs, 3)? {
        Some(a) => a
            .iter()
            .map(|a| axis(*a, rank, node))
            .collect::<Result<_>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * chosen.len() {
        return Err(unsupported(format!(
            "Pad `{}`: {} pads for {} axes (expected begins then ends)",
            node.name,
            pads.len(),
            chosen.len()
        )));
    }
    let mode = node
        .attr("mode")
        .and_then(|a| a.s.clone())
        .unwrap_or_else(|| "constant".into());
    if !matches!(mode.as_str(), "constant" | "reflect" | "edge") {
        return Err(unsupported(format!("Pad `{}`: mode `{mode}`", node.name)));
    }
    let mut out = v;
    for (k, &a) in chosen.iter().enumerate() {
        let (before, after) = (pads[k], pads[k + chosen.len()]);
        if before == 0 && after == 0 {
            continue;
        }
        let extent = out.dims()[a] as i64;
        let new_extent = extent + before + after;
        if new_extent < 0 || (mode != "constant" && extent == 0) {
            return Err(unsupported(format!(
                "Pad `{}`: pads {before},{after} on an axis of {extent}",
                node.name
            )));
        }
        // Positions that read the input, by index selection (a gather, so the gradient
        // flows back); constant positions read index 0 and are overwritten by a mask.
        let sources: Vec<Option<i64>> = (0..new_extent)
            .map(|i| padded_source(i, before, extent, &mode))
            .collect();
        let index: Vec<i64> = sources.iter().map(|s| s.unwrap_or(0)).collect();
        let indices =
            Tensor::<1, Int>::from_data(TensorData::new(index, [new_extent as usize]), device);
        let mut selected = with_float_rank!(out, node, |t| t.select(a, indices.clone()));
        if sources.iter().any(Option::is_none) {
            let mut shape = vec![1; rank];
            shape[a] = new_extent as usize;
            let keep: Vec<f32> = sources
                .iter()
                .map(|s| if s.is_some() { 1.0 } else { 0.0 })
                .collect();
            let fill: Vec<f32> = sources
                .iter()
                .map(|s| if s.is_some() { 0.0 } else { constant })
                .collect();
            let keep = Value::from_floats(&keep, &shape, device)?;
            let fill = Value::from_floats(&fill, &shape, device)?;
            selected = selected.zip(keep, |t, k| t * k)?.zip(fill, |t, f| t + f)?;
        }
        out = selected;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::padded_source;

    #[test]
    fn padded_positions_read_the_right_source() {
        // Extent 3, two before, two after.
        let read = |mode| {
            (0..7)
                .map(|i| padded_source(i, 2, 3, mode))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            read("constant"),
            [None, None, Some(0), Some(1), Some(2), None, None]
        );
        assert_eq!(
            read("edge"),
            [
                Some(0),
                Some(0),
                Some(0),
                Some(1),
                Some(2),
                Some(2),
                Some(2)
            ]
        );
        // numpy's "reflect": 2 1 | 0 1 2 | 1 0
        assert_eq!(
            read("reflect")
                .into_iter()
                .map(Option::unwrap)
                .collect::<Vec<_>>(),
            [2, 1, 0, 1, 2, 1, 0]
        );
    }
}
