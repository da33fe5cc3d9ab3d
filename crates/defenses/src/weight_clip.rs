//! Weight clipping before quantization as a hardening against bit flips: each layer's range
//! is K standard deviations instead of its largest weight, so the quantization step is finer
//! and the most damaging flip (the sign bit: Δq = ±128) moves a weight by less (128·s with a
//! smaller s); the outliers beyond K σ saturate, which the clean accuracy reports. Measured
//! by attacking again: the flips the bit search then needs to reach chance, against the
//! undefended model's. (Rakin et al. harden with piece-wise clustering and binarization; He
//! et al. 2020 with binarization-aware training; clipping is the cheapest of the family.)
//! Filed under AML.M0003 Model Hardening (ML Model Engineering).

use serde::Serialize;

use crate::defense::{Action, AppliesTo, DefenseInfo, Family, Role};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.weight-clip",
    summary: "Clip each layer at K standard deviations before 8-bit quantization: a finer step, so a flipped bit moves a weight less; measured by the flips the bit search then needs",
    mitigations: &["AML.M0003"],
    phases: &["ML Model Engineering"],
    applies_to: AppliesTo::Model,
    action: Action::Retrain,
    role: Role::Retraining,
    families: &[Family::Fault],
    measured_by: &["fault.bfa"],
    adaptive_attack: Some("the same bit search on the clipped model"),
    forms: &["clip", "clip:K"],
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WeightClipConfig {
    /// Standard deviations kept (default 3).
    pub sigmas: f32,
}

pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    if keyword != "clip" {
        return None;
    }
    Some(match argument {
        None => Ok(DefenseSpec::new(WeightClipConfig { sigmas: 3.0 })),
        Some(_) => crate::registry::number(argument, "K in [0.5, 100] (standard deviations)", |v: &f32| {
            (0.5..=100.0).contains(v)
        })
        .map(|sigmas| DefenseSpec::new(WeightClipConfig { sigmas })),
    })
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(WeightClipConfig);
