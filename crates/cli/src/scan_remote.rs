//! `aisec scan s3://bucket/prefix/`: the objects are listed, sorted and cut into shards like
//! files, downloaded a batch at a time into a private temporary folder (a batch keeps an ONNX
//! model's folder and a checkpoint's shards together), scanned there as files, and reported
//! under their URLs; each batch's folder is deleted before the next is fetched, so the disk
//! holds at most one batch.

use std::path::PathBuf;

use anyhow::Result;

use aisec_objects::Objects;
use aisec_scan::scanner::{scan_selected, unreadable, FileReport, ScanOptions};
use aisec_scan::shard::{assign, group_keys, listing_digest_of_names, Shard, ShardScan};

/// Bytes downloaded before a batch is scanned and deleted.
const BATCH_BYTES: u64 = 1 << 30;
/// Objects downloaded before a batch is scanned and deleted.
const BATCH_FILES: usize = 2000;

pub(crate) fn is_remote(paths: &[PathBuf]) -> Result<bool> {
    let remote = paths
        .iter()
        .filter(|p| aisec_objects::is_url(&p.to_string_lossy()))
        .count();
    if remote > 0 && remote < paths.len() {
        anyhow::bail!(
            "PATH: s3:// URLs and local paths in one scan; scan them apart (a shard's file list must come from one place)"
        );
    }
    Ok(remote > 0)
}

/// Scans shard `shard` of the objects under `urls`.
pub(crate) fn scan_objects(
    urls: &[PathBuf],
    options: &ScanOptions,
    shard: Shard,
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> Result<ShardScan> {
    let mut objects = Objects::new()?;
    let mut listed: Vec<(String, u64)> = Vec::new();
    let mut unlisted = Vec::new();
    for url in urls {
        let url = url.to_string_lossy();
        match objects.list(&url) {
            Ok(found) => listed.extend(found),
            Err(e) => unlisted.push(unreadable(&url, e.to_string())),
        }
    }
    listed.sort_by(|a, b| PathBuf::from(&a.0).cmp(&PathBuf::from(&b.0)));
    listed.dedup_by(|a, b| a.0 == b.0);
    let names: Vec<String> = listed.iter().map(|(n, _)| n.clone()).collect();
    let sizes: Vec<u64> = listed.iter().map(|(_, s)| *s).collect();
    let as_paths: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
    let assigned = assign(&as_paths, &sizes, shard.count);
    let keys = group_keys(&as_paths);
    let which: Vec<usize> = (0..names.len())
        .filter(|&i| assigned[i] == shard.index - 1)
        .collect();
    // Batches of whole groups, in list order.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for &i in &which {
        match groups.iter_mut().find(|(k, _)| *k == keys[i]) {
            Some((_, members)) => members.push(i),
            None => groups.push((keys[i].clone(), vec![i])),
        }
    }
    let mut batches: Vec<Vec<usize>> = vec![Vec::new()];
    let mut batch_bytes = 0u64;
    for (_, members) in groups {
        let last = batches.last_mut().expect("one batch");
        if !last.is_empty() && (batch_bytes >= BATCH_BYTES || last.len() >= BATCH_FILES) {
            batches.push(Vec::new());
            batch_bytes = 0;
        }
        batch_bytes += members.iter().map(|&i| sizes[i]).sum::<u64>();
        batches.last_mut().expect("one batch").extend(members);
    }
    let total = which.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut files: Vec<(usize, FileReport)> = Vec::with_capacity(total);
    for batch in batches.into_iter().filter(|b| !b.is_empty()) {
        let dir = tempfile::Builder::new().prefix("aisec-scan-").tempdir()?;
        let root = dir.path().to_path_buf();
        let mut local = Vec::with_capacity(batch.len());
        let mut fetched = Vec::with_capacity(batch.len());
        for &i in &batch {
            let name = &names[i];
            let url = aisec_objects::ObjectUrl::parse(name)?;
            let path = root.join(&url.bucket).join(&url.key);
            let got = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(anyhow::Error::from)
                .and_then(|_| Ok(objects.download(name, &path)?));
            match got {
                Ok(_) => {
                    fetched.push(local.len());
                    local.push(path);
                }
                Err(e) => {
                    files.push((i, unreadable(name, format!("cannot download: {e}"))));
                    local.push(path);
                }
            }
        }
        let prefix = format!("{}/", root.display());
        let offset = done.load(std::sync::atomic::Ordering::SeqCst);
        let reports = scan_selected(&local, &fetched, options, &|d, _, p| {
            progress(offset + d, total, &p.replacen(&prefix, "s3://", 1));
        });
        done.fetch_add(batch.len(), std::sync::atomic::Ordering::SeqCst);
        for (k, report) in reports {
            // Every name in the report (the file, findings, errors, the model a data file
            // belongs to) from the temporary folder back to the URL.
            let text = serde_json::to_string(&report)?;
            let named: FileReport = serde_json::from_str(&text.replace(&prefix, "s3://"))?;
            files.push((batch[k], named));
        }
    }
    files.sort_by_key(|(i, _)| *i);
    Ok(ShardScan {
        shard,
        listing_digest: listing_digest_of_names(&names, &sizes),
        total_files: names.len(),
        total_bytes: sizes.iter().sum(),
        shard_bytes: which.iter().map(|&i| sizes[i]).sum(),
        sizes: files.iter().map(|(i, _)| sizes[*i]).collect(),
        files,
        unreadable: if shard.index == 1 {
            unlisted
        } else {
            Vec::new()
        },
    })
}
