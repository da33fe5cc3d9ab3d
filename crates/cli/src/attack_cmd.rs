use std::path::PathBuf;

use aisec_assess::findings::{describe_config, evasion_report};
use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};
use aisec_attacks::registry;
use aisec_ml::data::npy;
use aisec_ml::model::Classifier;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::atlas_cmd::load_kb;
use crate::data_args::{check_fit, open_model, DataArgs, Split};
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
    /// A directory written by `aisec model train` (or its model.json), an .onnx classifier,
    /// or kserve+http://HOST:PORT/v2/models/NAME.
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// fgsm, pgd, apgd-ce, square or hsj (see `aisec attack list`).
    #[arg(long)]
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
    /// Also measure a defence and report both sides: squeeze (feature-squeezing detection,
    /// with an adaptive attack), top1, round:D (decimals), budget:N (queries) or rate:Q
    /// (queries per second, the client made to wait; reports the wait it imposes).
    #[arg(long, value_parser = parse_defense)]
    pub defend: Option<DefenseSpec>,
}

/// A defence that wraps the target's API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefenseSpec {
    Squeeze,
    Top1,
    Round(u32),
    Budget(u64),
    Rate(f64),
}

fn parse_defense(s: &str) -> Result<DefenseSpec, String> {
    let bad = || {
        format!("`{s}` is not a defence: expected squeeze, top1, round:D (e.g. round:2), budget:N (e.g. budget:10000) or rate:Q (queries per second, e.g. rate:10)")
    };
    match s.trim().split_once(':') {
        None if s.trim() == "top1" => Ok(DefenseSpec::Top1),
        None if s.trim() == "squeeze" => Ok(DefenseSpec::Squeeze),
        Some(("round", d)) => d
            .parse()
            .ok()
            .filter(|d: &u32| *d <= 9)
            .map(DefenseSpec::Round)
            .ok_or_else(bad),
        Some(("budget", n)) => n
            .parse()
            .ok()
            .filter(|n: &u64| *n > 0)
            .map(DefenseSpec::Budget)
            .ok_or_else(bad),
        Some(("rate", q)) => q
            .parse()
            .ok()
            .filter(|q: &f64| q.is_finite() && *q > 0.0)
            .map(DefenseSpec::Rate)
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

impl DefenseSpec {
    /// The wrapped target, the defence's description, and the query monitor when there is
    /// one (its statistics go into the report after the attack).
    fn wrap(
        self,
        model: std::sync::Arc<dyn Classifier>,
    ) -> (
        std::sync::Arc<dyn Classifier>,
        serde_json::Value,
        Option<std::sync::Arc<aisec_defenses::query_limit::QueryLimit>>,
    ) {
        use aisec_defenses::{output_hardening, query_limit};
        match self {
            DefenseSpec::Squeeze => {
                unreachable!("feature squeezing is measured by detection, not by wrapping")
            }
            DefenseSpec::Top1 | DefenseSpec::Round(_) => {
                let mode = match self {
                    DefenseSpec::Round(d) => output_hardening::Hardening::Round { decimals: d },
                    _ => output_hardening::Hardening::Top1,
                };
                let info = serde_json::json!({ "name": "defense.output-hardening", "mitigations": output_hardening::MITIGATIONS, "phases": output_hardening::PHASES, "settings": mode });
                (
                    std::sync::Arc::new(output_hardening::HardenedOutputs::new(model, mode)),
                    info,
                    None,
                )
            }
            DefenseSpec::Budget(n) => {
                let info = serde_json::json!({ "name": "defense.query-limit", "mitigations": query_limit::MITIGATIONS, "phases": query_limit::PHASES, "settings": { "max_queries": n } });
                let limit = std::sync::Arc::new(query_limit::QueryLimit::new(model, n));
                (limit.clone(), info, Some(limit))
            }
            DefenseSpec::Rate(q) => {
                let rate = query_limit::RateLimit::per_second(q);
                let info = serde_json::json!({ "name": "defense.query-limit", "mitigations": query_limit::MITIGATIONS, "phases": query_limit::PHASES, "settings": { "rate": rate, "mode": query_limit::RateMode::Throttle } });
                let limit = std::sync::Arc::new(query_limit::QueryLimit::with_policy(
                    model,
                    query_limit::QueryPolicy::rate(rate, query_limit::RateMode::Throttle),
                    query_limit::Clock::virtual_clock(),
                ));
                (limit.clone(), info, Some(limit))
            }
        }
    }
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
                            format!("{:?}", a.access).to_lowercase(),
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
    let params = EvasionParams {
        eps: args.eps,
        norm: args.norm,
        steps: args.steps,
        step_size: args.step_size,
        random_start: args.no_random_start.then_some(false),
        restarts: args.restarts,
        max_queries: args.max_queries,
    };
    let attack = (entry.build)(&params)?;
    let model: std::sync::Arc<dyn Classifier> = open_model(&args.model, args.max_queries)?.into();
    let mut data = args.data.load(if args.data.is_builtin() {
        Split::Test
    } else {
        Split::All
    })?;
    if let Some(n) = args.limit {
        data = data.head(n);
    }
    check_fit(model.as_ref(), &data)?;
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    progress.message(format!("{} on {} examples", entry.name, data.len()));
    let task = EvasionTask {
        model: model.as_ref(),
        x: &data.x,
        y: &data.y,
        clip: data.input_range,
        target: args.targeted,
        seed: args.seed,
    };
    let outcome = evasion::run(attack.as_ref(), &task);
    progress.finish();
    let outcome = outcome?;
    if let Some(path) = &args.save_adv {
        let mut shape = vec![data.len()];
        shape.extend(&data.sample_shape);
        npy::write_f32(path, &shape, &outcome.adversarial)?;
    }
    let data_desc = format!("{} ({} examples)", data.name, data.len());
    let mut report = evasion_report(&outcome, &kb, &model.info().description, &data_desc);
    let mut defended_outcome = None;
    if args.defend == Some(DefenseSpec::Squeeze) {
        let progress = Progress::new();
        progress
            .message("feature squeezing: calibrating, detecting, and running the adaptive attack");
        let defended = aisec_assess::detection::feature_squeezing_report(
            model.as_ref(),
            &data,
            &outcome,
            &kb,
            args.seed,
        );
        progress.finish();
        report.defended = Some(Box::new(defended?));
    } else if let Some(spec) = args.defend {
        let (wrapped, mut info, monitor) = spec.wrap(model.clone());
        // A fresh attack instance: some attacks record observations per run.
        let attack = (entry.build)(&params)?;
        let task = EvasionTask {
            model: wrapped.as_ref(),
            x: &data.x,
            y: &data.y,
            clip: data.input_range,
            target: args.targeted,
            seed: args.seed,
        };
        let outcome = evasion::run(attack.as_ref(), &task)?;
        let mut defended = evasion_report(&outcome, &kb, &wrapped.info().description, &data_desc);
        defended.findings = vec![aisec_assess::findings::evasion_finding(
            &outcome,
            &kb,
            "the defended model",
        )];
        if let Some(monitor) = monitor {
            info["observed"] = serde_json::to_value(
                monitor.client_stats(aisec_defenses::query_limit::LOCAL_CLIENT),
            )?;
        }
        defended.defense = Some(info);
        report.defended = Some(Box::new(defended));
        defended_outcome = Some(outcome);
    }
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif => {
            let m = |k: &str| outcome.metrics.get(k).unwrap_or(0.0);
            let mut out = format!(
                "{} on {} — {data_desc}\n",
                outcome.name,
                model.info().description
            );
            out.push_str(&format!(
                "  config               {} ({})\n",
                describe_config(&outcome.config),
                outcome.config
            ));
            if let Some(t) = args.targeted {
                out.push_str(&format!("  targeted             class {t}\n"));
            }
            out.push_str(&format!(
                "  clean accuracy       {:.2}%\n",
                100.0 * m("clean_accuracy")
            ));
            out.push_str(&format!(
                "  robust accuracy      {:.2}%\n",
                100.0 * m("robust_accuracy")
            ));
            out.push_str(&format!(
                "  attack success rate  {:.2}%\n",
                100.0 * m("attack_success_rate")
            ));
            out.push_str(&format!("  perturbation         mean L∞ {:.4}, mean L2 {:.4}, median L2 {:.4} (successful examples)\n", m("mean_linf"), m("mean_l2"), m("median_l2")));
            out.push_str(&format!(
                "  queries              {:.0} total, {:.1} per example\n",
                m("queries_total"),
                m("queries_mean")
            ));
            out.push_str(&format!(
                "  wall time            {:.2} s\n",
                m("wall_seconds")
            ));
            if let Some(curve) = outcome
                .observations
                .as_ref()
                .and_then(|o| o["median_distance_by_queries"].as_array())
            {
                let points: Vec<String> = curve
                    .iter()
                    .map(|p| {
                        format!(
                            "{} → {:.3}",
                            p["queries"],
                            p["median_distance"].as_f64().unwrap_or(0.0)
                        )
                    })
                    .collect();
                out.push_str(&format!(
                    "  median distance by queries per example: {}\n",
                    points.join(", ")
                ));
            }
            for f in &report.findings {
                crate::output::push_finding(&mut out, f);
            }
            if let (None, Some(detection)) = (&defended_outcome, &report.defended) {
                let dm = |k: &str| detection.metrics.get(k).unwrap_or(0.0);
                out.push_str(&format!(
                    "\nfeature squeezing (AML.M0015, Deployment), threshold {}\n",
                    detection.config["threshold"]
                ));
                out.push_str(&format!(
                    "  non-adaptive         detects {:.1}% of successful examples at {:.1}% false positives (AUC {:.3})\n",
                    100.0 * dm("detection_recall"),
                    100.0 * dm("false_positive_rate"),
                    dm("auc")
                ));
                match detection.observations.as_ref().map(|o| &o["adaptive"]) {
                    Some(a) if !a.is_null() => out.push_str(&format!(
                        "  adaptive attack      detects {:.1}% of {} fooled inputs\n",
                        100.0 * a["metrics"]["detection_recall"].as_f64().unwrap_or(0.0),
                        a["report"]["adversarial_examples"]
                    )),
                    _ => out.push_str(
                        "  adaptive attack      not run (needs gradient access and an L∞ budget)\n",
                    ),
                }
                for f in &detection.findings {
                    out.push_str(&format!(
                        "  [{}] {}\n",
                        f.severity.as_str().to_uppercase(),
                        f.title
                    ));
                }
            }
            if let (Some(d), Some(defended)) = (&defended_outcome, &report.defended) {
                let m2 = |k: &str| d.metrics.get(k).unwrap_or(0.0);
                out.push_str(&format!("\nbehind the defence: {}\n", defended.target));
                if let Some(info) = &defended.defense {
                    out.push_str(&format!(
                        "  defence              {} ({}; {})\n",
                        info["name"].as_str().unwrap_or(""),
                        info["mitigations"],
                        info["phases"]
                    ));
                }
                out.push_str(&format!(
                    "  robust accuracy      {:.2}% (undefended {:.2}%)\n",
                    100.0 * m2("robust_accuracy"),
                    100.0 * m("robust_accuracy")
                ));
                out.push_str(&format!(
                    "  attack success rate  {:.2}% (undefended {:.2}%)\n",
                    100.0 * m2("attack_success_rate"),
                    100.0 * m("attack_success_rate")
                ));
                out.push_str(&format!(
                    "  queries              {:.0} total (undefended {:.0})\n",
                    m2("queries_total"),
                    m("queries_total")
                ));
                if let Some(observed) = defended.defense.as_ref().map(|i| &i["observed"]) {
                    if let Some(waited) = observed["waited_s"].as_f64().filter(|w| *w > 0.0) {
                        out.push_str(&format!(
                            "  imposed wait         {waited:.1} s ({:.2} h) over {} throttled queries: slowed, not stopped\n",
                            waited / 3600.0,
                            observed["throttled"]
                        ));
                    }
                    if let Some(refused) = observed["refused"].as_u64().filter(|r| *r > 0) {
                        out.push_str(&format!("  refused queries      {refused}\n"));
                    }
                }
            }
            if let Some(path) = &args.save_adv {
                out.push_str(&format!(
                    "\nadversarial inputs saved to {}\n",
                    path.display()
                ));
            }
            print_text(&out)?;
        }
    }
    Ok(Outcome::Ok)
}
