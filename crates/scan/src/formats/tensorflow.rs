//! TensorFlow graphs, walked as raw protobuf (never loaded): a SavedModel's `saved_model.pb`
//! (every meta graph, its graph's nodes and every function of its library) and a frozen
//! `GraphDef`. Each op is judged by a documented table ([`EFFECT_OPS`], from the op
//! definitions of TensorFlow's own registry, `bench/tf_op_table.py`):
//!
//! - ops that read or write files, run Python or an embedded program, or reach the network are
//!   dangerous; ops that coordinate other workers or devices are suspicious;
//! - the checkpoint ops (`SaveV2`, `RestoreV2`, `MergeV2Checkpoints`) are every SavedModel's own
//!   saver and are accepted where the saver puts them — TF2's `…_traced_save_…` and
//!   `…_traced_restore_…` functions, TF1's `save/` scope — and dangerous anywhere else;
//! - `PrintV2` is dangerous only when its `output_stream` is a file;
//! - an op that TensorFlow does not register (`policy/tf_ops.txt`) and the library does not
//!   define as a function runs only through `tf.load_op_library` (native code): suspicious.
//!
//! Also recognised, as data: the SavedModel fingerprint (`fingerprint.pb`) and a checkpoint's
//! index (`variables.index`, an SSTable); the shards it indexes (`variables.data-…-of-…`) are
//! tensor data of that index (see `repository.rs`).
//! ATLAS: AML.T0011.000 (unsafe AI artifacts), AML.T0010.003 (supply chain: model).

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use super::protobuf::{fields, text_field, Field};
use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, ScanFinding};

const REGISTRY: &str = include_str!("../policy/tf_ops.txt");

fn registry() -> &'static HashSet<&'static str> {
    static R: OnceLock<HashSet<&'static str>> = OnceLock::new();
    R.get_or_init(|| {
        REGISTRY
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect()
    })
}

const READS: &str = "reads files";
const WRITES: &str = "writes files";
const PYTHON: &str = "calls a Python function registered in the loading process";
const NETWORK: &str = "talks to another host over the network";
const PROGRAM: &str = "runs an embedded program or a named native target";
const PEERS: &str = "coordinates with other workers or devices";

/// Ops with effects outside the tensors, by what they do and the verdict that earns.
const EFFECT_OPS: &[(&str, Verdict, &str)] = &[
    ("ReadFile", Verdict::Dangerous, READS),
    ("MatchingFiles", Verdict::Dangerous, "lists the file system"),
    (
        "MatchingFilesDataset",
        Verdict::Dangerous,
        "lists the file system",
    ),
    (
        "ExperimentalMatchingFilesDataset",
        Verdict::Dangerous,
        "lists the file system",
    ),
    ("ImmutableConst", Verdict::Dangerous, "memory-maps a file"),
    ("Restore", Verdict::Dangerous, READS),
    ("RestoreSlice", Verdict::Dangerous, READS),
    ("DTensorRestoreV2", Verdict::Dangerous, READS),
    ("LoadAndRemapMatrix", Verdict::Dangerous, READS),
    (
        "InitializeTableFromTextFile",
        Verdict::Unknown,
        "reads a vocabulary file (normally the model's own asset)",
    ),
    (
        "InitializeTableFromTextFileV2",
        Verdict::Unknown,
        "reads a vocabulary file (normally the model's own asset)",
    ),
    ("GenerateVocabRemapping", Verdict::Dangerous, READS),
    (
        "FixedUnigramCandidateSampler",
        Verdict::Unknown,
        "reads a vocabulary file",
    ),
    ("Skipgram", Verdict::Dangerous, READS),
    ("CSVDataset", Verdict::Dangerous, READS),
    ("CSVDatasetV2", Verdict::Dangerous, READS),
    ("ExperimentalCSVDataset", Verdict::Dangerous, READS),
    ("TFRecordDataset", Verdict::Dangerous, READS),
    ("TFRecordDatasetV2", Verdict::Dangerous, READS),
    ("TextLineDataset", Verdict::Dangerous, READS),
    ("FixedLengthRecordDataset", Verdict::Dangerous, READS),
    ("FixedLengthRecordDatasetV2", Verdict::Dangerous, READS),
    ("LMDBDataset", Verdict::Dangerous, READS),
    ("ExperimentalLMDBDataset", Verdict::Dangerous, READS),
    (
        "SqlDataset",
        Verdict::Dangerous,
        "opens a database file and runs a query",
    ),
    (
        "ExperimentalSqlDataset",
        Verdict::Dangerous,
        "opens a database file and runs a query",
    ),
    ("LoadDataset", Verdict::Dangerous, READS),
    ("SnapshotChunkDataset", Verdict::Dangerous, READS),
    ("SnapshotDatasetReader", Verdict::Dangerous, READS),
    ("ListSnapshotChunksDataset", Verdict::Dangerous, READS),
    ("RecordInput", Verdict::Dangerous, READS),
    ("WholeFileReader", Verdict::Dangerous, READS),
    ("WholeFileReaderV2", Verdict::Dangerous, READS),
    ("TFRecordReader", Verdict::Dangerous, READS),
    ("TFRecordReaderV2", Verdict::Dangerous, READS),
    ("TextLineReader", Verdict::Dangerous, READS),
    ("TextLineReaderV2", Verdict::Dangerous, READS),
    ("FixedLengthRecordReader", Verdict::Dangerous, READS),
    ("FixedLengthRecordReaderV2", Verdict::Dangerous, READS),
    ("IdentityReader", Verdict::Dangerous, READS),
    ("IdentityReaderV2", Verdict::Dangerous, READS),
    ("LMDBReader", Verdict::Dangerous, READS),
    ("ReaderRead", Verdict::Dangerous, READS),
    ("ReaderReadV2", Verdict::Dangerous, READS),
    ("ReaderReadUpTo", Verdict::Dangerous, READS),
    ("ReaderReadUpToV2", Verdict::Dangerous, READS),
    ("ReaderRestoreState", Verdict::Dangerous, READS),
    ("ReaderRestoreStateV2", Verdict::Dangerous, READS),
    ("WriteFile", Verdict::Dangerous, WRITES),
    ("Save", Verdict::Dangerous, WRITES),
    ("SaveSlices", Verdict::Dangerous, WRITES),
    ("DumpTensor", Verdict::Dangerous, WRITES),
    ("CalibrationStatisticsSaver", Verdict::Dangerous, WRITES),
    ("CacheDataset", Verdict::Dangerous, WRITES),
    ("CacheDatasetV2", Verdict::Dangerous, WRITES),
    ("SaveDataset", Verdict::Dangerous, WRITES),
    ("SaveDatasetV2", Verdict::Dangerous, WRITES),
    ("SnapshotDataset", Verdict::Dangerous, WRITES),
    ("SnapshotDatasetV2", Verdict::Dangerous, WRITES),
    ("DatasetToTFRecord", Verdict::Dangerous, WRITES),
    ("ExperimentalDatasetToTFRecord", Verdict::Dangerous, WRITES),
    ("CreateSummaryFileWriter", Verdict::Dangerous, WRITES),
    ("CreateSummaryDbWriter", Verdict::Dangerous, WRITES),
    (
        "FileSystemSetConfiguration",
        Verdict::Dangerous,
        "changes how TensorFlow reaches file systems (endpoints, credentials)",
    ),
    ("PyFunc", Verdict::Dangerous, PYTHON),
    ("PyFuncStateless", Verdict::Dangerous, PYTHON),
    ("EagerPyFunc", Verdict::Dangerous, PYTHON),
    (
        "DatasetFromGraph",
        Verdict::Suspicious,
        "runs a graph it receives as a string, which this scan cannot see into",
    ),
    ("XlaCustomCall", Verdict::Suspicious, PROGRAM),
    ("XlaCustomCallV2", Verdict::Suspicious, PROGRAM),
    ("XlaHostCompute", Verdict::Suspicious, PROGRAM),
    ("_XlaHostComputeMlir", Verdict::Suspicious, PROGRAM),
    ("Abort", Verdict::Suspicious, "ends the process"),
    ("RpcClient", Verdict::Dangerous, NETWORK),
    ("RpcServer", Verdict::Dangerous, NETWORK),
    ("RpcCall", Verdict::Dangerous, NETWORK),
    ("RpcServerRegister", Verdict::Dangerous, NETWORK),
    ("RpcServerStart", Verdict::Dangerous, NETWORK),
    ("DataServiceDataset", Verdict::Dangerous, NETWORK),
    ("DataServiceDatasetV2", Verdict::Dangerous, NETWORK),
    ("DataServiceDatasetV3", Verdict::Dangerous, NETWORK),
    ("DataServiceDatasetV4", Verdict::Dangerous, NETWORK),
    ("RegisterDataset", Verdict::Dangerous, NETWORK),
    ("RegisterDatasetV2", Verdict::Dangerous, NETWORK),
    ("DistributedSave", Verdict::Dangerous, NETWORK),
    ("RemoteCall", Verdict::Dangerous, NETWORK),
    (
        "DebugIdentity",
        Verdict::Dangerous,
        "sends or writes tensors to debug URLs",
    ),
    (
        "DebugIdentityV2",
        Verdict::Dangerous,
        "sends or writes tensors to debug URLs",
    ),
    (
        "DebugIdentityV3",
        Verdict::Dangerous,
        "sends or writes tensors to debug URLs",
    ),
    (
        "DebugNanCount",
        Verdict::Dangerous,
        "sends or writes tensors to debug URLs",
    ),
    (
        "DebugNumericSummary",
        Verdict::Dangerous,
        "sends or writes tensors to debug URLs",
    ),
    ("Send", Verdict::Suspicious, PEERS),
    ("Recv", Verdict::Suspicious, PEERS),
    ("_Send", Verdict::Suspicious, PEERS),
    ("_Recv", Verdict::Suspicious, PEERS),
    ("_HostSend", Verdict::Suspicious, PEERS),
    ("_HostRecv", Verdict::Suspicious, PEERS),
    ("ConfigureDistributedTPU", Verdict::Suspicious, PEERS),
    (
        "ConfigureAndInitializeGlobalTPU",
        Verdict::Suspicious,
        PEERS,
    ),
    ("ShutdownDistributedTPU", Verdict::Suspicious, PEERS),
    ("ShutdownTPUSystem", Verdict::Suspicious, PEERS),
];

/// The saver's ops, accepted inside the saver's own functions and scope.
const CHECKPOINT_OPS: &[&str] = &["SaveV2", "RestoreV2", "MergeV2Checkpoints"];

fn effect(op: &str) -> Option<(Verdict, &'static str)> {
    if op.starts_with("Collective") || op.starts_with("Nccl") || op.starts_with("_Nccl") {
        return Some((Verdict::Suspicious, PEERS));
    }
    EFFECT_OPS
        .iter()
        .find(|(name, _, _)| *name == op)
        .map(|(_, v, what)| (*v, *what))
}

/// A SavedModel: `saved_model_schema_version` (1) and meta graphs (2), each of which parses
/// and holds a graph (2) or meta info (1) — in any order, the version optional, as TF's own
/// parser accepts them.
pub fn looks_like_saved_model(data: &[u8]) -> bool {
    !data.is_empty()
        && fields(data).is_some_and(|f| {
            let mut graphs = 0;
            for x in &f {
                match x {
                    Field::Varint(1) => {}
                    Field::Bytes(2, meta) => match fields(meta) {
                        Some(m) if m.iter().any(|g| matches!(g, Field::Bytes(1 | 2, _))) => {
                            graphs += 1
                        }
                        _ => return false,
                    },
                    _ => return false,
                }
            }
            graphs > 0
        })
}

/// A frozen GraphDef: nodes (1), a function library (2), versions (4); the first node has a
/// name and an op that reads like an op name.
pub fn looks_like_graph_def(data: &[u8]) -> bool {
    let Some(f) = fields(data) else { return false };
    if !f
        .iter()
        .all(|x| matches!(x, Field::Bytes(1 | 2 | 4, _) | Field::Varint(3)))
    {
        return false;
    }
    // The first node, wherever the library and versions were written.
    let Some(node) = f.iter().find_map(|x| match x {
        Field::Bytes(1, node) => Some(*node),
        _ => None,
    }) else {
        return false;
    };
    let Some(node) = fields(node) else {
        return false;
    };
    let op = text_field(&node, 2).unwrap_or_default();
    text_field(&node, 1).is_some()
        && !op.is_empty()
        && op.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A TF1 `MetaGraphDef` (`model.ckpt.meta`, what `tf.train.import_meta_graph` loads): meta
/// info (1), a graph (2) that reads as a GraphDef, saver (3), collections (4), signatures (5),
/// assets (6), object graph (7).
pub fn looks_like_meta_graph(data: &[u8]) -> bool {
    fields(data).is_some_and(|f| {
        f.iter().all(|x| matches!(x, Field::Bytes(1..=7, _)))
            && f.iter()
                .any(|x| matches!(x, Field::Bytes(2, g) if looks_like_graph_def(g)))
    })
}

/// A SavedModel fingerprint (`fingerprint.pb`): five hashes (fields 1–5, varints), a
/// version message (6) and a UUID (7, text).
pub fn looks_like_fingerprint(data: &[u8]) -> bool {
    data.first() == Some(&0x08)
        && data.len() < 256
        && fields(data).is_some_and(|f| {
            f.iter()
                .filter(|x| matches!(x, Field::Varint(1..=5)))
                .count()
                >= 3
                && f.iter()
                    .all(|x| matches!(x, Field::Varint(1..=5) | Field::Bytes(6 | 7, _)))
        })
}

/// A TensorFlow checkpoint index (`variables.index`, `model.ckpt.index`): an SSTable whose
/// 48-byte footer ends with the table magic 0xdb4775248b80fb57.
pub fn looks_like_checkpoint_index(data: &[u8]) -> bool {
    data.len() >= 48 && data.ends_with(&0xdb47_7524_8b80_fb57u64.to_le_bytes())
}

/// Where an op sits: the graph itself, or a function of the library.
pub(crate) struct Place<'a> {
    pub(crate) function: Option<&'a str>,
}

impl Place<'_> {
    fn describe(&self) -> String {
        match self.function {
            Some(f) => format!("function {f}"),
            None => "the graph".to_string(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Walk {
    /// (op, where) → node name, count.
    ops: BTreeMap<(String, String), (String, usize, Verdict, String)>,
    pub(crate) functions: HashSet<String>,
    custom: BTreeMap<String, usize>,
}

/// Fields `number` of a message (a SavedModel's meta graphs, a meta graph's graph).
fn messages(data: &[u8], number: u64) -> Vec<&[u8]> {
    fields(data)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| match f {
            Field::Bytes(n, m) if n == number => Some(m),
            _ => None,
        })
        .collect()
}

pub fn scan_saved_model(ctx: &mut Ctx, data: &[u8], at: &Location) {
    let graphs = messages(data, 2)
        .into_iter()
        .flat_map(|meta| messages(meta, 2))
        .collect();
    scan_graphs(ctx, graphs, at);
}

pub fn scan_meta_graph(ctx: &mut Ctx, data: &[u8], at: &Location) {
    scan_graphs(ctx, messages(data, 2), at);
}

pub fn scan_graph_def(ctx: &mut Ctx, data: &[u8], at: &Location) {
    scan_graphs(ctx, vec![data], at);
}

/// Every graph's functions are known before any node is judged, so a call of one is not
/// taken for a custom op.
fn scan_graphs(ctx: &mut Ctx, graphs: Vec<&[u8]>, at: &Location) {
    let mut walk = Walk::default();
    for g in &graphs {
        collect_functions(g, &mut walk);
    }
    for g in graphs {
        walk_graph(g, &mut walk);
    }
    report(ctx, walk, at);
}

/// A FunctionDef's name: its signature's (an OpDef) `name`.
fn function_name(function: &[Field<'_>]) -> Option<String> {
    function.iter().find_map(|s| match s {
        Field::Bytes(1, sig) => fields(sig).and_then(|s| text_field(&s, 1)),
        _ => None,
    })
}

fn collect_functions(graph: &[u8], walk: &mut Walk) {
    for f in fields(graph).unwrap_or_default() {
        if let Field::Bytes(2, library) = f {
            for l in fields(library).unwrap_or_default() {
                if let Field::Bytes(1, function) = l {
                    if let Some(name) = function_name(&fields(function).unwrap_or_default()) {
                        walk.functions.insert(name);
                    }
                }
            }
        }
    }
}

fn walk_graph(graph: &[u8], walk: &mut Walk) {
    let graph_fields = fields(graph).unwrap_or_default();
    let graph_nodes: Vec<&[u8]> = graph_fields
        .iter()
        .filter_map(|f| match f {
            Field::Bytes(1, node) => Some(*node),
            _ => None,
        })
        .collect();
    let graph_scope = Scope::new(&graph_nodes);
    for f in graph_fields {
        match f {
            Field::Bytes(1, node) => walk_node(node, &Place { function: None }, &graph_scope, walk),
            Field::Bytes(2, library) => {
                for l in fields(library).unwrap_or_default() {
                    let Field::Bytes(1, function) = l else {
                        continue;
                    };
                    let parts = fields(function).unwrap_or_default();
                    let name = function_name(&parts).unwrap_or_default();
                    let nodes: Vec<&[u8]> = parts
                        .iter()
                        .filter_map(|p| match p {
                            Field::Bytes(3, node) => Some(*node),
                            _ => None,
                        })
                        .collect();
                    let scope = Scope::new(&nodes);
                    for node in &nodes {
                        walk_node(
                            node,
                            &Place {
                                function: Some(&name),
                            },
                            &scope,
                            walk,
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// The nodes of one graph or function by name, to read the constants an op is fed.
struct Scope<'a> {
    by_name: std::collections::HashMap<String, &'a [u8]>,
}

impl<'a> Scope<'a> {
    fn new(nodes: &[&'a [u8]]) -> Self {
        let by_name = nodes
            .iter()
            .filter_map(|n| Some((text_field(&fields(n)?, 1)?, *n)))
            .collect();
        Scope { by_name }
    }

    /// The string a `Const` node holds, where `input` (`name`, `name:0`, or in a function
    /// `name:output:0`) names one: its `value` attribute's tensor's first `string_val`.
    fn const_string(&self, input: &str) -> Option<String> {
        let name = input.split(':').next()?;
        let node = fields(self.by_name.get(name)?)?;
        if text_field(&node, 2).as_deref() != Some("Const") {
            return None;
        }
        node.iter().find_map(|f| match f {
            Field::Bytes(5, entry) => {
                let kv = fields(entry)?;
                if text_field(&kv, 1).as_deref() != Some("value") {
                    return None;
                }
                let value = kv.iter().find_map(|x| match x {
                    Field::Bytes(2, v) => fields(v),
                    _ => None,
                })?;
                let tensor = value.iter().find_map(|x| match x {
                    Field::Bytes(8, t) => fields(t),
                    _ => None,
                })?;
                text_field(&tensor, 8)
            }
            _ => None,
        })
    }
}

/// The string value of a node's attribute (`attr` map entry 5: key 1, AttrValue 2 with `s` 2).
fn string_attr(node: &[Field<'_>], key: &str) -> Option<String> {
    node.iter().find_map(|f| match f {
        Field::Bytes(5, entry) => {
            let kv = fields(entry)?;
            if text_field(&kv, 1).as_deref() != Some(key) {
                return None;
            }
            kv.iter().find_map(|x| match x {
                Field::Bytes(2, value) => fields(value).and_then(|v| text_field(&v, 2)),
                _ => None,
            })
        }
        _ => None,
    })
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

fn saver_place(place: &Place<'_>, node_name: &str) -> bool {
    match place.function {
        // TF2 names them `__inference__traced_save_N` / `__inference__traced_restore_N`.
        Some(f) => ["__inference__traced_save_", "__inference__traced_restore_"]
            .iter()
            .any(|p| f.strip_prefix(p).is_some_and(digits)),
        // TF1's Saver adds `save/SaveV2`, `save/RestoreV2`, `save/MergeV2Checkpoints` (scope
        // `save_N` for a second saver): the op's own name, not anything under the scope.
        None => match node_name.split_once('/') {
            Some((scope, rest)) => {
                (scope == "save" || scope.strip_prefix("save_").is_some_and(digits))
                    && ["SaveV2", "RestoreV2", "MergeV2Checkpoints"]
                        .iter()
                        .any(|op| {
                            rest.strip_prefix(op).is_some_and(|n| {
                                n.is_empty() || n.strip_prefix('_').is_some_and(digits)
                            })
                        })
            }
            None => false,
        },
    }
}

fn walk_node(node: &[u8], place: &Place<'_>, scope: &Scope<'_>, walk: &mut Walk) {
    let Some(parts) = fields(node) else { return };
    let name = text_field(&parts, 1).unwrap_or_default();
    let Some(op) = text_field(&parts, 2) else {
        return;
    };
    let inputs: Vec<String> = parts
        .iter()
        .filter_map(|f| match f {
            Field::Bytes(3, i) => Some(String::from_utf8_lossy(i).into_owned()),
            _ => None,
        })
        .collect();
    judge_node(
        walk,
        name,
        op,
        place,
        &|key| string_attr(&parts, key),
        &|k| inputs.get(k).and_then(|i| scope.const_string(i)),
    );
}

/// Judges one node: its op, where it sits, its string attributes, and the constant strings
/// it is fed (input `k`'s, where a `Const` in the same scope gives it).
pub(crate) fn judge_node(
    walk: &mut Walk,
    name: String,
    op: String,
    place: &Place<'_>,
    attr: &dyn Fn(&str) -> Option<String>,
    const_input: &dyn Fn(usize) -> Option<String>,
) {
    // A vocabulary table reads the file its model ships (fed at load time); one fed a
    // constant absolute path reads whatever file that names.
    let fixed_path = || {
        const_input(1).filter(|p| {
            p.starts_with('/') || p.starts_with('~') || p.contains("..") || p.contains("://")
        })
    };
    let judged = if CHECKPOINT_OPS.contains(&op.as_str()) {
        (!saver_place(place, &name)).then_some((
            Verdict::Dangerous,
            "reads or writes a checkpoint outside the saver's own functions".to_string(),
        ))
    } else if let Some(path) =
        fixed_path().filter(|_| op.starts_with("InitializeTableFromTextFile"))
    {
        Some((Verdict::Dangerous, format!("reads the fixed path {path:?}")))
    } else if op == "DecodeProtoV2" || op == "EncodeProto" {
        attr("descriptor_source")
            .filter(|s| !s.is_empty() && s != "local://")
            .map(|s| {
                (
                    Verdict::Dangerous,
                    format!("reads the descriptor file {s:?}"),
                )
            })
    } else if op == "PrintV2" {
        attr("output_stream")
            .filter(|s| s.starts_with("file"))
            .map(|s| {
                (
                    Verdict::Dangerous,
                    format!("prints to {s:?} (writes a file)"),
                )
            })
    } else {
        effect(&op).map(|(v, what)| (v, what.to_string()))
    };
    if let Some((verdict, what)) = judged {
        walk.ops
            .entry((op.clone(), place.describe()))
            .and_modify(|e| e.1 += 1)
            .or_insert((name, 1, verdict, what));
    } else if !registry().contains(op.as_str()) && !walk.functions.contains(&op) {
        *walk.custom.entry(op).or_default() += 1;
    }
}

pub(crate) fn report(ctx: &mut Ctx, walk: Walk, at: &Location) {
    for ((op, place), (node, count, verdict, what)) in walk.ops {
        let times = if count > 1 {
            format!(" ({count} nodes)")
        } else {
            String::new()
        };
        ctx.findings.push(ScanFinding::new(
            RuleId::TensorflowEffectOp,
            verdict,
            at,
            format!("{op} in {place} (node {node:?}{times}) {what} when the graph runs"),
        ));
    }
    for (op, count) in walk.custom {
        ctx.findings.push(ScanFinding::new(
            RuleId::TensorflowCustomOp,
            Verdict::Suspicious,
            at,
            format!("op {op:?} ({count} nodes) is not in TensorFlow's op registry nor a function of the graph's library: it runs only through a native library loaded with tf.load_op_library"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_registered_ops() {
        for (op, _, _) in EFFECT_OPS {
            assert!(registry().contains(op), "{op} is not in tf_ops.txt");
        }
        for op in CHECKPOINT_OPS {
            assert!(registry().contains(op), "{op}");
        }
    }
}
