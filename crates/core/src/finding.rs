use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{AtlasRef, Metrics};

/// How bad a finding is, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown severity `{s}`: expected info, low, medium, high or critical")
            })
    }
}

/// A recommended mitigation and the CRISP-ML(Q) lifecycle phases where it is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MitigationRef {
    pub id: AtlasRef,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<String>,
}

/// What backs a finding: measured numbers, and free-form facts (example inputs, file offsets).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(default, skip_serializing_if = "Metrics::is_empty")]
    pub metrics: Metrics,
    #[serde(default, flatten)]
    pub details: BTreeMap<String, serde_json::Value>,
}

/// One thing a run found, named by the ATLAS techniques it demonstrates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub title: String,
    pub severity: Severity,
    pub atlas: Vec<AtlasRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitigations: Vec<MitigationRef>,
    #[serde(default)]
    pub evidence: Evidence,
}

impl Finding {
    pub fn new(title: impl Into<String>, severity: Severity, atlas: Vec<AtlasRef>) -> Self {
        Finding {
            title: title.into(),
            severity,
            atlas,
            mitigations: Vec::new(),
            evidence: Evidence::default(),
        }
    }
}

/// What makes a run reproducible: tool version, seed, target and configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub tool_version: String,
    pub seed: Option<u64>,
    pub target: Option<String>,
    #[serde(default)]
    pub config: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert!("urgent".parse::<Severity>().unwrap_err().contains("urgent"));
    }

    #[test]
    fn finding_json_shape() {
        let mut f = Finding::new(
            "PGD evades the model",
            Severity::High,
            vec![AtlasRef::parse("AML.T0015").unwrap()],
        );
        f.mitigations.push(MitigationRef {
            id: AtlasRef::parse("AML.M0003").unwrap(),
            phases: vec!["ML Model Engineering".into()],
        });
        f.evidence
            .metrics
            .insert(crate::Metric::AttackSuccessRate, 0.97)
            .unwrap();
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["severity"], "high");
        assert_eq!(json["atlas"][0], "AML.T0015");
        assert_eq!(json["mitigations"][0]["id"], "AML.M0003");
        assert_eq!(json["evidence"]["metrics"]["attack_success_rate"], 0.97);
        let back: Finding = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
    }
}
