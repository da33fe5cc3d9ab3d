//! `aisec attack bitflip`: the bit-flip attack on an 8-bit quantized built-in model
//! (progressive bit search against random flips), optionally measured again behind weight
//! clipping (the flips the search then needs) or checked by per-layer weight digests.

use std::path::PathBuf;
use std::time::Instant;

use aisec_attacks::fault::bfa::{self, BfaConfig, BfaOutcome};
use aisec_defenses::weight_clamp::WeightClampConfig;
use aisec_defenses::weight_integrity::{self, WeightIntegrityConfig};
use aisec_defenses::{DefenseSpec, Family};
use aisec_ml::model::LocalModel;
use aisec_ml::native::NativeModel;
use anyhow::{bail, Context, Result};
use clap::Args;

use crate::atlas_cmd::load_kb;
use crate::data_args::{DataArgs, Split};
use crate::output::{print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct BitflipArgs {
    /// A directory written by `aisec model train` (the built-in networks: the attack reads
    /// and rewrites their weights).
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Flips the bit search may commit; it stops earlier once accuracy is within 2 points
    /// of a constant answer's (the most common class's share of the evaluation inputs).
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pub max_flips: usize,
    /// Attack-batch inputs (the first N of the data) for the gradient and the candidates'
    /// losses; accuracy is measured on the inputs after them.
    #[arg(long, default_value_t = 128, allow_negative_numbers = true)]
    pub batch: usize,
    /// Evaluation inputs (after the attack batch) the accuracy is measured on.
    #[arg(long, default_value_t = 500, allow_negative_numbers = true)]
    pub eval: usize,
    /// Candidates per layer whose true loss is evaluated at each step (1 to 100).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub candidates: usize,
    /// Trials of uniformly random flips at each count (as many as the search committed,
    /// 10× that, and 100); 0 skips the comparison.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub random_trials: usize,
    /// `clamp[:G]`: attack again with every group of G quantized weights (default 16) clamped
    /// at inference to the range it had at deployment (the search knows the clamp);
    /// `checksum`: verify per-layer SHA-256 digests taken at load after the attack, with the
    /// verification's cost.
    #[arg(long, value_parser = crate::attack_cmd::parse_defense)]
    pub defend: Option<DefenseSpec>,
    /// Seed of the random flips.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn run(cli: &Cli, args: &BitflipArgs) -> Result<Outcome> {
    let config = BfaConfig {
        max_flips: args.max_flips,
        batch: args.batch,
        candidates: args.candidates,
        random_trials: args.random_trials,
        ..BfaConfig::default()
    };
    if let Err(e) = config.check() {
        bail!(e);
    }
    if args.eval == 0 {
        bail!("--eval 0: accuracy needs at least 1 input");
    }
    if let Some(d) = &args.defend {
        if let Err(e) = d.check_family(Family::Fault) {
            bail!(e);
        }
    }
    if args.model.is_file()
        && args
            .model
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
    {
        bail!(
            "--model {}: the bit-flip attack rewrites a built-in model's weights; it needs a directory from `aisec model train` (ONNX models are not supported)",
            args.model.display()
        );
    }
    let model = NativeModel::load(&args.model)
        .with_context(|| format!("--model {}", args.model.display()))?;
    let split = if args.data.is_builtin() {
        Split::Test
    } else {
        Split::All
    };
    let data = args.data.load_first(split, Some(args.batch + args.eval))?;
    crate::data_args::check_fit(&model, &data)?;
    let f = data.features();
    if data.len() <= args.batch {
        bail!(
            "the data has {} inputs: --batch {} leaves none to measure accuracy on (lower --batch or give more data)",
            data.len(),
            args.batch
        );
    }
    let attack = (&data.x[..args.batch * f], &data.y[..args.batch]);
    let eval = (&data.x[args.batch * f..], &data.y[args.batch..]);
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    let mut say = |m: String| progress.message(m);
    let outcome = bfa::run(&model, attack, eval, &config, None, args.seed, &mut say)?;
    // The defended run's random flips start from the undefended count: like for like.
    let defended_config = BfaConfig {
        random_base: Some(outcome.steps.len()),
        ..config
    };
    let target = format!(
        "{} at {}",
        model.model_info().description,
        args.model.display()
    );
    let data_desc = format!(
        "{}: {} attack-batch inputs, {} evaluation inputs",
        data.name,
        attack.1.len(),
        eval.1.len()
    );
    let mut defended: Option<BfaOutcome> = None;
    let mut integrity = None;
    if let Some(spec) = &args.defend {
        if let Some(clamp) = spec.config::<WeightClampConfig>() {
            progress.message(format!(
                "attacking again behind the clamp (groups of {})",
                clamp.group
            ));
            defended = Some(bfa::run(
                &model,
                attack,
                eval,
                &defended_config,
                Some(clamp.group),
                args.seed,
                &mut say,
            )?);
        } else if spec.config::<WeightIntegrityConfig>().is_some() {
            let weights = model.weights();
            let at_load = weight_integrity::digests(&outcome.clean, &weights);
            let verification = weight_integrity::verify(&at_load, &outcome.attacked, &weights);
            let started = Instant::now();
            let batch_inputs = eval.1.len().min(256);
            model.plain_logits(&eval.0[..batch_inputs * f])?;
            integrity = Some(aisec_assess::bitflip::Integrity {
                verification,
                batch_seconds: started.elapsed().as_secs_f64(),
                batch_inputs,
            });
        }
    }
    progress.finish();
    let mut report = aisec_assess::bitflip::report(
        &outcome,
        &kb,
        &target,
        &data_desc,
        args.seed,
        integrity.clone(),
    );
    if let Some(spec) = &args.defend {
        let defended_report = defended
            .as_ref()
            .map(|d| aisec_assess::bitflip::report(d, &kb, &target, &data_desc, args.seed, None));
        report = aisec_assess::bitflip::with_defense(
            report,
            spec.as_defense().reference(),
            defended_report,
        );
    }
    crate::output::store_run(cli, &report)?;
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            let mut text = render(&outcome, &target, &data_desc, "undefended");
            if let Some(d) = &defended {
                text.push_str(&render(
                    d,
                    &target,
                    &data_desc,
                    &format!(
                        "behind defense.weight-clamp, groups of {}",
                        d.clamp_group.unwrap_or(0)
                    ),
                ));
                let n = outcome.steps.len();
                text.push_str(&format!(
                    "  defence              flips to a constant answer's accuracy {} → {}; accuracy after {n} flips (the undefended count) {:.1}% → {:.1}%; clean 8-bit accuracy {:.1}% → {:.1}%\n",
                    flips(&outcome),
                    flips(d),
                    100.0 * accuracy_after(&outcome, n),
                    100.0 * accuracy_after(d, n),
                    100.0 * outcome.quantized_accuracy,
                    100.0 * d.quantized_accuracy
                ));
            }
            if let Some(i) = &integrity {
                let v = &i.verification;
                text.push_str(&format!(
                    "  weight integrity     SHA-256 of {} int8 layers and {} float tensors taken at load, verified after the attack: {} ({}); one verification hashes {} bytes in {:.2} ms, {:.1}% of one {}-input inference batch ({:.2} ms)\n",
                    v.int8_layers,
                    v.float_tensors,
                    if v.detected { "TAMPERING DETECTED" } else { "no change seen" },
                    if v.tampered_layers.is_empty() { "no tensor".to_string() } else { v.tampered_layers.join(", ") },
                    v.bytes_hashed,
                    1e3 * v.seconds,
                    100.0 * v.seconds / i.batch_seconds.max(1e-9),
                    i.batch_inputs,
                    1e3 * i.batch_seconds
                ));
            }
            print_text(&text)?
        }
    }
    Ok(Outcome::Ok)
}

/// Accuracy after `n` committed flips (the clean 8-bit accuracy for none; where the search
/// stopped earlier, the accuracy it left).
fn accuracy_after(o: &BfaOutcome, n: usize) -> f64 {
    match n {
        0 => o.quantized_accuracy,
        n => o.steps.get(n - 1).map_or(o.final_accuracy, |s| s.accuracy),
    }
}

fn flips(o: &BfaOutcome) -> String {
    match o.flips_to_constant_answer {
        Some(n) => n.to_string(),
        None if o.steps.len() < o.config.max_flips => format!(
            "never (after {} flips no flip the search could find hurt the model further)",
            o.steps.len()
        ),
        None => format!("more than {}", o.steps.len()),
    }
}

fn render(o: &BfaOutcome, target: &str, data: &str, which: &str) -> String {
    let mut out = format!(
        "{} on {target} ({which}) — {data}\n  model                float {:.1}%, 8-bit per-layer quantized {:.1}% ({} weight bits an attacker could flip); a constant answer scores {:.1}% on the {} evaluation inputs\n  bit search           {} flips → {:.1}%{}\n",
        bfa::INFO.name,
        100.0 * o.float_accuracy,
        100.0 * o.quantized_accuracy,
        o.bits,
        100.0 * o.constant_answer_accuracy,
        o.eval_inputs,
        o.steps.len(),
        100.0 * o.final_accuracy,
        match o.flips_to_constant_answer {
            Some(0) => " (nothing to attack: the 8-bit model is no better than a constant answer)".to_string(),
            Some(n) => format!(" (at most a constant answer's accuracy + 2 points after {n})"),
            None => " (a constant answer's accuracy + 2 points not reached)".to_string(),
        }
    );
    for s in &o.steps {
        let used = if s.used != s.to {
            format!(", used as {}", s.used)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "    flip {:>3}  {:<18} #{:<6} bit {} ({:>4} → {:>4}{used})  accuracy {:>5.1}%\n",
            s.flip,
            s.layer,
            s.index,
            s.bit,
            s.from,
            s.to,
            100.0 * s.accuracy
        ));
    }
    for r in &o.random {
        out.push_str(&format!(
            "  random flips {:>5}  accuracy {:.1}% mean ({:.1}–{:.1}%, {} trials)\n",
            r.flips,
            100.0 * r.accuracy_mean,
            100.0 * r.accuracy_min,
            100.0 * r.accuracy_max,
            r.trials
        ));
    }
    out.push_str(&format!(
        "  time                 {:.1} s, {} model evaluations (one per input)\n",
        o.seconds, o.model_evaluations
    ));
    out
}
