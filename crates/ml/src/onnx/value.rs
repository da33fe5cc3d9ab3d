//! Values flowing through an ONNX graph: float tensors of rank 1–4 on burn (so that
//! gradients flow through them), and small integer vectors (shapes, indices) on the host.

use burn::prelude::*;

use crate::error::{MlError, Result};

#[derive(Debug, Clone)]
pub enum Value {
    F1(Tensor<1>),
    F2(Tensor<2>),
    F3(Tensor<3>),
    F4(Tensor<4>),
    /// Only reshaped and transposed (ShuffleNet's channel shuffle goes through rank 5).
    F5(Tensor<5>),
    /// Integer data with its shape, e.g. the target of a Reshape.
    Ints(Vec<i64>, Vec<usize>),
}

pub fn unsupported(what: String) -> MlError {
    MlError::Invalid(what)
}

impl Value {
    pub fn from_floats(values: &[f32], shape: &[usize], device: &Device) -> Result<Value> {
        let t = Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), device);
        Value::F1(t).reshape(shape)
    }

    pub fn dims(&self) -> Vec<usize> {
        match self {
            Value::F1(t) => t.dims().to_vec(),
            Value::F2(t) => t.dims().to_vec(),
            Value::F3(t) => t.dims().to_vec(),
            Value::F4(t) => t.dims().to_vec(),
            Value::F5(t) => t.dims().to_vec(),
            Value::Ints(_, s) => s.clone(),
        }
    }

    pub fn rank(&self) -> usize {
        self.dims().len()
    }

    /// The same data with another shape (and so perhaps another rank).
    pub fn reshape(self, shape: &[usize]) -> Result<Value> {
        let count: usize = shape.iter().product();
        if count != self.dims().iter().product::<usize>() {
            return Err(unsupported(format!(
                "cannot reshape {:?} into {shape:?}",
                self.dims()
            )));
        }
        if let Value::Ints(v, _) = self {
            return Ok(Value::Ints(v, shape.to_vec()));
        }
        let flat: Tensor<1> = match self {
            Value::F1(t) => t,
            Value::F2(t) => t.reshape([count]),
            Value::F3(t) => t.reshape([count]),
            Value::F4(t) => t.reshape([count]),
            Value::F5(t) => t.reshape([count]),
            Value::Ints(..) => unreachable!("handled above"),
        };
        Ok(match shape {
            [a] => Value::F1(flat.reshape([*a])),
            [a, b] => Value::F2(flat.reshape([*a, *b])),
            [a, b, c] => Value::F3(flat.reshape([*a, *b, *c])),
            [a, b, c, d] => Value::F4(flat.reshape([*a, *b, *c, *d])),
            [a, b, c, d, e] => Value::F5(flat.reshape([*a, *b, *c, *d, *e])),
            [] => Value::F1(flat.reshape([1])),
            other => {
                return Err(unsupported(format!(
                    "tensors of rank {} are not supported (shape {other:?})",
                    other.len()
                )))
            }
        })
    }

    /// Prepends size-1 axes up to `rank` (ONNX broadcasting aligns trailing axes).
    pub fn lift(self, rank: usize) -> Result<Value> {
        let dims = self.dims();
        if dims.len() >= rank {
            return Ok(self);
        }
        let mut shape = vec![1; rank - dims.len()];
        shape.extend(dims);
        self.reshape(&shape)
    }

    pub fn float2(self) -> Result<Tensor<2>> {
        match self {
            Value::F2(t) => Ok(t),
            other => Err(unsupported(format!(
                "expected a matrix, found shape {:?}",
                other.dims()
            ))),
        }
    }

    pub fn float3(self) -> Result<Tensor<3>> {
        match self {
            Value::F3(t) => Ok(t),
            other => Err(unsupported(format!(
                "expected a rank-3 tensor, found shape {:?}",
                other.dims()
            ))),
        }
    }

    pub fn float4(self) -> Result<Tensor<4>> {
        match self {
            Value::F4(t) => Ok(t),
            other => Err(unsupported(format!(
                "expected an N×C×H×W tensor, found shape {:?}",
                other.dims()
            ))),
        }
    }

    pub fn float1(self) -> Result<Tensor<1>> {
        match self {
            Value::F1(t) => Ok(t),
            other => {
                let n = other.dims().iter().product();
                match other.reshape(&[n])? {
                    Value::F1(t) => Ok(t),
                    _ => unreachable!("reshape to rank 1 gives F1"),
                }
            }
        }
    }

    pub fn ints(&self) -> Result<&[i64]> {
        match self {
            Value::Ints(v, _) => Ok(v),
            other => Err(unsupported(format!(
                "expected integer data (a shape or indices), found a float tensor of shape {:?}",
                other.dims()
            ))),
        }
    }

    /// Applies an element-wise function whatever the rank.
    pub fn map(self, f: impl Fn(Tensor<4>) -> Tensor<4>) -> Result<Value> {
        let dims = self.dims();
        let lifted = self.lift(4)?.float4()?;
        Value::F4(f(lifted)).reshape(&dims)
    }

    /// An element-wise binary operation with ONNX (numpy) broadcasting.
    pub fn zip(self, other: Value, f: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>) -> Result<Value> {
        let (a, b) = (self.dims(), other.dims());
        let rank = a.len().max(b.len());
        if rank > 4 {
            return Err(unsupported(format!(
                "broadcasting {a:?} with {b:?} needs rank {rank}"
            )));
        }
        let mut out = Vec::with_capacity(rank);
        let pad = |d: &[usize]| -> Vec<usize> {
            let mut v = vec![1; rank - d.len()];
            v.extend_from_slice(d);
            v
        };
        let (pa, pb) = (pad(&a), pad(&b));
        for (x, y) in pa.iter().zip(&pb) {
            if x != y && *x != 1 && *y != 1 {
                return Err(unsupported(format!(
                    "shapes {a:?} and {b:?} do not broadcast"
                )));
            }
            out.push(*x.max(y));
        }
        let x = self.lift(4)?.float4()?;
        let y = other.lift(4)?.float4()?;
        Value::F4(f(x, y)).reshape(&out)
    }
}
