//! The demo's extraction stage: Knockoff (probabilities and labels only) and Jacobian
//! augmentation against the baseline CNN, equation solving against a softmax regression,
//! each measured again behind a defence — reverse sigmoid, rounding, PRADA.

use aisec_core::Metric;
use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::extract::equation::Solver;
use aisec_attacks::extract::ExtractionOutcome;
use aisec_attacks::registry::{find_extraction, ExtractionParams};
use aisec_defenses::output_hardening::Hardening;
use aisec_defenses::prada::PradaConfig;
use aisec_defenses::DefenseSpec;
use aisec_ml::data::Dataset;
use aisec_ml::model::{Classifier, OutputKind, Restricted};
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::fit;
use aisec_report::html::{Block, Section};
use aisec_report::{svg, RunReport, Series};
use serde::Serialize;

use crate::extraction::{DefendedRun, ExtractionSetup};
use crate::runner::{self, extraction::ExtractionExperiment};
use crate::{AssessError, Result};

/// Queries each extraction may spend.
pub const BUDGET: u64 = 5000;

/// One attack, with its defended rerun when there is one.
#[derive(Serialize)]
pub struct ExtractionRow {
    pub label: String,
    pub report: RunReport,
    #[serde(skip)]
    pub outcome: ExtractionOutcome,
    #[serde(skip)]
    pub defended: Option<DefendedRun>,
}

#[derive(Serialize)]
pub struct ExtractionStage {
    pub rows: Vec<ExtractionRow>,
    /// Fidelity on held-out data against queries, one series per run.
    pub curves: Vec<Series>,
}

/// A row of the stage: its label, the attack, the victim, the defence to measure.
type Plan<'a> = (
    &'a str,
    &'static str,
    ExtractionParams,
    Arc<dyn Classifier>,
    Option<DefenseSpec>,
);

pub fn run(
    cnn: &NativeModel,
    train_set: &Dataset,
    test: &Dataset,
    seed: u64,
    kb: &KnowledgeBase,
) -> Result<ExtractionStage> {
    let victim: Arc<dyn Classifier> = Arc::new(NativeModel::new(
        cnn.network().clone(),
        cnn.manifest.clone(),
    ));
    let labels: Arc<dyn Classifier> =
        Arc::new(Restricted::new(victim.clone(), OutputKind::Label, false));
    let transfer = test.input_range.map(|r| 0.2 * (r.hi - r.lo));
    let logreg = softmax_regression(train_set, seed)?;
    let defaults = ExtractionParams::default;
    let retrain = ExtractionParams {
        solver: Some(Solver::Retrain),
        queries: Some(2000),
        ..ExtractionParams::default()
    };
    let plans: Vec<Plan> = vec![
        (
            "Knockoff, probabilities → CNN",
            "knockoff",
            defaults(),
            victim.clone(),
            Some(DefenseSpec::new(Hardening::REVERSE_SIGMOID)),
        ),
        (
            "Knockoff, labels only → CNN",
            "knockoff",
            defaults(),
            labels.clone(),
            None,
        ),
        (
            "Jacobian augmentation, probabilities → CNN",
            "jacobian",
            defaults(),
            victim.clone(),
            Some(DefenseSpec::new(PradaConfig::default())),
        ),
        (
            "Jacobian augmentation, labels only → CNN",
            "jacobian",
            defaults(),
            labels,
            None,
        ),
        (
            "Equation solving, probabilities → softmax regression",
            "equation",
            defaults(),
            logreg.clone(),
            Some(DefenseSpec::new(Hardening::Round { decimals: 1 })),
        ),
        (
            "Adaptive retraining, labels only → softmax regression",
            "equation",
            retrain.clone(),
            Arc::new(Restricted::new(logreg, OutputKind::Label, false)),
            None,
        ),
    ];
    let mut rows = Vec::new();
    let mut curves = Vec::new();
    for (label, name, params, target, defense) in plans {
        let entry = find_extraction(name)
            .ok_or_else(|| AssessError::Config(format!("no extraction attack `{name}`")))?;
        let setup = ExtractionSetup {
            victim: target.clone(),
            public: train_set,
            holdout: test,
            budget: BUDGET,
            seed,
            transfer_eps: transfer,
            reference: None,
        };
        let data = format!(
            "{}: {} adversary inputs, {} held out",
            train_set.name,
            train_set.len(),
            test.len()
        );
        let mut experiment = ExtractionExperiment::new(entry, params, setup, kb, data);
        let report = runner::run(&mut experiment, defense.as_ref())?;
        let outcome = experiment
            .outcome
            .take()
            .ok_or_else(|| AssessError::Config("the extraction attack did not run".into()))?;
        curves.push(curve(label, &outcome));
        let defended = experiment.defended.take();
        if let Some(run) = &defended {
            curves.push(curve(
                &format!("{label}, behind {}", defense_words(run)),
                &run.outcome,
            ));
        }
        rows.push(ExtractionRow {
            label: label.to_string(),
            report,
            outcome,
            defended,
        });
    }
    Ok(ExtractionStage { rows, curves })
}

fn softmax_regression(train_set: &Dataset, seed: u64) -> Result<Arc<dyn Classifier>> {
    let arch = Architecture::Logreg;
    let net = fit(arch, train_set, seed)?;
    Ok(Arc::new(NativeModel::new(
        net,
        Manifest::new(arch, train_set, seed),
    )))
}

fn curve(label: &str, outcome: &ExtractionOutcome) -> Series {
    Series {
        label: label.to_string(),
        points: outcome
            .curve
            .iter()
            .map(|c| (c.queries as f64, c.fidelity))
            .collect(),
    }
}

fn defense_words(run: &DefendedRun) -> String {
    let info = run.report.defense.as_ref();
    match info.map(|i| i.name.as_str()) {
        Some("defense.prada") => "PRADA".into(),
        _ => info
            .and_then(|i| i.settings.as_ref())
            .and_then(|s| s.get::<aisec_defenses::output_hardening::Hardening>())
            .map_or("hardening", |h| h.mode())
            .to_string(),
    }
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

/// The report section: the runs, the curve, the defences.
pub fn section(stage: Option<&ExtractionStage>) -> Section {
    let Some(stage) = stage else {
        return Section {
            heading: "Extraction".into(),
            blocks: vec![Block::Paragraph("Not run.".into())],
        };
    };
    let m = |o: &ExtractionOutcome, k: Metric| o.metrics.pct(k);
    let mut attacks = Vec::new();
    let mut defences = Vec::new();
    for row in &stage.rows {
        let o = &row.outcome;
        attacks.push(vec![
            row.label.clone(),
            o.metrics.fixed(Metric::QueriesTotal, 0),
            m(o, Metric::Fidelity),
            m(o, Metric::FidelityUniform),
            m(o, Metric::SubstituteAccuracy),
            o.transfer
                .as_ref()
                .map(|t| pct(t.attack_success_rate))
                .unwrap_or_else(|| "—".into()),
        ]);
        if let Some(d) = &row.defended {
            let after = &d.outcome;
            let detection = match &d.prada {
                Some((during, benign)) => format!(
                    "alert after {} queries; benign stream of {}: {}",
                    during
                        .alert_at_query
                        .map_or("no".to_string(), |q| q.to_string()),
                    benign.queries,
                    benign
                        .alert_at_query
                        .map_or("no false alarm".to_string(), |q| format!(
                            "false alarm at {q}"
                        ))
                ),
                None => "—".into(),
            };
            defences.push(vec![
                defense_words(d),
                row.label.clone(),
                format!(
                    "{} → {}",
                    m(o, Metric::Fidelity),
                    m(after, Metric::Fidelity)
                ),
                format!(
                    "{} → {}",
                    m(o, Metric::FidelityUniform),
                    m(after, Metric::FidelityUniform)
                ),
                format!(
                    "{} → {}",
                    m(o, Metric::CleanAccuracy),
                    d.report.metrics.pct(Metric::CleanAccuracy)
                ),
                detection,
            ]);
        }
    }
    Section {
        heading: "Extraction: a substitute from the API's answers".into(),
        blocks: vec![
            Block::Paragraph(format!(
                "AML.T0024.002 Extract AI Model, AML.T0005.001 Train Proxy via Replication, AML.T0048.004 AI IP Theft. The adversary holds the {} training digits (its pool and seed set) and at most {BUDGET} queries; fidelity is agreement with the victim on the held-out digits and on uniform random inputs. Transfer: PGD L∞ ε = 0.2 crafted on the substitute, sent to the victim (AML.T0043.002 Black-Box Transfer), success among the inputs the victim gets right.",
                stage.rows.first().map(|r| r.report.data.clone().unwrap_or_default()).unwrap_or_default()
            )),
            Block::Table {
                headers: ["attack → victim", "queries", "fidelity", "fidelity (uniform)", "substitute accuracy", "transfer success"]
                    .map(String::from)
                    .to_vec(),
                rows: attacks,
            },
            Block::Svg(svg::line_chart(
                "Fidelity on held-out digits against queries",
                "queries",
                "fidelity",
                &stage.curves,
            )),
            Block::Paragraph("The same attacks behind a defence: output hardening (AML.M0002 Passive AI Output Obfuscation, Deployment) and the PRADA monitor (AML.M0004, AML.M0024, Monitoring and Maintenance). Reverse sigmoid and rounding keep the top class; PRADA watches and alerts but, in alert mode, answers on.".into()),
            Block::Table {
                headers: ["defence", "attack → victim", "fidelity", "fidelity (uniform)", "victim accuracy via the API", "detection"]
                    .map(String::from)
                    .to_vec(),
                rows: defences,
            },
        ],
    }
}
