//! `aisec runs`: the run database — list, show, import run objects, and the heat per ATLAS
//! technique that `aisec serve` draws on the matrix.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::output::{open_existing_store, open_store, print_json, print_text, Format};
use crate::{Cli, Outcome};

/// Run objects bigger than this are not read (a run object is kilobytes to megabytes).
const MAX_IMPORT_BYTES: u64 = aisec_store::MAX_RUN_BYTES as u64;

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Stored runs, newest first.
    List(ListArgs),
    /// One stored run's run object.
    Show {
        /// The run's id (`aisec runs list` shows it).
        id: i64,
    },
    /// Store run objects written earlier (`--format json` output, `report.json` of the demo).
    Add {
        /// JSON files, each one run object.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Findings as AI Vulnerability Database (AVID) reports, one JSON object per line (the
    /// data model of avidtools' `Report`, taxonomy 0.2, as garak exports): every finding of
    /// a run object (a stored run by --id, or a JSON file) and of the runs inside it.
    Avid {
        /// A run object written with `--format json` (or a demo's report.json).
        #[arg(conflicts_with = "id", required_unless_present = "id")]
        file: Option<PathBuf>,
        /// A stored run's id (`aisec runs list` shows it).
        #[arg(long)]
        id: Option<i64>,
        /// Write the reports here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Per ATLAS technique: stored runs that exercised it, findings naming it, their worst
    /// severity and when it was last seen.
    Heat,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs against this target (exact name, as the run states it).
    #[arg(long)]
    pub target: Option<String>,
    /// Only this family: the run name's prefix (evasion, extract, membership, poison, invert,
    /// scan, llm, demo …).
    #[arg(long)]
    pub family: Option<String>,
    /// Only runs that exercised this ATLAS technique (a parent includes its sub-techniques).
    #[arg(long)]
    pub technique: Option<String>,
    /// Only runs stored on or after this date (YYYY-MM-DD, UTC).
    #[arg(long, value_parser = parse_date)]
    pub since: Option<String>,
    /// Only runs stored before this date (YYYY-MM-DD, UTC).
    #[arg(long, value_parser = parse_date)]
    pub until: Option<String>,
    /// At most this many (0: all).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Skip this many of the newest first (paging with --limit).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

/// A calendar date as the store compares it: `YYYY-MM-DD`, a day that exists.
pub fn parse_date(s: &str) -> Result<String, String> {
    if aisec_store::is_calendar_date(s) {
        Ok(s.to_string())
    } else {
        Err(format!("expected a calendar date as YYYY-MM-DD, got {s:?}"))
    }
}

/// Text a run carries, as a terminal should show it: control characters (escape sequences,
/// carriage returns, NUL) written out instead of acted on.
fn shown(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

pub fn run(cli: &Cli, cmd: &RunsCommand) -> Result<Outcome> {
    match cmd {
        RunsCommand::List(a) => {
            let store = open_existing_store(cli)?;
            let runs = store.list(&aisec_store::RunFilter {
                target: a.target.clone(),
                family: a.family.clone(),
                technique: a.technique.clone(),
                since: a.since.clone(),
                until: a.until.clone(),
                limit: a.limit,
                offset: a.offset,
            })?;
            match cli.format {
                Format::Json => print_json(&runs)?,
                _ => {
                    let mut out = format!(
                        "{} ({} runs stored, {} shown)\n",
                        store.path(),
                        store.count()?,
                        runs.len()
                    );
                    for r in &runs {
                        out.push_str(&format!(
                            "{:>5}  {}  {:<28} {:>3} findings (worst {:<8})  {}\n",
                            r.id,
                            r.stored_at,
                            shown(&r.name),
                            r.findings,
                            r.worst_severity.map_or("none", |s| s.as_str()),
                            shown(&r.target)
                        ));
                    }
                    print_text(&out)?;
                }
            }
        }
        RunsCommand::Show { id } => {
            let store = open_existing_store(cli)?;
            let run = store
                .get(*id)?
                .with_context(|| format!("no run {id} in {}", store.path()))?;
            print_json(&run.report)?;
        }
        RunsCommand::Add { files } => {
            let mut store = open_store(cli)?;
            for f in files {
                let value = read_run_file(f)?;
                let id = store
                    .add(&value)
                    .with_context(|| format!("{}", f.display()))?;
                eprintln!("{}: stored as run {id}", f.display());
            }
        }
        RunsCommand::Avid { file, id, out } => {
            let value = match (file, id) {
                (Some(f), _) => read_run_file(f)?,
                (None, Some(id)) => {
                    let store = open_existing_store(cli)?;
                    store
                        .get(*id)?
                        .with_context(|| format!("no run {id} in {}", store.path()))?
                        .report
                }
                (None, None) => anyhow::bail!("give a run object file or --id N"),
            };
            let date = aisec_core::date::today();
            let reports = aisec_report::avid::reports(&value, &date).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e}",
                    file.as_ref()
                        .map_or_else(|| "the stored run".to_string(), |f| f.display().to_string())
                )
            })?;
            let mut text = String::new();
            for r in &reports {
                text.push_str(&serde_json::to_string(r)?);
                text.push('\n');
            }
            match out {
                Some(path) => {
                    crate::output::check_writable(path, "--out")?;
                    std::fs::write(path, &text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "{} AVID reports written to {}",
                        reports.len(),
                        path.display()
                    );
                }
                None => print!("{text}"),
            }
        }
        RunsCommand::Heat => {
            let store = open_existing_store(cli)?;
            let heat = store.heat()?;
            match cli.format {
                Format::Json => print_json(&heat)?,
                _ => {
                    let mut out = String::new();
                    for h in &heat {
                        out.push_str(&format!(
                            "{:<16} {:>4} runs {:>4} findings  worst {:<8}  last {}\n",
                            shown(&h.technique),
                            h.runs,
                            h.findings,
                            h.worst_severity.map_or("none", |s| s.as_str()),
                            h.last_seen
                        ));
                    }
                    print_text(&out)?;
                }
            }
        }
    }
    Ok(Outcome::Ok)
}

/// A run object file: at most [`MAX_IMPORT_BYTES`], JSON.
fn read_run_file(f: &std::path::Path) -> Result<serde_json::Value> {
    let size = std::fs::metadata(f)
        .with_context(|| format!("cannot read {}", f.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_IMPORT_BYTES,
        "{}: {size} bytes, more than the {MAX_IMPORT_BYTES} a run object may have",
        f.display()
    );
    let text =
        std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not JSON", f.display()))
}
