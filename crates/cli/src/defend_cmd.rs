use aisec_core::Metric;
use std::path::PathBuf;

use aisec_attacks::evasion::Norm;
use aisec_defenses::adv_train::{self, AdvTrainConfig};
use aisec_defenses::Defense;
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::{accuracy, predict};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::data_args::{DataArgs, Split};
use crate::model_cmd::{parse_arch, train_config};
use crate::output::{print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Subcommand)]
pub enum DefendCommand {
    /// PGD adversarial training (AML.M0003 Model Hardening, ML Model Engineering).
    AdvTrain(Box<AdvTrainArgs>),
    /// DP-SGD training (Abadi et al. 2016) to a target ε, or with a given noise multiplier;
    /// the model is saved with the (ε, δ) it spent (filed under AML.M0003 Model Hardening,
    /// ML Model Engineering: ATLAS names no differential-privacy mitigation).
    DpTrain(Box<crate::dp_train_cmd::DpTrainArgs>),
    /// Certified L2 robustness of randomized smoothing on a model (Cohen et al. 2019):
    /// per-input radii by CERTIFY (n0, n, α, Clopper–Pearson), abstentions counted,
    /// certified accuracy by radius; `--attack-check N` attacks the certificates with PGD
    /// and EOT (AML.M0010, ML Model Engineering and ML Model Evaluation).
    Certify(Box<crate::certify_cmd::CertifyArgs>),
    /// Architectural-backdoor search in an ONNX graph: comparisons on the input that never
    /// change on clean data (dormant key checks), the input values that flip them, and what
    /// the stamped trigger does to the answers, against random values at the same positions.
    /// Exit 1 when a backdoor is confirmed (AML.M0008, AML.M0016; ML Model Evaluation and
    /// Deployment).
    TriggerSearch(Box<crate::trigger_cmd::TriggerSearchArgs>),
    /// Every defence: what it acts on and how, its ATLAS mitigations and lifecycle phases,
    /// the `--defend` forms that select it, and the adaptive attack that measures it.
    List,
}

#[derive(Debug, Args)]
pub struct AdvTrainArgs {
    #[arg(long, value_parser = parse_arch)]
    pub arch: Architecture,
    #[command(flatten)]
    pub data: DataArgs,
    /// Training-time budget.
    #[arg(long)]
    pub eps: f32,
    /// inf or 2.
    #[arg(long, default_value = "inf", value_parser = |s: &str| Norm::parse(s).ok_or_else(|| format!("`{s}` is not a norm: expected inf or 2")))]
    pub norm: Norm,
    /// PGD steps per batch (default 7).
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(cli: &Cli, cmd: &DefendCommand) -> Result<Outcome> {
    let args = match cmd {
        DefendCommand::AdvTrain(args) => args,
        DefendCommand::DpTrain(args) => return crate::dp_train_cmd::run(cli, args),
        DefendCommand::Certify(args) => return crate::certify_cmd::run(cli, args),
        DefendCommand::TriggerSearch(args) => return crate::trigger_cmd::run(cli, args),
        DefendCommand::List => return list(cli),
    };
    if !(args.eps > 0.0 && args.eps.is_finite()) {
        bail!("--eps must be a positive number");
    }
    let train_set = args.data.load(Split::Train)?;
    train_set.check_trainable()?;
    let test_set = args.data.load(Split::Test)?;
    let mut config = AdvTrainConfig::new(args.arch, args.eps, args.norm, args.seed);
    if let Some(steps) = args.steps {
        if steps == 0 {
            bail!("--steps must be at least 1");
        }
        config.steps = steps;
        config.step_size = 2.5 * args.eps / steps as f32;
    }
    if args.epochs.is_some() {
        config.train = train_config(args.arch, args.seed, args.epochs, None)?;
    }
    let progress = Progress::new();
    let epochs = config.train.epochs;
    let (net, report) = adv_train::adversarial_training(args.arch, &train_set, &config, |s| {
        progress.message(format!(
            "adversarial training: epoch {}/{epochs}, accuracy on PGD batches {:.3}",
            s.epoch, s.train_accuracy
        ))
    })?;
    progress.finish();
    let clean = accuracy(&predict(&net, &test_set), &test_set.y);
    let wall = report.wall_seconds;
    let mut manifest = Manifest::new(args.arch, &train_set, args.seed);
    manifest.training_split = Some(args.data.training_split(&train_set, &test_set));
    manifest
        .metrics
        .insert("clean_accuracy".into(), json!(clean));
    manifest.training = Some(report);
    manifest.defense = Some(config.reference());
    NativeModel::new(net, manifest)
        .save(&args.out)
        .with_context(|| format!("cannot save the model to {}", args.out.display()))?;
    let mut metrics = aisec_core::Metrics::default();
    metrics.insert(Metric::CleanAccuracy, clean)?;
    metrics.insert(Metric::WallSeconds, wall)?;
    let report = aisec_report::RunReport::new(
        aisec_report::RunKind::Defense,
        adv_train::INFO.name,
        &["AML.T0043.000", "AML.T0015"],
        args.arch.name(),
        config.settings(),
        args.seed,
        metrics,
    )
    .with_data(train_set.name.clone())
    .with_observations(aisec_core::Details::new(aisec_report::ModelSaved {
        out: args.out.display().to_string(),
        train_accuracy: None,
        test_examples: None,
    }))
    .with_defense(config.reference());
    crate::output::store_run(cli, &report)?;
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => print_text(&format!(
            "PGD adversarial training (AML.M0003 Model Hardening, phase ML Model Engineering) of a {} on {}\n  {} ε={} PGD-{} per batch, {} epochs, {wall:.1} s\n  clean test accuracy {:.2}%\nsaved to {}\nmeasure it: aisec attack evasion --model {} --dataset ... --attack pgd --eps {}\n",
            args.arch.name(),
            train_set.name,
            args.norm.label(),
            args.eps,
            config.steps,
            epochs,
            100.0 * clean,
            args.out.display(),
            args.out.display(),
            args.eps
        ))?,
    }
    Ok(Outcome::Ok)
}

fn list(cli: &Cli) -> Result<Outcome> {
    let all: Vec<&aisec_defenses::DefenseInfo> = aisec_defenses::registry::defenses().collect();
    match cli.format {
        Format::Json => print_json(&all)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            let mut out = String::new();
            for d in all {
                let forms = if d.forms.is_empty() {
                    format!("aisec {}", d.name.replace("defense.", "defend "))
                } else {
                    format!("--defend {}", d.forms.join(" | "))
                };
                out.push_str(&format!(
                    "{:<30} {:<13} {:<7} {:<22} {}\n{:<30} {}\n{:<30} phases: {}; measured by: {}\n",
                    d.name,
                    d.applies_to.as_str(),
                    d.action.as_str(),
                    d.mitigations.join(", "),
                    d.summary,
                    "",
                    forms,
                    "",
                    d.phases.join("; "),
                    if d.measured_by.is_empty() {
                        "its own command's report (no attack module builds what it finds)".to_string()
                    } else {
                        d.measured_by.join(", ")
                    }
                ));
                if let Some(a) = d.adaptive_attack {
                    out.push_str(&format!("{:<30} adaptive: {a}\n", ""));
                }
            }
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}
