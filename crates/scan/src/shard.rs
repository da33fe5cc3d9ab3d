//! Deterministic sharding of a scan: every shard walks the same paths, sees the same sorted
//! file list, and takes its own part of it, so `aisec scan --shard I/N` run N times (on N
//! machines, in any order, again after a failure) covers every file exactly once, and the
//! shards' results join into the report one process would have written
//! (`aisec report merge`).
//!
//! Files that are read together stay together: an ONNX model names the files that hold its
//! tensors (anywhere below its folder), and a TensorFlow checkpoint index its
//! `.data-NNNNN-of-NNNNN` shards, so every file below a folder holding an `.onnx` file goes
//! with that folder, and checkpoint shards with their index. The groups are then spread by
//! size (largest first, each to the lightest shard so far), which balances bytes — the scan's
//! cost — rather than file counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::scanner::{collect, scan_selected, FileReport, ScanOptions};

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// The most shards one job may be cut into.
pub const MAX_SHARDS: usize = 100_000;

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let expected = "expected I/N: shard I (counting from 1) of N, e.g. 2/8";
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: {expected}"))?;
        let parse = |t: &str| t.trim().parse::<usize>().ok();
        let digits = |t: &str| !t.trim().is_empty() && t.trim().chars().all(|c| c.is_ascii_digit());
        if !(digits(i) && digits(n)) {
            return Err(format!("{s:?}: {expected}"));
        }
        let (Some(index), Some(count)) = (parse(i), parse(n)) else {
            return Err(format!(
                "{s:?}: N must be from 1 to {MAX_SHARDS} and I from 1 to N"
            ));
        };
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "{s:?}: N must be from 1 to {MAX_SHARDS}, got {count}"
            ));
        }
        if index == 0 || index > count {
            return Err(format!(
                "{s:?}: I must be from 1 to N ({count}), got {index}"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The part of a scan one shard did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardScan {
    pub shard: Shard,
    /// SHA-256 of the whole file list (paths and sizes) every shard must have seen: shards
    /// of a changed folder do not join.
    pub listing_digest: String,
    /// Files in the whole list, and in this shard.
    pub total_files: usize,
    pub total_bytes: u64,
    pub shard_bytes: u64,
    /// Each file's position in the whole list, with its report.
    pub files: Vec<(usize, FileReport)>,
    /// The size each of `files` had when the list was made (what the digest and the
    /// assignment were computed from), so that a merge can check both again.
    pub sizes: Vec<u64>,
    /// Paths that could not be read before the walk (kept by shard 1 only, so they are
    /// reported once).
    pub unreadable: Vec<FileReport>,
}

/// Which files must be scanned together, as a group key per file: the highest folder
/// holding an ONNX model above the file, else the index a checkpoint shard belongs to, else
/// the file itself.
pub fn group_keys(files: &[PathBuf]) -> Vec<String> {
    let onnx_dirs: std::collections::HashSet<&Path> = files
        .iter()
        .filter(|p| crate::repository::named_like_onnx(p))
        .filter_map(|p| p.parent())
        .collect();
    files
        .iter()
        .map(|path| {
            let model_dir = path
                .ancestors()
                .skip(1)
                .filter(|a| onnx_dirs.contains(a))
                .last();
            match model_dir {
                Some(dir) => format!("d:{}", dir.display()),
                None => match checkpoint_index(path) {
                    Some(index) => format!("c:{}", index.display()),
                    None if path.extension().is_some_and(|e| e == "index") => {
                        format!("c:{}", path.display())
                    }
                    None => format!("f:{}", path.display()),
                },
            }
        })
        .collect()
}

/// Which shard (0-based) each file goes to.
pub fn assign(files: &[PathBuf], sizes: &[u64], count: usize) -> Vec<usize> {
    let mut groups: BTreeMap<String, (u64, Vec<usize>)> = BTreeMap::new();
    for (i, key) in group_keys(files).into_iter().enumerate() {
        let group = groups.entry(key).or_default();
        group.0 += sizes[i];
        group.1.push(i);
    }
    let mut order: Vec<(u64, String, Vec<usize>)> = groups
        .into_iter()
        .map(|(k, (bytes, members))| (bytes, k, members))
        .collect();
    // Largest first; ties by name, so every shard computes the same assignment.
    order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut load = vec![(0u64, 0usize); count];
    let mut out = vec![0; files.len()];
    for (bytes, _, members) in order {
        let lightest = (0..count)
            .min_by_key(|&s| (load[s], s))
            .expect("at least one shard");
        // Files count a little too, so that empty files spread instead of piling on shard 1.
        load[lightest].0 += bytes + 4096 * members.len() as u64;
        load[lightest].1 += members.len();
        for i in members {
            out[i] = lightest;
        }
    }
    out
}

/// `x/variables.data-00000-of-00002` → `x/variables.index`.
fn checkpoint_index(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let (prefix, rest) = name.rsplit_once(".data-")?;
    let (a, b) = rest.split_once("-of-")?;
    let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
    (digits(a) && digits(b)).then(|| path.with_file_name(format!("{prefix}.index")))
}

/// SHA-256 over every path and size, in order.
pub fn listing_digest(files: &[PathBuf], sizes: &[u64]) -> String {
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    listing_digest_of_names(&names, sizes)
}

/// [`listing_digest`] of paths as the reports name them.
pub fn listing_digest_of_names(names: &[String], sizes: &[u64]) -> String {
    let mut h = Sha256::new();
    for (p, s) in names.iter().zip(sizes) {
        h.update(p.as_bytes());
        h.update([0]);
        h.update(s.to_le_bytes());
    }
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Walks `paths` and scans this shard's files.
pub fn scan_shard(
    paths: &[PathBuf],
    options: &ScanOptions,
    shard: Shard,
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> ShardScan {
    let (files, unreadable) = collect(paths);
    // A file that cannot be stat'ed counts as empty here; its scan reports the error.
    let sizes: Vec<u64> = files
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .collect();
    let assigned = assign(&files, &sizes, shard.count);
    let which: Vec<usize> = (0..files.len())
        .filter(|&i| assigned[i] == shard.index - 1)
        .collect();
    let shard_bytes = which.iter().map(|&i| sizes[i]).sum();
    ShardScan {
        shard,
        listing_digest: listing_digest(&files, &sizes),
        total_files: files.len(),
        total_bytes: sizes.iter().sum(),
        shard_bytes,
        sizes: which.iter().map(|&i| sizes[i]).collect(),
        files: scan_selected(&files, &which, options, progress),
        unreadable: if shard.index == 1 {
            unreadable
        } else {
            Vec::new()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(
            "2/8".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 8 }
        );
        for bad in ["0/4", "5/4", "1/0", "x/2", "3", "-1/2", "1/100001", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_stay_together_and_every_file_is_placed_once() {
        let files: Vec<PathBuf> = [
            "r/a/model.onnx",
            "r/a/model.onnx.data",
            "r/a/sub/w.bin",
            "r/b/variables.index",
            "r/b/variables.data-00000-of-00002",
            "r/b/variables.data-00001-of-00002",
            "r/c.pkl",
            "r/d.pkl",
            "r/e.pkl",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let sizes = vec![10, 1000, 5, 3, 400, 400, 700, 1, 1];
        for count in 1..=5 {
            let s = assign(&files, &sizes, count);
            assert!(s.iter().all(|&x| x < count));
            assert_eq!(s[0], s[1]);
            assert_eq!(s[0], s[2]);
            assert_eq!(s[3], s[4]);
            assert_eq!(s[3], s[5]);
            assert_eq!(s, assign(&files, &sizes, count), "deterministic");
        }
        // Three big groups go to three different shards.
        let s = assign(&files, &sizes, 3);
        assert_ne!(s[0], s[3]);
        assert_ne!(s[0], s[6]);
        assert_ne!(s[3], s[6]);
    }
}
