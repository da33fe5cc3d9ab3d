//! Extraction runs as reports: the attack against the plain API, then against the same API
//! behind a defence (output hardening or the PRADA monitor), with the difference.

use aisec_core::{Details, Metric};
use serde::Serialize;
use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::extract::{
    self, Checkpoint, ExtractionAttack, ExtractionOutcome, ExtractionTask, Measurement, Transfer,
};
use aisec_core::{AtlasRef, Finding, Severity};
use aisec_defenses::prada::PradaStats;
use aisec_defenses::query_limit::LOCAL_CLIENT;
use aisec_defenses::{DefenseSpec, Family};
use aisec_ml::data::augment::natural_variations;
use aisec_ml::data::Dataset;
use aisec_ml::model::{rows, Classifier, OutputKind};
use aisec_ml::train;
use aisec_report::{RunKind, RunReport};

use crate::findings::mitigation_refs;
use crate::{AssessError, Result};

/// Mitigations ATLAS lists against extraction through the API.
pub const EXTRACTION_MITIGATIONS: &[&str] = &["AML.M0002", "AML.M0004", "AML.M0024"];

/// Benign queries PRADA's false alarms are measured on.
pub const BENIGN_STREAM: usize = 5000;

/// The attack's result as a finding.
pub fn extraction_finding(
    outcome: &ExtractionOutcome,
    kb: &KnowledgeBase,
    subject: &str,
) -> Finding {
    let fidelity = outcome.metrics.get(Metric::Fidelity);
    let severity = match fidelity {
        Some(f) if f >= 0.9 => Severity::High,
        Some(f) if f >= 0.7 => Severity::Medium,
        Some(_) => Severity::Low,
        None => Severity::Info,
    };
    let verb = match fidelity {
        Some(f) if f >= 0.7 => "copies",
        Some(_) => "fails to copy",
        None => "was run against",
    };
    let mut title = format!(
        "{} {verb} {subject}: the substitute agrees with it on {} of held-out inputs ({} of uniform random inputs) after {} queries ({})",
        outcome.name,
        outcome.metrics.pct(Metric::Fidelity),
        outcome.metrics.pct(Metric::FidelityUniform),
        outcome.metrics.fixed(Metric::QueriesTotal, 0),
        output_words(outcome),
    );
    let mut atlas: Vec<AtlasRef> = outcome
        .atlas
        .iter()
        .filter_map(|a| AtlasRef::parse(a).ok())
        .collect();
    if let Some(t) = &outcome.transfer {
        title.push_str(&format!(
            "; PGD ε={} on the substitute fools the victim on {:.1}% of inputs it got right",
            t.eps,
            100.0 * t.attack_success_rate
        ));
        if let Ok(r) = AtlasRef::parse(extract::TRANSFER_ATLAS) {
            atlas.push(r);
        }
    }
    let mut finding = Finding::new(title, severity, atlas);
    finding.mitigations = mitigation_refs(kb, EXTRACTION_MITIGATIONS);
    finding.evidence.metrics = outcome.metrics.clone();
    finding
}

fn output_words(outcome: &ExtractionOutcome) -> String {
    use aisec_ml::model::OutputKind;
    match outcome.output_kind {
        OutputKind::Probabilities => "probabilities".into(),
        OutputKind::Logits => "logits".into(),
        OutputKind::TopK(k) => format!("top-{k}"),
        OutputKind::Label => "labels only".into(),
    }
}

/// What an extraction run observed beyond the shared metrics.
#[derive(Debug, Clone, Serialize)]
pub struct ExtractionObservations {
    pub fidelity_by_queries: Vec<Checkpoint>,
    pub output_kind: OutputKind,
    pub budget_exhausted: bool,
    pub stop_reason: Option<String>,
    pub measurement: Measurement,
    pub transfer: Option<Transfer>,
    /// The attack's own record.
    pub attack: Details,
}

/// What PRADA saw of the extraction's stream and of a benign one.
#[derive(Debug, Clone, Serialize)]
pub struct PradaObserved {
    pub extraction: PradaStats,
    pub benign_stream: PradaStats,
}

/// The shared run object for an extraction.
pub fn report(
    outcome: &ExtractionOutcome,
    kb: &KnowledgeBase,
    target: &str,
    data: &str,
) -> RunReport {
    RunReport::new(
        RunKind::Attack,
        &outcome.name,
        &outcome.atlas,
        target,
        outcome.config.clone(),
        outcome.seed,
        outcome.metrics.clone(),
    )
    .with_data(data)
    .with_observations(Details::new(ExtractionObservations {
        fidelity_by_queries: outcome.curve.clone(),
        output_kind: outcome.output_kind,
        budget_exhausted: outcome.budget_exhausted,
        stop_reason: outcome.stop_reason.clone(),
        measurement: outcome.measurement.clone(),
        transfer: outcome.transfer.clone(),
        attack: outcome.observations.clone(),
    }))
    .with_findings(vec![extraction_finding(outcome, kb, "the model")])
}

/// The attack again, behind `defense`.
pub struct DefendedRun {
    pub outcome: ExtractionOutcome,
    pub report: RunReport,
    /// The monitor's view of the extraction and of a benign stream, for PRADA.
    pub prada: Option<(PradaStats, PradaStats)>,
}

pub fn run_defended(
    attack: &dyn ExtractionAttack,
    setup: &ExtractionSetup,
    defense: &DefenseSpec,
    kb: &KnowledgeBase,
    data: &str,
) -> Result<DefendedRun> {
    defense
        .check_family(Family::Extraction)
        .map_err(AssessError::Config)?;
    let victim = setup.victim.clone();
    let guarded = defense.guard(victim.clone(), setup.seed).ok_or_else(|| {
        AssessError::Config(format!(
            "{} does not sit on the query path",
            defense.info().name
        ))
    })?;
    let wrapped = guarded.model.clone();
    let monitor = guarded.watcher::<aisec_defenses::prada::Prada>();
    let task = ExtractionTask {
        victim: wrapped.as_ref(),
        public: setup.public,
        holdout: setup.holdout,
        budget: setup.budget,
        seed: setup.seed,
        reference: setup.reference.as_deref(),
    };
    let outcome = extract::run(attack, &task, setup.transfer_eps)?;
    // Read before anyone else queries the monitor.
    let during = monitor.as_ref().map(|m| m.client_stats(LOCAL_CLIENT));
    let mut metrics = outcome.metrics.clone();
    // The accuracy users get from the defended API's top answer — asked as a user would, not
    // as the client a blocking monitor has just cut off.
    if let Some(m) = &monitor {
        m.reset();
    }
    let n = rows(&task.holdout.x, task.features())?;
    match wrapped.query(&task.holdout.x) {
        Ok(answered) => {
            let answered = answered.labels(victim.info().num_classes);
            let _ = metrics.insert(
                Metric::CleanAccuracy,
                train::accuracy(&answered, &task.holdout.y),
            );
        }
        Err(aisec_ml::MlError::BudgetExhausted { used, max }) => tracing::warn!(
            used,
            max,
            "the defended API refused the clean-accuracy measurement; it is left out"
        ),
        Err(e) => return Err(e.into()),
    }
    wrapped.budget().refund(n as u64);
    let mut info = defense.as_defense().reference();
    info.observed = guarded.observed();
    let mut prada = None;
    if let (Some(monitor), Some(during)) = (monitor, during) {
        if let Some(at) = during.alert_at_query {
            let _ = metrics.insert(Metric::DetectionDelayQueries, at as f64);
        }
        monitor.reset();
        let benign = natural_variations(task.holdout, BENIGN_STREAM, task.seed);
        let features = task.features();
        for chunk in benign.x.chunks(100 * features) {
            monitor.query(chunk)?;
            monitor.budget().refund((chunk.len() / features) as u64);
        }
        let on_benign = monitor.client_stats(LOCAL_CLIENT);
        info.observed = Some(Details::new(PradaObserved {
            extraction: during.clone(),
            benign_stream: on_benign.clone(),
        }));
        prada = Some((during, on_benign));
    }
    let mut finding = extraction_finding(&outcome, kb, "the defended model");
    finding.evidence.metrics = metrics.clone();
    if let Some((during, benign)) = &prada {
        finding.title.push_str(&match during.alert_at_query {
            Some(at) => format!("; PRADA raised its alert after {at} queries"),
            None => "; PRADA raised no alert".to_string(),
        });
        finding.title.push_str(&match benign.alert_at_query {
            Some(at) => format!(" (and a false alarm after {at} benign queries)"),
            None => format!(" (no false alarm on {} benign queries)", benign.queries),
        });
    }
    let mut report = report(&outcome, kb, &wrapped.info().description, data);
    report.metrics = metrics;
    report.findings = vec![finding];
    report.defense = Some(info);
    Ok(DefendedRun {
        outcome,
        report,
        prada,
    })
}

/// The extraction game as the assessment sets it up.
pub struct ExtractionSetup<'a> {
    pub victim: Arc<dyn Classifier>,
    /// The adversary's own data (seeds, pool).
    pub public: &'a Dataset,
    /// Held-out data the fidelity is measured on.
    pub holdout: &'a Dataset,
    pub budget: u64,
    pub seed: u64,
    /// ε of the PGD transfer test on the substitute, when wanted.
    pub transfer_eps: Option<f32>,
    /// The assessor's own copy of the victim, for measuring without the API.
    pub reference: Option<Arc<dyn Classifier>>,
}

/// Runs `attack` against the undefended API.
pub fn run(attack: &dyn ExtractionAttack, setup: &ExtractionSetup) -> Result<ExtractionOutcome> {
    let victim = setup.victim.as_ref();
    for (what, data) in [("data", setup.public), ("held-out data", setup.holdout)] {
        if data.features() != victim.info().features() {
            return Err(AssessError::Config(format!(
                "the {what} has {} values per input but the model takes {}",
                data.features(),
                victim.info().features()
            )));
        }
    }
    let task = ExtractionTask {
        victim,
        public: setup.public,
        holdout: setup.holdout,
        budget: setup.budget,
        seed: setup.seed,
        reference: setup.reference.as_deref(),
    };
    Ok(extract::run(attack, &task, setup.transfer_eps)?)
}
