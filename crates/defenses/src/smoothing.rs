//! Randomized smoothing at prediction time (Cohen, Rosenfeld & Kolter, "Certified Adversarial
//! Robustness via Randomized Smoothing", ICML 2019; Lecuyer et al. 2019): the API answers the
//! class the model gives most often on `samples` Gaussian-noised copies of the input
//! (N(0, σ²) per value), and its scores are those vote shares. Small perturbations move the
//! vote little, so an attack that targets the plain model transfers poorly.
//!
//! Measured twice by re-attacking: with the attack that ignores the noise (gradients of the
//! base model), and with the adaptive one that differentiates the expected prediction under
//! the defence's own noise (Expectation over Transformation, Athalye et al. 2018): the
//! gradient of log E[softmax(f(x + δ))] over `eot_samples` fresh draws per step, while the
//! smoothed vote itself judges which iterate fools the API. The model
//! here is not trained on noise, so clean accuracy drops as σ grows; the report gives both.
//!
//! The noise of a prediction is drawn from a generator seeded by the input's bytes, so the
//! smoothed API answers the same input the same way (as a deployed API with a fixed seed
//! would) and runs are reproducible.
//!
//! ATLAS: AML.M0010 Input Restoration (the input is randomised before the model sees it),
//! lifecycle phases ML Model Engineering and Deployment.

use std::sync::{Arc, Mutex};

use aisec_core::rng::Rng;
use aisec_ml::model::{
    rows, Classifier, Differentiable, ModelInfo, OutputKind, QueryBudget, QueryOutput,
};
use aisec_ml::tensor;
use aisec_ml::MlError;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::Serialize;

use crate::defense::{Role, Action, AppliesTo, DefenseInfo, Family};
use crate::guard::Guarded;
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.randomized-smoothing",
    summary: "Randomized smoothing: the API answers the majority class over Gaussian-noised copies of the input (Cohen et al. 2019)",
    mitigations: &["AML.M0010"],
    phases: &["ML Model Engineering", "Deployment"],
    applies_to: AppliesTo::Inputs,
    action: Action::Wrap,
    role: Role::QueryPath,
    families: &[Family::Evasion],
    measured_by: &["evasion.fgsm", "evasion.pgd", "evasion.apgd-ce"],
    adaptive_attack: Some(
        "the same attack through the expected gradient over the defence's noise (EOT, Athalye et al. 2018)",
    ),
    forms: &["smooth", "smooth:SIGMA"],
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SmoothingConfig {
    /// Standard deviation of the noise, in input units (default 0.25: Cohen et al.'s
    /// smallest σ, on inputs in [0, 1]).
    pub sigma: f32,
    /// Noisy copies per prediction (default 100).
    pub samples: usize,
    /// Noisy copies per gradient step of the adaptive (EOT) attack (default 16).
    pub eot_samples: usize,
}

impl Default for SmoothingConfig {
    fn default() -> Self {
        SmoothingConfig {
            sigma: 0.25,
            samples: 100,
            eot_samples: 16,
        }
    }
}

/// `smooth` or `smooth:SIGMA`.
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    if keyword != "smooth" {
        return None;
    }
    let config = match argument {
        None => Ok(SmoothingConfig::default()),
        some => crate::registry::number(some, "SIGMA > 0 (noise, in input units)", |s: &f32| {
            s.is_finite() && *s > 0.0
        })
        .map(|sigma| SmoothingConfig {
            sigma,
            ..SmoothingConfig::default()
        }),
    };
    Some(config.map(DefenseSpec::new))
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(SmoothingConfig, {
    fn guard(&self, model: Arc<dyn Classifier>, seed: u64) -> Option<Guarded> {
        Some(Guarded::plain(Arc::new(Smoothed::new(
            model,
            *self,
            AttackerView::BaseModel,
            seed,
        ))))
    }

    fn adaptive_guard(&self, model: Arc<dyn Classifier>, seed: u64) -> Option<Guarded> {
        Some(Guarded::plain(Arc::new(Smoothed::new(
            model,
            *self,
            AttackerView::ExpectationOverNoise,
            seed,
        ))))
    }
});

/// Which gradients the smoothed target offers an attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttackerView {
    /// The base model's: the attacker ignores the noise.
    BaseModel,
    /// The expectation over the defence's noise (EOT): the adaptive attacker.
    ExpectationOverNoise,
}

/// A classifier behind randomized smoothing.
pub struct Smoothed {
    inner: Arc<dyn Classifier>,
    config: SmoothingConfig,
    view: AttackerView,
    info: ModelInfo,
    eot_rng: Mutex<Rng>,
}

impl Smoothed {
    pub fn new(
        inner: Arc<dyn Classifier>,
        config: SmoothingConfig,
        view: AttackerView,
        seed: u64,
    ) -> Self {
        let mut info = inner.info().clone();
        info.description = format!(
            "{} behind randomized smoothing (σ = {}, {} samples)",
            info.description, config.sigma, config.samples
        );
        Smoothed {
            inner,
            config,
            view,
            info,
            eot_rng: Mutex::new(Rng::derive(seed, "smoothing-eot")),
        }
    }

    /// Vote shares per input over the noisy copies, from the model's own scores (the
    /// defence runs the model itself; only the caller's query is counted).
    fn votes(&self, x: &[f32]) -> Result<Vec<f32>, MlError> {
        let features = self.info.features();
        let classes = self.info.num_classes;
        let n = rows(x, features)?;
        let copies = self.config.samples.max(1);
        let mut shares = vec![0f32; n * classes];
        for (i, input) in x.chunks(features).enumerate() {
            let mut rng = Rng::new(input_seed(input));
            let mut noisy = Vec::with_capacity(copies * features);
            for _ in 0..copies {
                noisy.extend(input.iter().map(|v| v + self.config.sigma * rng.normal()));
            }
            let labels = self.inner.scores(&noisy)?.labels(classes);
            for label in labels {
                shares[i * classes + label] += 1.0 / copies as f32;
            }
        }
        Ok(shares)
    }
}

/// FNV-1a over the input's bits: the same input always draws the same noise.
fn input_seed(input: &[f32]) -> u64 {
    input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
        (h ^ v.to_bits() as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Classifier for Smoothed {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn output_kind(&self) -> OutputKind {
        OutputKind::Probabilities
    }

    fn query(&self, x: &[f32]) -> Result<QueryOutput, MlError> {
        let n = rows(x, self.info.features())?;
        self.budget().charge(n as u64)?;
        Ok(QueryOutput::Probabilities(self.votes(x)?))
    }

    fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>, MlError> {
        Ok(tensor::argmax_rows(&self.votes(x)?, self.info.num_classes))
    }

    fn scores(&self, x: &[f32]) -> Result<QueryOutput, MlError> {
        Ok(QueryOutput::Probabilities(self.votes(x)?))
    }

    fn budget(&self) -> &QueryBudget {
        self.inner.budget()
    }

    fn gradients(&self) -> Option<&dyn Differentiable> {
        self.inner.gradients()?;
        Some(self)
    }
}

impl Differentiable for Smoothed {
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>, MlError> {
        let base = self
            .inner
            .gradients()
            .ok_or_else(|| MlError::Invalid("the smoothed model offers no gradients".into()))?;
        if self.view == AttackerView::BaseModel {
            return base.logits(x);
        }
        let [n, features] = x.dims();
        let k = self.config.eot_samples.max(1);
        // The smoothed API's own vote decides what counts as fooled (and which iterate is
        // best), not the noisy k-sample estimate the gradient comes from.
        let votes = self.votes(&tensor::to_vec(x.clone()))?;
        let noise: Vec<f32> = {
            let mut rng = self.eot_rng.lock().unwrap_or_else(|p| p.into_inner());
            (0..k * n * features)
                .map(|_| self.config.sigma * rng.normal())
                .collect()
        };
        let device = x.device();
        let noisy = Tensor::cat(vec![x; k], 0) + tensor::matrix(&noise, k * n, &device);
        let probabilities = softmax(base.logits(noisy)?, 1);
        let classes = probabilities.dims()[1];
        let mean = probabilities
            .reshape([k, n, classes])
            .mean_dim(0)
            .reshape([n, classes]);
        // Log-probabilities act as logits: softmax of them gives the expected prediction back.
        let expected = mean.clamp_min(1e-12).log();
        let voted: Vec<f32> = votes.iter().map(|v| v.max(1e-12).ln()).collect();
        let voted = tensor::matrix(&voted, n, &device);
        // Straight-through: the value is the vote's, the gradient the expectation's (EOT).
        Ok(expected.clone() + (voted - expected).detach())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_input_draws_the_same_noise() {
        assert_eq!(input_seed(&[0.5, 0.25]), input_seed(&[0.5, 0.25]));
        assert_ne!(input_seed(&[0.5, 0.25]), input_seed(&[0.25, 0.5]));
    }
}
