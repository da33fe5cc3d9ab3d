//! One shard's result of a job cut into N (`--shard I/N` on `aisec scan`, `aisec assess` and
//! the membership attacks' shadow training), and the checks that decide whether a set of them
//! joins into one report (`aisec report merge`): the same job, the same work (a digest every
//! shard computes from its inputs), the same aisec version, each shard once, none missing.
//!
//! A result is written to a temporary file beside its destination and renamed into place,
//! so a worker killed mid-write leaves either the old result or none, never half of one, and
//! a shard run again after a failure replaces only its own file.

use std::path::{Path, PathBuf};

use aisec_scan::shard::Shard;
use serde::{Deserialize, Serialize};

use crate::{AssessError, Result};

/// The `format` every shard result carries.
pub const FORMAT: &str = "aisec-shard-result/1";

/// The largest shard result read back (a scan of 10⁵ files with findings stays far below).
const MAX_BYTES: u64 = 2 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Job {
    /// `aisec scan --shard`: the files of this shard, scanned.
    Scan,
    /// `aisec assess --shard`: the plan's steps of this shard, run.
    Assess,
    /// `aisec attack membership --shard`: this shard's shadow models, trained and stored.
    MembershipShadows,
}

impl Job {
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Scan => "scan",
            Job::Assess => "assess",
            Job::MembershipShadows => "membership-shadows",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardResult {
    pub format: String,
    pub aisec_version: String,
    pub job: Job,
    pub shard: Shard,
    /// SHA-256 of everything the shards must agree on (inputs, settings, work list).
    pub job_digest: String,
    /// What the job was, in words (the scanned paths, the plan, the attack's command).
    pub target: String,
    /// Wall time of this shard's process.
    pub seconds: f64,
    /// The machine that ran it.
    #[serde(default)]
    pub host: String,
    /// The job's own part: the scanned files, the step results, the stored shadow models.
    pub payload: serde_json::Value,
}

impl ShardResult {
    pub fn new(
        job: Job,
        shard: Shard,
        job_digest: String,
        target: String,
        seconds: f64,
        payload: serde_json::Value,
    ) -> Self {
        ShardResult {
            format: FORMAT.into(),
            aisec_version: env!("CARGO_PKG_VERSION").into(),
            job,
            shard,
            job_digest,
            target,
            seconds,
            host: host_name(),
            payload,
        }
    }

    /// Writes the result to `path` through a temporary file renamed into place, or to an
    /// `s3://` URL as one object.
    pub fn write(&self, path: &Path) -> Result<()> {
        let shown = path.to_string_lossy();
        if aisec_objects::is_url(&shown) {
            let text = serde_json::to_string(self).map_err(|e| {
                AssessError::Config(format!("cannot serialise the shard result: {e}"))
            })?;
            return aisec_objects::Objects::new()
                .and_then(|mut o| o.put(&shown, (text + "\n").into_bytes()))
                .map_err(|e| AssessError::Config(e.to_string()));
        }
        if path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/') {
            return Err(AssessError::Config(format!(
                "{}: is a folder; expected the file the shard result is written to",
                path.display()
            )));
        }
        let text = serde_json::to_string(self)
            .map_err(|e| AssessError::Config(format!("cannot serialise the shard result: {e}")))?;
        let write_err = |source| AssessError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "shard".into());
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text + "\n").map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            write_err(e)
        })
    }

    pub fn read(path: &Path) -> Result<Self> {
        let fail = |m: String| AssessError::Config(format!("{}: {m}", path.display()));
        let shown = path.to_string_lossy();
        let text = if aisec_objects::is_url(&shown) {
            let bytes = aisec_objects::Objects::new()
                .and_then(|mut o| o.get(&shown))
                .map_err(|e| AssessError::Config(e.to_string()))?;
            String::from_utf8(bytes)
                .map_err(|_| fail("not a shard result (not UTF-8 text)".into()))?
        } else {
            let size = std::fs::metadata(path)
                .map_err(|e| fail(format!("cannot read: {e}")))?
                .len();
            if size > MAX_BYTES {
                return Err(fail(format!(
                    "{size} bytes: larger than any shard result ({MAX_BYTES} bytes at most)"
                )));
            }
            std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?
        };
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| fail(format!("not a shard result (not JSON: {e})")))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(fail(format!(
                    "format {other:?}: this aisec reads {FORMAT:?} (a result from another version?)"
                )))
            }
            None => {
                return Err(fail(format!(
                    "not a shard result: no \"format\": {FORMAT:?} field (written by `aisec scan`, `aisec assess` or `aisec attack membership` with --shard I/N)"
                )))
            }
        }
        let result: ShardResult = serde_json::from_value(value)
            .map_err(|e| fail(format!("malformed shard result: {e}")))?;
        let Shard { index, count } = result.shard;
        if count == 0 || count > aisec_scan::shard::MAX_SHARDS || index == 0 || index > count {
            return Err(fail(format!(
                "malformed shard result: shard {index}/{count} (I from 1 to N, N from 1 to {})",
                aisec_scan::shard::MAX_SHARDS
            )));
        }
        Ok(result)
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_default()
}

/// Shard results that belong together, in shard order.
#[derive(Debug)]
pub struct Gathered {
    pub job: Job,
    pub count: usize,
    pub results: Vec<(PathBuf, ShardResult)>,
}

impl Gathered {
    /// Reads the results and checks that they are the N shards of one job, each once.
    pub fn read(paths: &[PathBuf]) -> Result<Self> {
        if paths.is_empty() {
            return Err(AssessError::Config(
                "no shard results given: expected the files `--shard I/N` runs wrote".into(),
            ));
        }
        // An `s3://…/` folder stands for every `.json` object under it.
        let mut expanded = Vec::with_capacity(paths.len());
        for p in paths {
            let shown = p.to_string_lossy();
            if aisec_objects::is_url(&shown) && shown.ends_with('/') {
                let listed = aisec_objects::Objects::new()
                    .and_then(|mut o| o.list(&shown))
                    .map_err(|e| AssessError::Config(e.to_string()))?;
                let found: Vec<PathBuf> = listed
                    .into_iter()
                    .filter(|(u, _)| u.ends_with(".json"))
                    .map(|(u, _)| PathBuf::from(u))
                    .collect();
                if found.is_empty() {
                    return Err(AssessError::Config(format!(
                        "{shown}: no .json objects under it"
                    )));
                }
                expanded.extend(found);
            } else {
                expanded.push(p.clone());
            }
        }
        let paths = &expanded;
        let mut results = Vec::with_capacity(paths.len());
        for p in paths {
            results.push((p.clone(), ShardResult::read(p)?));
        }
        let (first_path, first) = (&results[0].0, &results[0].1);
        let (job, count, digest, version) = (
            first.job,
            first.shard.count,
            first.job_digest.clone(),
            first.aisec_version.clone(),
        );
        for (path, r) in &results[1..] {
            let differs = |what: &str, a: &str, b: &str| {
                AssessError::Config(format!(
                    "{} and {} are not shards of one job: {what} {a:?} vs {b:?}",
                    first_path.display(),
                    path.display()
                ))
            };
            if r.job != job {
                return Err(differs("job", job.as_str(), r.job.as_str()));
            }
            if r.shard.count != count {
                return Err(differs(
                    "shard count",
                    &count.to_string(),
                    &r.shard.count.to_string(),
                ));
            }
            if r.aisec_version != version {
                return Err(differs("aisec version", &version, &r.aisec_version));
            }
            if r.job_digest != digest {
                return Err(AssessError::Config(format!(
                    "{} and {} are shards of different work (the inputs, settings or file list changed between them: job digests {}… and {}…); run every shard again on the same inputs",
                    first_path.display(),
                    path.display(),
                    &digest[..12.min(digest.len())],
                    &r.job_digest[..12.min(r.job_digest.len())]
                )));
            }
        }
        results.sort_by_key(|(_, r)| r.shard.index);
        for pair in results.windows(2) {
            if pair[0].1.shard.index == pair[1].1.shard.index {
                return Err(AssessError::Config(format!(
                    "shard {} is given twice: {} and {}",
                    pair[0].1.shard,
                    pair[0].0.display(),
                    pair[1].0.display()
                )));
            }
        }
        let present: Vec<usize> = results.iter().map(|(_, r)| r.shard.index).collect();
        let missing: Vec<String> = (1..=count)
            .filter(|i| !present.contains(i))
            .map(|i| format!("{i}/{count}"))
            .collect();
        if !missing.is_empty() {
            return Err(AssessError::Config(format!(
                "{} of {count} shards missing: {} (have {}); run them and merge again — a report without them would pass work that was never done",
                missing.len(),
                shorten(&missing),
                shorten(
                    &present
                        .iter()
                        .map(|i| format!("{i}/{count}"))
                        .collect::<Vec<_>>()
                )
            )));
        }
        Ok(Gathered {
            job,
            count,
            results,
        })
    }

    /// Wall time of the slowest shard (the job's time when the shards ran side by side).
    pub fn slowest_seconds(&self) -> f64 {
        self.results
            .iter()
            .map(|(_, r)| r.seconds)
            .fold(0.0, f64::max)
    }

    /// Where each shard ran and how long it took, for `merge.json`.
    pub fn provenance(&self) -> serde_json::Value {
        serde_json::json!({
            "job": self.job.as_str(),
            "shards": self.count,
            "job_digest": self.results[0].1.job_digest,
            "aisec_version": self.results[0].1.aisec_version,
            "target": self.results[0].1.target,
            "results": self.results.iter().map(|(p, r)| serde_json::json!({
                "shard": r.shard.to_string(),
                "file": p.display().to_string(),
                "host": r.host,
                "seconds": r.seconds,
            })).collect::<Vec<_>>(),
            "slowest_shard_seconds": self.slowest_seconds(),
            "total_shard_seconds": self.results.iter().map(|(_, r)| r.seconds).sum::<f64>(),
        })
    }
}

/// The first ten items and a count of the rest.
fn shorten(items: &[String]) -> String {
    if items.len() <= 10 {
        items.join(", ")
    } else {
        format!("{} and {} more", items[..10].join(", "), items.len() - 10)
    }
}

/// SHA-256 of some text, in hex.
pub fn digest(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    aisec_scan::shard::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(index: usize, count: usize, digest: &str) -> ShardResult {
        ShardResult::new(
            Job::Scan,
            Shard { index, count },
            digest.into(),
            "t".into(),
            1.0,
            serde_json::json!({}),
        )
    }

    #[test]
    fn gathers_complete_sets_and_names_what_is_missing_or_twice() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, r: ShardResult| {
            let p = dir.path().join(name);
            r.write(&p).unwrap();
            p
        };
        let a = write("a.json", result(2, 3, "d"));
        let b = write("b.json", result(1, 3, "d"));
        let c = write("c.json", result(3, 3, "d"));
        let g = Gathered::read(&[a.clone(), b.clone(), c.clone()]).unwrap();
        let order: Vec<usize> = g.results.iter().map(|(_, r)| r.shard.index).collect();
        assert_eq!(order, [1, 2, 3]);
        let e = Gathered::read(&[a.clone(), b.clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 of 3 shards missing: 3/3"), "{e}");
        let twice = write("d.json", result(2, 3, "d"));
        let e = Gathered::read(&[a.clone(), twice, b.clone(), c.clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("shard 2/3 is given twice"), "{e}");
        let other = write("e.json", result(3, 3, "other"));
        let e = Gathered::read(&[a, b, other]).unwrap_err().to_string();
        assert!(e.contains("different work"), "{e}");
        std::fs::write(dir.path().join("x.json"), "{\"kind\": \"scan\"}").unwrap();
        let e = Gathered::read(&[dir.path().join("x.json")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a shard result"), "{e}");
    }
}
