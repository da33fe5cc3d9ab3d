//! `aisec demo`: Build → Attack → Defend → attack again on the embedded digits data.
//!
//! 1. Build: train the baseline digits CNN (seeded).
//! 2. Attack: FGSM, PGD-40 and APGD-CE at ε (L∞), and a PGD/FGSM sweep over ε.
//! 3. Defend: PGD adversarial training (AML.M0003, ML Model Engineering).
//! 4. Attack again: the same battery and sweep against the hardened model.
//! 5. Black box, detection, poisoning and extraction stages, each with its defence.
//! 6. Supply chain: the baseline as a PyTorch checkpoint and a poisoned copy, scanned.
//! 7. Privacy: membership inference on an overfitted purchase-synthetic MLP, DP-SGD and early
//!    stopping measured by attacking again, MI-Face inversion of a digits softmax regression.
//!
//! Findings name ATLAS techniques and recommend mitigations with their lifecycle phases;
//! the report records seeds and configurations so that every number can be reproduced.

mod evasion_stages;
use evasion_stages::{battery_and_sweeps, battery_params, head_of, hopskipjump_stage};
pub mod extraction;
pub mod privacy;
mod report;
pub use report::json as report_json;
pub mod scan;
pub mod summary;

use std::path::{Path, PathBuf};
use std::time::Instant;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::evasion::Norm;
use aisec_attacks::AttackOutcome;
use aisec_core::Finding;
use aisec_defenses::adv_train::{self, AdvTrainConfig};
use aisec_defenses::Defense;
use aisec_ml::data::{BuiltinDataset, Dataset};
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::{accuracy, init_network, predict, train, TrainConfig};
use aisec_report::{RunReport, Series};
use serde::Serialize;

use crate::findings::{evasion_finding, evasion_report};
use crate::{AssessError, Result};

#[derive(Debug, Clone, Serialize)]
pub struct DemoConfig {
    pub seed: u64,
    /// Budgets of the attack battery (L∞). Default 0.1 (what the defence trains for) and 0.2.
    pub battery_eps: Vec<f32>,
    /// Budgets of the robustness curve.
    pub eps_grid: Vec<f32>,
    /// The budget the defence trains against. Default 0.1.
    pub train_eps: f32,
    pub pgd_steps: usize,
    pub apgd_steps: usize,
    /// Queries per input for Square. Default 5000.
    pub square_queries: usize,
    /// Inputs and queries per input for HopSkipJump (label only). Default 40 and 2000.
    pub hsj_examples: usize,
    pub hsj_queries: usize,
    /// Inputs of the detection stage (half calibrate the threshold). Default 160.
    pub detection_examples: usize,
    /// Steps of the adaptive attack on feature squeezing. Default 200.
    pub squeeze_adaptive_steps: usize,
    /// PGD steps per batch of adversarial training. Default 5 (step size 2.5·ε/5).
    pub adv_train_steps: usize,
    /// The privacy stage; `None` skips it.
    pub privacy: Option<privacy::PrivacyConfig>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 7,
            battery_eps: vec![0.1, 0.2],
            eps_grid: vec![0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3],
            train_eps: 0.1,
            pgd_steps: 40,
            apgd_steps: 50,
            square_queries: 5000,
            hsj_examples: 40,
            hsj_queries: 2000,
            detection_examples: 160,
            squeeze_adaptive_steps: 200,
            adv_train_steps: 5,
            privacy: Some(privacy::PrivacyConfig::default()),
        }
    }
}

/// What the demo reports while it works.
pub enum Progress<'a> {
    Stage(&'a str),
    Epoch {
        stage: &'a str,
        epoch: usize,
        epochs: usize,
        accuracy: f64,
    },
}

/// One attack of the battery, before and after the defence.
pub struct BatteryRow {
    pub baseline: AttackOutcome,
    pub defended: AttackOutcome,
}

pub struct DemoOutcome {
    pub config: DemoConfig,
    pub test: Dataset,
    pub baseline: NativeModel,
    pub defended: NativeModel,
    pub battery: Vec<BatteryRow>,
    pub sweep: Vec<Series>,
    pub findings: Vec<Finding>,
    pub runs: Vec<RunReport>,
    /// HopSkipJump's median L2 against queries, baseline and hardened.
    pub hsj_curves: Vec<Series>,
    /// Feature squeezing measured on the baseline, plain and adaptive.
    pub detection: Option<RunReport>,
    /// BadNets at 5% against a CNN trained like the baseline, and activation clustering.
    pub poisoning: Option<(crate::poisoning::PoisonOutcome, RunReport)>,
    /// Extraction of the baseline (and of a softmax regression), with API defences.
    pub extraction: Option<crate::demo::extraction::ExtractionStage>,
    /// The baseline as a PyTorch checkpoint and a poisoned copy, scanned.
    pub scan: Option<crate::demo::scan::ScanStage>,
    /// Membership inference with its defences, and model inversion.
    pub privacy: Option<privacy::PrivacyStage>,
    /// Each stage's own wall time. Stages run side by side (see [`run`]), so they overlap and
    /// add up to more than `wall_seconds`.
    pub timings: Vec<(String, f64)>,
    /// The whole run, start to end.
    pub wall_seconds: f64,
}

/// A stage's name and its own wall time.
type Timings = Vec<(String, f64)>;

/// Runs a stage, recording its wall time under `name`.
fn timed<T>(timings: &mut Timings, name: &str, stage: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    let out = stage()?;
    timings.push((name.to_string(), started.elapsed().as_secs_f64()));
    Ok(out)
}

/// The stages that need nothing from the others: poisoning trains its own CNN and privacy its
/// own MLP and softmax regression, so they run beside the evasion lane.
struct SideLane {
    poisoning: (crate::poisoning::PoisonOutcome, RunReport),
    privacy: Option<privacy::PrivacyStage>,
    timings: Timings,
}

fn side_lane(
    cfg: &DemoConfig,
    train_set: &Dataset,
    test: &Dataset,
    kb: &KnowledgeBase,
    say: &dyn Fn(String),
) -> Result<SideLane> {
    let mut timings = Vec::new();
    say("Poison: BadNets at 5%, then activation clustering and retraining".into());
    let poisoning = timed(&mut timings, "poisoning", || {
        crate::poisoning::run(
            Architecture::Cnn,
            train_set,
            test,
            crate::poisoning::PoisonAttack::BadNets(
                aisec_attacks::poison::badnets::BadNetsConfig::default(),
            ),
            Some(aisec_defenses::DefenseSpec::new(
                aisec_defenses::activation_clustering::ClusteringConfig::default(),
            )),
            cfg.seed,
            kb,
        )
    })?;
    let privacy = match &cfg.privacy {
        None => None,
        Some(privacy_cfg) => Some(timed(&mut timings, "privacy", || {
            privacy::run(privacy_cfg, cfg.seed, kb, &mut |s| say(s.to_string()))
        })?),
    };
    Ok(SideLane {
        poisoning,
        privacy,
        timings,
    })
}

/// The stages that attack the baseline through its API: extraction, then the supply-chain scan
/// of its checkpoint.
fn api_lane(
    cfg: &DemoConfig,
    baseline: &NativeModel,
    train_set: &Dataset,
    test: &Dataset,
    kb: &KnowledgeBase,
    say: &dyn Fn(String),
) -> Result<(extraction::ExtractionStage, scan::ScanStage, Timings)> {
    let mut timings = Vec::new();
    say("Extract: Knockoff, Jacobian augmentation and equation solving through the API; reverse sigmoid, rounding and PRADA".into());
    let extraction = timed(&mut timings, "extraction", || {
        extraction::run(baseline, train_set, test, cfg.seed, kb)
    })?;
    say("Supply chain: the baseline as a PyTorch checkpoint, a copy with a pickle payload, both scanned".into());
    let scan = timed(&mut timings, "scan", || scan::run(baseline, kb))?;
    Ok((extraction, scan, timings))
}

fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T>>, lane: &str) -> Result<T> {
    handle
        .join()
        .map_err(|_| AssessError::Config(format!("the demo's {lane} stage panicked")))?
}

/// Every stage, on as many cores as there are: the evasion lane (build, attack, defend, attack
/// again, HopSkipJump, detection) here; poisoning and privacy beside it from the start;
/// extraction and the scan once the baseline exists. Messages from the other lanes reach
/// `progress` when this lane next reports.
pub fn run(
    cfg: &DemoConfig,
    kb: &KnowledgeBase,
    progress: &mut dyn FnMut(Progress),
) -> Result<DemoOutcome> {
    let run_started = Instant::now();
    let (train_set, test) = BuiltinDataset::Digits.split();
    let (sender, messages) = std::sync::mpsc::channel::<String>();
    // A closed channel only loses a progress line.
    let say = |m: String| {
        let _ = sender.send(m);
    };
    let mut report = |p: Progress| {
        for m in messages.try_iter() {
            progress(Progress::Stage(&m));
        }
        progress(p);
    };
    std::thread::scope(|scope| {
        let side = scope.spawn(|| side_lane(cfg, &train_set, &test, kb, &say));
        let mut timings = Vec::new();
        let baseline = timed(&mut timings, "train baseline", || {
            report(Progress::Stage("Build: training the baseline digits CNN"));
            train_baseline(cfg, &train_set, &test, &mut report)
        })?;
        let (baseline, baseline_clean) = baseline;
        let (evasion, api) = std::thread::scope(|inner| {
            let api = inner.spawn(|| api_lane(cfg, &baseline, &train_set, &test, kb, &say));
            let evasion = evasion_lane(
                cfg,
                &baseline,
                baseline_clean,
                &train_set,
                &test,
                kb,
                &mut timings,
                &mut report,
            );
            (evasion, joined(api, "extraction"))
        });
        // Keep the other lane's stages on screen while it finishes.
        while !side.is_finished() {
            if let Ok(m) = messages.recv_timeout(std::time::Duration::from_millis(200)) {
                report(Progress::Stage(&m));
            }
        }
        let side = joined(side, "poisoning or privacy");
        for m in messages.try_iter() {
            report(Progress::Stage(&m));
        }
        let evasion = evasion?;
        let side = side?;
        let (extraction, scan, api_timings) = api?;
        timings.extend(api_timings);
        timings.extend(side.timings);
        let mut findings = evasion.findings;
        findings.extend(side.poisoning.1.findings.iter().cloned());
        for row in &extraction.rows {
            findings.extend(row.report.findings.iter().cloned());
            if let Some(d) = &row.defended {
                findings.extend(d.report.findings.iter().cloned());
            }
        }
        findings.extend(scan.report.findings.iter().cloned());
        if let Some(stage) = &side.privacy {
            for r in stage.membership.iter().chain(&stage.defended) {
                findings.extend(r.findings.iter().cloned());
            }
            findings.extend(stage.inversion.findings.iter().cloned());
        }
        Ok(DemoOutcome {
            config: cfg.clone(),
            test: test.clone(),
            baseline,
            defended: evasion.defended,
            battery: evasion.battery,
            sweep: evasion.curves,
            findings,
            runs: evasion.runs,
            hsj_curves: evasion.hsj_curves,
            detection: Some(evasion.detection),
            poisoning: Some(side.poisoning),
            extraction: Some(extraction),
            scan: Some(scan),
            privacy: side.privacy,
            timings,
            wall_seconds: run_started.elapsed().as_secs_f64(),
        })
    })
}

fn train_baseline(
    cfg: &DemoConfig,
    train_set: &Dataset,
    test: &Dataset,
    progress: &mut dyn FnMut(Progress),
) -> Result<(NativeModel, f64)> {
    let arch = Architecture::Cnn;
    let config = TrainConfig::for_architecture(arch, cfg.seed);
    let net = init_network(arch, train_set, cfg.seed)?;
    let epochs = config.epochs;
    let (net, report) = train(net, train_set, &config, None, |s| {
        progress(Progress::Epoch {
            stage: "baseline",
            epoch: s.epoch,
            epochs,
            accuracy: s.train_accuracy,
        })
    });
    Ok(trained_model(net, report, None, train_set, test, cfg.seed))
}

/// A trained CNN with its manifest (training report, clean test accuracy, the defence it was
/// trained with) and that accuracy.
fn trained_model(
    net: aisec_ml::net::Network,
    report: aisec_ml::train::TrainReport,
    defense: Option<aisec_core::DefenseRef>,
    train_set: &Dataset,
    test: &Dataset,
    seed: u64,
) -> (NativeModel, f64) {
    let clean = accuracy(&predict(&net, test), &test.y);
    let mut manifest = Manifest::new(Architecture::Cnn, train_set, seed);
    manifest.training = Some(report);
    manifest
        .metrics
        .insert("clean_accuracy".into(), serde_json::json!(clean));
    manifest.defense = defense;
    (NativeModel::new(net, manifest), clean)
}

/// What the evasion lane hands to the report.
struct EvasionLane {
    defended: NativeModel,
    battery: Vec<BatteryRow>,
    curves: Vec<Series>,
    runs: Vec<RunReport>,
    findings: Vec<Finding>,
    hsj_curves: Vec<Series>,
    detection: RunReport,
}

/// Adversarial training, the battery against the hardened model, and HopSkipJump against
/// both models.
#[allow(clippy::type_complexity)]
fn harden_and_attack_again(
    cfg: &DemoConfig,
    baseline: &NativeModel,
    train_set: &Dataset,
    test: &Dataset,
    kb: &KnowledgeBase,
    timings: &mut Timings,
    progress: &mut dyn FnMut(Progress),
) -> Result<(
    NativeModel,
    Vec<AttackOutcome>,
    Vec<Series>,
    (Vec<Series>, Vec<AttackOutcome>),
)> {
    let arch = Architecture::Cnn;
    progress(Progress::Stage(
        "Defend: PGD adversarial training (AML.M0003); feature squeezing measured beside it",
    ));
    let (defended, defended_clean) = timed(timings, "adversarial training", || {
        let mut adv_config = AdvTrainConfig::new(arch, cfg.train_eps, Norm::Linf, cfg.seed);
        adv_config.steps = cfg.adv_train_steps;
        adv_config.step_size = 2.5 * cfg.train_eps / cfg.adv_train_steps as f32;
        let adv_epochs = adv_config.train.epochs;
        let (net, report) = adv_train::adversarial_training(arch, train_set, &adv_config, |s| {
            progress(Progress::Epoch {
                stage: "adversarial training",
                epoch: s.epoch,
                epochs: adv_epochs,
                accuracy: s.train_accuracy,
            })
        })?;
        let reference = Some(adv_config.reference());
        Ok(trained_model(
            net, report, reference, train_set, test, cfg.seed,
        ))
    })?;

    progress(Progress::Stage(
        "Attack again: the same battery against the hardened model",
    ));
    let (outcomes, curves) = timed(timings, "attack defended", || {
        battery_and_sweeps(
            cfg,
            &defended,
            test,
            defended_clean,
            "adversarially trained",
            kb,
        )
    })?;
    progress(Progress::Stage(
        "Black box: HopSkipJump with labels only, against both models",
    ));
    let hsj = timed(timings, "black-box HopSkipJump", || {
        hopskipjump_stage(cfg, baseline, &defended, test, kb)
    })?;
    Ok((defended, outcomes, curves.to_vec(), hsj))
}

#[allow(clippy::too_many_arguments)]
fn evasion_lane(
    cfg: &DemoConfig,
    baseline: &NativeModel,
    baseline_clean: f64,
    train_set: &Dataset,
    test: &Dataset,
    kb: &KnowledgeBase,
    timings: &mut Timings,
    progress: &mut dyn FnMut(Progress),
) -> Result<EvasionLane> {
    progress(Progress::Stage(
        "Attack: FGSM, PGD and APGD-CE against the baseline",
    ));
    let (baseline_outcomes, baseline_curves) = timed(timings, "attack baseline", || {
        battery_and_sweeps(cfg, baseline, test, baseline_clean, "baseline", kb)
    })?;
    let mut curves = baseline_curves.to_vec();
    let pgd_for_detection = head_of(
        baseline_outcomes
            .iter()
            .zip(battery_params(cfg))
            .find(|(_, (n, p))| *n == "pgd" && p.eps == cfg.battery_eps.first().copied())
            .map(|(o, _)| o)
            .ok_or_else(|| AssessError::Config("the battery has no PGD run".into()))?,
        cfg.detection_examples.min(test.len()),
        test.features(),
    );

    // Feature squeezing is measured on the baseline alone, so it runs beside adversarial
    // training and the second battery.
    let (hardened, detection) = std::thread::scope(|scope| {
        let detection = scope.spawn(|| {
            let started = Instant::now();
            let detection_data = test.head(cfg.detection_examples);
            let squeeze = aisec_defenses::DefenseSpec::new(
                aisec_defenses::feature_squeezing::SqueezeConfig {
                    adaptive_steps: cfg.squeeze_adaptive_steps,
                    ..Default::default()
                },
            );
            let (pgd_name, pgd_params) = battery_params(cfg)
                .into_iter()
                .find(|(n, p)| *n == "pgd" && p.eps == cfg.battery_eps.first().copied())
                .ok_or_else(|| AssessError::Config("the battery has no PGD run".into()))?;
            let request = crate::runner::EvasionRequest {
                attack: aisec_attacks::registry::find_evasion(pgd_name)
                    .ok_or_else(|| AssessError::Config("no PGD in the registry".into()))?,
                params: pgd_params,
                model: std::sync::Arc::new(NativeModel::new(
                    baseline.network().clone(),
                    baseline.manifest.clone(),
                )),
                data: &detection_data,
                target_class: None,
                defense: Some(&squeeze),
                seed: cfg.seed,
            };
            // The battery's PGD run is the plain run: the runner measures the detector on it.
            let mut experiment = crate::runner::EvasionExperiment::new(&request, kb);
            experiment.outcome = Some(pgd_for_detection);
            crate::runner::defend(&mut experiment, &squeeze, &|_| {})
                .map(|d| (d, started.elapsed().as_secs_f64()))
        });
        let hardened =
            harden_and_attack_again(cfg, baseline, train_set, test, kb, timings, progress);
        (hardened, joined(detection, "detection"))
    });
    let (defended, defended_outcomes, defended_curves, (hsj_curves, hsj_outcomes)) = hardened?;
    let (detection, detection_seconds) = detection?;
    timings.push(("detection".to_string(), detection_seconds));
    curves.extend(defended_curves);
    let battery: Vec<BatteryRow> = baseline_outcomes
        .into_iter()
        .zip(defended_outcomes)
        .map(|(baseline, defended)| BatteryRow { baseline, defended })
        .collect();

    let target = format!("digits CNN (seed {})", cfg.seed);
    let data = format!(
        "digits test split ({} examples, stratified 20%, seed 0)",
        test.len()
    );
    let mut findings = Vec::new();
    let mut runs = Vec::new();
    for row in &battery {
        let mut report = evasion_report(&row.baseline, kb, &target, &data);
        let mut defended_report = evasion_report(
            &row.defended,
            kb,
            &format!("{target}, PGD adversarially trained"),
            &data,
        );
        defended_report.findings = vec![evasion_finding(
            &row.defended,
            kb,
            "the adversarially trained model",
        )];
        findings.extend(report.findings.iter().cloned());
        findings.extend(defended_report.findings.iter().cloned());
        report.defended = Some(Box::new(defended_report));
        runs.push(report);
    }
    let hsj_data_desc = format!("first {} inputs of the digits test split", cfg.hsj_examples);
    if let [base, hardened] = hsj_outcomes.as_slice() {
        let mut report = evasion_report(
            base,
            kb,
            &format!("{target}, label-only API"),
            &hsj_data_desc,
        );
        let mut hardened_report = evasion_report(
            hardened,
            kb,
            &format!("{target}, PGD adversarially trained, label-only API"),
            &hsj_data_desc,
        );
        hardened_report.findings = vec![evasion_finding(
            hardened,
            kb,
            "the adversarially trained model",
        )];
        findings.extend(report.findings.iter().cloned());
        findings.extend(hardened_report.findings.iter().cloned());
        report.defended = Some(Box::new(hardened_report));
        runs.push(report);
    }
    findings.extend(detection.findings.iter().cloned());
    Ok(EvasionLane {
        defended,
        battery,
        curves,
        runs,
        findings,
        hsj_curves,
        detection,
    })
}

/// Writes `report.json`, `report.html`, `atlas-layer.json` and both models into `dir`.
pub fn write(outcome: &DemoOutcome, kb: &KnowledgeBase, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|source| AssessError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    outcome.baseline.save(&dir.join("models/baseline"))?;
    outcome.defended.save(&dir.join("models/adv-trained"))?;
    if let Some(scan) = &outcome.scan {
        write_bytes(&dir.join("models/baseline.pt"), &scan.checkpoint)?;
    }
    written.push(dir.join("models"));

    let json = crate::demo::report::json(outcome);
    let path = dir.join("report.json");
    write_file(
        &path,
        &(serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"),
    )?;
    written.push(path);

    let path = dir.join("report.html");
    write_file(
        &path,
        &aisec_report::html::render(&crate::demo::report::document(outcome, kb)),
    )?;
    written.push(path);

    let layer =
        aisec_report::navigator::findings_layer(kb, "aisec demo findings", &outcome.findings)?;
    let path = dir.join("atlas-layer.json");
    write_file(
        &path,
        &(serde_json::to_string_pretty(&layer).unwrap_or_default() + "\n"),
    )?;
    written.push(path);
    Ok(written)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    write_bytes(path, text.as_bytes())
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| AssessError::Write {
        path: path.to_path_buf(),
        source,
    })
}
