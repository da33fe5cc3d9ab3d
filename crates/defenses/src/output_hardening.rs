//! Output hardening: the prediction API reveals less. `top1` answers only the best class with
//! its probability; `round:D` rounds every probability to D decimals. Score-based attacks
//! lose signal (rounding flattens the small changes random search relies on); decision-based
//! attacks, which only need the label, are not slowed at all — the measurement shows both.
//! The wrapper is an API: it offers no gradients.
//!
//! ATLAS: AML.M0002 Passive AI Output Obfuscation, lifecycle phases ML Model Evaluation and
//! Deployment.

use std::sync::Arc;

use aisec_ml::model::{Classifier, ModelInfo, OutputKind, QueryBudget, QueryOutput};
use aisec_ml::MlError;
use serde::{Deserialize, Serialize};

pub const MITIGATIONS: &[&str] = &["AML.M0002"];
pub const PHASES: &[&str] = &["ML Model Evaluation", "Deployment"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "decimals")]
pub enum Hardening {
    Top1,
    Round(u32),
}

pub struct HardenedOutputs {
    inner: Arc<dyn Classifier>,
    mode: Hardening,
    info: ModelInfo,
}

impl HardenedOutputs {
    pub fn new(inner: Arc<dyn Classifier>, mode: Hardening) -> Self {
        let mut info = inner.info().clone();
        info.description = match mode {
            Hardening::Top1 => format!("{} behind a top-1 API", info.description),
            Hardening::Round(d) => format!(
                "{} behind an API rounding to {d} decimals",
                info.description
            ),
        };
        HardenedOutputs { inner, mode, info }
    }
}

fn round_to(v: f32, decimals: u32) -> f32 {
    let scale = 10f32.powi(decimals as i32);
    (v * scale).round() / scale
}

impl Classifier for HardenedOutputs {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn output_kind(&self) -> OutputKind {
        match self.mode {
            Hardening::Top1 => OutputKind::TopK(1),
            Hardening::Round(_) => OutputKind::Probabilities,
        }
    }

    fn query(&self, x: &[f32]) -> Result<QueryOutput, MlError> {
        let classes = self.info.num_classes;
        let out = self.inner.query(x)?;
        Ok(match self.mode {
            Hardening::Top1 => match out.restrict(OutputKind::TopK(1), classes) {
                QueryOutput::TopK(rows) => QueryOutput::TopK(rows),
                other => other,
            },
            Hardening::Round(d) => match out.restrict(OutputKind::Probabilities, classes) {
                QueryOutput::Probabilities(p) => {
                    QueryOutput::Probabilities(p.iter().map(|v| round_to(*v, d)).collect())
                }
                other => other,
            },
        })
    }

    fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>, MlError> {
        self.inner.evaluate(x)
    }

    fn scores(&self, x: &[f32]) -> Result<QueryOutput, MlError> {
        self.inner.scores(x)
    }

    fn budget(&self) -> &QueryBudget {
        self.inner.budget()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(round_to(0.123456, 2), 0.12);
        assert_eq!(round_to(0.996, 2), 1.0);
    }
}
