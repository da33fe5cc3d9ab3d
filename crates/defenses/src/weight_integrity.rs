//! Weight integrity against fault injection: a SHA-256 digest of each quantized layer taken
//! when the model is loaded, verified again on a schedule (every N inferences, or a timer);
//! a mismatch names the layer and stops serving. A flipped bit always changes the digest, so
//! detection is certain once a verification runs; what it costs is the hashing, reported per
//! verification against one batch's inference, and what it leaves is the window between two
//! verifications. Filed under AML.M0014 Verify AI Artifacts (Deployment; Monitoring and
//! Maintenance); measured by `aisec attack bitflip --defend checksum`.

use std::time::Instant;

use aisec_attacks::fault::quant::Quantized;
use aisec_ml::weights::WeightTensor;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::defense::{Action, AppliesTo, DefenseInfo, Family, Role};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.weight-integrity",
    summary: "SHA-256 digests of every stored weight tensor (int8 layers and float biases), taken at load and verified on a schedule: a flipped bit is detected at the next verification",
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

/// A digest per stored tensor, hex: each quantized layer's int8 values, and each tensor left
/// in float (the biases: one exponent bit of a bias can wreck the model too), its f32 bytes.
pub fn digests(q: &Quantized, weights: &[WeightTensor]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = q
        .layers
        .iter()
        .map(|l| {
            let bytes: Vec<u8> = l.q.iter().map(|v| *v as u8).collect();
            (l.name.clone(), format!("{:x}", Sha256::digest(&bytes)))
        })
        .collect();
    for (i, w) in weights.iter().enumerate() {
        if q.layers.iter().any(|l| l.tensor == i) {
            continue;
        }
        let bytes: Vec<u8> = w.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.push((w.name.clone(), format!("{:x}", Sha256::digest(&bytes))));
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Tensors whose digest no longer matches.
    pub tampered_layers: Vec<String>,
    pub detected: bool,
    /// What the digests cover: the int8 layers and the float tensors.
    pub int8_layers: usize,
    pub float_tensors: usize,
    pub bytes_hashed: usize,
    /// Time to hash everything once.
    pub seconds: f64,
}

/// Checks the stored tensors now against the digests taken at load.
pub fn verify(
    at_load: &[(String, String)],
    now: &Quantized,
    weights: &[WeightTensor],
) -> Verification {
    let started = Instant::now();
    let current = digests(now, weights);
    let seconds = started.elapsed().as_secs_f64();
    let tampered_layers: Vec<String> = current
        .iter()
        .zip(at_load)
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0.clone())
        .collect();
    let float_tensors = weights.len().saturating_sub(now.layers.len());
    let bytes_hashed = now.layers.iter().map(|l| l.q.len()).sum::<usize>()
        + weights
            .iter()
            .enumerate()
            .filter(|(i, _)| !now.layers.iter().any(|l| l.tensor == *i))
            .map(|(_, w)| 4 * w.values.len())
            .sum::<usize>();
    Verification {
        detected: !tampered_layers.is_empty() || current.len() != at_load.len(),
        tampered_layers,
        int8_layers: now.layers.len(),
        float_tensors,
        bytes_hashed,
        seconds,
    }
}
