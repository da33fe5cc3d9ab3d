//! What a file's name promises, checked against its bytes: a file named like a model that
//! holds text, or named like text that holds a model or an archive, is not what its name says.

use std::path::Path;

use crate::sniff::{sniff, Format};
use crate::ScanError;

/// Extensions that promise a model or tensor file: such a file that holds text or nothing is
/// not what its name says (a failed download, an LFS pointer, a renamed file), and a loader
/// would fail on it or treat it as something else, so the scanner fails closed.
const MODEL_EXTENSIONS: &[&str] = &[
    "pt",
    "pth",
    "bin",
    "ckpt",
    "onnx",
    "h5",
    "hdf5",
    "keras",
    "safetensors",
    "gguf",
    "pkl",
    "pickle",
    "joblib",
    "npy",
    "npz",
    "tflite",
    "pb",
    "mar",
    "nemo",
];

pub(crate) fn named_like_a_model(name: &str, data: &[u8]) -> Option<ScanError> {
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    if !MODEL_EXTENSIONS.contains(&ext.as_str()) {
        return None;
    }
    let what = match sniff(data) {
        Format::Empty => "empty",
        Format::Text => "plain text",
        _ => return None,
    };
    Some(ScanError::Unsupported {
        location: name.to_string(),
        message: format!(
            "named like a .{ext} model file but {what}{}: not a model a loader would read (an unfinished download or a Git LFS pointer?)",
            if what == "empty" { String::new() } else { format!(" ({} bytes)", data.len()) }
        ),
    })
}

/// Extensions of text files (documentation, configuration, vocabularies): a loader reads
/// them as text, so one whose bytes are a pickle, an archive or a model is not what its name
/// says, and something may open it by its content.
const TEXT_EXTENSIONS: &[&str] = &[
    "json", "jsonl", "md", "txt", "yaml", "yml", "toml", "ini", "cfg", "csv", "tsv", "rst",
];

pub(crate) fn named_like_text(name: &str, data: &[u8]) -> Option<ScanError> {
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    if !TEXT_EXTENSIONS.contains(&ext.as_str()) {
        return None;
    }
    match sniff(data) {
        Format::Text | Format::Empty | Format::Unknown => None,
        other => Some(ScanError::Unsupported {
            location: name.to_string(),
            message: format!(
                "named like a .{ext} text file but its bytes are in {} format: not what its name says",
                other.as_str()
            ),
        }),
    }
}

/// Text that is a model's own format, read as data by its library: XGBoost's JSON model, a
/// LightGBM text model, PMML. Such a file is listed as a model, not among the README and
/// configs; what can run code in it (XML entities) is scanned either way.
pub(crate) fn text_model(data: &[u8]) -> Option<&'static str> {
    let head = String::from_utf8_lossy(&data[..data.len().min(4096)]);
    let start = head.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with("{\"learner\"") {
        Some("XGBoost JSON model")
    } else if start.starts_with("tree\nversion=") || start.starts_with("tree\r\nversion=") {
        Some("LightGBM text model")
    } else if start.starts_with('<') && head.contains("<PMML") {
        Some("PMML model")
    } else if crate::formats::tensorflow_text::looks_like_text_graph(data) {
        Some("TensorFlow graph in text format")
    } else {
        None
    }
}
