//! The demo's privacy stage: membership inference against an overfitted MLP on
//! purchase-synthetic (LOSS, RMIA with 4 reference models, LiRA with 16 shadows), the
//! privacy–utility trade-off of DP-SGD and early stopping measured by attacking again with
//! LiRA, and MI-Face inversion of a white-box digits softmax regression. Every run is the
//! one `aisec attack membership` / `aisec attack invert` makes with the same settings.

use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_attacks::inversion::mi_face::{self, MiFaceConfig};
use aisec_attacks::inversion::Resemblance;
use aisec_attacks::membership::{self, MembershipParams, Recipe};
use aisec_core::Metric;
use aisec_defenses::DefenseSpec;
use aisec_ml::data::{BuiltinDataset, Dataset, InputRange};
use aisec_ml::model::{Classifier, OutputKind};
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::{self, TrainConfig};
use aisec_report::html::{Block, Section};
use aisec_report::{svg, RunReport, Series};
use serde::Serialize;

use crate::membership as assess_membership;
use crate::membership::MembershipObservations;
use crate::runner::membership::{MembershipInference, MembershipSetup};
use crate::runner::{self, inversion::InversionExperiment};
use crate::{AssessError, Result};

/// What the stage runs; the defaults are what `aisec demo` uses.
#[derive(Debug, Clone, Serialize)]
pub struct PrivacyConfig {
    /// Members of the target (as many non-members; the rest of the 10,000 records is the
    /// adversary's population). Default 2,500.
    pub train_size: usize,
    /// Training epochs of the target and of every shadow model. Default 30 (the target
    /// reaches 100% on its members).
    pub epochs: usize,
    /// LiRA's shadow models. Default 16.
    pub lira_shadows: usize,
    /// RMIA's reference models. Default 4.
    pub rmia_references: usize,
    /// The retraining defences measured by attacking again with LiRA, in `--defend` form.
    /// Default DP-SGD at ε = 8, 4 and 2, and early stopping after 5 epochs.
    pub defences: Vec<String>,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            train_size: 2500,
            epochs: 30,
            lira_shadows: 16,
            rmia_references: 4,
            defences: ["dp-sgd:8", "dp-sgd:4", "dp-sgd:2", "early-stop:5"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// One line of the privacy–utility table.
#[derive(Debug, Clone, Serialize)]
pub struct TradeoffRow {
    pub defence: String,
    /// ε spent at δ = 1e-5 (DP-SGD only).
    pub epsilon: Option<f64>,
    /// The target's accuracy on non-members.
    pub accuracy: f64,
    pub tpr_at_1pct_fpr: f64,
    pub tpr_at_0_1pct_fpr: f64,
    pub auc: f64,
}

pub struct PrivacyStage {
    pub config: PrivacyConfig,
    /// LOSS, RMIA and LiRA against the undefended target; LiRA's carries the first defence
    /// as `defended`.
    pub membership: Vec<RunReport>,
    /// The defended LiRA runs, in `config.defences` order.
    pub defended: Vec<RunReport>,
    pub tradeoff: Vec<TradeoffRow>,
    /// Each attack's ROC, undefended.
    pub roc: Vec<Series>,
    pub non_members: usize,
    pub inversion: RunReport,
    pub reconstructions: Vec<(mi_face::Inverted, Resemblance)>,
}

fn metric(r: &RunReport, k: Metric) -> f64 {
    r.metrics.get(k).unwrap_or(f64::NAN)
}

fn membership_observations(report: &RunReport) -> Option<&MembershipObservations> {
    report
        .observations
        .as_ref()?
        .get::<MembershipObservations>()
}

fn roc_series(report: &RunReport, label: String) -> Series {
    let points = membership_observations(report)
        .map(|o| o.roc.iter().map(|p| (p.fpr, p.tpr)).collect())
        .unwrap_or_default();
    Series { label, points }
}

pub fn run(
    cfg: &PrivacyConfig,
    seed: u64,
    kb: &KnowledgeBase,
    progress: &mut dyn FnMut(&str),
) -> Result<PrivacyStage> {
    let all = BuiltinDataset::PurchaseSynthetic.load();
    let train = TrainConfig {
        epochs: cfg.epochs,
        ..TrainConfig::for_architecture(Architecture::Mlp, seed)
    };
    let recipe = Recipe::plain(Architecture::Mlp, train, cfg.train_size);
    progress("Privacy: training the purchase-synthetic MLP on its members");
    let trained = assess_membership::train_target(&all, &recipe, seed)?;
    let target: Arc<dyn Classifier> = trained.model.clone();
    let split = &trained.split;
    let attacks = [
        ("loss", None),
        ("rmia", Some(cfg.rmia_references)),
        ("lira", Some(cfg.lira_shadows)),
    ];
    let specs: Vec<DefenseSpec> = cfg
        .defences
        .iter()
        .map(|form| DefenseSpec::parse(form).map_err(AssessError::Config))
        .collect::<Result<_>>()?;
    let mut reports = Vec::new();
    let mut roc = Vec::new();
    let mut defended = Vec::new();
    for (name, shadows) in attacks {
        progress(&format!("Privacy: membership inference, {name}"));
        let entry = membership::find(name)
            .ok_or_else(|| AssessError::Config(format!("no membership attack `{name}`")))?;
        let mut experiment = MembershipInference::new(MembershipSetup {
            entry,
            params: MembershipParams {
                shadows,
                ..MembershipParams::default()
            },
            target: target.clone(),
            candidates: &split.candidates,
            is_member: &split.is_member,
            population: &split.population,
            members: Some(&split.members),
            recipe: recipe.clone(),
            outputs: OutputKind::Probabilities,
            budget: u64::MAX,
            seed,
            kb,
            data_description: trained.description.clone(),
            context: trained.context.clone(),
            progress: None,
        });
        // LiRA, the strongest, is measured again against each retraining defence.
        let report = if name == "lira" && !specs.is_empty() {
            progress(&format!(
                "Privacy: LiRA, then retraining with {} and LiRA with {} shadows again",
                cfg.defences.join(", "),
                cfg.lira_shadows
            ));
            let (report, runs) = runner::run_each(&mut experiment, &specs)?;
            defended = runs;
            report
        } else {
            runner::run(&mut experiment, None)?
        };
        roc.push(roc_series(
            &report,
            match shadows {
                Some(n) => format!("{name}, {n} models"),
                None => name.to_string(),
            },
        ));
        reports.push(report);
    }
    let lira = reports.last().expect("three attacks ran");
    let mut tradeoff = vec![TradeoffRow {
        defence: "none".into(),
        epsilon: None,
        accuracy: trained.context.target_accuracy.map_or(f64::NAN, |a| a.1),
        tpr_at_1pct_fpr: metric(lira, Metric::TprAt1PctFpr),
        tpr_at_0_1pct_fpr: metric(lira, Metric::TprAt0_1PctFpr),
        auc: metric(lira, Metric::Auc),
    }];
    for (form, report) in cfg.defences.iter().zip(&defended) {
        tradeoff.push(TradeoffRow {
            defence: form.clone(),
            epsilon: report.metrics.get(Metric::EpsilonDp),
            accuracy: metric(report, Metric::CleanAccuracy),
            tpr_at_1pct_fpr: metric(report, Metric::TprAt1PctFpr),
            tpr_at_0_1pct_fpr: metric(report, Metric::TprAt0_1PctFpr),
            auc: metric(report, Metric::Auc),
        });
    }

    progress("Privacy: MI-Face inversion of a white-box digits softmax regression");
    let (inversion, reconstructions) = invert_digits(seed, kb)?;
    Ok(PrivacyStage {
        config: cfg.clone(),
        membership: reports,
        defended,
        tradeoff,
        roc,
        non_members: split.is_member.iter().filter(|m| !**m).count(),
        inversion,
        reconstructions,
    })
}

/// The digits softmax regression `aisec model train --arch logreg` makes, inverted class by
/// class with its own gradients and compared with the training split.
fn invert_digits(
    seed: u64,
    kb: &KnowledgeBase,
) -> Result<(RunReport, Vec<(mi_face::Inverted, Resemblance)>)> {
    let (train_set, _) = BuiltinDataset::Digits.split();
    let net = train::init_network(Architecture::Logreg, &train_set, seed)?;
    let config = TrainConfig::for_architecture(Architecture::Logreg, seed);
    let (net, _) = train::train(net, &train_set, &config, None, |_| {});
    let model = NativeModel::new(net, Manifest::new(Architecture::Logreg, &train_set, seed));
    let range = train_set
        .input_range
        .unwrap_or(InputRange { lo: 0.0, hi: 1.0 });
    let classes: Vec<usize> = (0..train_set.num_classes).collect();
    let description = model.info().description.clone();
    let mut experiment = InversionExperiment {
        config: MiFaceConfig::default(),
        target: Arc::new(model),
        classes,
        assessor: &train_set,
        range,
        budget: u64::MAX,
        seed,
        kb,
        outcome: None,
        defended: None,
    };
    let report = runner::run(&mut experiment, None)?;
    let (out, compared) = experiment.outcome.take().ok_or_else(|| {
        AssessError::Config(format!("the inversion of {description} did not run"))
    })?;
    Ok((report, out.images.into_iter().zip(compared).collect()))
}

fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

/// The report's privacy section: the ROC on log–log axes, the trade-off as a table and a
/// chart, and the reconstructed digits.
pub fn section(stage: Option<&PrivacyStage>, digits: &Dataset) -> Section {
    let Some(stage) = stage else {
        return Section {
            heading: "Privacy".into(),
            blocks: vec![Block::Paragraph("The privacy stage did not run.".into())],
        };
    };
    let mut blocks = vec![Block::Paragraph(format!(
        "Membership inference (AML.T0024.000 via AML.T0040) against an MLP trained for {} epochs on {} purchase-synthetic records (100% accuracy on them, {} on unseen ones); the candidates are its members and as many records it never saw, so 1% FPR allows {} false positives of {} and 0.1% allows {}. Shadow and reference models follow the target's recipe on the adversary's own records.",
        stage.config.epochs,
        stage.config.train_size,
        pct(stage.tradeoff[0].accuracy),
        stage.non_members / 100,
        stage.non_members,
        stage.non_members / 1000,
    ))];
    blocks.push(Block::Table {
        headers: [
            "attack",
            "models trained",
            "TPR at 1% FPR",
            "TPR at 0.1% FPR",
            "AUC",
            "queries",
            "time",
        ]
        .map(String::from)
        .to_vec(),
        rows: stage
            .membership
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    membership_observations(r)
                        .map_or(String::new(), |o| o.shadow_models.to_string()),
                    pct(metric(r, Metric::TprAt1PctFpr)),
                    pct(metric(r, Metric::TprAt0_1PctFpr)),
                    format!("{:.3}", metric(r, Metric::Auc)),
                    format!("{:.0}", metric(r, Metric::QueriesTotal)),
                    format!("{:.1} s", metric(r, Metric::WallSeconds)),
                ]
            })
            .collect(),
    });
    blocks.push(Block::Svg(svg::roc_log_log(
        "Membership inference ROC (log–log; the dashed line is a guess)",
        &stage.roc,
        1.0 / stage.non_members.max(1) as f64,
    )));
    blocks.push(Block::Paragraph("The privacy–utility trade-off: the target retrained on the same members with each defence, LiRA run again with its shadow models trained the same way (the adversary knows the training algorithm). DP-SGD is filed under AML.M0003 Model Hardening, since ATLAS names no differential-privacy mitigation; ε is from the RDP accountant at δ = 1e-5.".into()));
    blocks.push(Block::Table {
        headers: [
            "defence",
            "ε",
            "accuracy on non-members",
            "LiRA TPR at 1% FPR",
            "at 0.1% FPR",
            "AUC",
        ]
        .map(String::from)
        .to_vec(),
        rows: stage
            .tradeoff
            .iter()
            .map(|t| {
                vec![
                    t.defence.clone(),
                    t.epsilon.map_or("–".into(), |e| format!("{e:.2}")),
                    pct(t.accuracy),
                    pct(t.tpr_at_1pct_fpr),
                    pct(t.tpr_at_0_1pct_fpr),
                    format!("{:.3}", t.auc),
                ]
            })
            .collect(),
    });
    let dp: Vec<&TradeoffRow> = stage
        .tradeoff
        .iter()
        .filter(|t| t.epsilon.is_some())
        .collect();
    if dp.len() >= 2 {
        let points = |pick: &dyn Fn(&TradeoffRow) -> f64| -> Vec<(f64, f64)> {
            let mut v: Vec<(f64, f64)> = dp
                .iter()
                .filter_map(|t| t.epsilon.map(|e| (e, pick(t))))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        };
        let series = vec![
            Series {
                label: "accuracy on non-members".into(),
                points: points(&|t| t.accuracy),
            },
            Series {
                label: "LiRA TPR at 1% FPR".into(),
                points: points(&|t| t.tpr_at_1pct_fpr),
            },
            Series {
                label: "no DP: accuracy".into(),
                points: points(&|_| stage.tradeoff[0].accuracy),
            },
            Series {
                label: "no DP: LiRA TPR".into(),
                points: points(&|_| stage.tradeoff[0].tpr_at_1pct_fpr),
            },
        ];
        blocks.push(Block::Svg(svg::line_chart(
            "DP-SGD: utility and leakage against ε",
            "ε (δ = 1e-5)",
            "fraction",
            &series,
        )));
    }
    let shape = &digits.sample_shape;
    let (h, w) = match shape.as_slice() {
        [_, h, w] | [h, w] => (*h, *w),
        _ => (8, 8),
    };
    let range = digits
        .input_range
        .unwrap_or(InputRange { lo: 0.0, hi: 1.0 });
    let recognised = stage
        .reconstructions
        .iter()
        .filter(|(_, r)| r.nearest_class_mean == r.class)
        .count();
    blocks.push(Block::Paragraph(format!(
        "Model inversion (AML.T0024.001, MI-Face): each digit class reconstructed from a white-box softmax regression's gradients with a smoothness prior; {recognised} of {} reconstructions are nearer their own class's mean training image than any other class's.",
        stage.reconstructions.len()
    )));
    blocks.push(Block::Figures {
        items: stage
            .reconstructions
            .iter()
            .map(|(inv, r)| {
                svg::image(
                    &inv.image,
                    h,
                    w,
                    range.lo,
                    range.hi,
                    9.0,
                    &format!(
                        "{} → {}{}",
                        inv.class,
                        r.nearest_class_mean,
                        if r.nearest_class_mean == inv.class { "" } else { " ✗" }
                    ),
                )
            })
            .collect(),
        caption: "Reconstructed class representatives; the caption is the class and the class whose mean image is nearest".into(),
    });
    Section {
        heading: "Privacy: membership inference, DP-SGD and model inversion".into(),
        blocks,
    }
}
