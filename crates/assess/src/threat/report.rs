//! The assessment's report: an executive summary (pass/fail per criterion, the most important
//! finding first), each risk's measured outcome before and after its defence (adaptive
//! included) with the residual risk, and the evidence of every step; as JSON, Markdown,
//! self-contained HTML, a Navigator layer scored by measured risk, and an ATLAS case study of
//! the exercise (type `exercise`, procedure in the order the techniques were exercised).

use std::fmt::Write;

use aisec_atlas::case_study::{CaseStudyFile, Draft, DraftStep};
use aisec_atlas::export::navigator::{layer, Highlight};
use aisec_atlas::KnowledgeBase;
use aisec_report::html::{Block, Document, Section};
use serde::Serialize;

use super::assessment::{Check, Part, Status, StepResult};
use super::plan::{Plan, Untested};
use super::ThreatModel;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub steps: usize,
    pub passed: usize,
    pub failed: usize,
    pub not_measured: usize,
    pub errors: usize,
    pub untested_risks: usize,
    /// The most important result, first line of every rendering.
    pub headline: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RiskOutcome {
    pub id: String,
    pub title: String,
    pub modelled_rating: String,
    pub modelled_score: u8,
    pub steps: Vec<String>,
    /// Worst over its steps; None when no step tests it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defense: Option<String>,
    /// The criteria behind the defence; None where no defence was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defended: Option<Status>,
    /// The criteria against the adaptive attack on the defence, where aisec has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<Status>,
    /// The risk's measured score for the Navigator layer: the modelled score unless the
    /// system passed as deployed, then severity × 1.
    pub measured_score: u8,
    pub residual: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssessmentReport {
    pub system: String,
    pub plan: String,
    pub atlas_version: String,
    pub summary: Summary,
    pub risks: Vec<RiskOutcome>,
    pub steps: Vec<StepResult>,
    pub untested: Vec<Untested>,
    pub threat_model: ThreatModel,
}

fn severity_rank(s: Status) -> u8 {
    match s {
        Status::Failed => 3,
        Status::Error => 2,
        Status::NotMeasured => 1,
        Status::Passed => 0,
    }
}

fn worst(statuses: impl Iterator<Item = Status>) -> Option<Status> {
    statuses.max_by_key(|s| severity_rank(*s))
}

fn part_status(checks: &[Check], part: Part) -> Option<Status> {
    let of: Vec<&Check> = checks.iter().filter(|c| c.part == part).collect();
    if of.is_empty() {
        None
    } else if of.iter().any(|c| c.passed == Some(false)) {
        Some(Status::Failed)
    } else if of.iter().any(|c| c.passed.is_none()) {
        Some(Status::NotMeasured)
    } else {
        Some(Status::Passed)
    }
}

fn first_failure(step: &StepResult) -> Option<String> {
    step.checks
        .iter()
        .find(|c| c.part == Part::Deployed && c.passed == Some(false))
        .map(|c| {
            format!(
                "{} {} as deployed (criterion: {})",
                c.metric,
                c.value.map_or("not measured".into(), trim),
                c.threshold
            )
        })
}

fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

pub fn build(
    tm: ThreatModel,
    plan: &Plan,
    plan_path: &str,
    steps: Vec<StepResult>,
) -> AssessmentReport {
    let mut risks = Vec::new();
    for r in &tm.risks {
        let mine: Vec<&StepResult> = steps.iter().filter(|s| s.risk == r.id).collect();
        let untested = plan.untested.iter().find(|u| u.risk == r.id);
        let deployed = worst(mine.iter().map(|s| s.status));
        let defended = worst(
            mine.iter()
                .filter_map(|s| part_status(&s.checks, Part::Defended)),
        );
        let adaptive = worst(
            mine.iter()
                .filter_map(|s| part_status(&s.checks, Part::Adaptive)),
        );
        let defense = mine.iter().find_map(|s| s.defense.clone());
        let d = defense.as_deref().unwrap_or("the defence");
        let residual = match deployed {
            None => match untested {
                Some(u) => format!("{} as modelled; not tested: {}", r.rating.as_str(), u.reason),
                None => format!("{} as modelled; the plan has no step for it", r.rating.as_str()),
            },
            Some(Status::Passed) => "low: the attacks stayed within the criteria as deployed".to_string(),
            Some(Status::Error) => format!(
                "unknown ({} as modelled): {}",
                r.rating.as_str(),
                mine.iter().find_map(|s| s.error.clone()).unwrap_or_default()
            ),
            Some(Status::NotMeasured) => format!("{} as modelled: a figure the criteria need was not measured", r.rating.as_str()),
            Some(Status::Failed) => match (defended, adaptive) {
                (Some(Status::Passed), None | Some(Status::Passed)) => format!(
                    "{} as deployed; within the criteria behind --defend {d}{}: deploy it",
                    r.rating.as_str(),
                    if adaptive.is_some() { ", the adaptive attack included" } else { "" }
                ),
                (Some(Status::Passed), Some(_)) => format!(
                    "{}: --defend {d} stops the plain attack, but the adaptive attack still breaks the criteria",
                    r.rating.as_str()
                ),
                (Some(Status::NotMeasured | Status::Error), _) => format!(
                    "{}: behind --defend {d} the criteria's figures were not measured (the defence's run reports its own; see the evidence)",
                    r.rating.as_str()
                ),
                (Some(_), _) => format!("{}: --defend {d} does not bring it within the criteria", r.rating.as_str()),
                (None, _) => format!("{}: no defence was measured", r.rating.as_str()),
            },
        };
        let measured_score = if deployed == Some(Status::Passed) {
            r.severity.score
        } else {
            r.score
        };
        risks.push(RiskOutcome {
            id: r.id.clone(),
            title: r.title.clone(),
            modelled_rating: r.rating.as_str().to_string(),
            modelled_score: r.score,
            steps: mine.iter().map(|s| s.id.clone()).collect(),
            deployed,
            defense,
            defended,
            adaptive,
            measured_score,
            residual,
        });
    }
    let count = |st: Status| steps.iter().filter(|s| s.status == st).count();
    // Risks are in modelled order (highest first): the first failure is the headline.
    let headline = risks
        .iter()
        .find(|r| r.deployed == Some(Status::Failed))
        .map(|r| {
            let step = steps
                .iter()
                .find(|s| s.risk == r.id && s.status == Status::Failed);
            format!(
                "{} ({}, {}): {}",
                r.id,
                r.title,
                r.modelled_rating,
                step.and_then(first_failure).unwrap_or_default()
            )
        })
        .or_else(|| {
            steps.iter().find(|s| s.status == Status::Error).map(|s| {
                format!(
                    "step {} could not run: {}",
                    s.id,
                    s.error.clone().unwrap_or_default()
                )
            })
        })
        .or_else(|| {
            steps
                .iter()
                .find(|s| s.status == Status::NotMeasured)
                .map(|s| {
                    let missing: Vec<&str> = s
                        .checks
                        .iter()
                        .filter(|c| c.part == Part::Deployed && c.value.is_none())
                        .map(|c| c.metric.as_str())
                        .collect();
                    format!(
                        "step {} could not be judged: its run does not report {}",
                        s.id,
                        missing.join(", ")
                    )
                })
        })
        .unwrap_or_else(|| "every tested criterion holds as deployed".to_string());
    AssessmentReport {
        system: tm.system.clone(),
        plan: plan_path.to_string(),
        atlas_version: tm.atlas_version.clone(),
        summary: Summary {
            steps: steps.len(),
            passed: count(Status::Passed),
            failed: count(Status::Failed),
            not_measured: count(Status::NotMeasured),
            errors: count(Status::Error),
            untested_risks: plan.untested.len(),
            headline,
        },
        risks,
        untested: plan.untested.clone(),
        steps,
        threat_model: tm,
    }
}

/// A command line as a shell reads it back: arguments with spaces or shell characters quoted.
fn shell_line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A relative path as a URI reference (SARIF `artifactLocation.uri`).
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn status_word(s: Option<Status>) -> &'static str {
    s.map_or("—", Status::as_str)
}

fn findings_of(step: &StepResult) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |v: &serde_json::Value, label: &str| {
        for f in v
            .get("findings")
            .and_then(|f| f.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(t) = f.get("title").and_then(|t| t.as_str()) {
                out.push(format!("{label}{t}"));
            }
        }
    };
    if let Some(r) = &step.report {
        push(r, "");
        if let Some(d) = r.get("defended") {
            push(d, "behind the defence: ");
            if let Some(a) = d.get("adaptive") {
                push(a, "adaptive: ");
            }
        }
    }
    out
}

pub fn markdown(a: &AssessmentReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Assessment: {}\n", cell(&a.system));
    let _ = writeln!(s, "**{}**\n", cell(&a.summary.headline));
    let _ = writeln!(
        s,
        "{} steps: {} passed, {} failed, {} not measured, {} could not run; {} risks not tested. ATLAS {}, plan `{}`.\n",
        a.summary.steps, a.summary.passed, a.summary.failed, a.summary.not_measured, a.summary.errors, a.summary.untested_risks, a.atlas_version, a.plan
    );
    let _ = writeln!(s, "## Risks\n\n| risk | modelled | as deployed | defence | behind it | adaptive | residual |\n|---|---|---|---|---|---|---|");
    for r in &a.risks {
        let _ = writeln!(
            s,
            "| **{}** — {} | {} ({}) | {} | {} | {} | {} | {} |",
            cell(&r.id),
            cell(&r.title),
            r.modelled_rating,
            r.modelled_score,
            status_word(r.deployed),
            r.defense.as_deref().unwrap_or("—"),
            status_word(r.defended),
            status_word(r.adaptive),
            cell(&r.residual)
        );
    }
    let _ = writeln!(s, "\n## Evidence\n");
    for st in &a.steps {
        let _ = writeln!(s, "### {} — {}\n", st.id, st.status.as_str());
        let _ = writeln!(
            s,
            "- risk: {} · techniques: {} · adversary: {}",
            cell(&st.risk),
            st.techniques.join(", "),
            st.adversary
        );
        let _ = writeln!(
            s,
            "- why (as planned; the command is what ran): {}",
            cell(&st.why)
        );
        let _ = writeln!(
            s,
            "- command: `aisec {}` ({:.1} s{})",
            shell_line(&st.command),
            st.seconds,
            if st.resumed {
                ", from an earlier run"
            } else {
                ""
            }
        );
        if let Some(e) = &st.error {
            let _ = writeln!(s, "- error: {}", cell(e));
        }
        if !st.checks.is_empty() {
            let _ = writeln!(
                s,
                "\n| criterion | run | value | threshold | result |\n|---|---|---|---|---|"
            );
            for c in &st.checks {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    c.metric,
                    c.part.as_str(),
                    c.value.map_or("not measured".into(), trim),
                    c.threshold,
                    match c.passed {
                        Some(true) => "pass",
                        Some(false) => "**fail**",
                        None => "not measured",
                    }
                );
            }
        }
        let findings = findings_of(st);
        if !findings.is_empty() {
            let _ = writeln!(s);
            for f in findings {
                let _ = writeln!(s, "- finding: {}", cell(&f));
            }
        }
        let _ = writeln!(s);
    }
    if !a.untested.is_empty() {
        let _ = writeln!(s, "## Not tested\n");
        for u in &a.untested {
            let _ = writeln!(s, "- {}: {}", cell(&u.risk), cell(&u.reason));
        }
    }
    s
}

pub fn text(a: &AssessmentReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Assessment of {}: {}", a.system, a.summary.headline);
    let _ = writeln!(
        s,
        "{} steps: {} passed, {} failed, {} not measured, {} could not run; {} risks not tested\n",
        a.summary.steps,
        a.summary.passed,
        a.summary.failed,
        a.summary.not_measured,
        a.summary.errors,
        a.summary.untested_risks
    );
    for r in &a.risks {
        let _ = writeln!(
            s,
            "  {:<12} {:<40} {}",
            status_word(r.deployed),
            r.id,
            r.residual
        );
    }
    s
}

pub fn html(a: &AssessmentReport) -> String {
    let mut doc = Document {
        title: format!("Assessment: {}", a.system),
        facts: vec![
            ("plan".into(), a.plan.clone()),
            ("ATLAS".into(), a.atlas_version.clone()),
            (
                "steps".into(),
                format!(
                    "{} passed, {} failed, {} not measured, {} could not run",
                    a.summary.passed, a.summary.failed, a.summary.not_measured, a.summary.errors
                ),
            ),
        ],
        ..Document::default()
    };
    doc.summary
        .push(Block::Paragraph(a.summary.headline.clone()));
    doc.summary.push(Block::Table {
        headers: [
            "risk",
            "modelled",
            "as deployed",
            "defence",
            "behind it",
            "adaptive",
            "residual",
        ]
        .map(String::from)
        .to_vec(),
        rows: a
            .risks
            .iter()
            .map(|r| {
                vec![
                    format!("{} — {}", r.id, r.title),
                    format!("{} ({})", r.modelled_rating, r.modelled_score),
                    status_word(r.deployed).into(),
                    r.defense.clone().unwrap_or_else(|| "—".into()),
                    status_word(r.defended).into(),
                    status_word(r.adaptive).into(),
                    r.residual.clone(),
                ]
            })
            .collect(),
    });
    for st in &a.steps {
        let mut blocks = vec![Block::Paragraph(format!(
            "{} · risk {} · techniques {} · adversary {} · {}: aisec {}",
            st.status.as_str(),
            st.risk,
            st.techniques.join(", "),
            st.adversary,
            st.why,
            shell_line(&st.command)
        ))];
        if let Some(e) = &st.error {
            blocks.push(Block::Paragraph(format!("error: {e}")));
        }
        if !st.checks.is_empty() {
            blocks.push(Block::Table {
                headers: ["criterion", "run", "value", "threshold", "result"]
                    .map(String::from)
                    .to_vec(),
                rows: st
                    .checks
                    .iter()
                    .map(|c| {
                        vec![
                            c.metric.clone(),
                            c.part.as_str().into(),
                            c.value.map_or("not measured".into(), trim),
                            c.threshold.clone(),
                            match c.passed {
                                Some(true) => "pass",
                                Some(false) => "fail",
                                None => "not measured",
                            }
                            .into(),
                        ]
                    })
                    .collect(),
            });
        }
        for f in findings_of(st) {
            blocks.push(Block::Paragraph(format!("finding: {f}")));
        }
        doc.sections.push(Section {
            heading: st.id.clone(),
            blocks,
        });
    }
    if !a.untested.is_empty() {
        doc.sections.push(Section {
            heading: "Not tested".into(),
            blocks: a
                .untested
                .iter()
                .map(|u| Block::Paragraph(format!("{}: {}", u.risk, u.reason)))
                .collect(),
        });
    }
    aisec_report::html::render(&doc)
}

/// Techniques scored by the measured risk of the risks they belong to.
pub fn navigator(
    a: &AssessmentReport,
    kb: &KnowledgeBase,
) -> Result<serde_json::Value, aisec_atlas::AtlasError> {
    let mut highlights: Vec<Highlight> = Vec::new();
    for t in &a.threat_model.techniques {
        if kb.technique(&t.id).is_none() {
            continue;
        }
        let mine: Vec<&RiskOutcome> = a.risks.iter().filter(|r| t.risks.contains(&r.id)).collect();
        let score = mine.iter().map(|r| r.measured_score).max().unwrap_or(0);
        let comment = mine
            .iter()
            .map(|r| format!("{}: {}", r.id, status_word(r.deployed)))
            .collect::<Vec<_>>()
            .join("; ");
        highlights.push(Highlight {
            technique: t.id.clone(),
            tactic: None,
            score: Some(f64::from(score)),
            color: None,
            comment: Some(comment),
        });
    }
    let mut value = layer(
        kb,
        &format!("Assessment: {}", a.system),
        "Techniques scored by measured risk (1–25): the modelled likelihood × severity where an attack broke a criterion or was not tested, severity alone where the system held",
        &highlights,
        &[],
    )?;
    value["gradient"] = serde_json::json!({"colors": ["#ffe766", "#ff9900", "#e60d0d"], "minValue": 1, "maxValue": 25});
    Ok(value)
}

fn today() -> String {
    aisec_core::date::today()
}

/// The exercise as an ATLAS case study: one procedure step per technique, in the order the
/// steps exercised them, each described by what aisec measured.
pub fn case_study(
    a: &AssessmentReport,
    kb: &KnowledgeBase,
) -> Result<CaseStudyFile, aisec_atlas::AtlasError> {
    let mut procedure: Vec<DraftStep> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    // A step's techniques in kill-chain order (access before crafting before impact).
    let tactic_rank = |id: &str| -> usize {
        kb.technique(id)
            .and_then(|t| kb.effective_tactics(t).first())
            .and_then(|tac| kb.tactics.iter().position(|x| &x.id == tac))
            .unwrap_or(usize::MAX)
    };
    for st in a.steps.iter().filter(|s| s.status != Status::Error) {
        let mut ids: Vec<&String> = st.techniques.iter().collect();
        ids.sort_by_key(|id| tactic_rank(id));
        let mut first_of_step = true;
        for id in ids {
            let Some(t) = kb.technique(id) else { continue };
            if seen.contains(&id.as_str()) {
                continue;
            }
            let Some(tactic) = kb.effective_tactics(t).first() else {
                continue;
            };
            seen.push(id);
            let description = if first_of_step {
                let figures: Vec<String> = st
                    .checks
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {} {}",
                            c.metric,
                            c.part.as_str(),
                            c.value.map_or("not measured".into(), trim)
                        )
                    })
                    .collect();
                format!(
                    "{} (step {}, {}): `aisec {}`; {}.",
                    st.why,
                    st.id,
                    st.status.as_str(),
                    shell_line(&st.command),
                    if figures.is_empty() {
                        "no figures".to_string()
                    } else {
                        figures.join(", ")
                    }
                )
            } else {
                format!("{} in the same step ({}).", t.name, st.id)
            };
            first_of_step = false;
            procedure.push(DraftStep {
                tactic: Some(tactic.clone()),
                technique: id.clone(),
                description,
            });
        }
    }
    let draft = Draft {
        name: Some(format!("aisec assessment of {}", a.system)),
        summary: Some(format!(
            "A red-team exercise against {} run by aisec from its threat model: {}. {} steps: {} passed, {} failed, {} not measured, {} could not run.",
            a.system, a.summary.headline, a.summary.steps, a.summary.passed, a.summary.failed, a.summary.not_measured, a.summary.errors
        )),
        incident_date: Some(today()),
        case_study_type: Some("exercise".into()),
        reporter: Some("aisec".into()),
        target: Some(a.system.clone()),
        actor: Some("aisec red team".into()),
        procedure,
        ..Draft::default()
    };
    draft.build(kb)
}

fn sarif_level(severity: &str) -> &'static str {
    match severity {
        "critical" | "high" => "error",
        "medium" => "warning",
        _ => "note",
    }
}

/// SARIF 2.1.0: every finding of every step's run as deployed; findings that point at a file
/// (the scanner's) carry its location, the others name the step's target.
pub fn sarif(a: &AssessmentReport) -> serde_json::Value {
    use serde_json::json;
    let mut rules: Vec<serde_json::Value> = Vec::new();
    let mut results = Vec::new();
    for st in &a.steps {
        let Some(report) = &st.report else { continue };
        let name = report["name"].as_str().unwrap_or("aisec");
        let target = report["target"].as_str().unwrap_or("");
        for f in report["findings"].as_array().into_iter().flatten() {
            let rule = f["evidence"]["rule"].as_str().unwrap_or(name).to_string();
            if !rules.iter().any(|r| r["id"] == rule) {
                rules.push(json!({
                    "id": rule,
                    "name": f["evidence"]["rule"].as_str().map_or(name.to_string(), |_| name.to_string()),
                    "properties": {"atlas": f["atlas"]},
                }));
            }
            let location = match f["evidence"]["file"].as_str() {
                Some(file) => json!({"physicalLocation": {"artifactLocation": {"uri": uri(file)}}}),
                None => json!({"logicalLocations": [{"name": target, "kind": "module"}]}),
            };
            results.push(json!({
                "ruleId": rule,
                "level": sarif_level(f["severity"].as_str().unwrap_or("")),
                "message": {"text": f["title"]},
                "locations": [location],
                "properties": {"atlas": f["atlas"], "step": st.id, "risk": st.risk, "status": st.status.as_str()},
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "aisec", "informationUri": "https://atlas.mitre.org", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results,
        }],
    })
}
