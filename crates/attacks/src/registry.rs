//! Every attack aisec has, for the CLI and the assessment to discover. Adding an attack
//! means adding its module and one entry here.

use serde::Serialize;

use crate::evasion::{self, EvasionAttack, EvasionParams};
use crate::{Access, Result};

/// A registered evasion attack.
#[derive(Clone, Copy)]
pub struct EvasionEntry {
    pub name: &'static str,
    /// Short names the CLI accepts (`pgd` for `evasion.pgd`).
    pub aliases: &'static [&'static str],
    pub summary: &'static str,
    pub access: Access,
    pub build: fn(&EvasionParams) -> Result<Box<dyn EvasionAttack>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttackListing {
    pub name: &'static str,
    pub summary: &'static str,
    pub access: Access,
    pub atlas: Vec<&'static str>,
}

pub fn evasion_attacks() -> &'static [EvasionEntry] {
    &[
        EvasionEntry {
            name: "evasion.fgsm",
            aliases: &["fgsm"],
            summary: "Fast Gradient Sign Method: one gradient step of size ε (Goodfellow et al. 2015)",
            access: Access::WhiteBox,
            build: |p| Ok(Box::new(evasion::fgsm::Fgsm(evasion::fgsm::FgsmConfig::from_params(p)?))),
        },
        EvasionEntry {
            name: "evasion.pgd",
            aliases: &["pgd"],
            summary: "Projected Gradient Descent with random start and restarts, L∞ or L2 (Madry et al. 2018)",
            access: Access::WhiteBox,
            build: |p| Ok(Box::new(evasion::pgd::Pgd(evasion::pgd::PgdConfig::from_params(p)?))),
        },
        EvasionEntry {
            name: "evasion.apgd-ce",
            aliases: &["apgd", "apgd-ce"],
            summary: "Auto-PGD on cross-entropy: step-size-free PGD with momentum (Croce & Hein 2020)",
            access: Access::WhiteBox,
            build: |p| Ok(Box::new(evasion::apgd::Apgd(evasion::apgd::ApgdConfig::from_params(p)?))),
        },
        EvasionEntry {
            name: "evasion.cw",
            aliases: &["cw", "cw-l2", "carlini-wagner"],
            summary: "Carlini & Wagner L2: minimum-norm optimisation with a binary search over c (Carlini & Wagner 2017)",
            access: Access::WhiteBox,
            build: |p| Ok(Box::new(evasion::cw::CarliniWagner(evasion::cw::CwConfig::from_params(p)?))),
        },
        EvasionEntry {
            name: "evasion.deepfool",
            aliases: &["deepfool"],
            summary: "DeepFool: minimum-norm L2 steps to the nearest linearised boundary (Moosavi-Dezfooli et al. 2016)",
            access: Access::WhiteBox,
            build: |p| Ok(Box::new(evasion::deepfool::DeepFool(evasion::deepfool::DeepFoolConfig::from_params(p)?))),
        },
        EvasionEntry {
            name: "evasion.square",
            aliases: &["square"],
            summary: "Square Attack: score-based random search over square windows, L∞ or L2 (Andriushchenko et al. 2020)",
            access: Access::ScoreBased,
            build: |p| Ok(Box::new(evasion::square::Square(evasion::square::SquareConfig::from_params(p)?))),
        },
        EvasionEntry {
            name: "evasion.hsj",
            aliases: &["hsj", "hopskipjump"],
            summary: "HopSkipJump: decision-based (label-only) boundary walk, L2 or L∞ (Chen et al. 2020)",
            access: Access::DecisionBased,
            build: |p| Ok(Box::new(evasion::hsj::HopSkipJump::new(evasion::hsj::HsjConfig::from_params(p)?))),
        },
    ]
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
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub summary: &'static str,
    pub access: Access,
    pub build: fn(&ExtractionParams) -> Result<Box<dyn crate::extract::ExtractionAttack>>,
}

pub fn extraction_attacks() -> &'static [ExtractionEntry] {
    use crate::extract::{equation, jacobian, knockoff};
    &[
        ExtractionEntry {
            name: "extract.equation",
            aliases: &["equation", "equation-solving"],
            summary: "Equation solving: exact recovery of a softmax regression from d + 1 probability answers, or (adaptive) retraining from labels (Tramèr et al. 2016)",
            access: Access::ScoreBased,
            build: |p| {
                let mut c = equation::EquationConfig::default();
                c.queries = p.queries.or(c.queries);
                c.substitute = p.substitute.unwrap_or(c.substitute);
                c.solver = p.solver.unwrap_or(c.solver);
                Ok(Box::new(equation::EquationSolving(c)))
            },
        },
        ExtractionEntry {
            name: "extract.jacobian",
            aliases: &["jacobian", "jbda", "papernot"],
            summary: "Jacobian-based dataset augmentation from 150 seeds, the set doubling each round (Papernot et al. 2017)",
            access: Access::DecisionBased,
            build: |p| {
                let mut c = jacobian::JacobianConfig::default();
                c.substitute = p.substitute.unwrap_or(c.substitute);
                Ok(Box::new(jacobian::JacobianAugmentation(c)))
            },
        },
        ExtractionEntry {
            name: "extract.knockoff",
            aliases: &["knockoff", "knockoff-nets"],
            summary: "Knockoff Nets: a substitute trained on the answers to a public or synthetic pool, random or bandit-adaptive (Orekondy et al. 2019)",
            access: Access::DecisionBased,
            build: |p| {
                let mut c = knockoff::KnockoffConfig::default();
                c.substitute = p.substitute.unwrap_or(c.substitute);
                c.strategy = p.strategy.unwrap_or(c.strategy);
                c.pool = p.pool.unwrap_or(c.pool);
                Ok(Box::new(knockoff::Knockoff(c)))
            },
        },
    ]
}

pub fn find_extraction(name: &str) -> Option<&'static ExtractionEntry> {
    let wanted = name.trim().to_ascii_lowercase();
    extraction_attacks()
        .iter()
        .find(|e| e.name == wanted || e.aliases.contains(&wanted.as_str()))
}

/// The training-time attacks (`aisec attack poison`), with their ATLAS techniques.
pub fn poisoning_attacks() -> Vec<AttackListing> {
    use crate::poison::{badnets, label_flip};
    vec![
        AttackListing {
            name: "poison.badnets",
            summary: "BadNets: a patch trigger stamped on a share of the training inputs, relabelled to the target (Gu et al. 2017)",
            access: Access::TrainingData,
            atlas: badnets::ATLAS.to_vec(),
        },
        AttackListing {
            name: "poison.blend",
            summary: "Blended backdoor: a fixed random pattern mixed in at ratio α (Chen et al. 2017)",
            access: Access::TrainingData,
            atlas: badnets::ATLAS.to_vec(),
        },
        AttackListing {
            name: "poison.clean-label",
            summary: "Clean-label backdoor: target-class inputs pushed off their class by PGD on a surrogate, then triggered, labels untouched (Turner et al. 2019)",
            access: Access::TrainingData,
            atlas: crate::poison::clean_label::ATLAS.to_vec(),
        },
        AttackListing {
            name: "poison.label-flip",
            summary: "Label flipping, random or class A → B, at a given rate",
            access: Access::TrainingData,
            atlas: label_flip::ATLAS.to_vec(),
        },
    ]
}

pub fn listing() -> Vec<AttackListing> {
    let mut all: Vec<AttackListing> = evasion_attacks()
        .iter()
        .map(|e| AttackListing {
            name: e.name,
            summary: e.summary,
            access: e.access,
            atlas: (e.build)(&EvasionParams::default())
                .map(|a| a.atlas().to_vec())
                .unwrap_or_default(),
        })
        .collect();
    all.extend(poisoning_attacks());
    all.extend(extraction_attacks().iter().map(|e| {
        AttackListing {
            name: e.name,
            summary: e.summary,
            access: e.access,
            atlas: (e.build)(&ExtractionParams::default())
                .map(|a| a.atlas().to_vec())
                .unwrap_or_default(),
        }
    }));
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
    }
}
