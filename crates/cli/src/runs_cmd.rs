//! `aisec runs`: the run database — list, show, import run objects, and the heat per ATLAS
//! technique that `aisec serve` draws on the matrix.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::output::{open_store, print_json, print_text, Format};
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
}

/// A calendar date as the store compares it: `YYYY-MM-DD`, digits where digits go.
pub fn parse_date(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let month = s.get(5..7).and_then(|m| m.parse::<u32>().ok());
    let day = s.get(8..10).and_then(|d| d.parse::<u32>().ok());
    match (shape, month, day) {
        (true, Some(1..=12), Some(1..=31)) => Ok(s.to_string()),
        _ => Err(format!("expected a date as YYYY-MM-DD, got {s:?}")),
    }
}

pub fn run(cli: &Cli, cmd: &RunsCommand) -> Result<Outcome> {
    match cmd {
        RunsCommand::List(a) => {
            let store = open_store(cli)?;
            let runs = store.list(&aisec_store::RunFilter {
                target: a.target.clone(),
                family: a.family.clone(),
                technique: a.technique.clone(),
                since: a.since.clone(),
                until: a.until.clone(),
                limit: a.limit,
            })?;
            match cli.format {
                Format::Json => print_json(&runs)?,
                _ => {
                    let mut out = format!("{} ({} runs stored)\n", store.path(), store.count()?);
                    for r in &runs {
                        out.push_str(&format!(
                            "{:>5}  {}  {:<28} {:>3} findings (worst {:<8})  {}\n",
                            r.id,
                            r.stored_at,
                            r.name,
                            r.findings,
                            r.worst_severity.map_or("none", |s| s.as_str()),
                            r.target
                        ));
                    }
                    print_text(&out)?;
                }
            }
        }
        RunsCommand::Show { id } => {
            let store = open_store(cli)?;
            let run = store
                .get(*id)?
                .with_context(|| format!("no run {id} in {}", store.path()))?;
            print_json(&run.report)?;
        }
        RunsCommand::Add { files } => {
            let mut store = open_store(cli)?;
            for f in files {
                let size = std::fs::metadata(f)
                    .with_context(|| format!("cannot read {}", f.display()))?
                    .len();
                anyhow::ensure!(
                    size <= MAX_IMPORT_BYTES,
                    "{}: {size} bytes, more than the {MAX_IMPORT_BYTES} a run object may have",
                    f.display()
                );
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read {}", f.display()))?;
                let value: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not JSON", f.display()))?;
                let id = store
                    .add(&value)
                    .with_context(|| format!("{}", f.display()))?;
                eprintln!("{}: stored as run {id}", f.display());
            }
        }
        RunsCommand::Heat => {
            let store = open_store(cli)?;
            let heat = store.heat()?;
            match cli.format {
                Format::Json => print_json(&heat)?,
                _ => {
                    let mut out = String::new();
                    for h in &heat {
                        out.push_str(&format!(
                            "{:<16} {:>4} runs {:>4} findings  worst {:<8}  last {}\n",
                            h.technique,
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
