//! Operators that Keras models bring through their two export paths: tf2onnx (TensorFlow
//! backend) computes shapes with `ReduceProd` and `Max`, writes LayerNormalization as
//! `Neg`/`Reciprocal` arithmetic and UpSampling2D's nearest mode as a rank-5 `Tile`; both paths
//! write `Resize` (see `resize.rs`). Float paths are burn operations, so gradients flow through
//! them; integer (shape) paths run on the host.

use burn::prelude::*;

use super::more_ops::{axes, host_ints, host_zip, int_zip, with_float_rank};
use super::ops::input;
use super::proto::NodeProto;
use super::value::{unsupported, Value};
use crate::error::Result;

/// `Some(output)` when this module evaluates `node`.
pub fn eval(node: &NodeProto, inputs: &[Option<Value>]) -> Result<Option<Value>> {
    let x = |i: usize| input(inputs, i, node);
    Ok(Some(match node.op_type.as_str() {
        "Neg" => match x(0)? {
            Value::Ints(v, s) => Value::Ints(v.iter().map(|a| -a).collect(), s.clone()),
            v => v.clone().map(|t| t.neg())?,
        },
        "Reciprocal" => x(0)?.clone().map(|t| t.recip())?,
        "Max" | "Min" => extremum(node, inputs)?,
        "ReduceProd" => reduce_prod(node, inputs)?,
        "Tile" => tile(node, inputs)?,
        "Resize" => super::resize::resize(node, inputs)?,
        "Less" => compare(node, x(0)?, x(1)?, |a, b| a < b)?,
        "LessOrEqual" => compare(node, x(0)?, x(1)?, |a, b| a <= b)?,
        "Greater" => compare(node, x(0)?, x(1)?, |a, b| a > b)?,
        "GreaterOrEqual" => compare(node, x(0)?, x(1)?, |a, b| a >= b)?,
        "And" => compare(node, x(0)?, x(1)?, |a, b| a != 0.0 && b != 0.0)?,
        "Or" => compare(node, x(0)?, x(1)?, |a, b| a != 0.0 || b != 0.0)?,
        "Not" => {
            let v = x(0)?;
            Value::Ints(
                host_ints(v)?.iter().map(|b| i64::from(*b == 0)).collect(),
                v.dims(),
            )
        }
        "ReverseSequence" => reverse_sequence(node, inputs)?,
        _ => return Ok(None),
    }))
}

/// Host numbers of a value (shapes, counters, loop conditions): integers exactly, floats as
/// they are. Comparisons carry no gradient.
fn host_numbers(v: &Value) -> Result<Vec<f64>> {
    Ok(match v {
        Value::Ints(i, _) => i.iter().map(|v| *v as f64).collect(),
        other => crate::tensor::to_vec(other.clone().float1()?)
            .into_iter()
            .map(f64::from)
            .collect(),
    })
}

/// A comparison or logical operation with broadcasting; booleans are integers 0 and 1.
pub(super) fn compare(
    node: &NodeProto,
    a: &Value,
    b: &Value,
    f: impl Fn(f64, f64) -> bool,
) -> Result<Value> {
    let (x, y) = (host_numbers(a)?, host_numbers(b)?);
    host_zip(node, (a, &x), (b, &y), |p, q| i64::from(f(p, q)))
}

/// Reverses each batch entry's first `length` steps along the time axis. tf2onnx writes it
/// for a backward recurrent layer with every length equal to the sequence's; shorter
/// (padded) lengths are refused, as they are for LSTM and GRU.
fn reverse_sequence(node: &NodeProto, inputs: &[Option<Value>]) -> Result<Value> {
    let v = input(inputs, 0, node)?.clone();
    let lengths = host_ints(input(inputs, 1, node)?)?;
    let dims = v.dims();
    let time = super::ops::axis(
        node.attr("time_axis").and_then(|a| a.i).unwrap_or(0),
        dims.len(),
        node,
    )?;
    let steps = dims[time];
    if lengths.iter().any(|l| *l as usize != steps) {
        return Err(unsupported(format!(
            "ReverseSequence `{}`: lengths {lengths:?} differ from the {steps} steps (padded sequences are not supported)",
            node.name
        )));
    }
    let reversed: Vec<i64> = (0..steps as i64).rev().collect();
    Ok(match v {
        Value::Ints(..) => {
            return Err(unsupported(format!(
                "ReverseSequence `{}`: expected float data, found integers",
                node.name
            )))
        }
        other => {
            with_float_rank!(other, node, |t| {
                let index = Tensor::<1, Int>::from_data(
                    TensorData::new(reversed.clone(), [steps]),
                    &t.device(),
                );
                t.select(time, index)
            })
        }
    })
}

/// Element-wise maximum or minimum of any number of inputs, with broadcasting.
fn extremum(node: &NodeProto, inputs: &[Option<Value>]) -> Result<Value> {
    let max = node.op_type == "Max";
    let mut present = inputs.iter().flatten();
    let mut acc = present
        .next()
        .cloned()
        .ok_or_else(|| unsupported(format!("{} `{}` has no inputs", node.op_type, node.name)))?;
    for v in present {
        acc = match (&acc, v) {
            (Value::Ints(..), Value::Ints(..)) => {
                int_zip(&acc, v, node, |a, b| if max { a.max(b) } else { a.min(b) })?
            }
            (Value::Ints(..), _) | (_, Value::Ints(..)) => {
                return Err(unsupported(format!(
                    "{} `{}`: mixes integer and float inputs",
                    node.op_type, node.name
                )))
            }
            _ => acc.zip(
                v.clone(),
                |a, b| {
                    if max {
                        a.max_pair(b)
                    } else {
                        a.min_pair(b)
                    }
                },
            )?,
        };
    }
    Ok(acc)
}

fn reduce_prod(node: &NodeProto, inputs: &[Option<Value>]) -> Result<Value> {
    let v = input(inputs, 0, node)?.clone();
    let dims = v.dims();
    let rank = dims.len();
    let mut chosen = axes(node, inputs, 1, rank)?;
    let noop = node
        .attr("noop_with_empty_axes")
        .and_then(|a| a.i)
        .unwrap_or(0)
        != 0;
    if chosen.is_empty() {
        if noop {
            return Ok(v);
        }
        chosen = (0..rank).collect();
    }
    let keep = node.attr("keepdims").and_then(|a| a.i).unwrap_or(1) != 0;
    let mut kept_dims: Vec<usize> = Vec::with_capacity(rank);
    for (i, d) in dims.iter().enumerate() {
        if !chosen.contains(&i) {
            kept_dims.push(*d);
        } else if keep {
            kept_dims.push(1);
        }
    }
    let reduced = match &v {
        Value::Ints(values, _) => {
            // Each element multiplies into the output cell named by its coordinates on the
            // axes that stay (row-major over those axes).
            let mut out = vec![1i64; kept_dims.iter().product::<usize>().max(1)];
            for (flat, value) in values.iter().enumerate() {
                let (mut rest, mut at, mut stride) = (flat, 0, 1);
                for i in (0..rank).rev() {
                    let coord = rest % dims[i];
                    rest /= dims[i];
                    if !chosen.contains(&i) {
                        at += coord * stride;
                        stride *= dims[i];
                    }
                }
                out[at] = out[at].saturating_mul(*value);
            }
            return Ok(Value::Ints(out, kept_dims));
        }
        _ => {
            let mut r = v;
            for a in &chosen {
                r = with_float_rank!(r, node, |t| t.prod_dim(*a));
            }
            r
        }
    };
    reduced.reshape(&kept_dims)
}

fn tile(node: &NodeProto, inputs: &[Option<Value>]) -> Result<Value> {
    let v = input(inputs, 0, node)?.clone();
    let repeats = host_ints(input(inputs, 1, node)?)?;
    let dims = v.dims();
    if repeats.len() != dims.len() {
        return Err(unsupported(format!(
            "Tile `{}`: {} repeats for a rank-{} input",
            node.name,
            repeats.len(),
            dims.len()
        )));
    }
    let repeats: Vec<usize> = repeats
        .iter()
        .map(|r| usize::try_from(*r))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            unsupported(format!(
                "Tile `{}`: negative repeats {repeats:?}",
                node.name
            ))
        })?;
    Ok(match v {
        Value::Ints(values, shape) => {
            let out_shape: Vec<usize> = shape.iter().zip(&repeats).map(|(d, r)| d * r).collect();
            let total: usize = out_shape.iter().product();
            let out = (0..total)
                .map(|flat| {
                    let (mut rest, mut at, mut stride) = (flat, 0, 1);
                    for (d, od) in shape.iter().zip(&out_shape).rev() {
                        at += (rest % od % d) * stride;
                        rest /= od;
                        stride *= d;
                    }
                    values[at]
                })
                .collect();
            Value::Ints(out, out_shape)
        }
        other => with_float_rank!(other, node, |t| t.repeat(&repeats)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::AttributeProto;

    fn node(op: &str, attrs: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            name: "n".into(),
            op_type: op.into(),
            attributes: attrs,
            ..Default::default()
        }
    }

    fn ints(v: &[i64], s: &[usize]) -> Option<Value> {
        Some(Value::Ints(v.to_vec(), s.to_vec()))
    }

    #[test]
    fn integer_products_max_and_tiles_follow_numpy() {
        // [[1, 2, 3], [4, 5, 6]]: product over axis 1 keeping it -> [[6], [120]].
        let keep_axis = AttributeProto {
            name: "axes".into(),
            ints: vec![1],
            ..Default::default()
        };
        let out = eval(
            &node("ReduceProd", vec![keep_axis]),
            &[ints(&[1, 2, 3, 4, 5, 6], &[2, 3])],
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.ints().unwrap(), &[6, 120]);
        assert_eq!(out.dims(), vec![2, 1]);
        let all = eval(
            &node("ReduceProd", vec![]),
            &[ints(&[1, 2, 3, 4, 5, 6], &[2, 3])],
        )
        .unwrap()
        .unwrap();
        assert_eq!(all.ints().unwrap(), &[720]);
        let max = eval(
            &node("Max", vec![]),
            &[ints(&[1, 7, 3], &[3]), ints(&[4], &[1])],
        )
        .unwrap()
        .unwrap();
        assert_eq!(max.ints().unwrap(), &[4, 7, 4]);
        // numpy.tile([[1, 2]], (2, 2)) = [[1, 2, 1, 2], [1, 2, 1, 2]].
        let tiled = eval(
            &node("Tile", vec![]),
            &[ints(&[1, 2], &[1, 2]), ints(&[2, 2], &[2])],
        )
        .unwrap()
        .unwrap();
        assert_eq!(tiled.ints().unwrap(), &[1, 2, 1, 2, 1, 2, 1, 2]);
        assert_eq!(tiled.dims(), vec![2, 4]);
    }

    #[test]
    fn float_tiles_and_extrema_match_integer_ones() {
        let device = crate::tensor::device();
        let x = Value::from_floats(&[1.0, 2.0, 3.0, 4.0], &[2, 2], &device).unwrap();
        let tiled = eval(
            &node("Tile", vec![]),
            &[Some(x.clone()), ints(&[1, 2], &[2])],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            crate::tensor::to_vec(tiled.float2().unwrap()),
            vec![1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0]
        );
        let y = Value::from_floats(&[2.5], &[1], &device).unwrap();
        let min = eval(&node("Min", vec![]), &[Some(x), Some(y)])
            .unwrap()
            .unwrap();
        assert_eq!(
            crate::tensor::to_vec(min.float2().unwrap()),
            vec![1.0, 2.0, 2.5, 2.5]
        );
    }
}
