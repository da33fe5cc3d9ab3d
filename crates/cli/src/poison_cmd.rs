//! `aisec attack poison`: training-time attacks and the defences that sanitise data or screen
//! inputs, measured on a clean, a poisoned and a defended model.

use anyhow::Result;
use clap::Args;

use aisec_assess::poisoning::{self, PoisonAttack};
use aisec_attacks::poison::badnets::BadNetsConfig;
use aisec_attacks::poison::clean_label::CleanLabelConfig;
use aisec_attacks::poison::label_flip::LabelFlip;
use aisec_attacks::poison::{TargetMap, Trigger};
use aisec_defenses::spectral::SpectralConfig;
use aisec_defenses::{DefenseSpec, Family};
use aisec_ml::net::Architecture;

use crate::data_args::{DataArgs, Split};
use crate::model_cmd::parse_arch;
use crate::output::{print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct PoisonArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// logreg, mlp or cnn.
    #[arg(long, value_parser = parse_arch, default_value = "cnn")]
    pub arch: Architecture,
    #[arg(long, help = crate::attack_cmd::attack_help(aisec_attacks::registry::poisoning_attacks().iter().copied()))]
    pub attack: String,
    /// Share of the training set poisoned (label-flip: of the flipped class, or of all).
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub rate: f64,
    /// The backdoor's target class (all-to-one), or label-flip's destination class.
    #[arg(long, default_value_t = 0)]
    pub target: usize,
    /// Backdoors: every class to (class + 1) instead of all to --target.
    #[arg(long)]
    pub all_to_all: bool,
    /// Label-flip: flip this class to --target instead of flipping at random.
    #[arg(long)]
    pub source: Option<usize>,
    /// Patch side in pixels (badnets).
    #[arg(long, default_value_t = 3)]
    pub patch_size: usize,
    /// Blend ratio α (blend).
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub alpha: f32,
    /// L∞ budget of clean-label's adversarial perturbation.
    #[arg(long, default_value_t = 0.3, allow_negative_numbers = true)]
    pub eps: f32,
    #[arg(long, value_parser = crate::attack_cmd::parse_defense, help = crate::attack_cmd::defend_help(Family::Poisoning))]
    pub defend: Option<DefenseSpec>,
    /// Spectral signatures: the defender's bound on the poisoned share of a class.
    #[arg(long, default_value_t = 0.1)]
    pub expected_rate: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

fn attack_of(args: &PoisonArgs, hi: f32) -> Result<PoisonAttack> {
    let map = if args.all_to_all {
        TargetMap::AllToAll
    } else {
        TargetMap::AllToOne {
            target: args.target,
        }
    };
    Ok(match args.attack.trim() {
        "badnets" => PoisonAttack::BadNets(BadNetsConfig {
            trigger: Trigger::corner_patch(args.patch_size, hi),
            map,
            rate: args.rate,
        }),
        "blend" => PoisonAttack::BadNets(BadNetsConfig {
            trigger: Trigger::Blend {
                alpha: args.alpha,
                seed: args.seed,
            },
            map,
            rate: args.rate,
        }),
        "label-flip" => PoisonAttack::LabelFlip(match args.source {
            Some(from) => LabelFlip::Targeted {
                from,
                to: args.target,
                rate: args.rate,
            },
            None => LabelFlip::Random { rate: args.rate },
        }),
        "clean-label" => PoisonAttack::CleanLabel(CleanLabelConfig {
            trigger: Trigger::corner_patch(args.patch_size, hi),
            target: args.target,
            rate: args.rate,
            eps: args.eps,
            ..CleanLabelConfig::default()
        }),
        other => anyhow::bail!(
            "--attack `{other}` is not a poisoning attack: expected badnets, blend, clean-label or label-flip"
        ),
    })
}

fn defense_of(args: &PoisonArgs) -> Result<Option<DefenseSpec>> {
    let Some(spec) = &args.defend else {
        return Ok(None);
    };
    spec.check_family(Family::Poisoning)
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(match spec.config::<SpectralConfig>() {
        Some(config) => DefenseSpec::new(SpectralConfig {
            expected_rate: args.expected_rate,
            ..*config
        }),
        None => spec.clone(),
    }))
}

pub fn run(cli: &Cli, args: &PoisonArgs) -> Result<Outcome> {
    if !(args.rate > 0.0 && args.rate <= 1.0) {
        anyhow::bail!(
            "--rate {}: expected a share of the training set in (0, 1] (0.05 poisons 5%)",
            args.rate
        );
    }
    let train = args.data.load(Split::Train)?;
    train.check_trainable()?;
    if matches!(args.attack.trim(), "badnets" | "clean-label") {
        let side = match train.sample_shape.as_slice() {
            [.., h, w] => (*h).min(*w),
            [n] => *n,
            [] => 0,
        };
        if args.patch_size == 0 || args.patch_size > side {
            anyhow::bail!(
                "--patch-size {}: expected 1 to {side} pixels for inputs of shape {:?}",
                args.patch_size,
                train.sample_shape
            );
        }
    }
    let test = args.data.load(Split::Test)?;
    let hi = train.input_range.map_or(1.0, |r| r.hi);
    let attack = attack_of(args, hi)?;
    let defense = defense_of(args)?;
    let kb = crate::atlas_cmd::load_kb(cli)?;
    let progress = Progress::new();
    progress.message("training the clean and the poisoned model (and the defended one)");
    let outcome = poisoning::run(args.arch, &train, &test, attack, defense, args.seed, &kb);
    progress.finish();
    let (outcome, report) = outcome?;
    crate::output::store_run(cli, &report)?;
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            let pct = |v: f64| format!("{:.2}%", 100.0 * v);
            let asr = |v: Option<f64>| v.map_or("n/a".to_string(), pct);
            let mut out = format!(
                "{} on {} ({} training examples, {} poisoned)\n",
                outcome.attack.name(),
                report.target,
                outcome.train_size,
                outcome.poison_count
            );
            let atlas: Vec<&str> = report.atlas.iter().map(|a| a.as_str()).collect();
            out.push_str(&format!("  ATLAS: {}\n", atlas.join(", ")));
            out.push_str(&format!(
                "  {:<22} {:>15} {:>20}\n",
                "model", "clean accuracy", "attack success rate"
            ));
            let mut row = |name: &str, m: &poisoning::ModelFigures| {
                out.push_str(&format!(
                    "  {:<22} {:>15} {:>20}\n",
                    name,
                    pct(m.clean_accuracy),
                    asr(m.attack_success_rate)
                ));
            };
            row("clean (control)", &outcome.clean_model);
            row("poisoned", &outcome.poisoned_model);
            if let Some(d) = &outcome.defended {
                row(
                    if d.defense.name == "defense.strip" {
                        "poisoned behind STRIP"
                    } else {
                        "sanitised + retrained"
                    },
                    &d.after,
                );
                out.push_str(&format!(
                    "\n  {} ({}; {}): flagged {}, precision {}, recall {}, false positives {}\n",
                    d.defense.name,
                    d.defense.mitigations.join(", "),
                    d.defense.phases.join("; "),
                    d.flagged,
                    pct(d.detection_precision),
                    pct(d.detection_recall),
                    pct(d.false_positive_rate)
                ));
            }
            for f in &report.findings {
                out.push_str(&format!(
                    "\n  [{}] {}\n",
                    f.severity.as_str().to_uppercase(),
                    f.title
                ));
            }
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}
