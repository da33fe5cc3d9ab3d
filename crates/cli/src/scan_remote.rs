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
        let (found, stopped) = match objects.list_partial(&url) {
            Ok(l) => (l.objects, l.stopped),
            Err(e) => (Vec::new(), Some(e)),
        };
        listed.extend(found);
        if let Some(e) = stopped {
            // Shards must see one list: one that could not be read whole is no job to cut.
            if shard.count > 1 {
                anyhow::bail!("{url}: cannot list the objects: {e}");
            }
            unlisted.push(unreadable(
                &url,
                format!("the listing stopped: {e}; objects after that point were not scanned"),
            ));
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
        let root = dir.path().join("m");
        let placed = local_places(&root, dir.path(), &batch, &names);
        let mut local = Vec::with_capacity(batch.len());
        let mut fetched = Vec::with_capacity(batch.len());
        for (k, &i) in batch.iter().enumerate() {
            let name = &names[i];
            let path = placed[k].clone();
            let got = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(anyhow::Error::from)
                .and_then(|_| {
                    if sizes[i] == 0 {
                        // Nothing to fetch (S3 consoles' folder markers are such objects).
                        std::fs::write(&path, b"")?;
                        Ok(())
                    } else {
                        objects
                            .download(name, &path)
                            .map(|_| ())
                            .map_err(Into::into)
                    }
                });
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
        // Objects placed apart first (their local names are not their keys), then the
        // mirrored tree.
        let apart: Vec<(String, &String)> = batch
            .iter()
            .enumerate()
            .filter(|(k, _)| !placed[*k].starts_with(&root))
            .map(|(k, &i)| (placed[k].display().to_string(), &names[i]))
            .collect();
        let to_urls = |text: &str| {
            let mut text = text.to_string();
            for (path, url) in &apart {
                text = text.replace(path.as_str(), url);
            }
            text.replace(&prefix, "s3://")
        };
        let offset = done.load(std::sync::atomic::Ordering::SeqCst);
        let reports = scan_selected(&local, &fetched, options, &|d, _, p| {
            progress(offset + d, total, &to_urls(p));
        });
        done.fetch_add(batch.len(), std::sync::atomic::Ordering::SeqCst);
        for (k, report) in reports {
            // Every name in the report (the file, findings, errors, the model a data file
            // belongs to) from the temporary folder back to the URL.
            let text = serde_json::to_string(&report)?;
            let named: FileReport = serde_json::from_str(&to_urls(&text))?;
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

/// Where each object of a batch is downloaded: `root/BUCKET/KEY`, mirroring the keys so that a
/// model finds the files it names beside it; apart, under `spare/N/`, an object whose key
/// cannot be a file there (a key that is also the folder of another key, `a` beside `a/b`; a
/// part longer than a file name may be).
fn local_places(
    root: &std::path::Path,
    spare: &std::path::Path,
    batch: &[usize],
    names: &[String],
) -> Vec<PathBuf> {
    const LONGEST_PART: usize = 200;
    let mirrored: Vec<Option<PathBuf>> = batch
        .iter()
        .map(|&i| {
            let url = aisec_objects::ObjectUrl::parse(&names[i]).ok()?;
            let ok = url
                .key
                .split('/')
                .all(|part| !part.is_empty() && part.len() <= LONGEST_PART);
            ok.then(|| root.join(&url.bucket).join(&url.key))
        })
        .collect();
    let folders: std::collections::HashSet<PathBuf> = mirrored
        .iter()
        .flatten()
        .flat_map(|p| p.ancestors().skip(1).map(PathBuf::from).collect::<Vec<_>>())
        .collect();
    mirrored
        .into_iter()
        .enumerate()
        .map(|(k, place)| match place {
            Some(p) if !folders.contains(&p) => p,
            _ => {
                // The scanner reads content, not names; the extension is kept for the order in
                // which models are scanned (ONNX first).
                let ext = std::path::Path::new(&names[batch[k]])
                    .extension()
                    .map(|e| e.to_string_lossy().chars().take(16).collect::<String>())
                    .map_or(String::new(), |e| format!(".{e}"));
                spare
                    .join("spare")
                    .join(k.to_string())
                    .join(format!("object{ext}"))
            }
        })
        .collect()
}
