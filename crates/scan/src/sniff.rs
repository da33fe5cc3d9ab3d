//! Content sniffing: what a file is, from its bytes. File names are never consulted, so a
//! pickle named `.bin`, `.pt` or `.safetensors` is scanned as a pickle.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Zip,
    Tar,
    Gzip,
    Bzip2,
    Xz,
    /// The LZMA "alone" format (`.lzma`; joblib's `compress='lzma'`).
    Lzma,
    Zlib,
    SevenZip,
    Lz4,
    Zstd,
    Npy,
    Safetensors,
    Gguf,
    Hdf5,
    Onnx,
    /// Universal Binary JSON: XGBoost's default model format (`.ubj`), read as data.
    Ubjson,
    /// A SentencePiece tokenizer model (`tokenizer.model`): a protobuf of pieces and
    /// normaliser tables, read as data by the tokenizer.
    SentencePiece,
    /// A TensorFlow SavedModel (`saved_model.pb`): meta graphs, each a graph and its functions.
    TfSavedModel,
    /// A frozen TensorFlow GraphDef (`frozen_graph.pb`).
    TfGraphDef,
    /// A TF1 MetaGraphDef (`model.ckpt.meta`): a graph with its saver and collections.
    TfMetaGraph,
    /// A SavedModel's fingerprint (`fingerprint.pb`): hashes, read as data.
    TfFingerprint,
    /// A TensorFlow checkpoint index (`variables.index`): an SSTable naming tensors in shards.
    TfCheckpointIndex,
    /// TFRecords: TensorFlow's event logs (`events.out.tfevents.*`), read as data.
    TfRecord,
    /// A CatBoost model (`.cbm`): `CBM1`, a length, then FlatBuffers of trees and metadata.
    CatBoost,
    Pickle,
    /// Raw tensor bytes a loader reads as numbers, never as code (PyTorch storage records).
    TensorData,
    Text,
    Empty,
    Unknown,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::Gzip => "gzip",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
            Format::Lzma => "lzma",
            Format::Zlib => "zlib",
            Format::SevenZip => "7z",
            Format::Lz4 => "lz4",
            Format::Zstd => "zstd",
            Format::Npy => "npy",
            Format::Safetensors => "safetensors",
            Format::Gguf => "gguf",
            Format::Hdf5 => "hdf5",
            Format::Onnx => "onnx",
            Format::SentencePiece => "sentencepiece",
            Format::Ubjson => "ubjson",
            Format::TfSavedModel => "tensorflow-savedmodel",
            Format::TfGraphDef => "tensorflow-graphdef",
            Format::TfMetaGraph => "tensorflow-metagraph",
            Format::TfFingerprint => "tensorflow-fingerprint",
            Format::TfCheckpointIndex => "tensorflow-checkpoint-index",
            Format::TfRecord => "tfrecord",
            Format::CatBoost => "catboost",
            Format::Pickle => "pickle",
            Format::TensorData => "tensor-data",
            Format::Text => "text",
            Format::Empty => "empty",
            Format::Unknown => "unknown",
        }
    }
}

/// Recognises a format from the first bytes, then, for the formats without magic numbers
/// (pickle, ONNX's protobuf, text), from their structure.
pub fn sniff(data: &[u8]) -> Format {
    if data.is_empty() {
        return Format::Empty;
    }
    let starts = |magic: &[u8]| data.starts_with(magic);
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        return Format::Zip;
    }
    if starts(b"\x1f\x8b") {
        return Format::Gzip;
    }
    if starts(b"BZh") && data.len() > 3 && (b'1'..=b'9').contains(&data[3]) {
        return Format::Bzip2;
    }
    if starts(b"\xfd7zXZ\x00") {
        return Format::Xz;
    }
    if looks_like_lzma_alone(data) {
        return Format::Lzma;
    }
    if starts(b"7z\xbc\xaf\x27\x1c") {
        return Format::SevenZip;
    }
    if starts(b"\x04\x22\x4d\x18") {
        return Format::Lz4;
    }
    if starts(b"\x28\xb5\x2f\xfd") {
        return Format::Zstd;
    }
    if starts(b"\x93NUMPY") {
        return Format::Npy;
    }
    if starts(b"GGUF") {
        return Format::Gguf;
    }
    if starts(b"\x89HDF\r\n\x1a\n") {
        return Format::Hdf5;
    }
    if starts(b"CBM1")
        && data.len() >= 8
        && 8 + u64::from(u32::from_le_bytes([data[4], data[5], data[6], data[7]]))
            <= data.len() as u64
    {
        return Format::CatBoost;
    }
    if data.len() >= 262 && (&data[257..262] == b"ustar") {
        return Format::Tar;
    }
    if looks_like_safetensors(data) {
        return Format::Safetensors;
    }
    if data.len() >= 2
        && data[0] == 0x78
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0
    {
        return Format::Zlib;
    }
    if crate::pickle::looks_like_pickle(data) && pickle_parses(data) {
        return Format::Pickle;
    }
    if ends_like_zip(data) {
        return Format::Zip;
    }
    if crate::formats::onnx::looks_like_onnx(data) {
        return Format::Onnx;
    }
    if looks_like_text(data) {
        return Format::Text;
    }
    // After text, so that `{}` and other JSON text stay text.
    if crate::formats::ubjson::looks_like_ubjson(data) {
        return Format::Ubjson;
    }
    // After text: runs of spaces are valid protobuf (field 4, varint 32, over and over).
    if crate::formats::onnx::looks_like_sentencepiece(data) {
        return Format::SentencePiece;
    }
    // TensorFlow's protobufs and tables, after text for the same reason.
    if crate::formats::tensorflow::looks_like_saved_model(data) {
        return Format::TfSavedModel;
    }
    if crate::formats::tensorflow::looks_like_fingerprint(data) {
        return Format::TfFingerprint;
    }
    if crate::formats::tensorflow::looks_like_graph_def(data) {
        return Format::TfGraphDef;
    }
    if crate::formats::tensorflow::looks_like_meta_graph(data) {
        return Format::TfMetaGraph;
    }
    if crate::formats::tensorflow::looks_like_checkpoint_index(data) {
        return Format::TfCheckpointIndex;
    }
    if crate::formats::tfrecord::looks_like_tfrecord(data) {
        return Format::TfRecord;
    }
    if data.len() >= 512 && old_tar_checksum_ok(&data[..512]) {
        return Format::Tar;
    }
    Format::Unknown
}

/// The largest header the safetensors format allows (100 MB).
const SAFETENSORS_MAX_HEADER: u64 = 100_000_000;

/// safetensors: an 8-byte little-endian header length, then a JSON object of that length.
/// A header length past the end of the file still names the format: the file is truncated,
/// which the format's scan reports, rather than unknown.
fn looks_like_safetensors(data: &[u8]) -> bool {
    if data.len() < 10 {
        return false;
    }
    let n = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
    (2..=SAFETENSORS_MAX_HEADER).contains(&n) && data[8] == b'{'
}

/// A trial run of the pickle machine: it reaches a STOP, or it imports real names before it
/// fails (a loader would have run those; a text file does not spell `module\nname\n`).
pub(crate) fn pickle_parses(data: &[u8]) -> bool {
    let mut budget = crate::pickle::machine::Budget {
        // Enough to tell a pickle from text; a big pickle runs out of it while still parsing,
        // and the real scan runs it in full anyway.
        opcodes_left: 4096,
        max_memo: 1 << 16,
        max_stack: 1 << 16,
        max_expansion: u64::MAX,
        deadline: None,
    };
    match crate::pickle::machine::Machine::run(data, 0, &mut budget) {
        Ok(_) => true,
        Err(failed) => {
            let (trace, e) = *failed;
            // Out of trial budget while still parsing: a big pickle.
            matches!(e.failure, crate::pickle::machine::Failure::Budget(_))
                || trace.imports.iter().any(|i| {
                    [&i.module, &i.name].iter().all(|s| {
                        !s.is_empty()
                            && s.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                    })
                })
        }
    }
}

/// LZMA "alone": the properties byte 0x5d (lc=3, lp=0, pb=2, what every encoder writes by
/// default), an encoder's dictionary size of at least 4 KiB, and an uncompressed size that is
/// either unknown (all ones) or plausible.
fn looks_like_lzma_alone(data: &[u8]) -> bool {
    if data.len() < 13 || data[0] != 0x5d {
        return false;
    }
    let dict = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
    let size = u64::from_le_bytes(data[5..13].try_into().expect("8 bytes"));
    // Encoders write dictionary sizes of 2^n or 2^n + 2^(n-1); a protocol-1 pickle that
    // opens with EMPTY_LIST (also 0x5d) almost never spells one.
    let encoder_dict = dict.is_power_of_two() || (dict % 3 == 0 && (dict / 3).is_power_of_two());
    dict >= 4096 && encoder_dict && (size == u64::MAX || size < 1 << 48)
}

/// A zip with bytes in front of it (Python's zipfile finds it from the end record).
pub fn ends_like_zip(data: &[u8]) -> bool {
    let tail = &data[data.len().saturating_sub(22 + 65_535)..];
    tail.len() >= 22 && tail.windows(4).any(|w| w == b"PK\x05\x06")
}

/// Text has no control characters but tab, newline, carriage return and form feed: a short
/// binary record (a protobuf such as `saved_model.pb`) is often valid UTF-8 without a NUL,
/// and calling it text would pass a format the scanner cannot read.
fn looks_like_text(data: &[u8]) -> bool {
    let head = &data[..data.len().min(8192)];
    if head
        .iter()
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)) || b == 0x7f)
    {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the 8 KiB boundary.
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > head.len(),
    }
}

/// Pre-POSIX tar headers have no magic; their checksum field gives them away.
fn old_tar_checksum_ok(header: &[u8]) -> bool {
    let field = &header[148..156];
    let text: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .collect();
    let Ok(expected) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = header
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == expected && header[0] != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_content() {
        assert_eq!(sniff(b"\x80\x02}q\x00."), Format::Pickle);
        assert_eq!(sniff(b"cos\nsystem\n(S'id'\ntR."), Format::Pickle);
        // No STOP, but a loader runs os.system before it notices.
        assert_eq!(sniff(b"cos\nsystem\n(S'id'\ntR"), Format::Pickle);
        assert_eq!(sniff(b"PK\x03\x04rest"), Format::Zip);
        assert_eq!(sniff(b"{\"a\": 1}\n"), Format::Text);
        assert_eq!(sniff(b"hello world\n"), Format::Text);
        assert_eq!(sniff(b"\x00\x01\x02\x03garbage\xff"), Format::Unknown);
        // A binary protobuf that happens to be valid UTF-8 with no NUL is not text.
        assert_eq!(
            sniff(b"\x12\x1f\n\x1d\n\x07PyFunc\x12\x12\n\x05token\x12\x03f\x1a\x03"),
            Format::Unknown
        );
        assert_eq!(sniff(b""), Format::Empty);
        // A protocol-1 pickle opening with EMPTY_LIST (0x5d, like LZMA's properties byte).
        assert_eq!(sniff(b"]q\x00(K\x01K\x02e."), Format::Pickle);
        let mut lzma = vec![0x5d, 0, 0, 0x80, 0];
        lzma.extend_from_slice(&[0xff; 8]);
        assert_eq!(sniff(&lzma), Format::Lzma);
        let mut st = 2u64.to_le_bytes().to_vec();
        st.extend_from_slice(b"{}");
        assert_eq!(sniff(&st), Format::Safetensors);
        // Cut inside its header, it is still a (truncated) safetensors file, not unknown.
        let mut cut = 4096u64.to_le_bytes().to_vec();
        cut.extend_from_slice(b"{\"w\": {\"dtype\": \"F32\"");
        assert_eq!(sniff(&cut), Format::Safetensors);
    }
}
