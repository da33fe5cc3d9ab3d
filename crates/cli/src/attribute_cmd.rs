//! `aisec attack attribute`: a held-out sensitive column of the target's training records,
//! inferred from the model, against the base rate and against records it never saw.

use aisec_assess::membership::privacy_finding;
use aisec_attacks::extract::Oracle;
use aisec_attacks::inversion::{self, attribute};
use aisec_core::{Metric, Metrics, Severity};
use aisec_ml::model::{revealing, OutputKind};
use aisec_report::{RunKind, RunReport};
use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use crate::atlas_cmd::load_kb;
use crate::membership_cmd::{trained_here, ExperimentArgs};
use crate::output::{print_json, print_text, push_finding, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct AttributeArgs {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    /// The sensitive column (0-based feature index): categorical, at most 32 values.
    #[arg(long)]
    pub column: usize,
    /// Guess from the model's confidence alone (Yeom et al.) instead of weighing it by each
    /// value's frequency in the adversary's data (Fredrikson et al.'s MAP guess).
    #[arg(long)]
    pub no_prior: bool,
    /// Records attacked on each side (members, non-members); each costs one query per value
    /// the column takes. Default 1,000.
    #[arg(long, default_value_t = 1000, value_parser = crate::attack_cmd::at_least_one)]
    pub records: usize,
    /// What the API reveals to the adversary: probs, top1, topk:K (labels alone are not
    /// enough: the attack compares confidences).
    #[arg(long, value_parser = crate::extract_cmd::parse_outputs, default_value = "probs")]
    pub outputs: OutputKind,
}

pub fn run(cli: &Cli, args: &AttributeArgs) -> Result<Outcome> {
    if args.outputs == OutputKind::Label {
        bail!("--outputs label: attribute inference compares the model's confidence under each value; a labels-only API gives none");
    }
    let kb = load_kb(cli)?;
    let progress = Progress::new();
    let prepared = trained_here(&args.experiment, &progress)?;
    progress.finish();
    let members = prepared.members.as_ref().expect("aisec trained the target");
    let outsiders: Vec<usize> = (0..prepared.candidates.len())
        .filter(|&i| !prepared.is_member[i])
        .collect();
    let non_members = prepared.candidates.subset(&outsiders).head(args.records);
    let members = members.head(args.records);
    let target = revealing(prepared.target.clone(), args.outputs);
    let mut oracle = Oracle::over(target.as_ref(), u64::MAX);
    let out = attribute::run(
        &mut oracle,
        &members,
        &non_members,
        &prepared.population,
        args.column,
        !args.no_prior,
    )?;
    let advantage = out.members.accuracy - out.base_rate_members;
    let leak = out.members.balanced_accuracy - out.non_members.balanced_accuracy;
    let mut metrics = Metrics::default();
    metrics.insert(Metric::AttackSuccessRate, out.members.accuracy)?;
    metrics.insert(Metric::BalancedAccuracy, out.members.balanced_accuracy)?;
    metrics.insert(Metric::QueriesTotal, out.queries as f64)?;
    let severity = match (advantage, leak) {
        (a, _) if a > 0.1 => Severity::High,
        (a, l) if a > 0.02 || l > 0.05 => Severity::Medium,
        (_, l) if l > 0.01 => Severity::Low,
        _ => Severity::Info,
    };
    let finding = privacy_finding(
        format!(
            "{} infers column {} of the model's training records with accuracy {:.1}% (base rate {:.1}%, {:+.1} points) and balanced accuracy {:.3} against {:.3} on records it never saw",
            attribute::INFO.name,
            args.column,
            100.0 * out.members.accuracy,
            100.0 * out.base_rate_members,
            100.0 * advantage,
            out.members.balanced_accuracy,
            out.non_members.balanced_accuracy,
        ),
        severity,
        inversion::ATLAS,
        metrics.clone(),
        &kb,
    );
    let report = RunReport::new(
        RunKind::Attack,
        attribute::INFO.name,
        inversion::ATLAS,
        target.info().description.clone(),
        json!({"column": args.column, "use_prior": !args.no_prior, "records": args.records}),
        args.experiment.seed,
        metrics,
    )
    .with_data(prepared.data_description.clone())
    .with_observations(Some(serde_json::to_value(&out)?))
    .with_findings(vec![finding]);
    match cli.format {
        Format::Json => print_json(&report)?,
        Format::Text | Format::Sarif | Format::Jsonl | Format::Html => {
            let mut text = format!(
                "{} on column {} ({} values; guess: {})\n{}\n  members:     accuracy {:.1}% (base rate {:.1}%), balanced accuracy {:.3} over {} records\n  non-members: accuracy {:.1}% (base rate {:.1}%), balanced accuracy {:.3} over {} records\n  {} queries\n",
                attribute::INFO.name,
                args.column,
                out.values.len(),
                if args.no_prior { "likelihood only" } else { "prior-weighted (MAP)" },
                prepared.data_description,
                100.0 * out.members.accuracy,
                100.0 * out.base_rate_members,
                out.members.balanced_accuracy,
                out.members.records,
                100.0 * out.non_members.accuracy,
                100.0 * out.base_rate_non_members,
                out.non_members.balanced_accuracy,
                out.non_members.records,
                out.queries
            );
            for f in &report.findings {
                push_finding(&mut text, f);
            }
            print_text(&text)?;
        }
    }
    Ok(Outcome::Ok)
}
