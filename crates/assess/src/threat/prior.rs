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

/// The largest --avid file read (avid-db's whole database is a few MB).
const MAX_FILE_BYTES: u64 = 64_000_000;

/// One AVID record as read.
#[derive(Debug, Clone, Serialize)]
pub struct AvidRecord {
    /// `AVID-2023-V005`, a report ID, or `FILE#N` when the record has none.
    pub id: String,
    pub file: String,
    pub summary: String,
    /// Affected models and systems (datasets are listed apart: they are not components).
    pub artifacts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<String>,
    /// SEP categories by code (`S0403`).
    pub sep: Vec<String>,
    /// ATLAS case studies the record documents (`AML.CS0005`).
    pub case_studies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The ATLAS techniques its SEP categories and case studies stand for.
    pub techniques: Vec<String>,
    /// The risks whose likelihood it raised (`component/family`).
    pub raised: Vec<String>,
    /// The risks it documents whose likelihood it did not move (at the top already, or
    /// raised by an earlier record).
    pub corroborates: Vec<String>,
    /// The components it names.
    pub components: Vec<String>,
    /// `artifact = component name` for each match, as matched.
    pub matched_as: Vec<String>,
    /// Why it changed nothing, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<String>,
}

/// A record as a risk cites it.
#[derive(Debug, Clone, Serialize)]
pub struct PriorRef {
    pub id: String,
    pub summary: String,
    /// SEP codes, or the ATLAS case studies when it has none.
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

/// Record text made safe for a terminal and a report line: control characters and the
/// bidirectional overrides (a record could clear the screen or forge lines) become `\u{…}`.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c as u32, 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069);
        if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("value").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
    .map(|s| clean(s.trim()))
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
        .map_or_else(|| format!("{file}#{}", index + 1), |s| clean(s.trim()));
    // Taxonomy 0.2 writes `artifacts`, 0.1 `artifact`. Datasets are not components.
    let mut artifacts: Vec<String> = Vec::new();
    let mut datasets: Vec<String> = Vec::new();
    for p in ["/affects/artifacts", "/affects/artifact"] {
        let field = p[1..].replace('/', ".");
        let Some(list) = v.pointer(p).filter(|x| !x.is_null()) else {
            continue;
        };
        let list = list
            .as_array()
            .ok_or_else(|| format!("{field}: expected a list of {{type, name}}"))?;
        for a in list {
            let name = a
                .get("name")
                .and_then(Value::as_str)
                .map(|n| clean(n.trim()))
                .filter(|n| !n.is_empty())
                .ok_or_else(|| format!("{field}: an artifact without a name"))?;
            match a.get("type").and_then(Value::as_str) {
                Some(t) if t.eq_ignore_ascii_case("dataset") => datasets.push(name),
                _ => artifacts.push(name),
            }
        }
    }
    let sep_view = v.pointer("/impact/avid/sep_view").filter(|x| !x.is_null());
    if let Some(x) = sep_view.filter(|x| !x.is_array()) {
        return Err(format!(
            "impact.avid.sep_view: expected a list of categories, found {x}"
        ));
    }
    let mut sep: Vec<String> = Vec::new();
    for item in sep_view.and_then(Value::as_array).into_iter().flatten() {
        let code = sep_code(item).ok_or_else(|| {
            format!("impact.avid.sep_view: {item} is not a category such as \"S0403: Adversarial Example\"")
        })?;
        if !sep.contains(&code) {
            sep.push(code);
        }
    }
    let case_studies = case_studies(v);
    let mut techniques: Vec<String> = Vec::new();
    for code in &sep {
        for t in techniques_of_sep(code) {
            if !techniques.iter().any(|x| x == t) {
                techniques.push(t.to_string());
            }
        }
    }
    let mut unknown_studies = Vec::new();
    for cs in &case_studies {
        match kb.case_study(cs) {
            None => unknown_studies.push(cs.clone()),
            Some(study) => {
                for step in &study.procedure {
                    // API access is how most attacks reach a model, not what they do.
                    if step.technique != "AML.T0040" && !techniques.contains(&step.technique) {
                        techniques.push(step.technique.clone());
                    }
                }
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
    let no_mapping = if !techniques.is_empty() {
        None
    } else if !unknown_studies.is_empty() {
        Some(format!(
            "its case study {} is not in ATLAS {}",
            unknown_studies.join(", "),
            kb.version
        ))
    } else if sep.is_empty() {
        Some("it gives no SEP categories (no impact.avid.sep_view) and no ATLAS case study".into())
    } else {
        Some(format!(
            "its categories ({}) are outside the security risks aisec models",
            sep.join(", ")
        ))
    };
    Ok(AvidRecord {
        id,
        file: clean(file),
        summary: summary.chars().take(200).collect(),
        artifacts,
        datasets,
        sep,
        case_studies,
        date,
        techniques,
        raised: Vec::new(),
        corroborates: Vec::new(),
        components: Vec::new(),
        matched_as: Vec::new(),
        unmatched: no_mapping,
    })
}

/// Reads the records of one file: a JSON object, an array of them, or one per line.
pub fn read(path: &Path, kb: &KnowledgeBase) -> Result<Vec<AvidRecord>, String> {
    let file = path.display().to_string();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("--avid {file}: {e}"))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "--avid {file}: {} MB; at most {} MB of records are read per file",
            size / 1_000_000,
            MAX_FILE_BYTES / 1_000_000
        ));
    }
    let raw = std::fs::read(path).map_err(|e| format!("--avid {file}: {e}"))?;
    let body = String::from_utf8(raw).map_err(|_| format!("--avid {file}: not UTF-8 text"))?;
    let body = body.strip_prefix('\u{feff}').unwrap_or(&body).to_string();
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

/// Names match case-blind and trimmed; an organisation prefix (`meta-llama/…`) counts only
/// when both names carry one: a fork of the same name under another organisation is
/// another model.
fn same_name(a: &str, b: &str) -> bool {
    let split = |s: &str| {
        let s = s.trim().to_ascii_lowercase();
        match s.rsplit_once('/') {
            Some((org, name)) => (Some(org.to_string()), name.to_string()),
            None => (None, s),
        }
    };
    let ((org_a, name_a), (org_b, name_b)) = (split(a), split(b));
    !name_a.is_empty()
        && name_a == name_b
        && match (org_a, org_b) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}

/// A record about `record` documents a risk of technique `risk` when they are the same
/// technique, or one is a sub-technique of the other (a record of prompt injection in
/// general documents a direct-injection risk; so a broad category such as S0500 Exfiltration
/// documents every exfiltration risk, which is what it says).
fn covers(risk: &str, record: &str) -> bool {
    risk == record
        || record.starts_with(&format!("{risk}."))
        || risk.starts_with(&format!("{record}."))
}

/// Matches the records to the threat model's components and risks and raises the likelihood
/// of each risk a record documents. `names` gives each component's names (its own and
/// `known_as`).
pub fn apply(tm: &mut ThreatModel, records: &mut [AvidRecord], names: &[(String, Vec<String>)]) {
    let mut seen: Vec<String> = Vec::new();
    for r in records.iter_mut() {
        if seen.contains(&r.id) {
            r.unmatched = Some("a record with this ID was read already; counted once".into());
            continue;
        }
        seen.push(r.id.clone());
        for (own, known) in names {
            let matched = r.artifacts.iter().find_map(|a| {
                std::iter::once(own)
                    .chain(known)
                    .find(|n| same_name(a, n))
                    .map(|n| format!("{a} = {n}"))
            });
            if let Some(m) = matched {
                r.components.push(own.clone());
                r.matched_as.push(m);
            }
        }
        if r.components.is_empty() {
            r.unmatched = Some(match (r.artifacts.is_empty(), r.datasets.is_empty()) {
                (true, false) => format!(
                    "it affects the dataset {} only; datasets are not components",
                    r.datasets.join(", ")
                ),
                (true, true) => "it names no artifact".into(),
                _ => format!(
                    "it affects {}, which no component of the profile is named or known_as",
                    r.artifacts.join(", ")
                ),
            });
            continue;
        }
        if r.unmatched.is_some() {
            // No technique to match: its categories or case study say why.
            continue;
        }
        for risk in tm
            .risks
            .iter_mut()
            .filter(|k| r.components.contains(&k.component))
        {
            let documented = risk
                .techniques
                .iter()
                .any(|t| r.techniques.iter().any(|p| covers(&t.id, p)));
            if documented {
                if cite(risk, r) {
                    r.raised.push(risk.id.clone());
                } else {
                    r.corroborates.push(risk.id.clone());
                }
            }
        }
        if r.raised.is_empty() && r.corroborates.is_empty() {
            r.unmatched = Some(format!(
                "none of {}'s risks involves {}",
                r.components.join(", "),
                r.techniques.join(", ")
            ));
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
    tm.techniques.sort_by_key(|t| std::cmp::Reverse(t.score));
}

/// The records a likelihood line names before "and N more".
const NAMED_IN_RATIONALE: usize = 5;

/// Cites `record` on `risk`; the first citation raises the likelihood one step. Whether it
/// moved the likelihood.
fn cite(risk: &mut Risk, record: &AvidRecord) -> bool {
    let first = risk.prior.is_empty();
    risk.prior.push(PriorRef {
        id: record.id.clone(),
        summary: record.summary.clone(),
        sep: if record.sep.is_empty() {
            record.case_studies.clone()
        } else {
            record.sep.clone()
        },
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
        return after > before;
    }
    let others: Vec<&str> = risk.prior[1..].iter().map(|p| p.id.as_str()).collect();
    let also = if others.len() <= NAMED_IN_RATIONALE {
        others.join(", ")
    } else {
        format!(
            "{} and {} more",
            others[..NAMED_IN_RATIONALE].join(", "),
            others.len() - NAMED_IN_RATIONALE
        )
    };
    if let Some(why) = risk
        .likelihood
        .why
        .iter_mut()
        .find(|w| w.contains("in the AI Vulnerability Database"))
    {
        let head = why.split("; also").next().unwrap_or("").to_string();
        *why = format!("{head}; also {also}");
    }
    false
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
        assert!(!same_name(
            "someone-else/Llama-2-7b",
            "meta-llama/Llama-2-7b"
        ));
        assert!(!same_name("bert", "roberta"));
        assert_eq!(
            clean("a\u{1b}[2Jb\nc\u{202e}"),
            "a\\u{1b}[2Jb\\u{a}c\\u{202e}"
        );
        assert!(covers("AML.T0024", "AML.T0024.000"));
        assert!(covers("AML.T0051.000", "AML.T0051"));
        assert!(!covers("AML.T0051", "AML.T0054"));
        for bad in [
            serde_json::json!({"data_type": "AVID", "impact": {"avid": {"sep_view": 403}}}),
            serde_json::json!({"data_type": "AVID", "impact": {"avid": {"sep_view": [403]}}}),
            serde_json::json!({"data_type": "AVID", "affects": {"artifacts": "digits"}}),
        ] {
            assert!(record(&bad, "f", 0, &kb).is_err(), "{bad}");
        }
    }
}
