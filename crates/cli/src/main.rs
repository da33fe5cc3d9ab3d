//! The `aisec` command line: argument parsing, output and exit codes. The work itself lives
//! in the library crates.

mod assess_cmd;
mod atlas_cmd;
mod attack_cmd;
mod attribute_cmd;
mod bitflip_cmd;
mod casestudy_cmd;
mod certify_cmd;
mod data_args;
mod data_cmd;
mod defend_cmd;
mod demo_cmd;
mod dp_train_cmd;
mod evasion_text;
mod extract_cmd;
mod guard_cmd;
mod inspect_cmd;
mod invert_cmd;
mod llm_cmd;
mod membership_cmd;
mod membership_shard;
mod model_cmd;
mod output;
mod poison_cmd;
mod privacy_cmd;
mod progress;
mod report_cmd;
mod runs_cmd;
mod scan_cmd;
mod scan_remote;
mod serve_cmd;
mod threat_cmd;
mod timing_cmd;
mod trigger_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "aisec",
    version,
    about = "AI security: what an attacker can do to a model, what defends it, and proof of both, named by MITRE ATLAS"
)]
pub struct Cli {
    /// Output for people (text) or programs (json; sarif for `aisec scan`; jsonl, one
    /// attempt per line, and html for `aisec llm probe`).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// A full official ATLAS.yaml to use instead of the embedded facts; adds descriptions
    /// and mitigation "use" text to every view.
    #[arg(long, global = true, env = aisec_atlas::ATLAS_DATA_ENV, value_name = "PATH")]
    pub atlas_data: Option<PathBuf>,

    /// Where models run: `cpu` (burn's portable CPU backend; the default, and the only
    /// device of a default build), or, in a build with `--features libtorch`, `libtorch`
    /// (LibTorch on the CPU) or `cuda`/`cuda:N` (LibTorch on GPU N). A report's target line
    /// names any device but the default.
    #[arg(
        long,
        global = true,
        env = "AISEC_DEVICE",
        default_value = "cpu",
        value_name = "DEVICE"
    )]
    pub device: String,

    /// Also keep the run in the run database (the run object `--format json` prints), where
    /// `aisec serve` and `aisec runs` show it. Commands that produce a run: attack …, scan,
    /// demo, assess (each step's run), llm probe, llm guard eval/attack, defend adv-train,
    /// dp-sgd and certify, model train and eval; others warn that nothing was stored. A database that
    /// cannot take the run costs a warning, not the run's output or exit code.
    #[arg(long, global = true)]
    pub store: bool,

    /// The run database `--store`, `aisec runs` and `aisec serve` use. Default:
    /// $AISEC_DATA_DIR/aisec.db, else $XDG_DATA_HOME/aisec/aisec.db, else
    /// ~/.local/share/aisec/aisec.db.
    #[arg(long, global = true, env = "AISEC_STORE_DB", value_name = "PATH")]
    pub store_db: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The MITRE ATLAS knowledge base: matrix, objects, search, validation, exports.
    #[command(subcommand)]
    Atlas(atlas_cmd::AtlasCommand),
    /// ATLAS case studies in the website format: validate and create.
    #[command(subcommand)]
    Casestudy(casestudy_cmd::CaseStudyCommand),
    /// Models under test: train the built-in architectures, evaluate.
    #[command(subcommand)]
    Model(model_cmd::ModelCommand),
    /// Data as aisec sees it, written out for other tools (same split, same order).
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Red team: run an attack and measure it.
    #[command(subcommand)]
    Attack(attack_cmd::AttackCommand),
    /// Blue team: apply a defence (then attack again).
    #[command(subcommand)]
    Defend(defend_cmd::DefendCommand),
    /// Differential privacy: what DP-SGD's noise buys in (ε, δ), and the noise a target ε needs.
    #[command(subcommand)]
    Privacy(privacy_cmd::PrivacyCommand),
    /// The main job: Build → Attack → Defend → attack again on the digits CNN, with a report.
    Demo(demo_cmd::DemoArgs),
    /// Scan model files for code that runs when they are loaded (pickles, archives, ONNX,
    /// Keras, GGUF, safetensors …), without executing anything. Exit 0 clean, 1 findings,
    /// 2 errors.
    Scan(scan_cmd::ScanArgs),
    /// LLM red team: prompt injection, jailbreaks, leakage, exfiltration, tool misuse and
    /// cost probes against a chat model, judged on evidence and named by ATLAS.
    #[command(subcommand)]
    Llm(llm_cmd::LlmCommand),
    /// The threat model of your AI system: from a YAML profile of its models and LLM
    /// applications to the ATLAS techniques that apply and why, adversary tiers, likelihood ×
    /// severity, mitigations by lifecycle phase and the aisec attacks that test each risk.
    ThreatModel(threat_cmd::ThreatModelArgs),
    /// Run an assessment plan (from `aisec threat-model --plan`): every step's attack against
    /// the real targets, its criteria before and behind the defence, and one report (JSON,
    /// Markdown, HTML, Navigator layer, ATLAS case study). Resumable.
    Assess(assess_cmd::AssessArgs),
    /// Reports of jobs cut into shards: `merge` joins the shards' results (`--shard I/N` on
    /// scan, assess and the membership attacks) into the report one process makes.
    #[command(subcommand)]
    Report(report_cmd::ReportCommand),
    /// The run database that `--store` fills: list, show, import run objects, heat per
    /// ATLAS technique.
    #[command(subcommand)]
    Runs(runs_cmd::RunsCommand),
    /// The web UI and REST API: the ATLAS matrix with your stored runs' findings on it,
    /// object pages, search, mitigations by phase, stored runs and their comparison, the
    /// case-study builder, threat models, assessments (--plans); OpenAPI at /api/openapi.json.
    Serve(serve_cmd::ServeArgs),
}

/// How a command ended: success, "ran fine and found problems" (exit 1), or "could not
/// finish part of the work" (exit 2, reported already).
pub enum Outcome {
    Ok,
    ProblemsFound,
    Errors,
}

/// The scanner's pickle machine makes millions of small allocations on a dense pickle; with
/// mimalloc it runs about twice as fast as with the system allocator (criterion bench
/// `pickle_dense_600k_records_31mb`: 430 ms → 230 ms).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every command takes negative numbers as values, so that `--steps -1` is refused by the
/// flag's own parser, naming the flag and the accepted range, instead of being read as an
/// unknown flag `-1`.
fn negatives_are_values(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut cmd = cmd.allow_negative_numbers(true);
    for name in names {
        cmd = cmd.mut_subcommand(name, negatives_are_values);
    }
    cmd
}

/// mimalloc's `purge_delay` option (index 15 in both its v2 and v3 option enums).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the OS after a second instead of mimalloc's 10 ms: attacks
/// free and reallocate the same large buffers at every step, and returning them each time
/// made the kernel zero the pages again (7% of a ResNet-18 PGD run; PGD-10 on 300 inputs
/// 10.8 s → 10.1 s attack time, peak memory 388 → 424 MB). `MIMALLOC_PURGE_DELAY` set by
/// the user wins.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option of the allocator; any value is valid for it.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let matches = negatives_are_values(<Cli as clap::CommandFactory>::command()).get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs redirected to a file stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();

    if cli.format == Format::Sarif && !matches!(cli.command, Command::Scan(_)) {
        eprintln!("error: --format sarif is for `aisec scan`; other commands print text or json");
        return ExitCode::from(2);
    }
    if matches!(cli.format, Format::Jsonl | Format::Html)
        && !matches!(cli.command, Command::Llm(llm_cmd::LlmCommand::Probe(_)))
    {
        eprintln!("error: --format jsonl and html are for `aisec llm probe`; other commands print text or json (and write HTML with their own flags)");
        return ExitCode::from(2);
    }
    let device = match aisec_ml::tensor::Compute::parse(&cli.device) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: --device: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = aisec_ml::tensor::select_compute(device) {
        eprintln!("error: --device: {e}");
        return ExitCode::from(2);
    }
    let result = match &cli.command {
        Command::Atlas(cmd) => atlas_cmd::run(&cli, cmd),
        Command::Casestudy(cmd) => casestudy_cmd::run(&cli, cmd),
        Command::Model(cmd) => model_cmd::run(&cli, cmd),
        Command::Data(cmd) => data_cmd::run(&cli, cmd),
        Command::Attack(cmd) => attack_cmd::run(&cli, cmd),
        Command::Defend(cmd) => defend_cmd::run(&cli, cmd),
        Command::Privacy(cmd) => privacy_cmd::run(&cli, cmd),
        Command::Demo(args) => demo_cmd::run(&cli, args),
        Command::Scan(args) => scan_cmd::run(&cli, args),
        Command::Llm(cmd) => llm_cmd::run(&cli, cmd),
        Command::ThreatModel(args) => threat_cmd::run(&cli, args),
        Command::Assess(args) => assess_cmd::run(&cli, args),
        Command::Runs(cmd) => runs_cmd::run(&cli, cmd),
        Command::Report(cmd) => report_cmd::run(&cli, cmd),
        Command::Serve(args) => serve_cmd::run(&cli, args),
    };
    if cli.store
        && !output::OFFERED_A_RUN.load(std::sync::atomic::Ordering::Relaxed)
        && !matches!(cli.command, Command::Serve(_) | Command::Runs(_))
    {
        eprintln!("warning: --store: this command produces no run object; nothing was stored");
    }
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::ProblemsFound) => ExitCode::from(1),
        Ok(Outcome::Errors) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each said once: library errors that already quote
/// their source (an OS error) would otherwise print it twice.
fn one_line(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
