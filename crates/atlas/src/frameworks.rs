//! Policy frameworks beside ATLAS: which NIST AI RMF 1.0 subcategories and which sections of
//! the NCSC's Guidelines for secure AI system development each ATLAS mitigation serves, and
//! what a finding of each ATLAS technique is evidence for. The table is
//! `data/frameworks.yaml` (embedded; one line of rationale per entry, sources at its top).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

const TABLE: &str = include_str!("../data/frameworks.yaml");

/// One framework item a mitigation serves or a finding evidences, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkRef {
    /// `nist-ai-rmf` or `ncsc`.
    pub framework: String,
    /// The item: `MEASURE 2.7`, `2.1`.
    pub item: String,
    /// Its short title (this table's words, not the framework's text).
    pub title: String,
    pub why: String,
}

#[derive(Debug, Deserialize)]
struct Framework {
    name: String,
    source: String,
    items: BTreeMap<String, String>,
}

/// `[framework, item, why]`.
type Entry = (String, String, String);

#[derive(Debug, Deserialize)]
struct Table {
    frameworks: BTreeMap<String, Framework>,
    mitigations: BTreeMap<String, Vec<Entry>>,
    findings: BTreeMap<String, Vec<Entry>>,
}

fn table() -> Option<&'static Table> {
    static PARSED: OnceLock<Option<Table>> = OnceLock::new();
    PARSED
        .get_or_init(|| match serde_yaml_ng::from_str::<Table>(TABLE) {
            Ok(t) => Some(t),
            Err(e) => {
                // The embedded table is checked by this module's tests; a build that breaks
                // it reports no framework items rather than failing every run.
                tracing::error!("the embedded frameworks table does not parse: {e}");
                None
            }
        })
        .as_ref()
}

fn resolve(entries: &[Entry]) -> impl Iterator<Item = FrameworkRef> + '_ {
    entries.iter().filter_map(|(framework, item, why)| {
        let title = table()?.frameworks.get(framework)?.items.get(item)?;
        Some(FrameworkRef {
            framework: framework.clone(),
            item: item.clone(),
            title: title.clone(),
            why: why.clone(),
        })
    })
}

/// Keeps the first entry of each (framework, item).
fn dedup(refs: impl Iterator<Item = FrameworkRef>) -> Vec<FrameworkRef> {
    let mut out: Vec<FrameworkRef> = Vec::new();
    for r in refs {
        if !out
            .iter()
            .any(|o| o.framework == r.framework && o.item == r.item)
        {
            out.push(r);
        }
    }
    out
}

/// The items mitigation `id` (`AML.M0003`) serves; none for an unknown ID.
pub fn for_mitigation(id: &str) -> Vec<FrameworkRef> {
    table()
        .and_then(|t| t.mitigations.get(id))
        .map(|entries| dedup(resolve(entries)))
        .unwrap_or_default()
}

/// The items a finding naming these techniques is evidence for: what every finding
/// evidences, then each technique's own items, a parent's (`AML.T0024`) for its
/// sub-techniques (`AML.T0024.000`) too.
pub fn for_finding<'a>(techniques: impl IntoIterator<Item = &'a str>) -> Vec<FrameworkRef> {
    let Some(t) = table() else {
        return Vec::new();
    };
    let mut keys = vec!["default".to_string()];
    for id in techniques {
        if let Some((parent, _)) = id.rsplit_once('.').filter(|(p, _)| p.contains('.')) {
            keys.push(parent.to_string());
        }
        keys.push(id.to_string());
    }
    dedup(
        keys.iter()
            .filter_map(|k| t.findings.get(k))
            .flat_map(|entries| resolve(entries)),
    )
}

/// A framework's display name and source line (`nist-ai-rmf` → NIST AI RMF 1.0).
pub fn describe(framework: &str) -> Option<(&'static str, &'static str)> {
    let f = table()?.frameworks.get(framework)?;
    Some((f.name.as_str(), f.source.as_str()))
}

/// Every framework key, in the table's order.
pub fn frameworks() -> Vec<&'static str> {
    table()
        .map(|t| t.frameworks.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// The sort key of an item within its framework: GOVERN, MAP, MEASURE, MANAGE in the RMF's
/// order, then the numbers numerically (`MEASURE 2.10` after `MEASURE 2.7`).
pub fn item_order(item: &str) -> (usize, Vec<u32>) {
    let (function, numbers) = item.rsplit_once(' ').unwrap_or(("", item));
    let rank = ["GOVERN", "MAP", "MEASURE", "MANAGE"]
        .iter()
        .position(|f| *f == function)
        .unwrap_or(0);
    (
        rank,
        numbers
            .split('.')
            .map(|n| n.parse().unwrap_or(u32::MAX))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KnowledgeBase;

    #[test]
    fn the_table_parses_and_every_reference_names_a_listed_item() {
        let t = table().expect("data/frameworks.yaml parses");
        assert_eq!(frameworks(), vec!["ncsc", "nist-ai-rmf"]);
        for (key, entries) in t.mitigations.iter().chain(&t.findings) {
            assert!(!entries.is_empty(), "{key} has no entry");
            for (framework, item, why) in entries {
                let known = t
                    .frameworks
                    .get(framework)
                    .is_some_and(|f| f.items.contains_key(item));
                assert!(known, "{key}: {framework} {item} is not listed");
                assert!(why.len() >= 10, "{key}: {item} needs a reason");
            }
        }
    }

    #[test]
    fn every_atlas_mitigation_serves_both_frameworks() {
        let kb = KnowledgeBase::embedded().unwrap();
        let mut count = 0;
        for m in &kb.mitigations {
            let refs = for_mitigation(&m.id);
            for framework in ["nist-ai-rmf", "ncsc"] {
                assert!(
                    refs.iter().any(|r| r.framework == framework),
                    "{} names no {framework} item",
                    m.id
                );
            }
            count += 1;
        }
        assert!(count >= 30, "{count} mitigations");
        assert!(for_mitigation("AML.M9999").is_empty());
    }

    #[test]
    fn findings_evidence_the_default_items_and_their_techniques_own() {
        let membership = for_finding(["AML.T0024.000"]);
        let items: Vec<&str> = membership.iter().map(|r| r.item.as_str()).collect();
        assert_eq!(items, vec!["MEASURE 2.7", "3.4", "MEASURE 2.10"]);
        // A sub-technique takes its parent's items: T0010.003 from T0010.
        let supply = for_finding(["AML.T0010.003", "AML.T0011.000"]);
        assert!(supply.iter().any(|r| r.item == "GOVERN 6.1"));
        assert!(supply.iter().any(|r| r.item == "MANAGE 3.2"));
        assert_eq!(
            supply.iter().filter(|r| r.item == "2.1").count(),
            1,
            "each item once"
        );
        assert_eq!(for_finding([]).len(), 2, "the default items alone");
        assert!(item_order("MEASURE 2.7") < item_order("MEASURE 2.10"));
        assert!(item_order("MAP 5.1") < item_order("MEASURE 1.1"));
        assert!(item_order("1.4") < item_order("2.1"));
    }
}
