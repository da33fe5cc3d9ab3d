//! `aisec defend trigger-search`: dormant key checks in a white-box ONNX graph, the trigger
//! that flips them, and what it does to the model's answers (an architectural backdoor).

use std::path::PathBuf;

use aisec_defenses::trigger_search::{self, TriggerSearchConfig, TriggerSearchOutcome};
use aisec_ml::model::LocalModel;
use aisec_ml::onnx::OnnxModel;
use anyhow::{bail, Context, Result};
use clap::Args;

use crate::atlas_cmd::load_kb;
use crate::data_args::{DataArgs, Split};
use crate::output::{print_json, print_text, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct TriggerSearchArgs {
    /// The ONNX model to search (read and evaluated by aisec's own interpreter, never run by
    /// a runtime).
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Clean inputs (the first N of the data) that tell dormant comparisons from varying
    /// ones and measure the trigger (at least 2).
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    pub inputs: usize,
    /// Values tried per compared number, evenly spaced over the data's range (2 to 4,096);
    /// the constants it is compared with are tried too.
    #[arg(long, default_value_t = 64, allow_negative_numbers = true)]
    pub grid: usize,
    /// A found trigger is reported as a backdoor when at least this fraction of stamped
    /// inputs of other classes go to one class, and the trigger changes at least 50 points
    /// more answers than random values at the same positions.
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub confirm_at: f64,
    /// Seed of the random inputs that locate what each comparison reads and of the random
    /// control.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn run(cli: &Cli, args: &TriggerSearchArgs) -> Result<Outcome> {
    let config = TriggerSearchConfig {
        inputs: args.inputs,
        grid: args.grid,
        confirm_at: args.confirm_at,
        ..TriggerSearchConfig::default()
    };
    if let Err(e) = config.check() {
        bail!(e);
    }
    let model = OnnxModel::load(&args.model)
        .with_context(|| format!("--model {}", args.model.display()))?;
    let split = if args.data.is_builtin() {
        Split::Test
    } else {
        Split::All
    };
    let data = args.data.load_first(split, Some(args.inputs))?;
    crate::data_args::check_fit(&model, &data)?;
    if data.len() < 2 {
        bail!(
            "the data has {} input(s); the search needs at least 2",
            data.len()
        );
    }
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    let outcome = trigger_search::search(&model, &data, &config, args.seed, &mut |m| {
        progress.message(m)
    });
    progress.finish();
    let outcome = outcome?;
    let target = model.model_info().description.clone();
    let data_desc = format!("{} ({} examples)", data.name, outcome.clean_inputs);
    let report =
        aisec_assess::trigger_search::report(&outcome, &kb, &target, &data_desc, args.seed);
    crate::output::store_run(cli, &report)?;
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            print_text(&render(&outcome, &target, &data_desc))?
        }
    }
    // A confirmed backdoor fails the command, as a dangerous scan finding does.
    Ok(if outcome.confirmed {
        Outcome::ProblemsFound
    } else {
        Outcome::Ok
    })
}

fn verdict(outcome: &TriggerSearchOutcome, class: usize) -> String {
    let needed = trigger_search::MIN_OTHER_CLASS_INPUTS;
    if outcome.confirmed {
        format!(
            "BACKDOOR: the stamped key sends {:.1}% of other classes to class {class} (AML.T0018.001)",
            100.0 * outcome.attack_success_rate
        )
    } else if outcome.other_class_inputs < needed {
        format!(
            "cannot tell: {} input(s) of classes other than {class} among the {}, and confirming needs {needed}: raise --inputs",
            outcome.other_class_inputs, outcome.clean_inputs
        )
    } else if outcome.attack_success_rate >= outcome.config.confirm_at {
        "not confirmed: random values at the same positions scatter the answers too (the positions matter to the network; an occlusion, not a key)".to_string()
    } else {
        format!(
            "not confirmed: the key flips a switch, but sends only {:.1}% of other classes to class {class} (confirmation needs {})",
            100.0 * outcome.attack_success_rate,
            aisec_core::pct(Some(outcome.config.confirm_at))
        )
    }
}

fn render(outcome: &TriggerSearchOutcome, target: &str, data: &str) -> String {
    let mut out = format!(
        "{} on {target} — {data}\n  switch candidates: {} (comparisons and step functions of input values before any weighted layer, main graph)\n",
        trigger_search::INFO.name,
        outcome.comparisons.len()
    );
    for c in &outcome.comparisons {
        out.push_str(&format!("    {:<28} {}", c.node, c.status));
        if !c.key.is_empty() {
            out.push_str(&format!(
                "; reads {} position(s); key {}; fires on {:.1}% of stamped inputs",
                c.positions.len(),
                aisec_assess::trigger_search::describe_key(&c.key, &outcome.input_shape, 6),
                100.0 * c.fire_rate
            ));
        }
        out.push('\n');
    }
    match outcome.target_class {
        Some(class) => out.push_str(&format!(
            "  trigger              {} (position in the input's shape {:?} = value; the JSON gives flat indices)\n  stamped              {:.1}% of the {} inputs of other classes (of {}) answered as class {class}; accuracy {:.1}% clean → {:.1}% stamped\n  random control       random values at the same positions change {:.1}% of answers, {:.1}% to a class other than {class}\n  verdict              {}\n",
            aisec_assess::trigger_search::describe_key(&outcome.trigger, &outcome.input_shape, 12),
            outcome.input_shape,
            100.0 * outcome.attack_success_rate,
            outcome.other_class_inputs,
            outcome.clean_inputs,
            100.0 * outcome.clean_accuracy,
            100.0 * outcome.triggered_accuracy,
            100.0 * outcome.control_flip_rate,
            100.0 * outcome.control_elsewhere_rate,
            verdict(outcome, class)
        )),
        None if outcome.comparisons.is_empty() => out.push_str("  verdict              nothing to search: no comparison or step of input values before a weighted layer in the main graph (switches inside If/Loop bodies or behind a weighted layer are not searched; `aisec scan` reads the whole graph)\n"),
        None => out.push_str("  verdict              no dormant key check that a value in the data's range flips\n"),
    }
    out.push_str(&format!(
        "  time                 {:.1} s, {} model evaluations (graph parts evaluated count as one)\n",
        outcome.seconds, outcome.model_evaluations
    ));
    out
}
