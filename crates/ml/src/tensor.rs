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

/// The plain device.
pub fn device() -> Device {
    compute().device()
}

/// The device with gradients recorded.
pub fn autodiff_device() -> Device {
    compute().device().autodiff()
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

/// Where burn runs the tensors: its portable CPU backend (the default and the only one a
/// default build has), or LibTorch on the CPU or a CUDA GPU in a build with the `libtorch`
/// feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compute {
    Flex,
    #[cfg(feature = "libtorch")]
    LibTorchCpu,
    #[cfg(feature = "libtorch")]
    LibTorchCuda(usize),
}

static COMPUTE: std::sync::OnceLock<Compute> = std::sync::OnceLock::new();

impl Compute {
    /// `cpu`, `libtorch`, `cuda` or `cuda:N`.
    pub fn parse(text: &str) -> std::result::Result<Compute, String> {
        let libtorch = text == "libtorch" || text == "cuda" || text.starts_with("cuda:");
        match text {
            "cpu" | "flex" => Ok(Compute::Flex),
            _ if libtorch => Self::parse_libtorch(text),
            other => Err(format!(
                "unknown device `{other}` (expected cpu, libtorch, cuda or cuda:N)"
            )),
        }
    }

    #[cfg(feature = "libtorch")]
    fn parse_libtorch(text: &str) -> std::result::Result<Compute, String> {
        match text {
            "libtorch" => Ok(Compute::LibTorchCpu),
            "cuda" => Ok(Compute::LibTorchCuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(Compute::LibTorchCuda)
                .ok_or_else(|| format!("device `{other}`: expected cuda:N with N a GPU index")),
        }
    }

    #[cfg(not(feature = "libtorch"))]
    fn parse_libtorch(text: &str) -> std::result::Result<Compute, String> {
        Err(format!(
            "device `{text}` needs burn's LibTorch backend, which this build does not have \
             (build with `--features libtorch` against libtorch 2.9.0)"
        ))
    }

    /// How a report names it.
    pub fn describe(self) -> String {
        match self {
            Compute::Flex => "burn flex CPU".into(),
            #[cfg(feature = "libtorch")]
            Compute::LibTorchCpu => "LibTorch CPU".into(),
            #[cfg(feature = "libtorch")]
            Compute::LibTorchCuda(i) => format!("LibTorch CUDA {i}"),
        }
    }

    /// " on DEVICE" for a model description when the device is not the default one, so that
    /// default reports stay as they were.
    pub fn suffix(self) -> String {
        if self == Compute::Flex {
            String::new()
        } else {
            format!(" on {}", self.describe())
        }
    }

    // burn 0.22 deprecates its LibTorch backend in favour of CubeCL ones; it is still the
    // only burn backend with LibTorch's CPU kernels, which is what this option measures.
    #[cfg_attr(feature = "libtorch", allow(deprecated))]
    fn device(self) -> Device {
        match self {
            Compute::Flex => Device::flex(),
            #[cfg(feature = "libtorch")]
            Compute::LibTorchCpu => Device::libtorch(),
            #[cfg(feature = "libtorch")]
            Compute::LibTorchCuda(index) => Device::libtorch_cuda(index),
        }
    }
}

/// Chooses the compute device for the process; the first choice stands. Without a choice it
/// is `AISEC_DEVICE` when set and valid, else the CPU backend.
pub fn select_compute(choice: Compute) -> std::result::Result<(), String> {
    let chosen = *COMPUTE.get_or_init(|| choice);
    if chosen == choice {
        Ok(())
    } else {
        Err(format!("the device is already {chosen:?}"))
    }
}

/// The device chosen for this process.
pub fn compute() -> Compute {
    *COMPUTE.get_or_init(|| {
        std::env::var("AISEC_DEVICE")
            .ok()
            .and_then(|v| Compute::parse(&v).ok())
            .unwrap_or(Compute::Flex)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_parsed_and_unknown_or_unbuilt_ones_named() {
        assert_eq!(Compute::parse("cpu"), Ok(Compute::Flex));
        let err = Compute::parse("gpu").unwrap_err();
        assert!(err.contains("unknown device `gpu`"), "{err}");
        if !cfg!(feature = "libtorch") {
            let err = Compute::parse("cuda:1").unwrap_err();
            assert!(err.contains("--features libtorch"), "{err}");
        }
    }
}
