//! The text view of an evasion run: the attack, then each defended run beside the
//! undefended figures. Missing figures print as "n/a", never as zero.

use aisec_assess::findings::describe_config;
use aisec_assess::runner::EvasionRun;
use aisec_core::Metrics;
use aisec_report::RunReport;

use crate::attack_cmd::EvasionArgs;
use crate::output::{num, pct};

pub fn render(run: &EvasionRun, args: &EvasionArgs) -> String {
    let outcome = &run.outcome;
    let report = &run.report;
    let m = &outcome.metrics;
    let mut out = format!(
        "{} on {} — {}\n",
        outcome.name,
        report.target,
        report.data.as_deref().unwrap_or("")
    );
    out.push_str(&format!(
        "  config               {}\n",
        describe_config(&outcome.config)
    ));
    if let Some(t) = args.targeted {
        out.push_str(&format!("  targeted             class {t}\n"));
    }
    out.push_str(&format!(
        "  clean accuracy       {}\n",
        pct(m, aisec_core::Metric::CleanAccuracy)
    ));
    let q = &outcome.queries;
    // A minimum-norm attack (no ε) fools every input it is given room for, so its robust
    // accuracy says nothing by itself: state it at the usual bounds instead.
    let profile = aisec_assess::findings::norm_profile(outcome);
    let robust = match m.get(aisec_core::Metric::RobustAccuracy) {
        Some(_) if profile.is_some() => {
            let p = profile.as_ref().expect("checked");
            let norm = p.norm.label();
            let at: Vec<String> = p
                .robust_accuracy_at
                .iter()
                .map(|a| {
                    format!(
                        "{:.2}% at {norm} ≤ {}",
                        100.0 * a.robust_accuracy,
                        aisec_assess::findings::trim_float(a.norm_at_most)
                    )
                })
                .collect();
            format!(
                "{} (minimum-norm attack, no ε: unbounded it is 0 by design)",
                at.join(", ")
            )
        }
        Some(r) => format!("{:.2}%", 100.0 * r),
        None => {
            let still_right = outcome
                .examples
                .iter()
                .filter(|e| e.adversarial_prediction == e.label)
                .count();
            format!(
                "not measured: {} of {} inputs not evaluated (at most {:.2}%)",
                q.inputs_not_evaluated,
                outcome.examples.len(),
                100.0 * still_right as f64 / outcome.examples.len().max(1) as f64
            )
        }
    };
    out.push_str(&format!("  robust accuracy      {robust}\n"));
    out.push_str(&format!(
        "  attack success rate  {}{}\n",
        pct(m, aisec_core::Metric::AttackSuccessRate),
        if q.inputs_not_evaluated > 0 {
            " at least (inputs not evaluated count as not fooled)"
        } else {
            ""
        }
    ));
    out.push_str(&format!(
        "  perturbation         mean L∞ {}, mean L2 {}, median L2 {} (successful examples)\n",
        num(m, aisec_core::Metric::MeanLinf, 4),
        num(m, aisec_core::Metric::MeanL2, 4),
        num(m, aisec_core::Metric::MedianL2, 4)
    ));
    let allowed = match (q.allowed_per_input, q.allowed_total) {
        (Some(p), Some(t)) => format!("allowed {p} per input and {t} in total"),
        (Some(p), None) => format!("allowed {p} per input, no total limit"),
        (None, Some(t)) => format!("allowed {t} in total"),
        (None, None) => "no limit".to_string(),
    };
    out.push_str(&format!(
        "  queries              {} spent in total, {} per input on average ({allowed})\n",
        num(m, aisec_core::Metric::QueriesTotal, 0),
        num(m, aisec_core::Metric::QueriesMean, 1)
    ));
    if q.stopped_by_budget {
        out.push_str(&format!(
            "  stopped              the budget ran out before the attack finished: {} inputs not evaluated\n",
            q.inputs_not_evaluated
        ));
    }
    out.push_str(&format!(
        "  wall time            {} s (the clean predictions and the attack; the attack alone {} s)\n",
        num(m, aisec_core::Metric::WallSeconds, 2),
        num(m, aisec_core::Metric::AttackSeconds, 2)
    ));
    if let Some(parts) = &outcome.observations.parts {
        out.push_str(&format!(
            "  read in parts        {} parts of up to {} inputs; the attack's own observations are from {}\n",
            parts.parts, parts.inputs_per_part, parts.attack_observations_from
        ));
    }
    if let Some(hsj) = outcome
        .observations
        .attack
        .as_ref()
        .and_then(|o| o.get::<aisec_attacks::evasion::hsj::HsjObservations>())
    {
        let points: Vec<String> = hsj
            .median_distance_by_queries
            .iter()
            .map(|p| format!("{} → {:.3}", p.queries, p.median_distance))
            .collect();
        out.push_str(&format!(
            "  median distance by queries per example: {}\n",
            points.join(", ")
        ));
    }
    for f in &report.findings {
        crate::output::push_finding(&mut out, f);
    }
    match (&run.defended, &report.defended) {
        (None, Some(detection)) => push_detection(&mut out, detection),
        (Some(_), Some(defended)) => {
            push_defended(&mut out, "behind the defence", defended, m);
            if let Some(adaptive) = &defended.adaptive {
                push_defended(&mut out, "adaptive attack behind the defence", adaptive, m);
            }
        }
        _ => {}
    }
    if let Some(path) = &args.save_adv {
        out.push_str(&format!(
            "\nadversarial inputs saved to {}\n",
            path.display()
        ));
    }
    out
}

fn push_detection(out: &mut String, detection: &RunReport) {
    let dm = &detection.metrics;
    out.push_str(&format!(
        "\nfeature squeezing (AML.M0015, Deployment), threshold {} (L1 change of the probabilities)\n",
        detection
            .config
            .get::<aisec_defenses::feature_squeezing::FeatureSqueezing>()
            .map_or_else(
                || aisec_core::NOT_MEASURED.to_string(),
                |f| aisec_assess::findings::trim_float(f64::from(f.threshold))
            )
    ));
    out.push_str(&format!(
        "  non-adaptive         detects {} of successful examples at {} false positives (AUC {})\n",
        pct(dm, aisec_core::Metric::DetectionRecall),
        pct(dm, aisec_core::Metric::FalsePositiveRate),
        num(dm, aisec_core::Metric::Auc, 3)
    ));
    let adaptive = detection
        .observations
        .as_ref()
        .and_then(|o| o.get::<aisec_assess::detection::DetectionObservations>())
        .and_then(|o| o.adaptive.as_ref());
    match adaptive {
        Some(a) => out.push_str(&format!(
            "  adaptive attack      detects {:.1}% of {} fooled inputs\n",
            100.0 * a.report.detection_recall,
            a.report.adversarial_examples
        )),
        _ => out
            .push_str("  adaptive attack      not run (needs gradient access and an L∞ budget)\n"),
    }
    for f in &detection.findings {
        out.push_str(&format!(
            "  [{}] {}\n",
            f.severity.as_str().to_uppercase(),
            f.title
        ));
    }
}

fn push_defended(out: &mut String, heading: &str, defended: &RunReport, undefended: &Metrics) {
    let d = &defended.metrics;
    out.push_str(&format!("\n{heading}: {}\n", defended.target));
    if let Some(info) = &defended.defense {
        out.push_str(&format!(
            "  defence              {} ({}; {})\n",
            info.name,
            info.mitigations.join(", "),
            info.phases.join("; ")
        ));
    }
    for (label, key) in [
        ("clean accuracy     ", aisec_core::Metric::CleanAccuracy),
        ("robust accuracy    ", aisec_core::Metric::RobustAccuracy),
        ("attack success rate", aisec_core::Metric::AttackSuccessRate),
    ] {
        out.push_str(&format!(
            "  {label}  {} (undefended {})\n",
            pct(d, key),
            pct(undefended, key)
        ));
    }
    out.push_str(&format!(
        "  queries              {} total (undefended {})\n",
        num(d, aisec_core::Metric::QueriesTotal, 0),
        num(undefended, aisec_core::Metric::QueriesTotal, 0)
    ));
    let observed = defended.defense.as_ref().and_then(|i| i.observed.as_ref());
    if let Some(stats) = observed.and_then(|o| o.get::<aisec_defenses::query_limit::ClientStats>())
    {
        if stats.waited_s > 0.0 {
            out.push_str(&format!(
                "  imposed wait         {:.1} s ({:.2} h) over {} throttled queries: slowed, not stopped\n",
                stats.waited_s,
                stats.waited_s / 3600.0,
                stats.throttled
            ));
        }
    }
    let refused = observed.and_then(|o| {
        o.get::<aisec_defenses::query_limit::ClientStats>()
            .map(|s| s.refused)
            .or_else(|| {
                o.get::<aisec_defenses::prada::PradaStats>()
                    .map(|s| s.refused)
            })
    });
    if let Some(refused) = refused.filter(|r| *r > 0) {
        out.push_str(&format!("  refused queries      {refused}\n"));
    }
    for f in &defended.findings {
        out.push_str(&format!(
            "  [{}] {}\n",
            f.severity.as_str().to_uppercase(),
            f.title
        ));
    }
}
