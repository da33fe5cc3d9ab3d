//! One object with its reverse links.

use serde::Serialize;

use super::wrap;
use crate::error::AtlasError;
use crate::kb::{KnowledgeBase, ObjectRef};
use crate::model::Reference;

#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MitigationLink {
    pub id: String,
    pub name: String,
    pub phases: Vec<String>,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TechniqueLink {
    pub id: String,
    pub name: String,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
}

/// A case study of a technique: it uses the technique itself, or (`via`, for a parent
/// technique) one or more of its sub-techniques, as the ATLAS website lists them.
#[derive(Debug, Clone, Serialize)]
pub struct CaseStudyLink {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub step: usize,
    pub tactic: Link,
    pub technique: Link,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Details {
    Tactic {
        techniques: Vec<Link>,
    },
    Technique {
        maturity: Option<String>,
        tactics: Vec<Link>,
        #[serde(skip_serializing_if = "Option::is_none")]
        parent: Option<Link>,
        subtechniques: Vec<Link>,
        mitigations: Vec<MitigationLink>,
        case_studies: Vec<CaseStudyLink>,
    },
    Mitigation {
        categories: Vec<String>,
        lifecycle_phases: Vec<String>,
        techniques: Vec<TechniqueLink>,
        /// The NIST AI RMF and NCSC items it serves (aisec's table, not ATLAS's).
        frameworks: Vec<crate::frameworks::FrameworkRef>,
    },
    CaseStudy {
        case_study_type: Option<String>,
        incident_date: String,
        incident_date_granularity: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reporter: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        procedure: Vec<StepView>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct ShowView {
    pub id: String,
    pub name: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    pub references: Vec<Reference>,
    #[serde(flatten)]
    pub details: Details,
}

fn link(kb: &KnowledgeBase, id: &str) -> Link {
    let name = kb
        .get(id)
        .map(|r| kb.object_name(r).to_string())
        .unwrap_or_else(|| "(not in this ATLAS data)".into());
    Link {
        id: id.to_string(),
        name,
    }
}

fn case_studies_with_subtechniques(kb: &KnowledgeBase, technique: usize) -> Vec<CaseStudyLink> {
    let mut found: Vec<(usize, Vec<String>)> = kb
        .case_studies_of(technique)
        .iter()
        .map(|&c| (c, Vec::new()))
        .collect();
    for &sub in kb.subtechniques_of(technique) {
        for &c in kb.case_studies_of(sub) {
            let sub_id = kb.techniques[sub].id.clone();
            match found.iter_mut().find(|(seen, _)| *seen == c) {
                // A study that names the parent itself is listed as a direct use.
                Some((_, via)) if via.is_empty() => {}
                Some((_, via)) => via.push(sub_id),
                None => found.push((c, vec![sub_id])),
            }
        }
    }
    let mut links: Vec<CaseStudyLink> = found
        .into_iter()
        .map(|(c, via)| {
            let l = link(kb, &kb.case_studies[c].id);
            CaseStudyLink {
                id: l.id,
                name: l.name,
                via,
            }
        })
        .collect();
    links.sort_by(|a, b| a.id.cmp(&b.id));
    links
}

/// A tactic's, technique's or mitigation's view: the fields every matrix object has, and its
/// own details.
macro_rules! matrix_object_view {
    ($object:expr, $url:expr, $details:expr $(,)?) => {
        ShowView {
            id: $object.id.clone(),
            name: $object.name.clone(),
            url: $url,
            description: $object.description.clone(),
            attack_reference: $object.attack_reference.as_ref().map(|r| r.id.clone()),
            created: $object.created_date.clone(),
            modified: $object.modified_date.clone(),
            references: $object.references.clone(),
            details: $details,
        }
    };
}

impl ShowView {
    pub fn new(kb: &KnowledgeBase, id: &str) -> Result<Self, AtlasError> {
        let object = kb.resolve(id).ok_or_else(|| AtlasError::UnknownId {
            id: id.to_string(),
            suggestions: kb.nearest_ids(id, 5),
        })?;
        let url = kb.object_url(object);
        Ok(match object {
            ObjectRef::Tactic(i) => {
                let t = &kb.tactics[i];
                matrix_object_view!(
                    t,
                    url,
                    Details::Tactic {
                        techniques: kb
                            .techniques_of_tactic(i)
                            .iter()
                            .map(|&ti| link(kb, &kb.techniques[ti].id))
                            .collect(),
                    },
                )
            }
            ObjectRef::Technique(i) => {
                let t = &kb.techniques[i];
                let mut mitigations: Vec<MitigationLink> = kb
                    .mitigations_of(i)
                    .iter()
                    .map(|&mi| {
                        let m = &kb.mitigations[mi];
                        MitigationLink {
                            id: m.id.clone(),
                            name: m.name.clone(),
                            phases: m.ml_lifecycle.clone(),
                            usage: m
                                .techniques
                                .iter()
                                .find(|u| u.id == t.id)
                                .and_then(|u| u.usage.clone()),
                        }
                    })
                    .collect();
                mitigations.sort_by(|a, b| a.id.cmp(&b.id));
                matrix_object_view!(
                    t,
                    url,
                    Details::Technique {
                        maturity: kb.effective_maturity(t).map(|m| m.as_str().to_string()),
                        tactics: kb
                            .effective_tactics(t)
                            .iter()
                            .map(|id| link(kb, id))
                            .collect(),
                        parent: t.subtechnique_of.as_deref().map(|p| link(kb, p)),
                        subtechniques: kb
                            .subtechniques_of(i)
                            .iter()
                            .map(|&s| link(kb, &kb.techniques[s].id))
                            .collect(),
                        mitigations,
                        case_studies: case_studies_with_subtechniques(kb, i),
                    },
                )
            }
            ObjectRef::Mitigation(i) => {
                let m = &kb.mitigations[i];
                matrix_object_view!(
                    m,
                    url,
                    Details::Mitigation {
                        categories: m.category.clone(),
                        lifecycle_phases: m.ml_lifecycle.clone(),
                        techniques: m
                            .techniques
                            .iter()
                            .map(|u| TechniqueLink {
                                id: u.id.clone(),
                                name: link(kb, &u.id).name,
                                usage: u.usage.clone(),
                            })
                            .collect(),
                        frameworks: crate::frameworks::for_mitigation(&m.id),
                    },
                )
            }
            ObjectRef::CaseStudy(i) => {
                let c = &kb.case_studies[i];
                ShowView {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    url,
                    description: c.summary.clone(),
                    attack_reference: None,
                    created: None,
                    modified: None,
                    references: c.references.clone(),
                    details: Details::CaseStudy {
                        case_study_type: c.case_study_type.map(|t| t.as_str().to_string()),
                        incident_date: c.incident_date.clone(),
                        incident_date_granularity: c.incident_date_granularity.as_str().to_string(),
                        reporter: c.reporter.clone(),
                        target: c.target.clone(),
                        actor: c.actor.clone(),
                        procedure: c
                            .procedure
                            .iter()
                            .enumerate()
                            .map(|(n, s)| StepView {
                                step: n + 1,
                                tactic: link(kb, &s.tactic),
                                technique: link(kb, &s.technique),
                                description: s.description.clone(),
                            })
                            .collect(),
                    },
                }
            }
        })
    }

    pub fn render_text(&self) -> String {
        let mut out = format!("{}  {}\n{}\n", self.id, self.name, self.url);
        let mut facts: Vec<String> = Vec::new();
        if let Some(a) = &self.attack_reference {
            facts.push(format!("ATT&CK: {a}"));
        }
        if let Some(c) = &self.created {
            facts.push(format!("created {c}"));
        }
        if let Some(m) = &self.modified {
            facts.push(format!("modified {m}"));
        }
        let list = |title: &str, items: &[Link]| -> String {
            let mut s = format!("\n{title} ({}):\n", items.len());
            for l in items {
                s.push_str(&format!("  {:<15} {}\n", l.id, l.name));
            }
            s
        };
        let mut body = String::new();
        match &self.details {
            Details::Tactic { techniques } => {
                out.insert_str(0, "Tactic ");
                body.push_str(&list("Techniques", techniques));
            }
            Details::Technique {
                maturity,
                tactics,
                parent,
                subtechniques,
                mitigations,
                case_studies,
            } => {
                out.insert_str(
                    0,
                    if parent.is_some() {
                        "Sub-technique "
                    } else {
                        "Technique "
                    },
                );
                if let Some(m) = maturity {
                    facts.insert(0, format!("maturity: {m}"));
                }
                body.push_str(&list("Tactics", tactics));
                if let Some(p) = parent {
                    body.push_str(&list("Parent technique", std::slice::from_ref(p)));
                }
                if !subtechniques.is_empty() {
                    body.push_str(&list("Sub-techniques", subtechniques));
                }
                body.push_str(&format!("\nMitigations ({}):\n", mitigations.len()));
                for m in mitigations {
                    body.push_str(&format!(
                        "  {:<15} {}  [{}]\n",
                        m.id,
                        m.name,
                        m.phases.join("; ")
                    ));
                    if let Some(u) = &m.usage {
                        body.push_str(&wrap(u, 90, "                  "));
                    }
                }
                body.push_str(&format!("\nCase studies ({}):\n", case_studies.len()));
                for c in case_studies {
                    let via = if c.via.is_empty() {
                        String::new()
                    } else {
                        format!("  (via {})", c.via.join(", "))
                    };
                    body.push_str(&format!("  {:<15} {}{via}\n", c.id, c.name));
                }
            }
            Details::Mitigation {
                categories,
                lifecycle_phases,
                techniques,
                frameworks,
            } => {
                out.insert_str(0, "Mitigation ");
                facts.push(format!("category: {}", categories.join(", ")));
                body.push_str(&format!(
                    "\nLifecycle phases: {}\n",
                    lifecycle_phases.join("; ")
                ));
                body.push_str(&format!("\nTechniques addressed ({}):\n", techniques.len()));
                for t in techniques {
                    body.push_str(&format!("  {:<15} {}\n", t.id, t.name));
                    if let Some(u) = &t.usage {
                        body.push_str(&wrap(u, 90, "                  "));
                    }
                }
                if !frameworks.is_empty() {
                    body.push_str("\nPolicy frameworks it serves (aisec's mapping):\n");
                    for r in frameworks {
                        let name = crate::frameworks::describe(&r.framework)
                            .map_or(r.framework.as_str(), |(name, _)| name);
                        body.push_str(&format!("  {name} {}: {}\n", r.item, r.title));
                        body.push_str(&wrap(&format!("why: {}", r.why), 90, "      "));
                    }
                }
            }
            Details::CaseStudy {
                case_study_type,
                incident_date,
                incident_date_granularity,
                reporter,
                target,
                actor,
                procedure,
            } => {
                out.insert_str(0, "Case study ");
                if let Some(t) = case_study_type {
                    facts.push(t.clone());
                }
                facts.push(format!(
                    "incident date {incident_date} ({})",
                    incident_date_granularity.to_lowercase()
                ));
                for (label, v) in [("reporter", reporter), ("target", target), ("actor", actor)] {
                    if let Some(v) = v {
                        body.push_str(&format!("{label}: {v}\n"));
                    }
                }
                body.push_str(&format!("\nProcedure ({} steps):\n", procedure.len()));
                for s in procedure {
                    body.push_str(&format!(
                        "  {:>2}. {:<11} {:<24} {:<14} {}\n",
                        s.step,
                        s.tactic.id,
                        super::truncate(&s.tactic.name, 24),
                        s.technique.id,
                        s.technique.name
                    ));
                    if let Some(d) = &s.description {
                        body.push_str(&wrap(d, 90, "       "));
                    }
                }
            }
        }
        if !facts.is_empty() {
            out.push_str(&facts.join(" · "));
            out.push('\n');
        }
        if let Some(d) = &self.description {
            out.push('\n');
            out.push_str(&wrap(d, 100, ""));
        }
        out.push_str(&body);
        let urls: Vec<&Reference> = self.references.iter().filter(|r| r.url.is_some()).collect();
        if !urls.is_empty() {
            out.push_str(&format!("\nReferences ({}):\n", urls.len()));
            for r in urls {
                match &r.title {
                    Some(t) if !t.is_empty() => {
                        out.push_str(&format!("  {} <{}>\n", t, r.url.as_deref().unwrap_or("")))
                    }
                    _ => out.push_str(&format!("  {}\n", r.url.as_deref().unwrap_or(""))),
                }
            }
        }
        out
    }
}
