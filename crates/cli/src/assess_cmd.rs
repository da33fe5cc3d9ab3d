//! `aisec assess PLAN --out DIR`: runs an assessment plan step by step (resuming finished
//! steps), then writes the report in every format.

use std::io::IsTerminal;
use std::path::PathBuf;

use aisec_assess::threat::{self, assessment, profile, report};
use anyhow::{Context, Result};
use clap::Args;

use crate::output::{print_json, print_text, Format};
use crate::{Cli, Outcome};

#[derive(Debug, Args)]
#[command(
    after_help = "Each step runs as `aisec COMMAND --format json` in the plan's folder; its result, log and JSON run report go to DIR/steps/. \
A step already finished with the same command is not rerun (delete DIR/steps/ID.json or pass --fresh to rerun it). \
Writes DIR/assessment.{json,md,html}, DIR/assessment.sarif (findings; the scanner's with their file), DIR/assessment.layer.json (ATT&CK Navigator, scored by measured risk) and DIR/case-study.yaml (ATLAS, type exercise). \
Exit 0 when every step passed, 1 when a criterion failed or was not measured, 2 when a step could not run."
)]
pub struct AssessArgs {
    /// The plan, as `aisec threat-model PROFILE --plan FILE` writes it.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    /// The folder for the step results and the report.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Rerun every step, ignoring results from an earlier run in --out.
    #[arg(long)]
    pub fresh: bool,
    /// Seconds one step may run before it is stopped and recorded as an error (the other
    /// steps still run). Default 21600 (6 hours).
    #[arg(long, value_name = "SECONDS", default_value_t = 21_600.0)]
    pub step_timeout: f64,
}

pub fn run(cli: &Cli, args: &AssessArgs) -> Result<Outcome> {
    if !(args.step_timeout.is_finite() && args.step_timeout > 0.0 && args.step_timeout <= 1e7) {
        anyhow::bail!(
            "--step-timeout {}: expected seconds, more than 0 and at most 10000000 (about 16 weeks)",
            args.step_timeout
        );
    }
    let step_timeout = std::time::Duration::from_secs_f64(args.step_timeout);
    let plan = threat::plan::load(&args.plan)?;
    let plan_dir = args
        .plan
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or(PathBuf::from("."), PathBuf::from);
    let loaded = profile::load(&plan_dir.join(&plan.profile))
        .with_context(|| format!("{}: the plan's profile", args.plan.display()))?;
    let kb = crate::atlas_cmd::load_kb(cli)?;
    let tm = threat::build(&loaded, &kb);
    let risks: Vec<&str> = tm.risks.iter().map(|r| r.id.as_str()).collect();
    for (i, step) in plan.steps.iter().enumerate() {
        if !risks.contains(&step.risk.as_str()) {
            anyhow::bail!(
                "{}: steps[{i}].risk: {:?} is not a risk of the profile's threat model ({})",
                args.plan.display(),
                step.risk,
                risks.join(", ")
            );
        }
    }
    if args.fresh {
        let steps = args.out.join("steps");
        if steps.exists() {
            std::fs::remove_dir_all(&steps)
                .with_context(|| format!("--fresh: cannot clear {}", steps.display()))?;
        }
    }
    let exe =
        std::env::current_exe().context("cannot find the aisec executable to run the steps")?;
    let chatty = std::io::stderr().is_terminal() || std::env::var_os("AISEC_PROGRESS").is_some();
    let mut progress = |p: assessment::Progress| match p {
        assessment::Progress::Starting { index, total, step } if chatty => {
            eprintln!(
                "[{}/{}] {}: aisec {}",
                index + 1,
                total,
                step.id,
                step.command.join(" ")
            );
        }
        assessment::Progress::Done {
            index,
            total,
            result,
        } => {
            let line = format!(
                "[{}/{}] {}: {}{} in {:.1} s{}",
                index + 1,
                total,
                result.id,
                result.status.as_str(),
                if result.resumed {
                    " (from an earlier run)"
                } else {
                    ""
                },
                result.seconds,
                result
                    .error
                    .as_deref()
                    .map(|e| format!(" — {e}"))
                    .unwrap_or_default()
            );
            if chatty {
                eprintln!("{line}");
            } else {
                tracing::info!("{line}");
            }
        }
        _ => {}
    };
    let results = assessment::run(
        &plan,
        &args.plan,
        &args.out,
        &exe,
        step_timeout,
        &mut progress,
    )?;
    // With --store: each step's run object, so that its findings reach the matrix.
    for step in &results {
        if let Some(run) = &step.report {
            crate::output::store_run(cli, run)?;
        }
    }
    let rep = report::build(tm, &plan, &args.plan.display().to_string(), results);
    let write = |name: &str, text: String| -> Result<()> {
        let file = args.out.join(name);
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))
    };
    write("assessment.json", serde_json::to_string_pretty(&rep)?)?;
    write("assessment.md", report::markdown(&rep))?;
    write("assessment.html", report::html(&rep))?;
    write(
        "assessment.sarif",
        serde_json::to_string_pretty(&report::sarif(&rep))?,
    )?;
    write(
        "assessment.layer.json",
        serde_json::to_string_pretty(&report::navigator(&rep, &kb)?)?,
    )?;
    match report::case_study(&rep, &kb) {
        Ok(study) => write(
            "case-study.yaml",
            serde_yaml_ng::to_string(&study).context("cannot write the case study")?,
        )?,
        Err(e) => tracing::warn!("no case study written: {e}"),
    }
    match cli.format {
        Format::Json => print_json(&rep)?,
        _ => print_text(&report::text(&rep))?,
    }
    Ok(if rep.summary.errors > 0 {
        Outcome::Errors
    } else if rep.summary.failed + rep.summary.not_measured > 0 {
        Outcome::ProblemsFound
    } else {
        Outcome::Ok
    })
}
