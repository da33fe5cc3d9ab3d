//! A built-in network's weights as plain numbers: read, replaced, and differentiated. Fault
//! attacks (bit flips in memory) and their defences (checksums, range checks) work on the
//! numbers a deployment stores, not on the training graph.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::error::{MlError, Result};
use crate::native::NativeModel;
use crate::tensor;

/// One weight tensor: its module path (`conv1.weight`), shape and values.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Every float parameter of a network, in the module's visiting order.
pub type Weights = Vec<WeightTensor>;

struct Reader<'g> {
    path: Vec<String>,
    out: Weights,
    grads: Option<&'g GradientsParams>,
}

impl ModuleVisitor for Reader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let shape = value.dims().to_vec();
        let values = match self.grads {
            Some(g) => g
                .get::<D>(param.id)
                .map(tensor::to_vec)
                .unwrap_or_else(|| vec![0.0; shape.iter().product()]),
            None => tensor::to_vec(value),
        };
        self.out.push(WeightTensor {
            name: self
                .path
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("."),
            shape,
            values,
        });
    }
}

struct Writer<'w> {
    weights: &'w [WeightTensor],
    next: usize,
    error: Option<String>,
}

impl ModuleMapper for Writer<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let i = self.next;
        self.next += 1;
        let Some(w) = self.weights.get(i) else {
            self.error
                .get_or_insert_with(|| format!("the network has more than {i} weight tensors"));
            return param;
        };
        param.map(|t| {
            let dims = t.dims();
            if dims.as_slice() != w.shape.as_slice()
                || w.values.len() != dims.iter().product::<usize>()
            {
                self.error.get_or_insert_with(|| {
                    format!(
                        "weight `{}` has shape {:?}, the network {dims:?}",
                        w.name, w.shape
                    )
                });
                return t;
            }
            let tracked = t.is_require_grad();
            let replaced = Tensor::<D>::from_data(
                TensorData::new(w.values.clone(), dims.to_vec()),
                &t.device(),
            );
            if tracked {
                replaced.require_grad()
            } else {
                replaced
            }
        })
    }
}

impl NativeModel {
    pub fn weights(&self) -> Weights {
        let mut r = Reader {
            path: Vec::new(),
            out: Vec::new(),
            grads: None,
        };
        self.network().visit(&mut r);
        r.out
    }

    /// The same model with `weights` (as [`NativeModel::weights`] lists them) in place.
    pub fn with_weights(&self, weights: &[WeightTensor]) -> Result<NativeModel> {
        let mut w = Writer {
            weights,
            next: 0,
            error: None,
        };
        let network = self.network().clone().map(&mut w);
        if let Some(e) = w.error {
            return Err(MlError::Invalid(e));
        }
        if w.next != weights.len() {
            return Err(MlError::Invalid(format!(
                "{} weight tensors given, the network has {}",
                weights.len(),
                w.next
            )));
        }
        Ok(NativeModel::new(network, self.manifest.clone()))
    }

    /// The mean cross-entropy on `(x, y)` and its gradient with respect to every weight.
    pub fn weight_gradients(&self, x: &[f32], y: &[usize]) -> Result<(f32, Weights)> {
        let f = self.manifest.input_shape.iter().product::<usize>();
        let n = crate::model::rows(x, f)?;
        if y.len() != n {
            return Err(MlError::Invalid(format!(
                "{n} inputs and {} labels",
                y.len()
            )));
        }
        let device = tensor::autodiff_device();
        let network = self.network().clone();
        let logits = network.forward(tensor::matrix(x, n, &device));
        let loss = tensor::cross_entropy(logits, tensor::labels(y, &device));
        let value = tensor::to_vec(loss.clone().detach())[0];
        let grads = GradientsParams::from_grads(loss.backward(), &network);
        let mut r = Reader {
            path: Vec::new(),
            out: Vec::new(),
            grads: Some(&grads),
        };
        network.visit(&mut r);
        Ok((value, r.out))
    }
}
