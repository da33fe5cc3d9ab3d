//! `aisec defend dp-train`: a model trained with DP-SGD, saved with the (ε, δ) it spent.

use std::path::PathBuf;

use aisec_core::{Metric, Metrics};
use aisec_defenses::dp::sgd::{self, DpSgdConfig};
use aisec_defenses::dp_sgd::DpSgdDefense;
use aisec_defenses::Defense;
use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::{accuracy, predict};
use aisec_report::{RunKind, RunReport};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use crate::data_args::{DataArgs, Split};
use crate::model_cmd::parse_arch;
use crate::output::{print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct DpTrainArgs {
    /// logreg or mlp (DP-SGD needs per-example gradients, which aisec computes for dense
    /// networks).
    #[arg(long, value_parser = parse_arch)]
    pub arch: Architecture,
    #[command(flatten)]
    pub data: DataArgs,
    /// The ε to spend at --delta; the noise multiplier is calibrated to it by the RDP
    /// accountant. Or give --noise-multiplier.
    #[arg(
        long,
        conflicts_with = "noise_multiplier",
        required_unless_present = "noise_multiplier"
    )]
    pub epsilon: Option<f64>,
    /// σ, noise over the clipping norm; the report states the ε it spends.
    #[arg(long)]
    pub noise_multiplier: Option<f64>,
    #[arg(long, default_value_t = 1e-5)]
    pub delta: f64,
    /// C: each record's gradient is clipped to this L2 norm.
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f32,
    /// Expected batch size; each record joins each batch with probability batch / records.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Adam's step size on the privatised gradient.
    #[arg(long, default_value_t = 1e-2)]
    pub learning_rate: f32,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(cli: &Cli, args: &DpTrainArgs) -> Result<Outcome> {
    if !(args.delta > 0.0 && args.delta < 1.0) {
        bail!("--delta must be in (0, 1), got {}", args.delta);
    }
    if args.batch_size == 0 || args.epochs == 0 {
        bail!("--batch-size and --epochs must be at least 1");
    }
    for (flag, v) in [
        ("--epsilon", args.epsilon),
        ("--noise-multiplier", args.noise_multiplier),
    ] {
        if let Some(v) = v.filter(|v| !(*v > 0.0 && v.is_finite())) {
            bail!("{flag} must be a positive number, got {v}");
        }
    }
    let train_set = args.data.load(Split::Train)?;
    train_set.check_trainable()?;
    let test_set = args.data.load(Split::Test)?;
    if args.delta >= 1.0 / train_set.len() as f64 {
        tracing::warn!(
            "--delta {} is not below 1 / {} training records: the guarantee allows leaking a whole record",
            args.delta,
            train_set.len()
        );
    }
    let defense = DpSgdDefense {
        target_epsilon: args.epsilon,
        training: DpSgdConfig {
            noise_multiplier: args.noise_multiplier.unwrap_or(1.0),
            max_grad_norm: args.max_grad_norm,
            expected_batch_size: args.batch_size,
            epochs: args.epochs,
            learning_rate: args.learning_rate,
            delta: args.delta,
        },
    };
    let config = defense.config_for(train_set.len())?;
    let progress = Progress::new();
    progress.message(format!(
        "DP-SGD: {} steps, noise multiplier {:.3}",
        config.steps(train_set.len()),
        config.noise_multiplier
    ));
    let trained = sgd::train(args.arch, &train_set, &config, args.seed);
    progress.finish();
    let (net, dp) = trained?;
    let test_acc = accuracy(&predict(&net, &test_set), &test_set.y);
    let train_acc = accuracy(&predict(&net, &train_set), &train_set.y);
    let mut reference = defense.reference();
    reference.observed = Some(aisec_core::Details::new(
        aisec_defenses::dp_sgd::DpTrainingSpent {
            epsilon: dp.spent.epsilon,
            delta: dp.spent.delta,
            rdp_order: dp.spent.order,
            noise_multiplier: dp.setting.noise_multiplier,
            sampling_rate: dp.setting.sampling_rate,
            steps: dp.setting.steps,
            clipped_fraction: dp.clipped_fraction,
            mean_batch_size: dp.mean_batch_size,
        },
    ));
    let mut manifest = Manifest::new(args.arch, &train_set, args.seed);
    manifest.training_split = Some(args.data.training_split(&train_set, &test_set));
    manifest
        .metrics
        .insert("clean_accuracy".into(), json!(test_acc));
    manifest
        .metrics
        .insert("epsilon_dp".into(), json!(dp.spent.epsilon));
    manifest.defense = Some(reference.clone());
    NativeModel::new(net, manifest)
        .save(&args.out)
        .with_context(|| format!("cannot save the model to {}", args.out.display()))?;
    let mut metrics = Metrics::default();
    metrics.insert(Metric::EpsilonDp, dp.spent.epsilon)?;
    metrics.insert(Metric::CleanAccuracy, test_acc)?;
    metrics.insert(Metric::WallSeconds, dp.wall_seconds)?;
    let report = RunReport::new(
        RunKind::Defense,
        aisec_defenses::dp_sgd::INFO.name,
        &[] as &[&str],
        args.arch.name(),
        aisec_core::Details::new(config.clone()),
        args.seed,
        metrics,
    )
    .with_data(format!(
        "{} ({} training records)",
        train_set.name,
        train_set.len()
    ))
    .with_defense(reference)
    .with_observations(aisec_core::Details::new(aisec_report::ModelSaved {
        out: args.out.display().to_string(),
        train_accuracy: Some(train_acc),
        test_examples: Some(test_set.len()),
    }));
    crate::output::store_run(cli, &report)?;
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => print_text(&format!(
            "trained {} on {} ({} records) with DP-SGD in {:.1} s\n  (ε = {:.3}, δ = {:e}) by the RDP accountant: noise multiplier {:.3}, clipping norm {}, {} steps at sampling rate {:.4}\n  {:.0}% of per-record gradients were clipped\n  train accuracy {:.2}%, test accuracy {:.2}% on {} held-out records\nsaved to {}\n",
            args.arch.name(),
            train_set.name,
            train_set.len(),
            dp.wall_seconds,
            dp.spent.epsilon,
            dp.spent.delta,
            dp.setting.noise_multiplier,
            config.max_grad_norm,
            dp.setting.steps,
            dp.setting.sampling_rate,
            100.0 * dp.clipped_fraction,
            100.0 * train_acc,
            100.0 * test_acc,
            test_set.len(),
            args.out.display()
        ))?,
    }
    Ok(Outcome::Ok)
}
