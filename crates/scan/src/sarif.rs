//! SARIF 2.1.0 for GitHub code scanning: one run, the rule table as `tool.driver.rules`
//! (stable IDs, CWE and ATLAS technique IDs as tags, a security-severity), one result per
//! finding at its file and byte offset, and scan errors as tool notifications with
//! `executionSuccessful: false`.

use aisec_core::Severity;
use serde_json::{json, Value};

use crate::policy::Verdict;
use crate::rules::RULES;
use crate::scanner::ScanReport;

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.8",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// A result's level: `error` for what runs code or reads files when loaded (dangerous at
/// high or critical severity), `warning` for what needs a reviewer (suspicious and unknown
/// findings, dangerous ones of lower severity), `note` for information.
fn level(verdict: Verdict, severity: Severity) -> &'static str {
    match (verdict, severity) {
        (_, Severity::Info) | (Verdict::Safe, _) => "note",
        (Verdict::Dangerous, Severity::Critical | Severity::High) => "error",
        _ => "warning",
    }
}

/// A file path as a relative URI when it is relative, `file://` when absolute.
fn uri(path: &str) -> String {
    let p = path.replace('\\', "/");
    let encoded: String = p
        .chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '#' => "%23".to_string(),
            '%' => "%25".to_string(),
            c => c.to_string(),
        })
        .collect();
    if p.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded.trim_start_matches("./").to_string()
    }
}

pub fn to_sarif(report: &ScanReport) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let mut tags: Vec<String> = vec!["security".into()];
            tags.extend(r.cwe.iter().map(|c| c.to_string()));
            tags.extend(r.atlas.iter().map(|a| a.to_string()));
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": format!("{} (ATLAS {})", r.summary, r.atlas.join(", ")) },
                "helpUri": format!("https://atlas.mitre.org/techniques/{}", r.atlas[0]),
                "defaultConfiguration": { "level": level(Verdict::Dangerous, r.severity) },
                "properties": {
                    "tags": tags,
                    "security-severity": security_severity(r.severity),
                    "precision": "high",
                },
            })
        })
        .collect();
    let index = |id: &str| RULES.iter().position(|r| r.id == id).unwrap_or(0);
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for file in &report.files {
        for f in &file.findings {
            let mut text = f.message.clone();
            if let Some(m) = &f.member {
                text = format!("{text} [in {m}]");
            }
            if let Some(call) = &f.call {
                text = format!("{text}: {call}");
            }
            if f.occurrences > 1 {
                text = format!("{text} ({} occurrences in this file)", f.occurrences);
            }
            let mut region = json!({});
            if let Some(o) = f.offset.filter(|_| f.member.is_none()) {
                region = json!({ "byteOffset": o, "byteLength": 1 });
            }
            let mut location =
                json!({ "physicalLocation": { "artifactLocation": { "uri": uri(&f.file) } } });
            if region.as_object().is_some_and(|r| !r.is_empty()) {
                location["physicalLocation"]["region"] = region;
            }
            results.push(json!({
                "ruleId": f.rule,
                "ruleIndex": index(f.rule),
                "level": level(f.verdict, f.severity),
                "message": { "text": text },
                "locations": [location],
                "partialFingerprints": {
                    "aisecFinding/v1": format!("{}:{}:{}:{}", f.rule, f.member.as_deref().unwrap_or(""), f.offset.unwrap_or(0), f.call.as_deref().unwrap_or("")),
                },
                "properties": {
                    "verdict": f.verdict.as_str(),
                    "severity": f.severity.as_str(),
                    "member": f.member,
                    "opcode": f.opcode,
                    "atlas": f.atlas,
                },
            }));
        }
        for e in &file.errors {
            notifications.push(json!({
                "level": "error",
                "message": { "text": e.to_string() },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": uri(&file.path) } } }],
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "aisec",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://atlas.mitre.org",
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": notifications.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}
