use std::path::PathBuf;

use aisec_atlas::case_study::{self, Draft, DraftReference};
use aisec_atlas::validate;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::atlas_cmd::{load_kb, report_validation};
use crate::output::{print_json, write_output, Format};
use crate::{Cli, Outcome};

#[derive(Debug, Subcommand)]
pub enum CaseStudyCommand {
    /// Validates a case-study file (`{study: ..., meta: ...}`) against the ATLAS data.
    /// Exit 0 clean, 1 problems, 2 unreadable.
    Validate { file: PathBuf },
    /// Builds a valid case-study file from flags and/or a YAML draft.
    New(Box<NewArgs>),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// A YAML draft with the study's fields; flags override it.
    #[arg(long, value_name = "DRAFT.yaml")]
    from: Option<PathBuf>,
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    summary: Option<String>,
    /// Incident date: YYYY, YYYY-MM or YYYY-MM-DD (sets the granularity unless given).
    #[arg(long)]
    date: Option<String>,
    /// YEAR, MONTH or DATE.
    #[arg(long)]
    granularity: Option<String>,
    /// incident or exercise.
    #[arg(long = "type")]
    study_type: Option<String>,
    #[arg(long)]
    reporter: Option<String>,
    #[arg(long)]
    target: Option<String>,
    #[arg(long)]
    actor: Option<String>,
    /// A procedure step: TECHNIQUE=DESCRIPTION or TACTIC/TECHNIQUE=DESCRIPTION (repeatable;
    /// replaces the draft's steps).
    #[arg(long = "step")]
    steps: Vec<String>,
    /// A reference URL (repeatable; added to the draft's).
    #[arg(long = "reference")]
    references: Vec<String>,
    /// Where to write the file (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(cli: &Cli, cmd: &CaseStudyCommand) -> Result<Outcome> {
    let kb = load_kb(cli)?;
    match cmd {
        CaseStudyCommand::Validate { file } => {
            let report = validate::validate_case_study_file(file, &kb)?;
            report_validation(cli, file, &report)
        }
        CaseStudyCommand::New(args) => {
            let mut draft = match &args.from {
                Some(path) => Draft::from_yaml_file(path)?,
                None => Draft::default(),
            };
            let overrides = [
                (&mut draft.id, &args.id),
                (&mut draft.name, &args.name),
                (&mut draft.summary, &args.summary),
                (&mut draft.incident_date, &args.date),
                (&mut draft.incident_date_granularity, &args.granularity),
                (&mut draft.case_study_type, &args.study_type),
                (&mut draft.reporter, &args.reporter),
                (&mut draft.target, &args.target),
                (&mut draft.actor, &args.actor),
            ];
            for (field, flag) in overrides {
                if flag.is_some() {
                    field.clone_from(flag);
                }
            }
            if !args.steps.is_empty() {
                draft.procedure = args
                    .steps
                    .iter()
                    .map(|s| Draft::parse_step_flag(s))
                    .collect::<Result<_, _>>()?;
            }
            draft
                .references
                .extend(args.references.iter().cloned().map(DraftReference::Url));
            let file = draft.build(&kb).context("cannot build the case study")?;
            match cli.format {
                Format::Json if args.out.is_none() => print_json(&file)?,
                _ => write_output(args.out.as_deref(), &case_study::to_yaml(&file)?)?,
            }
            Ok(Outcome::Ok)
        }
    }
}
