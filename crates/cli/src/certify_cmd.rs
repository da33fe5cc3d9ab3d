//! `aisec defend certify`: certified L2 radii of the randomized-smoothing classifier built on
//! a model (Cohen et al. 2019's CERTIFY), with an optional PGD/EOT check of the certificates.

use std::sync::Arc;

use aisec_defenses::certify::{self, CertifyConfig};
use aisec_ml::model::Classifier;
use anyhow::{bail, Result};
use clap::Args;

use crate::atlas_cmd::load_kb;
use crate::data_args::{check_fit, DataArgs, ModelArgs, Split};
use crate::output::{print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct CertifyArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Standard deviation of the smoothing noise, in input units (the base model should be
    /// trained with the same noise: `aisec model train --noise-sigma S`).
    #[arg(long, default_value_t = 0.25)]
    pub sigma: f32,
    /// Noisy copies per input that choose the top class.
    #[arg(long, default_value_t = 100)]
    pub n0: usize,
    /// Noisy copies per input that bound the top class's probability (the paper: 100,000;
    /// the largest radius any input can get is σ·Φ⁻¹(α^(1/n)), printed with the results).
    #[arg(long, default_value_t = 10_000)]
    pub n: usize,
    /// Each certificate's failure probability.
    #[arg(long, default_value_t = 0.001)]
    pub alpha: f64,
    /// Certify only the first N inputs (at least 1).
    #[arg(long, value_parser = crate::attack_cmd::at_least_one, allow_negative_numbers = true)]
    pub limit: Option<usize>,
    /// After certifying, attack the first N certified inputs with L2 PGD (20 steps, the
    /// expected gradient over 16 noise draws a step) inside each one's own radius and judge
    /// the point found with PREDICT (n copies, α): a certificate is broken when PREDICT
    /// answers another class there. Default 0: no check.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub attack_check: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn run(cli: &Cli, args: &CertifyArgs) -> Result<Outcome> {
    let config = CertifyConfig {
        sigma: args.sigma,
        n0: args.n0,
        n: args.n,
        alpha: args.alpha,
        ..CertifyConfig::default()
    };
    if let Err(e) = config.check() {
        bail!(e);
    }
    let split = if args.data.is_builtin() {
        Split::Test
    } else {
        Split::All
    };
    let mut data = args.data.load_first(split, args.limit)?;
    let model: Arc<dyn Classifier> = args.model.open(None, &data)?.into();
    check_fit(model.as_ref(), &data)?;
    data.num_classes = model.info().num_classes;
    if args.attack_check > 0 && model.gradients().is_none() {
        bail!("--attack-check runs PGD through the model's gradients, and this target answers queries only: use a model directory or an .onnx file, or drop --attack-check");
    }
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    let total = data.len();
    let outcome = certify::certify(model.as_ref(), &data, &config, args.seed, &mut |done| {
        progress.message(format!(
            "certifying: {done}/{total} inputs, {} noisy copies each",
            config.n0 + config.n
        ))
    });
    let mut outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            progress.finish();
            return Err(e.into());
        }
    };
    if args.attack_check > 0 {
        progress.message(format!(
            "checking: PGD with EOT inside the radius of up to {} certified inputs",
            args.attack_check
        ));
        let check = certify::attack_check(
            model.clone(),
            &data,
            &outcome.certificates,
            &config,
            args.attack_check,
            args.seed,
        );
        match check {
            Ok(c) => outcome.attack_check = Some(c),
            Err(e) => {
                progress.finish();
                return Err(e.into());
            }
        }
    }
    progress.finish();
    let target = model.info().description.clone();
    let data_desc = format!("{} ({} examples)", data.name, data.len());
    let report = aisec_assess::certify::report(&outcome, &kb, &target, &data_desc);
    crate::output::store_run(cli, &report)?;
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            print_text(&render(&outcome, &target, &data_desc))?
        }
    }
    Ok(Outcome::Ok)
}

fn render(outcome: &certify::CertifyOutcome, target: &str, data: &str) -> String {
    let c = &outcome.config;
    let n = outcome.certificates.len();
    let mut out = format!(
        "{} on {target} — {data}\n  smoothing            σ = {}, n0 = {}, n = {}, α = {} (each certificate wrong with probability at most α)\n  base model accuracy  {:.2}% on the clean inputs\n  smoothed classifier  {:.2}% certified correct at radius 0, {} of {n} abstained, mean radius {:.3} over the correct ones\n  largest radius       {:.3} (all n copies agreeing: σ·Φ⁻¹(α^(1/n)))\n  certified accuracy by L2 radius:\n",
        certify::INFO.name,
        c.sigma,
        c.n0,
        c.n,
        certify::describe_alpha(c.alpha),
        100.0 * outcome.base_accuracy,
        100.0 * outcome.certified_accuracy(),
        outcome.abstentions,
        outcome.mean_correct_radius(),
        c.largest_radius()
    );
    // A tiny σ gives radii that three decimals would all print as 0.000.
    let small = (c.sigma as f64) < 4e-3;
    for point in &outcome.curve {
        let bar = "█".repeat((point.certified_accuracy * 40.0).round() as usize);
        let radius = if small {
            format!("{:.3e}", point.radius)
        } else {
            format!("{:.3}", point.radius)
        };
        out.push_str(&format!(
            "    r ≥ {radius:<9} {:>7.2}%  {bar}\n",
            100.0 * point.certified_accuracy
        ));
    }
    match &outcome.attack_check {
        Some(check) if check.inputs == 0 => out.push_str(
            "  attack check         no certified input with a radius above 0 to attack\n",
        ),
        Some(check) => out.push_str(&format!(
            "  attack check         L2 PGD-{} with EOT ({} draws a step) inside each radius of {} certified inputs: {} certificates broken, {} points PREDICT abstained on; the smoothed API's own 100-copy vote (as --defend smooth answers) was fooled at {}; farthest point at {:.4} of its radius; {:.1} s\n",
            check.pgd_steps,
            check.eot_samples,
            check.inputs,
            check.broken,
            check.abstained,
            check.fooled_the_vote,
            check.largest_distance_over_radius,
            check.seconds
        )),
        None => {}
    }
    out.push_str(&format!(
        "  time                 {:.1} s certifying, {} base-model evaluations\n",
        outcome.wall_seconds, outcome.model_evaluations
    ));
    out
}
