//! L2 regularisation (weight decay) as a cheap baseline against membership inference:
//! overfitting is what the attacks read, and a penalty on the weights narrows the gap between
//! members and non-members (Shokri et al. 2017 and Nasr et al. 2018 report it as a partial
//! defence). The members are retrained with Adam's weight decay λ and attacked again; the
//! adversary's shadows use the same λ. Filed, like DP-SGD, under AML.M0003 Model Hardening
//! (ML Model Engineering): ATLAS has no privacy-specific mitigation.

use aisec_attacks::membership::Recipe;
use serde::Serialize;

use crate::defense::{DefenseInfo, PrivacyRetraining};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.l2",
    summary: "L2 regularisation: retrain with weight decay λ, a cheap baseline against membership inference",
    adaptive_attack: Some("the same attack with shadow models trained with the same weight decay"),
    forms: &["l2:LAMBDA"],
    ..crate::defense::PRIVACY_RETRAINING
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct L2Config {
    /// Weight decay λ (Adam's L2 penalty).
    pub weight_decay: f64,
}

/// `l2:LAMBDA`.
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    if keyword != "l2" {
        return None;
    }
    Some(
        crate::registry::number(argument, "LAMBDA > 0 (the weight decay)", |v: &f64| {
            v.is_finite() && *v > 0.0
        })
        .map(|weight_decay| DefenseSpec::new(L2Config { weight_decay })),
    )
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(L2Config, {
    fn privacy_retraining(&self) -> Option<&dyn PrivacyRetraining> {
        Some(self)
    }
});

impl PrivacyRetraining for L2Config {
    fn recipe(&self, base: &Recipe) -> Result<Recipe, String> {
        let mut recipe = base.clone();
        recipe.train.weight_decay = self.weight_decay;
        Ok(recipe)
    }
}
