//! The demo's outcome as the JSON report and the HTML document.

use aisec_core::{Details, Metric, Metrics, NOT_MEASURED};
use aisec_defenses::adv_train;
use aisec_defenses::feature_squeezing::{DetectionReport, FeatureSqueezing};
use aisec_report::html::{Block, Document, Section};
use aisec_report::svg;
use aisec_report::{RunKind, RunReport, Series};
use serde::Serialize;
use serde_json::Value;

use crate::demo::privacy::{PrivacyConfig, TradeoffRow};
use crate::detection::DetectionObservations;

use crate::demo::DemoOutcome;
use crate::findings::describe_config;

fn clean(outcome: &DemoOutcome, defended: bool) -> Option<f64> {
    let model = if defended {
        &outcome.defended
    } else {
        &outcome.baseline
    };
    model
        .manifest
        .metrics
        .get("clean_accuracy")
        .and_then(Value::as_f64)
}

/// What the demo observed: each stage's run objects, the curves and the stage timings.
#[derive(Debug, Clone, Serialize)]
pub struct DemoObservations {
    pub tool_version: &'static str,
    pub defenses: Vec<DemoDefense>,
    pub runs: Vec<RunReport>,
    pub robustness_curves: Vec<Series>,
    pub hopskipjump_curves: Vec<Series>,
    pub detection: Option<RunReport>,
    pub poisoning: Option<RunReport>,
    pub extraction: Option<DemoExtraction>,
    pub scan: Option<RunReport>,
    pub privacy: Option<DemoPrivacy>,
    /// Seconds per stage, in the order the stages finished.
    #[serde(serialize_with = "as_map")]
    pub timings: Vec<(String, f64)>,
}

/// The hardening the demo measured, with the battery's robust accuracy before and after.
#[derive(Debug, Clone, Serialize)]
pub struct DemoDefense {
    pub name: &'static str,
    pub mitigations: &'static [&'static str],
    pub phases: &'static [&'static str],
    pub config: Option<Details>,
    pub metrics: HardenedMetrics,
    #[serde(serialize_with = "as_map")]
    pub robust_accuracy_before: Vec<(String, Option<f64>)>,
    #[serde(serialize_with = "as_map")]
    pub robust_accuracy_after: Vec<(String, Option<f64>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HardenedMetrics {
    pub clean_accuracy: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoExtraction {
    pub runs: Vec<RunReport>,
    pub fidelity_curves: Vec<Series>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoPrivacy {
    pub config: PrivacyConfig,
    pub membership: Vec<RunReport>,
    pub defended: Vec<RunReport>,
    pub tradeoff: Vec<TradeoffRow>,
    pub inversion: RunReport,
}

fn as_map<S: serde::Serializer, V: Serialize>(
    pairs: &[(String, V)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// `report.json`: the shared run object of kind `assessment`; the stages' own run objects,
/// curves and timings are its observations.
pub fn json(outcome: &DemoOutcome) -> Value {
    let per_attack = |defended: bool| -> Vec<(String, Option<f64>)> {
        outcome
            .battery
            .iter()
            .map(|row| {
                let o = if defended {
                    &row.defended
                } else {
                    &row.baseline
                };
                let eps = o.budget.eps.map_or("none".to_string(), |e| e.to_string());
                (
                    format!("{} eps={eps}", o.name),
                    o.metrics.get(Metric::RobustAccuracy),
                )
            })
            .collect()
    };
    let mut atlas: Vec<&str> = outcome
        .findings
        .iter()
        .flat_map(|f| f.atlas.iter().map(|a| a.as_str()))
        .collect();
    atlas.sort_unstable();
    atlas.dedup();
    let mut metrics = Metrics::default();
    if let Some(c) = clean(outcome, false) {
        let _ = metrics.insert(Metric::CleanAccuracy, c);
    }
    let _ = metrics.insert(Metric::WallSeconds, outcome.wall_seconds);
    let observations = DemoObservations {
        tool_version: env!("CARGO_PKG_VERSION"),
        defenses: vec![DemoDefense {
            name: adv_train::INFO.name,
            mitigations: adv_train::INFO.mitigations,
            phases: adv_train::INFO.phases,
            config: outcome
                .defended
                .manifest
                .defense
                .as_ref()
                .and_then(|d| d.settings.clone()),
            metrics: HardenedMetrics {
                clean_accuracy: clean(outcome, true),
            },
            robust_accuracy_before: per_attack(false),
            robust_accuracy_after: per_attack(true),
        }],
        runs: outcome.runs.clone(),
        robustness_curves: outcome.sweep.clone(),
        hopskipjump_curves: outcome.hsj_curves.clone(),
        detection: outcome.detection.clone(),
        poisoning: outcome.poisoning.as_ref().map(|(_, r)| r.clone()),
        extraction: outcome.extraction.as_ref().map(|e| DemoExtraction {
            runs: e.rows.iter().map(|r| r.report.clone()).collect(),
            fidelity_curves: e.curves.clone(),
        }),
        scan: outcome.scan.as_ref().map(|s| s.report.clone()),
        privacy: outcome.privacy.as_ref().map(|p| DemoPrivacy {
            config: p.config.clone(),
            membership: p.membership.clone(),
            defended: p.defended.clone(),
            tradeoff: p.tradeoff.clone(),
            inversion: p.inversion.clone(),
        }),
        timings: outcome.timings.clone(),
    };
    let report = RunReport::new(
        RunKind::Assessment,
        "demo",
        &atlas,
        format!("digits CNN (seed {})", outcome.config.seed),
        Details::new(outcome.config.clone()),
        outcome.config.seed,
        metrics,
    )
    .with_data(format!(
        "digits test split ({} examples)",
        outcome.test.len()
    ))
    .with_findings(outcome.findings.clone())
    .with_observations(Details::new(observations));
    serde_json::to_value(report).unwrap_or_default()
}

pub fn document(outcome: &DemoOutcome, kb: &aisec_atlas::KnowledgeBase) -> Document {
    let cfg = &outcome.config;
    let total = outcome.wall_seconds;
    let facts = vec![
        (
            "Target".to_string(),
            format!(
                "digits CNN (conv 32 → conv 64 → dense 128), seed {}",
                cfg.seed
            ),
        ),
        (
            "Data".to_string(),
            format!(
                "digits test split: {} images of 8×8, stratified 20%, split seed 0",
                outcome.test.len()
            ),
        ),
        (
            "Clean accuracy".to_string(),
            format!(
                "baseline {}, adversarially trained {}",
                aisec_core::pct(clean(outcome, false)),
                aisec_core::pct(clean(outcome, true))
            ),
        ),
        (
            "Wall time".to_string(),
            format!(
                "{total:.1} s (each stage's own wall time: {}; stages run side by side on every core, so they overlap)",
                outcome
                    .timings
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.1} s"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    ];

    let mut rows = Vec::new();
    for row in &outcome.battery {
        let seconds = row
            .baseline
            .metrics
            .get(Metric::WallSeconds)
            .zip(row.defended.metrics.get(Metric::WallSeconds))
            .map(|(a, b)| a + b);
        rows.push(vec![
            row.baseline.name.clone(),
            describe_config(&row.baseline.config),
            row.baseline.metrics.pct(Metric::RobustAccuracy),
            row.baseline.metrics.pct(Metric::AttackSuccessRate),
            row.defended.metrics.pct(Metric::RobustAccuracy),
            row.defended.metrics.pct(Metric::AttackSuccessRate),
            row.baseline.metrics.fixed(Metric::QueriesMean, 1),
            seconds.map_or_else(
                || aisec_core::NOT_MEASURED.to_string(),
                |s| format!("{s:.2} s"),
            ),
        ]);
    }
    let battery = Section {
        heading: "Attack battery (L∞)".to_string(),
        blocks: vec![
            Block::Paragraph("Evasion (AML.T0015 Evade AI Model) before and after PGD adversarial training: FGSM, PGD and APGD-CE with gradients (AML.T0043.000 White-Box Optimization), and Square with scores only (AML.T0043.001 Black-Box Optimization). Robust accuracy counts test images still classified correctly; success rate counts correctly classified images that the attack turned.".into()),
            Block::Table {
                headers: ["attack", "budget", "baseline robust acc.", "baseline success", "defended robust acc.", "defended success", "queries / image", "time"].iter().map(|s| s.to_string()).collect(),
                rows,
            },
        ],
    };

    let curve = Section {
        heading: "Robust accuracy against ε".into(),
        blocks: vec![Block::Svg(svg::line_chart(
            "Robust accuracy of the digits CNN",
            "L∞ budget ε (pixel range 0–1)",
            "accuracy",
            &outcome.sweep,
        ))],
    };

    let mut figures = Vec::new();
    let shown_eps = cfg.battery_eps.first().copied().unwrap_or(0.1);
    if let Some(pgd) = outcome
        .battery
        .iter()
        .find(|r| r.baseline.name == aisec_attacks::evasion::pgd::INFO.name)
    {
        for (i, e) in pgd
            .baseline
            .examples
            .iter()
            .enumerate()
            .filter(|(_, e)| e.success)
            .take(6)
        {
            let f = 64;
            let original = &outcome.test.x[i * f..(i + 1) * f];
            let adversarial = &pgd.baseline.adversarial[i * f..(i + 1) * f];
            let delta: Vec<f32> = adversarial
                .iter()
                .zip(original)
                .map(|(a, o)| a - o)
                .collect();
            figures.push(svg::image(
                original,
                8,
                8,
                0.0,
                1.0,
                9.0,
                &format!("label {}", e.label),
            ));
            figures.push(svg::image(
                adversarial,
                8,
                8,
                0.0,
                1.0,
                9.0,
                &format!("→ {}", e.adversarial_prediction),
            ));
            figures.push(svg::perturbation(&delta, 8, 8, shown_eps, 9.0, "δ"));
        }
    }
    let examples = Section {
        heading: format!("Example adversarial digits (PGD at ε = {shown_eps}, baseline)"),
        blocks: vec![Block::Figures { items: figures, caption: format!("Each triple: the test image with its label, the adversarial image with the baseline's prediction, and the perturbation (red +, blue −, full colour = ±{shown_eps}).") }],
    };

    let adv = outcome
        .defended
        .manifest
        .defense
        .as_ref()
        .and_then(|d| d.settings.clone());
    let adv_steps = adv
        .as_ref()
        .and_then(|a| a.get::<adv_train::AdvTrainConfig>())
        .map_or_else(|| NOT_MEASURED.to_string(), |c| c.steps.to_string());
    let adv = adv.map_or_else(|| NOT_MEASURED.to_string(), |a| a.to_string());
    let defence = Section {
        heading: "Defence: PGD adversarial training".into(),
        blocks: vec![
            Block::Paragraph(format!(
                "AML.M0003 Model Hardening, applied in the ML Model Engineering phase: each training batch is replaced by PGD examples (L∞ ε = {}, {} steps) against the current model (Madry et al. 2018). Configuration: {}.",
                cfg.train_eps,
                adv_steps,
                adv
            )),
            Block::Paragraph("Reproduce: `aisec demo --seed SEED --out DIR`, or step by step: `aisec model train --arch cnn --dataset digits --out base`, `aisec attack evasion --model base --dataset digits --attack pgd --eps 0.1`, `aisec defend adv-train --arch cnn --dataset digits --eps 0.1 --out hardened`, then attack `hardened` again.".into()),
        ],
    };

    let black_box = Section {
        heading: "Black box: HopSkipJump with labels only".into(),
        blocks: vec![
            Block::Paragraph(format!(
                "A decision-based adversary (AML.T0043.001 Black-Box Optimization, AML.T0040 AI Model Inference API Access) who sees only the predicted label of each query, on the first {} test inputs with at most {} queries each. The perturbation only shrinks as queries are spent. Median L2 at the end: {}. Square (score-based) appears in the battery above.",
                cfg.hsj_examples,
                cfg.hsj_queries,
                outcome
                    .hsj_curves
                    .iter()
                    .map(|c| format!("{} {:.3}", c.label, c.points.last().map_or(0.0, |p| p.1)))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            Block::Svg(svg::line_chart_values("HopSkipJump: median L2 perturbation against queries", "queries per input", "median L2", &outcome.hsj_curves)),
        ],
    };

    let mut detection_blocks = Vec::new();
    if let Some(d) = &outcome.detection {
        let obs = d
            .observations
            .as_ref()
            .and_then(|o| o.get::<DetectionObservations>());
        let mut series = Vec::new();
        let mut rows = Vec::new();
        let row = |name: &str, r: &DetectionReport| {
            vec![
                name.to_string(),
                aisec_core::pct(Some(r.detection_recall)),
                aisec_core::pct(Some(r.false_positive_rate)),
                aisec_core::fixed(Some(r.auc), 3),
                r.adversarial_examples.to_string(),
            ]
        };
        if let Some(obs) = obs {
            series.push(Series {
                label: "plain PGD".into(),
                points: obs.non_adaptive.roc.clone(),
            });
            rows.push(row(
                "plain PGD (unaware of the detector)",
                &obs.non_adaptive,
            ));
            if let Some(a) = &obs.adaptive {
                series.push(Series {
                    label: "adaptive attack".into(),
                    points: a.report.roc.clone(),
                });
                rows.push(row("adaptive PGD (knows the squeezers)", &a.report));
            }
        }
        detection_blocks.push(Block::Paragraph(format!(
            "Feature squeezing (AML.M0015 Adversarial Input Detection, phase Deployment) on the baseline: an input is flagged when its probabilities move by more than {} (L1) under 3-bit depth reduction; the threshold is set on half of the clean inputs for about 4% false positives and measured on the other half. A detector must be judged against an attacker who knows it: the adaptive attack differentiates through the squeezer (straight-through) and keeps each input's fooling point with the lowest detector score.",
            aisec_core::fixed(
                d.config
                    .get::<FeatureSqueezing>()
                    .map(|f| f64::from(f.threshold)),
                3
            )
        )));
        detection_blocks.push(Block::Table {
            headers: [
                "attack",
                "detected",
                "false positives",
                "AUC",
                "adversarial inputs",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            rows,
        });
        detection_blocks.push(Block::Svg(svg::line_chart(
            "Feature squeezing ROC",
            "false-positive rate on clean inputs",
            "detection rate",
            &series,
        )));
    }
    let detection = Section {
        heading: "Detection: feature squeezing".into(),
        blocks: detection_blocks,
    };

    Document {
        title: "aisec demo: Build → Attack → Defend → attack again".into(),
        facts,
        findings: outcome.findings.clone(),
        summary: crate::demo::summary::blocks(outcome),
        finding_groups: crate::demo::summary::groups(&outcome.findings),
        sections: vec![
            battery,
            curve,
            examples,
            defence,
            black_box,
            detection,
            poisoning_section(outcome),
            crate::demo::extraction::section(outcome.extraction.as_ref()),
            crate::demo::scan::section(outcome.scan.as_ref()),
            crate::demo::privacy::section(
                outcome.privacy.as_ref(),
                &aisec_ml::data::BuiltinDataset::Digits.load(),
            ),
        ],
        names: outcome
            .findings
            .iter()
            .flat_map(|f| {
                f.atlas
                    .iter()
                    .map(|a| a.as_str().to_string())
                    .chain(f.mitigations.iter().map(|m| m.id.as_str().to_string()))
            })
            .filter_map(|id| {
                kb.get(&id)
                    .map(|r| (id.clone(), kb.object_name(r).to_string()))
            })
            .collect(),
    }
}

/// The poisoning stage: the three models' figures, triggered examples, success before/after.
fn poisoning_section(outcome: &DemoOutcome) -> Section {
    let Some((p, _)) = &outcome.poisoning else {
        return Section {
            heading: "Poisoning".into(),
            blocks: vec![Block::Paragraph("Not run.".into())],
        };
    };
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    let asr = aisec_core::pct;
    let mut rows = vec![
        vec![
            "clean (control)".to_string(),
            pct(p.clean_model.clean_accuracy),
            asr(p.clean_model.attack_success_rate),
        ],
        vec![
            "poisoned (BadNets, 5%)".to_string(),
            pct(p.poisoned_model.clean_accuracy),
            asr(p.poisoned_model.attack_success_rate),
        ],
    ];
    // A model whose rate was not measured gets no bar rather than a bar at 0%.
    let mut bars: Vec<(String, f64)> = [
        ("clean model", p.clean_model.attack_success_rate),
        ("poisoned model", p.poisoned_model.attack_success_rate),
    ]
    .into_iter()
    .filter_map(|(label, rate)| rate.map(|r| (label.to_string(), r)))
    .collect();
    let mut detail = String::new();
    if let Some(d) = &p.defended {
        rows.push(vec![
            "sanitised and retrained".to_string(),
            pct(d.after.clean_accuracy),
            asr(d.after.attack_success_rate),
        ]);
        if let Some(rate) = d.after.attack_success_rate {
            bars.push(("after activation clustering".to_string(), rate));
        }
        detail = format!(
            " Activation clustering (AML.M0007 Sanitize Training Data, phase Data Preparation) flagged {} training examples: precision {}, recall {}, false positives {}.",
            d.flagged,
            pct(d.detection_precision),
            pct(d.detection_recall),
            pct(d.false_positive_rate)
        );
    }
    // Triggered test digits as the poisoned model sees them.
    let mut figures = Vec::new();
    let trigger = match p.attack {
        crate::poisoning::PoisonAttack::BadNets(c) => Some(c.trigger),
        _ => None,
    };
    if let Some(trigger) = trigger {
        let f = outcome.test.features();
        for i in (0..outcome.test.len())
            .filter(|&i| outcome.test.y[i] != 0)
            .take(4)
        {
            let clean = outcome.test.sample(i).to_vec();
            let mut stamped = clean.clone();
            trigger.apply(&mut stamped, &outcome.test.sample_shape);
            stamped.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
            debug_assert_eq!(stamped.len(), f);
            figures.push(svg::image(
                &clean,
                8,
                8,
                0.0,
                1.0,
                9.0,
                &format!("label {}", outcome.test.y[i]),
            ));
            figures.push(svg::image(&stamped, 8, 8, 0.0, 1.0, 9.0, "+ trigger"));
        }
    }
    Section {
        heading: "Poisoning: BadNets backdoor and activation clustering".into(),
        blocks: vec![
            Block::Paragraph(format!(
                "{} of {} training digits get a 3×3 white patch in the bottom-right corner and the label 0 (AML.T0020 Poison Training Data, AML.T0018.000 Poison AI Model, AML.T0043.004 Insert Backdoor Trigger). Attack success is measured on triggered test digits that are not 0.{}",
                p.poison_count, p.train_size, detail
            )),
            Block::Table {
                headers: vec!["model".into(), "clean accuracy".into(), "attack success".into()],
                rows,
            },
            Block::Svg(svg::bars("Backdoor attack success", &bars)),
            Block::Figures {
                items: figures,
                caption: "Test digits without and with the trigger; the poisoned model answers 0 to the triggered ones.".into(),
            },
            Block::Paragraph("Reproduce: `aisec attack poison --dataset digits --attack badnets --rate 0.05 --defend activation-clustering --seed 7`.".into()),
        ],
    }
}
