use aisec_core::Metric;
use std::path::PathBuf;

use aisec_ml::native::{Manifest, NativeModel};
use aisec_ml::net::Architecture;
use aisec_ml::train::{accuracy, init_network, predict, train, TrainConfig};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::data_args::{check_fit, DataArgs, ModelArgs, Split};
use aisec_core::Metrics;
use aisec_report::{RunKind, RunReport};

/// Training and evaluating name no ATLAS technique.
const NO_ATLAS: &[&str] = &[];
use crate::output::{print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Trains a built-in architecture and saves safetensors weights plus model.json.
    Train(TrainArgs),
    /// Serves a model over the KServe v2 / Open Inference Protocol (REST) until stopped.
    Serve {
        /// A directory written by `aisec model train` (or its model.json), or an .onnx
        /// classifier.
        #[arg(long)]
        model: String,
        /// The model name in the URL (default: the directory's name, or the file's without
        /// .onnx).
        #[arg(long)]
        name: Option<String>,
        /// Address to listen on: 127.0.0.1 serves this machine only, 0.0.0.0 every interface.
        #[arg(long, alias = "bind", default_value = "127.0.0.1")]
        host: String,
        /// Port to listen on (0: any free port, printed at start).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Query monitoring (AML.M0004): each client address may ask at most N queries;
        /// past that the server answers HTTP 429.
        #[arg(long, value_name = "N")]
        max_queries_per_client: Option<u64>,
        /// Query monitoring (AML.M0004): each client address may ask Q queries per second
        /// (burst of one second); faster requests get HTTP 429 with Retry-After.
        #[arg(long, value_name = "Q")]
        rate_limit: Option<f64>,
        /// Extraction monitoring (PRADA; AML.M0004, AML.M0024): watch each client address's
        /// query stream and log an alert when it stops looking like natural inputs.
        #[arg(long)]
        prada: bool,
        /// With --prada: refuse an alerted client's further queries (HTTP 429).
        #[arg(long, requires = "prada")]
        prada_block: bool,
        /// Constant-time serving against timing side channels (defense.latency-padding,
        /// AML.M0002): every response, errors included, leaves at the next whole multiple of
        /// MS milliseconds after its request arrived, so that every path the model takes
        /// answers in the same time while it fits in MS (0.1 to 60000). The next request is
        /// computed while the last one waits. Measure it with `aisec attack timing`.
        #[arg(long, value_name = "MS", value_parser = parse_quantum)]
        pad_latency: Option<f64>,
    },
    /// What an ONNX file holds — operators (with a node of each), inputs, outputs, parameter
    /// count — and whether aisec can attack it white-box (every operator evaluated and
    /// differentiable). Exit 0 when it can, 1 when it cannot, 2 when the file is unreadable.
    Inspect {
        /// An .onnx file.
        model: std::path::PathBuf,
    },
    /// Accuracy and confusion matrix of a model on data.
    Eval {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// logreg, mlp or cnn.
    #[arg(long, value_parser = parse_arch)]
    pub arch: Architecture,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Epochs (default: the architecture's).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Add Gaussian noise of this standard deviation (input units) to every training input,
    /// freshly drawn each epoch: the base model of randomized smoothing (`--defend
    /// smooth:S`, `aisec defend certify --sigma S`) is trained so (Cohen et al. 2019).
    /// Default 0: no noise.
    #[arg(long, value_name = "SIGMA")]
    pub noise_sigma: Option<f32>,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_quantum(s: &str) -> Result<f64, String> {
    let ms: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of milliseconds"))?;
    aisec_defenses::latency_padding::check_quantum(ms)
}

pub fn parse_arch(s: &str) -> Result<Architecture, String> {
    Architecture::parse(s)
        .ok_or_else(|| format!("`{s}` is not an architecture: expected logreg, mlp or cnn"))
}

pub fn train_config(
    arch: Architecture,
    seed: u64,
    epochs: Option<usize>,
    lr: Option<f64>,
) -> Result<TrainConfig> {
    let mut config = TrainConfig::for_architecture(arch, seed);
    if let Some(e) = epochs {
        if e == 0 {
            bail!("--epochs must be at least 1");
        }
        config.epochs = e;
    }
    if let Some(lr) = lr {
        if !(lr > 0.0 && lr.is_finite()) {
            bail!("--learning-rate must be a positive number");
        }
        config.learning_rate = lr;
    }
    Ok(config)
}

pub fn run(cli: &Cli, cmd: &ModelCommand) -> Result<Outcome> {
    match cmd {
        ModelCommand::Train(args) => {
            let train_set = args.data.load(Split::Train)?;
            train_set.check_trainable()?;
            let test_set = args.data.load(Split::Test)?;
            let mut config = train_config(args.arch, args.seed, args.epochs, args.learning_rate)?;
            if let Some(sigma) = args.noise_sigma {
                if !(sigma.is_finite() && (0.0..=1e6).contains(&sigma)) {
                    bail!("--noise-sigma {sigma}: expected a standard deviation from 0 to 1e6");
                }
                config.noise_sigma = sigma;
            }
            let progress = Progress::new();
            let net = init_network(args.arch, &train_set, args.seed)?;
            let (net, report) = train(net, &train_set, &config, None, |s| {
                progress.message(format!(
                    "training {} on {}: epoch {}/{} accuracy {:.3}",
                    args.arch.name(),
                    train_set.name,
                    s.epoch,
                    config.epochs,
                    s.train_accuracy
                ))
            });
            progress.finish();
            let test_acc = accuracy(&predict(&net, &test_set), &test_set.y);
            let train_acc = report.history.last().map_or(0.0, |s| s.train_accuracy);
            let mut manifest = Manifest::new(args.arch, &train_set, args.seed);
            manifest.training_split = Some(args.data.training_split(&train_set, &test_set));
            manifest
                .metrics
                .insert("clean_accuracy".into(), json!(test_acc));
            manifest
                .metrics
                .insert("test_examples".into(), json!(test_set.len()));
            let wall = report.wall_seconds;
            manifest.training = Some(report);
            NativeModel::new(net, manifest)
                .save(&args.out)
                .with_context(|| format!("cannot save the model to {}", args.out.display()))?;
            let mut metrics = Metrics::default();
            metrics.insert(Metric::CleanAccuracy, test_acc)?;
            metrics.insert(Metric::WallSeconds, wall)?;
            let report = RunReport::new(
                RunKind::Model,
                "model.train",
                NO_ATLAS,
                args.arch.name(),
                aisec_core::Details::new(config.clone()),
                args.seed,
                metrics,
            )
            .with_data(format!(
                "{} ({} training examples)",
                train_set.name,
                train_set.len()
            ))
            .with_observations(aisec_core::Details::new(aisec_report::ModelSaved {
                out: args.out.display().to_string(),
                train_accuracy: Some(train_acc),
                test_examples: Some(test_set.len()),
            }));
            crate::output::store_run(cli, &report)?;
            match cli.format {
                Format::Json => print_json(&report)?,
                Format::Text | Format::Sarif | Format::Jsonl | Format::Html => print_text(&format!(
                    "trained {} on {} ({} training examples{}) in {wall:.1} s\n  train accuracy {:.2}%\n  test accuracy  {:.2}% on {} held-out examples\nsaved to {}\n",
                    args.arch.name(),
                    train_set.name,
                    train_set.len(),
                    if config.noise_sigma > 0.0 {
                        format!(", each seen with Gaussian noise σ = {}", config.noise_sigma)
                    } else {
                        String::new()
                    },
                    100.0 * train_acc,
                    100.0 * test_acc,
                    test_set.len(),
                    args.out.display()
                ))?,
            }
        }
        ModelCommand::Serve {
            model,
            name,
            host,
            port,
            max_queries_per_client,
            rate_limit,
            prada,
            prada_block,
            pad_latency,
        } => {
            let loaded = crate::data_args::open_local(model, None)
                .with_context(|| format!("--model {model}"))?;
            let name = name.clone().unwrap_or_else(|| {
                let path = std::path::Path::new(model);
                let file = if model.ends_with(".onnx") {
                    path.file_stem()
                } else {
                    path.file_name()
                };
                file.map_or("model".into(), |n| n.to_string_lossy().into_owned())
            });
            let mut served: std::sync::Arc<dyn aisec_ml::model::Classifier> =
                std::sync::Arc::from(loaded);
            if max_queries_per_client.is_some() || rate_limit.is_some() {
                use aisec_defenses::query_limit::{
                    Clock, QueryLimit, QueryPolicy, RateLimit, RateMode,
                };
                if let Some(q) = rate_limit.filter(|q| !(q.is_finite() && *q > 0.0)) {
                    anyhow::bail!(
                        "--rate-limit {q}: expected a positive number of queries per second"
                    );
                }
                if *max_queries_per_client == Some(0) {
                    anyhow::bail!("--max-queries-per-client 0: expected at least 1");
                }
                let policy = QueryPolicy {
                    max_queries: *max_queries_per_client,
                    rate: rate_limit.map(RateLimit::per_second),
                    mode: RateMode::Refuse,
                };
                served =
                    std::sync::Arc::new(QueryLimit::with_policy(served, policy, Clock::real()));
            }
            if *prada {
                use aisec_defenses::prada::{Prada, PradaConfig};
                let config = PradaConfig {
                    block: *prada_block,
                    ..PradaConfig::default()
                };
                served = std::sync::Arc::new(Prada::new(served, config));
            }
            let options = aisec_ml::kserve::ServeOptions {
                release: pad_latency.map(|ms| {
                    let quantum = std::time::Duration::from_secs_f64(ms / 1000.0);
                    std::sync::Arc::new(move |arrived, ready| {
                        aisec_defenses::latency_padding::release_at(arrived, ready, quantum)
                    }) as aisec_ml::kserve::Release
                }),
            };
            let server = aisec_ml::kserve::serve_with(
                served.clone(),
                &name,
                &format!("{host}:{port}"),
                options,
            )?;
            let padding = pad_latency.map_or(String::new(), |ms| {
                format!("; every response padded to a {ms} ms grid")
            });
            eprintln!("serving {name} at kserve+http://{}/v2/models/{name} (KServe v2 REST): {}{padding}; stop with Ctrl-C", server.addr, served.info().description);
            server.wait();
        }
        ModelCommand::Inspect { model } => return crate::inspect_cmd::run(cli, model),
        ModelCommand::Eval { model, data } => {
            let ds = data.load(if data.is_builtin() {
                Split::Test
            } else {
                Split::All
            })?;
            let model = model.open(None, &ds)?;
            check_fit(model.as_ref(), &ds)?;
            let predicted = model.evaluate(&ds.x)?;
            let classes = model.info().num_classes;
            let mut confusion = vec![vec![0usize; classes]; classes];
            for (p, t) in predicted.iter().zip(&ds.y) {
                confusion[*t][*p] += 1;
            }
            let acc = accuracy(&predicted, &ds.y);
            let mut metrics = Metrics::default();
            metrics.insert(Metric::CleanAccuracy, acc)?;
            let report =
                RunReport::new(
                    RunKind::Model,
                    "model.eval",
                    NO_ATLAS,
                    &model.info().description,
                    aisec_core::Details::new(aisec_report::NoSettings {}),
                    0,
                    metrics,
                )
                .with_data(format!("{} ({} examples)", ds.name, ds.len()))
                .with_observations(aisec_core::Details::new(aisec_report::ModelEvaluated {
                    examples: ds.len(),
                    confusion_matrix: confusion.clone(),
                }));
            crate::output::store_run(cli, &report)?;
            match cli.format {
                Format::Json => print_json(&report)?,
                Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
                    let mut out = format!("{} on {} ({} examples): accuracy {:.2}%\n\nconfusion matrix (rows: true class, columns: predicted)\n     ", model.info().description, ds.name, ds.len(), 100.0 * acc);
                    for c in 0..classes {
                        out.push_str(&format!("{c:>5}"));
                    }
                    out.push('\n');
                    for (t, row) in confusion.iter().enumerate() {
                        out.push_str(&format!("{t:>5}"));
                        for v in row {
                            out.push_str(&format!("{v:>5}"));
                        }
                        out.push('\n');
                    }
                    print_text(&out)?;
                }
            }
        }
    }
    Ok(Outcome::Ok)
}
