//! The demo report's opening: per attack family, the worst result before its defence and the
//! worst after it (adaptive attacks included), in one table and one chart; and the findings
//! grouped by family.

use aisec_core::Metric;
use aisec_core::{Finding, Metrics};
use aisec_report::html::{Block, FindingGroup};
use aisec_report::svg;

use crate::demo::DemoOutcome;

/// One family's line of the summary. `before` and `after` are the adversary's success
/// (a fraction) without and with the defence.
pub struct FamilyLine {
    pub family: &'static str,
    pub attack: String,
    pub before: f64,
    pub defence: &'static str,
    pub after: f64,
    pub measure: String,
}

fn metric(m: &Metrics, key: Metric) -> f64 {
    // A figure a stage did not report counts as the worst case for the defender.
    m.get(key).unwrap_or(1.0)
}

pub fn lines(outcome: &DemoOutcome) -> Vec<FamilyLine> {
    let mut lines = Vec::new();
    let worst = |pick: &dyn Fn(&crate::demo::BatteryRow) -> f64| {
        outcome
            .battery
            .iter()
            .map(|r| (pick(r), r))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    };
    if let (Some((before, row_before)), Some((after, row_after))) = (
        worst(&|r| metric(&r.baseline.metrics, Metric::AttackSuccessRate)),
        worst(&|r| metric(&r.defended.metrics, Metric::AttackSuccessRate)),
    ) {
        lines.push(FamilyLine {
            family: "Evasion (white box)",
            attack: format!(
                "{} ({}) before; {} ({}) after",
                row_before.baseline.name,
                crate::findings::describe_config(&row_before.baseline.config),
                row_after.defended.name,
                crate::findings::describe_config(&row_after.defended.config)
            ),
            before,
            defence: "PGD adversarial training (AML.M0003)",
            after,
            measure: "attack success rate".into(),
        });
    }
    if let Some(hsj) = outcome.runs.iter().find(|r| r.name == "evasion.hsj") {
        if let Some(defended) = &hsj.defended {
            lines.push(FamilyLine {
                family: "Evasion (labels only)",
                attack: "evasion.hsj (L2, unbounded)".into(),
                before: metric(&hsj.metrics, Metric::AttackSuccessRate),
                defence: "PGD adversarial training (AML.M0003)",
                after: metric(&defended.metrics, Metric::AttackSuccessRate),
                measure: "attack success rate (minimum-norm: any size)".into(),
            });
        }
    }
    if let Some(d) = &outcome.detection {
        let plain = metric(&d.metrics, Metric::DetectionRecall);
        let adaptive = d
            .observations
            .as_ref()
            .and_then(|o| o.get::<crate::detection::DetectionObservations>())
            .and_then(|o| o.adaptive.as_ref())
            .map(|a| a.report.detection_recall);
        lines.push(FamilyLine {
            family: "Evasion past a detector",
            attack: "evasion.pgd, then PGD that knows the squeezers".into(),
            before: 1.0,
            defence: "feature squeezing (AML.M0015)",
            after: 1.0 - adaptive.map_or(plain, |a| a.min(plain)),
            measure: "adversarial inputs not flagged".into(),
        });
    }
    if let Some((p, _)) = &outcome.poisoning {
        if let (Some(before), Some(after)) = (
            p.poisoned_model.attack_success_rate,
            p.defended
                .as_ref()
                .and_then(|d| d.after.attack_success_rate),
        ) {
            lines.push(FamilyLine {
                family: "Poisoning (backdoor)",
                attack: format!("{} at 5%", p.attack.name()),
                before,
                defence: "activation clustering, retrain (AML.M0007)",
                after,
                measure: "triggered inputs sent to the target class".into(),
            });
        }
    }
    if let Some(stage) = &outcome.extraction {
        let defended: Vec<_> = stage.rows.iter().filter(|r| r.defended.is_some()).collect();
        let best = |fidelity: &dyn Fn(&crate::demo::extraction::ExtractionRow) -> f64| {
            defended
                .iter()
                .map(|r| (fidelity(r), r.label.clone()))
                .max_by(|a, b| a.0.total_cmp(&b.0))
        };
        if let (Some((before, label_before)), Some((after, label_after))) = (
            best(&|r| metric(&r.report.metrics, Metric::Fidelity)),
            best(&|r| {
                r.defended
                    .as_ref()
                    .map_or(1.0, |d| metric(&d.report.metrics, Metric::Fidelity))
            }),
        ) {
            lines.push(FamilyLine {
                family: "Extraction",
                attack: format!("{label_before} before; {label_after} after"),
                before,
                defence: "output hardening (AML.M0002) / PRADA (AML.M0024)",
                after,
                measure: "substitute's agreement with the model (fidelity)".into(),
            });
        }
    }
    if let Some(stage) = &outcome.privacy {
        let tpr = |r: &aisec_report::RunReport| metric(&r.metrics, Metric::TprAt1PctFpr);
        let worst = stage
            .membership
            .iter()
            .max_by(|a, b| tpr(a).total_cmp(&tpr(b)));
        let dp = stage
            .defended
            .iter()
            .zip(&stage.config.defences)
            .find(|(_, form)| form.starts_with("dp-sgd"));
        if let (Some(worst), Some((dp, form))) = (worst, dp) {
            lines.push(FamilyLine {
                family: "Membership inference",
                attack: format!("{} before; membership.lira after", worst.name),
                before: tpr(worst),
                defence: "DP-SGD (AML.M0003)",
                after: tpr(dp),
                measure: format!("training records identified at 1% FPR (LiRA behind {form})"),
            });
        }
    }
    if let Some(scan) = &outcome.scan {
        let flagged = scan.poisoned.verdict >= aisec_scan::Verdict::Suspicious;
        lines.push(FamilyLine {
            family: "Malicious model file",
            attack: "a pickle payload injected into the checkpoint".into(),
            before: 1.0,
            defence: "aisec scan before loading (AML.M0016)",
            after: if flagged { 0.0 } else { 1.0 },
            measure: "payload runs when the file is loaded".into(),
        });
    }
    lines
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

/// The summary table and chart.
pub fn blocks(outcome: &DemoOutcome) -> Vec<Block> {
    let lines = lines(outcome);
    let rows = lines
        .iter()
        .map(|l| {
            vec![
                l.family.to_string(),
                l.attack.clone(),
                l.measure.to_string(),
                pct(l.before),
                l.defence.to_string(),
                pct(l.after),
            ]
        })
        .collect();
    let bars: Vec<(String, f64)> = lines
        .iter()
        .flat_map(|l| {
            [
                (format!("{}: no defence", l.family), l.before),
                (format!("{}: defended", l.family), l.after),
            ]
        })
        .collect();
    vec![
        Block::Paragraph("The worst result of each attack family against the undefended system and against the system with its defence (the adaptive attack where there is one); the adversary's success, so lower is better after the defence. Details and every finding follow.".into()),
        Block::Table {
            headers: ["family", "worst attack", "measure", "no defence", "defence", "defended"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows,
        },
        Block::Svg(svg::bars("The adversary's success, without and with the defence", &bars)),
    ]
}

/// The family a finding belongs to, by the ATLAS techniques it names.
fn family_of(f: &Finding) -> &'static str {
    let names = |id: &str| f.atlas.iter().any(|a| a.as_str() == id);
    if names("AML.T0024.002") {
        "Extraction"
    } else if names("AML.T0024.000") {
        "Membership inference"
    } else if names("AML.T0024.001") {
        "Model inversion"
    } else if names("AML.T0020") {
        "Poisoning"
    } else if names("AML.T0011.000") {
        "Malicious model files"
    } else if names("AML.T0043.001") {
        "Evasion with scores or labels only"
    } else {
        "Evasion with gradients"
    }
}

/// The findings in groups, in the order the families first appear.
pub fn groups(findings: &[Finding]) -> Vec<FindingGroup> {
    let mut groups: Vec<FindingGroup> = Vec::new();
    for f in findings {
        let family = family_of(f);
        match groups.iter_mut().find(|g| g.heading == family) {
            Some(g) => g.findings.push(f.clone()),
            None => groups.push(FindingGroup {
                heading: family.to_string(),
                findings: vec![f.clone()],
            }),
        }
    }
    groups
}
