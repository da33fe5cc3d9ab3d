//! A folder scanned as one model: TensorFlow checkpoint shards (`variables.data-00000-of-00001`)
//! are tensor data of the index beside them (`variables.index`), which names every tensor in
//! them; and ONNX models that keep their tensors in files beside them
//! (`torch.onnx.export` writes `model.onnx` + `model.onnx.data` from PyTorch 2.9 on). Such a
//! file is tensor data of the model that names it: no loader parses it as anything but numbers
//! at the offsets the model gives, so it is scanned as raw data (a pickle or an archive in it
//! is still scanned as one) and checked against the byte ranges the model reads.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::scanner::{ExternalData, FileReport};
use crate::ScanError;

pub(crate) fn named_like_onnx(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// `a/./b/../c` → `a/c`, without touching the file system (the paths come from one walk).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c.as_os_str()),
        }
    }
    out
}

/// For each file of `files` that an ONNX model in `scanned` reads tensors from: the model's
/// path and every range read from it. Locations that leave the model's folder are not
/// followed (the model's scan flags them as dangerous).
pub(crate) fn sidecars(
    files: &[PathBuf],
    scanned: &[(usize, FileReport)],
) -> HashMap<usize, (String, Vec<ExternalData>)> {
    let index: HashMap<PathBuf, usize> = files
        .iter()
        .enumerate()
        .map(|(i, p)| (lexical(p), i))
        .collect();
    let mut out: HashMap<usize, (String, Vec<ExternalData>)> = HashMap::new();
    for (i, report) in scanned {
        let folder = files[*i].parent().unwrap_or(Path::new(""));
        for r in &report.external_data {
            if crate::container::escapes(&r.location) || r.location.starts_with('~') {
                continue;
            }
            let Some(&target) = index.get(&lexical(&folder.join(&r.location))) else {
                continue;
            };
            if target == *i {
                continue;
            }
            out.entry(target)
                .or_insert_with(|| (report.path.clone(), Vec::new()))
                .1
                .push(r.clone());
        }
    }
    out
}

/// A range the model reads past the end of its data file is an error of that file: the
/// model cannot load from it, and the file is not the one the model was saved with.
pub(crate) fn check_ranges(report: &mut FileReport, wanted: &[ExternalData]) {
    for r in wanted {
        let end = match r.length {
            Some(len) => r.offset.checked_add(len),
            None => Some(r.offset),
        };
        if end.is_none_or(|e| e > report.bytes) {
            report.errors.push(ScanError::Malformed {
                location: report.path.clone(),
                format: "ONNX external data".into(),
                offset: r.offset,
                message: format!(
                    "tensor {:?} of {} reads {} from byte {}, past the file's end ({} bytes): not the data the model was saved with",
                    r.tensor,
                    report.data_of.as_deref().unwrap_or("the model"),
                    r.length.map_or("to the end".to_string(), |l| format!("{l} bytes")),
                    r.offset,
                    report.bytes
                ),
            });
        }
    }
}

/// For each TensorFlow checkpoint shard of `files` (`PREFIX.data-NNNNN-of-MMMMM`) whose index
/// (`PREFIX.index`) is in the same walk: that index's path. A shard without its index stays
/// an artifact and fails closed as an unknown format.
pub(crate) fn checkpoint_shards(files: &[PathBuf]) -> HashMap<usize, String> {
    let index: HashMap<PathBuf, usize> = files
        .iter()
        .enumerate()
        .map(|(i, p)| (lexical(p), i))
        .collect();
    let mut out = HashMap::new();
    for (i, p) in files.iter().enumerate() {
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((prefix, shard)) = name.rsplit_once(".data-") else {
            continue;
        };
        let numbered = shard.split_once("-of-").is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        });
        if !numbered {
            continue;
        }
        let wanted = lexical(&p.with_file_name(format!("{prefix}.index")));
        if let Some(&j) = index.get(&wanted) {
            out.insert(i, files[j].display().to_string());
        }
    }
    out
}
