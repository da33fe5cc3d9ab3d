//! A scan as the shared run object (DESIGN.md "Machine-readable output"): each scanner
//! finding becomes a [`Finding`] with its ATLAS techniques, the mitigations that address it
//! with their lifecycle phases, and the evidence (file, archive member, byte offset, opcode,
//! the call); per-file details go under `observations`.

use aisec_atlas::KnowledgeBase;
use aisec_core::{AtlasRef, Details, Evidence, Finding, Metric, Metrics};
use aisec_report::{RunKind, RunReport};
use aisec_scan::scanner::Limits;
use aisec_scan::scanner::{FileReport, ScanReport};
use serde::{Deserialize, Serialize};

use crate::shards::{self, Gathered, Job, ShardResult};
use crate::{AssessError, Result};
use aisec_scan::shard::ShardScan;

use crate::findings::mitigation_refs;

/// ATLAS techniques a model-artifact scan tests for.
pub const SCAN_ATLAS: &[&str] = &["AML.T0011.000", "AML.T0010.003", "AML.T0018.002"];
/// AML.M0016 Vulnerability Scanning (this scan) and AML.M0014 Verify AI Artifacts
/// (checksums and signatures of what was scanned).
pub const SCAN_MITIGATIONS: &[&str] = &["AML.M0016", "AML.M0014"];

/// What a scan was told: strictness, the user's allowlist, the limits it parsed within.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSettings {
    pub strict: bool,
    pub allow: Vec<String>,
    pub allowlist: Option<std::path::PathBuf>,
    pub limits: Limits,
    /// The demo's injected command, when the scan is the demo's.
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub payload: Option<&'static str>,
}

/// What a scan found, file by file, and the counts per verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ScanObservations {
    pub exit_code: i32,
    pub files: Vec<FileReport>,
    pub dangerous: usize,
    pub suspicious: usize,
    pub unknown: usize,
    pub safe: usize,
    pub not_models: usize,
    pub errors: usize,
}

pub fn scan_run_report(
    report: &ScanReport,
    kb: &KnowledgeBase,
    target: &str,
    config: ScanSettings,
    wall_seconds: f64,
) -> RunReport {
    let mitigations = mitigation_refs(kb, SCAN_MITIGATIONS);
    let mut findings = Vec::new();
    for file in &report.files {
        for f in &file.findings {
            let mut evidence = Evidence::default();
            let mut put = |k: &str, v: serde_json::Value| {
                if !v.is_null() {
                    evidence.details.insert(k.to_string(), v);
                }
            };
            put("rule", f.rule.into());
            put("verdict", f.verdict.as_str().into());
            put("file", f.file.clone().into());
            put(
                "member",
                serde_json::to_value(&f.member).unwrap_or_default(),
            );
            put("offset", serde_json::to_value(f.offset).unwrap_or_default());
            put(
                "opcode",
                serde_json::to_value(&f.opcode).unwrap_or_default(),
            );
            put("call", serde_json::to_value(&f.call).unwrap_or_default());
            put("cwe", serde_json::to_value(f.cwe).unwrap_or_default());
            findings.push(Finding {
                title: format!("{} ({}): {}", f.name, f.rule, f.message),
                severity: f.severity,
                atlas: f
                    .atlas
                    .iter()
                    .filter_map(|a| AtlasRef::parse(a).ok())
                    .collect(),
                mitigations: mitigations.clone(),
                evidence,
            });
        }
    }
    let mut metrics = Metrics::default();
    let _ = metrics.insert(Metric::WallSeconds, wall_seconds);
    RunReport::new(
        RunKind::Scan,
        "scan.model-artifacts",
        SCAN_ATLAS,
        target,
        Details::new(config),
        0,
        metrics,
    )
    .with_observations(Details::new(ScanObservations {
        exit_code: report.exit_code(),
        files: report.files.clone(),
        dangerous: report.count(aisec_scan::Verdict::Dangerous),
        suspicious: report.count(aisec_scan::Verdict::Suspicious),
        unknown: report.count(aisec_scan::Verdict::Unknown),
        safe: report.count(aisec_scan::Verdict::Safe),
        not_models: report.not_models(),
        errors: report.files.iter().filter(|f| !f.errors.is_empty()).count(),
    }))
    .with_findings(findings)
}

/// A scan shard's own part of its result.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScanShard {
    /// The paths every shard was given, as given.
    pub paths: Vec<String>,
    pub settings: ScanSettings,
    pub scan: ShardScan,
}

/// The result `aisec scan --shard I/N` writes.
pub fn shard_result(part: ScanShard, seconds: f64) -> Result<ShardResult> {
    let job_digest = shard_result_digest(&part)?;
    let target = part.paths.join(" ");
    let shard = part.scan.shard;
    let payload = serde_json::to_value(&part)
        .map_err(|e| AssessError::Config(format!("cannot serialise the scan: {e}")))?;
    Ok(ShardResult::new(
        Job::Scan,
        shard,
        job_digest,
        target,
        seconds,
        payload,
    ))
}

/// What every shard of one scan must agree on: the file list, the settings, the paths.
fn shard_result_digest(part: &ScanShard) -> Result<String> {
    let settings = serde_json::to_string(&part.settings)
        .map_err(|e| AssessError::Config(format!("cannot serialise the settings: {e}")))?;
    Ok(shards::digest(&[
        part.scan.listing_digest.as_bytes(),
        settings.as_bytes(),
        part.paths.join("\0").as_bytes(),
    ]))
}

/// The scan one process would have made of the same paths: the unreadable paths, then every
/// file in walk order. Refuses shards whose files do not add up to the whole list.
pub fn merge(gathered: &Gathered) -> Result<(ScanReport, ScanShard)> {
    let mut parts = Vec::with_capacity(gathered.results.len());
    for (path, r) in &gathered.results {
        let fail = |m: String| AssessError::Config(format!("{}: {m}", path.display()));
        let part: ScanShard = serde_json::from_value(r.payload.clone())
            .map_err(|e| fail(format!("malformed scan shard: {e}")))?;
        if part.scan.shard != r.shard {
            return Err(fail(format!(
                "says shard {} but holds the scan of shard {}: edited by hand?",
                r.shard, part.scan.shard
            )));
        }
        if part.scan.sizes.len() != part.scan.files.len() {
            return Err(fail(
                "malformed scan shard: a size for every file expected".into(),
            ));
        }
        // The digest in the header must be the one of what the shard holds.
        if shard_result_digest(&part)? != r.job_digest {
            return Err(fail(
                "its job digest is not the digest of its own paths, settings and file list: edited by hand?".into(),
            ));
        }
        parts.push(part);
    }
    let total = parts[0].scan.total_files;
    let mut slots: Vec<Option<(FileReport, u64, usize)>> = vec![None; total];
    let mut unreadable = Vec::new();
    for (k, ((path, _), part)) in gathered.results.iter().zip(&mut parts).enumerate() {
        unreadable.append(&mut part.scan.unreadable);
        let sizes = std::mem::take(&mut part.scan.sizes);
        for ((i, report), size) in std::mem::take(&mut part.scan.files).into_iter().zip(sizes) {
            let slot = slots.get_mut(i).ok_or_else(|| {
                AssessError::Config(format!(
                    "{}: file {i} is past the end of the list ({total} files)",
                    path.display()
                ))
            })?;
            if let Some((_, _, other)) = slot {
                return Err(AssessError::Config(format!(
                    "file {i} ({}) is in two shards' results: {} and {}",
                    report.path,
                    gathered.results[*other].0.display(),
                    path.display()
                )));
            }
            *slot = Some((report, size, k));
        }
    }
    let missing = slots.iter().filter(|s| s.is_none()).count();
    if missing > 0 {
        return Err(AssessError::Config(format!(
            "{missing} of {total} files are in no shard's result: the shards do not cover the list they were cut from"
        )));
    }
    let slots: Vec<(FileReport, u64, usize)> = slots.into_iter().flatten().collect();
    // The list the shards were cut from, rebuilt from their parts: its digest must be the one
    // every shard computed, and every file must sit in the shard the assignment gives it.
    let names: Vec<String> = slots.iter().map(|(r, _, _)| r.path.clone()).collect();
    let sizes: Vec<u64> = slots.iter().map(|(_, s, _)| *s).collect();
    if aisec_scan::shard::listing_digest_of_names(&names, &sizes) != parts[0].scan.listing_digest {
        return Err(AssessError::Config(
            "the shards' files do not make up the list they were cut from (a file's name or size was changed in a result)".into(),
        ));
    }
    let listed: Vec<std::path::PathBuf> = names.iter().map(std::path::PathBuf::from).collect();
    let assigned = aisec_scan::shard::assign(&listed, &sizes, gathered.count);
    for (i, (report, _, k)) in slots.iter().enumerate() {
        if assigned[i] + 1 != gathered.results[*k].1.shard.index {
            return Err(AssessError::Config(format!(
                "{}: holds {} (file {i}), which is shard {}'s: edited by hand?",
                gathered.results[*k].0.display(),
                report.path,
                assigned[i] + 1
            )));
        }
    }
    let slots: Vec<Option<FileReport>> = slots.into_iter().map(|(r, _, _)| Some(r)).collect();
    let mut files = unreadable;
    files.extend(slots.into_iter().flatten());
    let first = parts.swap_remove(0);
    let report = ScanReport {
        files,
        strict: first.settings.strict,
        limits: first.settings.limits.clone(),
    };
    Ok((report, first))
}
