use std::path::PathBuf;

use aisec_assess::runner::{self, EvasionRequest, PartedRequest};
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
    /// Membership inference: which records the model was trained on (LOSS, shadow models,
    /// LiRA, RMIA, label-only), as ROC, AUC and TPR at 0.1% and 1% FPR.
    Membership(Box<crate::membership_cmd::MembershipArgs>),
    /// Model inversion (MI-Face): a representative input of each class rebuilt from the
    /// model, white-box or from scores, compared with the training data and drawn.
    Invert(Box<crate::invert_cmd::InvertArgs>),
    /// Attribute inference: a held-out sensitive column of the training records, inferred
    /// from the model (on a target aisec trains, so members are known).
    Attribute(Box<crate::attribute_cmd::AttributeArgs>),
    /// Bit-flip attack (Rakin et al. 2019) on a built-in model quantized to 8 bits:
    /// progressive bit search against as many random flips, accuracy after each flip;
    /// `--defend clamp[:G]` attacks again behind the group range clamp, `--defend checksum`
    /// checks digests of every stored tensor (AML.T0031, AML.T0029).
    Bitflip(Box<crate::bitflip_cmd::BitflipArgs>),
    /// Timing side channel of an inference API: repeated queries in random order, each
    /// answer clocked, and which input property (predicted class, confidence, correctness,
    /// training membership) the response time separates (Welch's t-test or a permutation test
    /// of mutual information, AUC with bootstrap intervals); `--defend pad-latency[:MS]`
    /// serves a local model again behind response padding (AML.T0040, AML.T0063,
    /// AML.T0024.000).
    Timing(Box<crate::timing_cmd::TimingArgs>),
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
    /// Perturbation budget per input, in the norm of --norm (the attack's default norm
    /// otherwise: L∞ for FGSM, PGD, APGD-CE and Square, L2 for HopSkipJump).
    #[arg(long, allow_negative_numbers = true)]
    pub eps: Option<f32>,
    /// inf or 2.
    #[arg(long, value_parser = parse_norm)]
    pub norm: Option<Norm>,
    /// Iterations per input (PGD, APGD-CE, C&W, DeepFool).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Step per iteration: PGD's step in the norm of --norm (default 2.5·ε/steps, Madry et
    /// al.'s rule), C&W's Adam learning rate (default 0.05). The value used is in the report's
    /// config line.
    #[arg(long, allow_negative_numbers = true)]
    pub step_size: Option<f32>,
    /// PGD: start at the clean input instead of a uniform random point of the ε-ball (the
    /// default start).
    #[arg(long)]
    pub no_random_start: bool,
    /// PGD and APGD-CE: independent runs per input, each from its own random start, the
    /// first success kept (default 1); C&W: binary-search rounds over its constant c
    /// (default 6).
    #[arg(long)]
    pub restarts: Option<usize>,
    /// Push every example to this class instead of any wrong one.
    #[arg(long)]
    pub targeted: Option<usize>,
    /// The attack's query budget per input, as papers and ART state it (Square,
    /// HopSkipJump; default 5000).
    #[arg(long, value_name = "N")]
    pub queries_per_input: Option<u64>,
    /// The target's budget for the whole run, all inputs together (gradient evaluations
    /// count as queries). When it runs out the attack stops; the inputs it did not finish
    /// are reported as not evaluated, never as robust.
    #[arg(long, value_name = "N")]
    pub total_queries: Option<u64>,
    /// Replaced by --queries-per-input and --total-queries.
    #[arg(long, hide = true)]
    pub max_queries: Option<u64>,
    /// Attack only the first N examples (at least 1).
    #[arg(long, value_parser = at_least_one, allow_negative_numbers = true)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Writes the adversarial inputs as .npy, in the inputs' shape and order.
    #[arg(long)]
    pub save_adv: Option<PathBuf>,
    /// Read and attack N inputs at a time (--data X.npy or --images DIR): memory holds one
    /// part's inputs and adversarial examples, so data larger than memory can be attacked
    /// (--save-adv is written part by part). Part k runs with seed + k, so one part equals
    /// the run without this flag; the metrics are over every input, the attack's curves
    /// from the first part. Not with --defend (a defended run attacks the inputs again).
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_negative_numbers = true, conflicts_with = "defend")]
    pub part_size: Option<usize>,
    #[arg(long, value_parser = parse_defense, help = defend_help(Family::Evasion))]
    pub defend: Option<DefenseSpec>,
}

/// The most queries (gradient evaluations included) an evasion run spends on `inputs`
/// inputs, from the attack's configuration: the clean predictions, then the per-input budget
/// of a query attack or the iterations of a gradient attack.
fn query_bound(config: &serde_json::Value, inputs: u64) -> u64 {
    let n = |k: &str| config[k].as_u64();
    let per_input = match n("max_queries") {
        Some(q) => q,
        None => {
            n("steps").unwrap_or(1)
                * n("restarts").unwrap_or(1).max(1)
                * n("binary_search_steps").unwrap_or(1).max(1)
                + 1
        }
    };
    inputs.saturating_mul(per_input.saturating_add(1))
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

/// A count of at least 1, with the reason when it is not.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n as usize),
        Ok(n) => Err(format!("{n} is not allowed: expected at least 1")),
        Err(_) => Err(format!("`{s}` is not a whole number: expected at least 1")),
    }
}

fn parse_norm(s: &str) -> Result<Norm, String> {
    Norm::parse(s).ok_or_else(|| format!("`{s}` is not a norm: expected inf or 2"))
}

pub fn run(cli: &Cli, cmd: &AttackCommand) -> Result<Outcome> {
    match cmd {
        AttackCommand::Poison(args) => crate::poison_cmd::run(cli, args),
        AttackCommand::Extract(args) => crate::extract_cmd::run(cli, args),
        AttackCommand::Membership(args) => crate::membership_cmd::run(cli, args),
        AttackCommand::Invert(args) => crate::invert_cmd::run(cli, args),
        AttackCommand::Attribute(args) => crate::attribute_cmd::run(cli, args),
        AttackCommand::Bitflip(args) => crate::bitflip_cmd::run(cli, args),
        AttackCommand::Timing(args) => crate::timing_cmd::run(cli, args),
        AttackCommand::List => {
            let listing = registry::listing();
            match cli.format {
                Format::Json => print_json(&listing)?,
                Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
                    let mut out = String::new();
                    let width = listing.iter().map(|a| a.name.len()).max().unwrap_or(0);
                    let access = listing
                        .iter()
                        .map(|a| a.access.as_str().len())
                        .max()
                        .unwrap_or(0);
                    let atlas = listing
                        .iter()
                        .map(|a| a.atlas.join(", ").len())
                        .max()
                        .unwrap_or(0);
                    for a in &listing {
                        out.push_str(&format!(
                            "{:<width$} {:<access$} {:<atlas$} {}\n",
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

/// A flag the attack does not read is an error naming the attacks that read it, never
/// silently ignored.
fn check_flags(attack: &registry::EvasionEntry, args: &EvasionArgs) -> Result<()> {
    if args.max_queries.is_some() {
        anyhow::bail!(
            "--max-queries is ambiguous and no longer accepted: use --queries-per-input N for the attack's budget per input, or --total-queries N for the target's budget for the whole run"
        );
    }
    let given = [
        ("--steps", args.steps.is_some()),
        ("--step-size", args.step_size.is_some()),
        ("--no-random-start", args.no_random_start),
        ("--restarts", args.restarts.is_some()),
        ("--queries-per-input", args.queries_per_input.is_some()),
    ];
    let readers: Vec<(&str, &[&str])> = registry::evasion_attacks()
        .iter()
        .map(|e| (e.name, e.reads))
        .collect();
    refuse_unread(&given, attack.name, attack.reads, &readers)
}

/// Refuses each flag that was `given` but that `attack` does not `read`, naming the attacks
/// (of `readers`: name and flags read) that do.
pub(crate) fn refuse_unread(
    given: &[(&str, bool)],
    attack: &str,
    reads: &[&str],
    readers: &[(&str, &[&str])],
) -> Result<()> {
    for (flag, set) in given {
        if *set && !reads.contains(flag) {
            let short: Vec<&str> = readers
                .iter()
                .filter(|(_, r)| r.contains(flag))
                .map(|(name, _)| name.split_once('.').map_or(*name, |(_, n)| n))
                .collect();
            anyhow::bail!(
                "{flag} does not apply to {attack}: it is read by {}",
                short.join(", ")
            );
        }
    }
    Ok(())
}

/// Refuses an ε that cannot be a small perturbation: larger than the data's whole value
/// range (in L∞), or than the distance between its extreme inputs (in L2).
fn check_eps(
    args: &EvasionArgs,
    attack: &aisec_attacks::AttackInfo,
    data: &aisec_ml::data::Dataset,
) -> Result<()> {
    let (Some(eps), Some(range)) = (args.eps, data.input_range) else {
        return Ok(());
    };
    if !(eps > 0.0 && eps.is_finite()) {
        anyhow::bail!("--eps {eps}: expected a positive number");
    }
    let l2_default = attack.name == "evasion.hsj";
    let norm = args
        .norm
        .unwrap_or(if l2_default { Norm::L2 } else { Norm::Linf });
    let width = range.hi - range.lo;
    let (largest, words) = match norm {
        Norm::Linf => (width, "the width of the data's value range"),
        Norm::L2 => (
            width * (data.features() as f32).sqrt(),
            "the L2 distance between the data's extreme inputs",
        ),
    };
    if eps > largest {
        anyhow::bail!(
            "--eps {eps} is larger than {words} ({largest}) for data in [{}, {}]: any input could be replaced by any other; expected ε in (0, {largest}]",
            range.lo,
            range.hi
        );
    }
    Ok(())
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
    check_flags(entry, args)?;
    if let Some(path) = &args.save_adv {
        crate::output::check_writable(path, "--save-adv")?;
    }
    let params = EvasionParams {
        eps: args.eps,
        norm: args.norm,
        steps: args.steps,
        step_size: args.step_size,
        random_start: args.no_random_start.then_some(false),
        restarts: args.restarts,
        queries_per_input: args.queries_per_input,
    };
    // Builds once up front so that a bad configuration fails before any model loads.
    (entry.build)(&params)?;
    if let Some(per_part) = args.part_size {
        return evasion_in_parts(cli, args, entry, params, per_part);
    }
    let split = if args.data.is_builtin() {
        Split::Test
    } else {
        Split::All
    };
    let mut data = args.data.load_first(split, args.limit)?;
    check_eps(args, entry.info, &data)?;
    let model: std::sync::Arc<dyn Classifier> = args.model.open(args.total_queries, &data)?.into();
    check_fit(model.as_ref(), &data)?;
    // The classes are the model's, whatever labels the inputs under attack happen to have.
    data.num_classes = model.info().num_classes;
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    let what = format!(
        "{} on {} examples{}",
        entry.name,
        data.len(),
        args.defend
            .as_ref()
            .map(|d| format!(", then behind {}", d.info().name))
            .unwrap_or_default()
    );
    // The bound holds for one run; behind a defence the attack runs again (and adaptively).
    let at_most = match args.defend {
        None => (entry.build)(&params)
            .ok()
            .map(|a| query_bound(&a.config().to_json(), data.len() as u64))
            .map(|b| args.total_queries.map_or(b, |t| t.min(b))),
        Some(_) => None,
    };
    progress.track_queries(what, model.clone(), at_most);
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
    show_run(cli, &run, args)
}

/// `--part-size`: the data read and attacked a part at a time.
fn evasion_in_parts(
    cli: &Cli,
    args: &EvasionArgs,
    entry: &'static registry::EvasionEntry,
    params: EvasionParams,
    per_part: usize,
) -> Result<Outcome> {
    let mut source = args.data.stream()?;
    if let Some(n) = args.limit {
        source.truncate(n);
    }
    // The first part stands for the rest in the checks that read data: its shape is the
    // source's and its range the --clip given.
    let first = source.part(0, per_part)?;
    check_eps(args, entry.info, &first)?;
    let model: std::sync::Arc<dyn Classifier> = args.model.open(args.total_queries, &first)?.into();
    check_fit(model.as_ref(), &first)?;
    drop(first);
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    let at_most = (entry.build)(&params)
        .ok()
        .map(|a| query_bound(&a.config().to_json(), source.len() as u64))
        .map(|b| args.total_queries.map_or(b, |t| t.min(b)));
    progress.track_queries(
        format!(
            "{} on {} examples, {per_part} at a time",
            entry.name,
            source.len()
        ),
        model.clone(),
        at_most,
    );
    let mut writer = match &args.save_adv {
        Some(path) => {
            let mut shape = vec![source.len()];
            shape.extend(&source.sample_shape);
            Some(npy::F32Writer::create(path, &shape)?)
        }
        None => None,
    };
    let run = runner::evasion_in_parts(
        &PartedRequest {
            attack: entry,
            params,
            model: model.clone(),
            data: &source,
            inputs_per_part: per_part,
            target_class: args.targeted,
            seed: args.seed,
        },
        &kb,
        &mut |_, outcome| {
            if let Some(w) = writer.as_mut() {
                w.append(&outcome.adversarial)?;
            }
            Ok(())
        },
    );
    progress.finish();
    let run = run?;
    if let Some(w) = writer {
        w.finish()?;
    }
    show_run(cli, &run, args)
}

/// Stores (with `--store`) and prints an evasion run in the format asked for.
fn show_run(cli: &Cli, run: &runner::EvasionRun, args: &EvasionArgs) -> Result<Outcome> {
    crate::output::store_run(cli, &run.report)?;
    match cli.format {
        Format::Json => print_json(&run.report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            print_text(&crate::evasion_text::render(run, args))?
        }
    }
    Ok(Outcome::Ok)
}
