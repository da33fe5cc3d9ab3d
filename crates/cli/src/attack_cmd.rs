use std::path::PathBuf;

use aisec_assess::runner::{self, EvasionRequest};
use aisec_attacks::evasion::{EvasionParams, Norm};
use aisec_attacks::registry;
use aisec_defenses::{DefenseSpec, Family};
use aisec_ml::data::npy;
use aisec_ml::model::Classifier;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::atlas_cmd::load_kb;
use crate::data_args::{check_fit, DataArgs, ModelArgs, Split};
use crate::output::{print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Subcommand)]
pub enum AttackCommand {
    /// Evasion: adversarial inputs that make the model answer wrongly.
    Evasion(Box<EvasionArgs>),
    /// Training-time poisoning: backdoors and label flipping, with data-sanitising or
    /// input-screening defences; trains the clean, the poisoned and the defended model.
    Poison(Box<crate::poison_cmd::PoisonArgs>),
    /// Functional extraction: a substitute built from the API's answers (equation solving,
    /// Jacobian augmentation, Knockoff), its fidelity, and evasion transferred from it;
    /// optionally measured again behind output hardening or the PRADA monitor.
    Extract(Box<crate::extract_cmd::ExtractArgs>),
    /// Every attack with its access and ATLAS techniques.
    List,
}

#[derive(Debug, Args)]
pub struct EvasionArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, help = evasion_attack_help())]
    pub attack: String,
    #[arg(long)]
    pub eps: Option<f32>,
    /// inf or 2.
    #[arg(long, value_parser = parse_norm)]
    pub norm: Option<Norm>,
    /// Iterations (PGD, APGD-CE); for Square and HopSkipJump, queries per example.
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub step_size: Option<f32>,
    #[arg(long)]
    pub no_random_start: bool,
    #[arg(long)]
    pub restarts: Option<usize>,
    /// Push every example to this class instead of any wrong one.
    #[arg(long)]
    pub targeted: Option<usize>,
    /// The adversary's query budget (gradient evaluations count as queries).
    #[arg(long)]
    pub max_queries: Option<u64>,
    /// Attack only the first N examples.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Writes the adversarial inputs as .npy, in the inputs' shape and order.
    #[arg(long)]
    pub save_adv: Option<PathBuf>,
    #[arg(long, value_parser = parse_defense, help = defend_help(Family::Evasion))]
    pub defend: Option<DefenseSpec>,
}

/// `--defend` help from the registry: the forms a command of `family` accepts.
pub fn defend_help(family: Family) -> String {
    format!(
        "Also measure a defence and report both sides (and the adaptive attack, where the defence has one): {} (see `aisec defend list`)",
        aisec_defenses::registry::forms_for(family).join(", ")
    )
}

/// `--attack` help from the registry: each attack's short name.
pub fn attack_help<'a>(infos: impl IntoIterator<Item = &'a aisec_attacks::AttackInfo>) -> String {
    let names: Vec<&str> = infos
        .into_iter()
        .map(|a| a.aliases.first().copied().unwrap_or(a.name))
        .collect();
    format!("{} (see `aisec attack list`)", names.join(", "))
}

fn evasion_attack_help() -> String {
    attack_help(registry::evasion_attacks().iter().map(|e| e.info))
}

pub fn parse_defense(s: &str) -> Result<DefenseSpec, String> {
    DefenseSpec::parse(s)
}

fn parse_norm(s: &str) -> Result<Norm, String> {
    Norm::parse(s).ok_or_else(|| format!("`{s}` is not a norm: expected inf or 2"))
}

pub fn run(cli: &Cli, cmd: &AttackCommand) -> Result<Outcome> {
    match cmd {
        AttackCommand::Poison(args) => crate::poison_cmd::run(cli, args),
        AttackCommand::Extract(args) => crate::extract_cmd::run(cli, args),
        AttackCommand::List => {
            let listing = registry::listing();
            match cli.format {
                Format::Json => print_json(&listing)?,
                Format::Text | Format::Sarif => {
                    let mut out = String::new();
                    for a in &listing {
                        out.push_str(&format!(
                            "{:<18} {:<15} {:<28} {}\n",
                            a.name,
                            a.access.as_str(),
                            a.atlas.join(", "),
                            a.summary
                        ));
                    }
                    print_text(&out)?;
                }
            }
            Ok(Outcome::Ok)
        }
        AttackCommand::Evasion(args) => evasion_command(cli, args),
    }
}

fn evasion_command(cli: &Cli, args: &EvasionArgs) -> Result<Outcome> {
    let entry = registry::find_evasion(&args.attack).with_context(|| {
        let names: Vec<&str> = registry::evasion_attacks().iter().map(|e| e.name).collect();
        format!(
            "--attack `{}` is not an evasion attack: expected one of {}",
            args.attack,
            names.join(", ")
        )
    })?;
    if let Some(d) = &args.defend {
        d.check_family(Family::Evasion)
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    let params = EvasionParams {
        eps: args.eps,
        norm: args.norm,
        steps: args.steps,
        step_size: args.step_size,
        random_start: args.no_random_start.then_some(false),
        restarts: args.restarts,
        max_queries: args.max_queries,
    };
    // Builds once up front so that a bad configuration fails before any model loads.
    (entry.build)(&params)?;
    let mut data = args.data.load(if args.data.is_builtin() {
        Split::Test
    } else {
        Split::All
    })?;
    if let Some(n) = args.limit {
        data = data.head(n);
    }
    let model: std::sync::Arc<dyn Classifier> = args.model.open(args.max_queries, &data)?.into();
    check_fit(model.as_ref(), &data)?;
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    progress.message(format!(
        "{} on {} examples{}",
        entry.name,
        data.len(),
        args.defend
            .as_ref()
            .map(|d| format!(", then behind {}", d.info().name))
            .unwrap_or_default()
    ));
    let run = runner::evasion(
        &EvasionRequest {
            attack: entry,
            params,
            model: model.clone(),
            data: &data,
            target_class: args.targeted,
            defense: args.defend.as_ref(),
            seed: args.seed,
        },
        &kb,
    );
    progress.finish();
    let run = run?;
    if let Some(path) = &args.save_adv {
        let mut shape = vec![data.len()];
        shape.extend(&data.sample_shape);
        npy::write_f32(path, &shape, &run.outcome.adversarial)?;
    }
    match cli.format {
        Format::Json => print_json(&run.report)?,
        Format::Text | Format::Sarif => print_text(&crate::evasion_text::render(&run, args))?,
    }
    Ok(Outcome::Ok)
}
