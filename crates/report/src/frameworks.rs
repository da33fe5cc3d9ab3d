//! Findings and mitigations as reports write them: each with the NIST AI RMF subcategories
//! and NCSC guideline sections it evidences or serves (`aisec_atlas::frameworks`), added when
//! a report is written so that every report, stored run and API answer carries them, and the
//! per-framework view of a set of findings ("what this assessment evidences for MEASURE 2.7").

use aisec_atlas::frameworks::{self, FrameworkRef};
use aisec_core::{AtlasRef, DefenseRef, Details, Evidence, Finding, MitigationRef, Severity};
use serde::{Serialize, Serializer};

#[derive(Serialize)]
struct MitigationOut<'a> {
    id: &'a AtlasRef,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    phases: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    frameworks: Vec<FrameworkRef>,
}

impl<'a> MitigationOut<'a> {
    fn of(m: &'a MitigationRef) -> Self {
        MitigationOut {
            id: &m.id,
            phases: &m.phases,
            frameworks: frameworks::for_mitigation(&m.id.to_string()),
        }
    }
}

/// A finding with `frameworks` (and its mitigations with theirs), its other fields as
/// `Finding` writes them.
#[derive(Serialize)]
struct FindingOut<'a> {
    title: &'a str,
    severity: Severity,
    atlas: &'a [AtlasRef],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mitigations: Vec<MitigationOut<'a>>,
    evidence: &'a Evidence,
    frameworks: Vec<FrameworkRef>,
}

/// What a finding naming these techniques evidences.
pub fn of_finding(f: &Finding) -> Vec<FrameworkRef> {
    let ids: Vec<String> = f.atlas.iter().map(|a| a.to_string()).collect();
    frameworks::for_finding(ids.iter().map(String::as_str))
}

pub(crate) fn serialize_findings<S: Serializer>(
    findings: &[Finding],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(findings.iter().map(|f| FindingOut {
        title: &f.title,
        severity: f.severity,
        atlas: &f.atlas,
        mitigations: f.mitigations.iter().map(MitigationOut::of).collect(),
        evidence: &f.evidence,
        frameworks: of_finding(f),
    }))
}

#[derive(Serialize)]
struct DefenseOut<'a> {
    name: &'a str,
    mitigations: &'a [String],
    phases: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: &'a Option<Details>,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed: &'a Option<Details>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    frameworks: Vec<FrameworkRef>,
}

pub(crate) fn serialize_defense<S: Serializer>(
    defense: &Option<DefenseRef>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match defense {
        None => s.serialize_none(),
        Some(d) => {
            let mut refs: Vec<FrameworkRef> = Vec::new();
            for m in &d.mitigations {
                for r in frameworks::for_mitigation(m) {
                    if !refs
                        .iter()
                        .any(|o| o.framework == r.framework && o.item == r.item)
                    {
                        refs.push(r);
                    }
                }
            }
            s.serialize_some(&DefenseOut {
                name: &d.name,
                mitigations: &d.mitigations,
                phases: &d.phases,
                settings: &d.settings,
                observed: &d.observed,
                frameworks: refs,
            })
        }
    }
}

/// One framework item and what a set of findings says about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemEvidence {
    pub item: String,
    pub title: String,
    /// Findings that evidence it: (severity, title).
    pub findings: Vec<(Severity, String)>,
    /// Mitigations named by those findings (or any finding) that serve it.
    pub mitigations: Vec<String>,
}

/// For each framework (display name, source), its items that the findings evidence or
/// whose mitigations serve, in the framework's order.
pub fn view<'a>(
    findings: impl IntoIterator<Item = &'a Finding>,
) -> Vec<(String, String, Vec<ItemEvidence>)> {
    let findings: Vec<&Finding> = findings.into_iter().collect();
    let mut out = Vec::new();
    for key in frameworks::frameworks() {
        let Some((name, source)) = frameworks::describe(key) else {
            continue;
        };
        let mut items: Vec<ItemEvidence> = Vec::new();
        let entry = |items: &mut Vec<ItemEvidence>, r: &FrameworkRef| -> usize {
            match items.iter().position(|i| i.item == r.item) {
                Some(p) => p,
                None => {
                    items.push(ItemEvidence {
                        item: r.item.clone(),
                        title: r.title.clone(),
                        findings: Vec::new(),
                        mitigations: Vec::new(),
                    });
                    items.len() - 1
                }
            }
        };
        for f in &findings {
            for r in of_finding(f).iter().filter(|r| r.framework == key) {
                let p = entry(&mut items, r);
                items[p].findings.push((f.severity, f.title.clone()));
            }
            for m in &f.mitigations {
                let id = m.id.to_string();
                for r in frameworks::for_mitigation(&id)
                    .iter()
                    .filter(|r| r.framework == key)
                {
                    let p = entry(&mut items, r);
                    if !items[p].mitigations.contains(&id) {
                        items[p].mitigations.push(id.clone());
                    }
                }
            }
        }
        if items.is_empty() {
            continue;
        }
        items.sort_by_key(|i| frameworks::item_order(&i.item));
        out.push((name.to_string(), source.to_string(), items));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Finding {
        let mut f = Finding::new(
            "membership inference",
            Severity::High,
            vec![AtlasRef::parse("AML.T0024.000").unwrap()],
        );
        f.mitigations.push(MitigationRef {
            id: AtlasRef::parse("AML.M0002").unwrap(),
            phases: vec!["Deployment".into()],
        });
        f
    }

    #[test]
    fn a_written_finding_carries_its_frameworks_and_reads_back() {
        let f = finding();
        let plain = serde_json::to_value(&f).unwrap();
        #[derive(Serialize)]
        struct One<'a>(#[serde(serialize_with = "serialize_findings")] &'a [Finding]);
        let written = serde_json::to_value(One(std::slice::from_ref(&f))).unwrap();
        let written = &written[0];
        // Every field of the plain finding is written the same way, frameworks added.
        for (key, value) in plain.as_object().unwrap() {
            if key != "mitigations" {
                assert_eq!(&written[key], value, "{key}");
            }
        }
        let items: Vec<&str> = written["frameworks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["item"].as_str().unwrap())
            .collect();
        assert!(
            items.contains(&"MEASURE 2.10") && items.contains(&"MEASURE 2.7"),
            "{items:?}"
        );
        assert_eq!(written["mitigations"][0]["id"], "AML.M0002");
        assert!(
            written["mitigations"][0]["frameworks"]
                .as_array()
                .unwrap()
                .len()
                >= 2
        );
        let back: Finding = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(back, f, "a stored report reads back");
    }

    #[test]
    fn the_view_lists_each_item_with_its_findings_and_mitigations() {
        let view = view([&finding()]);
        let (name, _, items) = view.iter().find(|(n, _, _)| n.starts_with("NIST")).unwrap();
        assert_eq!(name, "NIST AI RMF 1.0");
        let privacy = items.iter().find(|i| i.item == "MEASURE 2.10").unwrap();
        assert_eq!(privacy.findings.len(), 1);
        assert_eq!(privacy.mitigations, vec!["AML.M0002".to_string()]);
        let order: Vec<&str> = items.iter().map(|i| i.item.as_str()).collect();
        let mut sorted = order.clone();
        sorted.sort_by_key(|i| frameworks::item_order(i));
        assert_eq!(order, sorted);
    }
}
