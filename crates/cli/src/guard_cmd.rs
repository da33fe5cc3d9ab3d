//! `aisec llm guard`: train, evaluate and query the prompt-injection guard.

use std::path::PathBuf;

use aisec_llm::guard::data::{self, Columns};
use aisec_llm::guard::lexical::LexicalConfig;
use aisec_llm::guard::{report, Guard};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::output::{self, Format};
use crate::{Cli, Outcome};

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Train a guard on labelled prompts (1 = injection/jailbreak, 0 = benign) and write it
    /// to a directory (guard.json + lexical.bin). The threshold is the one that maximises F1
    /// on the --validation rows pooled (0.5 without them) and is recorded with the guard.
    Train(TrainArgs),
    /// Measure a guard on labelled prompts: detection precision and recall, F1,
    /// false-positive rate and AUC at the guard's recorded threshold, latency per prompt.
    /// A file whose labels are all 1 is valid: then only recall is defined.
    Eval(EvalArgs),
    /// Score one text: verdict, score, threshold and the detector behind it. Exit 1 when
    /// flagged.
    Check(CheckArgs),
    /// Run the guarding proxy: an OpenAI-compatible endpoint that checks each request's
    /// messages before forwarding them upstream and each reply (streamed or not) before
    /// returning it, and logs every decision as a JSON line. Runs until stopped.
    Serve(ServeArgs),
    /// Attack the guard itself: every probe's attacker-written text, plain, under each buff,
    /// and under a white-box edit attack that reads the lexical model's heaviest n-grams and
    /// rewrites them (paraphrase, else a two-letter transposition) until the text passes.
    /// Reports the detection rate per transform with 95% intervals.
    Attack(AttackArgs),
    /// Turn chatterbot-corpus's data folder (scripts/fetch-chat-corpus.sh fetches it) into
    /// benign training, validation and test files for `guard train` and `guard eval`:
    /// chat-train.csv, chat-validation.csv, chat-test.csv (columns text, label = 0, language),
    /// every distinct utterance once, split 60/20/20 by a hash of its text.
    ChatCorpus(ChatCorpusArgs),
    /// Turn the evals registry's data folder (scripts/fetch-task-corpus.sh fetches it) into
    /// benign training, validation and test files of task-shaped messages: task-train.csv,
    /// task-validation.csv, task-test.csv (columns text, label = 0, eval), at most 20 distinct
    /// user messages per eval, evals of attacks and encoded text left out, split 60/20/20 by a
    /// hash of the text.
    TaskCorpus(ChatCorpusArgs),
}

#[derive(Debug, Args)]
pub struct ChatCorpusArgs {
    /// The corpus's data folder: for `chat-corpus` one folder per language of YAML
    /// conversation files, for `task-corpus` one folder per eval of JSONL samples.
    pub corpus: PathBuf,
    /// Where the three CSV files are written.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct AttackArgs {
    /// A guard directory from `guard train`; by default the guard shipped in the binary.
    #[arg(long, value_name = "DIR")]
    pub guard: Option<PathBuf>,
    /// Probes or families whose payloads are used (`aisec llm list`).
    #[arg(long, default_value = "all")]
    pub probes: String,
    /// Word rewrites the white-box attacker may make per text.
    #[arg(long, default_value_t = 8)]
    pub max_edits: usize,
    /// Seed of the planted values filled into the payloads (as `llm probe --seed`).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The API to guard: openai+http(s)://HOST:PORT/v1.
    #[arg(long)]
    pub upstream: String,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
    /// Address to listen on: 127.0.0.1 serves this machine only, 0.0.0.0 every interface.
    #[arg(long = "host", alias = "bind", default_value = "127.0.0.1")]
    pub bind: String,
    /// A guard directory from `guard train`; by default the guard shipped in the binary.
    #[arg(long, value_name = "DIR")]
    pub guard: Option<PathBuf>,
    /// Forward everything and mark what the guard flags (x-aisec-guard header, an SSE
    /// comment in streams) instead of blocking it. Blocking is the default: a flagged request
    /// gets HTTP 400 with error code content_filter, a flagged reply comes back empty with
    /// finish_reason content_filter.
    #[arg(long)]
    pub flag: bool,
    /// A secret no reply may carry (repeatable); codes, e-mail addresses and phone numbers in
    /// each request's system prompt are protected without being named.
    #[arg(long, value_name = "TEXT")]
    pub secret: Vec<String>,
    /// The message roles whose text is checked (comma-separated). `system` is left out by
    /// default: the system prompt is the application's own, and persona text such as "You
    /// are a helpful travel assistant." scores 0.91 with the shipped guard (its training data
    /// labels persona prompts as jailbreaks). Add it to check templates you do not trust.
    #[arg(long, default_value = "user,tool,function", value_delimiter = ',')]
    pub check_roles: Vec<String>,
    /// Append each decision (request and reply: verdict, detector, score, evidence, guard
    /// time) as a JSON line to this file (AML.M0024 AI Telemetry Logging).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Upstream timeout per request, in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// A PEM CA certificate to trust for an https upstream instead of the Web PKI roots.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ColumnArgs {
    /// The column with the text.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// The column with the label (0/1, true/false).
    #[arg(long, default_value = "label")]
    pub label_column: String,
}

impl ColumnArgs {
    fn columns(&self) -> Columns {
        Columns {
            text: self.text_column.clone(),
            label: self.label_column.clone(),
            group: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training files (CSV with a header, or Parquet); all rows of all files are pooled.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
    /// Validation files: the threshold is chosen on them and their figures recorded.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub validation: Vec<PathBuf>,
    /// The guard directory to write.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Inverse L2 regularisation of the logistic regression (scikit-learn's C).
    #[arg(long, default_value_t = LexicalConfig::default().c)]
    pub c: f64,
    /// Keep an n-gram only when at least this many training texts contain it.
    #[arg(long, default_value_t = LexicalConfig::default().min_df)]
    pub min_df: u32,
    /// Also train the neural detector's head on all-MiniLM-L6-v2 embeddings: the directory
    /// with its model.safetensors and vocab.txt (scripts/fetch-minilm.sh prints one). Embedding
    /// every row takes minutes on a CPU.
    #[arg(long, value_name = "DIR")]
    pub encoder: Option<PathBuf>,
    /// The neural head's C (scikit-learn's meaning). Measured on the shipped data: C=2 gives
    /// validation F1 0.9726 / 0.9593 (S-Labs / neuralchemy), C=16 0.9688 / 0.9608.
    #[arg(long, default_value_t = 2.0)]
    pub neural_c: f64,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A guard directory from `guard train`; by default the guard shipped in the binary.
    #[arg(long, value_name = "DIR")]
    pub guard: Option<PathBuf>,
    /// The labelled file (CSV with a header, or Parquet).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Evaluate the neural detector (the guard's MiniLM head) instead of the lexical one,
    /// with the encoder in this directory (model.safetensors + vocab.txt).
    #[arg(long, value_name = "DIR")]
    pub encoder: Option<PathBuf>,
    /// Also report recall and false-positive rate per value of this column (e.g. a dataset's
    /// attack category, to see the hard negatives on their own).
    #[arg(long, value_name = "NAME")]
    pub group_column: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A guard directory from `guard train`; by default the guard shipped in the binary.
    #[arg(long, value_name = "DIR")]
    pub guard: Option<PathBuf>,
    /// The text to score; `-` reads it from standard input.
    pub text: String,
}

pub fn run(cli: &Cli, cmd: &GuardCommand) -> Result<Outcome> {
    match cmd {
        GuardCommand::Train(a) => train(cli, a),
        GuardCommand::Eval(a) => eval(cli, a),
        GuardCommand::Check(a) => check(cli, a),
        GuardCommand::Serve(a) => serve(a),
        GuardCommand::Attack(a) => attack(cli, a),
        GuardCommand::ChatCorpus(a) => benign_corpus(cli, a, Corpus::Chat),
        GuardCommand::TaskCorpus(a) => benign_corpus(cli, a, Corpus::Task),
    }
}

#[derive(PartialEq)]
enum Corpus {
    Chat,
    Task,
}

fn benign_corpus(cli: &Cli, a: &ChatCorpusArgs, corpus: Corpus) -> Result<Outcome> {
    use aisec_llm::guard::{chat_corpus, task_corpus};
    let (utterances, prefix, group, groups_word) = match corpus {
        Corpus::Chat => (
            chat_corpus::read(&a.corpus)?,
            "chat",
            "language",
            "languages",
        ),
        Corpus::Task => (task_corpus::read(&a.corpus)?, "task", "eval", "evals"),
    };
    let written = chat_corpus::write_splits(&utterances, &a.out, prefix, group)?;
    let groups: std::collections::BTreeSet<&str> =
        utterances.iter().map(|u| u.group.as_str()).collect();
    let files: Vec<serde_json::Value> = written
        .iter()
        .map(|(p, n)| serde_json::json!({"path": p, "rows": n}))
        .collect();
    let text = written
        .iter()
        .map(|(p, n)| format!("{n:>6} rows  {}", p.display()))
        .collect::<Vec<_>>()
        .join("\n");
    if cli.format == Format::Json {
        output::print_json(
            &serde_json::json!({"utterances": utterances.len(), groups_word: groups.len(), "files": files}),
        )?;
    } else {
        output::print_text(&format!(
            "{} distinct utterances in {} {groups_word}, all benign (label 0):\n{text}\n",
            utterances.len(),
            groups.len()
        ))?;
    }
    Ok(Outcome::Ok)
}

fn read_all(paths: &[PathBuf], columns: &Columns) -> Result<Vec<(String, Vec<data::Example>)>> {
    paths
        .iter()
        .map(|p| Ok((p.display().to_string(), data::read(p, columns)?)))
        .collect()
}

fn fmt(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.4}"))
}

/// One line of figures per validation file.
fn validation_lines(data: &[aisec_llm::guard::DataRef]) -> String {
    data.iter()
        .filter_map(|v| {
            let f = v.figures.as_ref()?;
            Some(format!(
                "  {}: F1 {}, precision {}, recall {}, FPR {}, AUC {}\n",
                v.path,
                fmt(f.f1),
                fmt(f.precision),
                fmt(f.recall),
                fmt(f.false_positive_rate),
                fmt(f.auc)
            ))
        })
        .collect()
}

fn train(cli: &Cli, a: &TrainArgs) -> Result<Outcome> {
    if !(a.c > 0.0 && a.c.is_finite()) {
        anyhow::bail!("--c {}: expected a positive number", a.c);
    }
    let columns = a.columns.columns();
    let training = read_all(&a.data, &columns)?;
    let validation = read_all(&a.validation, &columns)?;
    let config = LexicalConfig {
        c: a.c,
        min_df: a.min_df.max(1),
        ..LexicalConfig::default()
    };
    let mut guard = Guard::train(&training, &validation, &config)?;
    if let Some(dir) = &a.encoder {
        let encoder = aisec_llm::guard::minilm::MiniLm::load(dir)?;
        guard.neural = Some(aisec_llm::guard::neural::NeuralHead::train(
            &encoder,
            "all-MiniLM-L6-v2",
            &training,
            &validation,
            a.neural_c,
        ));
    }
    guard
        .save(&a.out)
        .with_context(|| format!("--out {}", a.out.display()))?;
    if cli.format == Format::Json {
        output::print_json(&guard.meta)?;
        return Ok(Outcome::Ok);
    }
    let s = &guard.meta.train_stats;
    let mut out = format!(
        "trained on {} rows ({} injections) in {:.1} s: {} features, {} L-BFGS iterations; {} bytes\nthreshold {:.4} ({})\n",
        s.rows, s.positives, s.seconds, s.features, s.iterations, guard.meta.model_bytes,
        guard.meta.threshold, guard.meta.threshold_rule
    );
    out.push_str(&validation_lines(&guard.meta.validation_data));
    if let Some(h) = &guard.neural {
        out.push_str(&format!(
            "neural head on {} embeddings in {:.0} s, threshold {:.4}\n",
            h.training_rows, h.train_seconds, h.threshold
        ));
        out.push_str(&validation_lines(&h.validation_data));
    }
    out.push_str(&format!("written to {}\n", a.out.display()));
    output::print_text(&out)?;
    Ok(Outcome::Ok)
}

fn eval(cli: &Cli, a: &EvalArgs) -> Result<Outcome> {
    let guard = Guard::load(a.guard.as_deref())?;
    let columns = Columns {
        group: a.group_column.clone(),
        ..a.columns.columns()
    };
    let rows = data::read(&a.data, &columns)?;
    let groups: Vec<String> = rows.iter().filter_map(|r| r.group.clone()).collect();
    let data_name = a.data.display().to_string();
    let (e, run) = match &a.encoder {
        None => {
            let e = report::evaluate(&guard, &data_name, &rows, &groups);
            let run = report::run_report(&guard, &e);
            (e, run)
        }
        Some(dir) => {
            let Some(head) = &guard.neural else {
                anyhow::bail!(
                    "--encoder: {} has no neural head (train one with `llm guard train --encoder DIR`)",
                    guard.describe()
                );
            };
            let encoder = aisec_llm::guard::minilm::MiniLm::load(dir)?;
            let e = report::evaluate_neural(head, &encoder, &data_name, &rows, &groups);
            let run = report::neural_run_report(&guard, head, &dir.display().to_string(), &e);
            (e, run)
        }
    };
    output::store_run(cli, &run)?;
    if cli.format == Format::Json {
        output::print_json(&run)?;
        return Ok(Outcome::Ok);
    }
    let f = &e.figures;
    let lat = e.latency.as_ref().map_or("n/a".into(), |l| {
        format!("p50 {:.1} µs, p99 {:.1} µs", l.p50_us, l.p99_us)
    });
    output::print_text(&format!(
        "{}: {} rows, {} labelled 1; threshold {:.4}\nF1 {}{}, precision {}, recall {}, false-positive rate {}, AUC {} (TP {}, FP {}, FN {}, TN {})\nlatency per text: {lat}\n",
        e.data,
        f.rows,
        f.positives,
        f.threshold,
        fmt(f.f1),
        e.f1_ci95.map_or(String::new(), |(lo, hi)| format!(" (95% CI {lo:.4}–{hi:.4})")),
        fmt(f.precision),
        fmt(f.recall),
        fmt(f.false_positive_rate),
        fmt(f.auc),
        f.true_positives,
        f.false_positives,
        f.false_negatives,
        f.true_negatives,
    ))?;
    let mut out = String::new();
    for g in &e.groups {
        out.push_str(&format!(
            "  {:<24} {:>5} rows: recall {}, false-positive rate {}\n",
            g.group,
            g.rows,
            fmt(g.recall),
            fmt(g.false_positive_rate)
        ));
    }
    output::print_text(&out)?;
    Ok(Outcome::Ok)
}

fn check(cli: &Cli, a: &CheckArgs) -> Result<Outcome> {
    let guard = Guard::load(a.guard.as_deref())?;
    let text = if a.text == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the text from standard input")?
    } else {
        a.text.clone()
    };
    let c = guard.check(&text);
    if cli.format == Format::Json {
        output::print_json(&c)?;
    } else {
        output::print_text(&format!(
            "{} score {:.4} (threshold {:.4}, {}){}\n",
            if c.flagged { "FLAGGED" } else { "passed" },
            c.score,
            c.threshold,
            c.detector,
            if c.evidence.is_empty() {
                String::new()
            } else {
                format!(": {}", c.evidence)
            }
        ))?;
    }
    Ok(if c.flagged {
        Outcome::ProblemsFound
    } else {
        Outcome::Ok
    })
}

fn serve(a: &ServeArgs) -> Result<Outcome> {
    use aisec_llm::guard::proxy::{self, Mode, ProxyConfig};
    let Some(base) = a.upstream.strip_prefix("openai+") else {
        anyhow::bail!(
            "--upstream {}: expected openai+http(s)://HOST:PORT/v1 (the proxy speaks the OpenAI chat API)",
            a.upstream
        );
    };
    let guard = std::sync::Arc::new(Guard::load(a.guard.as_deref())?);
    let mut config = ProxyConfig::new(base);
    config.mode = if a.flag { Mode::Flag } else { Mode::Block };
    config.secrets = a.secret.clone();
    config.check_roles = a.check_roles.iter().map(|r| r.trim().to_string()).collect();
    config.log = a.log.clone();
    config.timeout_s = a.timeout;
    config.ca_cert = a.ca_cert.clone();
    let running = proxy::start(guard.clone(), config, &format!("{}:{}", a.bind, a.port))?;
    eprintln!(
        "aisec guard proxy on {} → {base} ({}, {}, threshold {:.4}){}",
        running.base_url,
        if a.flag { "flagging" } else { "blocking" },
        guard.describe(),
        guard.meta.threshold,
        a.log.as_ref().map_or(String::new(), |l| format!(
            ", decisions logged to {}",
            l.display()
        ))
    );
    running.wait();
    Ok(Outcome::Ok)
}

fn attack(cli: &Cli, a: &AttackArgs) -> Result<Outcome> {
    use aisec_core::{Metric, Metrics};
    use aisec_llm::guard::adaptive;
    let guard = Guard::load(a.guard.as_deref())?;
    let selected = aisec_llm::probes::select(&a.probes).map_err(anyhow::Error::msg)?;
    let ctx = aisec_llm::context::ProbeContext::new(a.seed, None);
    let started = std::time::Instant::now();
    let rows = adaptive::evaluate(&guard, &selected, &ctx, a.max_edits);
    let plain = &rows[0];
    let white = rows.last().expect("the white-box row");
    let mut metrics = Metrics::default();
    metrics.insert(Metric::DetectionRecall, plain.detection_rate)?;
    metrics.insert(Metric::AttackSuccessRate, 1.0 - white.detection_rate)?;
    metrics.insert(Metric::WallSeconds, started.elapsed().as_secs_f64())?;
    let report = aisec_report::RunReport::new(
        aisec_report::RunKind::Attack,
        "llm.guard-evasion",
        adaptive::ATLAS,
        guard.describe(),
        aisec_core::Details::new(adaptive::GuardEvasionSettings {
            probes: a.probes.clone(),
            max_edits: a.max_edits,
            seed: a.seed,
            threshold: guard.meta.threshold,
            metrics_note: "detection_recall: plain payloads caught; attack_success_rate: conversations the white-box edit attack got past the guard",
        }),
        a.seed,
        metrics,
    )
    .with_observations(aisec_core::Details::new(adaptive::GuardEvasionObservations {
        transforms: rows.clone(),
    }));
    output::store_run(cli, &report)?;
    if cli.format == Format::Json {
        output::print_json(&report)?;
        return Ok(Outcome::Ok);
    }
    let mut out = format!(
        "the guard ({}, threshold {:.4}) against every probe's attacker text\n{:<16} {:>6}  detection (95% CI)\n",
        guard.describe(),
        guard.meta.threshold,
        "transform",
        "caught"
    );
    for r in &rows {
        out.push_str(&format!(
            "{:<16} {:>3}/{:<3} {:.0}%{}{}\n",
            r.transform,
            r.caught,
            r.conversations,
            100.0 * r.detection_rate,
            r.ci95.map_or(String::new(), |(lo, hi)| format!(
                " ({:.0}–{:.0}%)",
                100.0 * lo,
                100.0 * hi
            )),
            r.mean_edits
                .map_or(String::new(), |m| format!(", {m:.1} edits per evasion")),
        ));
    }
    output::print_text(&out)?;
    Ok(if white.detection_rate < 1.0 {
        Outcome::ProblemsFound
    } else {
        Outcome::Ok
    })
}
