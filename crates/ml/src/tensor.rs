//! Moving data between plain vectors and burn tensors on the CPU (flex) backend.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// burn 0.22's autodiff graph locking can deadlock when two threads record and run
/// backward passes through the same parameters (seen with two attacks on one model). Every
/// gradient pass through a model that other threads may use holds this lock; training a
/// network the thread owns does not (its graph shares no node with another thread's), so
/// independent trainings use every core.
static AUTODIFF_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the process-wide autodiff lock until dropped.
pub fn autodiff_guard() -> std::sync::MutexGuard<'static, ()> {
    AUTODIFF_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The plain CPU device.
pub fn device() -> Device {
    Device::flex()
}

/// The CPU device with gradients recorded.
pub fn autodiff_device() -> Device {
    Device::flex().autodiff()
}

pub fn matrix(values: &[f32], rows: usize, device: &Device) -> Tensor<2> {
    let cols = values.len().checked_div(rows).unwrap_or(0);
    Tensor::<2>::from_data(TensorData::new(values.to_vec(), [rows, cols]), device)
}

pub fn labels(values: &[usize], device: &Device) -> Tensor<1, Int> {
    let ints: Vec<i64> = values.iter().map(|v| *v as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(ints, [values.len()]), device)
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float tensors convert to f32")
}

pub fn to_labels(t: Tensor<1, Int>) -> Vec<usize> {
    t.into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("int tensors convert to i64")
        .into_iter()
        .map(|v| v.max(0) as usize)
        .collect()
}

/// Mean cross-entropy of `logits` against `labels`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    per_example_cross_entropy(logits, labels).mean()
}

/// Cross-entropy of each row.
pub fn per_example_cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let log_probs = log_softmax(logits, 1);
    log_probs
        .gather(1, labels.unsqueeze_dim(1))
        .squeeze_dim::<1>(1)
        .neg()
}

/// Row-wise argmax of a `[n, k]` row-major matrix.
pub fn argmax_rows(values: &[f32], k: usize) -> Vec<usize> {
    values
        .chunks(k)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
                    if *v > best.1 {
                        (i, *v)
                    } else {
                        best
                    }
                })
                .0
        })
        .collect()
}

/// Softmax of each row of a `[n, k]` row-major matrix.
pub fn softmax_rows(values: &[f32], k: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len());
    for row in values.chunks(k) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
        let sum: f32 = exps.iter().sum();
        out.extend(exps.iter().map(|e| e / sum));
    }
    out
}
