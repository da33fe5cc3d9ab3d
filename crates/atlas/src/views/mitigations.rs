//! Mitigations grouped by CRISP-ML(Q) lifecycle phase and category.

use serde::Serialize;

use crate::error::AtlasError;
use crate::kb::KnowledgeBase;
use crate::model::{LIFECYCLE_PHASES, MITIGATION_CATEGORIES};

#[derive(Debug, Clone, Default)]
pub struct MitigationsFilter {
    pub phase: Option<String>,
    pub category: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MitigationEntry {
    pub id: String,
    pub name: String,
    pub categories: Vec<String>,
    pub lifecycle_phases: Vec<String>,
    pub techniques: Vec<super::show::Link>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MitigationsView {
    pub phase: Option<String>,
    pub category: Option<String>,
    pub mitigations: Vec<MitigationEntry>,
}

/// Letters and digits only, lower-cased: "technical-ml", "Technical - ML" and
/// "technical ml" all read the same.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Resolves a user's spelling to one of `known`: exact after squashing, else a unique
/// substring match.
fn resolve(what: &str, flag: &str, wanted: &str, known: &[&str]) -> Result<String, AtlasError> {
    let w = squash(wanted);
    if let Some(k) = known.iter().find(|k| squash(k) == w) {
        return Ok(k.to_string());
    }
    let partial: Vec<&&str> = known
        .iter()
        .filter(|k| !w.is_empty() && squash(k).contains(&w))
        .collect();
    match partial.as_slice() {
        [one] => Ok(one.to_string()),
        _ => Err(AtlasError::Invalid(format!(
            "{flag} `{wanted}` is not a {what}: expected one of {}",
            known
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

impl MitigationsView {
    pub fn new(kb: &KnowledgeBase, filter: &MitigationsFilter) -> Result<Self, AtlasError> {
        let phase = filter
            .phase
            .as_deref()
            .map(|p| resolve("lifecycle phase", "--phase", p, &LIFECYCLE_PHASES))
            .transpose()?;
        let category = filter
            .category
            .as_deref()
            .map(|c| {
                resolve(
                    "mitigation category",
                    "--category",
                    c,
                    &MITIGATION_CATEGORIES,
                )
            })
            .transpose()?;
        let mitigations = kb
            .mitigations
            .iter()
            .filter(|m| phase.as_ref().is_none_or(|p| m.ml_lifecycle.contains(p)))
            .filter(|m| category.as_ref().is_none_or(|c| m.category.contains(c)))
            .map(|m| {
                let mut techniques: Vec<super::show::Link> = Vec::new();
                for u in &m.techniques {
                    if techniques.iter().any(|t| t.id == u.id) {
                        continue;
                    }
                    let name = kb.technique(&u.id).map_or_else(
                        || "(not in this ATLAS data)".to_string(),
                        |t| t.name.clone(),
                    );
                    techniques.push(super::show::Link {
                        id: u.id.clone(),
                        name,
                    });
                }
                MitigationEntry {
                    id: m.id.clone(),
                    name: m.name.clone(),
                    categories: m.category.clone(),
                    lifecycle_phases: m.ml_lifecycle.clone(),
                    techniques,
                }
            })
            .collect();
        Ok(MitigationsView {
            phase,
            category,
            mitigations,
        })
    }

    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let mut scope = Vec::new();
        if let Some(p) = &self.phase {
            scope.push(format!("phase \"{p}\""));
        }
        if let Some(c) = &self.category {
            scope.push(format!("category \"{c}\""));
        }
        out.push_str(&format!(
            "{} mitigations{}\n",
            self.mitigations.len(),
            if scope.is_empty() {
                String::new()
            } else {
                format!(" for {}", scope.join(" and "))
            }
        ));
        for m in &self.mitigations {
            out.push_str(&format!(
                "\n{}  {}  [{}]\n",
                m.id,
                m.name,
                m.categories.join(", ")
            ));
            out.push_str(&format!("  phases: {}\n", m.lifecycle_phases.join("; ")));
            out.push_str(&format!("  addresses {} techniques:\n", m.techniques.len()));
            for t in &m.techniques {
                out.push_str(&format!("    {:<15} {}\n", t.id, t.name));
            }
        }
        out
    }
}
