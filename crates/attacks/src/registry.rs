//! Every attack aisec has, for the CLI and the assessment to discover. Each attack module
//! declares its `ENTRY`; adding an attack means writing the module and naming it once in its
//! family's `registered!` list (`evasion/mod.rs`, `extract/mod.rs`, `poison/mod.rs`).

use crate::evasion::{self, EvasionAttack, EvasionParams};
use crate::{AttackInfo, Result};

/// A registered evasion attack: its module's description and how to build it.
#[derive(Clone, Copy)]
pub struct EvasionEntry {
    pub info: &'static AttackInfo,
    /// The optional command-line flags it reads besides `--eps` and `--norm`; any other is
    /// refused rather than ignored.
    pub reads: &'static [&'static str],
    pub build: fn(&EvasionParams) -> Result<Box<dyn EvasionAttack>>,
}

impl std::ops::Deref for EvasionEntry {
    type Target = AttackInfo;
    fn deref(&self) -> &AttackInfo {
        self.info
    }
}

pub fn evasion_attacks() -> &'static [EvasionEntry] {
    evasion::ATTACKS
}

/// Finds an evasion attack by registry name or alias.
pub fn find_evasion(name: &str) -> Option<&'static EvasionEntry> {
    let wanted = name.trim().to_ascii_lowercase();
    evasion_attacks()
        .iter()
        .find(|e| e.name == wanted || e.aliases.contains(&wanted.as_str()))
}

/// What the command line can set on an extraction attack; `None` keeps its default.
#[derive(Debug, Clone, Default)]
pub struct ExtractionParams {
    /// Equation solving: queries to spend (default d + 1, or k·(d + 1) for retraining).
    pub queries: Option<u64>,
    pub substitute: Option<aisec_ml::net::Architecture>,
    pub solver: Option<crate::extract::equation::Solver>,
    pub strategy: Option<crate::extract::knockoff::Strategy>,
    pub pool: Option<crate::extract::knockoff::Pool>,
}

/// A registered extraction attack.
#[derive(Clone, Copy)]
pub struct ExtractionEntry {
    pub info: &'static AttackInfo,
    /// The optional command-line flags it reads; any other is refused rather than ignored.
    pub reads: &'static [&'static str],
    pub build: fn(&ExtractionParams) -> Result<Box<dyn crate::extract::ExtractionAttack>>,
}

impl std::ops::Deref for ExtractionEntry {
    type Target = AttackInfo;
    fn deref(&self) -> &AttackInfo {
        self.info
    }
}

pub fn extraction_attacks() -> &'static [ExtractionEntry] {
    crate::extract::ATTACKS
}

pub fn find_extraction(name: &str) -> Option<&'static ExtractionEntry> {
    let wanted = name.trim().to_ascii_lowercase();
    extraction_attacks()
        .iter()
        .find(|e| e.name == wanted || e.aliases.contains(&wanted.as_str()))
}

/// The training-time attacks (`aisec attack poison`), with their ATLAS techniques.
pub fn poisoning_attacks() -> Vec<&'static AttackInfo> {
    crate::poison::ATTACKS
        .iter()
        .flat_map(|m| m.iter().copied())
        .collect()
}

/// Every attack, for `aisec attack list`.
pub fn listing() -> Vec<&'static AttackInfo> {
    let mut all: Vec<&'static AttackInfo> = evasion_attacks().iter().map(|e| e.info).collect();
    all.extend(poisoning_attacks());
    all.extend(extraction_attacks().iter().map(|e| e.info));
    all.extend(crate::membership::ATTACKS.iter().map(|e| e.info));
    all.push(&crate::inversion::mi_face::INFO);
    all.push(&crate::inversion::attribute::INFO);
    all.push(&crate::fault::bfa::INFO);
    all.push(&crate::sidechannel::timing::INFO);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_builds_with_defaults_and_names_itself() {
        for e in evasion_attacks() {
            let attack = (e.build)(&EvasionParams::default()).unwrap();
            assert_eq!(attack.name(), e.name);
            assert!(!e.aliases.is_empty(), "{}", e.name);
            assert!(!attack.atlas().is_empty());
            for id in attack.atlas() {
                assert!(aisec_core::AtlasRef::parse(id).is_ok(), "{id}");
            }
        }
        assert_eq!(find_evasion("PGD").unwrap().name, "evasion.pgd");
        assert_eq!(find_evasion("cw").unwrap().name, "evasion.cw");
        assert!(find_evasion("jsma").is_none());
        for e in extraction_attacks() {
            let attack = (e.build)(&ExtractionParams::default()).unwrap();
            assert_eq!(attack.name(), e.name);
            for id in attack.atlas() {
                assert!(aisec_core::AtlasRef::parse(id).is_ok(), "{id}");
            }
        }
        assert_eq!(
            find_extraction("knockoff").unwrap().name,
            "extract.knockoff"
        );
        for e in crate::membership::ATTACKS {
            let attack = (e.build)(&Default::default()).unwrap();
            assert_eq!(attack.name(), e.name);
            assert_eq!(crate::membership::find(e.aliases[0]).unwrap().name, e.name);
        }
    }
}
