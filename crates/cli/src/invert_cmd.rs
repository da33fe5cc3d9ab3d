//! `aisec attack invert`: MI-Face model inversion, with each reconstruction compared to the
//! assessor's data and drawn.

use aisec_assess::runner::inversion::InversionExperiment;
use aisec_assess::runner::{self, Stage};
use aisec_attacks::inversion::mi_face::{GradientSource, MiFaceConfig};
use aisec_ml::data::InputRange;
use anyhow::{bail, Result};
use clap::Args;

use crate::atlas_cmd::load_kb;
use crate::data_args::{check_fit, DataArgs, ModelArgs, Split};
use crate::output::{print_json, print_text, push_finding, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct InvertArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The assessor's data: its training split is what reconstructions are compared with
    /// (class means, nearest record); the attack itself never reads it.
    #[command(flatten)]
    pub data: DataArgs,
    /// The class to reconstruct; repeat for several; default every class.
    #[arg(long)]
    pub class: Vec<usize>,
    /// auto (gradients when the target offers them), white-box or zeroth-order (scores only).
    #[arg(long, default_value = "auto", value_parser = parse_source)]
    pub gradients: GradientSource,
    /// Ascent steps (default 300 white-box, 150 from scores).
    #[arg(long, value_parser = crate::attack_cmd::at_least_one)]
    pub steps: Option<usize>,
    /// Weight of the smoothness prior on images (0 turns it off).
    #[arg(long, default_value_t = 0.05)]
    pub tv_weight: f32,
    /// Scores only: the adversary's budget for the whole run, all classes together (each
    /// step costs 2 × 20 probe queries per class). Default unlimited.
    #[arg(long = "total-queries", value_name = "N")]
    pub budget: Option<u64>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Invert again through a defence on the model's answers: top1, topk:K, label, round:D
    /// or reverse-sigmoid (output hardening, AML.M0002). Reported beside the plain run.
    #[arg(long, value_parser = crate::attack_cmd::parse_defense)]
    pub defend: Option<aisec_defenses::DefenseSpec>,
}

fn parse_source(s: &str) -> Result<GradientSource, String> {
    match s.trim() {
        "auto" => Ok(GradientSource::Auto),
        "white-box" => Ok(GradientSource::WhiteBox),
        "zeroth-order" => Ok(GradientSource::ZerothOrder),
        _ => Err(format!(
            "`{s}` is not a gradient source: expected auto, white-box or zeroth-order"
        )),
    }
}

pub fn run(cli: &Cli, args: &InvertArgs) -> Result<Outcome> {
    if args.budget == Some(0) {
        bail!("--total-queries must be at least 1 query");
    }
    let assessor = args.data.load(Split::Train)?;
    let target = args.model.open(None, &assessor)?;
    check_fit(target.as_ref(), &assessor)?;
    let k = target.info().num_classes;
    let classes: Vec<usize> = if args.class.is_empty() {
        (0..k).collect()
    } else {
        args.class.clone()
    };
    // Data without a declared range (standardised tabular features) is searched within
    // three standard deviations; the report's observations state the range used.
    let range = target
        .info()
        .input_range
        .or(assessor.input_range)
        .unwrap_or(InputRange { lo: -3.0, hi: 3.0 });
    let config = MiFaceConfig {
        gradients: args.gradients,
        steps: args.steps,
        tv_weight: args.tv_weight,
        ..MiFaceConfig::default()
    };
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    progress.message(format!("inverting {} classes", classes.len()));
    let mut experiment = InversionExperiment {
        config,
        target: target.into(),
        classes: classes.clone(),
        assessor: &assessor,
        range,
        budget: args.budget.unwrap_or(u64::MAX),
        seed: args.seed,
        kb: &kb,
        outcome: None,
        defended: None,
    };
    let on_stage = |stage: Stage| {
        if stage == Stage::Defended {
            progress.message(format!(
                "inverting {} classes again, behind the defence",
                classes.len()
            ));
        }
    };
    let report = runner::run_observed(&mut experiment, args.defend.as_ref(), &on_stage);
    progress.finish();
    let report = report?;
    let (out, compared) = experiment
        .outcome
        .take()
        .ok_or_else(|| anyhow::anyhow!("the inversion did not run"))?;
    crate::output::store_run(cli, &report)?;
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            let mut text = String::new();
            for (inv, r) in out.images.iter().zip(&compared) {
                text.push_str(&format!(
                    "class {}: confidence {:.3}; nearest class mean {} ({}), nearest training record of class {}\n",
                    inv.class,
                    inv.confidence,
                    r.nearest_class_mean,
                    if r.nearest_class_mean == inv.class { "its own" } else { "another class" },
                    r.nearest_record_class
                ));
                text.push_str(&draw(&inv.image, &assessor.sample_shape, range));
            }
            for f in &report.findings {
                push_finding(&mut text, f);
            }
            crate::output::push_defended_findings(&mut text, &report);
            print_text(&text)?;
        }
    }
    Ok(Outcome::Ok)
}

/// A greyscale image as text, one character per pixel (first channel).
fn draw(image: &[f32], shape: &[usize], range: InputRange) -> String {
    let (h, w) = match shape {
        [_, h, w] | [h, w] => (*h, *w),
        _ => return String::new(),
    };
    const RAMP: [char; 5] = [' ', '░', '▒', '▓', '█'];
    let mut out = String::new();
    for i in 0..h {
        out.push_str("  ");
        for j in 0..w {
            let v = (image[i * w + j] - range.lo) / (range.hi - range.lo).max(1e-6);
            let idx = ((v * RAMP.len() as f32) as usize).min(RAMP.len() - 1);
            out.push(RAMP[idx]);
            out.push(RAMP[idx]);
        }
        out.push('\n');
    }
    out
}
