//! Weight integrity against fault injection: a SHA-256 digest of each quantized layer taken
//! when the model is loaded, verified again on a schedule (every N inferences, or a timer);
//! a mismatch names the layer and stops serving. A flipped bit always changes the digest, so
//! detection is certain once a verification runs; what it costs is the hashing, reported per
//! verification against one batch's inference, and what it leaves is the window between two
//! verifications. Filed under AML.M0014 Verify AI Artifacts (Deployment; Monitoring and
//! Maintenance); measured by `aisec attack bitflip --defend checksum`.

use std::time::Instant;

use aisec_attacks::fault::quant::Quantized;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::defense::{Action, AppliesTo, DefenseInfo, Family, Role};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.weight-integrity",
    summary: "Per-layer SHA-256 digests of the deployed weights, taken at load and verified on a schedule: a flipped bit is detected at the next verification",
    mitigations: &["AML.M0014"],
    phases: &["Deployment", "Monitoring and Maintenance"],
    applies_to: AppliesTo::Model,
    action: Action::Watch,
    role: Role::Detector,
    families: &[Family::Fault],
    measured_by: &["fault.bfa"],
    adaptive_attack: None,
    forms: &["checksum"],
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WeightIntegrityConfig {}

pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    if keyword != "checksum" {
        return None;
    }
    Some(match argument {
        None => Ok(DefenseSpec::new(WeightIntegrityConfig {})),
        Some(a) => Err(format!("it takes no argument, found `{a}`")),
    })
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(WeightIntegrityConfig);

/// One layer's digest, hex.
pub fn digests(q: &Quantized) -> Vec<String> {
    q.layers
        .iter()
        .map(|l| {
            let bytes: Vec<u8> = l.q.iter().map(|v| *v as u8).collect();
            format!("{:x}", Sha256::digest(&bytes))
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Layers whose digest no longer matches.
    pub tampered_layers: Vec<String>,
    pub detected: bool,
    /// Time to hash every layer once.
    pub seconds: f64,
}

/// Checks `now` against the digests taken at load.
pub fn verify(at_load: &[String], now: &Quantized) -> Verification {
    let started = Instant::now();
    let current = digests(now);
    let tampered_layers: Vec<String> = now
        .layers
        .iter()
        .zip(current.iter().zip(at_load))
        .filter(|(_, (a, b))| a != b)
        .map(|(l, _)| l.name.clone())
        .collect();
    Verification {
        detected: !tampered_layers.is_empty() || current.len() != at_load.len(),
        tampered_layers,
        seconds: started.elapsed().as_secs_f64(),
    }
}
