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
    format!(
        "{slower}: {} slower than {faster} (median {} against {}): AUC {:.3} [{lo:.3}–{hi:.3}], {:.3} from a single query; {:.3} bits of mutual information; p = {:.2e} ({})",
        duration(slow_us - fast_us),
        duration(slow_us),
        duration(fast_us),
        t.separation(),
        t.single_query_auc.max(1.0 - t.single_query_auc),
        t.mutual_information_bits,
        t.p_value,
        t.test
    )
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
    if out.is_empty() {
        let title = match (strongest(outcome), &outcome.stopped) {
            (_, Some(why)) if outcome.inputs_timed < 2 * aisec_attacks::sidechannel::timing::MIN_GROUP => {
                format!("No timing measurement of {target}: {why}")
            }
            (Some(s), _) => format!(
                "The response time of {target} separates none of the {} properties tested at α = {} with AUC ≥ {}: the strongest, {}, has AUC {:.3} [{:.3}–{:.3}], p = {:.2e}",
                outcome.properties.len(),
                outcome.config.alpha,
                outcome.config.min_auc,
                s.property.as_str(),
                s.separation(),
                s.separation_interval()[0],
                s.separation_interval()[1],
                s.p_value
            ),
            (None, _) => format!("No property of the inputs could be tested against the response time of {target}"),
        };
        let mut f = Finding::new(title, Severity::Info, atlas(&["AML.T0040", "AML.T0063"]));
        f.evidence = Evidence {
            metrics: metrics(outcome),
            ..Evidence::default()
        };
        out.push(f);
    }
    out
}

#[derive(Debug, Clone, serde::Serialize)]
struct Observed {
    rounds: usize,
    inputs_timed: usize,
    latency: Option<aisec_attacks::sidechannel::timing::LatencySummary>,
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
