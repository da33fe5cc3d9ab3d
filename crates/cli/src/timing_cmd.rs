//! `aisec attack timing`: the timing side channel of an inference API. A remote KServe v2
//! endpoint is queried where it is; a local model is served over HTTP on 127.0.0.1 by the
//! same server as `aisec model serve`, so that the clock sees a real request path, and with
//! `--defend pad-latency[:MS]` served again behind response padding and attacked again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aisec_attacks::sidechannel::timing::{self, Probes, TimingConfig, TimingOutcome};
use aisec_defenses::latency_padding::{self, LatencyPaddingConfig};
use aisec_defenses::{Defense, DefenseSpec, Family};
use aisec_ml::data::{self, Dataset};
use aisec_ml::kserve::{self, KServeModel, KServeOptions, ServeOptions, ShapeHint};
use aisec_ml::model::Classifier;
use anyhow::{bail, Context, Result};
use clap::Args;

use crate::atlas_cmd::load_kb;
use crate::data_args::{check_fit, DataArgs, ModelArgs, Split};
use crate::output::{print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct TimingArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The probe inputs (the first --inputs of them; a built-in dataset's test split).
    /// Leave out with --members and --non-members.
    #[command(flatten)]
    pub data: DataArgs,
    /// A CSV of records the target was trained on (label column as --label-column, else
    /// the last): half the probe inputs are drawn from it, and the attack tests whether the
    /// response time separates them from --non-members.
    #[arg(long, value_name = "CSV", requires = "non_members")]
    pub members: Option<PathBuf>,
    /// A CSV of records from the same distribution that the target never saw.
    #[arg(long, value_name = "CSV", requires = "members")]
    pub non_members: Option<PathBuf>,
    /// Probe inputs (10 to 100000; with --members, half from each file).
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    pub inputs: usize,
    /// Queries per input, one per round; each round visits the inputs in a fresh random
    /// order. Each input's time is the median of its rounds.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    pub repeats: usize,
    /// Queries sent first and not measured (connections, caches, lazy initialisation).
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    pub warmup: usize,
    /// Significance level over all the properties tested, divided among them (Bonferroni).
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub alpha: f64,
    /// The AUC a significant property must reach (or 1 − AUC, whichever group is slower) to
    /// be called a leak: the chance that a slower group's input is timed above a faster
    /// group's. 0.5 calls every significant difference a leak.
    #[arg(long, default_value_t = 0.6, allow_negative_numbers = true)]
    pub min_auc: f64,
    /// The difference of the compared groups' median times, in microseconds, that a
    /// significant property must reach to be called a leak. Below it (formatting and
    /// parsing different numbers costs a few µs) the difference is reported, not called a
    /// leak; 0 calls any.
    #[arg(
        long = "min-difference",
        value_name = "MICROSECONDS",
        default_value_t = 10.0,
        allow_negative_numbers = true
    )]
    pub min_difference_us: f64,
    /// Bootstrap draws for the intervals and shuffles for the permutation test.
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub resamples: usize,
    /// `pad-latency[:MS]`: serve the local model again with every response leaving on a grid
    /// of MS milliseconds after its request arrived (default: twice the undefended run's
    /// 99th-percentile time, rounded up to a whole millisecond) and attack again. A remote
    /// target is padded where it is served (`aisec model serve --pad-latency MS`).
    #[arg(long, value_parser = crate::attack_cmd::parse_defense)]
    pub defend: Option<DefenseSpec>,
    /// Seeds the query order, the bootstrap and the permutations.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The probe inputs with what is known of them.
struct ProbeSet {
    data: Dataset,
    member: Option<Vec<bool>>,
    description: String,
}

fn probes(args: &TimingArgs) -> Result<ProbeSet> {
    let (Some(members), Some(outsiders)) = (&args.members, &args.non_members) else {
        let split = if args.data.is_builtin() {
            Split::Test
        } else {
            Split::All
        };
        let data = args.data.load_first(split, Some(args.inputs))?;
        let description = format!(
            "{} ({} probe inputs)",
            data.name,
            data.len().min(args.inputs)
        );
        return Ok(ProbeSet {
            data,
            member: None,
            description,
        });
    };
    if args.data.is_builtin() || args.data.source_given() {
        bail!("--members and --non-members are the probe inputs: drop --dataset/--data/--csv/--images/--cifar");
    }
    let half = args.inputs / 2;
    let read = |path: &PathBuf, flag: &str| -> Result<Dataset> {
        let d = data::read_csv(path, args.data.label_column.as_deref(), None)
            .with_context(|| format!("{flag} {}", path.display()))?;
        if d.len() < timing::MIN_GROUP {
            bail!(
                "{flag} {}: {} records, at least {} are needed",
                path.display(),
                d.len(),
                timing::MIN_GROUP
            );
        }
        Ok(d)
    };
    let same = |a: &PathBuf, b: &PathBuf| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };
    if same(members, outsiders) {
        bail!(
            "--members and --non-members are the same file ({}): membership needs records the model never saw",
            members.display()
        );
    }
    let inside = read(members, "--members")?;
    let outside = read(outsiders, "--non-members")?;
    if inside.features() != outside.features() {
        bail!(
            "--members has {} features per record and --non-members {}",
            inside.features(),
            outside.features()
        );
    }
    // As many of each as both files allow, so that the groups stay balanced.
    let (a, b) = (half.min(inside.len()), half.min(outside.len()));
    if a < half || b < half {
        tracing::warn!(
            "--inputs {} asks for {half} records of each file; --members has {} and --non-members {}: {a} and {b} are used",
            args.inputs,
            inside.len(),
            outside.len()
        );
    }
    let mut data = inside.subset(&(0..a).collect::<Vec<_>>());
    let rest = outside.subset(&(0..b).collect::<Vec<_>>());
    data.x.extend_from_slice(&rest.x);
    data.y.extend_from_slice(&rest.y);
    data.num_classes = inside.num_classes.max(outside.num_classes);
    data.name = "members and non-members".into();
    let mut member = vec![true; a];
    member.extend(vec![false; b]);
    Ok(ProbeSet {
        description: format!(
            "{a} records of --members {} and {b} of --non-members {}",
            members.display(),
            outsiders.display()
        ),
        data,
        member: Some(member),
    })
}

/// A local model served on 127.0.0.1 (padded or not) and a client for it.
fn served_locally(
    model: Arc<dyn Classifier>,
    data: &Dataset,
    quantum: Option<Duration>,
    timeout: u64,
) -> Result<(kserve::Server, KServeModel)> {
    let options = ServeOptions {
        release: quantum.map(|q| {
            Arc::new(move |arrived, ready| latency_padding::release_at(arrived, ready, q))
                as kserve::Release
        }),
    };
    let server = kserve::serve_with(model, "target", "127.0.0.1:0", options)?;
    let url = format!("kserve+http://{}/v2/models/target", server.addr);
    let client = KServeModel::connect_with(
        &url,
        &KServeOptions {
            max_queries: None,
            timeout: Duration::from_secs(timeout),
            ca_cert: None,
            bearer_token: None,
            output: None,
            shape_hint: Some(ShapeHint {
                sample_shape: data.sample_shape.clone(),
                num_classes: data.num_classes,
            }),
        },
    )?;
    Ok((server, client))
}

pub fn run(cli: &Cli, args: &TimingArgs) -> Result<Outcome> {
    let config = TimingConfig {
        inputs: args.inputs,
        repeats: args.repeats,
        warmup: args.warmup,
        alpha: args.alpha,
        min_auc: args.min_auc,
        min_difference_us: args.min_difference_us,
        resamples: args.resamples,
    };
    if let Err(e) = config.check() {
        bail!(e);
    }
    let remote = args.model.model.starts_with("kserve+");
    if args.model.timeout == 0 {
        bail!("--timeout 0: each query needs at least 1 second (local models are timed over HTTP too)");
    }
    let padding = match &args.defend {
        None => None,
        Some(d) => {
            if let Err(e) = d.check_family(Family::SideChannel) {
                bail!(e);
            }
            if remote {
                bail!(
                    "--defend {}: a remote target is padded where it is served (`aisec model serve --pad-latency MS`, or the serving stack's own padding); attack that endpoint again to measure it",
                    d.info().forms[0]
                );
            }
            Some(
                d.config::<LatencyPaddingConfig>()
                    .copied()
                    .context("--defend: not a padding defence")?,
            )
        }
    };
    let set = probes(args)?;
    if set.data.len() < 2 * timing::MIN_GROUP {
        bail!(
            "{} has {} inputs: the timing tests need at least {}",
            set.description,
            set.data.len(),
            2 * timing::MIN_GROUP
        );
    }
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    let mut say = |m: String| progress.message(m);
    let labels = Some(set.data.y.as_slice());
    let run_on = |client: &dyn Classifier, say: &mut dyn FnMut(String)| -> Result<TimingOutcome> {
        let probes = Probes {
            x: &set.data.x,
            labels,
            member: set.member.as_deref(),
        };
        Ok(timing::run(client, &probes, &config, args.seed, say)?)
    };
    let (target, served, outcome, local) = if remote {
        let client = args.model.open(None, &set.data)?;
        check_fit(client.as_ref(), &set.data)?;
        let outcome = run_on(client.as_ref(), &mut say)?;
        (
            client.info().description.clone(),
            format!("queried at {}", args.model.model),
            outcome,
            None,
        )
    } else {
        let model: Arc<dyn Classifier> = Arc::from(args.model.open(None, &set.data)?);
        check_fit(model.as_ref(), &set.data)?;
        let (server, client) = served_locally(model.clone(), &set.data, None, args.model.timeout)?;
        let outcome = run_on(&client, &mut say)?;
        drop(server);
        (
            model.info().description.clone(),
            "served by aisec's KServe v2 server on 127.0.0.1 (one request at a time), timed by its client".to_string(),
            outcome,
            Some(model),
        )
    };
    let mut report = aisec_assess::timing::report(
        &outcome,
        &kb,
        &target,
        &set.description,
        args.seed,
        &served,
        None,
    );
    let mut defended = None;
    if let (Some(padding), Some(model)) = (padding, local) {
        let quantum_ms = padding.quantum_ms.unwrap_or_else(|| {
            LatencyPaddingConfig::quantum_for(
                outcome.latency.as_ref().map_or(1.0, |l| l.p99_us / 1000.0),
            )
        });
        if quantum_ms >= args.model.timeout as f64 * 1000.0 {
            bail!(
                "--defend pad-latency:{quantum_ms}: every padded answer would take at least {quantum_ms} ms, past --timeout {} s; raise --timeout or choose a shorter quantum",
                args.model.timeout
            );
        }
        say(format!("timing again behind {quantum_ms} ms padding"));
        let quantum = Duration::from_secs_f64(quantum_ms / 1000.0);
        let (server, client) = served_locally(model, &set.data, Some(quantum), args.model.timeout)?;
        let after = run_on(&client, &mut say)?;
        drop(server);
        let chosen = LatencyPaddingConfig {
            quantum_ms: Some(quantum_ms),
        };
        let defended_report = aisec_assess::timing::report(
            &after,
            &kb,
            &target,
            &set.description,
            args.seed,
            &format!("{served}, every response on a {quantum_ms} ms grid"),
            Some(quantum_ms),
        );
        report = aisec_assess::timing::with_defense(report, chosen.reference(), defended_report);
        defended = Some((after, quantum_ms));
    }
    progress.finish();
    crate::output::store_run(cli, &report)?;
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            let mut out = render(&outcome, &target, &set.description, &served);
            if let Some((after, quantum_ms)) = &defended {
                out.push_str(&format!(
                    "\nbehind response padding (defense.latency-padding, AML.M0002; every response on a {quantum_ms} ms grid):\n"
                ));
                out.push_str(&render_body(after));
                out.push_str(&comparison(&outcome, after, *quantum_ms));
            }
            print_text(&out)?;
        }
    }
    // An incomplete measurement is not a clean result.
    let stopped = outcome.stopped.is_some()
        || defended
            .as_ref()
            .is_some_and(|(after, _)| after.stopped.is_some());
    Ok(if stopped {
        Outcome::ProblemsFound
    } else {
        Outcome::Ok
    })
}

fn render(o: &TimingOutcome, target: &str, data: &str, served: &str) -> String {
    format!(
        "timing side channel (sidechannel.timing; AML.T0040, AML.T0063, AML.T0024.000) of {target}\n  {served}\n  probes: {data}\n{}",
        render_body(o)
    )
}

fn render_body(o: &TimingOutcome) -> String {
    use aisec_assess::timing::{count, describe, duration, p_value};
    let c = &o.config;
    let partial = o.inputs.iter().any(|t| t.observations > o.rounds);
    let mut out = format!(
        "  {} × {}{} in random order, {} sent ({} warm-up), {:.1} s\n",
        count(o.inputs_timed, "input", "inputs"),
        count(o.rounds, "complete round", "complete rounds"),
        if partial { " and part of another" } else { "" },
        count(o.queries as usize, "query", "queries"),
        c.warmup.min(o.queries as usize),
        o.seconds
    );
    if let Some(why) = &o.stopped {
        out.push_str(&format!(
            "  STOPPED EARLY: {why}; the tests use what was measured\n"
        ));
    }
    if let Some(l) = &o.latency {
        out.push_str(&format!(
            "  response time: median {}, p90 {}, p99 {}, max {}; per-input medians span {} (10th to 90th percentile); one input's own jitter {}\n",
            duration(l.p50_us),
            duration(l.p90_us),
            duration(l.p99_us),
            duration(l.max_us),
            duration(l.between_inputs_us),
            l.jitter_us.map_or("not measured (one round)".into(), |j| format!("{} (median absolute deviation)", duration(j)))
        ));
    }
    if let Some(d) = &o.input_dependence {
        out.push_str(&format!(
            "  does the time depend on the input at all? split-half rank correlation {:.2} (p = {}): {}\n",
            d.split_half_spearman,
            p_value(d.p),
            if d.depends { "yes" } else { "no" }
        ));
    }
    let tested = o.properties.len().max(1);
    out.push_str(&format!(
        "  a leak: p < {} / {} (permutation test, {} shuffles), AUC ≥ {} and medians {} apart; seed {}, {} bootstrap draws\n",
        c.alpha,
        count(tested, "property", "properties"),
        o.properties.first().map_or(c.resamples, |t| t.permutations),
        c.min_auc,
        duration(c.min_difference_us),
        o.seed,
        c.resamples
    ));
    for t in &o.properties {
        out.push_str(&format!(
            "  {:<8} {}: {}\n",
            if t.leaks { "LEAKS" } else { "no leak" },
            t.property.as_str(),
            describe(t)
        ));
    }
    for u in &o.untested {
        out.push_str(&format!(
            "  untested {}: {}\n",
            u.property.as_str(),
            u.reason
        ));
    }
    if o.inconsistent_answers > 0 {
        out.push_str(&format!(
            "  {} got different answers in different rounds (a randomised defence or a nondeterministic model)\n",
            count(o.inconsistent_answers, "input", "inputs")
        ));
    }
    out
}

fn comparison(before: &TimingOutcome, after: &TimingOutcome, quantum_ms: f64) -> String {
    let mut out = String::from("  before → after (AUC, whichever group is slower):\n");
    for b in &before.properties {
        if let Some(a) = after.properties.iter().find(|a| a.property == b.property) {
            out.push_str(&format!(
                "    {}: {:.3} → {:.3} ({} → {})\n",
                b.property.as_str(),
                b.separation(),
                a.separation(),
                if b.leaks { "leaks" } else { "no leak" },
                if a.leaks { "leaks" } else { "no leak" }
            ));
        }
    }
    if let (Some(b), Some(a)) = (&before.latency, &after.latency) {
        out.push_str(&format!(
            "  cost: mean response time {} → {} (+{})\n",
            aisec_assess::timing::duration(b.mean_us),
            aisec_assess::timing::duration(a.mean_us),
            aisec_assess::timing::duration((a.mean_us - b.mean_us).max(0.0))
        ));
        if a.p50_us > 1.2 * quantum_ms * 1000.0 {
            out.push_str(&format!(
                "  note: the median answer took {} against the {quantum_ms} ms grid: the host was busy or requests took more than one quantum; measure again on a quiet host\n",
                aisec_assess::timing::duration(a.p50_us)
            ));
        }
    }
    out
}
