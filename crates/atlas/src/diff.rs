//! What changed between two ATLAS releases: tactics, techniques and mitigations added,
//! removed and renamed; techniques re-parented, moved between tactics or given a new
//! maturity; mitigations whose technique links or lifecycle phases changed; case studies
//! added and removed. Objects are matched by ID, the one thing ATLAS keeps stable.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::KnowledgeBase;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Named {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Renamed {
    pub id: String,
    pub old: String,
    pub new: String,
}

/// A set-valued field that changed: what left and what joined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetChange {
    pub id: String,
    pub name: String,
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reparented {
    pub id: String,
    pub name: String,
    /// None: a top-level technique.
    pub old_parent: Option<String>,
    pub new_parent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueChange {
    pub id: String,
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    pub old_version: String,
    pub new_version: String,
    pub tactics_added: Vec<Named>,
    pub tactics_removed: Vec<Named>,
    pub tactics_renamed: Vec<Renamed>,
    pub techniques_added: Vec<Named>,
    pub techniques_removed: Vec<Named>,
    pub techniques_renamed: Vec<Renamed>,
    pub techniques_reparented: Vec<Reparented>,
    /// Tactic membership of top-level techniques (sub-techniques inherit their parent's).
    pub technique_tactics_changed: Vec<SetChange>,
    pub technique_maturity_changed: Vec<ValueChange>,
    pub mitigations_added: Vec<Named>,
    pub mitigations_removed: Vec<Named>,
    pub mitigations_renamed: Vec<Renamed>,
    /// The techniques a mitigation is linked to.
    pub mitigation_links_changed: Vec<SetChange>,
    pub mitigation_phases_changed: Vec<SetChange>,
    pub case_studies_added: Vec<Named>,
    pub case_studies_removed: Vec<Named>,
}

impl Diff {
    /// How many changes, all kinds together.
    pub fn len(&self) -> usize {
        self.tactics_added.len()
            + self.tactics_removed.len()
            + self.tactics_renamed.len()
            + self.techniques_added.len()
            + self.techniques_removed.len()
            + self.techniques_renamed.len()
            + self.techniques_reparented.len()
            + self.technique_tactics_changed.len()
            + self.technique_maturity_changed.len()
            + self.mitigations_added.len()
            + self.mitigations_removed.len()
            + self.mitigations_renamed.len()
            + self.mitigation_links_changed.len()
            + self.mitigation_phases_changed.len()
            + self.case_studies_added.len()
            + self.case_studies_removed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Added, removed and renamed objects of one kind, keyed by ID.
fn compare_names(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> (Vec<Named>, Vec<Named>, Vec<Renamed>) {
    let named = |(id, name): (&String, &String)| Named {
        id: id.clone(),
        name: name.clone(),
    };
    let added = new
        .iter()
        .filter(|(id, _)| !old.contains_key(*id))
        .map(named)
        .collect();
    let removed = old
        .iter()
        .filter(|(id, _)| !new.contains_key(*id))
        .map(named)
        .collect();
    let renamed = old
        .iter()
        .filter_map(|(id, o)| {
            new.get(id).filter(|n| *n != o).map(|n| Renamed {
                id: id.clone(),
                old: o.clone(),
                new: n.clone(),
            })
        })
        .collect();
    (added, removed, renamed)
}

fn set_change(
    id: &str,
    name: &str,
    old: &BTreeSet<String>,
    new: &BTreeSet<String>,
) -> Option<SetChange> {
    (old != new).then(|| SetChange {
        id: id.to_string(),
        name: name.to_string(),
        removed: old.difference(new).cloned().collect(),
        added: new.difference(old).cloned().collect(),
    })
}

pub fn diff(old: &KnowledgeBase, new: &KnowledgeBase) -> Diff {
    let mut d = Diff {
        old_version: old.version.clone(),
        new_version: new.version.clone(),
        ..Diff::default()
    };
    let names = |items: Vec<(&String, &String)>| -> BTreeMap<String, String> {
        items
            .into_iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect()
    };
    (d.tactics_added, d.tactics_removed, d.tactics_renamed) = compare_names(
        &names(old.tactics.iter().map(|t| (&t.id, &t.name)).collect()),
        &names(new.tactics.iter().map(|t| (&t.id, &t.name)).collect()),
    );
    (
        d.techniques_added,
        d.techniques_removed,
        d.techniques_renamed,
    ) = compare_names(
        &names(old.techniques.iter().map(|t| (&t.id, &t.name)).collect()),
        &names(new.techniques.iter().map(|t| (&t.id, &t.name)).collect()),
    );
    (
        d.mitigations_added,
        d.mitigations_removed,
        d.mitigations_renamed,
    ) = compare_names(
        &names(old.mitigations.iter().map(|m| (&m.id, &m.name)).collect()),
        &names(new.mitigations.iter().map(|m| (&m.id, &m.name)).collect()),
    );
    (d.case_studies_added, d.case_studies_removed, _) = compare_names(
        &names(old.case_studies.iter().map(|c| (&c.id, &c.name)).collect()),
        &names(new.case_studies.iter().map(|c| (&c.id, &c.name)).collect()),
    );
    for n in &new.techniques {
        let Some(o) = old.technique(&n.id) else {
            continue;
        };
        if o.subtechnique_of != n.subtechnique_of {
            d.techniques_reparented.push(Reparented {
                id: n.id.clone(),
                name: n.name.clone(),
                old_parent: o.subtechnique_of.clone(),
                new_parent: n.subtechnique_of.clone(),
            });
        }
        if !n.is_subtechnique() || !o.is_subtechnique() {
            let set = |t: &[String]| t.iter().cloned().collect::<BTreeSet<_>>();
            if let Some(c) = set_change(&n.id, &n.name, &set(&o.tactics), &set(&n.tactics)) {
                d.technique_tactics_changed.push(c);
            }
        }
        let (om, nm) = (old.effective_maturity(o), new.effective_maturity(n));
        if om != nm {
            d.technique_maturity_changed.push(ValueChange {
                id: n.id.clone(),
                name: n.name.clone(),
                old: om.map(|m| m.as_str().to_string()),
                new: nm.map(|m| m.as_str().to_string()),
            });
        }
    }
    for n in &new.mitigations {
        let Some(o) = old.mitigation(&n.id) else {
            continue;
        };
        let links = |m: &crate::model::Mitigation| {
            m.techniques
                .iter()
                .map(|t| t.id.clone())
                .collect::<BTreeSet<_>>()
        };
        if let Some(c) = set_change(&n.id, &n.name, &links(o), &links(n)) {
            d.mitigation_links_changed.push(c);
        }
        let phases =
            |m: &crate::model::Mitigation| m.ml_lifecycle.iter().cloned().collect::<BTreeSet<_>>();
        if let Some(c) = set_change(&n.id, &n.name, &phases(o), &phases(n)) {
            d.mitigation_phases_changed.push(c);
        }
    }
    d
}

/// The diff for a terminal or a changelog.
pub fn text(d: &Diff) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "ATLAS {} → {}: {} change{}",
        d.old_version,
        d.new_version,
        d.len(),
        if d.len() == 1 { "" } else { "s" }
    );
    let mut section = |title: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            let _ = writeln!(s, "\n{title} ({})", lines.len());
            for l in lines {
                let _ = writeln!(s, "  {l}");
            }
        }
    };
    let named = |v: &[Named]| {
        v.iter()
            .map(|n| format!("{} {}", n.id, n.name))
            .collect::<Vec<_>>()
    };
    let renamed = |v: &[Renamed]| {
        v.iter()
            .map(|r| format!("{}: {} → {}", r.id, r.old, r.new))
            .collect::<Vec<_>>()
    };
    let sets = |v: &[SetChange]| {
        v.iter()
            .map(|c| {
                let mut parts = Vec::new();
                if !c.removed.is_empty() {
                    parts.push(format!("− {}", c.removed.join(", ")));
                }
                if !c.added.is_empty() {
                    parts.push(format!("+ {}", c.added.join(", ")));
                }
                format!("{} {}: {}", c.id, c.name, parts.join("; "))
            })
            .collect::<Vec<_>>()
    };
    let top = |p: &Option<String>| p.clone().unwrap_or_else(|| "(top level)".into());
    section("Tactics added", named(&d.tactics_added));
    section("Tactics removed", named(&d.tactics_removed));
    section("Tactics renamed", renamed(&d.tactics_renamed));
    section("Techniques added", named(&d.techniques_added));
    section("Techniques removed", named(&d.techniques_removed));
    section("Techniques renamed", renamed(&d.techniques_renamed));
    section(
        "Techniques re-parented",
        d.techniques_reparented
            .iter()
            .map(|r| {
                format!(
                    "{} {}: {} → {}",
                    r.id,
                    r.name,
                    top(&r.old_parent),
                    top(&r.new_parent)
                )
            })
            .collect(),
    );
    section(
        "Tactic membership changed",
        sets(&d.technique_tactics_changed),
    );
    section(
        "Maturity changed",
        d.technique_maturity_changed
            .iter()
            .map(|c| {
                format!(
                    "{} {}: {} → {}",
                    c.id,
                    c.name,
                    c.old.as_deref().unwrap_or("none"),
                    c.new.as_deref().unwrap_or("none")
                )
            })
            .collect(),
    );
    section("Mitigations added", named(&d.mitigations_added));
    section("Mitigations removed", named(&d.mitigations_removed));
    section("Mitigations renamed", renamed(&d.mitigations_renamed));
    section(
        "Mitigation links changed",
        sets(&d.mitigation_links_changed),
    );
    section(
        "Mitigation lifecycle phases changed",
        sets(&d.mitigation_phases_changed),
    );
    section("Case studies added", named(&d.case_studies_added));
    section("Case studies removed", named(&d.case_studies_removed));
    s
}
