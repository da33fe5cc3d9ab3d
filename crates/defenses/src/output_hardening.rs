//! Output hardening: the prediction API reveals less. `top1`/`topk:K` answer only the best
//! classes with their probabilities; `label` answers the class alone; `round:D` rounds every
//! probability to D decimals; `reverse-sigmoid` (Lee et al. 2019, "Defending against NN model
//! stealing attacks using deceptive perturbations") keeps the top class but bends every
//! probability by −β(σ(γ·logit p) − ½) and renormalises, so the log-ratios that equation
//! solving and distillation read are no longer the model's. Score-based attacks lose signal;
//! decision-based attacks, label-only extraction and label-only membership inference, which
//! only need the label, are not slowed at all — the measurements show both. The wrapper is an
//! API: it offers no gradients.
//!
//! ATLAS: AML.M0002 Passive AI Output Obfuscation, lifecycle phases ML Model Evaluation and
//! Deployment.

use std::sync::Arc;

use aisec_ml::model::{Classifier, ModelInfo, OutputKind, QueryOutput};
use aisec_ml::MlError;
use serde::{Deserialize, Serialize};

use crate::defense::{Role, Action, AppliesTo, DefenseInfo, Family};
use crate::guard::Guarded;
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.output-hardening",
    summary: "The API answers less: top-k or the label only, probabilities rounded to D decimals, or bent by a reverse sigmoid (Lee et al. 2019)",
    mitigations: &["AML.M0002"],
    phases: &["ML Model Evaluation", "Deployment"],
    applies_to: AppliesTo::Outputs,
    action: Action::Wrap,
    role: Role::QueryPath,
    families: &[Family::Evasion, Family::Extraction, Family::Privacy],
    measured_by: &["evasion.square", "evasion.hsj", "extract.equation", "extract.knockoff", "extract.jacobian", "membership.lira", "membership.rmia", "membership.label-only"],
    adaptive_attack: Some("evasion.hsj, extract.jacobian/knockoff and membership.label-only need labels only, which every hardened answer still gives"),
    forms: &["top1", "topk:K", "label", "round:D", "reverse-sigmoid"],
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum Hardening {
    Top1,
    TopK {
        k: usize,
    },
    Label,
    Round {
        decimals: u32,
    },
    ReverseSigmoid {
        #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
        beta: f32,
        #[serde(serialize_with = "aisec_core::serialize_f32_decimal")]
        gamma: f32,
    },
}

impl Hardening {
    /// The form's name, as `--defend` and the report's `mode` spell it.
    pub fn mode(&self) -> &'static str {
        match self {
            Hardening::Top1 => "top1",
            Hardening::TopK { .. } => "top-k",
            Hardening::Label => "label",
            Hardening::Round { .. } => "round",
            Hardening::ReverseSigmoid { .. } => "reverse-sigmoid",
        }
    }

    /// What the hardened API answers in place of `out` (a batch of `[n, classes]` rows).
    pub fn answer(&self, out: QueryOutput, classes: usize) -> QueryOutput {
        match *self {
            Hardening::Top1 => out.restrict(OutputKind::TopK(1), classes),
            Hardening::TopK { k } => out.restrict(OutputKind::TopK(k), classes),
            Hardening::Label => out.restrict(OutputKind::Label, classes),
            Hardening::Round { decimals } => {
                match out.restrict(OutputKind::Probabilities, classes) {
                    QueryOutput::Probabilities(p) => QueryOutput::Probabilities(
                        p.chunks(classes)
                            .flat_map(|row| rounded_row(row, decimals))
                            .collect(),
                    ),
                    other => other,
                }
            }
            Hardening::ReverseSigmoid { beta, gamma } => {
                match out.restrict(OutputKind::Probabilities, classes) {
                    QueryOutput::Probabilities(p) => QueryOutput::Probabilities(
                        p.chunks(classes)
                            .flat_map(|row| reverse_sigmoid(row, beta, gamma))
                            .collect(),
                    ),
                    other => other,
                }
            }
        }
    }

    /// The reverse-sigmoid setting ART uses by default.
    pub const REVERSE_SIGMOID: Hardening = Hardening::ReverseSigmoid {
        beta: 1.0,
        gamma: 0.1,
    };

    pub fn describe(&self) -> String {
        match self {
            Hardening::Top1 => "a top-1 API".into(),
            Hardening::TopK { k } => format!("a top-{k} API"),
            Hardening::Label => "a label-only API".into(),
            Hardening::Round { decimals } => format!("an API rounding to {decimals} decimals"),
            Hardening::ReverseSigmoid { beta, gamma } => {
                format!("a reverse-sigmoid API (β = {beta}, γ = {gamma})")
            }
        }
    }
}

/// Lee et al.'s perturbation of one probability row, as ART applies it: subtract
/// β(σ(γ·logit p) − ½), clip to [0, 1], renormalise.
pub fn reverse_sigmoid(row: &[f32], beta: f32, gamma: f32) -> Vec<f32> {
    const EPS: f32 = 1e-6;
    let bent: Vec<f32> = row
        .iter()
        .map(|&p| {
            let c = p.clamp(EPS, 1.0 - EPS);
            let logit = (c / (1.0 - c)).ln();
            let r = beta * (1.0 / (1.0 + (-gamma * logit).exp()) - 0.5);
            (p - r).clamp(0.0, 1.0)
        })
        .collect();
    let sum: f32 = bent.iter().sum();
    if sum <= 0.0 {
        return row.to_vec();
    }
    bent.iter().map(|v| v / sum).collect()
}

pub struct HardenedOutputs {
    inner: Arc<dyn Classifier>,
    mode: Hardening,
    info: ModelInfo,
}

impl HardenedOutputs {
    pub fn new(inner: Arc<dyn Classifier>, mode: Hardening) -> Self {
        let mut info = inner.info().clone();
        info.description = format!("{} behind {}", info.description, mode.describe());
        HardenedOutputs { inner, mode, info }
    }
}

/// One row rounded to `decimals`, its label still the model's: where rounding ties the top
/// class with another, the model's own top class is raised by one unit in the last place, so
/// that whoever reads the answer's label (argmax, first index on ties) reads the label the
/// served model gives — rounding hides the margins, not the decision.
fn rounded_row(row: &[f32], decimals: u32) -> Vec<f32> {
    let mut out: Vec<f32> = row.iter().map(|v| round_to(*v, decimals)).collect();
    let top = aisec_ml::tensor::argmax_rows(row, row.len())[0];
    let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if out[top] == max && out.iter().position(|v| *v == max) != Some(top) {
        out[top] = f32::from_bits(out[top].to_bits() + 1);
    }
    out
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
            Hardening::TopK { k } => OutputKind::TopK(k),
            Hardening::Label => OutputKind::Label,
            Hardening::Round { .. } | Hardening::ReverseSigmoid { .. } => OutputKind::Probabilities,
        }
    }

    fn query(&self, x: &[f32]) -> Result<QueryOutput, MlError> {
        Ok(self.mode.answer(self.inner.query(x)?, self.info.num_classes))
    }

    crate::guard::forward_to_inner!(evaluate, scores, budget);
}

/// `top1`, `topk:K`, `label`, `round:D` (also `rounding:D`) or `reverse-sigmoid`.
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    use crate::registry::{bare, number};
    let mode = match keyword {
        "top1" => bare(argument, Hardening::Top1),
        "label" | "label-only" => bare(argument, Hardening::Label),
        "reverse-sigmoid" => bare(argument, Hardening::REVERSE_SIGMOID),
        "topk" => number(argument, "K ≥ 1 classes", |k: &usize| *k >= 1)
            .map(|k| DefenseSpec::new(Hardening::TopK { k })),
        "round" | "rounding" => number(argument, "D decimals from 0 to 9", |d: &u32| *d <= 9)
            .map(|decimals| DefenseSpec::new(Hardening::Round { decimals })),
        _ => return None,
    };
    Some(mode)
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(Hardening, {
    fn guard(&self, model: Arc<dyn Classifier>, _seed: u64) -> Option<Guarded> {
        Some(Guarded::plain(Arc::new(HardenedOutputs::new(model, *self))))
    }

    fn answer_view(&self) -> Option<aisec_attacks::membership::shadows::AnswerView> {
        let mode = *self;
        Some(Arc::new(move |out, classes| mode.answer(out, classes)))
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_is_the_one_the_report_writes() {
        for h in [
            Hardening::Top1,
            Hardening::TopK { k: 3 },
            Hardening::Label,
            Hardening::Round { decimals: 2 },
            Hardening::ReverseSigmoid {
                beta: 0.5,
                gamma: 1.0,
            },
        ] {
            assert_eq!(serde_json::to_value(h).unwrap()["mode"], h.mode());
        }
    }

    #[test]
    fn rounding() {
        assert_eq!(round_to(0.123456, 2), 0.12);
        assert_eq!(round_to(0.996, 2), 1.0);
    }

    /// Rounding to 1 decimal ties 0.46 and 0.54 at 0.5; the answer's label stays the model's
    /// (class 1), where argmax on the bare rounded row would give class 0. (HSJ behind
    /// `round:1` lost its successes on exactly such ties.)
    #[test]
    fn rounding_ties_keep_the_served_models_label() {
        let out = Hardening::Round { decimals: 1 }
            .answer(QueryOutput::Probabilities(vec![0.46, 0.54, 0.0, 0.2, 0.8, 0.0]), 3);
        assert_eq!(out.labels(3), vec![1, 1]);
        let QueryOutput::Probabilities(p) = out else {
            panic!()
        };
        assert!((p[0] - 0.5).abs() < 1e-6 && (p[1] - 0.5).abs() < 1e-6, "{p:?}");
        assert_eq!(&p[3..], &[0.2, 0.8, 0.0]);
    }

    #[test]
    fn reverse_sigmoid_keeps_the_top_class_and_bends_the_ratios() {
        let row = [0.9, 0.07, 0.02, 0.01];
        let bent = reverse_sigmoid(&row, 1.0, 0.1);
        assert!((bent.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(aisec_ml::tensor::argmax_rows(&bent, 4), vec![0]);
        // The log-ratio of two classes is no longer the model's.
        let before = (row[1] / row[3]).ln();
        let after = (bent[1] / bent[3]).ln();
        assert!((before - after).abs() > 1.0, "{before} vs {after}");
        // Tiny probabilities are pushed up and their order among themselves reversed.
        let tiny = reverse_sigmoid(&[0.98, 0.019, 1e-3, 1e-5], 1.0, 0.1);
        assert!(tiny[3] > tiny[2], "{tiny:?}");
    }
}
