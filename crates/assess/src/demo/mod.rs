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
    /// Each stage's own wall time; HopSkipJump runs beside detection, so they overlap.
    pub timings: Vec<(String, f64)>,
    /// The whole run, start to end.
    pub wall_seconds: f64,
}

pub fn run(
    cfg: &DemoConfig,
    kb: &KnowledgeBase,
    progress: &mut dyn FnMut(Progress),
) -> Result<DemoOutcome> {
    let run_started = Instant::now();
    let mut timings = Vec::new();
    let (train_set, test) = BuiltinDataset::Digits.split();

    progress(Progress::Stage("Build: training the baseline digits CNN"));
    let started = Instant::now();
    let arch = Architecture::Cnn;
    let config = TrainConfig::for_architecture(arch, cfg.seed);
    let net = init_network(arch, &train_set, cfg.seed)?;
    let epochs = config.epochs;
    let (net, report) = train(net, &train_set, &config, None, |s| {
        progress(Progress::Epoch {
            stage: "baseline",
            epoch: s.epoch,
            epochs,
            accuracy: s.train_accuracy,
        })
    });
    let baseline_clean = accuracy(&predict(&net, &test), &test.y);
    let mut manifest = Manifest::new(arch, &train_set, cfg.seed);
    manifest.training = Some(report);
    manifest
        .metrics
        .insert("clean_accuracy".into(), serde_json::json!(baseline_clean));
    let baseline = NativeModel::new(net, manifest);
    timings.push((
        "train baseline".to_string(),
        started.elapsed().as_secs_f64(),
    ));

    progress(Progress::Stage(
        "Attack: FGSM, PGD and APGD-CE against the baseline",
    ));
    let started = Instant::now();
    let (baseline_outcomes, baseline_curves) =
        battery_and_sweeps(cfg, &baseline, &test, baseline_clean, "baseline")?;
    let mut curves = baseline_curves.to_vec();
    timings.push((
        "attack baseline".to_string(),
        started.elapsed().as_secs_f64(),
    ));

    progress(Progress::Stage(
        "Defend: PGD adversarial training (AML.M0003)",
    ));
    let started = Instant::now();
    let mut adv_config = AdvTrainConfig::new(arch, cfg.train_eps, Norm::Linf, cfg.seed);
    adv_config.steps = cfg.adv_train_steps;
    adv_config.step_size = 2.5 * cfg.train_eps / cfg.adv_train_steps as f32;
    let adv_epochs = adv_config.train.epochs;
    let (net, report) = adv_train::adversarial_training(arch, &train_set, &adv_config, |s| {
        progress(Progress::Epoch {
            stage: "adversarial training",
            epoch: s.epoch,
            epochs: adv_epochs,
            accuracy: s.train_accuracy,
        })
    })?;
    let defended_clean = accuracy(&predict(&net, &test), &test.y);
    let mut manifest = Manifest::new(arch, &train_set, cfg.seed);
    manifest.training = Some(report);
    manifest
        .metrics
        .insert("clean_accuracy".into(), serde_json::json!(defended_clean));
    manifest.defense = Some(adv_config.reference());
    let defended = NativeModel::new(net, manifest);
    timings.push((
        "adversarial training".to_string(),
        started.elapsed().as_secs_f64(),
    ));

    progress(Progress::Stage(
        "Attack again: the same battery against the hardened model",
    ));
    let started = Instant::now();
    let (defended_outcomes, defended_curves) = battery_and_sweeps(
        cfg,
        &defended,
        &test,
        defended_clean,
        "adversarially trained",
    )?;
    curves.extend(defended_curves);
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
    let battery: Vec<BatteryRow> = baseline_outcomes
        .into_iter()
        .zip(defended_outcomes)
        .map(|(baseline, defended)| BatteryRow { baseline, defended })
        .collect();
    timings.push((
        "attack defended".to_string(),
        started.elapsed().as_secs_f64(),
    ));

    // HopSkipJump needs no gradients, so it runs on the second core while feature squeezing
    // (which does) runs here; each stage's time is its own wall time.
    progress(Progress::Stage(
        "Black box: HopSkipJump with labels only; detect: feature squeezing against plain and adaptive PGD",
    ));
    let (hsj, detection) = std::thread::scope(|scope| {
        let hsj = scope.spawn(|| {
            let started = Instant::now();
            hopskipjump_stage(cfg, &baseline, &defended, &test)
                .map(|r| (r, started.elapsed().as_secs_f64()))
        });
        let started = Instant::now();
        let detection_data = test.head(cfg.detection_examples);
        let detection = crate::detection::feature_squeezing_report(
            &baseline,
            &detection_data,
            &pgd_for_detection,
            aisec_defenses::feature_squeezing::SqueezeConfig {
                adaptive_steps: cfg.squeeze_adaptive_steps,
                ..Default::default()
            },
            kb,
            cfg.seed,
        )
        .map(|d| (d, started.elapsed().as_secs_f64()));
        (hsj.join(), detection)
    });
    let ((hsj_curves, hsj_outcomes), hsj_seconds) =
        hsj.map_err(|_| AssessError::Config("the HopSkipJump stage panicked".into()))??;
    let (detection, detection_seconds) = detection?;
    timings.push(("black-box HopSkipJump".to_string(), hsj_seconds));
    timings.push(("detection".to_string(), detection_seconds));

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

    progress(Progress::Stage(
        "Poison: BadNets at 5%, then activation clustering and retraining",
    ));
    let started = Instant::now();
    let poisoning = crate::poisoning::run(
        aisec_ml::net::Architecture::Cnn,
        &train_set,
        &test,
        crate::poisoning::PoisonAttack::BadNets(
            aisec_attacks::poison::badnets::BadNetsConfig::default(),
        ),
        Some(aisec_defenses::DefenseSpec::new(
            aisec_defenses::activation_clustering::ClusteringConfig::default(),
        )),
        cfg.seed,
    )?;
    let poisoning_report = crate::poisoning::report(&poisoning, kb);
    findings.extend(poisoning_report.findings.iter().cloned());
    timings.push(("poisoning".to_string(), started.elapsed().as_secs_f64()));

    progress(Progress::Stage(
        "Extract: Knockoff, Jacobian augmentation and equation solving through the API; reverse sigmoid, rounding and PRADA",
    ));
    let started = Instant::now();
    let extraction = crate::demo::extraction::run(&baseline, &train_set, &test, cfg.seed, kb)?;
    for row in &extraction.rows {
        findings.extend(row.report.findings.iter().cloned());
        if let Some(d) = &row.defended {
            findings.extend(d.report.findings.iter().cloned());
        }
    }
    timings.push(("extraction".to_string(), started.elapsed().as_secs_f64()));

    progress(Progress::Stage(
        "Supply chain: the baseline as a PyTorch checkpoint, a copy with a pickle payload, both scanned",
    ));
    let started = Instant::now();
    let scan = crate::demo::scan::run(&baseline, kb)?;
    findings.extend(scan.report.findings.iter().cloned());
    timings.push(("scan".to_string(), started.elapsed().as_secs_f64()));

    let privacy = match &cfg.privacy {
        None => None,
        Some(privacy_cfg) => {
            let started = Instant::now();
            let stage = privacy::run(privacy_cfg, cfg.seed, kb, &mut |s| {
                progress(Progress::Stage(s))
            })?;
            for r in stage.membership.iter().chain(&stage.defended) {
                findings.extend(r.findings.iter().cloned());
            }
            findings.extend(stage.inversion.findings.iter().cloned());
            timings.push(("privacy".to_string(), started.elapsed().as_secs_f64()));
            Some(stage)
        }
    };
    Ok(DemoOutcome {
        config: cfg.clone(),
        test,
        baseline,
        defended,
        battery,
        sweep: curves,
        findings,
        runs,
        hsj_curves,
        detection: Some(detection),
        poisoning: Some((poisoning, poisoning_report)),
        extraction: Some(extraction),
        scan: Some(scan),
        privacy,
        timings,
        wall_seconds: run_started.elapsed().as_secs_f64(),
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
