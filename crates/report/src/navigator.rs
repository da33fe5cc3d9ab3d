//! Findings as an ATT&CK Navigator layer: each technique scored by its worst finding.

use std::collections::BTreeMap;

use aisec_atlas::export::navigator::{layer, Highlight};
use aisec_atlas::{AtlasError, KnowledgeBase};
use aisec_core::{Finding, Severity};

fn score(s: Severity) -> f64 {
    match s {
        Severity::Info => 0.0,
        Severity::Low => 1.0,
        Severity::Medium => 2.0,
        Severity::High => 3.0,
        Severity::Critical => 4.0,
    }
}

fn color(s: Severity) -> &'static str {
    match s {
        Severity::Info => "#dddddd",
        Severity::Low => "#ffe08a",
        Severity::Medium => "#fdae61",
        Severity::High => "#f46d43",
        Severity::Critical => "#a50026",
    }
}

/// A layer marking every technique named by a finding, scored 0 (info) to 4 (critical) by
/// its most severe finding, with the findings' titles as the comment.
pub fn findings_layer(
    kb: &KnowledgeBase,
    name: &str,
    findings: &[Finding],
) -> Result<serde_json::Value, AtlasError> {
    let mut worst: BTreeMap<String, (Severity, Vec<String>)> = BTreeMap::new();
    for f in findings {
        for id in &f.atlas {
            let entry = worst
                .entry(id.as_str().to_string())
                .or_insert((f.severity, Vec::new()));
            entry.0 = entry.0.max(f.severity);
            if !entry.1.contains(&f.title) {
                entry.1.push(f.title.clone());
            }
        }
    }
    let highlights: Vec<Highlight> = worst
        .iter()
        .filter(|(id, _)| kb.technique(id).is_some())
        .map(|(id, (sev, titles))| Highlight {
            technique: id.clone(),
            tactic: None,
            score: Some(score(*sev)),
            color: Some(color(*sev).to_string()),
            comment: Some(format!("{}: {}", sev, titles.join("; "))),
        })
        .collect();
    let legend: Vec<(&str, &str)> = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ]
    .into_iter()
    .map(|s| (s.as_str(), color(s)))
    .collect();
    layer(
        kb,
        name,
        "Techniques demonstrated by aisec findings, coloured by the most severe finding",
        &highlights,
        &legend,
    )
}
