//! `aisec report merge`: the results of a job cut into shards (`--shard I/N`) joined into the
//! report one process would have written.

use std::path::{Path, PathBuf};

use aisec_assess::shards::{Gathered, Job};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::output::print_text;
use crate::{Cli, Outcome};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Join the N shard results of one job (`aisec scan --shard I/N`, `aisec assess --shard
    /// I/N`, `aisec attack membership --shard I/N`) into the report one process makes of the
    /// whole job. Refuses results of different jobs, inputs or aisec versions, a shard given
    /// twice, and names every missing shard.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Writes into DIR, by job — scan: report.json (as `aisec scan --format json`), report.sarif (as --format sarif), report.txt (as the text output), report.html, atlas-layer.json (ATT&CK Navigator); \
assess: what `aisec assess` writes (assessment.json, .md, .html, .sarif, .layer.json, case-study.yaml); \
membership (the attack runs once, every shadow model loaded, and prints what the command prints): report.json (as `aisec attack membership --format json`), report.html, atlas-layer.json. \
Every job also gets merge.json: each shard's file, host and time. \
Exit codes are the job's own: scan 0 clean, 1 findings, 2 errors; assess 0 all passed, 1 failed or not measured, 2 a step could not run; membership 0, or 1 with a finding of high severity. \
A set that cannot be merged (missing or repeated shards, different jobs) exits 2 and writes nothing."
)]
pub struct MergeArgs {
    /// The shard results (each `--shard I/N` run's --out; for assess and membership,
    /// DIR/shard-I-of-N.json): files, or s3:// URLs, where a URL ending in `/` stands for
    /// every `.json` object under it.
    #[arg(required = true, value_name = "RESULT")]
    pub results: Vec<PathBuf>,
    /// The folder for the merged report.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(cli: &Cli, cmd: &ReportCommand) -> Result<Outcome> {
    match cmd {
        ReportCommand::Merge(args) => merge(cli, args),
    }
}

fn merge(cli: &Cli, args: &MergeArgs) -> Result<Outcome> {
    if aisec_objects::is_url(&args.out.to_string_lossy()) {
        anyhow::bail!(
            "--out {}: the merged report is written to a local folder (shard results may be s3:// URLs; the report is not)",
            args.out.display()
        );
    }
    if args.out.is_file() {
        anyhow::bail!(
            "--out {}: is a file; expected a folder for the merged report",
            args.out.display()
        );
    }
    let gathered = Gathered::read(&args.results)?;
    // Absolute before the assessment and membership merges enter the shards' folder.
    let out = std::path::absolute(&args.out).with_context(|| {
        format!(
            "--out {}: cannot make the path absolute",
            args.out.display()
        )
    })?;
    let outcome = match gathered.job {
        Job::Scan => merge_scan(cli, &gathered, &out)?,
        Job::Assess => crate::assess_cmd::merge(cli, &gathered, &out)?,
        Job::MembershipShadows => crate::membership_shard::merge(cli, &gathered, &out)?,
    };
    write(
        &out,
        "merge.json",
        serde_json::to_string_pretty(&gathered.provenance())? + "\n",
    )?;
    Ok(outcome)
}

/// Writes one file of the merged report (the folder is made only once there is a report).
pub(crate) fn write(dir: &Path, name: &str, text: String) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--out {}: cannot create the folder", dir.display()))?;
    let file = dir.join(name);
    std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))
}

/// report.json, .html, atlas-layer.json of one run.
pub(crate) fn write_run(
    dir: &Path,
    run: &aisec_report::RunReport,
    kb: &aisec_atlas::KnowledgeBase,
) -> Result<()> {
    write(
        dir,
        "report.json",
        serde_json::to_string_pretty(run)? + "\n",
    )?;
    write(
        dir,
        "report.html",
        aisec_report::html::render(&aisec_report::run_document(run)),
    )?;
    let layer = aisec_report::navigator::findings_layer(kb, &run.name, &run.findings)?;
    write(
        dir,
        "atlas-layer.json",
        serde_json::to_string_pretty(&layer)? + "\n",
    )
}

fn merge_scan(cli: &Cli, gathered: &Gathered, out: &Path) -> Result<Outcome> {
    let (report, part) = aisec_assess::scan::merge(gathered)?;
    let kb = crate::atlas_cmd::load_kb(cli)?;
    let target = part.paths.join(" ");
    let run = aisec_assess::scan::scan_run_report(
        &report,
        &kb,
        &target,
        part.settings,
        gathered.slowest_seconds(),
    );
    crate::output::store_run(cli, &run)?;
    write_run(out, &run, &kb)?;
    write(out, "report.sarif", crate::scan_cmd::sarif_text(&report)?)?;
    let text = crate::scan_cmd::render_text(&report.files, report.strict);
    write(out, "report.txt", text.clone())?;
    print_text(&format!(
        "merged {} shards of the scan of {target}: {}wrote {}\n",
        gathered.count,
        text.lines()
            .last()
            .map_or(String::new(), |l| format!("{l}; ")),
        out.display()
    ))?;
    Ok(crate::scan_cmd::outcome_of(&report))
}
