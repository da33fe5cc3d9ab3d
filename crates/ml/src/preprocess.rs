//! Preprocessing a model expects, applied inside the model under attack: per-channel mean/std
//! normalisation (torchvision's `Normalize`) and channel order (RGB data for a BGR model).
//! The attacker works in pixel space — inputs in [0, 1], ε in pixels, as users state it —
//! and the model sees `(x − mean) / std` in its own channel order. On the gradient path the
//! same steps are burn operations, so gradients flow back to the pixels (ART's
//! `preprocessing=(mean, std)` does the same).

use burn::prelude::*;

use crate::error::{MlError, Result};
use crate::model::{
    Classifier, Differentiable, GradientThreads, ModelInfo, OutputKind, QueryBudget, QueryOutput,
};

/// The preprocessing to put in front of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessing {
    /// One value per channel, or one for all.
    pub mean: Vec<f32>,
    /// One value per channel, or one for all; each positive.
    pub std: Vec<f32>,
    /// The model takes its channels in reverse order (BGR) of the data's (RGB).
    pub reverse_channels: bool,
}

impl Preprocessing {
    pub fn is_identity(&self) -> bool {
        self.mean.iter().all(|m| *m == 0.0)
            && self.std.iter().all(|s| *s == 1.0)
            && !self.reverse_channels
    }

    /// What the report says about it.
    pub fn describe(&self) -> String {
        let list = |v: &[f32]| {
            v.iter()
                .map(|x| format!("{x}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "inside the model: (x − [{}]) / [{}]{}",
            list(&self.mean),
            list(&self.std),
            if self.reverse_channels {
                ", channels reversed (RGB → BGR)"
            } else {
                ""
            }
        )
    }
}

/// A model with its preprocessing in front.
pub struct Preprocessed {
    inner: Box<dyn Classifier>,
    /// Per channel, expanded to the model's channel count.
    mean: Vec<f32>,
    std: Vec<f32>,
    reverse_channels: bool,
    channels: usize,
    plane: usize,
    info: ModelInfo,
}

impl Preprocessed {
    /// Checks the preprocessing against the model's input shape `[channels, …]`.
    pub fn wrap(inner: Box<dyn Classifier>, pre: &Preprocessing) -> Result<Self> {
        let shape = inner.info().input_shape.clone();
        let channels = if shape.len() >= 2 { shape[0] } else { 1 };
        let plane: usize = if shape.len() >= 2 {
            shape[1..].iter().product()
        } else {
            shape.iter().product()
        };
        let expand = |v: &[f32], what: &str| -> Result<Vec<f32>> {
            match v.len() {
                1 => Ok(vec![v[0]; channels]),
                n if n == channels => Ok(v.to_vec()),
                n => Err(MlError::Invalid(format!(
                    "--{what} has {n} values but the model takes {channels} channel(s) (input shape {shape:?}): give one value per channel, or one for all"
                ))),
            }
        };
        let mean = expand(&pre.mean, "mean")?;
        let std = expand(&pre.std, "std")?;
        if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(MlError::Invalid(format!(
                "--std {s}: each standard deviation must be a positive number"
            )));
        }
        if let Some(m) = mean.iter().find(|m| !m.is_finite()) {
            return Err(MlError::Invalid(format!(
                "--mean {m}: expected a finite number"
            )));
        }
        let mut info = inner.info().clone();
        info.description = format!("{} ({})", info.description, pre.describe());
        Ok(Preprocessed {
            inner,
            mean,
            std,
            reverse_channels: pre.reverse_channels,
            channels,
            plane,
            info,
        })
    }

    /// The model's view of pixel rows, on the host.
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let per = self.channels * self.plane;
        let mut out = vec![0.0; x.len()];
        for (src, dst) in x.chunks_exact(per).zip(out.chunks_exact_mut(per)) {
            for c in 0..self.channels {
                let from = if self.reverse_channels {
                    self.channels - 1 - c
                } else {
                    c
                };
                let (m, s) = (self.mean[c], self.std[c]);
                let input = &src[from * self.plane..(from + 1) * self.plane];
                for (o, v) in dst[c * self.plane..(c + 1) * self.plane]
                    .iter_mut()
                    .zip(input)
                {
                    *o = (v - m) / s;
                }
            }
        }
        out
    }
}

impl Classifier for Preprocessed {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn output_kind(&self) -> OutputKind {
        self.inner.output_kind()
    }

    fn query(&self, x: &[f32]) -> Result<QueryOutput> {
        self.inner.query(&self.apply(x))
    }

    fn query_as(&self, client: &str, x: &[f32]) -> Result<QueryOutput> {
        self.inner.query_as(client, &self.apply(x))
    }

    fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>> {
        self.inner.evaluate(&self.apply(x))
    }

    fn scores(&self, x: &[f32]) -> Result<QueryOutput> {
        self.inner.scores(&self.apply(x))
    }

    fn budget(&self) -> &QueryBudget {
        self.inner.budget()
    }

    fn gradients(&self) -> Option<&dyn Differentiable> {
        self.inner.gradients()?;
        Some(self)
    }

    fn concurrent_queries(&self) -> bool {
        self.inner.concurrent_queries()
    }
}

impl Differentiable for Preprocessed {
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let inner = self
            .inner
            .gradients()
            .ok_or_else(|| MlError::Invalid("the model offers no gradients".into()))?;
        let [n, features] = x.dims();
        let device = x.device();
        let mut t = x.reshape([n, self.channels, self.plane]);
        if self.reverse_channels {
            let order: Vec<i64> = (0..self.channels as i64).rev().collect();
            t = t.select(
                1,
                Tensor::<1, Int>::from_data(TensorData::new(order, [self.channels]), &device),
            );
        }
        let mean = Tensor::<3>::from_data(
            TensorData::new(self.mean.clone(), [1, self.channels, 1]),
            &device,
        );
        let std = Tensor::<3>::from_data(
            TensorData::new(self.std.clone(), [1, self.channels, 1]),
            &device,
        );
        inner.logits(((t - mean) / std).reshape([n, features]))
    }

    fn gradient_threads(&self) -> GradientThreads {
        self.inner
            .gradients()
            .map_or(GradientThreads::Shared, |g| g.gradient_threads())
    }
}
