//! The demo's evasion stages: the white-box battery and its ε sweeps, and HopSkipJump with
//! labels only.

use aisec_core::Metric;
use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::evasion::{EvasionParams, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_attacks::AttackOutcome;
use aisec_ml::data::Dataset;
use aisec_ml::model::{Classifier, OutputKind, Restricted};
use aisec_ml::native::NativeModel;
use aisec_report::Series;

use super::DemoConfig;
use crate::runner::{self, EvasionRequest};
use crate::{AssessError, Result};

/// One attack of the battery, through the one runner (no defence: the demo's defence is
/// adversarial training, attacked as a model of its own).
pub(super) fn attack(
    name: &str,
    params: EvasionParams,
    model: &NativeModel,
    test: &Dataset,
    seed: u64,
    kb: &KnowledgeBase,
) -> Result<AttackOutcome> {
    let entry = find_evasion(name)
        .ok_or_else(|| AssessError::Config(format!("no evasion attack `{name}`")))?;
    let shared: Arc<dyn Classifier> = Arc::new(NativeModel::new(
        model.network().clone(),
        model.manifest.clone(),
    ));
    run_attack(entry, params, shared, test, seed, kb)
}

fn run_attack(
    entry: &'static aisec_attacks::registry::EvasionEntry,
    params: EvasionParams,
    model: Arc<dyn Classifier>,
    data: &Dataset,
    seed: u64,
    kb: &KnowledgeBase,
) -> Result<AttackOutcome> {
    let request = EvasionRequest {
        attack: entry,
        params,
        model,
        data,
        target_class: None,
        defense: None,
        seed,
    };
    Ok(runner::evasion(&request, kb)?.outcome)
}

pub(super) fn battery_params(cfg: &DemoConfig) -> Vec<(&'static str, EvasionParams)> {
    let mut out = Vec::new();
    for &eps in &cfg.battery_eps {
        let base = EvasionParams {
            eps: Some(eps),
            norm: Some(Norm::Linf),
            ..EvasionParams::default()
        };
        out.push(("fgsm", base.clone()));
        out.push((
            "pgd",
            EvasionParams {
                steps: Some(cfg.pgd_steps),
                ..base.clone()
            },
        ));
        out.push((
            "apgd-ce",
            EvasionParams {
                steps: Some(cfg.apgd_steps),
                ..base.clone()
            },
        ));
        // Square runs at the largest budget only: at smaller ones the inputs it cannot fool
        // spend the whole query budget each, which is most of the demo's time for no new fact.
        if cfg.battery_eps.iter().all(|e| *e <= eps) {
            out.push((
                "square",
                EvasionParams {
                    steps: None,
                    step_size: None,
                    random_start: None,
                    restarts: None,
                    queries_per_input: Some(cfg.square_queries as u64),
                    ..base
                },
            ));
        }
    }
    out
}

/// The outcome on the first `n` inputs only: PGD attacks each input on its own, so these are
/// PGD's results on those inputs (drawn as part of the larger batch; a second restart draws
/// its random starts in batch order, so they are not the same draws as a run on `n` inputs).
pub(super) fn head_of(outcome: &AttackOutcome, n: usize, features: usize) -> AttackOutcome {
    let mut head = outcome.clone();
    head.examples.truncate(n);
    head.adversarial.truncate(n * features);
    head
}

/// Robust accuracy against ε. A point whose run the battery already made (same attack, same
/// parameters, same seed: the same numbers) is read from `done` instead of run again.
#[allow(clippy::too_many_arguments)]
pub(super) fn sweep(
    label: &str,
    name: &str,
    cfg: &DemoConfig,
    model: &NativeModel,
    test: &Dataset,
    clean: f64,
    done: &[(&'static str, EvasionParams, &AttackOutcome)],
    kb: &KnowledgeBase,
) -> Result<Series> {
    let mut points = Vec::new();
    for &eps in &cfg.eps_grid {
        if eps == 0.0 {
            points.push((0.0, clean));
            continue;
        }
        let params = EvasionParams {
            eps: Some(eps),
            norm: Some(Norm::Linf),
            steps: Some(cfg.pgd_steps),
            ..EvasionParams::default()
        };
        let params = if name == "fgsm" {
            EvasionParams {
                steps: None,
                ..params
            }
        } else {
            params
        };
        let robust = match done.iter().find(|(n, p, _)| *n == name && *p == params) {
            Some((_, _, outcome)) => outcome.metrics.get(Metric::RobustAccuracy),
            None => attack(name, params, model, test, cfg.seed, kb)?
                .metrics
                .get(Metric::RobustAccuracy),
        };
        let robust = robust.ok_or_else(|| {
            AssessError::Config(format!("{name} at ε = {eps} reported no robust accuracy"))
        })?;
        points.push((eps as f64, robust));
    }
    Ok(Series {
        label: label.to_string(),
        points,
    })
}

/// HopSkipJump with labels only against both models: the median-distance curves and outcomes.
pub(super) fn hopskipjump_stage(
    cfg: &DemoConfig,
    baseline: &NativeModel,
    defended: &NativeModel,
    test: &Dataset,
    kb: &KnowledgeBase,
) -> Result<(Vec<Series>, Vec<AttackOutcome>)> {
    let hsj_data = test.head(cfg.hsj_examples);
    let mut hsj_curves = Vec::new();
    let mut hsj_outcomes = Vec::new();
    for (label, model) in [("baseline", baseline), ("adversarially trained", defended)] {
        // The adversary sees labels only: the same network behind a label-only API.
        let shared: Arc<dyn Classifier> = Arc::new(NativeModel::new(
            model.network().clone(),
            model.manifest.clone(),
        ));
        let labels_only: Arc<dyn Classifier> =
            Arc::new(Restricted::new(shared, OutputKind::Label, false));
        let params = EvasionParams {
            norm: Some(Norm::L2),
            queries_per_input: Some(cfg.hsj_queries as u64),
            ..EvasionParams::default()
        };
        let entry = find_evasion("hsj").ok_or_else(|| aisec_attacks::AttackError::Config {
            attack: "registry",
            message: "no hsj".into(),
        })?;
        let outcome = run_attack(entry, params, labels_only, &hsj_data, cfg.seed, kb)?;
        let points: Vec<(f64, f64)> = outcome
            .observations
            .attack
            .as_ref()
            .and_then(|o| o.get::<aisec_attacks::evasion::hsj::HsjObservations>())
            .map(|h| {
                h.median_distance_by_queries
                    .iter()
                    .map(|p| (p.queries as f64, f64::from(p.median_distance)))
                    .collect()
            })
            .unwrap_or_default();
        hsj_curves.push(Series {
            label: format!("HopSkipJump, {label}"),
            points,
        });
        hsj_outcomes.push(outcome);
    }
    Ok((hsj_curves, hsj_outcomes))
}

/// The battery against `model`, then its PGD and FGSM robustness curves (reusing the
/// battery's runs where the parameters are the same).
pub(super) fn battery_and_sweeps(
    cfg: &DemoConfig,
    model: &NativeModel,
    test: &Dataset,
    clean: f64,
    label: &str,
    kb: &KnowledgeBase,
) -> Result<(Vec<AttackOutcome>, [Series; 2])> {
    let mut outcomes = Vec::new();
    for (name, params) in battery_params(cfg) {
        outcomes.push(attack(name, params, model, test, cfg.seed, kb)?);
    }
    let done: Vec<_> = battery_params(cfg)
        .into_iter()
        .zip(&outcomes)
        .map(|((n, p), o)| (n, p, o))
        .collect();
    let pgd = sweep(
        &format!("PGD, {label}"),
        "pgd",
        cfg,
        model,
        test,
        clean,
        &done,
        kb,
    )?;
    let fgsm = sweep(
        &format!("FGSM, {label}"),
        "fgsm",
        cfg,
        model,
        test,
        clean,
        &done,
        kb,
    )?;
    Ok((outcomes, [pgd, fgsm]))
}
