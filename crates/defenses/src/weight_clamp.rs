//! Weight clamping against bit flips (the range restriction of weight reconstruction, Li et
//! al., "Defending Bit-Flip Attack through DNN Weight Reconstruction", DAC 2020): when the
//! model is deployed, each group of G consecutive quantized weights records its [min, max];
//! inference clamps every weight to its group's range. A flipped high bit, the damaging kind
//! (the sign bit moves a weight by 128 steps), throws the weight outside a small group's
//! range and is pulled back to its edge; the attacker, who knows the defence, is left with
//! flips that stay inside the ranges. The ranges cost two bytes per group and are checked
//! like the weights. Measured by attacking again: the flips the bit search then needs, and
//! the accuracy it reaches with the same budget. Symmetric quantization leaves a layer's range
//! lopsided (the digits CNN's output layer spans −127..91), so even one group per layer
//! holds some flips back; the ranges are stored beside the weights (two bytes per group; G =
//! 1 stores a copy) and need the same protection. Filed under AML.M0003 Model Hardening (ML
//! Model Engineering, Deployment).

use serde::Serialize;

use crate::defense::{Action, AppliesTo, DefenseInfo, Family, Role};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.weight-clamp",
    summary: "Clamp each group of G quantized weights to the range it had at deployment: a flipped high bit is held inside its group's range; measured by the flips the bit search then needs",
    mitigations: &["AML.M0003"],
    phases: &["ML Model Engineering", "Deployment"],
    applies_to: AppliesTo::Model,
    action: Action::Wrap,
    role: Role::QueryPath,
    families: &[Family::Fault],
    measured_by: &["fault.bfa"],
    adaptive_attack: Some("the same bit search, ranking flips by the value inference uses after the clamp"),
    forms: &["clamp", "clamp:G"],
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WeightClampConfig {
    /// Weights per group (default 16).
    pub group: usize,
}

pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    if keyword != "clamp" {
        return None;
    }
    Some(match argument {
        None => Ok(DefenseSpec::new(WeightClampConfig { group: 16 })),
        Some(_) => crate::registry::number(argument, "G ≥ 1 (weights per group)", |v: &usize| {
            (1..=1 << 30).contains(v)
        })
        .map(|group| DefenseSpec::new(WeightClampConfig { group })),
    })
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(WeightClampConfig);
