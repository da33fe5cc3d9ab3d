//! Early stopping as a cheap baseline against membership inference: fewer passes over the
//! members leave the model less time to memorise them. The members are retrained for
//! `EPOCHS` epochs and attacked again; the adversary's shadows stop at the same epoch. Filed
//! under AML.M0003 Model Hardening (ML Model Engineering), as the other training-recipe
//! defences against privacy attacks.

use aisec_attacks::membership::Recipe;
use serde::Serialize;

use crate::defense::{DefenseInfo, PrivacyRetraining};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.early-stop",
    summary: "Early stopping: retrain for fewer epochs, a cheap baseline against membership inference",
    adaptive_attack: Some("the same attack with shadow models stopped at the same epoch"),
    forms: &["early-stop:N"],
    ..crate::defense::PRIVACY_RETRAINING
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EarlyStopConfig {
    pub epochs: usize,
}

/// `early-stop:N`.
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    if keyword != "early-stop" {
        return None;
    }
    Some(
        crate::registry::number(argument, "N ≥ 1 (epochs)", |v: &usize| *v >= 1)
            .map(|epochs| DefenseSpec::new(EarlyStopConfig { epochs })),
    )
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(EarlyStopConfig, {
    fn privacy_retraining(&self) -> Option<&dyn PrivacyRetraining> {
        Some(self)
    }
});

impl PrivacyRetraining for EarlyStopConfig {
    fn recipe(&self, base: &Recipe) -> Result<Recipe, String> {
        if self.epochs >= base.train.epochs {
            return Err(format!(
                "early-stop:{} does not stop early: the target trains for {} epochs",
                self.epochs, base.train.epochs
            ));
        }
        let mut recipe = base.clone();
        recipe.train.epochs = self.epochs;
        Ok(recipe)
    }
}
