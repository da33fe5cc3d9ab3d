//! Host operations on the gradient path: an operation computed on the host's plain values
//! and recorded in burn's autodiff graph (burn-flex under `Autodiff`, without
//! checkpointing) with a backward pass of its own, for the layers where burn-flex's operator
//! and its backward were most of a gradient pass (convolution: [`super::host_conv_grad`];
//! max pooling: [`super::host_pool`]). Only the input's gradient is recorded.

use std::cell::RefCell;
use std::marker::PhantomData;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::TensorData;

/// What the backward pass of a host operation keeps of its forward pass.
pub(super) trait HostBackward: Clone + Send + std::fmt::Debug + 'static {
    /// The input's shape.
    fn input_dims(&self) -> [usize; 4];
    /// The input's gradient, row-major, from the output's.
    fn input_gradient(&self, output_grad: &[f32]) -> Vec<f32>;
}

#[derive(Debug)]
struct Step<S>(PhantomData<fn() -> S>);

impl<S: HostBackward> Backward<Flex, 1> for Step<S> {
    type State = S;

    fn backward(self, ops: Ops<S, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [input] = ops.parents;
        let output_grad = grads.consume::<Flex>(&ops.node);
        if let Some(input) = input {
            let grad = with_values(&output_grad, |g| ops.state.input_gradient(g));
            let dims = ops.state.input_dims();
            grads.register::<Flex>(input.id, FlexTensor::from_data(TensorData::new(grad, dims)));
        }
    }
}

/// Whether `t` is a burn-flex tensor under autodiff (without checkpointing) that no gradient
/// flows through: neither a tracked leaf nor computed from one (burn's `is_require_grad`
/// answers for leaves only, and a weight computed from the input is not one).
pub(super) fn untracked<const D: usize>(t: &Tensor<D>) -> bool {
    t.clone()
        .try_into_primitive::<Autodiff<Flex, NoCheckpointing>>()
        .is_ok_and(|t| !t.is_tracked())
}

/// `f` on the tensor's values as one row-major slice (copied only when not already so).
fn with_values<R>(tensor: &FlexTensor, f: impl FnOnce(&[f32]) -> R) -> R {
    match tensor.as_slice::<f32>() {
        Some(values) => f(values),
        None => f(&tensor
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("float tensors convert to f32")),
    }
}

/// `forward` (the input's values → the output's values, its shape and what the backward pass
/// needs) run on `x` and recorded for `x`'s gradient; `None` when `x` is not a burn-flex
/// tensor under autodiff without checkpointing, or `forward` declines (the caller keeps
/// burn's operator).
pub(super) fn record<S: HostBackward>(
    x: &Tensor<4>,
    forward: impl FnOnce(&[f32]) -> Option<(Vec<f32>, [usize; 4], S)>,
) -> Option<Tensor<4>> {
    let tracked = x
        .clone()
        .try_into_primitive::<Autodiff<Flex, NoCheckpointing>>()
        .ok()?;
    if tracked.primitive().dtype() != burn::tensor::DType::F32 {
        // The operations below compute in f32 and would change the graph's type.
        return None;
    }
    let (values, dims, saved) = with_values(tracked.primitive(), forward)?;
    let output = FlexTensor::from_data(TensorData::new(values, dims));
    let recorded = match Step::<S>(PhantomData)
        .prepare::<NoCheckpointing>([tracked.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(saved, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex, NoCheckpointing>>(
        recorded,
    ))
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Values of scratch a thread keeps between calls (64 MiB); larger requests (a convolution
/// over a very large plane) get buffers of their own, freed after the call.
const KEPT_SCRATCH: usize = 16 << 20;

/// Two work buffers of `first` and `second` values, kept per thread between calls (a
/// gradient pass allocated and zeroed its windows' matrix at every layer). Their contents
/// are left from earlier calls: callers write before they read.
pub(super) fn with_scratch<R>(
    first: usize,
    second: usize,
    f: impl FnOnce(&mut [f32], &mut [f32]) -> R,
) -> R {
    if first.saturating_add(second) > KEPT_SCRATCH {
        return f(&mut vec![0.0; first], &mut vec![0.0; second]);
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            if buffer.len() < first + second {
                buffer.resize(first + second, 0.0);
            }
            let (a, rest) = buffer.split_at_mut(first);
            f(a, &mut rest[..second])
        }
        // Already in use further up this thread's stack: fresh buffers.
        Err(_) => f(&mut vec![0.0; first], &mut vec![0.0; second]),
    })
}
