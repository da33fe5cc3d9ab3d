//! `aisec assess PLAN --out DIR`: runs an assessment plan step by step (resuming finished
//! steps), then writes the report in every format.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use aisec_assess::threat::{self, assessment, profile, report};
use anyhow::{bail, Context, Result};
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
    /// Run only shard I of N (I counts from 1): every N-th step of the plan from the I-th.
    /// Its step results go to DIR/steps/ as usual, and a shard result to
    /// DIR/shard-I-of-N.json; no assessment report is written — `aisec report merge` joins
    /// the N shard results (from one shared DIR or N of them) into the report one run makes.
    /// The merge reads the plan and its profile from the path given here, so give a path
    /// every machine reaches. A shard exits 0 once its result is written, whatever its steps
    /// found, and 2 when it could not be.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<aisec_scan::shard::Shard>,
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
    if let Some(shard) = args.shard {
        if cli.store {
            bail!("--store with --shard: store the merged report's steps (`aisec report merge … --store`)");
        }
        let started = std::time::Instant::now();
        let mine = assessment::shard_steps(&plan, shard);
        let results = assessment::run_steps(
            &plan,
            &args.plan,
            &args.out,
            &exe,
            step_timeout,
            &|i| mine.contains(&i),
            &mut progress,
        )?;
        let result = shard_result(&args.plan, &args.out, shard, &mine, results, started)?;
        let file = args
            .out
            .join(format!("shard-{}-of-{}.json", shard.index, shard.count));
        result.write(&file)?;
        print_text(&format!(
            "shard {shard}: {} of {} steps run; result in {} (join the shards with `aisec report merge`)\n",
            mine.len(),
            plan.steps.len(),
            file.display()
        ))?;
        return Ok(Outcome::Ok);
    }
    let results = assessment::run(
        &plan,
        &args.plan,
        &args.out,
        &exe,
        step_timeout,
        &mut progress,
    )?;
    finish(
        cli,
        &kb,
        tm,
        &plan,
        &args.plan.display().to_string(),
        &args.out,
        results,
    )
}

/// What the plan's shards must agree on: the plan's and its profile's bytes.
fn plan_digest(plan_path: &Path, plan: &threat::plan::Plan) -> Result<String> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("{}: cannot read", p.display()));
    let plan_bytes = read(plan_path)?;
    let dir = plan_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let profile_bytes = read(&dir.join(&plan.profile))?;
    Ok(aisec_assess::shards::digest(&[&plan_bytes, &profile_bytes]))
}

/// An assessment shard's own part of its result.
#[derive(serde::Serialize, serde::Deserialize)]
struct AssessShard {
    /// The plan, as an absolute path every shard and the merge read.
    plan: PathBuf,
    /// The plan as the user named it (the report's "plan" line), and the folder it was
    /// named from: the merge reads it from there, so that the report names it the same way.
    plan_as_given: String,
    cwd: PathBuf,
    /// The shard's --out, where its steps' results and logs are.
    out: PathBuf,
    steps: Vec<(usize, assessment::StepResult)>,
}

fn shard_result(
    plan_path: &Path,
    out: &Path,
    shard: aisec_scan::shard::Shard,
    mine: &[usize],
    results: Vec<assessment::StepResult>,
    started: std::time::Instant,
) -> Result<aisec_assess::shards::ShardResult> {
    let plan = threat::plan::load(plan_path)?;
    let digest = plan_digest(plan_path, &plan)?;
    let absolute = std::path::absolute(plan_path)
        .with_context(|| format!("{}: cannot make the path absolute", plan_path.display()))?;
    let part = AssessShard {
        plan: absolute,
        plan_as_given: plan_path.display().to_string(),
        cwd: std::env::current_dir().context("cannot read the current folder")?,
        out: std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf()),
        steps: mine.iter().copied().zip(results).collect(),
    };
    Ok(aisec_assess::shards::ShardResult::new(
        aisec_assess::shards::Job::Assess,
        shard,
        digest,
        plan_path.display().to_string(),
        started.elapsed().as_secs_f64(),
        serde_json::to_value(&part)?,
    ))
}

/// The assessment report of a plan whose shards ran apart.
pub(crate) fn merge(
    cli: &Cli,
    gathered: &aisec_assess::shards::Gathered,
    out: &Path,
) -> Result<Outcome> {
    let mut parts = Vec::new();
    for (path, r) in &gathered.results {
        let part: AssessShard = serde_json::from_value(r.payload.clone())
            .with_context(|| format!("{}: malformed assessment shard", path.display()))?;
        parts.push(part);
    }
    let out = &std::path::absolute(out).context("--out: cannot make the path absolute")?;
    // The plan as the shards named it, from where they named it: the report says it the same.
    std::env::set_current_dir(&parts[0].cwd).with_context(|| {
        format!(
            "cannot enter {}, the folder the shards ran in",
            parts[0].cwd.display()
        )
    })?;
    let plan_path = PathBuf::from(&parts[0].plan_as_given);
    if std::path::absolute(&plan_path).ok().as_ref() != Some(&parts[0].plan) {
        bail!(
            "{}: the shards' plan is no longer at {}",
            parts[0].plan_as_given,
            parts[0].plan.display()
        );
    }
    let plan = threat::plan::load(&plan_path)
        .with_context(|| "the plan the shards ran (recorded in their results)".to_string())?;
    if plan_digest(&plan_path, &plan)? != gathered.results[0].1.job_digest {
        bail!(
            "{}: the plan or its profile changed since the shards ran; run the shards again",
            plan_path.display()
        );
    }
    let mut slots: Vec<Option<assessment::StepResult>> = vec![None; plan.steps.len()];
    let mut sources: Vec<(usize, PathBuf)> = Vec::new();
    for ((path, _), part) in gathered.results.iter().zip(parts.iter_mut()) {
        for (i, step) in std::mem::take(&mut part.steps) {
            let slot = slots.get_mut(i).filter(|s| s.is_none()).with_context(|| {
                format!(
                    "{}: step {i} is outside the plan or in two shards",
                    path.display()
                )
            })?;
            if plan.steps[i].id != step.id {
                bail!(
                    "{}: step {i} is {:?}, the plan's is {:?}",
                    path.display(),
                    step.id,
                    plan.steps[i].id
                );
            }
            *slot = Some(step);
            sources.push((i, part.out.clone()));
        }
    }
    let missing: Vec<&str> = slots
        .iter()
        .zip(&plan.steps)
        .filter(|(s, _)| s.is_none())
        .map(|(_, st)| st.id.as_str())
        .collect();
    if !missing.is_empty() {
        bail!("steps in no shard's result: {}", missing.join(", "));
    }
    // Each step's result and log, beside the merged report as `aisec assess` keeps them.
    let steps = out.join("steps");
    std::fs::create_dir_all(&steps)
        .with_context(|| format!("cannot create {}", steps.display()))?;
    for (i, shard_out) in &sources {
        let id = &plan.steps[*i].id;
        for ext in ["json", "log"] {
            let from = shard_out.join("steps").join(format!("{id}.{ext}"));
            if from.is_file() {
                std::fs::copy(&from, steps.join(format!("{id}.{ext}"))).with_context(|| {
                    format!("cannot copy {} into {}", from.display(), steps.display())
                })?;
            }
        }
    }
    let plan_dir = plan_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or(PathBuf::from("."), PathBuf::from);
    let loaded = profile::load(&plan_dir.join(&plan.profile))
        .with_context(|| format!("{}: the plan's profile", plan_path.display()))?;
    let kb = crate::atlas_cmd::load_kb(cli)?;
    let tm = threat::build(&loaded, &kb);
    finish(
        cli,
        &kb,
        tm,
        &plan,
        &parts[0].plan_as_given,
        out,
        slots.into_iter().flatten().collect(),
    )
}

/// Writes the assessment report in every format and prints it.
fn finish(
    cli: &Cli,
    kb: &aisec_atlas::KnowledgeBase,
    tm: threat::ThreatModel,
    plan: &threat::plan::Plan,
    plan_shown: &str,
    out: &Path,
    results: Vec<assessment::StepResult>,
) -> Result<Outcome> {
    // With --store: each step's run object, so that its findings reach the matrix.
    for step in &results {
        if let Some(run) = &step.report {
            crate::output::store_run(cli, run)?;
        }
    }
    let rep = report::build(tm, plan, plan_shown, results);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let write = |name: &str, text: String| -> Result<()> {
        let file = out.join(name);
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
        serde_json::to_string_pretty(&report::navigator(&rep, kb)?)?,
    )?;
    match report::case_study(&rep, kb) {
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
