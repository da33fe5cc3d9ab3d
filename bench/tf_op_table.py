"""Dump every op in TensorFlow's op registry to crates/scan/src/policy/tf_ops.txt and print the
ops that can touch the file system, the network or other processes, or run Python or embedded
programs, found by inspecting each OpDef.

    /tmp/tfvenv/bin/python bench/tf_op_table.py [crates/scan/src/policy/tf_ops.txt] [fixture dir]

The registry is read through the C API (TF_GetAllOpList), which holds every op linked into the
installed TensorFlow, internal ones too (VarHandleOp, SaveV2, StatefulPartitionedCall, _Send, ...),
not only the ones tf.raw_ops exposes.  The fixture dir (default crates/scan/tests/fixtures/real)
is read for tf_savedmodel/saved_model.pb, if present, to mark the ops a benign SavedModel's own
checkpoint functions use.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import re
import sys

import tensorflow as tf
from tensorflow.core.framework import op_def_pb2
from tensorflow.python.client import pywrap_tf_session

OUT = sys.argv[1] if len(sys.argv) > 1 else "crates/scan/src/policy/tf_ops.txt"
FIXTURES = sys.argv[2] if len(sys.argv) > 2 else "crates/scan/tests/fixtures/real"

# Input or attr names that carry a path, a URL or an address.
PATH_ARGS = {
    "filename", "filenames", "file_pattern", "prefix", "path", "snapshot_path", "shard_dir",
    "chunk_file", "directory", "logdir", "db_uri", "ckpt_path", "new_vocab_file",
    "old_vocab_file", "vocab_file", "output_stream", "debug_urls", "log_dir_path", "file_name",
    "output_file_path", "memory_region_name", "destination_prefix", "checkpoint_prefixes",
    "data_source_name", "descriptor_source", "reader_path_prefix", "writer_path_prefix",
    "reader_prefix", "writer_prefix", "patterns",
}
NET_ARGS = {"address", "server_address", "protocol", "debug_urls"}

# Name patterns the OpDef alone does not give away, with the reason.
BY_NAME = [
    (r"^(PyFunc|PyFuncStateless|EagerPyFunc)$", "python", "calls a Python callable registered in the loading process under the `token` attr"),
    (r"^(WholeFile|TFRecord|TextLine|FixedLengthRecord|LMDB|Identity)Reader(V2)?$", "file-read", "queue-based reader: ReaderRead* opens the files named in its queue"),
    (r"^Reader(Read|ReadUpTo|RestoreState)(V2)?$", "file-read", "reads through a *Reader resource"),
    (r"^(SummaryWriter|CreateSummaryFileWriter|CreateSummaryDbWriter|FlushSummaryWriter|CloseSummaryWriter|ImportEvent|StatsAggregatorSetSummaryWriter)$", "file-write", "summary writer: event files (logdir) or a database (db_uri)"),
    (r"^Write(Audio|Graph|Histogram|Image|RawProto|Scalar)?Summary$", "file-write", "writes an event through a SummaryWriter resource"),
    (r"^MatchingFiles(Dataset)?$|^ExperimentalMatchingFilesDataset$", "file-read", "globs the file system (lists directories)"),
    (r"^(Experimental)?SqlDataset$", "file-read", "opens a database (sqlite file) named by data_source_name and runs `query`"),
    (r"^ImmutableConst$", "file-read", "memory-maps the file named by memory_region_name"),
    (r"^FileSystemSetConfiguration$", "file-config", "sets file-system options (scheme, key, value), e.g. remote-storage endpoints/credentials"),
    (r"^(Rpc(Client|Server|Call|CheckStatus|GetValue|ServerRegister|ServerStart)|DeleteRpcFutureResource)$", "network", "tf.distribute RPC: gRPC client/server"),
    (r"^(DataServiceDataset(V\d)?|RegisterDataset(V2)?|DistributedSave)$", "network", "talks to a tf.data service at `address`"),
    (r"^RemoteCall$", "network", "runs function `f` on a remote `target` device/task"),
    (r"^(Collective\w+|Nccl\w+|_Nccl\w+)$", "network", "collective communication with other workers/devices"),
    (r"^(_?Send|_?Recv|_HostSend|_HostRecv)$", "network", "rendezvous send/recv between devices or tasks (normally inserted by the runtime, not saved)"),
    (r"^(ConfigureDistributedTPU|_ConfigureDistributedTPU|ConfigureAndInitializeGlobalTPU|ShutdownDistributedTPU|_ShutdownDistributedTPU|ShutdownTPUSystem|_InitializeHostForDistributedTPU|_DisconnectHostFromDistributedTPUSystem|ConnectTPUEmbeddingHosts)$", "system", "configures or shuts down the distributed TPU system"),
    (r"^DatasetFromGraph$", "embedded-program", "deserialises and runs a GraphDef passed as a string input"),
    (r"^XlaCallModule$", "embedded-program", "runs a serialized StableHLO `module` attr; `function_list` may hold host callbacks"),
    (r"^(XlaCustomCall|XlaCustomCallV2)$", "embedded-program", "calls a named XLA custom-call target"),
    (r"^(_XlaHostComputeMlir|XlaHostCompute|_TPUCompileMlir|TPUCompile)$", "embedded-program", "carries an MLIR/XLA program or host computation"),
    (r"^(DecodeProtoV2|EncodeProto)$", "file-read", "descriptor_source may be a file path to a FileDescriptorSet"),
    (r"^DumpTensor$", "file-write", "writes tensors to log_dir_path/file_name"),
    (r"^(Debug(Identity|IdentityV2|IdentityV3|NanCount|NumericSummary))$", "network", "tfdbg: debug_urls may be file:// (writes) or grpc:// (sends tensors)"),
    (r"^(CacheDataset(V2)?|SaveDataset(V2)?|DatasetToTFRecord|ExperimentalDatasetToTFRecord|SnapshotDataset(V2)?)$", "file-write", "tf.data op that writes files"),
    (r"^Abort$", "process", "aborts the whole process (exit_without_error attr exits it cleanly)"),
    (r"^(Copy|CopyHost)$", "network", "debug_ops_spec attr may name tfdbg ops with file:// or grpc:// URLs"),
    (r"^PrintV2$", "file-write", "output_stream attr may be file://PATH (appends to a file)"),
    (r"^(Save|SaveSlices|SaveV2)$", "file-write", "writes a checkpoint at filename/prefix"),
    (r"^MergeV2Checkpoints$", "file-write", "renames checkpoint shards into destination_prefix; delete_old_dirs=true removes directories"),
    (r"^(Restore|RestoreSlice|RestoreV2|DTensorRestoreV2|LoadAndRemapMatrix)$", "file-read", "reads a checkpoint at file_pattern/prefix/ckpt_path"),
]
CALLS = re.compile(r"^(StatefulPartitionedCall|PartitionedCall|TPUPartitionedCall|BatchFunction|If|StatelessIf|While|StatelessWhile|Case|StatelessCase|For|SymbolicGradient)$")


def registry():
    buf = pywrap_tf_session.TF_GetAllOpList()
    ops = op_def_pb2.OpList()
    ops.ParseFromString(pywrap_tf_session.TF_GetBuffer(buf))
    pywrap_tf_session.TF_DeleteBuffer(buf)
    return {op.name: op for op in ops.op}


def reasons(op):
    out = []
    for pat, kind, why in BY_NAME:
        if re.search(pat, op.name):
            out.append((kind, why))
    args = [a.name for a in op.input_arg if a.name in PATH_ARGS | NET_ARGS]
    attrs = [a.name for a in op.attr if a.name in PATH_ARGS | NET_ARGS]
    if args or attrs:
        if set(args + attrs) & NET_ARGS:
            kind = "network"
        elif re.search(r"^(Write|Save|Dump)|Saver$", op.name):
            kind = "file-write"
        else:
            kind = "file-read"
        where = ", ".join([f"input `{a}`" for a in args] + [f"attr `{a}`" for a in attrs])
        if not out:
            out.append((kind, where))
        else:
            out[0] = (out[0][0], f"{out[0][1]} ({where})")
    return out


def checkpoint_ops(fixtures):
    """Ops in the benign fixture's functions, split into its checkpoint save/restore functions
    (`__inference__traced_save_*`, `__inference__traced_restore_*`) and the rest."""
    from tensorflow.core.protobuf import saved_model_pb2

    pb = os.path.join(fixtures, "tf_savedmodel", "saved_model.pb")
    if not os.path.exists(pb):
        return None, None
    sm = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        sm.ParseFromString(f.read())
    ckpt, rest = set(), set()
    for mg in sm.meta_graphs:
        rest |= {n.op for n in mg.graph_def.node}
        for fn in mg.graph_def.library.function:
            target = ckpt if "_traced_save_" in fn.signature.name or "_traced_restore_" in fn.signature.name else rest
            target |= {n.op for n in fn.node_def}
    return ckpt, rest


def main():
    ops = registry()
    names = sorted(ops)
    cmd = "/tmp/tfvenv/bin/python bench/tf_op_table.py"
    with open(OUT, "w") as f:
        f.write(f"# TensorFlow {tf.__version__} op registry (TF_GetAllOpList, {len(names)} ops), generated by: {cmd}\n")
        for n in names:
            f.write(n + "\n")
    print(f"wrote {OUT}: {len(names)} ops from TensorFlow {tf.__version__}")

    ckpt, rest = checkpoint_ops(FIXTURES)
    flagged = {n: reasons(ops[n]) for n in names}
    flagged = {n: r for n, r in flagged.items() if r}
    if ckpt is not None:
        print("\n== ops in the benign fixture tf_savedmodel ==")
        print("checkpoint save/restore functions:", " ".join(sorted(ckpt)))
        print("graph and other functions:        ", " ".join(sorted(rest)))
        print("\n== checkpoint machinery (SavedModel's own save/restore functions use these) ==")
        for n in sorted(ckpt):
            why = "; ".join(w for _, w in flagged.get(n, [])) or "string/tensor plumbing, no I/O"
            print(f"{n} — {why}{'  [also outside checkpoint fns]' if n in rest else ''}")
    print("\n== candidate dangerous ops ==")
    by_kind = {}
    for n, r in flagged.items():
        if ckpt is not None and n in ckpt:
            continue
        by_kind.setdefault(r[0][0], []).append(f"{n} — {'; '.join(w for _, w in r)}")
    for kind in sorted(by_kind):
        print(f"-- {kind} ({len(by_kind[kind])})")
        for line in by_kind[kind]:
            print(line)
    print("\n== function-calling ops (follow their func attrs into the library) ==")
    print(" ".join(n for n in names if CALLS.match(n)))


if __name__ == "__main__":
    main()
