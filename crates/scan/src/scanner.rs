//! The scan: read each file, sniff it, open containers recursively, run the format's rules,
//! and collect findings and errors per file. Files are scanned in parallel; everything about
//! one file stays on one thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aisec_core::Severity;
use serde::{Deserialize, Serialize};

use crate::policy::{Policy, Verdict};
use crate::rules::RuleId;
use crate::sniff::{sniff, Format};
use crate::{container, formats, pickle, ScanError};

/// The budgets inside the engine. The defaults pass a 200 MB checkpoint and a
/// 10-million-opcode pickle, and stop decompression and memo/DUP expansion bombs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_opcodes: u64,
    pub max_memo: usize,
    pub max_stack: usize,
    pub max_expansion: u64,
    /// Bytes one decompressed member may have. Stored zip members (how `torch.save` writes
    /// tensors) are read in place and not charged.
    pub max_member_bytes: u64,
    /// Bytes all decompression of one file may produce together.
    pub max_decompressed_bytes: u64,
    /// Containers inside containers.
    pub max_depth: usize,
    pub max_members: usize,
    #[serde(with = "seconds")]
    pub max_time: Duration,
    #[serde(skip)]
    pub deadline: Option<Instant>,
}

mod seconds {
    use serde::Deserialize;

    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<std::time::Duration, D::Error> {
        let s = f64::deserialize(d)?;
        std::time::Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 << 30,
            max_opcodes: 200_000_000,
            max_memo: 20_000_000,
            max_stack: 20_000_000,
            max_expansion: 1 << 34,
            max_member_bytes: 1 << 30,
            max_decompressed_bytes: 2 << 30,
            max_depth: 6,
            max_members: 100_000,
            max_time: Duration::from_secs(600),
            deadline: None,
        }
    }
}

/// Where something is: the file, and the members of the archives it sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub members: Vec<String>,
}

impl Location {
    pub fn file(file: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            members: Vec::new(),
        }
    }

    pub fn child(&self, member: impl Into<String>) -> Self {
        let mut members = self.members.clone();
        members.push(member.into());
        Location {
            file: self.file.clone(),
            members,
        }
    }

    /// `file` or `file!member!inner-member`.
    pub fn display(&self) -> String {
        let mut s = self.file.clone();
        for m in &self.members {
            s.push('!');
            s.push_str(m);
        }
        s
    }

    pub fn member(&self) -> Option<String> {
        (!self.members.is_empty()).then(|| self.members.join("!"))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanFinding {
    pub rule: &'static str,
    pub name: &'static str,
    pub verdict: Verdict,
    pub severity: Severity,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opcode: Option<String>,
    /// The call as Python-like text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    pub message: String,
    pub atlas: &'static [&'static str],
    pub cwe: &'static [&'static str],
    /// How many times the same finding (rule, verdict, member, opcode, call, message) occurs
    /// in the file: a model with nine layers of one unknown class is one finding, nine times.
    #[serde(skip_serializing_if = "is_one")]
    pub occurrences: usize,
    /// The byte offsets of the repeats after `offset` (the first [`MAX_REPEAT_OFFSETS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repeated_at: Vec<u64>,
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// Repeats of one finding whose offsets are listed.
pub const MAX_REPEAT_OFFSETS: usize = 16;

/// Folds repeats of the same finding into the first, in the order they were found.
fn fold_repeats(findings: Vec<ScanFinding>) -> Vec<ScanFinding> {
    let mut out: Vec<ScanFinding> = Vec::with_capacity(findings.len());
    let mut index: HashMap<FindingKey, usize> = HashMap::new();
    for f in findings {
        let key = (
            f.rule,
            f.verdict,
            f.member.clone(),
            f.opcode.clone(),
            f.call.clone(),
            f.message.clone(),
        );
        match index.get(&key) {
            Some(&i) => {
                let first = &mut out[i];
                first.occurrences += 1;
                if let Some(o) = f.offset {
                    if first.repeated_at.len() < MAX_REPEAT_OFFSETS {
                        first.repeated_at.push(o);
                    }
                }
            }
            None => {
                index.insert(key, out.len());
                out.push(f);
            }
        }
    }
    out
}

type FindingKey = (
    &'static str,
    Verdict,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

impl ScanFinding {
    pub fn new(rule_id: RuleId, verdict: Verdict, at: &Location, message: String) -> Self {
        let r = rule_id.rule();
        ScanFinding {
            rule: r.id,
            name: r.name,
            verdict,
            severity: r.severity,
            file: at.file.clone(),
            member: at.member(),
            offset: None,
            opcode: None,
            call: None,
            message,
            atlas: r.atlas,
            cwe: r.cwe,
            occurrences: 1,
            repeated_at: Vec::new(),
        }
    }

    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileReport {
    pub path: String,
    pub format: Format,
    /// The worst verdict of its findings; `safe` with none.
    pub verdict: Verdict,
    pub bytes: u64,
    /// Every part scanned: `member` (empty for the file itself) and its sniffed format.
    pub parts: Vec<(String, Format)>,
    pub findings: Vec<ScanFinding>,
    pub errors: Vec<ScanError>,
    pub pickles: usize,
    pub opcodes: u64,
    pub seconds: f64,
    /// What the file is to the folder it was found in.
    pub kind: FileKind,
    /// For ONNX external tensor data: the model that reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_of: Option<String>,
    /// For an ONNX model: the tensor data it reads from files beside it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_data: Vec<ExternalData>,
}

/// What a file found in a folder is to the model that folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A file a loader may open as a model (or one that could not be read).
    Model,
    /// Raw tensor bytes a model in the same scan reads (ONNX external data).
    TensorData,
    /// Plain text or an empty file with nothing in it a loader would run: a README, a licence,
    /// a JSON config, a tokenizer's vocabulary.
    NotAModel,
}

/// One tensor of an ONNX model whose bytes live in another file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalData {
    pub tensor: String,
    /// As the model writes it, relative to the model's folder.
    pub location: String,
    pub offset: u64,
    /// None: to the end of the file.
    pub length: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanReport {
    pub files: Vec<FileReport>,
    pub strict: bool,
    pub limits: Limits,
}

impl ScanReport {
    /// 1 when any file has a failing finding (dangerous or suspicious, or unknown under
    /// `--strict`) — even if part of it could not be read, since a loader runs what comes
    /// before the damage; else 2 when any file or part could not be scanned to the end; else 0.
    pub fn exit_code(&self) -> i32 {
        if self.files.iter().any(|f| self.fails(f.verdict)) {
            1
        } else if self.files.iter().any(|f| !f.errors.is_empty()) {
            2
        } else {
            0
        }
    }

    /// Whether a verdict fails the scan under this report's policy.
    pub fn fails(&self, verdict: Verdict) -> bool {
        verdict >= Verdict::Suspicious || (self.strict && verdict == Verdict::Unknown)
    }

    /// Files with this verdict; files that are not models (README, licence, JSON config)
    /// are counted apart ([`ScanReport::not_models`]).
    pub fn count(&self, verdict: Verdict) -> usize {
        self.files
            .iter()
            .filter(|f| {
                f.verdict == verdict
                    && f.kind != FileKind::NotAModel
                    && (f.errors.is_empty() || verdict >= Verdict::Suspicious)
            })
            .count()
    }

    pub fn not_models(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.kind == FileKind::NotAModel)
            .count()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub policy: Policy,
    pub limits: Limits,
    pub strict: bool,
    /// Files scanned at once (0: one per core).
    pub jobs: usize,
}

/// The state of scanning one file.
pub struct Ctx<'a> {
    pub policy: &'a Policy,
    pub limits: &'a Limits,
    pub findings: Vec<ScanFinding>,
    pub errors: Vec<ScanError>,
    pub parts: Vec<(String, Format)>,
    pub decompressed: u64,
    pub members: usize,
    pub pickles: usize,
    pub opcodes: u64,
    /// External tensor data the file itself (not an archive member) reads.
    pub external: Vec<ExternalData>,
}

/// How a part is used by what contains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A file or archive member a loader may open as a model.
    Artifact,
    /// Raw tensor bytes (PyTorch `data/N` members, legacy storages): never unpickled, so
    /// unrecognised content is expected; recognised content is scanned anyway.
    RawData,
}

impl Ctx<'_> {
    pub fn error(&mut self, e: ScanError) {
        self.errors.push(e);
    }

    /// Charges decompressed bytes to the file's budget.
    pub fn charge_decompressed(&mut self, n: u64, at: &Location) -> Result<(), ScanError> {
        self.decompressed = self.decompressed.saturating_add(n);
        if self.decompressed > self.limits.max_decompressed_bytes {
            return Err(ScanError::Budget {
                location: at.display(),
                message: format!(
                    "decompression produced more than {} bytes (decompression bomb?)",
                    self.limits.max_decompressed_bytes
                ),
            });
        }
        Ok(())
    }

    pub fn out_of_time(&self, at: &Location) -> Result<(), ScanError> {
        if self.limits.deadline.is_some_and(|d| Instant::now() > d) {
            return Err(ScanError::Budget {
                location: at.display(),
                message: format!("wall time over {:?}", self.limits.max_time),
            });
        }
        Ok(())
    }

    /// Scans one part: sniffs it and hands it to its format.
    pub fn scan(&mut self, data: &[u8], at: &Location, depth: usize, role: Role) {
        if let Err(e) = self.out_of_time(at) {
            self.error(e);
            return;
        }
        if depth > self.limits.max_depth {
            self.error(ScanError::Budget {
                location: at.display(),
                message: format!("archives nested more than {} deep", self.limits.max_depth),
            });
            return;
        }
        let format = sniff(data);
        let shown = match format {
            Format::Unknown | Format::Text if role == Role::RawData => Format::TensorData,
            f => f,
        };
        self.parts.push((at.member().unwrap_or_default(), shown));
        match format {
            Format::Zip => container::zip::scan(self, data, at, depth),
            Format::Tar => container::tar::scan(self, data, at, depth),
            Format::SevenZip => container::sevenz::scan(self, data, at, depth),
            Format::Gzip
            | Format::Bzip2
            | Format::Xz
            | Format::Lzma
            | Format::Zlib
            | Format::Zstd => {
                match container::compress::decompress(self, format, data, at) {
                    Ok(inner) => {
                        let member = format!("<{}>", format.as_str());
                        self.scan(&inner, &at.child(member), depth + 1, role)
                    }
                    // Tensor bytes whose first two happen to form a zlib header (one record in
                    // a few thousand): the loader never decompresses them, so they are data.
                    Err(ScanError::Malformed { .. }) if role == Role::RawData => {
                        self.as_tensor_data()
                    }
                    Err(e) => self.error(e),
                }
            }
            Format::Npy => formats::npy::scan(self, data, at, depth),
            Format::Safetensors => formats::safetensors::scan(self, data, at),
            Format::Gguf => formats::gguf::scan(self, data, at),
            Format::Hdf5 => formats::keras::scan_h5(self, data, at),
            Format::Onnx => formats::onnx::scan(self, data, at),
            Format::TfSavedModel => formats::tensorflow::scan_saved_model(self, data, at),
            Format::TfGraphDef => formats::tensorflow::scan_graph_def(self, data, at),
            Format::TfMetaGraph => formats::tensorflow::scan_meta_graph(self, data, at),
            Format::SentencePiece
            | Format::Ubjson
            | Format::TfFingerprint
            | Format::TfCheckpointIndex
            | Format::TfRecord => {}
            Format::CatBoost => formats::catboost::scan(self, data, at, depth),
            Format::Pickle => {
                self.scan_pickle(data, at, depth, role);
                self.polyglot_zip(data, at, depth);
            }
            Format::Text => {
                formats::xml::scan(self, data, at);
                if formats::tensorflow_text::looks_like_text_graph(data) {
                    formats::tensorflow_text::scan(self, data, at);
                }
            }
            Format::Empty => {}
            Format::Lz4 if role == Role::Artifact => {
                self.error(ScanError::Unsupported {
                    location: at.display(),
                    message: format!("{} archives are recognised but not opened; extract them and scan the contents", format.as_str()),
                })
            }
            Format::Unknown if role == Role::Artifact => self.error(ScanError::Unsupported {
                location: at.display(),
                message: "not a format aisec recognises (pickle, zip, tar, 7z, gzip, bz2, xz, lzma, zlib, zstd, npy, safetensors, ONNX, Keras/HDF5, GGUF, TensorFlow, CatBoost, XGBoost, SentencePiece or text)".into(),
            }),
            _ => {}
        }
    }

    /// A pickle that is also a zip read from its end record: `torch.load` runs the pickle,
    /// loaders that ask `zipfile.is_zipfile` (Keras) open the zip. Both views are scanned.
    fn polyglot_zip(&mut self, data: &[u8], at: &Location, depth: usize) {
        if !crate::sniff::ends_like_zip(data) {
            return;
        }
        let view = at.child("<zip read from the end>");
        if container::zip::central_directory(data, &view).is_err() {
            return;
        }
        self.findings.push(ScanFinding::new(
            RuleId::PickleZipPolyglot,
            Verdict::Unknown,
            &view,
            "the file is a pickle and a zip at once: torch.load runs the pickle, zipfile-based loaders open the zip — both are scanned".into(),
        ));
        container::zip::scan(self, data, &view, depth + 1);
    }

    /// The last part scanned is raw tensor data after all.
    fn as_tensor_data(&mut self) {
        if let Some(last) = self.parts.last_mut() {
            last.1 = Format::TensorData;
        }
    }

    pub fn scan_pickle(&mut self, data: &[u8], at: &Location, depth: usize, role: Role) {
        let (scan, error) = pickle::scan(data, at, self.policy, self.limits);
        // Tensor bytes that begin like a pickle (`K`, a byte, `.` …) and stop parsing a few
        // bytes in: nothing imported, nothing called — numbers the loader never unpickles.
        let trailing = RuleId::PickleTrailingData.id();
        if role == Role::RawData
            && scan.embedded.is_empty()
            && scan.findings.iter().all(|f| f.rule == trailing)
        {
            self.as_tensor_data();
            return;
        }
        for (label, inner) in &scan.embedded {
            let member = at.child(label.as_str());
            self.findings.push(ScanFinding::new(
                RuleId::PickleStagedPayload,
                Verdict::Unknown,
                &member,
                "a pickle inside a string or bytes value: a staged payload if the loading program unpickles it — scanned as a part of its own".into(),
            ));
            self.scan(inner, &member, depth + 1, Role::Artifact);
        }
        self.pickles += scan.pickles;
        self.opcodes += scan.opcodes;
        self.findings.extend(scan.findings);
        if let Some(start) = scan.legacy_torch_storages.filter(|&s| s < data.len()) {
            self.parts.push((
                at.child(format!("<storages from byte {start}>"))
                    .member()
                    .unwrap_or_default(),
                Format::TensorData,
            ));
        }
        if let Some(e) = error {
            self.error(e);
        }
    }
}

/// Scans bytes that came from `name`.
pub fn scan_bytes(name: &str, data: &[u8], options: &ScanOptions) -> FileReport {
    scan_bytes_as(name, data, options, None)
}

/// Scans bytes that came from `name`; `data_of` names the model whose external tensor data
/// they are, which reads them as numbers only.
pub(crate) fn scan_bytes_as(
    name: &str,
    data: &[u8],
    options: &ScanOptions,
    data_of: Option<&str>,
) -> FileReport {
    let start = Instant::now();
    let mut limits = options.limits.clone();
    limits.deadline = Some(start + limits.max_time);
    let mut ctx = Ctx {
        policy: &options.policy,
        limits: &limits,
        findings: Vec::new(),
        errors: Vec::new(),
        parts: Vec::new(),
        decompressed: 0,
        members: 0,
        pickles: 0,
        opcodes: 0,
        external: Vec::new(),
    };
    let at = Location::file(name);
    let role = if data_of.is_some() {
        Role::RawData
    } else {
        Role::Artifact
    };
    ctx.scan(data, &at, 0, role);
    if data_of.is_none() {
        if let Some(e) = crate::names::named_like_a_model(name, data)
            .or_else(|| crate::names::named_like_text(name, data))
        {
            ctx.error(e);
        }
    }
    let verdict = ctx
        .findings
        .iter()
        .map(|f| f.verdict)
        .max()
        .unwrap_or(Verdict::Safe);
    let format = ctx.parts.first().map_or(Format::Empty, |p| p.1);
    let kind = match format {
        _ if data_of.is_some() => FileKind::TensorData,
        // Event logs hold summaries (scalars, images, text), never code.
        Format::TfRecord if ctx.findings.is_empty() && ctx.errors.is_empty() => FileKind::NotAModel,
        Format::Text | Format::Empty
            if ctx.findings.is_empty()
                && ctx.errors.is_empty()
                && crate::names::text_model(data).is_none() =>
        {
            FileKind::NotAModel
        }
        _ => FileKind::Model,
    };
    FileReport {
        path: name.to_string(),
        format,
        verdict,
        bytes: data.len() as u64,
        parts: ctx.parts,
        findings: fold_repeats(ctx.findings),
        errors: ctx.errors,
        pickles: ctx.pickles,
        opcodes: ctx.opcodes,
        seconds: start.elapsed().as_secs_f64(),
        kind,
        data_of: data_of.map(str::to_string),
        external_data: ctx.external,
    }
}

/// The report of a file that could not be read (named as the user knows it: a path or a URL).
pub fn unreadable(name: &str, message: String) -> FileReport {
    read_error(Path::new(name), message)
}

fn read_error(path: &Path, message: String) -> FileReport {
    FileReport {
        path: path.display().to_string(),
        format: Format::Unknown,
        verdict: Verdict::Safe,
        bytes: 0,
        parts: Vec::new(),
        findings: Vec::new(),
        errors: vec![ScanError::Io {
            location: path.display().to_string(),
            message,
        }],
        pickles: 0,
        opcodes: 0,
        seconds: 0.0,
        kind: FileKind::Model,
        data_of: None,
        external_data: Vec::new(),
    }
}

pub fn scan_file(path: &Path, options: &ScanOptions) -> FileReport {
    scan_file_as(path, options, None)
}

fn scan_file_as(path: &Path, options: &ScanOptions, data_of: Option<&str>) -> FileReport {
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => return read_error(path, e.to_string()),
    };
    if size > options.limits.max_file_bytes {
        let mut r = read_error(path, String::new());
        r.errors = vec![ScanError::Budget {
            location: path.display().to_string(),
            message: format!(
                "{size} bytes, over the {}-byte file limit",
                options.limits.max_file_bytes
            ),
        }];
        return r;
    }
    match crate::files::contents(path, size) {
        Ok(data) => scan_bytes_as(&path.display().to_string(), &data, options, data_of),
        Err(e) => read_error(path, e.to_string()),
    }
}

/// Every file under the paths, sorted, directories walked recursively. Symbolic links to
/// directories are not followed (no loops); a path that does not exist, a link to nothing (or
/// to itself) and anything that is not a regular file (a named pipe, a socket, a device:
/// reading one could block for ever) are error reports, never silently left out.
pub fn collect(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<FileReport>) {
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut files, &mut missing),
            Ok(m) if m.is_file() => files.push(p.clone()),
            Ok(m) => missing.push(read_error(p, not_regular(&m.file_type()))),
            Err(e) => missing.push(read_error(p, e.to_string())),
        }
    }
    (files, missing)
}

/// Why a path that is neither a file nor a folder is not read.
fn not_regular(kind: &std::fs::FileType) -> String {
    #[cfg(unix)]
    let what = {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            "a named pipe"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_block_device() || kind.is_char_device() {
            "a device"
        } else {
            "not a regular file"
        }
    };
    #[cfg(not(unix))]
    let what = {
        let _ = kind;
        "not a regular file"
    };
    format!("{what}, not a file a loader reads; not opened (reading it could block for ever)")
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<FileReport>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(read_error(dir, e.to_string()));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => walk(&p, files, errors),
            Ok(m) if m.file_type().is_symlink() => match std::fs::metadata(&p) {
                Ok(t) if t.is_file() => files.push(p),
                // Not followed, so that a link to a parent cannot loop.
                Ok(t) if t.is_dir() => {}
                Ok(t) => errors.push(read_error(&p, not_regular(&t.file_type()))),
                Err(e) => errors.push(read_error(
                    &p,
                    format!("a symbolic link to nothing readable (dangling, or a loop): {e}"),
                )),
            },
            Ok(m) if m.is_file() => files.push(p),
            Ok(m) => errors.push(read_error(&p, not_regular(&m.file_type()))),
            Err(e) => errors.push(read_error(&p, e.to_string())),
        }
    }
}

/// Scans files and directories in parallel; `progress(done, total, path)` after each file.
/// ONNX models are scanned first, so that the files they read their tensors from (the
/// `model.onnx.data` that `torch.onnx.export` writes beside the model) are scanned as tensor
/// data of that model, checked against the byte ranges the model reads; TensorFlow checkpoint
/// shards are tensor data of the index beside them.
pub fn scan_path(
    paths: &[PathBuf],
    options: &ScanOptions,
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> ScanReport {
    let (files, mut reports) = collect(paths);
    let all: Vec<usize> = (0..files.len()).collect();
    reports.extend(
        scan_selected(&files, &all, options, progress)
            .into_iter()
            .map(|(_, r)| r),
    );
    ScanReport {
        files: reports,
        strict: options.strict,
        limits: options.limits.clone(),
    }
}

/// Scans `files[i]` for each `i` of `which` (in increasing order), models first, as
/// [`scan_path`] does; the reports come back with their index, sorted. A file another file of
/// `files` reads from (ONNX external data, checkpoint shards) is recognised only when that
/// file is in `which` too, which is why shards keep such groups together.
pub fn scan_selected(
    files: &[PathBuf],
    which: &[usize],
    options: &ScanOptions,
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> Vec<(usize, FileReport)> {
    let done = AtomicUsize::new(0);
    let total = which.len();
    let (models, rest): (Vec<usize>, Vec<usize>) = which
        .iter()
        .partition(|&&i| crate::repository::named_like_onnx(&files[i]));
    let mut results = scan_many(files, &models, options, &|_| None, &done, total, progress);
    let sidecars = crate::repository::sidecars(files, &results);
    let shards = crate::repository::checkpoint_shards(files);
    results.extend(scan_many(
        files,
        &rest,
        options,
        &|i| {
            sidecars
                .get(&i)
                .map(|(model, _)| model.as_str())
                .or_else(|| shards.get(&i).map(String::as_str))
        },
        &done,
        total,
        progress,
    ));
    for (i, report) in &mut results {
        if let Some((_, wanted)) = sidecars.get(i) {
            crate::repository::check_ranges(report, wanted);
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results
}

/// Scans `files[i]` for each `i` of `which` on every core (or `options.jobs`).
fn scan_many<'a>(
    files: &[PathBuf],
    which: &[usize],
    options: &ScanOptions,
    data_of: &(dyn Fn(usize) -> Option<&'a str> + Sync),
    done: &AtomicUsize,
    total: usize,
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> Vec<(usize, FileReport)> {
    let jobs = if options.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        options.jobs
    }
    .min(which.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, FileReport)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while let Some(&i) = which.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let report = scan_file_as(&files[i], options, data_of(i));
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress(n, total, &report.path);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, report));
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}
