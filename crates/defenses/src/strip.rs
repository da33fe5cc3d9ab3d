//! STRIP (Gao et al. 2019, "STRIP: A Defence Against Trojan Attacks on Deep Neural
//! Networks"): at inference, superimpose the input on `copies` clean inputs and average the
//! entropy of the predictions. A trigger keeps forcing its target whatever it is blended
//! with, so trojaned inputs have unusually low entropy. The threshold is the `frr` quantile
//! of clean inputs' entropies (their false rejection rate).
//!
//! ATLAS: AML.M0015 Adversarial Input Detection (phase Deployment), against AML.T0043.004.

use aisec_core::rng::Rng;
use aisec_ml::model::{Classifier, QueryOutput};
use aisec_ml::MlError;
use serde::Serialize;

use crate::defense::{Role, Action, AppliesTo, DefenseInfo, Family};

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.strip",
    summary: "STRIP: superimpose each input on clean ones and flag predictions that stay certain (Gao et al. 2019)",
    mitigations: &["AML.M0015"],
    phases: &["Deployment", "Monitoring and Maintenance"],
    applies_to: AppliesTo::Inputs,
    action: Action::Filter,
    role: Role::Detector,
    families: &[Family::Poisoning],
    measured_by: &["poison.badnets", "poison.blend"],
    adaptive_attack: None,
    forms: &["strip"],
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StripConfig {
    pub copies: usize,
    /// Weight of the input in each blend (0.5: an even superimposition).
    pub weight: f32,
    /// False rejection rate on clean inputs that sets the threshold.
    pub frr: f64,
}

impl Default for StripConfig {
    fn default() -> Self {
        StripConfig {
            copies: 20,
            weight: 0.5,
            frr: 0.05,
        }
    }
}

pub struct Strip<'a> {
    pub config: StripConfig,
    /// Clean inputs to blend with (the defender's own held-out data).
    pub overlays: &'a [f32],
    pub threshold: f64,
}

/// Mean prediction entropy of each input of `x` blended with `copies` overlays.
pub fn entropies(
    model: &dyn Classifier,
    config: &StripConfig,
    overlays: &[f32],
    x: &[f32],
    seed: u64,
) -> Result<Vec<f64>, MlError> {
    let f = model.info().features();
    let classes = model.info().num_classes;
    let pool = overlays.len() / f;
    if pool == 0 {
        return Err(MlError::Invalid(
            "STRIP needs clean inputs to superimpose".into(),
        ));
    }
    let mut rng = Rng::derive(seed, "strip");
    let mut out = Vec::with_capacity(x.len() / f);
    for row in x.chunks(f) {
        let mut blended = Vec::with_capacity(config.copies * f);
        for _ in 0..config.copies {
            let j = (rng.next_u64() % pool as u64) as usize;
            let overlay = &overlays[j * f..(j + 1) * f];
            blended.extend(
                row.iter()
                    .zip(overlay)
                    .map(|(a, b)| config.weight * a + (1.0 - config.weight) * b),
            );
        }
        let probs = match model
            .scores(&blended)?
            .restrict(aisec_ml::model::OutputKind::Probabilities, classes)
        {
            QueryOutput::Probabilities(p) => p,
            _ => {
                return Err(MlError::Invalid(
                    "STRIP needs the model's probabilities".into(),
                ))
            }
        };
        let h: f64 = probs
            .chunks(classes)
            .map(|p| {
                -p.iter()
                    .filter(|v| **v > 0.0)
                    .map(|v| f64::from(*v) * f64::from(*v).ln())
                    .sum::<f64>()
            })
            .sum::<f64>()
            / config.copies as f64;
        out.push(h);
    }
    Ok(out)
}

impl<'a> Strip<'a> {
    /// Sets the threshold at the `frr` quantile of `clean`'s entropies.
    pub fn calibrate(
        model: &dyn Classifier,
        config: StripConfig,
        overlays: &'a [f32],
        clean: &[f32],
        seed: u64,
    ) -> Result<Self, MlError> {
        let mut h = entropies(model, &config, overlays, clean, seed)?;
        h.sort_by(f64::total_cmp);
        let k = ((config.frr * h.len() as f64).floor() as usize).min(h.len().saturating_sub(1));
        let Some(&threshold) = h.get(k) else {
            return Err(MlError::Invalid(
                "STRIP needs clean inputs to calibrate its threshold on; none were given".into(),
            ));
        };
        Ok(Strip {
            config,
            overlays,
            threshold,
        })
    }

    /// Whether each input is flagged as trojaned.
    pub fn flags(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        seed: u64,
    ) -> Result<Vec<bool>, MlError> {
        Ok(entropies(model, &self.config, self.overlays, x, seed)?
            .into_iter()
            .map(|h| h < self.threshold)
            .collect())
    }
}

/// `strip`, with its defaults.
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<crate::DefenseSpec, String>> {
    (keyword == "strip")
        .then(|| crate::registry::bare(argument, StripConfig::default()))
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(StripConfig);
