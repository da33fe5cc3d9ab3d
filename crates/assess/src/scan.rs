//! A scan as the shared run object (DESIGN.md "Machine-readable output"): each scanner
//! finding becomes a [`Finding`] with its ATLAS techniques, the mitigations that address it
//! with their lifecycle phases, and the evidence (file, archive member, byte offset, opcode,
//! the call); per-file details go under `observations`.

use aisec_atlas::KnowledgeBase;
use aisec_core::Metric;
use aisec_core::{AtlasRef, Evidence, Finding, Metrics};
use aisec_report::{RunKind, RunReport};
use aisec_scan::scanner::ScanReport;

use crate::findings::mitigation_refs;

/// ATLAS techniques a model-artifact scan tests for.
pub const SCAN_ATLAS: &[&str] = &["AML.T0011.000", "AML.T0010.003", "AML.T0018.002"];
/// AML.M0016 Vulnerability Scanning (this scan) and AML.M0014 Verify AI Artifacts
/// (checksums and signatures of what was scanned).
pub const SCAN_MITIGATIONS: &[&str] = &["AML.M0016", "AML.M0014"];

pub fn scan_run_report(
    report: &ScanReport,
    kb: &KnowledgeBase,
    target: &str,
    config: serde_json::Value,
    wall_seconds: f64,
) -> RunReport {
    let mitigations = mitigation_refs(kb, SCAN_MITIGATIONS);
    let mut findings = Vec::new();
    for file in &report.files {
        for f in &file.findings {
            let mut evidence = Evidence::default();
            let mut put = |k: &str, v: serde_json::Value| {
                if !v.is_null() {
                    evidence.details.insert(k.to_string(), v);
                }
            };
            put("rule", f.rule.into());
            put("verdict", f.verdict.as_str().into());
            put("file", f.file.clone().into());
            put(
                "member",
                serde_json::to_value(&f.member).unwrap_or_default(),
            );
            put("offset", serde_json::to_value(f.offset).unwrap_or_default());
            put(
                "opcode",
                serde_json::to_value(&f.opcode).unwrap_or_default(),
            );
            put("call", serde_json::to_value(&f.call).unwrap_or_default());
            put("cwe", serde_json::to_value(f.cwe).unwrap_or_default());
            findings.push(Finding {
                title: format!("{} ({}): {}", f.name, f.rule, f.message),
                severity: f.severity,
                atlas: f
                    .atlas
                    .iter()
                    .filter_map(|a| AtlasRef::parse(a).ok())
                    .collect(),
                mitigations: mitigations.clone(),
                evidence,
            });
        }
    }
    let mut metrics = Metrics::default();
    let _ = metrics.insert(Metric::WallSeconds, wall_seconds);
    RunReport::new(
        RunKind::Scan,
        "scan.model-artifacts",
        SCAN_ATLAS,
        target,
        config,
        0,
        metrics,
    )
    .with_observations(Some(serde_json::json!({
        "exit_code": report.exit_code(),
        "files": report.files,
        "dangerous": report.count(aisec_scan::Verdict::Dangerous),
        "suspicious": report.count(aisec_scan::Verdict::Suspicious),
        "unknown": report.count(aisec_scan::Verdict::Unknown),
        "safe": report.count(aisec_scan::Verdict::Safe),
        "not_models": report.not_models(),
        "errors": report.files.iter().filter(|f| !f.errors.is_empty()).count(),
    })))
    .with_findings(findings)
}
