//! Training-time attacks measured: train the clean model and the poisoned one from the same
//! seed, measure clean accuracy and the attack's success on triggered test inputs (for both
//! models: the clean one is the control), then, with a defence, filter the training set and
//! retrain (spectral signatures, activation clustering) or screen inputs at inference (STRIP),
//! and measure again.

use aisec_core::Metric;
use std::time::Instant;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::poison::badnets::{self, BadNetsConfig};
use aisec_attacks::poison::clean_label::{self, CleanLabelConfig};
use aisec_attacks::poison::label_flip::{self, LabelFlip};
use aisec_core::{AtlasRef, Finding, Metrics, Severity};
use aisec_core::{DefenseRef, Details};
use aisec_defenses::activation_clustering::{self, ClassSplit, ClusteringConfig};
use aisec_defenses::spectral::{self, SpectralConfig};
use aisec_defenses::strip::Strip;
use aisec_defenses::strip::StripConfig;
use aisec_defenses::{DefenseSpec, Role};
use aisec_ml::data::Dataset;
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::{Architecture, Network};
use aisec_ml::train;
use aisec_report::{RunKind, RunReport};
use serde::Serialize;

use crate::findings::mitigation_refs;
use crate::{AssessError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "attack", rename_all = "kebab-case")]
pub enum PoisonAttack {
    BadNets(BadNetsConfig),
    CleanLabel(CleanLabelConfig),
    LabelFlip(LabelFlip),
}

impl PoisonAttack {
    pub fn name(&self) -> &'static str {
        match self {
            PoisonAttack::BadNets(c) => match c.trigger {
                aisec_attacks::poison::Trigger::Patch { .. } => badnets::INFO.name,
                aisec_attacks::poison::Trigger::Blend { .. } => badnets::BLEND_INFO.name,
            },
            PoisonAttack::CleanLabel(_) => clean_label::INFO.name,
            PoisonAttack::LabelFlip(_) => label_flip::INFO.name,
        }
    }

    pub fn atlas(&self) -> &'static [&'static str] {
        match self {
            PoisonAttack::BadNets(_) => badnets::ATLAS,
            PoisonAttack::CleanLabel(_) => clean_label::ATLAS,
            PoisonAttack::LabelFlip(_) => label_flip::ATLAS,
        }
    }
}

/// Clean accuracy and attack success of one model.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ModelFigures {
    pub clean_accuracy: f64,
    /// On triggered test inputs whose class is not their target (backdoors), or the share of
    /// the source class predicted as the target (targeted label flipping).
    pub attack_success_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DefenseFigures {
    pub defense: DefenseRef,
    pub detection_precision: f64,
    pub detection_recall: f64,
    pub false_positive_rate: f64,
    /// The model after removal and retraining, or behind the input filter.
    pub after: ModelFigures,
    pub flagged: usize,
    /// The defence's settings and what it computed (clusters per class, STRIP's threshold).
    pub details: Details,
}

/// Activation clustering's settings and each class's two clusters.
#[derive(Debug, Clone, Serialize)]
pub struct ClusteringDetails {
    pub config: ClusteringConfig,
    pub classes: Vec<ClassSplit>,
}

/// STRIP's settings and the entropy threshold calibrated on clean inputs.
#[derive(Debug, Clone, Serialize)]
pub struct StripDetails {
    pub config: StripConfig,
    pub threshold_entropy: f64,
}

/// How many training examples a data filter flagged.
#[derive(Debug, Clone, Serialize)]
pub struct FilterObservations {
    pub flagged: usize,
}

/// The poisoned model's figures against the clean model's.
#[derive(Debug, Clone, Serialize)]
pub struct PoisonObservations {
    pub clean_model: ModelFigures,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoisonOutcome {
    pub attack: PoisonAttack,
    pub architecture: &'static str,
    pub dataset: String,
    pub seed: u64,
    pub poison_count: usize,
    pub train_size: usize,
    pub clean_model: ModelFigures,
    pub poisoned_model: ModelFigures,
    pub defended: Option<DefenseFigures>,
    pub wall_seconds: f64,
}

/// The defences this assessment runs itself: filters of the training data, and STRIP's
/// screen of inputs at run time.
enum Filter<'a> {
    Spectral(&'a SpectralConfig),
    Clustering(&'a ClusteringConfig),
    Strip(&'a StripConfig),
}

impl Filter<'_> {
    fn of(defense: &DefenseSpec) -> Option<Filter<'_>> {
        if let Some(c) = defense.config() {
            return Some(Filter::Spectral(c));
        }
        if let Some(c) = defense.config() {
            return Some(Filter::Clustering(c));
        }
        defense.config().map(Filter::Strip)
    }
}

fn train_model(arch: Architecture, data: &Dataset, seed: u64) -> Result<Network> {
    Ok(train::fit(arch, data, seed)?)
}

/// Test inputs on which success is measured, with the labels the adversary wants.
fn success_set(attack: &PoisonAttack, test: &Dataset) -> Option<Dataset> {
    match attack {
        PoisonAttack::BadNets(c) => {
            let (x, y) = c.trigger.triggered_inputs(test, c.map);
            Some(Dataset {
                x,
                y,
                ..test.clone()
            })
        }
        PoisonAttack::CleanLabel(c) => {
            let map = aisec_attacks::poison::TargetMap::AllToOne { target: c.target };
            let (x, y) = c.trigger.triggered_inputs(test, map);
            Some(Dataset {
                x,
                y,
                ..test.clone()
            })
        }
        PoisonAttack::LabelFlip(LabelFlip::Targeted { from, to, .. }) => {
            let idx: Vec<usize> = (0..test.len()).filter(|&i| test.y[i] == *from).collect();
            let mut d = test.subset(&idx);
            d.y = vec![*to; d.len()];
            Some(d)
        }
        PoisonAttack::LabelFlip(LabelFlip::Random { .. }) => None,
    }
}

fn figures(network: &Network, test: &Dataset, success: Option<&Dataset>) -> ModelFigures {
    ModelFigures {
        clean_accuracy: train::accuracy(&train::predict(network, test), &test.y),
        attack_success_rate: success.map(|s| train::accuracy(&train::predict(network, s), &s.y)),
    }
}

fn scores(flagged: &[usize], poisoned: &[usize], n: usize) -> (f64, f64, f64) {
    let truth: std::collections::HashSet<usize> = poisoned.iter().copied().collect();
    let hits = flagged.iter().filter(|i| truth.contains(i)).count();
    let precision = if flagged.is_empty() {
        0.0
    } else {
        hits as f64 / flagged.len() as f64
    };
    let recall = if truth.is_empty() {
        0.0
    } else {
        hits as f64 / truth.len() as f64
    };
    let clean = n - truth.len();
    let fpr = if clean == 0 {
        0.0
    } else {
        (flagged.len() - hits) as f64 / clean as f64
    };
    (precision, recall, fpr)
}

/// The clean and the poisoned model, trained; what the defences work on.
pub struct PoisonedRun {
    pub arch: Architecture,
    pub attack: PoisonAttack,
    pub seed: u64,
    pub dataset: String,
    pub train_size: usize,
    poisoned_train: Dataset,
    poisoned: Vec<usize>,
    poisoned_net: Network,
    success: Option<Dataset>,
    pub clean_model: ModelFigures,
    pub poisoned_model: ModelFigures,
    pub seconds: f64,
}

/// Trains the clean model, poisons the training data, trains the poisoned model.
pub fn poison(
    arch: Architecture,
    train: &Dataset,
    test: &Dataset,
    attack: PoisonAttack,
    seed: u64,
) -> Result<PoisonedRun> {
    let started = Instant::now();
    let clean_net = train_model(arch, train, seed)?;
    let poisoned_set = match attack {
        PoisonAttack::BadNets(c) => badnets::poison(train, &c, seed),
        // The clean model is the adversary's surrogate (the same architecture and data).
        PoisonAttack::CleanLabel(c) => {
            let surrogate = NativeModel::new(clean_net.clone(), Manifest::new(arch, train, seed));
            clean_label::poison(train, &c, &surrogate, seed)
        }
        PoisonAttack::LabelFlip(f) => label_flip::poison(train, f, seed),
    }
    .map_err(AssessError::Config)?;
    let success = success_set(&attack, test);
    let poisoned_net = train_model(arch, &poisoned_set.train, seed)?;
    Ok(PoisonedRun {
        arch,
        attack,
        seed,
        dataset: train.name.clone(),
        train_size: train.len(),
        clean_model: figures(&clean_net, test, success.as_ref()),
        poisoned_model: figures(&poisoned_net, test, success.as_ref()),
        poisoned_train: poisoned_set.train,
        poisoned: poisoned_set.poisoned,
        poisoned_net,
        success,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The defence against the poisoned run, as its role asks: a data filter flags training
/// records and the model is retrained on the rest; a detector (STRIP) screens inputs at run
/// time, and the attack succeeds only on triggered inputs it lets through.
pub fn defend(p: &PoisonedRun, test: &Dataset, defense: &DefenseSpec) -> Result<DefenseFigures> {
    let (arch, seed) = (p.arch, p.seed);
    let poisoned_train = &p.poisoned_train;
    let success = &p.success;
    match (defense.info().role, Filter::of(defense)) {
        (Role::DataFilter, Some(filter @ (Filter::Spectral(_) | Filter::Clustering(_)))) => {
            let (acts, width) =
                train::activations(&p.poisoned_net, &poisoned_train.x, poisoned_train.features());
            let (flagged, details) = match filter {
                Filter::Spectral(c) => (
                    spectral::flag(
                        &acts,
                        width,
                        &poisoned_train.y,
                        poisoned_train.num_classes,
                        c,
                        seed,
                    ),
                    Details::new(*c),
                ),
                Filter::Clustering(c) => {
                    let (f, splits) = activation_clustering::flag(
                        &acts,
                        width,
                        &poisoned_train.y,
                        poisoned_train.num_classes,
                        c,
                        seed,
                    );
                    (
                        f,
                        Details::new(ClusteringDetails {
                            config: *c,
                            classes: splits,
                        }),
                    )
                }
                Filter::Strip(_) => unreachable!("matched above"),
            };
            let (precision, recall, fpr) = scores(&flagged, &p.poisoned, poisoned_train.len());
            let keep: Vec<usize> = (0..poisoned_train.len())
                .filter(|i| flagged.binary_search(i).is_err())
                .collect();
            let retrained = train_model(arch, &poisoned_train.subset(&keep), seed)?;
            Ok(DefenseFigures {
                defense: defense.as_defense().reference(),
                detection_precision: precision,
                detection_recall: recall,
                false_positive_rate: fpr,
                after: figures(&retrained, test, success.as_ref()),
                flagged: flagged.len(),
                details,
            })
        }
        (Role::Detector, Some(Filter::Strip(c))) => {
            let Some(success) = success else {
                return Err(AssessError::Config(
                    "STRIP screens triggered inputs; label flipping has none".into(),
                ));
            };
            let model = NativeModel::new(
                p.poisoned_net.clone(),
                Manifest::new(arch, poisoned_train, seed),
            );
            // The defender's clean data: half of the test split for overlays and the
            // threshold, the other half to measure false rejections.
            let f = test.features();
            let half = test.len() / 2;
            let (own, rest) = test.x.split_at(half * f);
            let strip = Strip::calibrate(&model, *c, own, own, seed)?;
            let flags_clean = strip.flags(&model, rest, seed + 1)?;
            let flags_triggered = strip.flags(&model, &success.x, seed + 2)?;
            let predicted = train::predict(&p.poisoned_net, success);
            let detected = flags_triggered.iter().filter(|f| **f).count();
            let recall = detected as f64 / flags_triggered.len().max(1) as f64;
            let false_alarms = flags_clean.iter().filter(|f| **f).count();
            let fpr = false_alarms as f64 / flags_clean.len().max(1) as f64;
            let precision = if detected + false_alarms == 0 {
                0.0
            } else {
                detected as f64 / (detected + false_alarms) as f64
            };
            // Behind the filter the attack succeeds only on triggered inputs it lets through.
            let through = predicted
                .iter()
                .zip(&success.y)
                .zip(&flags_triggered)
                .filter(|((p, t), flagged)| p == t && !**flagged)
                .count();
            let rest_idx: Vec<usize> = (half..test.len()).collect();
            let rest_data = test.subset(&rest_idx);
            let rest_pred = train::predict(&p.poisoned_net, &rest_data);
            let served = rest_pred
                .iter()
                .zip(&rest_data.y)
                .zip(&flags_clean)
                .filter(|((p, y), flagged)| p == y && !**flagged)
                .count();
            Ok(DefenseFigures {
                defense: defense.as_defense().reference(),
                detection_precision: precision,
                detection_recall: recall,
                false_positive_rate: fpr,
                after: ModelFigures {
                    clean_accuracy: served as f64 / rest_data.len().max(1) as f64,
                    attack_success_rate: Some(through as f64 / success.len().max(1) as f64),
                },
                flagged: detected + false_alarms,
                details: Details::new(StripDetails {
                    config: *c,
                    threshold_entropy: strip.threshold,
                }),
            })
        }
        _ => Err(AssessError::Config(format!(
            "{} is not a defence of training data or triggered inputs: use spectral, activation-clustering or strip",
            defense.info().name
        ))),
    }
}

/// The poisoned run and, with a defence, the defended one, through the one runner.
pub fn run(
    arch: Architecture,
    train: &Dataset,
    test: &Dataset,
    attack: PoisonAttack,
    defense: Option<DefenseSpec>,
    seed: u64,
    kb: &KnowledgeBase,
) -> Result<(PoisonOutcome, RunReport)> {
    let mut experiment =
        crate::runner::poisoning::PoisoningExperiment::new(arch, train, test, attack, seed, kb);
    let report = crate::runner::run(&mut experiment, defense.as_ref())?;
    let outcome = experiment.outcome()?;
    Ok((outcome, report))
}

impl PoisonedRun {
    /// The figures of both models (and the defended one), as the text report reads them.
    pub fn outcome(&self, defended: Option<DefenseFigures>) -> PoisonOutcome {
        PoisonOutcome {
            attack: self.attack,
            architecture: self.arch.name(),
            dataset: self.dataset.clone(),
            seed: self.seed,
            poison_count: self.poisoned.len(),
            train_size: self.train_size,
            clean_model: self.clean_model,
            poisoned_model: self.poisoned_model,
            defended,
            wall_seconds: self.seconds,
        }
    }
}

fn metrics(figures: &ModelFigures) -> Metrics {
    let mut m = Metrics::default();
    let _ = m.insert(Metric::CleanAccuracy, figures.clean_accuracy);
    if let Some(a) = figures.attack_success_rate {
        let _ = m.insert(Metric::AttackSuccessRate, a);
    }
    m
}

/// The outcome as the shared run object: the poisoned model's figures at the top, the clean
/// model's under `observations`, the defence's under `defended`.
pub fn report(outcome: &PoisonOutcome, kb: &KnowledgeBase) -> RunReport {
    let mut m = metrics(&outcome.poisoned_model);
    let _ = m.insert(Metric::PoisonCount, outcome.poison_count as f64);
    let _ = m.insert(Metric::WallSeconds, outcome.wall_seconds);
    let atlas: Vec<AtlasRef> = outcome
        .attack
        .atlas()
        .iter()
        .filter_map(|a| AtlasRef::parse(a).ok())
        .collect();
    let asr = outcome.poisoned_model.attack_success_rate;
    let drop = outcome.clean_model.clean_accuracy - outcome.poisoned_model.clean_accuracy;
    // The clean model's rate is measured with the same trigger on the same inputs whenever
    // the poisoned one is; without it, the whole rate is counted as the backdoor's effect.
    let clean_asr = outcome.clean_model.attack_success_rate;
    // The backdoor's effect is what poisoning added: triggered inputs the clean model
    // already sends to the target are not the adversary's doing.
    let effect = asr.map(|a| clean_asr.map_or(a, |c| a - c));
    let severity = match effect {
        Some(e) if e >= 0.8 => Severity::Critical,
        Some(e) if e >= 0.3 => Severity::High,
        _ if drop >= 0.05 => Severity::High,
        Some(e) if e >= 0.1 => Severity::Medium,
        Some(_) => Severity::Info,
        None => Severity::Medium,
    };
    let mut finding = Finding::new(
        match asr {
            Some(a) if effect.is_some_and(|e| e < 0.1) && drop < 0.05 => format!(
                "{} poisoned examples ({:.1}% of training) show no backdoor effect: triggered inputs reach the target {:.1}% of the time, and the clean model already does so {} of the time (clean accuracy {:.1}%, clean model {:.1}%)",
                outcome.poison_count,
                100.0 * outcome.poison_count as f64 / outcome.train_size.max(1) as f64,
                100.0 * a,
                aisec_core::pct(clean_asr),
                100.0 * outcome.poisoned_model.clean_accuracy,
                100.0 * outcome.clean_model.clean_accuracy
            ),
            Some(a) => format!(
                "{} poisoned examples ({:.1}% of training) give the adversary {:.1}% attack success (clean model: {}) at {:.1}% clean accuracy (clean model: {:.1}%)",
                outcome.poison_count,
                100.0 * outcome.poison_count as f64 / outcome.train_size.max(1) as f64,
                100.0 * a,
                aisec_core::pct(clean_asr),
                100.0 * outcome.poisoned_model.clean_accuracy,
                100.0 * outcome.clean_model.clean_accuracy
            ),
            None => format!(
                "{} flipped labels cost {:.1} points of clean accuracy ({:.1}% → {:.1}%)",
                outcome.poison_count,
                100.0 * drop,
                100.0 * outcome.clean_model.clean_accuracy,
                100.0 * outcome.poisoned_model.clean_accuracy
            ),
        },
        severity,
        atlas.clone(),
    );
    finding.mitigations =
        mitigation_refs(kb, &["AML.M0007", "AML.M0008", "AML.M0015", "AML.M0014"]);
    finding.evidence.metrics = m.clone();
    let defended = outcome
        .defended
        .as_ref()
        .map(|d| Box::new(defended_report(outcome, d)));
    let mut report = attack_report(outcome, m, finding);
    report.defended = defended;
    report
}

/// The defended run as the shared run object.
pub fn defended_report(outcome: &PoisonOutcome, d: &DefenseFigures) -> RunReport {
    {
        let mut dm = metrics(&d.after);
        for (k, v) in [
            (Metric::DetectionPrecision, d.detection_precision),
            (Metric::DetectionRecall, d.detection_recall),
            (Metric::FalsePositiveRate, d.false_positive_rate),
        ] {
            let _ = dm.insert(k, v);
        }
        RunReport::new(
            RunKind::Defense,
            &d.defense.name,
            outcome.attack.atlas(),
            format!(
                "{} trained on the poisoned {} data",
                outcome.architecture, outcome.dataset
            ),
            d.details.clone(),
            outcome.seed,
            dm,
        )
        .with_observations(Details::new(FilterObservations { flagged: d.flagged }))
        .with_defense(d.defense.clone())
    }
}

fn attack_report(outcome: &PoisonOutcome, m: Metrics, finding: Finding) -> RunReport {
    RunReport::new(
        RunKind::Attack,
        outcome.attack.name(),
        outcome.attack.atlas(),
        format!("{} on {}", outcome.architecture, outcome.dataset),
        Details::new(outcome.attack),
        outcome.seed,
        m,
    )
    .with_data(format!(
        "{} ({} training examples)",
        outcome.dataset, outcome.train_size
    ))
    .with_observations(Details::new(PoisonObservations {
        clean_model: outcome.clean_model,
    }))
    .with_findings(vec![finding])
}
