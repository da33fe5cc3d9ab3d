//! Typed model of the official ATLAS distribution format (`dist/ATLAS.yaml`, v5).
//!
//! The loader is deliberately lenient about keys it does not know (newer releases add
//! some) and strict about the shape of the keys it does; `validate` is the strict pass.
//! Prose fields are `Option` because the embedded knowledge base carries facts only.
//! Room for the v6 format: versions are strings (calendar versions parse), and every
//! object may carry a `uuid`.

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Atlas {
    pub id: String,
    pub name: String,
    #[serde(deserialize_with = "version_string")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    pub matrices: Vec<Matrix>,
    #[serde(
        rename = "case-studies",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub case_studies: Vec<CaseStudy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    pub tactics: Vec<Tactic>,
    pub techniques: Vec<Technique>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitigations: Vec<Mitigation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackReference {
    pub id: String,
    pub url: String,
}

/// A reference as ATLAS writes it: both keys present, either may be null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tactic {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        rename = "ATT&CK-reference",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attack_reference: Option<AttackReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_date: Option<String>,
}

/// How far a technique has been seen: the ATLAS website's maturity slider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Maturity {
    Feasible,
    Demonstrated,
    Realized,
}

impl Maturity {
    pub const ALL: [Maturity; 3] = [
        Maturity::Feasible,
        Maturity::Demonstrated,
        Maturity::Realized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Maturity::Feasible => "feasible",
            Maturity::Demonstrated => "demonstrated",
            Maturity::Realized => "realized",
        }
    }

    pub fn parse(s: &str) -> Option<Maturity> {
        Maturity::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Technique {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tactics of a top-level technique; sub-techniques inherit their parent's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tactics: Vec<String>,
    #[serde(
        rename = "subtechnique-of",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subtechnique_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maturity: Option<Maturity>,
    #[serde(
        rename = "ATT&CK-reference",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attack_reference: Option<AttackReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_date: Option<String>,
}

impl Technique {
    pub fn is_subtechnique(&self) -> bool {
        self.subtechnique_of.is_some()
    }
}

/// The CRISP-ML(Q) lifecycle phases ATLAS tags mitigations with, in lifecycle order.
pub const LIFECYCLE_PHASES: [&str; 6] = [
    "Business and Data Understanding",
    "Data Preparation",
    "ML Model Engineering",
    "ML Model Evaluation",
    "Deployment",
    "Monitoring and Maintenance",
];

/// Mitigation categories used by ATLAS.
pub const MITIGATION_CATEGORIES: [&str; 3] = ["Policy", "Technical - ML", "Technical - Cyber"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TechniqueUse {
    pub id: String,
    /// How the mitigation applies to this technique (prose; absent in the embedded KB).
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mitigation {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<TechniqueUse>,
    #[serde(
        rename = "ml-lifecycle",
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ml_lifecycle: Vec<String>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub category: Vec<String>,
    #[serde(
        rename = "ATT&CK-reference",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attack_reference: Option<AttackReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_date: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DateGranularity {
    #[serde(rename = "YEAR")]
    Year,
    #[serde(rename = "MONTH")]
    Month,
    #[serde(rename = "DATE")]
    Date,
}

impl DateGranularity {
    pub fn as_str(self) -> &'static str {
        match self {
            DateGranularity::Year => "YEAR",
            DateGranularity::Month => "MONTH",
            DateGranularity::Date => "DATE",
        }
    }

    pub fn parse(s: &str) -> Option<DateGranularity> {
        match s.trim().to_ascii_uppercase().as_str() {
            "YEAR" => Some(DateGranularity::Year),
            "MONTH" => Some(DateGranularity::Month),
            "DATE" | "DAY" => Some(DateGranularity::Date),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStudyType {
    Incident,
    Exercise,
}

impl CaseStudyType {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStudyType::Incident => "incident",
            CaseStudyType::Exercise => "exercise",
        }
    }

    pub fn parse(s: &str) -> Option<CaseStudyType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "incident" => Some(CaseStudyType::Incident),
            "exercise" => Some(CaseStudyType::Exercise),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcedureStep {
    pub tactic: String,
    pub technique: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseStudy {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(rename = "incident-date")]
    pub incident_date: String,
    #[serde(rename = "incident-date-granularity")]
    pub incident_date_granularity: DateGranularity,
    #[serde(
        rename = "case-study-type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub case_study_type: Option<CaseStudyType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub procedure: Vec<ProcedureStep>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub references: Vec<Reference>,
}

/// ATLAS versions are numbers in some releases and strings (`5.6.0`, `2026.03`) in others.
fn version_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Version {
        Text(String),
        Int(i64),
        Float(f64),
    }
    Ok(match Version::deserialize(d)? {
        Version::Text(s) => s,
        Version::Int(i) => i.to_string(),
        Version::Float(f) => f.to_string(),
    })
}

/// A string or a list of strings. Non-string list items are skipped rather than failing
/// the whole load: ATLAS 5.6.0 itself has a technique link misplaced inside AML.M0018's
/// `ml-lifecycle`. `aisec atlas validate` reports such items.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Item {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<Item>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v
            .into_iter()
            .filter_map(|item| match item {
                Item::Text(s) => Some(s),
                Item::Other(_) => None,
            })
            .collect(),
    })
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}
