//! The run object of a timing side-channel attack (`aisec attack timing`): which input
//! properties the response time separates, by how much, and the same after padding.

use aisec_atlas::KnowledgeBase;
use aisec_attacks::sidechannel::timing::{PropertyTest, TimingOutcome, INFO};
use aisec_core::{AtlasRef, DefenseRef, Details, Evidence, Finding, Metric, Metrics, Severity};
use aisec_report::{RunKind, RunReport};

use crate::findings::mitigation_refs;

/// The strongest separation over the properties tested (max(AUC, 1 − AUC)).
pub fn strongest(outcome: &TimingOutcome) -> Option<&PropertyTest> {
    outcome
        .properties
        .iter()
        .max_by(|a, b| a.separation().total_cmp(&b.separation()))
}

pub fn metrics(outcome: &TimingOutcome) -> Metrics {
    let mut metrics = Metrics::default();
    let mut pairs = vec![
        (Metric::QueriesTotal, outcome.queries as f64),
        (Metric::WallSeconds, outcome.seconds),
    ];
    if let Some(s) = strongest(outcome) {
        pairs.push((Metric::Auc, s.separation()));
    }
    for (metric, value) in pairs {
        if let Err(e) = metrics.insert(metric, value) {
            tracing::warn!("{e}");
        }
    }
    metrics
}

/// "1.62 ms" or "812 µs".
pub fn duration(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// "wrong answers: 247 µs slower than right answers (median 437 µs against 190 µs): AUC
/// 0.889 [0.822–0.946], …".
pub fn describe(t: &PropertyTest) -> String {
    let (slower, faster, slow_us, fast_us) = t.ordered();
    let [lo, hi] = t.separation_interval();
    let chosen = match t.selected_among {
        Some(k) => format!(" (the most separated of {k} groups: the interval does not allow for the choice, the p-value does)"),
        None => String::new(),
    };
    format!(
        "{slower} slower than {faster} (medians {} against {}): AUC {:.3} [{lo:.3}–{hi:.3}]{chosen}, {:.3} from a single query; p = {} (permutation test, {} shuffles); {:.3} bits of mutual information above chance (p = {})",
        duration(slow_us),
        duration(fast_us),
        t.separation(),
        t.single_query_auc.max(1.0 - t.single_query_auc),
        p_value(t.p_value),
        t.permutations,
        t.mutual_information_bits,
        p_value(t.mutual_information_p),
    )
}

/// "0.012", "3.1e-5".
pub fn p_value(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// "1 property", "3 properties".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn findings(outcome: &TimingOutcome, kb: &KnowledgeBase, target: &str) -> Vec<Finding> {
    let mitigations = mitigation_refs(kb, aisec_defenses::latency_padding::INFO.mitigations);
    let atlas = |ids: &[&str]| -> Vec<AtlasRef> {
        ids.iter()
            .filter_map(|id| AtlasRef::parse(id).ok())
            .collect()
    };
    let mut out: Vec<Finding> = outcome
        .leaking()
        .map(|t| {
            let severity = if t.separation() >= 0.8 {
                Severity::High
            } else {
                Severity::Medium
            };
            let mut f = Finding::new(
                format!(
                    "The response time of {target} reveals the input's {}: {}",
                    t.property.as_str(),
                    describe(t)
                ),
                severity,
                atlas(&["AML.T0040", t.property.technique()]),
            );
            f.mitigations = mitigations.clone();
            let mut metrics = Metrics::default();
            let _ = metrics.insert(Metric::Auc, t.separation());
            f.evidence = Evidence {
                metrics,
                ..Evidence::default()
            };
            f
        })
        .collect();
    let stopped = outcome.stopped.as_ref().map_or(String::new(), |why| {
        format!(" (measurement stopped early: {why})")
    });
    if out.is_empty() {
        if let Some(d) = outcome.input_dependence.as_ref().filter(|d| d.depends) {
            let spread = outcome
                .latency
                .as_ref()
                .map_or(0.0, |l| l.between_inputs_us);
            let mut f = Finding::new(
                format!(
                    "The response time of {target} depends on the input (split-half rank correlation {:.2}, p = {}; the middle 80% of inputs span {}) but separates none of the properties tested: something about the input leaks{stopped}",
                    d.split_half_spearman,
                    p_value(d.p),
                    duration(spread)
                ),
                Severity::Low,
                atlas(&["AML.T0040", "AML.T0063"]),
            );
            f.mitigations = mitigations.clone();
            f.evidence = Evidence {
                metrics: metrics(outcome),
                ..Evidence::default()
            };
            out.push(f);
        }
    }
    if out.is_empty() {
        let title = match strongest(outcome) {
            _ if outcome.inputs_timed < 2 * aisec_attacks::sidechannel::timing::MIN_GROUP => {
                format!(
                    "No timing measurement of {target}: {} inputs timed{stopped}",
                    outcome.inputs_timed
                )
            }
            Some(s) => format!(
                "The response time of {target} separates none of the {} tested at α = {} with AUC ≥ {} and medians {} apart: the strongest, {}, has AUC {:.3} [{:.3}–{:.3}], p = {}{stopped}",
                count(outcome.properties.len(), "property", "properties"),
                outcome.config.alpha,
                outcome.config.min_auc,
                duration(outcome.config.min_difference_us),
                s.property.as_str(),
                s.separation(),
                s.separation_interval()[0],
                s.separation_interval()[1],
                p_value(s.p_value)
            ),
            None => format!(
                "No property of the inputs could be tested against the response time of {target}{stopped}"
            ),
        };
        let mut f = Finding::new(title, Severity::Info, atlas(&["AML.T0040", "AML.T0063"]));
        f.evidence = Evidence {
            metrics: metrics(outcome),
            ..Evidence::default()
        };
        out.push(f);
    } else if !stopped.is_empty() {
        for f in &mut out {
            f.title.push_str(&stopped);
        }
    }
    out
}

#[derive(Debug, Clone, serde::Serialize)]
struct Observed {
    rounds: usize,
    inputs_timed: usize,
    latency: Option<aisec_attacks::sidechannel::timing::LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_dependence: Option<aisec_attacks::sidechannel::timing::InputDependence>,
    properties: Vec<PropertyTest>,
    untested: Vec<aisec_attacks::sidechannel::timing::Untested>,
    inconsistent_answers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<String>,
    /// How the target was reached.
    served: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    padding_quantum_ms: Option<f64>,
    inputs: Vec<aisec_attacks::sidechannel::timing::InputTiming>,
}

/// The run report; `served` says how the target was reached (served by aisec here, or a
/// remote URL) and `quantum_ms` the padding it was served with.
pub fn report(
    outcome: &TimingOutcome,
    kb: &KnowledgeBase,
    target: &str,
    data: &str,
    seed: u64,
    served: &str,
    quantum_ms: Option<f64>,
) -> RunReport {
    RunReport::new(
        RunKind::Attack,
        INFO.name,
        INFO.atlas,
        target,
        Details::new(outcome.config),
        seed,
        metrics(outcome),
    )
    .with_data(data)
    .with_observations(Details::new(Observed {
        rounds: outcome.rounds,
        inputs_timed: outcome.inputs_timed,
        latency: outcome.latency.clone(),
        input_dependence: outcome.input_dependence.clone(),
        properties: outcome.properties.clone(),
        untested: outcome.untested.clone(),
        inconsistent_answers: outcome.inconsistent_answers,
        stopped: outcome.stopped.clone(),
        served: served.to_string(),
        padding_quantum_ms: quantum_ms,
        inputs: outcome.inputs.clone(),
    }))
    .with_findings(findings(outcome, kb, target))
}

/// The undefended run with the defence's run.
pub fn with_defense(mut report: RunReport, defense: DefenseRef, defended: RunReport) -> RunReport {
    report.defense = Some(defense);
    report.defended = Some(Box::new(defended));
    report
}
