//! Strict validation of ATLAS-format files, stricter than the official JSON schemas.
//!
//! Works on the raw YAML tree rather than the typed model so that one run reports every
//! problem, each with the object ID and the field path, instead of stopping at the first
//! type error. Checks: ID grammar, unique IDs, every reference resolves, a case-study
//! step's tactic is one of its technique's tactics (the parent's for a sub-technique),
//! enums (maturity, lifecycle phases, categories, case-study type, date granularity),
//! and dates.

mod case_study;
mod document;
mod tree;

use serde::Serialize;

pub use case_study::{validate_case_study_file, validate_case_study_value};
pub use document::{validate_document, validate_document_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}

/// One problem, located by the object it belongs to and the path of the field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub level: Level,
    /// The ID of the object the problem belongs to, when it has one.
    pub object: Option<String>,
    /// Field path from the document root, e.g. `matrices[0].techniques[12].tactics[1]`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        match &self.object {
            Some(id) => write!(f, "{level}: {id}: {}: {}", self.path, self.message),
            None => write!(f, "{level}: {}: {}", self.path, self.message),
        }
    }
}

/// What a validation run found, and what it looked at.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub problems: Vec<Problem>,
    pub checked: Checked,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Checked {
    pub tactics: usize,
    pub techniques: usize,
    pub mitigations: usize,
    pub case_studies: usize,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.level == Level::Error)
            .count()
    }

    /// Each error-level problem as a line of text.
    pub fn error_lines(&self) -> Vec<String> {
        self.problems
            .iter()
            .filter(|p| p.level == Level::Error)
            .map(|p| p.to_string())
            .collect()
    }

    pub fn warnings(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.level == Level::Warning)
            .count()
    }

    pub(crate) fn push(&mut self, level: Level, object: Option<&str>, path: &str, message: String) {
        self.problems.push(Problem {
            level,
            object: object.map(str::to_string),
            path: path.to_string(),
            message,
        });
    }
}

/// What the validator needs to know about the objects references may point at.
pub trait Catalog {
    fn kind_of(&self, id: &str) -> Option<aisec_core::AtlasRefKind>;
    /// A technique's tactics, a sub-technique's being its parent's.
    fn technique_tactics(&self, id: &str) -> Option<Vec<String>>;
}

impl Catalog for crate::kb::KnowledgeBase {
    fn kind_of(&self, id: &str) -> Option<aisec_core::AtlasRefKind> {
        self.get(id).map(|r| self.object_kind(r))
    }

    fn technique_tactics(&self, id: &str) -> Option<Vec<String>> {
        self.technique(id)
            .map(|t| self.effective_tactics(t).to_vec())
    }
}
