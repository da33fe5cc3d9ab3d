//! Findings as AI Vulnerability Database (AVID) reports: the JSON of AVID's `Report` data
//! model (avidtools' `datamodels.report.Report`, taxonomy 0.2), one report per finding, the
//! way garak exports its evaluations. The SEP view (security, ethics, performance) comes from
//! the finding's ATLAS techniques; the metrics are the run's; the references link ATLAS.

use serde::Serialize;

use crate::RunReport;
use aisec_core::Finding;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LangValue {
    pub lang: String,
    pub value: String,
}

fn english(value: impl Into<String>) -> LangValue {
    LangValue {
        lang: "eng".into(),
        value: value.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Artifact {
    /// `Model`, `Dataset` or `System`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Affects {
    pub developer: Vec<String>,
    pub deployer: Vec<String>,
    pub artifacts: Vec<Artifact>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problemtype {
    /// `LLM Evaluation` for probes of a chat model, `Undefined` otherwise (AVID's classes
    /// are incident databases, CVEs, ATLAS case studies and LLM evaluations).
    pub classof: String,
    /// `Measurement` (an attack measured) or `Detection` (a file scan's detection).
    #[serde(rename = "type")]
    pub kind: String,
    pub description: LangValue,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// `Static Threshold` (AVID's other method is a significance test).
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvidMetric {
    pub name: String,
    pub detection_method: Detection,
    pub results: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: String,
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvidTaxonomy {
    pub vuln_id: Option<String>,
    pub risk_domain: Vec<String>,
    pub sep_view: Vec<String>,
    pub lifecycle_view: Vec<String>,
    pub taxonomy_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    pub avid: AvidTaxonomy,
}

/// One AVID report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvidReport {
    pub data_type: String,
    pub data_version: String,
    pub affects: Affects,
    pub problemtype: Problemtype,
    pub metrics: Vec<AvidMetric>,
    pub references: Vec<Reference>,
    pub description: LangValue,
    pub impact: Impact,
    pub credit: Vec<LangValue>,
    /// YYYY-MM-DD.
    pub reported_date: String,
}

/// The SEP categories and lifecycle stages a technique falls under (AVID taxonomy 0.2).
fn taxonomy_of(technique: &str) -> (&'static [&'static str], &'static [&'static str]) {
    const EVALUATION: &[&str] = &["L05: Evaluation"];
    let id = technique;
    let starts = |p: &str| id == p || id.starts_with(&format!("{p}."));
    if starts("AML.T0024.000") {
        (&["S0301: Information Leak", "P0300: Privacy"], EVALUATION)
    } else if starts("AML.T0024.001") {
        (&["S0501: Model inversion", "P0300: Privacy"], EVALUATION)
    } else if starts("AML.T0024.002") || starts("AML.T0005") {
        (&["S0502: Model theft"], EVALUATION)
    } else if starts("AML.T0024") || starts("AML.T0048") {
        (&["S0500: Exfiltration"], EVALUATION)
    } else if starts("AML.T0015") || starts("AML.T0043") {
        (&["S0403: Adversarial Example"], EVALUATION)
    } else if starts("AML.T0020") || starts("AML.T0059") {
        (&["S0600: Data Poisoning"], &["L03: Data Preparation"])
    } else if starts("AML.T0018") {
        (&["S0201: Model Compromise"], &["L04: Model Development"])
    } else if starts("AML.T0031") {
        (&["S0201: Model Compromise"], &["L06: Deployment"])
    } else if starts("AML.T0063") {
        (&["S0301: Information Leak"], &["L06: Deployment"])
    } else if starts("AML.T0010") {
        (&["S0200: Supply Chain Compromise"], &["L06: Deployment"])
    } else if starts("AML.T0011") {
        (&["S0202: Software Compromise"], &["L06: Deployment"])
    } else if starts("AML.T0051") || starts("AML.T0054") {
        (&["S0403: Adversarial Example"], EVALUATION)
    } else if starts("AML.T0056") || starts("AML.T0057") {
        (&["S0301: Information Leak"], EVALUATION)
    } else if starts("AML.T0053") {
        (&["S0300: Over-permissive API"], EVALUATION)
    } else if starts("AML.T0029") || starts("AML.T0034") {
        (&["P0201: Resilience/ Stability"], &["L06: Deployment"])
    } else {
        (&[], EVALUATION)
    }
}

fn risk_domain(sep: &str) -> &'static str {
    match sep.as_bytes().first() {
        Some(b'E') => "Ethics",
        Some(b'P') => "Performance",
        _ => "Security",
    }
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

/// The AVID report of one finding of `run`, dated `date`.
pub fn report_of(run: &RunReport, finding: &Finding, date: &str) -> AvidReport {
    let (mut sep, mut lifecycle, mut domains) = (Vec::new(), Vec::new(), Vec::new());
    for technique in &finding.atlas {
        let (s, l) = taxonomy_of(technique.as_str());
        for v in s {
            push_unique(&mut sep, v);
            push_unique(&mut domains, risk_domain(v));
        }
        for v in l {
            push_unique(&mut lifecycle, v);
        }
    }
    if domains.is_empty() {
        domains.push("Security".into());
    }
    if lifecycle.is_empty() {
        lifecycle.push("L05: Evaluation".into());
    }
    let llm = run.kind == crate::RunKind::LlmProbe || run.name.starts_with("llm");
    let scan = run.kind == crate::RunKind::Scan;
    let mut results = serde_json::Map::new();
    for (metric, value) in finding.evidence.metrics.iter().chain(run.metrics.iter()) {
        results
            .entry(metric.key().to_string())
            .or_insert(serde_json::json!(value));
    }
    results.insert("severity".into(), serde_json::json!(finding.severity));
    results.insert("seed".into(), serde_json::json!(run.seed));
    let mut references: Vec<Reference> = finding
        .atlas
        .iter()
        .map(|a| Reference {
            kind: "source".into(),
            label: format!("MITRE ATLAS {}", a.as_str()),
            url: format!(
                "https://atlas.mitre.org/{}/{}",
                a.kind().web_route(),
                a.as_str()
            ),
        })
        .collect();
    for m in &finding.mitigations {
        references.push(Reference {
            kind: "source".into(),
            label: format!("MITRE ATLAS mitigation {}", m.id.as_str()),
            url: format!("https://atlas.mitre.org/mitigations/{}", m.id.as_str()),
        });
    }
    let atlas: Vec<&str> = finding.atlas.iter().map(|a| a.as_str()).collect();
    AvidReport {
        data_type: "AVID".into(),
        data_version: "0.2".into(),
        affects: Affects {
            developer: Vec::new(),
            deployer: Vec::new(),
            artifacts: vec![Artifact {
                kind: if llm { "System" } else { "Model" }.into(),
                name: run.target.clone(),
            }],
        },
        problemtype: Problemtype {
            classof: if llm { "LLM Evaluation" } else { "Undefined" }.into(),
            kind: if scan { "Detection" } else { "Measurement" }.into(),
            description: english(finding.title.clone()),
        },
        metrics: vec![AvidMetric {
            name: run.name.clone(),
            detection_method: Detection {
                kind: "Static Threshold".into(),
                name: format!("aisec {}", run.name),
            },
            results,
        }],
        references,
        description: english(format!(
            "{} ({}; ATLAS {}){}",
            finding.title,
            run.name,
            atlas.join(", "),
            run.data
                .as_deref()
                .map(|d| format!("; data: {d}"))
                .unwrap_or_default()
        )),
        impact: Impact {
            avid: AvidTaxonomy {
                vuln_id: None,
                risk_domain: domains,
                sep_view: sep,
                lifecycle_view: lifecycle,
                taxonomy_version: "0.2".into(),
            },
        },
        credit: vec![english(format!("aisec {}", env!("CARGO_PKG_VERSION")))],
        reported_date: date.to_string(),
    }
}

/// Every finding of `run` and of the runs inside it (defended, adaptive, an assessment's
/// steps), one AVID report each. A finding an assessment repeats from one of its steps (the
/// demo's summary lists each step's findings again) is reported once, from the step that
/// measured it. A value with no run object in it is an error.
pub fn reports(run: &serde_json::Value, date: &str) -> Result<Vec<AvidReport>, String> {
    let mut out = Vec::new();
    let runs = collect(run, date, &mut out, 0)?;
    if runs == 0 {
        return Err(
            "no run object in it (expected what a command writes with --format json: kind, name, target, metrics, findings)"
                .into(),
        );
    }
    // Steps are visited after their parent, so the last of equal findings is the step's.
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<AvidReport> = out
        .into_iter()
        .rev()
        .filter(|r| {
            seen.insert((
                r.problemtype.description.value.clone(),
                r.affects.artifacts.first().map(|a| a.name.clone()),
                r.references
                    .iter()
                    .map(|x| x.url.clone())
                    .collect::<Vec<_>>(),
            ))
        })
        .collect();
    kept.reverse();
    Ok(kept)
}

/// The run objects found (and their findings' reports pushed to `out`).
fn collect(
    value: &serde_json::Value,
    date: &str,
    out: &mut Vec<AvidReport>,
    depth: usize,
) -> Result<usize, String> {
    if depth > 32 {
        return Ok(0);
    }
    let mut runs = 0;
    match value {
        serde_json::Value::Object(map) => {
            let looks_like_run = ["kind", "name", "target", "metrics", "findings"]
                .iter()
                .all(|k| map.contains_key(*k));
            if looks_like_run {
                let run: RunReport = serde_json::from_value(value.clone())
                    .map_err(|e| format!("a run object in it does not read: {e}"))?;
                out.extend(run.findings.iter().map(|f| report_of(&run, f, date)));
                runs += 1;
            }
            for (key, v) in map {
                if looks_like_run && key == "findings" {
                    continue;
                }
                runs += collect(v, date, out, depth + 1)?;
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                runs += collect(v, date, out, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisec_core::{AtlasRef, Details, Metric, Metrics, Severity};

    fn run() -> RunReport {
        let mut metrics = Metrics::default();
        metrics.insert(Metric::RobustAccuracy, 0.02).unwrap();
        let mut finding = Finding::new(
            "PGD evades the model",
            Severity::High,
            vec![
                AtlasRef::parse("AML.T0043.000").unwrap(),
                AtlasRef::parse("AML.T0015").unwrap(),
            ],
        );
        finding.mitigations.push(aisec_core::MitigationRef {
            id: AtlasRef::parse("AML.M0003").unwrap(),
            phases: vec![],
        });
        let mut defended = RunReport::new(
            crate::RunKind::Attack,
            "evasion.pgd",
            &["AML.T0015"],
            "cnn behind smoothing",
            Details::new(serde_json::json!({})),
            7,
            metrics.clone(),
        );
        defended.findings = vec![Finding::new(
            "membership",
            Severity::Low,
            vec![AtlasRef::parse("AML.T0024.000").unwrap()],
        )];
        let mut run = RunReport::new(
            crate::RunKind::Attack,
            "evasion.pgd",
            &["AML.T0015"],
            "cnn",
            Details::new(serde_json::json!({})),
            7,
            metrics,
        )
        .with_findings(vec![finding]);
        run.defended = Some(Box::new(defended));
        run
    }

    #[test]
    fn each_finding_is_one_report_with_its_taxonomy() {
        let value = serde_json::to_value(run()).unwrap();
        let written = reports(&value, "2026-12-07").unwrap();
        assert_eq!(written.len(), 2, "the defended run's finding too");
        let first = &written[0];
        assert_eq!(
            first.impact.avid.sep_view,
            vec!["S0403: Adversarial Example"]
        );
        assert_eq!(first.impact.avid.risk_domain, vec!["Security"]);
        assert_eq!(first.affects.artifacts[0].name, "cnn");
        assert_eq!(first.metrics[0].results["robust_accuracy"], 0.02);
        assert!(first
            .references
            .iter()
            .any(|r| r.url.ends_with("/techniques/AML.T0015")));
        assert!(first
            .references
            .iter()
            .any(|r| r.url.ends_with("/mitigations/AML.M0003")));
        let privacy = &written[1];
        assert_eq!(
            privacy.impact.avid.sep_view,
            vec!["S0301: Information Leak", "P0300: Privacy"]
        );
        assert_eq!(
            privacy.impact.avid.risk_domain,
            vec!["Security", "Performance"]
        );
        let json = serde_json::to_value(first).unwrap();
        assert_eq!(json["problemtype"]["type"], "Measurement");
        assert_eq!(json["affects"]["artifacts"][0]["type"], "Model");
        assert!(reports(&serde_json::json!({"kind": "attack", "name": 3, "target": "t", "metrics": {}, "findings": []}), "d").is_err());
        let none = reports(&serde_json::json!({"hello": 1}), "d").unwrap_err();
        assert!(none.contains("no run object"), "{none}");
        // An assessment repeating a step's finding reports it once.
        let mut outer = run();
        let step = serde_json::to_value(run()).unwrap();
        outer.findings.push(outer.findings[0].clone());
        outer.observations = Some(aisec_core::Details::new(
            serde_json::json!({ "steps": [step] }),
        ));
        let once = reports(&serde_json::to_value(outer).unwrap(), "d").unwrap();
        assert_eq!(once.len(), 2, "{once:?}");
    }
}
