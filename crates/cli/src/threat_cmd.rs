//! `aisec threat-model`: a system profile in, the threat model out (text or JSON on stdout;
//! Markdown, JSON and a Navigator layer written with `--out`; a plan with `--plan`).

use std::path::PathBuf;

use aisec_assess::threat::{self, profile, render};
use anyhow::{Context, Result};
use clap::Args;

use crate::output::{print_json, print_text, Format};
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
#[command(
    after_help = "The profile's fields are documented in docs/threat-model.md and as JSON Schema (--schema). \
Risk = likelihood × severity on the scale printed with every threat model. Exit 0 when the model was built; 2 when the profile is invalid."
)]
pub struct ThreatModelArgs {
    /// The system profile (YAML): models, LLM applications, objectives.
    #[arg(required_unless_present = "schema", value_name = "PROFILE")]
    pub profile: Option<PathBuf>,
    /// Also write threat-model.json, threat-model.md and threat-model.layer.json (an ATT&CK
    /// Navigator layer scored by risk) into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write an assessment plan for `aisec assess` to this file: per risk, the aisec attacks
    /// with budgets for its adversary tier, the defences to try, pass/fail criteria.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Print the profile's JSON Schema and exit.
    #[arg(long)]
    pub schema: bool,
    /// AI Vulnerability Database records (JSON: one record, an array, or one per line;
    /// taxonomy 0.1 or 0.2, as avid-db stores them and garak and `aisec runs avid` write
    /// them) as prior evidence: a record whose artifact is a component's `name` or one of its
    /// `known_as` raises by one step the likelihood of that component's risks its SEP
    /// categories (or its ATLAS case study's techniques) cover. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub avid: Vec<PathBuf>,
}

pub fn run(cli: &Cli, args: &ThreatModelArgs) -> Result<Outcome> {
    if args.schema {
        print_json(&profile::json_schema())?;
        return Ok(Outcome::Ok);
    }
    let Some(path) = &args.profile else {
        anyhow::bail!("give a PROFILE (a YAML system profile) or --schema");
    };
    let loaded = profile::load(path)?;
    let kb = crate::atlas_cmd::load_kb(cli)?;
    let mut tm = threat::build(&loaded, &kb);
    if !args.avid.is_empty() {
        let mut records = Vec::new();
        for file in &args.avid {
            records.extend(threat::prior::read(file, &kb).map_err(anyhow::Error::msg)?);
        }
        tm = threat::with_prior_evidence(tm, &loaded, records);
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out {}: cannot create the folder", dir.display()))?;
        let write = |name: &str, text: String| -> Result<()> {
            let file = dir.join(name);
            std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))
        };
        write("threat-model.json", serde_json::to_string_pretty(&tm)?)?;
        write("threat-model.md", render::markdown(&tm))?;
        write(
            "threat-model.layer.json",
            serde_json::to_string_pretty(&render::navigator(&tm, &kb)?)?,
        )?;
    }
    if let Some(plan_path) = &args.plan {
        let same =
            |a: &std::path::Path, b: &std::path::Path| match (a.canonicalize(), b.canonicalize()) {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            };
        if same(plan_path, path) {
            anyhow::bail!(
                "--plan {}: that is the profile; write the plan to another file",
                plan_path.display()
            );
        }
        for warning in threat::plan::missing_files(&loaded) {
            eprintln!("warning: {warning}");
        }
        let plan = threat::plan::from_threat_model(&tm, &loaded, plan_path);
        let text = threat::plan::to_yaml(&plan)?;
        std::fs::write(plan_path, text)
            .with_context(|| format!("--plan {}: cannot write", plan_path.display()))?;
    }
    match cli.format {
        Format::Json => print_json(&tm)?,
        _ => print_text(&render::text(&tm))?,
    }
    Ok(Outcome::Ok)
}
