//! Spectral signatures (Tran, Li, Madry 2018, "Spectral Signatures in Backdoor Attacks"):
//! within each class, poisoned examples stand out along the top singular vector of the
//! centred penultimate-layer activations. Score each example by its squared projection on
//! that direction, remove the `removal × rate × class size` highest scores, retrain.
//!
//! ATLAS: AML.M0007 Sanitize Training Data (phase Data Preparation); the retrained model is
//! checked as AML.M0008 Validate AI Model.

use serde::Serialize;

use crate::linalg;

use crate::defense::DefenseInfo;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.spectral-signatures",
    summary: "Spectral signatures: per class, drop the examples with the largest projection on the top singular vector of the activations, retrain (Tran et al. 2018)",
    forms: &["spectral"],
    ..crate::defense::BACKDOOR_DATA_FILTER
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpectralConfig {
    /// The defender's upper bound on the poisoned share of a class.
    pub expected_rate: f64,
    /// Remove this multiple of the expected poisons (1.5 in the paper).
    pub removal: f64,
}

impl Default for SpectralConfig {
    fn default() -> Self {
        SpectralConfig {
            expected_rate: 0.1,
            removal: 1.5,
        }
    }
}

/// Indices (into the training set) flagged as poisons. `activations` is `n × width`.
pub fn flag(
    activations: &[f32],
    width: usize,
    labels: &[usize],
    classes: usize,
    config: &SpectralConfig,
    seed: u64,
) -> Vec<usize> {
    let mut flagged = Vec::new();
    for class in 0..classes {
        let (members, centred) = linalg::class_rows(activations, width, labels, class);
        if members.len() < 3 {
            continue;
        }
        let top = linalg::principal_directions(&centred, width, 1, seed + class as u64);
        let scores: Vec<f64> = linalg::project(&centred, width, &top)
            .into_iter()
            .map(|p| p[0] * p[0])
            .collect();
        let remove = ((config.removal * config.expected_rate * members.len() as f64).ceil()
            as usize)
            .min(members.len());
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
        flagged.extend(order[..remove].iter().map(|&k| members[k]));
    }
    flagged.sort_unstable();
    flagged
}

/// `spectral`, with its defaults.
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<crate::DefenseSpec, String>> {
    (keyword == "spectral")
        .then(|| crate::registry::bare(argument, SpectralConfig::default()))
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(SpectralConfig);
