//! `aisec attack attribute`: a held-out sensitive column of the target's training records,
//! inferred from the model, against the base rate and against records it never saw.

use aisec_assess::runner::{self, attribute::AttributeExperiment};
use aisec_attacks::inversion::attribute;
use aisec_ml::model::{revealing, OutputKind};
use anyhow::{bail, Result};
use clap::Args;

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
    /// Infer again through a defence on the model's answers: top1, topk:K, round:D or
    /// reverse-sigmoid (output hardening, AML.M0002). Reported beside the plain run.
    #[arg(long, value_parser = crate::attack_cmd::parse_defense)]
    pub defend: Option<aisec_defenses::DefenseSpec>,
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
    let mut experiment = AttributeExperiment {
        target,
        members: &members,
        non_members: &non_members,
        population: &prepared.population,
        column: args.column,
        use_prior: !args.no_prior,
        seed: args.experiment.seed,
        kb: &kb,
        data_description: prepared.data_description.clone(),
        outcome: None,
    };
    let report = runner::run(&mut experiment, args.defend.as_ref())?;
    let out = experiment
        .outcome
        .take()
        .ok_or_else(|| anyhow::anyhow!("the attribute inference did not run"))?;
    crate::output::store_run(cli, &report)?;
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
            crate::output::push_defended_findings(&mut text, &report);
            print_text(&text)?;
        }
    }
    Ok(Outcome::Ok)
}
