//! A guard measured on labelled text, as the shared run object (`kind: defense`): detection
//! precision and recall, F1, false-positive rate and AUC at the guard's recorded threshold, the
//! latency per text, which detector flagged what, and the rows it got wrong.

use aisec_core::{Details, Metric, Metrics};
use aisec_report::{RunKind, RunReport};
use serde::Serialize;

use super::data::Example;
use super::eval::{self, Figures, Latency};
use super::Guard;

/// ATLAS: the mitigation the guard implements.
pub const ATLAS: &[&str] = &["AML.M0020"];

#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub row: usize,
    pub label: u8,
    pub score: f64,
    pub detector: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupFigures {
    pub group: String,
    pub rows: usize,
    pub positives: usize,
    pub flagged: usize,
    /// Of its label-1 rows, the share flagged (None without label-1 rows).
    pub recall: Option<f64>,
    /// Of its label-0 rows, the share flagged (None without label-0 rows).
    pub false_positive_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub data: String,
    pub figures: Figures,
    /// 95% bootstrap interval of F1 (1,000 resamples, seed 7).
    pub f1_ci95: Option<(f64, f64)>,
    /// Figures per value of a grouping column (e.g. a dataset's attack category), when asked.
    pub groups: Vec<GroupFigures>,
    pub latency: Option<Latency>,
    /// How many flagged rows each detector is behind.
    pub flagged_by: std::collections::BTreeMap<String, usize>,
    /// Up to 20 false negatives and 20 false positives, highest-confidence mistakes first.
    pub false_negatives: Vec<Miss>,
    pub false_positives: Vec<Miss>,
    pub seconds: f64,
}

/// `groups`: a group name per row (same order), or empty.
pub fn evaluate(guard: &Guard, data: &str, rows: &[Example], groups: &[String]) -> Evaluation {
    evaluate_with(guard.meta.threshold, data, rows, groups, &|text| {
        guard.check(text)
    })
}

/// The neural detector (MiniLM embedding + the guard's head) on the same terms; the latency
/// is the embedding's and the head's together, one text at a time on one thread.
pub fn evaluate_neural(
    head: &super::neural::NeuralHead,
    encoder: &super::minilm::MiniLm,
    data: &str,
    rows: &[Example],
    groups: &[String],
) -> Evaluation {
    evaluate_with(head.threshold, data, rows, groups, &|text| {
        let started = std::time::Instant::now();
        let score = head.score_embedding(&encoder.embed(text));
        super::Check {
            flagged: score >= head.threshold,
            score,
            threshold: head.threshold,
            detector: "neural".into(),
            evidence: String::new(),
            findings: Vec::new(),
            micros: started.elapsed().as_secs_f64() * 1e6,
        }
    })
}

fn evaluate_with(
    threshold: f64,
    data: &str,
    rows: &[Example],
    groups: &[String],
    check: &dyn Fn(&str) -> super::Check,
) -> Evaluation {
    let started = std::time::Instant::now();
    let checks: Vec<_> = rows.iter().map(|r| check(&r.text)).collect();
    let scores: Vec<f64> = checks.iter().map(|c| c.score).collect();
    let labels: Vec<u8> = rows.iter().map(|r| r.label).collect();
    let figures = eval::figures(&scores, &labels, threshold);
    let mut flagged_by = std::collections::BTreeMap::new();
    let (mut fns, mut fps) = (Vec::new(), Vec::new());
    for (i, (c, r)) in checks.iter().zip(rows).enumerate() {
        if c.flagged {
            *flagged_by.entry(c.detector.clone()).or_insert(0) += 1;
        }
        if c.flagged != (r.label == 1) {
            let miss = Miss {
                row: i + 1,
                label: r.label,
                score: c.score,
                detector: c.detector.clone(),
                text: crate::transport::snippet(&r.text),
            };
            if r.label == 1 {
                fns.push(miss)
            } else {
                fps.push(miss)
            }
        }
    }
    fns.sort_by(|a, b| a.score.total_cmp(&b.score));
    fps.sort_by(|a, b| b.score.total_cmp(&a.score));
    fns.truncate(20);
    fps.truncate(20);
    let mut by_group: std::collections::BTreeMap<&str, [usize; 4]> = Default::default();
    for ((g, c), r) in groups.iter().zip(&checks).zip(rows) {
        // [label-1 rows, label-1 flagged, label-0 rows, label-0 flagged]
        let e = by_group.entry(g.as_str()).or_default();
        let k = if r.label == 1 { 0 } else { 2 };
        e[k] += 1;
        e[k + 1] += usize::from(c.flagged);
    }
    let share = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    let groups = by_group
        .into_iter()
        .map(|(g, e)| GroupFigures {
            group: g.to_string(),
            rows: e[0] + e[2],
            positives: e[0],
            flagged: e[1] + e[3],
            recall: share(e[1], e[0]),
            false_positive_rate: share(e[3], e[2]),
        })
        .collect();
    Evaluation {
        data: data.to_string(),
        f1_ci95: eval::f1_interval(&scores, &labels, threshold, 1000, 7),
        groups,
        figures,
        latency: eval::latency(checks.iter().map(|c| c.micros).collect()),
        flagged_by,
        false_negatives: fns,
        false_positives: fps,
        seconds: started.elapsed().as_secs_f64(),
    }
}

pub fn run_report(guard: &Guard, e: &Evaluation) -> RunReport {
    let config = LexicalGuardSettings {
        guard: guard.describe(),
        detector: "lexical + heuristics",
        threshold: guard.meta.threshold,
        threshold_rule: guard.meta.threshold_rule.clone(),
        flagged_when: FLAGGED_WHEN,
        lexical: guard.meta.lexical.clone(),
        model_bytes: guard.meta.model_bytes,
        features: guard.lexical.features(),
    };
    run_report_with("llm.guard", guard.describe(), Details::new(config), e)
}

/// The neural detector's evaluation as a run object.
pub fn neural_run_report(
    guard: &Guard,
    head: &super::neural::NeuralHead,
    encoder_dir: &str,
    e: &Evaluation,
) -> RunReport {
    let config = NeuralGuardSettings {
        guard: guard.describe(),
        detector: "neural: all-MiniLM-L6-v2 mean-pooled embedding + logistic-regression head",
        encoder: encoder_dir.to_string(),
        max_tokens: super::minilm::MAX_TOKENS,
        threshold: head.threshold,
        threshold_rule: head.threshold_rule.clone(),
        flagged_when: FLAGGED_WHEN,
        c: head.c,
        training_rows: head.training_rows,
    };
    run_report_with(
        "llm.guard.neural",
        guard.describe(),
        Details::new(config),
        e,
    )
}

const FLAGGED_WHEN: &str = "score >= threshold";

/// The lexical guard's settings as an evaluation report states them.
#[derive(Debug, Clone, Serialize)]
pub struct LexicalGuardSettings {
    pub guard: String,
    pub detector: &'static str,
    pub threshold: f64,
    pub threshold_rule: String,
    pub flagged_when: &'static str,
    pub lexical: super::LexicalConfig,
    pub model_bytes: usize,
    pub features: usize,
}

/// The neural detector's settings as an evaluation report states them.
#[derive(Debug, Clone, Serialize)]
pub struct NeuralGuardSettings {
    pub guard: String,
    pub detector: &'static str,
    pub encoder: String,
    pub max_tokens: usize,
    pub threshold: f64,
    pub threshold_rule: String,
    pub flagged_when: &'static str,
    pub c: f64,
    pub training_rows: usize,
}

/// What a detector's evaluation observed beyond the shared metrics.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluationObservations {
    pub rows: usize,
    pub positives: usize,
    pub confusion: Confusion,
    /// Why a figure is absent, for each figure the data could not define.
    pub undefined: Undefined,
    pub f1_ci95: Option<(f64, f64)>,
    pub groups: Vec<GroupFigures>,
    pub latency_per_text: Option<Latency>,
    pub latency_note: &'static str,
    pub flagged_by: std::collections::BTreeMap<String, usize>,
    pub false_negatives: Vec<Miss>,
    pub false_positives: Vec<Miss>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Confusion {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub true_negatives: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Undefined {
    pub precision: Option<&'static str>,
    pub recall: Option<&'static str>,
    pub false_positive_rate: Option<&'static str>,
    pub auc: Option<&'static str>,
}

fn run_report_with(name: &str, target: String, config: Details, e: &Evaluation) -> RunReport {
    let mut metrics = Metrics::default();
    let f = &e.figures;
    for (m, v) in [
        (Metric::DetectionPrecision, f.precision),
        (Metric::DetectionRecall, f.recall),
        (Metric::F1, f.f1),
        (Metric::FalsePositiveRate, f.false_positive_rate),
        (Metric::Auc, f.auc),
        (Metric::WallSeconds, Some(e.seconds)),
    ] {
        if let Some(v) = v {
            metrics.insert(m, v).expect("figures are fractions");
        }
    }
    let observations = EvaluationObservations {
        rows: f.rows,
        positives: f.positives,
        confusion: Confusion {
            true_positives: f.true_positives,
            false_positives: f.false_positives,
            false_negatives: f.false_negatives,
            true_negatives: f.true_negatives,
        },
        undefined: Undefined {
            precision: f.precision.is_none().then_some("nothing was flagged"),
            recall: f.recall.is_none().then_some("no row is labelled 1"),
            false_positive_rate: f.false_positive_rate.is_none().then_some("no row is labelled 0"),
            auc: f.auc.is_none().then_some("needs both labels"),
        },
        f1_ci95: e.f1_ci95,
        groups: e.groups.clone(),
        latency_per_text: e.latency.clone(),
        latency_note: "microseconds per text for the whole check (lexical: normalising, n-grams, score, heuristics, decoded re-scoring; neural: tokenising, encoding, head), one thread, measured while evaluating",
        flagged_by: e.flagged_by.clone(),
        false_negatives: e.false_negatives.clone(),
        false_positives: e.false_positives.clone(),
    };
    RunReport::new(RunKind::Defense, name, ATLAS, target, config, 0, metrics)
        .with_data(e.data.clone())
        .with_observations(Details::new(observations))
}
