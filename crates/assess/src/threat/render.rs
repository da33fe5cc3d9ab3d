//! The threat model as text (terminal), Markdown (a pull request or wiki) and an ATT&CK
//! Navigator layer scored by risk. JSON is the serialised [`ThreatModel`].

use std::fmt::Write;

use aisec_atlas::export::navigator::{layer, Highlight};
use aisec_atlas::KnowledgeBase;

use super::profile::kebab;
use super::ThreatModel;

pub fn text(tm: &ThreatModel) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Threat model: {} (ATLAS {}, profile {})",
        tm.system, tm.atlas_version, tm.profile
    );
    let objectives: Vec<&str> = tm.objectives.iter().map(|o| o.as_str()).collect();
    let _ = writeln!(s, "Objectives: {}", objectives.join(", "));
    let _ = writeln!(s, "\nAdversaries");
    for a in &tm.adversaries {
        let _ = writeln!(
            s,
            "  {:<17} {:<10} {} — reaches {}",
            a.id.as_str(),
            kebab(&a.knowledge),
            a.capabilities,
            a.reaches.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "\nRisks, highest first (likelihood × severity; scale below)"
    );
    for r in &tm.risks {
        let _ = writeln!(
            s,
            "\n  {:>2} {:<9} {} — {}\n     L{} × S{} · {} · {} · {}",
            r.score,
            r.rating.as_str(),
            r.id,
            r.title,
            r.likelihood.score,
            r.severity.score,
            r.adversary.as_str(),
            kebab(&r.knowledge),
            kebab(&r.targeting),
        );
        let ids: Vec<String> = r
            .techniques
            .iter()
            .map(|t| format!("{} {}", t.id, t.name))
            .collect();
        let _ = writeln!(s, "     techniques: {}", ids.join("; "));
        for why in &r.rationale {
            let _ = writeln!(s, "     because {why}");
        }
        let _ = writeln!(s, "     likelihood: {}", r.likelihood.why.join("; "));
        let _ = writeln!(s, "     severity: {}", r.severity.why.join("; "));
        for p in &r.prior {
            let _ = writeln!(
                s,
                "     prior evidence: {} ({}): {}",
                p.id,
                p.sep.join(", "),
                p.summary
            );
        }
        // By phase, IDs only; names once below (a mitigation spans several phases).
        for phase in &r.mitigations {
            let ids: Vec<&str> = phase.mitigations.iter().map(|m| m.id.as_str()).collect();
            let _ = writeln!(s, "     mitigate in {}: {}", phase.phase, ids.join(", "));
        }
        let mut named: Vec<String> = Vec::new();
        for m in r.mitigations.iter().flat_map(|p| &p.mitigations) {
            let line = if m.aisec.is_empty() {
                format!("{} {}", m.id, m.name)
            } else {
                format!("{} {} (aisec: {})", m.id, m.name, m.aisec.join(", "))
            };
            if !named.contains(&line) {
                named.push(line);
            }
        }
        if !named.is_empty() {
            let _ = writeln!(s, "     mitigations: {}", named.join("; "));
        }
        if r.tested_by.is_empty() {
            let _ = writeln!(s, "     tested by: no aisec attack measures this risk");
        } else {
            let t: Vec<&str> = r.tested_by.iter().map(|t| t.name.as_str()).collect();
            let _ = writeln!(s, "     tested by: {}", t.join(", "));
        }
    }
    let _ = writeln!(s, "\nNot applicable");
    for n in &tm.not_applicable {
        let _ = writeln!(s, "  {}/{}: {}", n.component, n.family, n.reason);
    }
    if !tm.prior_evidence.is_empty() {
        let _ = writeln!(s, "\nAVID records read");
        for p in &tm.prior_evidence {
            let outcome = match &p.unmatched {
                Some(why) => format!("no risk raised: {why}"),
                None => {
                    let mut parts = Vec::new();
                    if !p.raised.is_empty() {
                        parts.push(format!("raised {}", p.raised.join(", ")));
                    }
                    if !p.corroborates.is_empty() {
                        parts.push(format!(
                            "corroborates {} (already at the top or raised by an earlier record)",
                            p.corroborates.join(", ")
                        ));
                    }
                    format!("{}; matched {}", parts.join("; "), p.matched_as.join(", "))
                }
            };
            let _ = writeln!(s, "  {} ({}): {outcome}", p.id, p.file);
        }
    }
    let _ = writeln!(
        s,
        "\nScale\n  likelihood: {}\n  severity: {}\n  risk: {}",
        tm.scale.likelihood, tm.scale.severity, tm.scale.risk
    );
    s
}

/// Profile text in Markdown: a table cell's pipes escaped, and HTML's `<`, `>`, `&` as
/// entities, since Markdown renderers pass raw HTML through (a system named
/// `<script>…` must stay text).
fn cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('\n', " ")
}

pub fn markdown(tm: &ThreatModel) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Threat model: {}\n", cell(&tm.system));
    if let Some(d) = &tm.description {
        // The owner's description keeps its Markdown, not raw HTML.
        let text = d
            .trim()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let _ = writeln!(s, "{text}\n");
    }
    let objectives: Vec<&str> = tm.objectives.iter().map(|o| o.as_str()).collect();
    let _ = writeln!(
        s,
        "ATLAS {} · profile `{}` · objectives: {}\n",
        tm.atlas_version,
        tm.profile.replace('`', "'"),
        objectives.join(", ")
    );
    let _ = writeln!(s, "## Risks\n\n| risk | rating | L × S | techniques | adversary | tested by |\n|---|---|---|---|---|---|");
    for r in &tm.risks {
        let ids: Vec<&str> = r.techniques.iter().map(|t| t.id.as_str()).collect();
        let tests: Vec<&str> = r.tested_by.iter().map(|t| t.name.as_str()).collect();
        let _ = writeln!(
            s,
            "| **{}** — {} | {} | {} × {} = {} | {} | {} ({}) | {} |",
            cell(&r.id),
            cell(&r.title),
            r.rating.as_str(),
            r.likelihood.score,
            r.severity.score,
            r.score,
            ids.join(", "),
            r.adversary.as_str(),
            kebab(&r.knowledge),
            if tests.is_empty() {
                "—".to_string()
            } else {
                tests.join(", ")
            },
        );
    }
    let _ = writeln!(s, "\n## Why each risk applies\n");
    for r in &tm.risks {
        let _ = writeln!(s, "### {}\n", cell(&r.id));
        for why in &r.rationale {
            let _ = writeln!(s, "- {}", cell(why));
        }
        let _ = writeln!(
            s,
            "- likelihood {}: {}",
            r.likelihood.level.as_str(),
            cell(&r.likelihood.why.join("; "))
        );
        let _ = writeln!(
            s,
            "- severity {}: {}",
            r.severity.level.as_str(),
            cell(&r.severity.why.join("; "))
        );
        for p in &r.prior {
            let _ = writeln!(
                s,
                "- prior evidence: {} ({}): {}",
                cell(&p.id),
                p.sep.join(", "),
                cell(&p.summary)
            );
        }
        if !r.mitigations.is_empty() {
            let _ = writeln!(s, "\nMitigations by lifecycle phase:\n");
            for phase in &r.mitigations {
                let ms: Vec<String> = phase
                    .mitigations
                    .iter()
                    .map(|m| match m.aisec.is_empty() {
                        true => format!("{} {}", m.id, m.name),
                        false => format!("{} {} (aisec: {})", m.id, m.name, m.aisec.join(", ")),
                    })
                    .collect();
                let _ = writeln!(s, "- *{}*: {}", phase.phase, cell(&ms.join("; ")));
            }
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "## Adversaries\n\n| tier | knowledge | capabilities | reaches |\n|---|---|---|---|"
    );
    for a in &tm.adversaries {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            a.name,
            kebab(&a.knowledge),
            a.capabilities,
            cell(&a.reaches.join(", "))
        );
    }
    let _ = writeln!(
        s,
        "\n## Not applicable\n\n| component | family | techniques | why not |\n|---|---|---|---|"
    );
    for n in &tm.not_applicable {
        let ids: Vec<&str> = n.techniques.iter().map(|t| t.id.as_str()).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            cell(&n.component),
            n.family,
            ids.join(", "),
            cell(&n.reason)
        );
    }
    if !tm.prior_evidence.is_empty() {
        let _ = writeln!(
            s,
            "\n## AVID records read\n\n| record | file | matched | raised | corroborates | or why not |\n|---|---|---|---|---|---|"
        );
        for p in &tm.prior_evidence {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&p.id),
                cell(&p.file),
                cell(&p.matched_as.join(", ")),
                cell(&p.raised.join(", ")),
                cell(&p.corroborates.join(", ")),
                cell(p.unmatched.as_deref().unwrap_or(""))
            );
        }
    }
    let _ = writeln!(
        s,
        "\n## Scale\n\n- likelihood: {}\n- severity: {}\n- risk: {}",
        tm.scale.likelihood, tm.scale.severity, tm.scale.risk
    );
    s
}

/// Each applicable technique scored by the highest risk it belongs to (1–25).
pub fn navigator(
    tm: &ThreatModel,
    kb: &KnowledgeBase,
) -> Result<serde_json::Value, aisec_atlas::AtlasError> {
    let highlights: Vec<Highlight> = tm
        .techniques
        .iter()
        .filter(|t| kb.technique(&t.id).is_some())
        .map(|t| Highlight {
            technique: t.id.clone(),
            tactic: None,
            score: Some(f64::from(t.score)),
            color: None,
            comment: Some(format!("risks: {}", t.risks.join(", "))),
        })
        .collect();
    let mut value = layer(
        kb,
        &format!("Threat model: {}", tm.system),
        &format!(
            "Applicable techniques scored by risk (likelihood × severity, 1–25). {}",
            tm.scale.risk
        ),
        &highlights,
        &[],
    )?;
    value["gradient"] = serde_json::json!({
        "colors": ["#ffe766", "#ff9900", "#e60d0d"],
        "minValue": 1,
        "maxValue": 25
    });
    Ok(value)
}
