//! `aisec scan`: the model-artifact scanner on files and directories.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use aisec_scan::scanner::{scan_path, FileKind, FileReport, ScanOptions};
use aisec_scan::Verdict;

use crate::output::{print_json, print_text, write_output, Format};
use crate::progress::Progress;
use crate::{Cli, Outcome};

const EXIT_CODES: &str =
    "Exit codes: 0 nothing dangerous or suspicious found (and, with --strict, nothing unknown); \
1 findings: a dangerous import, call or container trick, or a call of a callable that is neither \
allowlisted nor denied (suspicious: review it, then --allow MODULE.NAME), or, with --strict, a \
mere reference to an unknown name; \
2 errors and no failing finding (findings made before an error are listed, and a dangerous or \
suspicious one makes the exit 1): a file that cannot be read or parsed, an unsupported format, or a budget exceeded — \
the scanner fails closed, so an error is never reported as clean.";

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct ScanArgs {
    /// Files and directories (walked recursively). Formats are recognised by content, not by
    /// file name: pickle (protocols 0–5, also inside PyTorch zips and legacy tars, joblib),
    /// zip/.npz/.keras/.pt2, tar, 7z, gzip, bz2, xz, lzma, zlib, zstd, npy, safetensors, ONNX
    /// (with its external data), Keras HDF5, GGUF (chat templates too), TorchScript (the
    /// operators its code calls), TensorFlow SavedModel and frozen graphs (the ops of every
    /// function) with their checkpoints, XGBoost UBJSON/JSON, LightGBM text, CatBoost,
    /// SentencePiece. A string or bytes value inside a pickle that holds another pickle is
    /// scanned too. In a folder, files that are plainly text (README, licence, JSON config) are
    /// listed as not models. `s3://bucket/prefix/` scans the objects under the prefix
    /// (S3-compatible storage; the connection from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, AWS_ENDPOINT, AWS_ALLOW_HTTP), downloaded a batch at a time into a private
    /// temporary folder and reported under their URLs.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Fail (exit 1) on unknown names that are only referenced, not called, too. Without it,
    /// dangerous names and calls of unreviewed callables fail; references to them pass as
    /// "unknown".
    #[arg(long)]
    pub strict: bool,
    /// Add MODULE.NAME (or MODULE.*) to the allowlist after reviewing it; repeatable, or
    /// several comma-separated (--allow a.b,c.d). Calls of
    /// it then pass. Names on the deny list stay dangerous.
    #[arg(long = "allow", value_name = "MODULE.NAME", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// A file of allowlist entries: one MODULE.NAME per line, optional reason after it,
    /// `#` comments.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,
    /// Files scanned at once (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Pickle opcodes per file.
    #[arg(long, value_name = "N")]
    pub max_opcodes: Option<u64>,
    /// Bytes all decompression of one file may produce.
    #[arg(long, value_name = "BYTES")]
    pub max_decompressed: Option<u64>,
    /// Archives nested inside archives.
    #[arg(long, value_name = "N")]
    pub max_depth: Option<usize>,
    /// Wall-clock seconds per file.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Write the report (text, JSON or SARIF) to this file instead of stdout. With --shard:
    /// where the shard's result goes (required).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Scan only shard I of N (I counts from 1): every shard walks the same paths and takes
    /// its own part of the sorted file list — balanced by bytes, a model's folder (ONNX
    /// external data) and a checkpoint's shards kept together — so N runs, on any machines,
    /// cover every file once. Writes a shard result to --out for `aisec report merge`, which
    /// joins the N results into the report one scan makes and gives its exit code; a shard
    /// exits 0 once its result is written, whatever it found, and 2 when it could not be.
    /// Running a shard again overwrites only its own result. I and N are whole numbers
    /// (N at most 100000); --out may not lie inside a scanned folder.
    #[arg(long, value_name = "I/N", requires = "out")]
    pub shard: Option<aisec_scan::shard::Shard>,
}

pub fn run(cli: &Cli, args: &ScanArgs) -> Result<Outcome> {
    let options = options_of(args)?;
    let remote = crate::scan_remote::is_remote(&args.paths)?;
    if let Some(shard) = args.shard {
        return run_shard(cli, args, &options, shard, remote);
    }
    if let Some(out) = args
        .out
        .as_ref()
        .filter(|o| aisec_objects::is_url(&o.to_string_lossy()))
    {
        anyhow::bail!(
            "--out {}: only a shard's result (--shard) is written to object storage; write the report to a local file",
            out.display()
        );
    }
    let progress = Progress::new();
    let started = std::time::Instant::now();
    let tick = |done, total, path: &str| {
        progress.message(format!("scanned {done}/{total}: {path}"));
    };
    let report = if remote {
        let all = aisec_scan::shard::Shard { index: 1, count: 1 };
        let mut scan = crate::scan_remote::scan_objects(&args.paths, &options, all, &tick)?;
        let mut files = std::mem::take(&mut scan.unreadable);
        files.extend(scan.files.into_iter().map(|(_, r)| r));
        aisec_scan::scanner::ScanReport {
            files,
            strict: options.strict,
            limits: options.limits.clone(),
        }
    } else {
        scan_path(&args.paths, &options, &tick)
    };
    progress.finish();
    if report.files.is_empty() {
        let named: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!(
            "nothing to scan: {} holds no files; a scan that read nothing must not pass a CI gate",
            named.join(", ")
        );
    }
    let settings = settings_of(args, &report);
    let target = target_of(&args.paths);
    let stored = if cli.store || cli.format == Format::Json {
        let kb = crate::atlas_cmd::load_kb(cli)?;
        Some(aisec_assess::scan::scan_run_report(
            &report,
            &kb,
            &target,
            settings,
            started.elapsed().as_secs_f64(),
        ))
    } else {
        None
    };
    if let Some(run) = &stored {
        crate::output::store_run(cli, run)?;
    }
    let text = match (cli.format, &stored) {
        (Format::Json, Some(run)) => serde_json::to_string_pretty(run)? + "\n",
        (Format::Sarif, _) => sarif_text(&report)?,
        _ => render_text(&report.files, report.strict),
    };
    match &args.out {
        Some(path) => write_output(Some(path), &text)?,
        None if cli.format == Format::Json => {
            print_json(&serde_json::from_str::<serde_json::Value>(&text)?)?
        }
        None => print_text(&text)?,
    }
    Ok(outcome_of(&report))
}

pub(crate) fn outcome_of(report: &aisec_scan::scanner::ScanReport) -> Outcome {
    match report.exit_code() {
        0 => Outcome::Ok,
        1 => Outcome::ProblemsFound,
        _ => Outcome::Errors,
    }
}

pub(crate) fn sarif_text(report: &aisec_scan::scanner::ScanReport) -> Result<String> {
    Ok(serde_json::to_string_pretty(&aisec_scan::sarif::to_sarif(report))? + "\n")
}

fn target_of(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn settings_of(
    args: &ScanArgs,
    report: &aisec_scan::scanner::ScanReport,
) -> aisec_assess::scan::ScanSettings {
    aisec_assess::scan::ScanSettings {
        strict: args.strict,
        allow: args.allow.clone(),
        allowlist: args.allowlist.clone(),
        limits: report.limits.clone(),
        payload: None,
    }
}

/// One shard of the scan, written as a shard result.
fn run_shard(
    cli: &Cli,
    args: &ScanArgs,
    options: &ScanOptions,
    shard: aisec_scan::shard::Shard,
    remote: bool,
) -> Result<Outcome> {
    if cli.store {
        anyhow::bail!("--store with --shard: a shard is part of a scan; store the merged report (`aisec report merge … --store`)");
    }
    if cli.format == Format::Sarif {
        anyhow::bail!("--format sarif with --shard: a shard writes a shard result; `aisec report merge` writes the SARIF of the whole scan");
    }
    let out = args.out.as_ref().expect("clap requires --out with --shard");
    check_shard_out(out, &args.paths)?;
    let progress = Progress::new();
    let started = std::time::Instant::now();
    let tick = |done, total, path: &str| {
        progress.message(format!("shard {shard}: scanned {done}/{total}: {path}"));
    };
    let scan = if remote {
        crate::scan_remote::scan_objects(&args.paths, options, shard, &tick)?
    } else {
        aisec_scan::shard::scan_shard(&args.paths, options, shard, &tick)
    };
    progress.finish();
    if scan.total_files == 0 && scan.unreadable.is_empty() {
        let named: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!(
            "nothing to scan: {} holds no files; a scan that read nothing must not pass a CI gate",
            named.join(", ")
        );
    }
    let report = aisec_scan::scanner::ScanReport {
        files: scan.files.iter().map(|(_, r)| r.clone()).collect(),
        strict: options.strict,
        limits: options.limits.clone(),
    };
    let summary = serde_json::json!({
        "shard": shard.to_string(),
        "files": scan.files.len(),
        "bytes": scan.shard_bytes,
        "total_files": scan.total_files,
        "total_bytes": scan.total_bytes,
        "dangerous": report.count(Verdict::Dangerous),
        "suspicious": report.count(Verdict::Suspicious),
        "errors": report.files.iter().filter(|f| !f.errors.is_empty()).count(),
        "seconds": started.elapsed().as_secs_f64(),
        "result": out.display().to_string(),
    });
    let part = aisec_assess::scan::ScanShard {
        paths: args.paths.iter().map(|p| p.display().to_string()).collect(),
        settings: settings_of(args, &report),
        scan,
    };
    let result = aisec_assess::scan::shard_result(part, started.elapsed().as_secs_f64())?;
    result.write(out)?;
    match cli.format {
        Format::Json => print_json(&summary)?,
        _ => print_text(&format!(
            "shard {shard}: {} of {} files ({} of {} bytes) scanned in {:.1} s: {} dangerous, {} suspicious, {}; result in {} (join the shards with `aisec report merge`)\n",
            summary["files"], summary["total_files"], summary["bytes"], summary["total_bytes"],
            summary["seconds"].as_f64().unwrap_or(0.0), summary["dangerous"], summary["suspicious"],
            crate::output::count(summary["errors"].as_u64().unwrap_or(0) as usize, "error", "errors"),
            out.display()
        ))?,
    }
    Ok(Outcome::Ok)
}

/// The scanned folder `out` would land in, if any.
fn inside_a_scanned_folder<'a>(out: &std::path::Path, paths: &'a [PathBuf]) -> Option<&'a PathBuf> {
    let absolute = std::path::absolute(out).ok()?;
    // The nearest folder of `out` that exists, resolved (symbolic links followed).
    let mut existing = absolute.parent()?.to_path_buf();
    while !existing.exists() {
        existing = existing.parent()?.to_path_buf();
    }
    let resolved = existing.canonicalize().ok()?;
    paths
        .iter()
        .filter(|p| p.is_dir())
        .find(|p| p.canonicalize().is_ok_and(|dir| resolved.starts_with(&dir)))
}

/// A shard's result goes to a file (not a folder, not one of the inputs, not inside a scanned
/// folder, where the next shard would scan it) or to an `s3://` object.
fn check_shard_out(out: &std::path::Path, paths: &[PathBuf]) -> Result<()> {
    let shown = out.to_string_lossy();
    if aisec_objects::is_url(&shown) {
        if shown.ends_with('/') {
            anyhow::bail!(
                "--out {shown}: names a folder; expected the URL of this shard's result object"
            );
        }
        let scanned = paths.iter().map(|p| p.to_string_lossy()).find(|p| {
            let folder = if p.ends_with('/') {
                p.to_string()
            } else {
                format!("{p}/")
            };
            shown.starts_with(&folder) || shown == *p
        });
        if let Some(prefix) = scanned {
            anyhow::bail!(
                "--out {shown}: is under {prefix}, which this scan reads: the result of one shard would be scanned by the next and the shards would never agree on the list; write it elsewhere"
            );
        }
        return Ok(());
    }
    crate::output::not_an_input(out, "--out")?;
    if out.is_dir() || shown.ends_with('/') {
        anyhow::bail!(
            "--out {shown}: is a folder; expected the file this shard's result is written to"
        );
    }
    if let Some(dir) = inside_a_scanned_folder(out, paths) {
        anyhow::bail!(
            "--out {shown}: is inside {}, which this scan reads: the result of one shard would be scanned by the next and the shards would never agree on the file list; write it elsewhere",
            dir.display()
        );
    }
    Ok(())
}

fn options_of(args: &ScanArgs) -> Result<ScanOptions> {
    let mut options = ScanOptions {
        strict: args.strict,
        jobs: args.jobs,
        ..ScanOptions::default()
    };
    for entry in &args.allow {
        options
            .policy
            .allow(entry, "allowed with --allow")
            .map_err(|e| anyhow::anyhow!("--allow {e}"))?;
    }
    if let Some(path) = &args.allowlist {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--allowlist {}: cannot read", path.display()))?;
        options
            .policy
            .allow_file(&text, &path.display().to_string())
            .map_err(|e| anyhow::anyhow!("--allowlist {e}"))?;
    }
    for (flag, value) in [
        ("--max-opcodes", args.max_opcodes),
        ("--max-decompressed", args.max_decompressed),
        ("--timeout", args.timeout),
    ] {
        if value == Some(0) {
            anyhow::bail!(
                "{flag} 0: expected at least 1 (a limit of 0 would stop every file at once)"
            );
        }
    }
    if let Some(s) = args.timeout.filter(|s| *s > 7 * 86_400) {
        anyhow::bail!(
            "--timeout {s}: expected at most a week of seconds ({})",
            7 * 86_400
        );
    }
    let limits = &mut options.limits;
    if let Some(n) = args.max_opcodes {
        limits.max_opcodes = n;
    }
    if let Some(n) = args.max_decompressed {
        limits.max_decompressed_bytes = n;
        limits.max_member_bytes = limits.max_member_bytes.min(n);
    }
    if let Some(n) = args.max_depth {
        limits.max_depth = n;
    }
    if let Some(s) = args.timeout {
        limits.max_time = std::time::Duration::from_secs(s);
    }

    Ok(options)
}

pub(crate) fn render_text(files: &[FileReport], strict: bool) -> String {
    let mut out = String::new();
    let (mut dangerous, mut suspicious, mut unknown, mut safe, mut errors) = (0, 0, 0, 0, 0);
    let mut not_models: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files {
        if f.kind == FileKind::NotAModel {
            let path = std::path::Path::new(&f.path);
            not_models
                .entry(
                    path.parent()
                        .map_or(String::new(), |p| p.display().to_string()),
                )
                .or_default()
                .push(
                    path.file_name()
                        .map_or(f.path.clone(), |n| n.to_string_lossy().into_owned()),
                );
            continue;
        }
        if !f.errors.is_empty() {
            errors += 1;
        }
        let status = if !f.errors.is_empty() && f.verdict < Verdict::Suspicious {
            "ERROR"
        } else {
            match f.verdict {
                Verdict::Dangerous => {
                    dangerous += 1;
                    "DANGEROUS"
                }
                Verdict::Suspicious => {
                    suspicious += 1;
                    "SUSPICIOUS"
                }
                Verdict::Unknown => {
                    unknown += 1;
                    "UNKNOWN"
                }
                Verdict::Safe => {
                    safe += 1;
                    "safe"
                }
            }
        };
        out.push_str(&format!(
            "{status:<10} {} ({}{}, {} bytes{})\n",
            f.path,
            f.format.as_str(),
            f.data_of
                .as_ref()
                .map_or(String::new(), |m| format!(" of {m}")),
            f.bytes,
            if f.pickles > 0 {
                format!(", {} pickle(s), {} opcodes", f.pickles, f.opcodes)
            } else {
                String::new()
            }
        ));
        for finding in &f.findings {
            let mut place = String::new();
            if let Some(m) = &finding.member {
                place.push_str(&format!(" in {m}"));
            }
            if let Some(o) = finding.offset {
                place.push_str(&format!(" at byte {o}"));
            }
            if let Some(op) = &finding.opcode {
                place.push_str(&format!(" ({op})"));
            }
            if finding.occurrences > 1 {
                place.push_str(&format!(", {} times", finding.occurrences));
                if !finding.repeated_at.is_empty() {
                    let at: Vec<String> = finding.repeated_at.iter().map(u64::to_string).collect();
                    let more = finding.occurrences - 1 - finding.repeated_at.len();
                    place.push_str(&format!(
                        " (also at bytes {}{})",
                        at.join(", "),
                        if more > 0 {
                            format!(" and {more} more")
                        } else {
                            String::new()
                        }
                    ));
                }
            }
            out.push_str(&format!(
                "  [{}] {} {}{place}: {}\n",
                finding.severity.as_str().to_uppercase(),
                finding.rule,
                finding.verdict.as_str(),
                finding.message
            ));
            if let Some(call) = &finding.call {
                out.push_str(&format!("      {call}\n"));
            }
            out.push_str(&format!(
                "      ATLAS {}; {}\n",
                finding.atlas.join(", "),
                finding.cwe.join(", ")
            ));
        }
        for e in &f.errors {
            out.push_str(&format!("  error: {e}\n"));
        }
    }
    for (folder, names) in &not_models {
        out.push_str(&format!(
            "not models {}{}: {} (plain text, empty, or TensorFlow event logs: read as data, text only for XML entity declarations; nothing in them a loader runs)\n",
            if folder.is_empty() { "" } else { "in " },
            folder,
            names.join(", ")
        ));
    }
    let others: usize = not_models.values().map(Vec::len).sum();
    out.push_str(&format!(
        "\n{}: {dangerous} dangerous, {suspicious} suspicious, {unknown} unknown{}, {safe} safe, {}{}\n",
        crate::output::count(files.len(), "file", "files"),
        if strict { " (failing: --strict)" } else { "" },
        crate::output::count(errors, "error", "errors"),
        if others > 0 {
            format!(", {}", crate::output::count(others, "not a model", "not models"))
        } else {
            String::new()
        }
    ));
    out
}
