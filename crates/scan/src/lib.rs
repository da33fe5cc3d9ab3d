//! Model-artifact scanner: finds model files that run code when they are loaded
//! (ATLAS AML.T0011.000 Unsafe AI Artifacts, AML.T0010.003 AI Supply Chain Compromise: Model,
//! AML.T0018.002 Embed Malware), without executing anything.
//!
//! - Formats are recognised by content, never by file name ([`sniff`]).
//! - Pickles are emulated, not loaded: [`pickle`] runs every opcode of protocols 0–5 on a
//!   symbolic stack and memo and records which callables are imported, called with which
//!   arguments, and which imported objects are mutated. [`policy`] classifies each import
//!   allowlist-first: safe, dangerous or unknown.
//! - Containers (zip, tar, gzip, bz2, xz, zlib) are opened recursively within [`Limits`]
//!   ([`container`]); per-format rules cover NumPy, joblib, safetensors, ONNX, Keras and GGUF
//!   ([`formats`]).
//! - It fails closed: a file it cannot parse, a format it does not support and a budget it
//!   exceeds are errors ([`ScanError`]), reported apart from findings, never "no issues".

pub mod container;
pub mod corpus;
pub mod craft;
mod files;
pub mod formats;
mod names;
pub mod pickle;
pub mod policy;
mod read_back;
mod repository;
pub mod rules;
pub mod sarif;
pub mod scanner;
pub mod shard;
pub mod sniff;

pub use policy::{Policy, Verdict};
pub use scanner::{
    scan_bytes, scan_path, ExternalData, FileKind, FileReport, Limits, ScanFinding, ScanOptions,
    ScanReport,
};

/// Why a file could not be scanned. Each names the file (and the archive member) and, where
/// there is one, the byte offset.
#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ScanError {
    #[error("{location}: cannot read: {message}")]
    Io { location: String, message: String },
    #[error("{location}: not a valid {format} file at byte {offset}: {message}")]
    Malformed {
        location: String,
        format: String,
        offset: u64,
        message: String,
    },
    #[error("{location}: unsupported format: {message}")]
    Unsupported { location: String, message: String },
    #[error("{location}: budget exceeded: {message}")]
    Budget { location: String, message: String },
}

impl ScanError {
    pub fn location(&self) -> &str {
        match self {
            ScanError::Io { location, .. }
            | ScanError::Malformed { location, .. }
            | ScanError::Unsupported { location, .. }
            | ScanError::Budget { location, .. } => location,
        }
    }
}
