//! Prior evidence from the AI Vulnerability Database: AVID vulnerability and report records
//! (taxonomy 0.1 and 0.2 JSON, as avid-db stores them and garak and `aisec runs avid` write
//! them; one record, an array, or one per line) matched to the profile's components by the
//! names the records' artifacts carry (`name` or `known_as`), and to the components' risks by
//! the records' SEP categories — or, for a record of an ATLAS case study, by the techniques
//! of the study's procedure. A risk with a public record for its component is one an attacker
//! has documented help with: its likelihood goes up by one step (at most 5), with the record
//! named in the rationale. Records that match nothing are kept and say why.

use std::path::Path;

use aisec_atlas::KnowledgeBase;
use serde::Serialize;
use serde_json::Value;

use super::{rating, Level, Risk, ThreatModel};

/// One AVID record as read.
#[derive(Debug, Clone, Serialize)]
pub struct AvidRecord {
    /// `AVID-2023-V005`, a report ID, or `FILE#N` when the record has none.
    pub id: String,
    pub file: String,
    pub summary: String,
    pub artifacts: Vec<String>,
    /// SEP categories by code (`S0403`).
    pub sep: Vec<String>,
    /// ATLAS case studies the record documents (`AML.CS0005`).
    pub case_studies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The ATLAS techniques its SEP categories and case studies stand for.
    pub techniques: Vec<String>,
    /// The risks it raised (`component/family`).
    pub risks: Vec<String>,
    /// The components it names, matched or not to a risk.
    pub components: Vec<String>,
    /// Why it changed nothing, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<String>,
}

/// A record as a risk cites it.
#[derive(Debug, Clone, Serialize)]
pub struct PriorRef {
    pub id: String,
    pub summary: String,
    pub sep: Vec<String>,
}

/// The ATLAS techniques (prefixes) an AVID SEP category stands for: the inverse of the
/// export's mapping (`aisec_report::avid`), plus the security categories it never writes.
fn techniques_of_sep(code: &str) -> &'static [&'static str] {
    match code {
        "S0100" | "S0202" => &["AML.T0011"],
        "S0200" => &["AML.T0010"],
        "S0201" => &["AML.T0018", "AML.T0031"],
        "S0300" => &["AML.T0053"],
        "S0301" => &["AML.T0024.000", "AML.T0056", "AML.T0057", "AML.T0063"],
        "S0302" => &["AML.T0034", "AML.T0029"],
        "S0400" | "S0401" | "S0403" => &["AML.T0015", "AML.T0043", "AML.T0051", "AML.T0054"],
        "S0402" => &["AML.T0020"],
        "S0500" => &["AML.T0024", "AML.T0048"],
        "S0501" => &["AML.T0024.001"],
        "S0502" => &["AML.T0024.002", "AML.T0005"],
        "S0600" | "S0601" => &["AML.T0020", "AML.T0059"],
        "P0201" => &["AML.T0029"],
        _ => &[],
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("value").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
    .map(|s| s.trim().to_string())
    .filter(|s| !s.is_empty())
}

/// "S0403: Adversarial Example" or {"id": "S0403", "name": …} → "S0403".
fn sep_code(v: &Value) -> Option<String> {
    let raw = match v {
        Value::String(s) => s.split(':').next().unwrap_or("").to_string(),
        Value::Object(o) => o.get("id").and_then(Value::as_str)?.to_string(),
        _ => return None,
    };
    let code = raw.trim().to_ascii_uppercase();
    let valid = code.len() == 5
        && matches!(code.as_bytes()[0], b'S' | b'E' | b'P')
        && code[1..].bytes().all(|b| b.is_ascii_digit());
    valid.then_some(code)
}

/// `AML.CS0005` in a reference URL or a report ID.
fn case_studies(record: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut look = |s: &str| {
        let mut rest = s;
        while let Some(at) = rest.find("AML.CS") {
            let tail = &rest[at + 6..];
            let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
            if digits.len() == 4 {
                let id = format!("AML.CS{digits}");
                if !found.contains(&id) {
                    found.push(id);
                }
            }
            rest = tail;
        }
    };
    for list in ["references", "reports"] {
        for item in record
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for key in ["url", "report_id"] {
                if let Some(s) = item.get(key).and_then(Value::as_str) {
                    look(s);
                }
            }
        }
    }
    found
}

/// Reads one record. `Err` names what is missing.
fn record(v: &Value, file: &str, index: usize, kb: &KnowledgeBase) -> Result<AvidRecord, String> {
    if v.get("data_type").and_then(Value::as_str) != Some("AVID") {
        return Err("not an AVID record (its data_type is not \"AVID\")".into());
    }
    let id = v
        .pointer("/metadata/vuln_id")
        .or_else(|| v.pointer("/metadata/report_id"))
        .or_else(|| v.pointer("/impact/avid/vuln_id"))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map_or_else(|| format!("{file}#{}", index + 1), |s| s.trim().to_string());
    // Taxonomy 0.2 writes `artifacts`, 0.1 `artifact`.
    let artifacts: Vec<String> = ["/affects/artifacts", "/affects/artifact"]
        .iter()
        .filter_map(|p| v.pointer(p).and_then(Value::as_array))
        .flatten()
        .filter_map(|a| a.get("name").and_then(Value::as_str))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let sep: Vec<String> = v
        .pointer("/impact/avid/sep_view")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(sep_code)
        .collect();
    let case_studies = case_studies(v);
    let mut techniques: Vec<String> = Vec::new();
    for code in &sep {
        for t in techniques_of_sep(code) {
            if !techniques.iter().any(|x| x == t) {
                techniques.push(t.to_string());
            }
        }
    }
    for cs in &case_studies {
        for step in kb
            .case_study(cs)
            .map(|c| c.procedure.as_slice())
            .unwrap_or(&[])
        {
            if !techniques.contains(&step.technique) {
                techniques.push(step.technique.clone());
            }
        }
    }
    let summary = v
        .pointer("/problemtype/description")
        .and_then(text)
        .or_else(|| v.get("description").and_then(text))
        .unwrap_or_else(|| "(no description)".into());
    let date = ["reported_date", "published_date"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string));
    Ok(AvidRecord {
        id,
        file: file.to_string(),
        summary: summary.chars().take(200).collect(),
        artifacts,
        sep,
        case_studies,
        date,
        techniques,
        risks: Vec::new(),
        components: Vec::new(),
        unmatched: None,
    })
}

/// Reads the records of one file: a JSON object, an array of them, or one per line.
pub fn read(path: &Path, kb: &KnowledgeBase) -> Result<Vec<AvidRecord>, String> {
    let file = path.display().to_string();
    let raw = std::fs::read(path).map_err(|e| format!("--avid {file}: {e}"))?;
    let body = String::from_utf8(raw).map_err(|_| format!("--avid {file}: not UTF-8 text"))?;
    let values: Vec<Value> = match serde_json::from_str::<Value>(&body) {
        Ok(Value::Array(items)) => items,
        Ok(v) => vec![v],
        Err(whole) => body
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                serde_json::from_str(l).map_err(|e| {
                    format!(
                        "--avid {file}: neither one JSON document ({whole}) nor JSON lines (line {}: {e})",
                        n + 1
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if values.is_empty() {
        return Err(format!("--avid {file}: no records"));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            record(v, &file, i, kb).map_err(|e| format!("--avid {file}, record {}: {e}", i + 1))
        })
        .collect()
}

fn same_name(a: &str, b: &str) -> bool {
    let bare = |s: &str| {
        let s = s.trim().to_ascii_lowercase();
        // `meta-llama/Llama-2-7b-chat-hf` is also listed as `Llama-2-7b-chat-hf`.
        s.rsplit('/').next().unwrap_or("").to_string()
    };
    a.trim().eq_ignore_ascii_case(b.trim()) || (!bare(a).is_empty() && bare(a) == bare(b))
}

fn covers(technique: &str, prefix: &str) -> bool {
    technique == prefix
        || technique.starts_with(&format!("{prefix}."))
        || prefix.starts_with(&format!("{technique}."))
}

/// Matches the records to the threat model's components and risks and raises the likelihood
/// of each risk a record documents. `names` gives each component's names (its own and
/// `known_as`).
pub fn apply(tm: &mut ThreatModel, records: &mut [AvidRecord], names: &[(String, Vec<String>)]) {
    for r in records.iter_mut() {
        let components: Vec<&str> = names
            .iter()
            .filter(|(own, known)| {
                r.artifacts
                    .iter()
                    .any(|a| same_name(a, own) || known.iter().any(|k| same_name(a, k)))
            })
            .map(|(own, _)| own.as_str())
            .collect();
        r.components = components.iter().map(|c| c.to_string()).collect();
        if components.is_empty() {
            r.unmatched = Some(if r.artifacts.is_empty() {
                "it names no artifact".into()
            } else {
                format!(
                    "it affects {}, which no component of the profile is named or known_as",
                    r.artifacts.join(", ")
                )
            });
            continue;
        }
        for risk in tm
            .risks
            .iter_mut()
            .filter(|k| components.contains(&k.component.as_str()))
        {
            let documented = risk
                .techniques
                .iter()
                .any(|t| r.techniques.iter().any(|p| covers(&t.id, p)));
            if documented {
                r.risks.push(risk.id.clone());
                cite(risk, r);
            }
        }
        if r.risks.is_empty() {
            r.unmatched = Some(if r.techniques.is_empty() {
                format!(
                    "its categories ({}) are outside the security risks aisec models",
                    if r.sep.is_empty() {
                        "none given".to_string()
                    } else {
                        r.sep.join(", ")
                    }
                )
            } else {
                format!(
                    "none of {}'s risks involves {}",
                    components.join(", "),
                    r.techniques.join(", ")
                )
            });
        }
    }
    tm.risks
        .sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
    for t in &mut tm.techniques {
        t.score = tm
            .risks
            .iter()
            .filter(|r| t.risks.contains(&r.id))
            .map(|r| r.score)
            .max()
            .unwrap_or(t.score);
    }
}

/// Cites `record` on `risk`; the first citation raises the likelihood one step.
fn cite(risk: &mut Risk, record: &AvidRecord) {
    let first = risk.prior.is_empty();
    risk.prior.push(PriorRef {
        id: record.id.clone(),
        summary: record.summary.clone(),
        sep: record.sep.clone(),
    });
    if first {
        let before = risk.likelihood.score;
        let after = (before + 1).min(5);
        risk.likelihood.level = Level::from_score(after as i32);
        risk.likelihood.score = risk.likelihood.level.score();
        risk.likelihood.why.push(format!(
            "{} documents it for {} in the AI Vulnerability Database ({})",
            record.id,
            risk.component,
            if after > before {
                "+1"
            } else {
                "already at the top"
            }
        ));
        risk.score = risk.likelihood.score * risk.severity.score;
        risk.rating = rating(risk.score);
    } else if let Some(why) = risk
        .likelihood
        .why
        .iter_mut()
        .find(|w| w.contains("in the AI Vulnerability Database"))
    {
        *why = format!("{}; also {}", why, record.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_taxonomy_versions_and_case_studies_are_read() {
        let kb = KnowledgeBase::embedded().unwrap();
        let v02 = serde_json::json!({
            "data_type": "AVID", "data_version": "0.2",
            "metadata": {"vuln_id": "AVID-2099-V001"},
            "affects": {"developer": [], "deployer": [], "artifacts": [{"type": "Model", "name": "org/tiny-bert"}]},
            "problemtype": {"classof": "LLM Evaluation", "type": "Detection", "description": {"lang": "eng", "value": "adversarial typos flip it"}},
            "impact": {"avid": {"risk_domain": ["Security"], "sep_view": ["S0403: Adversarial Example"], "lifecycle_view": ["L05: Evaluation"], "taxonomy_version": "0.2"}},
            "published_date": "2099-01-01"
        });
        let r = record(&v02, "f.json", 0, &kb).unwrap();
        assert_eq!(r.id, "AVID-2099-V001");
        assert_eq!(r.sep, ["S0403"]);
        assert!(r.techniques.contains(&"AML.T0043".to_string()));
        let v01 = serde_json::json!({
            "data_type": "AVID", "data_version": "0.1",
            "metadata": {"report_id": "AVID-2099-R0001"},
            "affects": {"artifact": [{"type": "Model", "name": "tiny-bert"}]},
            "problemtype": {"class": "x", "type": "Detection", "description": {"lang": "eng", "value": "leaks members"}},
            "impact": {"avid": {"sep_view": [{"id": "S0301", "name": "Information Leak"}]}}
        });
        let r = record(&v01, "f.json", 1, &kb).unwrap();
        assert_eq!(r.artifacts, ["tiny-bert"]);
        assert!(r.techniques.contains(&"AML.T0024.000".to_string()));
        let study = serde_json::json!({
            "data_type": "AVID", "metadata": {"vuln_id": "AVID-2099-V002"},
            "affects": {"artifacts": [{"type": "System", "name": "translator"}]},
            "problemtype": {"description": {"value": "study"}},
            "reports": [{"report_id": "ATLAS-AML.CS0005"}], "impact": null
        });
        let r = record(&study, "f.json", 2, &kb).unwrap();
        assert_eq!(r.case_studies, ["AML.CS0005"]);
        assert!(!r.techniques.is_empty());
        assert!(record(&serde_json::json!({"data_type": "CVE"}), "f", 0, &kb).is_err());
        assert!(same_name("meta-llama/Llama-2-7b", "llama-2-7B"));
        assert!(!same_name("bert", "roberta"));
    }
}
