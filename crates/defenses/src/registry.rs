//! Every defence aisec has. Adding one means adding its module and one entry here.

use serde::Serialize;

use crate::DefenseKind;

#[derive(Debug, Clone, Serialize)]
pub struct DefenseEntry {
    pub name: &'static str,
    pub summary: &'static str,
    /// ATLAS mitigation IDs.
    pub mitigations: &'static [&'static str],
    /// CRISP-ML(Q) phases where it is applied.
    pub phases: &'static [&'static str],
    pub kind: DefenseKind,
    /// Attacks whose re-run measures it.
    pub measured_by: &'static [&'static str],
}

pub fn defenses() -> &'static [DefenseEntry] {
    &[
        DefenseEntry {
            name: "defense.adv-train",
            summary:
                "PGD adversarial training (Madry et al. 2018): train on PGD examples of each batch",
            mitigations: crate::adv_train::MITIGATIONS,
            phases: crate::adv_train::PHASES,
            kind: DefenseKind::RetrainsModel,
            measured_by: &["evasion.fgsm", "evasion.pgd", "evasion.apgd-ce"],
        },
        DefenseEntry {
            name: "defense.output-hardening",
            summary: "The API answers less: top-k or the label only, probabilities rounded to D decimals, or bent by a reverse sigmoid (Lee et al. 2019)",
            mitigations: crate::output_hardening::MITIGATIONS,
            phases: crate::output_hardening::PHASES,
            kind: DefenseKind::WrapsOutputs,
            measured_by: &["evasion.square", "evasion.hsj", "extract.equation", "extract.knockoff", "extract.jacobian"],
        },
        DefenseEntry {
            name: "defense.query-limit",
            summary: "A per-client query budget: past it the API refuses to answer",
            mitigations: crate::query_limit::MITIGATIONS,
            phases: crate::query_limit::PHASES,
            kind: DefenseKind::WatchesQueries,
            measured_by: &["evasion.square", "evasion.hsj"],
        },
        DefenseEntry {
            name: "defense.prada",
            summary: "PRADA: per client, the minimum distances between successive queries of a class; a Shapiro–Wilk test flags streams that stop looking natural (Juuti et al. 2019)",
            mitigations: crate::prada::MITIGATIONS,
            phases: crate::prada::PHASES,
            kind: DefenseKind::WatchesQueries,
            measured_by: &["extract.jacobian", "extract.knockoff"],
        },
        DefenseEntry {
            name: "defense.spectral-signatures",
            summary: "Spectral signatures: per class, drop the examples with the largest projection on the top singular vector of the activations, retrain (Tran et al. 2018)",
            mitigations: crate::spectral::MITIGATIONS,
            phases: crate::spectral::PHASES,
            kind: DefenseKind::InspectsData,
            measured_by: &["poison.badnets", "poison.blend"],
        },
        DefenseEntry {
            name: "defense.activation-clustering",
            summary: "Activation clustering: per class, split the activations in two and drop a small, well-separated cluster, retrain (Chen et al. 2019)",
            mitigations: crate::activation_clustering::MITIGATIONS,
            phases: crate::activation_clustering::PHASES,
            kind: DefenseKind::InspectsData,
            measured_by: &["poison.badnets", "poison.blend"],
        },
        DefenseEntry {
            name: "defense.strip",
            summary: "STRIP: superimpose each input on clean ones and flag predictions that stay certain (Gao et al. 2019)",
            mitigations: crate::strip::MITIGATIONS,
            phases: crate::strip::PHASES,
            kind: DefenseKind::WrapsInputs,
            measured_by: &["poison.badnets", "poison.blend"],
        },
    ]
}

pub fn find(name: &str) -> Option<&'static DefenseEntry> {
    let wanted = name.trim().to_ascii_lowercase();
    defenses()
        .iter()
        .find(|d| d.name == wanted || d.name.strip_prefix("defense.") == Some(wanted.as_str()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn entries_name_valid_mitigations() {
        for d in super::defenses() {
            for m in d.mitigations {
                let r = aisec_core::AtlasRef::parse(m).unwrap();
                assert_eq!(r.kind(), aisec_core::AtlasRefKind::Mitigation, "{m}");
            }
            let poisoning = aisec_attacks::registry::poisoning_attacks();
            for a in d.measured_by {
                assert!(
                    aisec_attacks::registry::find_evasion(a).is_some()
                        || aisec_attacks::registry::find_extraction(a).is_some()
                        || poisoning.iter().any(|p| p.name == *a),
                    "{a}"
                );
            }
        }
        assert!(super::find("adv-train").is_some());
    }
}
