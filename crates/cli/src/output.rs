use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// SARIF 2.1.0, for `aisec scan`.
    Sarif,
    /// One JSON object per line, for `aisec llm probe` (one line per attempt).
    Jsonl,
    /// A self-contained HTML report, for `aisec llm probe`.
    Html,
}

/// The run database's path: `--store-db`, else the default under the data directory.
pub fn store_path(cli: &crate::Cli) -> Result<std::path::PathBuf> {
    Ok(match &cli.store_db {
        Some(p) => p.clone(),
        None => aisec_store::default_path()?,
    })
}

/// The run database, created when missing (for writing).
pub fn open_store(cli: &crate::Cli) -> Result<aisec_store::Store> {
    Ok(aisec_store::Store::open(&store_path(cli)?)?)
}

/// The run database for reading: one that does not exist is an error, not a new empty one.
pub fn open_existing_store(cli: &crate::Cli) -> Result<aisec_store::Store> {
    let path = store_path(cli)?;
    anyhow::ensure!(
        path.is_file(),
        "no run database at {} (runs are stored with --store; --store-db or AISEC_STORE_DB names another)",
        path.display()
    );
    Ok(aisec_store::Store::open(&path)?)
}

/// Whether this command offered a run to `--store` (for the warning when it has none).
pub static OFFERED_A_RUN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// With `--store`: keeps `run` (a run object) in the run database and says where on stderr.
/// A database that cannot take it costs a warning, not the run: the command's output and
/// exit code stay what the run decided.
pub fn store_run<T: Serialize>(cli: &crate::Cli, run: &T) -> Result<()> {
    OFFERED_A_RUN.store(true, std::sync::atomic::Ordering::Relaxed);
    if !cli.store {
        return Ok(());
    }
    let stored = serde_json::to_value(run)
        .context("cannot serialize the run")
        .and_then(|value| {
            let mut store = open_store(cli)?;
            let id = store.add(&value)?;
            Ok((id, store.path().to_string()))
        });
    match stored {
        Ok((id, path)) => eprintln!("stored as run {id} in {path}"),
        Err(e) => eprintln!("warning: --store: the run was not stored: {e:#}"),
    }
    Ok(())
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).context("cannot serialize the output as JSON")?;
    print_text(&(text + "\n"))
}

/// Prints on stdout; a closed pipe (`| head`) ends quietly instead of panicking.
pub fn print_text(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// Writes `text` to `path`, or to stdout when no path is given.
pub fn write_output(path: Option<&Path>, text: &str) -> Result<()> {
    match path {
        Some(p) => {
            not_an_input(p, &p.display().to_string())?;
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create directory {}", dir.display()))?;
            }
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("wrote {}", p.display());
            Ok(())
        }
        None => print_text(text),
    }
}

/// A finding as text: severity, title, ATLAS techniques, mitigations with their phases.
pub fn push_finding(out: &mut String, f: &aisec_core::Finding) {
    let atlas: Vec<&str> = f.atlas.iter().map(|a| a.as_str()).collect();
    let mitigations: Vec<String> = f
        .mitigations
        .iter()
        .map(|m| format!("{} ({})", m.id, m.phases.join("; ")))
        .collect();
    out.push_str(&format!(
        "\n[{}] {}\n  ATLAS: {}\n  mitigations: {}\n",
        f.severity.as_str().to_uppercase(),
        f.title,
        atlas.join(", "),
        mitigations.join(", ")
    ));
}

/// A fraction metric as a percentage, or "n/a" when the run did not report it (never 0).
/// The findings of the run behind the defence, under the defence's name.
pub fn push_defended_findings(out: &mut String, report: &aisec_report::RunReport) {
    if let Some(d) = &report.defended {
        let name = d
            .defense
            .as_ref()
            .map_or("the defence", |r| r.name.as_str());
        out.push_str(&format!("\nbehind {name}:\n"));
        for f in &d.findings {
            push_finding(out, f);
        }
    }
}

pub fn pct(m: &aisec_core::Metrics, key: aisec_core::Metric) -> String {
    m.get(key)
        .map_or_else(|| "n/a".into(), |v| format!("{:.2}%", 100.0 * v))
}

/// A metric with `decimals` decimals, or "n/a" when the run did not report it.
pub fn num(m: &aisec_core::Metrics, key: aisec_core::Metric, decimals: usize) -> String {
    m.get(key)
        .map_or_else(|| "n/a".into(), |v| format!("{v:.decimals$}"))
}

/// Refuses an output path whose folder does not exist before any work is done, so that a
/// finished run is never lost to a typo.
pub fn check_writable(path: &std::path::Path, flag: &str) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "{flag} {}: the folder {} does not exist",
            path.display(),
            parent.display()
        );
    }
    not_an_input(path, &format!("{flag} {}", path.display()))?;
    Ok(())
}

/// Refuses an output `path` (`shown` as the error names it) that is one of the command's inputs.
pub(crate) fn not_an_input(path: &std::path::Path, shown: &str) -> anyhow::Result<()> {
    match also_an_input(path) {
        Some(input) => anyhow::bail!(
            "{shown}: that is {input}, an input of this command; writing there would destroy it (choose another file)"
        ),
        None => Ok(()),
    }
}

/// What makes two names one file: the device and inode on Unix (so a hard link is the same
/// file as its original), the resolved path elsewhere.
#[cfg(unix)]
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(path: &std::path::Path) -> Option<std::path::PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// The command-line argument, other than the output's own, that names the same existing file
/// as `path` (`--data x.npy --save-adv ./x.npy`, or a hard link to it), as it was written.
fn also_an_input(path: &std::path::Path) -> Option<String> {
    let target = file_identity(path)?;
    let same: Vec<String> = std::env::args_os()
        .skip(1)
        .filter_map(|a| {
            let a = a.to_string_lossy().into_owned();
            let value = match a.split_once('=') {
                Some((flag, v)) if flag.starts_with("--") => v.to_string(),
                _ => a,
            };
            value
                .split(',')
                .any(|v| file_identity(std::path::Path::new(v)).is_some_and(|c| c == target))
                .then_some(value)
        })
        .collect();
    // The output's own argument is one of them; a second is an input.
    (same.len() >= 2).then(|| same[0].clone())
}

/// "1 warning", "2 warnings".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
