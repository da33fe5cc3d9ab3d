//! Case-study files in the ATLAS website format (`{study: ..., meta: ...}`): reading them
//! for exports, and building new ones from a draft and flags.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use crate::date::Date;
use crate::error::AtlasError;
use crate::kb::{KnowledgeBase, ObjectRef};
use crate::model::{CaseStudy, CaseStudyType, DateGranularity, ProcedureStep, Reference};
use crate::validate::{self, Report};

/// A case-study file as the ATLAS website writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseStudyFile {
    pub study: Study,
    #[serde(default)]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Study {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub summary: String,
    #[serde(rename = "incident-date")]
    pub incident_date: String,
    #[serde(rename = "incident-date-granularity")]
    pub incident_date_granularity: DateGranularity,
    #[serde(rename = "case-study-type")]
    pub case_study_type: CaseStudyType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub procedure: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub tactic: String,
    pub technique: String,
    pub description: String,
}

impl Study {
    /// The study in the knowledge base's model, for exports.
    pub fn to_case_study(&self) -> CaseStudy {
        CaseStudy {
            id: self.id.clone().unwrap_or_default(),
            name: self.name.clone(),
            uuid: None,
            summary: Some(self.summary.clone()),
            incident_date: self
                .incident_date
                .get(..10)
                .unwrap_or(&self.incident_date)
                .to_string(),
            incident_date_granularity: self.incident_date_granularity,
            case_study_type: Some(self.case_study_type),
            reporter: self.reporter.clone(),
            target: self.target.clone(),
            actor: self.actor.clone(),
            procedure: self
                .procedure
                .iter()
                .map(|s| ProcedureStep {
                    tactic: s.tactic.clone(),
                    technique: s.technique.clone(),
                    description: Some(s.description.clone()),
                })
                .collect(),
            references: self.references.clone(),
        }
    }
}

/// Reads and validates a website case-study file against `kb`. Any error-level problem
/// fails the read: exports must not be built from a study that references nothing real.
pub fn read_case_study_file(path: &Path, kb: &KnowledgeBase) -> Result<CaseStudyFile, AtlasError> {
    let report = validate::validate_case_study_file(path, kb)?;
    let errors = report.error_lines();
    if !errors.is_empty() {
        return Err(AtlasError::Invalid(format!(
            "{} is not a valid case study ({} errors; run `aisec casestudy validate`):\n  {}",
            path.display(),
            errors.len(),
            errors.join("\n  ")
        )));
    }
    let text = crate::load::read_text(path)?;
    serde_yaml_ng::from_str(&text).map_err(|e| AtlasError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// What `aisec casestudy new` starts from: a YAML draft, flags, or both (flags win).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    pub id: Option<String>,
    pub name: Option<String>,
    pub summary: Option<String>,
    /// `2024`, `2024-05` or `2024-05-03`; the granularity follows unless given.
    #[serde(rename = "incident-date", alias = "date")]
    pub incident_date: Option<String>,
    #[serde(rename = "incident-date-granularity", alias = "granularity")]
    pub incident_date_granularity: Option<String>,
    #[serde(rename = "case-study-type", alias = "type")]
    pub case_study_type: Option<String>,
    pub reporter: Option<String>,
    pub target: Option<String>,
    pub actor: Option<String>,
    #[serde(default)]
    pub procedure: Vec<DraftStep>,
    #[serde(default)]
    pub references: Vec<DraftReference>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftStep {
    /// May be left out when the technique belongs to exactly one tactic.
    pub tactic: Option<String>,
    /// An ID, or a technique's exact name.
    pub technique: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DraftReference {
    Url(String),
    Full {
        title: Option<String>,
        url: Option<String>,
    },
}

impl Draft {
    pub fn from_yaml_file(path: &Path) -> Result<Draft, AtlasError> {
        let text = crate::load::read_text(path)?;
        crate::load::check_yaml_nesting(&text, "case-study draft").map_err(|message| {
            AtlasError::Parse {
                path: path.to_path_buf(),
                message,
            }
        })?;
        serde_yaml_ng::from_str(&text).map_err(|e| AtlasError::Parse {
            path: path.to_path_buf(),
            message: format!("not a case-study draft: {e}"),
        })
    }

    /// Parses a step written on the command line as `TECHNIQUE=DESCRIPTION` or
    /// `TACTIC/TECHNIQUE=DESCRIPTION`.
    pub fn parse_step_flag(flag: &str) -> Result<DraftStep, AtlasError> {
        let (refs, description) = flag.split_once('=').ok_or_else(|| {
            AtlasError::Invalid(format!(
                "--step `{flag}`: expected TECHNIQUE=DESCRIPTION or TACTIC/TECHNIQUE=DESCRIPTION"
            ))
        })?;
        let (tactic, technique) = match refs.split_once('/') {
            Some((tac, tech)) => (Some(tac.trim().to_string()), tech.trim().to_string()),
            None => (None, refs.trim().to_string()),
        };
        Ok(DraftStep {
            tactic,
            technique,
            description: description.trim().to_string(),
        })
    }

    /// Builds the case-study file, filling what can be inferred, and validates it.
    /// Fails, listing every problem, unless the result validates clean.
    pub fn build(&self, kb: &KnowledgeBase) -> Result<CaseStudyFile, AtlasError> {
        let missing = |what: &str, flag: &str| {
            AtlasError::Invalid(format!(
                "the case study needs {what}: give {flag} or set it in the draft"
            ))
        };
        let name = self
            .name
            .clone()
            .ok_or_else(|| missing("a name", "--name"))?;
        let summary = self
            .summary
            .clone()
            .ok_or_else(|| missing("a summary", "--summary"))?;
        let raw_date = self
            .incident_date
            .clone()
            .ok_or_else(|| missing("an incident date", "--date"))?;
        let (incident_date, inferred) = normalise_date(&raw_date)?;
        let granularity = match &self.incident_date_granularity {
            Some(g) => DateGranularity::parse(g).ok_or_else(|| {
                AtlasError::Invalid(format!("granularity `{g}`: expected YEAR, MONTH or DATE"))
            })?,
            None => inferred,
        };
        let type_text = self
            .case_study_type
            .clone()
            .ok_or_else(|| missing("a type (incident or exercise)", "--type"))?;
        let case_study_type = CaseStudyType::parse(&type_text).ok_or_else(|| {
            AtlasError::Invalid(format!("type `{type_text}`: expected incident or exercise"))
        })?;
        if self.procedure.is_empty() {
            return Err(missing(
                "at least one procedure step",
                "--step TECHNIQUE=DESCRIPTION",
            ));
        }
        let mut procedure = Vec::new();
        for (i, step) in self.procedure.iter().enumerate() {
            let technique =
                resolve_technique(kb, &step.technique).ok_or_else(|| AtlasError::UnknownId {
                    id: step.technique.clone(),
                    suggestions: kb.nearest_ids(&step.technique, 3),
                })?;
            let tactic = match &step.tactic {
                Some(t) => resolve_tactic(kb, t).ok_or_else(|| AtlasError::UnknownId {
                    id: t.clone(),
                    suggestions: kb.nearest_ids(t, 3),
                })?,
                None => {
                    let tactics = kb
                        .technique(&technique)
                        .map(|t| kb.effective_tactics(t).to_vec())
                        .unwrap_or_default();
                    match tactics.as_slice() {
                        [only] => only.clone(),
                        many => {
                            return Err(AtlasError::Invalid(format!(
                                "step {}: {technique} belongs to several tactics ({}); write TACTIC/TECHNIQUE",
                                i + 1,
                                many.join(", ")
                            )))
                        }
                    }
                }
            };
            procedure.push(Step {
                tactic,
                technique,
                description: step.description.clone(),
            });
        }
        let references = self
            .references
            .iter()
            .map(|r| match r {
                DraftReference::Url(u) => Reference {
                    title: None,
                    url: Some(u.clone()),
                },
                DraftReference::Full { title, url } => Reference {
                    title: title.clone(),
                    url: url.clone(),
                },
            })
            .collect();
        let file = CaseStudyFile {
            study: Study {
                id: self.id.clone(),
                name,
                summary,
                incident_date,
                incident_date_granularity: granularity,
                case_study_type,
                reporter: self.reporter.clone(),
                target: self.target.clone(),
                actor: self.actor.clone(),
                procedure,
                references,
            },
            meta: serde_json::Map::from_iter([(
                "generated-by".to_string(),
                serde_json::json!(concat!("aisec ", env!("CARGO_PKG_VERSION"))),
            )]),
        };
        let report = validate_built(&file, kb)?;
        if !report.is_clean() {
            let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
            return Err(AtlasError::Invalid(format!(
                "the case study would not be valid:\n  {}",
                problems.join("\n  ")
            )));
        }
        Ok(file)
    }
}

fn validate_built(file: &CaseStudyFile, kb: &KnowledgeBase) -> Result<Report, AtlasError> {
    let value: Value =
        serde_yaml_ng::to_value(file).map_err(|e| AtlasError::Invalid(e.to_string()))?;
    Ok(validate::validate_case_study_value(&value, kb))
}

/// `2024` → (2024-01-01, YEAR); `2024-05` → (2024-05-01, MONTH); a full date → DATE.
fn normalise_date(raw: &str) -> Result<(String, DateGranularity), AtlasError> {
    let raw = raw.trim();
    let bad = |msg: String| AtlasError::Invalid(format!("incident date: {msg}"));
    let (full, granularity) = match raw.len() {
        4 => (format!("{raw}-01-01"), DateGranularity::Year),
        7 => (format!("{raw}-01"), DateGranularity::Month),
        _ => (raw.to_string(), DateGranularity::Date),
    };
    let date = Date::parse(&full).map_err(|_| {
        bad(format!(
            "`{raw}` is not a date: expected YYYY, YYYY-MM or YYYY-MM-DD"
        ))
    })?;
    Ok((date.to_string(), granularity))
}

fn resolve_technique(kb: &KnowledgeBase, text: &str) -> Option<String> {
    if let Some(ObjectRef::Technique(i)) = kb.resolve(text) {
        return Some(kb.techniques[i].id.clone());
    }
    let wanted = text.trim().to_lowercase();
    kb.techniques
        .iter()
        .find(|t| t.name.to_lowercase() == wanted)
        .map(|t| t.id.clone())
}

fn resolve_tactic(kb: &KnowledgeBase, text: &str) -> Option<String> {
    if let Some(ObjectRef::Tactic(i)) = kb.resolve(text) {
        return Some(kb.tactics[i].id.clone());
    }
    let wanted = text.trim().to_lowercase();
    kb.tactics
        .iter()
        .find(|t| {
            t.name.to_lowercase() == wanted || crate::export::tactic_shortname(&t.name) == wanted
        })
        .map(|t| t.id.clone())
}

/// The file as YAML text.
pub fn to_yaml(file: &CaseStudyFile) -> Result<String, AtlasError> {
    serde_yaml_ng::to_string(file)
        .map_err(|e| AtlasError::Invalid(format!("cannot write the case study as YAML: {e}")))
}
