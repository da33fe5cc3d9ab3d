use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an ATLAS identifier names, read from its grammar alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AtlasRefKind {
    Tactic,
    Technique,
    SubTechnique,
    Mitigation,
    CaseStudy,
}

impl AtlasRefKind {
    /// The route of this kind of object on atlas.mitre.org.
    pub fn web_route(self) -> &'static str {
        match self {
            AtlasRefKind::Tactic => "tactics",
            AtlasRefKind::Technique | AtlasRefKind::SubTechnique => "techniques",
            AtlasRefKind::Mitigation => "mitigations",
            AtlasRefKind::CaseStudy => "studies",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AtlasRefKind::Tactic => "tactic",
            AtlasRefKind::Technique => "technique",
            AtlasRefKind::SubTechnique => "sub-technique",
            AtlasRefKind::Mitigation => "mitigation",
            AtlasRefKind::CaseStudy => "case study",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{id}` is not an ATLAS identifier: expected a prefix such as `AML.` followed by TA0000 (tactic), T0000 (technique), T0000.000 (sub-technique), M0000 (mitigation) or CS0000 (case study)")]
pub struct AtlasRefError {
    pub id: String,
}

/// A checked ATLAS identifier such as `AML.T0051.000`.
///
/// The grammar is the one of the official ATLAS schemas: one or more upper-case prefixes
/// (`AML.`) followed by the local part. Whether the object exists is the knowledge base's
/// business, not this type's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AtlasRef {
    id: String,
    kind: AtlasRefKind,
}

impl AtlasRef {
    pub fn parse(id: &str) -> Result<Self, AtlasRefError> {
        let kind = classify(id).ok_or_else(|| AtlasRefError { id: id.to_string() })?;
        Ok(AtlasRef {
            id: id.to_string(),
            kind,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.id
    }

    pub fn kind(&self) -> AtlasRefKind {
        self.kind
    }

    /// The parent technique of a sub-technique (`AML.T0051.000` → `AML.T0051`).
    pub fn parent(&self) -> Option<AtlasRef> {
        if self.kind != AtlasRefKind::SubTechnique {
            return None;
        }
        let cut = self.id.rfind('.')?;
        AtlasRef::parse(&self.id[..cut]).ok()
    }

    /// The object's page on the ATLAS website.
    pub fn url(&self) -> String {
        format!(
            "https://atlas.mitre.org/{}/{}",
            self.kind.web_route(),
            self.id
        )
    }
}

/// Reads the kind of an identifier from its grammar: `(?:[A-Z]+\d*\.)+(TA|T|M|CS)\d{4}(\.\d{3})?`.
pub fn classify(id: &str) -> Option<AtlasRefKind> {
    let parts: Vec<&str> = id.split('.').collect();
    if parts.len() < 2 {
        return None;
    }
    // A sub-technique ends in a three-digit segment after the technique.
    let (local, sub) = match parts.last() {
        Some(last) if last.len() == 3 && last.bytes().all(|b| b.is_ascii_digit()) => {
            (parts[parts.len() - 2], true)
        }
        _ => (parts[parts.len() - 1], false),
    };
    let prefix_count = parts.len() - if sub { 2 } else { 1 };
    if prefix_count == 0 || !parts[..prefix_count].iter().all(|p| is_prefix(p)) {
        return None;
    }
    let (letters, digits) = local.split_at(local.find(|c: char| c.is_ascii_digit())?);
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match (letters, sub) {
        ("TA", false) => Some(AtlasRefKind::Tactic),
        ("T", false) => Some(AtlasRefKind::Technique),
        ("T", true) => Some(AtlasRefKind::SubTechnique),
        ("M", false) => Some(AtlasRefKind::Mitigation),
        ("CS", false) => Some(AtlasRefKind::CaseStudy),
        _ => None,
    }
}

fn is_prefix(p: &str) -> bool {
    let letters = p.trim_end_matches(|c: char| c.is_ascii_digit());
    !letters.is_empty() && letters.bytes().all(|b| b.is_ascii_uppercase())
}

impl fmt::Display for AtlasRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl FromStr for AtlasRef {
    type Err = AtlasRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AtlasRef::parse(s)
    }
}

impl TryFrom<String> for AtlasRef {
    type Error = AtlasRefError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AtlasRef::parse(&s)
    }
}

impl From<AtlasRef> for String {
    fn from(r: AtlasRef) -> String {
        r.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_kind() {
        let cases = [
            ("AML.TA0002", AtlasRefKind::Tactic),
            ("AML.T0051", AtlasRefKind::Technique),
            ("AML.T0051.001", AtlasRefKind::SubTechnique),
            ("AML.M0003", AtlasRefKind::Mitigation),
            ("AML.CS0042", AtlasRefKind::CaseStudy),
            ("ORG2.AML.T0001", AtlasRefKind::Technique),
        ];
        for (id, kind) in cases {
            assert_eq!(AtlasRef::parse(id).unwrap().kind(), kind, "{id}");
        }
    }

    #[test]
    fn rejects_malformed_ids() {
        for id in [
            "",
            "T0051",
            "AML.T051",
            "AML.T00511",
            "aml.T0051",
            "AML.X0001",
            "AML.T0051.01",
            "AML..T0051",
            "AML.TA0002.001",
            "AML.M0001.000",
            ".T0051",
        ] {
            assert!(AtlasRef::parse(id).is_err(), "{id} should be rejected");
        }
    }

    #[test]
    fn parent_and_url() {
        let sub = AtlasRef::parse("AML.T0051.000").unwrap();
        assert_eq!(sub.parent().unwrap().as_str(), "AML.T0051");
        assert_eq!(
            sub.url(),
            "https://atlas.mitre.org/techniques/AML.T0051.000"
        );
        let cs = AtlasRef::parse("AML.CS0000").unwrap();
        assert_eq!(cs.url(), "https://atlas.mitre.org/studies/AML.CS0000");
        assert!(cs.parent().is_none());
    }

    #[test]
    fn serde_round_trip_checks_grammar() {
        let r: AtlasRef = serde_json::from_str("\"AML.M0003\"").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"AML.M0003\"");
        assert!(serde_json::from_str::<AtlasRef>("\"M0003\"").is_err());
    }
}
