//! `aisec attack membership`: membership inference against a model aisec trains for the
//! experiment (the split is then known), or against any target with the member and
//! non-member records the user supplies.

use std::path::PathBuf;
use std::sync::Arc;

use aisec_assess::membership::{self as assess_membership, MembershipContext};
use aisec_assess::runner::membership::{retraining_possible, MembershipInference, MembershipSetup};
use aisec_assess::runner::{self, Stage};
use aisec_attacks::membership::shadows::ShadowStore;
use aisec_attacks::membership::{self, MembershipParams, Recipe};
use aisec_core::Metric;
use aisec_defenses::dp_sgd::DpSgdDefense;
use aisec_defenses::{DefenseSpec, Family};
use aisec_ml::data::{self, Dataset};
use aisec_ml::model::{revealing, Classifier, OutputKind, QueryOutput};
use aisec_ml::native::NativeModel;
use aisec_ml::net::Architecture;
use aisec_ml::train::TrainConfig;
use aisec_report::RunReport;
use anyhow::{bail, Context, Result};
use clap::Args;

use crate::atlas_cmd::load_kb;
use crate::data_args::{check_fit, DataArgs, ModelArgs, Split};
use crate::model_cmd::{parse_arch, train_config};
use crate::output::{print_json, print_text, push_finding, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

/// The experiment aisec runs when it trains the target itself, shared by the privacy
/// attacks: the data, how the target is trained, and the seed.
#[derive(Debug, Args)]
pub struct ExperimentArgs {
    /// The data. When aisec trains the target: the whole set, which it splits into the
    /// target's members (--train-size records), as many non-members, and the adversary's
    /// population (the rest). With --model: the adversary's population only.
    #[command(flatten)]
    pub data: DataArgs,
    /// logreg, mlp or cnn (default mlp): the target's architecture when aisec trains it,
    /// and the adversary's shadow and reference models'. With a model directory from
    /// `aisec model train` the recorded architecture is used, and a different one is refused.
    #[arg(long, value_parser = parse_arch)]
    pub arch: Option<Architecture>,
    /// Training epochs of the target (when aisec trains it) and of every shadow model
    /// (default: the epochs recorded with a model directory, else the architecture's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Adam's learning rate, as --epochs (default: recorded, else the architecture's).
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// When aisec trains the target: records it trains on (default: a quarter of the data,
    /// so that members, non-members and the adversary's population are 1 : 1 : 2).
    #[arg(long, value_name = "N")]
    pub train_size: Option<usize>,
    /// Seeds the split, the target's training, the shadow models and the noise.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct MembershipArgs {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    #[arg(long, help = crate::attack_cmd::attack_help(membership::ATTACKS.iter().map(|e| e.info)))]
    pub attack: String,
    /// The target: a model directory from `aisec model train` (its recorded split says who
    /// is a member; give the data it was trained on), or any model (.onnx,
    /// kserve+http(s)://…, a directory) with --members and --non-members. Without it aisec
    /// trains the target itself.
    #[arg(long)]
    pub model: Option<String>,
    /// With --model: a CSV of records the target was trained on (label column as
    /// --label-column, else the last).
    #[arg(long, value_name = "CSV", requires_all = ["model", "non_members"])]
    pub members: Option<PathBuf>,
    /// With --model: a CSV of records from the same distribution it never saw.
    #[arg(long, value_name = "CSV", requires_all = ["model", "members"])]
    pub non_members: Option<PathBuf>,
    /// LiRA, RMIA, shadow: how many shadow or reference models the adversary trains
    /// (default: LiRA 16, RMIA 4, shadow 8).
    #[arg(long, value_parser = crate::attack_cmd::at_least_one)]
    pub shadows: Option<usize>,
    /// LiRA, RMIA: reference models that trained on some of the candidates (IN and OUT).
    #[arg(long, conflicts_with = "offline")]
    pub online: bool,
    /// LiRA, RMIA: reference models that never saw a candidate (OUT only).
    #[arg(long)]
    pub offline: bool,
    /// Label-only: noisy copies queried per candidate (default 30).
    #[arg(long, value_parser = crate::attack_cmd::at_least_one)]
    pub perturbations: Option<usize>,
    /// What the API reveals to the adversary: probs, top1, topk:K or label.
    #[arg(long, value_parser = crate::extract_cmd::parse_outputs, default_value = "probs")]
    pub outputs: OutputKind,
    /// The adversary's budget for the whole run: most queries sent to the target (every
    /// candidate costs one; RMIA adds its population records, label-only its noisy copies).
    /// Default: unlimited. The target is asked in a random order, so a run that this budget
    /// (or a server's limit, or a monitor) cuts short is measured on the random sample of
    /// candidates it got answered, and says so (label-only asks each candidate with its
    /// noisy copies, so every candidate in the sample is answered whole).
    #[arg(long = "total-queries", value_name = "N")]
    pub budget: Option<u64>,
    #[arg(long, value_parser = crate::attack_cmd::parse_defense, help = defend_help())]
    pub defend: Option<DefenseSpec>,
    /// LiRA, RMIA, shadow: a folder where the shadow and reference models are kept, each
    /// under a key of everything its weights depend on (architecture, training settings, the
    /// records it trains on, its seed). A model found there is loaded instead of trained; one
    /// not found is trained and kept. DP-SGD-trained shadows are never kept (their settings
    /// are not in the key).
    #[arg(long, value_name = "DIR")]
    pub shadow_dir: Option<PathBuf>,
    /// LiRA, RMIA, shadow: train only shard I of N of the shadow models (I counts from 1:
    /// models I, I+N, I+2N …, numbered from 1) into --shadow-dir, write
    /// DIR/shard-I-of-N.json and stop before the attack. `aisec report merge` on the N
    /// results then runs the attack once, every model loaded, and writes the report one run
    /// makes. Every shard splits the data and (without --model) trains the target too, as the
    /// run would; the attack sends the target no query (with --model, the accuracy check
    /// before it still asks the target about the candidates, in every shard). A shard exits 0
    /// once its result is written.
    #[arg(long, value_name = "I/N", requires = "shadow_dir")]
    pub shard: Option<aisec_scan::shard::Shard>,
}

fn defend_help() -> String {
    format!(
        "{}. Same attack and seeds again behind it. A retraining defence (DP-SGD, L2, early stopping) retrains the target on its members, the adversary's shadow models trained the same way: it needs the experiment aisec trains (no --model). An output defence (top1, topk:K, label, round:D, reverse-sigmoid) wraps the target's answers after --outputs and works with --model too; the shadow models keep their full outputs",
        crate::attack_cmd::defend_help(Family::Privacy)
    )
}

/// The flags each attack may read, beyond the common ones.
fn check_flags(entry: &membership::MembershipEntry, args: &MembershipArgs) -> Result<()> {
    let given = [
        ("--shadows", args.shadows.is_some()),
        ("--online", args.online),
        ("--offline", args.offline),
        ("--perturbations", args.perturbations.is_some()),
    ];
    for (flag, set) in given {
        if set && !entry.reads.contains(&flag) {
            bail!(
                "{flag} does not apply to {}: it reads {}",
                entry.name,
                if entry.reads.is_empty() {
                    "none of --shadows, --online, --offline, --perturbations".to_string()
                } else {
                    entry.reads.join(", ")
                }
            );
        }
    }
    Ok(())
}

pub(crate) struct Prepared {
    pub(crate) target: Arc<dyn Classifier>,
    /// The target's training records, when aisec trained it.
    pub(crate) members: Option<Dataset>,
    pub(crate) candidates: Dataset,
    pub(crate) is_member: Vec<bool>,
    pub(crate) population: Dataset,
    pub(crate) train_size: usize,
    /// How the adversary's shadow and reference models are trained, and where that came
    /// from (the target's own recipe, the model's record, or the adversary's guess).
    pub(crate) shadow_arch: Architecture,
    pub(crate) shadow_train: TrainConfig,
    pub(crate) recipe_source: String,
    pub(crate) context: MembershipContext,
    pub(crate) data_description: String,
}

/// The candidates: the members, then the non-members, with who is which.
fn candidates_of(members: &Dataset, outsiders: &Dataset) -> (Dataset, Vec<bool>) {
    let mut candidates = members.clone();
    candidates.x.extend_from_slice(&outsiders.x);
    candidates.y.extend_from_slice(&outsiders.y);
    let is_member = (0..candidates.len()).map(|i| i < members.len()).collect();
    (candidates, is_member)
}

/// The experiment: split, train the target on the members.
pub(crate) fn trained_here(args: &ExperimentArgs, progress: &Progress) -> Result<Prepared> {
    let all = args.data.load(Split::All)?;
    let train_size = args.train_size.unwrap_or(all.len() / 4);
    let arch = args.arch.unwrap_or(Architecture::Mlp);
    let config = train_config(arch, args.seed, args.epochs, args.learning_rate)?;
    progress.message(format!(
        "training the target ({}) on {train_size} members",
        arch.name()
    ));
    // The same recipe the adversary's shadow models follow.
    let recipe = Recipe::plain(arch, config.clone(), train_size);
    let trained = assess_membership::train_target(&all, &recipe, args.seed)?;
    Ok(Prepared {
        target: trained.model,
        data_description: trained.description,
        context: trained.context,
        members: Some(trained.split.members),
        candidates: trained.split.candidates,
        is_member: trained.split.is_member,
        population: trained.split.population,
        train_size,
        shadow_arch: arch,
        shadow_train: config,
        recipe_source: "the target's own recipe (aisec trained it)".into(),
    })
}

/// A model `aisec model train` wrote, whose manifest records the split it was trained on:
/// the held-out records are the non-members, as many of its training records (drawn with
/// --seed) the members, and its other training records the adversary's population (they
/// are never candidates, so using them tells the attack nothing about who is).
fn recorded(args: &MembershipArgs, spec: &str) -> Result<Prepared> {
    let path = std::path::Path::new(spec);
    let manifest_path = if path.is_dir() {
        path.join("model.json")
    } else {
        path.to_path_buf()
    };
    let no_split = || {
        anyhow::anyhow!(
            "--model {spec}: no recorded training split (only `aisec model train` records one); pass --members and --non-members CSVs"
        )
    };
    if manifest_path.extension().is_none_or(|e| e != "json") || !manifest_path.exists() {
        return Err(no_split());
    }
    let model = NativeModel::load(path).with_context(|| format!("--model {spec}"))?;
    let split = model.manifest.training_split.clone().ok_or_else(no_split)?;
    let (shadow_arch, shadow_train, recipe_source) = recorded_recipe(args, spec, &model)?;
    let source = args.experiment.data.source();
    let all = args.experiment.data.load(Split::All)?;
    if source != split.source || all.len() != split.records {
        bail!(
            "--model {spec} was trained on {} ({} records, split seed {}); the data given is {source} ({} records): give the data it was trained on",
            split.source,
            split.records,
            split.split_seed,
            all.len()
        );
    }
    let members = args.experiment.data.load(Split::Train)?;
    let held_out = args.experiment.data.load(Split::Test)?;
    if members.len() != split.members || held_out.len() != split.held_out {
        bail!(
            "--model {spec}: its manifest records {} members and {} held out, the data splits into {} and {}",
            split.members,
            split.held_out,
            members.len(),
            held_out.len()
        );
    }
    let k = held_out.len().min(members.len() / 2);
    let mut order: Vec<usize> = (0..members.len()).collect();
    aisec_core::rng::Rng::derive(args.experiment.seed, "recorded-members").shuffle(&mut order);
    let (tested, rest) = order.split_at(k);
    let (candidates, is_member) = candidates_of(
        &members.subset(tested),
        &held_out.subset(&(0..k).collect::<Vec<_>>()),
    );
    let population = members.subset(rest);
    let target: Arc<dyn Classifier> = Arc::new(model);
    let target_accuracy = assess_membership::target_accuracy(target.as_ref(), &members, &held_out)?;
    Ok(Prepared {
        data_description: format!(
            "{}: split recorded with the model ({} members, {} held out, split seed {}); candidates: {k} members drawn with seed {} and {k} held-out records; adversary's population: the other {} training records",
            split.source,
            split.members,
            split.held_out,
            split.split_seed,
            args.experiment.seed,
            population.len()
        ),
        context: MembershipContext {
            split: Some(assess_membership::SplitUsed::RecordedWithModel {
                recorded_with_model: split.clone(),
                members: k,
                non_members: k,
                population: population.len(),
            }),
            target_accuracy: Some(target_accuracy),
            seed: args.experiment.seed,
        },
        train_size: members.len(),
        shadow_arch,
        shadow_train,
        recipe_source,
        members: None,
        target,
        candidates,
        is_member,
        population,
    })
}

/// The shadows' recipe for a model aisec trained: its recorded architecture and training
/// settings, --epochs and --learning-rate overriding them where given.
fn recorded_recipe(
    args: &MembershipArgs,
    spec: &str,
    model: &NativeModel,
) -> Result<(Architecture, TrainConfig, String)> {
    let manifest = &model.manifest;
    let arch = manifest.architecture;
    if let Some(given) = args.experiment.arch.filter(|a| *a != arch) {
        bail!(
            "--arch {}: --model {spec} records its architecture, {}; the shadow models follow it (leave --arch out)",
            given.name(),
            arch.name()
        );
    }
    let e = &args.experiment;
    let (mut config, mut source) = match &manifest.training {
        Some(t) => (t.config.clone(), "recorded with the model".to_string()),
        None => (
            TrainConfig::for_architecture(arch, e.seed),
            "aisec's defaults for the recorded architecture (the model records no training settings)"
                .to_string(),
        ),
    };
    let overrides = train_config(arch, e.seed, e.epochs, e.learning_rate)?;
    if e.epochs.is_some() {
        config.epochs = overrides.epochs;
    }
    if e.learning_rate.is_some() {
        config.learning_rate = overrides.learning_rate;
    }
    if e.epochs.is_some() || e.learning_rate.is_some() {
        source.push_str(", with --epochs/--learning-rate as given");
    }
    if let Some(d) = &manifest.defense {
        source.push_str(&format!(
            "; the model was trained with {} and the shadows are trained plainly",
            d.name
        ));
    }
    Ok((arch, config, source))
}

/// A target trained elsewhere, with the user's member and non-member records.
fn given(args: &MembershipArgs, spec: &str) -> Result<Prepared> {
    let population = args.experiment.data.load(Split::All)?;
    let read = |path: &PathBuf, flag: &str| -> Result<Dataset> {
        let mut d = data::read_csv(
            path,
            args.experiment.data.label_column.as_deref(),
            population.input_range,
        )
        .with_context(|| format!("{flag} {}", path.display()))?;
        if d.features() != population.features() {
            bail!(
                "{flag} {}: {} features per record, the population has {}",
                path.display(),
                d.features(),
                population.features()
            );
        }
        d.num_classes = d.num_classes.max(population.num_classes);
        d.sample_shape = population.sample_shape.clone();
        Ok(d)
    };
    let members = read(
        args.members.as_ref().expect("clap requires it"),
        "--members",
    )?;
    let outsiders = read(
        args.non_members.as_ref().expect("clap requires it"),
        "--non-members",
    )?;
    let model_args = ModelArgs {
        model: spec.to_string(),
        ca_cert: None,
        bearer_token: std::env::var("AISEC_BEARER_TOKEN").ok(),
        output: None,
        timeout: 30,
        mean: None,
        std: None,
        channel_order: "rgb".into(),
    };
    let target: Arc<dyn Classifier> = model_args.open(None, &population)?.into();
    check_fit(target.as_ref(), &population)?;
    let (candidates, is_member) = candidates_of(&members, &outsiders);
    let target_accuracy =
        assess_membership::target_accuracy(target.as_ref(), &members, &outsiders)?;
    let e = &args.experiment;
    let shadow_arch = e.arch.unwrap_or(Architecture::Mlp);
    let shadow_train = train_config(shadow_arch, e.seed, e.epochs, e.learning_rate)?;
    Ok(Prepared {
        data_description: format!(
            "{} members, {} non-members given; adversary's population {} ({} records)",
            members.len(),
            outsiders.len(),
            population.name,
            population.len()
        ),
        context: MembershipContext {
            split: Some(assess_membership::SplitUsed::GivenByUser {
                members: members.len(),
                non_members: outsiders.len(),
                population: population.len(),
                given_by_user: true,
            }),
            target_accuracy: Some(target_accuracy),
            seed: args.experiment.seed,
        },
        train_size: members.len(),
        shadow_arch,
        shadow_train,
        recipe_source: "the adversary's guess (--arch, --epochs, --learning-rate; aisec's defaults where not given)".into(),
        members: None,
        target,
        candidates,
        is_member,
        population,
    })
}

pub fn run(cli: &Cli, args: &MembershipArgs) -> Result<Outcome> {
    run_into(cli, args, None)
}

/// [`run`], handing the run report to `sink` as well.
pub(crate) fn run_into(
    cli: &Cli,
    args: &MembershipArgs,
    sink: Option<&mut Option<RunReport>>,
) -> Result<Outcome> {
    let entry = membership::find(&args.attack).with_context(|| {
        let names: Vec<&str> = membership::ATTACKS.iter().map(|e| e.name).collect();
        format!(
            "--attack `{}` is not a membership attack: expected one of {}",
            args.attack,
            names.join(", ")
        )
    })?;
    check_flags(entry, args)?;
    crate::membership_shard::check_flags(cli, entry, args)?;
    let defense = match &args.defend {
        None => None,
        Some(spec) => {
            spec.check_family(Family::Privacy)
                .map_err(anyhow::Error::msg)?;
            // DP-SGD runs as many epochs as the target it replaces.
            match (spec.config::<DpSgdDefense>(), args.experiment.epochs) {
                (Some(dp), Some(epochs)) => {
                    let mut dp = dp.clone();
                    dp.training.epochs = epochs;
                    Some(DefenseSpec::new(dp))
                }
                _ => Some(spec.clone()),
            }
        }
    };
    if let Some(d) = &defense {
        retraining_possible(d, args.model.is_none())?;
    }
    if args.budget == Some(0) {
        bail!("--total-queries must be at least 1 query");
    }
    let params = MembershipParams {
        shadows: args.shadows,
        online: if args.online {
            Some(true)
        } else if args.offline {
            Some(false)
        } else {
            None
        },
        perturbations: args.perturbations,
    };
    // A bad combination of settings fails here, before the data loads.
    (entry.build)(&params)?;
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    let prepared = match &args.model {
        None => trained_here(&args.experiment, &progress)?,
        Some(spec) if args.members.is_some() => given(args, spec)?,
        Some(spec) => recorded(args, spec)?,
    };
    progress.finish();
    let target = revealing(prepared.target.clone(), args.outputs);
    let recipe = Recipe {
        architecture: prepared.shadow_arch,
        train: prepared.shadow_train.clone(),
        train_size: prepared.train_size,
        trainer: None,
        // The adversary reads its shadow models as the API answers: top-k as top-k.
        answers: match args.outputs {
            OutputKind::Probabilities | OutputKind::Logits => None,
            kind => Some(Arc::new(move |out: QueryOutput, classes| {
                out.restrict(kind, classes)
            })),
        },
        store: args.shadow_dir.as_ref().map(|dir| {
            Arc::new(ShadowStore::new(
                dir.clone(),
                args.shard.map(|s| (s.index, s.count)),
            ))
        }),
    };
    let store = recipe.store.clone();
    let started = std::time::Instant::now();
    let current: std::sync::Mutex<Option<Progress>> = Default::default();
    let shadow_words: std::sync::Mutex<&str> = std::sync::Mutex::new("shadow model");
    let report_progress = |done: usize, total: usize| {
        let what = shadow_words.lock().map(|w| *w).unwrap_or("shadow model");
        if let Ok(slot) = current.lock() {
            if let Some(p) = slot.as_ref() {
                p.message(format!("{}: {what} {done} of {total} trained", entry.name));
            }
        }
    };
    let on_stage = |stage: Stage| {
        let Ok(mut slot) = current.lock() else { return };
        if let Some(p) = slot.take() {
            p.finish();
        }
        let name = entry.name;
        let message = match stage {
            Stage::Attack => format!("{name}: training shadow models"),
            Stage::Defended => {
                if let Ok(mut w) = shadow_words.lock() {
                    *w = "defended shadow model";
                }
                match &defense {
                    Some(d) => format!("{name}: attacking again behind {}", d.info().name),
                    None => return,
                }
            }
            Stage::Adaptive | Stage::Finished => return,
        };
        let p = Progress::new();
        p.message(message);
        *slot = Some(p);
    };
    // Only a target aisec trained itself can be retrained with a defence.
    let members = prepared.members.as_ref().filter(|_| args.model.is_none());
    let mut experiment = MembershipInference::new(MembershipSetup {
        entry,
        params,
        target: target.clone(),
        candidates: &prepared.candidates,
        is_member: &prepared.is_member,
        population: &prepared.population,
        members,
        recipe,
        outputs: args.outputs,
        budget: args.budget.unwrap_or(u64::MAX),
        seed: args.experiment.seed,
        kb: &kb,
        data_description: prepared.data_description.clone(),
        context: prepared.context.clone(),
        progress: Some(&report_progress),
    });
    let report = runner::run_observed(&mut experiment, defense.as_ref(), &on_stage);
    if let (Some(shard), Some(store)) = (args.shard, &store) {
        if let Some(slot) = current.lock().ok().and_then(|mut s| s.take()) {
            slot.finish();
        }
        return crate::membership_shard::finish_shard(
            args,
            shard,
            store,
            report.err().map(anyhow::Error::from),
            started,
        );
    }
    let mut report = report?;
    let outcome = experiment
        .outcome
        .take()
        .context("the membership attack did not run")?;
    let recipe_words = shadow_recipe_words(&prepared, &outcome);
    let stated = report
        .observations
        .as_ref()
        .and_then(|o| o.get::<assess_membership::MembershipObservations>())
        .cloned();
    if let Some(mut observations) = stated {
        observations.shadow_recipe = Some(assess_membership::ShadowRecipe {
            architecture: prepared.shadow_arch.name(),
            training: prepared.shadow_train.clone(),
            records_per_model: outcome.shadow_train_size,
            source: prepared.recipe_source.clone(),
        });
        report.observations = Some(aisec_core::Details::new(observations));
    }
    let shadow_check = assess_membership::shadow_check(&outcome, &prepared.context);
    // The text report prints the warning itself; JSON carries it in `shadow_check`, and a
    // person reading the JSON's stderr sees it too.
    if let (Some((_, _, Some(warning))), Format::Json) = (&shadow_check, cli.format) {
        tracing::warn!("{warning}");
    }
    // Said on stderr, not in the report: a report from stored models is the same report.
    if let Some(store) = &store {
        let (loaded, trained) = store.counts();
        eprintln!(
            "shadow models: {loaded} loaded from {}, {trained} trained here and kept there",
            store.dir.display()
        );
    }
    if let Some(sink) = sink {
        *sink = Some(report.clone());
    }
    crate::output::store_run(cli, &report)?;
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            let r = &outcome.roc;
            let mut out = format!(
                "{} against {} ({})\n{}\n",
                outcome.attack,
                target.info().description,
                output_words(args.outputs),
                prepared.data_description
            );
            if let Some((m, n)) = prepared.context.target_accuracy {
                out.push_str(&format!(
                    "target accuracy: members {:.1}%, non-members {:.1}%\n",
                    100.0 * m,
                    100.0 * n
                ));
            }
            out.push_str(&format!(
                "AUC {:.3}, balanced accuracy {:.3}\nTPR {:.2}% at 1% FPR ({} false positives allowed of {} non-members), {:.2}% at 0.1% FPR ({} allowed)\n{} queries to the target, {:.1} s\n",
                r.auc,
                r.balanced_accuracy,
                100.0 * r.tpr_at_1pct_fpr,
                r.false_positives_allowed_at_1pct,
                r.non_members,
                100.0 * r.tpr_at_0_1pct_fpr,
                r.false_positives_allowed_at_0_1pct,
                outcome.queries,
                outcome.wall_seconds
            ));
            if let Some(why) = &outcome.stopped {
                out.push_str(&format!(
                    "stopped early: {why}; the figures are over the {} of {} candidates answered (asked in a random order, so a random sample)\n",
                    outcome.candidates_scored, outcome.candidates
                ));
            }
            if let Some(words) = &recipe_words {
                out.push_str(&format!("{words}\n"));
            }
            if let Some((shadows, target, warning)) = &shadow_check {
                out.push_str(&format!(
                    "shadow models' accuracy on records they did not train on: {:.1}% (the target's on non-members: {:.1}%)\n",
                    100.0 * shadows,
                    100.0 * target
                ));
                if let Some(w) = warning {
                    out.push_str(&format!("warning: {w}\n"));
                }
            }
            for f in &report.findings {
                push_finding(&mut out, f);
            }
            if let Some(d) = &report.defended {
                push_defended(&mut out, &report, d);
            }
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}

/// "16 shadow models of 1079 records each, trained as mlp, 40 epochs, batch 64, learning
/// rate 0.002 (recorded with the model)"; None for attacks without models of their own.
fn shadow_recipe_words(
    prepared: &Prepared,
    outcome: &membership::MembershipOutcome,
) -> Option<String> {
    (outcome.shadow_models > 0).then(|| {
        let t = &prepared.shadow_train;
        format!(
            "{} shadow model{} of {} records each, trained as {}, {} epochs, batch {}, learning rate {}{} ({})",
            outcome.shadow_models,
            if outcome.shadow_models == 1 { "" } else { "s" },
            outcome.shadow_train_size,
            prepared.shadow_arch.name(),
            t.epochs,
            t.batch_size,
            aisec_assess::findings::trim_float(t.learning_rate),
            if t.weight_decay > 0.0 {
                format!(", weight decay {}", aisec_assess::findings::trim_float(t.weight_decay))
            } else {
                String::new()
            },
            prepared.recipe_source
        )
    })
}

/// The defended run beside the plain one.
fn push_defended(out: &mut String, plain: &RunReport, defended: &RunReport) {
    use aisec_defenses::dp_sgd::PrivacySpent;
    use assess_membership::{GuardObserved, MembershipObservations, RetrainingObserved};
    let m = |r: &RunReport, k: Metric| r.metrics.get(k).unwrap_or(f64::NAN);
    let pct = |v: Option<f64>| aisec_core::pct(v);
    let observed = defended.defense.as_ref().and_then(|d| d.observed.as_ref());
    let name = defended
        .defense
        .as_ref()
        .map_or("the defence", |d| d.name.as_str());
    let settings = defended
        .defense
        .as_ref()
        .and_then(|d| d.settings.as_ref())
        .map_or_else(|| "no settings".to_string(), |s| s.to_string());
    if let Some(guard) = observed.and_then(|o| o.get::<GuardObserved>()) {
        if !guard.attack_ran {
            out.push_str(&format!(
                "\nbehind {name}: the attack did not run ({})\n",
                guard.why.as_deref().unwrap_or("")
            ));
            return;
        }
        out.push_str(&format!(
            "\nbehind {name} ({settings}; the adversary's shadow models see their full outputs):\n  TPR at 1% FPR {:.2}% (was {:.2}%), at 0.1% FPR {:.2}% (was {:.2}%), AUC {:.3} (was {:.3})\n",
            100.0 * m(defended, Metric::TprAt1PctFpr),
            100.0 * m(plain, Metric::TprAt1PctFpr),
            100.0 * m(defended, Metric::TprAt0_1PctFpr),
            100.0 * m(plain, Metric::TprAt0_1PctFpr),
            m(defended, Metric::Auc),
            m(plain, Metric::Auc),
        ));
        for finding in &defended.findings {
            push_finding(out, finding);
        }
        if let Some(a) = &defended.adaptive {
            out.push_str(&format!(
                "\nadaptive: the adversary reads its shadow models through the same defence:\n  TPR at 1% FPR {:.2}%, at 0.1% FPR {:.2}%, AUC {:.3}\n",
                100.0 * m(a, Metric::TprAt1PctFpr),
                100.0 * m(a, Metric::TprAt0_1PctFpr),
                m(a, Metric::Auc),
            ));
            for finding in &a.findings {
                push_finding(out, finding);
            }
        }
        return;
    }
    let retraining = observed.and_then(|o| o.get::<RetrainingObserved>());
    let spent = retraining
        .and_then(|r| r.retraining.as_ref())
        .and_then(|r| r.get::<PrivacySpent>());
    match spent {
        Some(dp) => out.push_str(&format!(
            "\nbehind {name} (ε = {:.2} at δ = {:e}, noise multiplier {:.3}, {} steps at sampling rate {:.4}; shadow models trained the same way):\n",
            dp.epsilon, dp.delta, dp.noise_multiplier, dp.steps, dp.sampling_rate,
        )),
        None => out.push_str(&format!(
            "\nbehind {name} ({settings}; shadow models trained the same way):\n"
        )),
    }
    let plain_non_members = plain
        .observations
        .as_ref()
        .and_then(|o| o.get::<MembershipObservations>())
        .and_then(|o| o.target_accuracy)
        .map(|t| t.non_members);
    let defended_accuracy = retraining.map(|r| r.target_accuracy);
    out.push_str(&format!(
        "  TPR at 1% FPR {:.2}% (was {:.2}%), at 0.1% FPR {:.2}% (was {:.2}%), AUC {:.3} (was {:.3})\n  target accuracy: members {}, non-members {} (was {})\n",
        100.0 * m(defended, Metric::TprAt1PctFpr),
        100.0 * m(plain, Metric::TprAt1PctFpr),
        100.0 * m(defended, Metric::TprAt0_1PctFpr),
        100.0 * m(plain, Metric::TprAt0_1PctFpr),
        m(defended, Metric::Auc),
        m(plain, Metric::Auc),
        pct(defended_accuracy.map(|t| t.members)),
        pct(defended_accuracy.map(|t| t.non_members)),
        pct(plain_non_members),
    ));
    for finding in &defended.findings {
        push_finding(out, finding);
    }
}

fn output_words(kind: OutputKind) -> String {
    match kind {
        OutputKind::Probabilities | OutputKind::Logits => "the API returns probabilities".into(),
        OutputKind::TopK(k) => format!("the API returns the top {k} classes with probabilities"),
        OutputKind::Label => "the API returns labels only".into(),
    }
}
