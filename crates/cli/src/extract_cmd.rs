//! `aisec attack extract`: functional extraction through the prediction API, optionally
//! measured again behind output hardening or the PRADA monitor.

use std::path::PathBuf;
use std::sync::Arc;

use aisec_assess::extraction::{DefendedRun, ExtractionSetup};
use aisec_assess::runner::{self, extraction::ExtractionExperiment, Stage};
use aisec_attacks::extract::equation::Solver;
use aisec_attacks::extract::knockoff::{Pool, Strategy};
use aisec_attacks::extract::ExtractionOutcome;
use aisec_attacks::registry::{self, ExtractionParams};
use aisec_defenses::{DefenseSpec, Family};
use aisec_ml::model::{revealing, Classifier, OutputKind};
use aisec_ml::net::Architecture;
use aisec_report::RunReport;
use anyhow::{Context, Result};
use clap::Args;

use crate::atlas_cmd::load_kb;
use crate::data_args::{check_fit, DataArgs, ModelArgs, Split};
use crate::model_cmd::parse_arch;
use crate::output::{num, pct, print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The adversary's data (a built-in dataset: its training split is the adversary's
    /// pool and seeds, its test split measures fidelity; user data is split 80/20).
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, help = crate::attack_cmd::attack_help(aisec_attacks::registry::extraction_attacks().iter().map(|e| e.info)))]
    pub attack: String,
    /// The adversary's budget for the whole run: most queries the attack may send to the API.
    /// The assessor's measurement (fidelity on held-out and uniform inputs, the transfer
    /// check) is never charged to it.
    #[arg(
        long = "total-queries",
        alias = "budget",
        value_name = "N",
        default_value_t = 5000
    )]
    pub budget: u64,
    /// The assessor's own copy of the victim (a model directory or .onnx): fidelity and the
    /// transfer check are measured on it instead of through the API, so a server's limits
    /// and monitors see only the adversary's queries.
    #[arg(long, value_name = "MODEL")]
    pub reference: Option<String>,
    /// What the API reveals to the adversary: probs, top1, topk:K or label.
    #[arg(long, value_parser = parse_outputs, default_value = "probs")]
    pub outputs: OutputKind,
    #[arg(long, value_parser = crate::attack_cmd::parse_defense, help = crate::attack_cmd::defend_help(Family::Extraction))]
    pub defend: Option<DefenseSpec>,
    /// The substitute's architecture (default: logreg for equation, mlp otherwise).
    #[arg(long, value_parser = parse_arch)]
    pub substitute: Option<Architecture>,
    /// Equation solving: auto, exact or retrain.
    #[arg(long, value_parser = parse_solver)]
    pub solver: Option<Solver>,
    /// Equation solving: queries to spend (default d + 1 exact, k·(d + 1) retraining).
    #[arg(long)]
    pub queries: Option<u64>,
    /// Knockoff: random or adaptive.
    #[arg(long, value_parser = parse_strategy)]
    pub strategy: Option<Strategy>,
    /// Knockoff: public (the data as it is), mixup (synthetic mixtures) or uniform.
    #[arg(long, value_parser = parse_pool)]
    pub pool: Option<Pool>,
    /// ε (L∞) of the PGD examples crafted on the substitute and sent to the victim; 0 skips
    /// the transfer test. Default 0.2 of the input range.
    #[arg(long)]
    pub transfer_eps: Option<f32>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Writes the substitute as an aisec model directory (servable, attackable).
    #[arg(long)]
    pub save_substitute: Option<PathBuf>,
}

pub fn parse_outputs(s: &str) -> Result<OutputKind, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "probs" | "probabilities" => Ok(OutputKind::Probabilities),
        "top1" => Ok(OutputKind::TopK(1)),
        "label" | "labels" => Ok(OutputKind::Label),
        other => other
            .strip_prefix("topk:")
            .and_then(|k| k.parse().ok())
            .filter(|k: &usize| *k >= 1)
            .map(OutputKind::TopK)
            .ok_or_else(|| {
                format!("`{s}` is not an output kind: expected probs, top1, topk:K or label")
            }),
    }
}

fn parse_solver(s: &str) -> Result<Solver, String> {
    match s.trim() {
        "auto" => Ok(Solver::Auto),
        "exact" => Ok(Solver::Exact),
        "retrain" => Ok(Solver::Retrain),
        _ => Err(format!(
            "`{s}` is not a solver: expected auto, exact or retrain"
        )),
    }
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    match s.trim() {
        "random" => Ok(Strategy::Random),
        "adaptive" => Ok(Strategy::Adaptive),
        _ => Err(format!(
            "`{s}` is not a strategy: expected random or adaptive"
        )),
    }
}

fn parse_pool(s: &str) -> Result<Pool, String> {
    match s.trim() {
        "public" => Ok(Pool::Public),
        "mixup" => Ok(Pool::Mixup),
        "uniform" => Ok(Pool::Uniform),
        _ => Err(format!(
            "`{s}` is not a pool: expected public, mixup or uniform"
        )),
    }
}

pub fn run(cli: &Cli, args: &ExtractArgs) -> Result<Outcome> {
    let entry = registry::find_extraction(&args.attack).with_context(|| {
        let names: Vec<&str> = registry::extraction_attacks()
            .iter()
            .map(|e| e.name)
            .collect();
        format!(
            "--attack `{}` is not an extraction attack: expected one of {}",
            args.attack,
            names.join(", ")
        )
    })?;
    if args.budget == 0 {
        anyhow::bail!("--total-queries must be at least 1 query");
    }
    // A flag the attack does not read is an error naming the attacks that read it.
    let readers: Vec<(&str, &[&str])> = aisec_attacks::registry::extraction_attacks()
        .iter()
        .map(|e| (e.name, e.reads))
        .collect();
    crate::attack_cmd::refuse_unread(
        &[
            ("--queries", args.queries.is_some()),
            ("--substitute", args.substitute.is_some()),
            ("--solver", args.solver.is_some()),
            ("--strategy", args.strategy.is_some()),
            ("--pool", args.pool.is_some()),
        ],
        entry.name,
        entry.reads,
        &readers,
    )?;
    if let Some(dir) = &args.save_substitute {
        crate::output::check_writable(dir, "--save-substitute")?;
    }
    let params = ExtractionParams {
        queries: args.queries,
        substitute: args.substitute,
        solver: args.solver,
        strategy: args.strategy,
        pool: args.pool,
    };
    // A bad combination of settings fails here, before the data loads.
    (entry.build)(&params)?;
    let public = args.data.load(Split::Train)?;
    let holdout = args.data.load(Split::Test)?;
    let model: Arc<dyn Classifier> = args.model.open(None, &holdout)?.into();
    check_fit(model.as_ref(), &holdout)?;
    let victim = revealing(model, args.outputs);
    if let Some(q) = args.queries.filter(|q| *q == 0) {
        anyhow::bail!("--queries {q}: equation solving needs at least 1 query (default d + 1)");
    }
    if let Some(e) = args.transfer_eps.filter(|e| !e.is_finite() || *e < 0.0) {
        anyhow::bail!("--transfer-eps {e}: expected a finite ε ≥ 0 (0 skips the transfer test)");
    }
    let transfer_eps = match args.transfer_eps {
        Some(e) if e <= 0.0 => None,
        Some(e) => Some(e),
        None => Some(match holdout.input_range {
            Some(r) => 0.2 * (r.hi - r.lo),
            None => 0.5,
        }),
    };
    let reference: Option<Arc<dyn Classifier>> = match &args.reference {
        Some(spec) => {
            let r: Arc<dyn Classifier> = crate::data_args::open_local(spec, None)
                .with_context(|| format!("--reference {spec}"))?
                .into();
            check_fit(r.as_ref(), &holdout).with_context(|| format!("--reference {spec}"))?;
            Some(r)
        }
        None => None,
    };
    let kb = load_kb(cli)?;
    let setup = ExtractionSetup {
        victim: victim.clone(),
        public: &public,
        holdout: &holdout,
        budget: args.budget,
        seed: args.seed,
        transfer_eps,
        reference,
    };
    let data_desc = format!(
        "{}: {} inputs the adversary holds, {} held out",
        public.name,
        public.len(),
        holdout.len()
    );
    let mut experiment = ExtractionExperiment::new(entry, params, setup, &kb, data_desc);
    let current: std::cell::RefCell<Option<Progress>> = Default::default();
    let on_stage = |stage: Stage| {
        if let Some(p) = current.borrow_mut().take() {
            p.finish();
        }
        let progress = Progress::new();
        match stage {
            // The victim answers the measurement (fidelity, transfer) too, so its count has
            // no bound here; the adversary's own budget is --total-queries.
            Stage::Attack => progress.track_queries(
                format!(
                    "{} with up to {} adversary queries",
                    entry.name, args.budget
                ),
                victim.clone(),
                None,
            ),
            Stage::Defended => {
                progress.message(format!("{} again, behind the defence", entry.name))
            }
            Stage::Adaptive => progress.message("the attack that knows the defence"),
            Stage::Finished => return,
        }
        *current.borrow_mut() = Some(progress);
    };
    let report = runner::run_observed(&mut experiment, args.defend.as_ref(), &on_stage)?;
    let outcome = experiment
        .outcome
        .take()
        .context("the extraction attack did not run")?;
    let defended = experiment.defended.take();
    if let Some(dir) = &args.save_substitute {
        outcome
            .substitute_model(&holdout, args.seed)
            .save(dir)
            .with_context(|| format!("--save-substitute {}", dir.display()))?;
    }
    crate::output::store_run(cli, &report)?;
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            print_text(&text(&outcome, &report, defended.as_ref(), args))?
        }
    }
    Ok(Outcome::Ok)
}

fn text(
    outcome: &ExtractionOutcome,
    report: &RunReport,
    defended: Option<&DefendedRun>,
    args: &ExtractArgs,
) -> String {
    let m = &outcome.metrics;
    let mut out = format!(
        "{} on {}\n  {}\n",
        outcome.name,
        report.target,
        report.data.as_deref().unwrap_or("")
    );
    out.push_str(&format!(
        "  config               {}\n",
        aisec_assess::findings::describe_fields(&outcome.config)
    ));
    out.push_str(&format!(
        "  fidelity             {} held-out, {} uniform random inputs\n",
        pct(m, aisec_core::Metric::Fidelity),
        pct(m, aisec_core::Metric::FidelityUniform)
    ));
    out.push_str(&format!(
        "  substitute accuracy  {} (victim {})\n",
        pct(m, aisec_core::Metric::SubstituteAccuracy),
        pct(m, aisec_core::Metric::CleanAccuracy)
    ));
    out.push_str(&format!(
        "  queries              {} of {} allowed{}\n",
        num(m, aisec_core::Metric::QueriesTotal, 0),
        args.budget,
        outcome
            .stop_reason
            .as_ref()
            .map(|r| format!(" (stopped: {r})"))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "  measurement          {} answers from {} (not charged to the adversary)\n",
        outcome.measurement.queries,
        if outcome.measurement.source == "target" {
            "the target"
        } else {
            "the --reference copy"
        }
    ));
    out.push_str(&format!(
        "  wall time            {} s\n",
        num(m, aisec_core::Metric::WallSeconds, 2)
    ));
    out.push_str("  fidelity by queries  ");
    let points: Vec<String> = outcome
        .curve
        .iter()
        .map(|c| format!("{} → {:.1}%", c.queries, 100.0 * c.fidelity))
        .collect();
    out.push_str(&points.join(", "));
    out.push('\n');
    if let Some(t) = &outcome.transfer {
        out.push_str(&format!(
            "  transfer             PGD L∞ ε={} on the substitute: fools the substitute on {:.1}%, the victim on {:.1}% of {} inputs it got right\n",
            t.eps,
            100.0 * t.substitute_success_rate,
            100.0 * t.attack_success_rate,
            t.attacked
        ));
    }
    for f in &report.findings {
        crate::output::push_finding(&mut out, f);
    }
    if let Some(run) = defended {
        let d = &run.outcome.metrics;
        let dm = &run.report.metrics;
        out.push_str(&format!("\nbehind the defence: {}\n", run.report.target));
        if let Some(info) = &run.report.defense {
            out.push_str(&format!(
                "  defence              {} ({}; {})\n",
                info.name,
                info.mitigations.join(", "),
                info.phases.join("; ")
            ));
        }
        out.push_str(&format!(
            "  fidelity             {} held-out, {} uniform (undefended {}, {})\n",
            pct(d, aisec_core::Metric::Fidelity),
            pct(d, aisec_core::Metric::FidelityUniform),
            pct(m, aisec_core::Metric::Fidelity),
            pct(m, aisec_core::Metric::FidelityUniform)
        ));
        out.push_str(&format!(
            "  victim accuracy      {} through the defended API (undefended {})\n",
            pct(dm, aisec_core::Metric::CleanAccuracy),
            pct(m, aisec_core::Metric::CleanAccuracy)
        ));
        out.push_str(&format!(
            "  queries              {}{}\n",
            num(d, aisec_core::Metric::QueriesTotal, 0),
            run.outcome
                .stop_reason
                .as_ref()
                .map(|r| format!(" (stopped: {r}; the figures are the partial run's)"))
                .unwrap_or_default()
        ));
        if let Some((during, benign)) = &run.prada {
            match during.alert_at_query {
                Some(at) => out.push_str(&format!(
                    "  PRADA                alert after {at} queries (lowest W {}, δ {})\n",
                    aisec_core::fixed(during.w_min, 3),
                    run.report
                        .defense
                        .as_ref()
                        .and_then(|i| i.settings.as_ref())
                        .and_then(|s| s.get::<aisec_defenses::prada::PradaConfig>())
                        .map_or_else(
                            || aisec_core::NOT_MEASURED.to_string(),
                            |c| aisec_assess::findings::trim_float(c.delta)
                        )
                )),
                None => out.push_str(&format!(
                    "  PRADA                no alert in {} queries (lowest W {:.3})\n",
                    during.queries,
                    during.w_min.unwrap_or(1.0)
                )),
            }
            out.push_str(&format!(
                "  benign stream        {} natural variations of the held-out data: {}\n",
                benign.queries,
                match benign.alert_at_query {
                    Some(at) => format!("FALSE ALARM after {at} queries"),
                    None => format!("no alarm (lowest W {:.3})", benign.w_min.unwrap_or(1.0)),
                }
            ));
        }
        for f in &run.report.findings {
            crate::output::push_finding(&mut out, f);
        }
        if let Some(adaptive) = &run.report.adaptive {
            out.push_str(&format!(
                "\nadaptive attack behind the defence (equation solving by retraining from labels):\n  fidelity             {} held-out, {} uniform (undefended {}, {})\n",
                pct(&adaptive.metrics, aisec_core::Metric::Fidelity),
                pct(&adaptive.metrics, aisec_core::Metric::FidelityUniform),
                pct(m, aisec_core::Metric::Fidelity),
                pct(m, aisec_core::Metric::FidelityUniform)
            ));
            for f in &adaptive.findings {
                crate::output::push_finding(&mut out, f);
            }
        }
    }
    if let Some(dir) = &args.save_substitute {
        out.push_str(&format!("\nsubstitute saved to {}\n", dir.display()));
    }
    out
}
