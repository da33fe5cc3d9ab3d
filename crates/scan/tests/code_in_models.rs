//! Code inside models that is not a pickle: TorchScript sources and TensorFlow graphs, judged
//! operator by operator; and the TensorFlow SavedModel and CatBoost formats, which were
//! "unsupported format" errors before. Fixtures made by torch 2.15, tensorflow-cpu 2.21,
//! Keras 3.15 and CatBoost 1.2.10: see `tests/fixtures/real/README.md`.

use std::path::PathBuf;

use aisec_scan::craft::ZipWriter;
use aisec_scan::scanner::{scan_bytes, scan_path, ScanOptions};
use aisec_scan::sniff::Format;
use aisec_scan::{FileKind, FileReport, Verdict};

fn real(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/tests/fixtures/real/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

fn scan_file(name: &str) -> FileReport {
    let data = std::fs::read(real(name)).unwrap();
    scan_bytes(name, &data, &ScanOptions::default())
}

fn rules(r: &FileReport) -> Vec<(&'static str, Verdict, String)> {
    r.findings
        .iter()
        .map(|f| (f.rule, f.verdict, f.message.clone()))
        .collect()
}

#[test]
fn scripted_and_traced_torchscript_scans_clean() {
    for name in ["torchscript.pt", "torchscript_traced.pt"] {
        let r = scan_file(name);
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
        assert_eq!(r.verdict, Verdict::Safe, "{name}: {:#?}", r.findings);
    }
}

#[test]
fn torchscript_that_reads_and_writes_files_is_dangerous() {
    let r = scan_file("torchscript_file_ops.pt");
    assert_eq!(r.verdict, Verdict::Dangerous);
    let found = rules(&r);
    for op in ["aten::from_file", "aten::save"] {
        assert!(
            found.iter().any(|(id, v, m)| *id == "AISEC-TS-001"
                && *v == Verdict::Dangerous
                && m.contains(op)),
            "{op}: {found:#?}"
        );
    }
}

#[test]
fn mobile_archives_are_judged_by_the_operator_table_the_lite_interpreter_runs() {
    let r = scan_file("torchscript_lite.ptl");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.verdict, Verdict::Safe, "{:#?}", r.findings);
    // Its code/ no longer calls torch.save; bytecode.pkl's operator table still does.
    let r = scan_file("torchscript_lite_file_ops.ptl");
    let save: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.message.contains("aten::save"))
        .collect();
    assert_eq!(save.len(), 1, "{:#?}", r.findings);
    assert_eq!(save[0].verdict, Verdict::Dangerous);
    assert!(save[0].message.contains("operator table"), "{:#?}", save);
}

#[test]
fn torchscript_custom_operator_is_suspicious() {
    let r = scan_file("torchscript_custom_op.pt");
    assert_eq!(r.verdict, Verdict::Suspicious, "{:#?}", r.findings);
    assert!(rules(&r)
        .iter()
        .any(|(id, _, m)| *id == "AISEC-TS-002" && m.contains("aisec_fixture::boom")));
}

/// A TorchScript archive written by hand: what the loader compiles is whatever the attacker
/// put under `code/`, so spellings the exporter never writes count too.
fn torchscript_with(code: &str) -> FileReport {
    let pickle = aisec_scan::craft::PickleWriter::new()
        .proto(2)
        .empty_dict()
        .stop()
        .finish();
    let zip = ZipWriter::new()
        .file("m/data.pkl", &pickle)
        .file("m/constants.pkl", &pickle)
        .file("m/code/__torch__.py", code.as_bytes())
        .file("m/version", b"3\n")
        .finish();
    scan_bytes("m.pt", &zip, &ScanOptions::default())
}

#[test]
fn hand_written_torchscript_spellings_are_caught() {
    let header = "class M(Module):\n  def forward(self: __torch__.M, x: Tensor) -> Tensor:\n";
    for (body, verdict, needle) in [
        (
            "    _0 = getattr(torch, \"save\")\n    return x\n",
            Verdict::Dangerous,
            "aten::save",
        ),
        (
            "    return ops.aten.from_file(\"/etc/passwd\", True, 4)\n",
            Verdict::Dangerous,
            "aten::from_file",
        ),
        (
            "    t = torch .\n      save(x, \"/tmp/p\")\n    return x\n",
            Verdict::Dangerous,
            "aten::save",
        ),
        (
            "    f = torch\n    return x\n",
            Verdict::Suspicious,
            "used as a value",
        ),
        (
            "    t = torch\n    t.save(x, \"/tmp/p\")\n    return x\n",
            Verdict::Suspicious,
            "used as a value",
        ),
        (
            "    return torch.\\\n  save(x, \"/tmp/p\")\n",
            Verdict::Dangerous,
            "aten::save",
        ),
        (
            "    _0 = [torch. # hi\n  save(x, \"/tmp/p\")]\n    return x\n",
            Verdict::Dangerous,
            "aten::save",
        ),
        (
            "    _0 = (torch # c\n .save)(x, \"/tmp/p\")\n    return x\n",
            Verdict::Dangerous,
            "aten::save",
        ),
        (
            "    return getattr(torch, \"sa\" \"ve\")(x, \"/tmp/p\")\n",
            Verdict::Dangerous,
            "aten::save",
        ),
        (
            "    return getattr(torch, (\"save\"))(x, \"/tmp/p\")\n",
            Verdict::Dangerous,
            "aten::save",
        ),
        (
            "    return getattr(getattr(ops, \"aten\"), \"save\")(x, \"/tmp/p\")\n",
            Verdict::Suspicious,
            "used as a value",
        ),
        (
            "    o = ops.aten\n    return o.save(x, \"/tmp/p\")\n",
            Verdict::Suspicious,
            "used as a value",
        ),
        (
            "    s = torch.classes.evil.Shell()\n    return x\n",
            Verdict::Suspicious,
            "custom class",
        ),
        (
            "    return torch.definitely_not_an_op(x)\n",
            Verdict::Unknown,
            "not an operator",
        ),
        (
            "    return ops.c10d.broadcast_(x)\n",
            Verdict::Suspicious,
            "other processes",
        ),
    ] {
        let r = torchscript_with(&format!("{header}{body}"));
        assert_eq!(r.verdict, verdict, "{body}: {:#?}", r.findings);
        assert!(
            r.findings.iter().any(|f| f.message.contains(needle)),
            "{body}: {:#?}",
            r.findings
        );
    }
    // Names inside strings and comments, and methods of objects, are not references.
    let quiet = torchscript_with(&format!(
        "{header}    # torch.save(x, 'p')\n    y = \"torch.from_file\"\n    return (x).save_like(torch.add(x, x))\n"
    ));
    assert_eq!(quiet.verdict, Verdict::Safe, "{:#?}", quiet.findings);
}

#[test]
fn python_files_outside_a_torchscript_archive_are_not_judged_as_torchscript() {
    let zip = ZipWriter::new()
        .file(
            "repo/code/tool.py",
            b"import torch\ntorch.save(x, 'out.pt')\n",
        )
        .finish();
    let r = scan_bytes("src.zip", &zip, &ScanOptions::default());
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

fn folder(name: &str) -> Vec<FileReport> {
    scan_path(&[real(name)], &ScanOptions::default(), &|_, _, _| {}).files
}

#[test]
fn tensorflow_savedmodels_scan_as_one_model_with_their_variables() {
    for name in ["tf_savedmodel", "keras_export_savedmodel"] {
        let files = folder(name);
        assert_eq!(files.len(), 4, "{name}");
        for f in &files {
            assert!(f.errors.is_empty(), "{}: {:?}", f.path, f.errors);
            assert_eq!(f.verdict, Verdict::Safe, "{}: {:#?}", f.path, f.findings);
            assert_ne!(f.kind, FileKind::NotAModel, "{}", f.path);
        }
        let format_of = |suffix: &str| {
            files
                .iter()
                .find(|f| f.path.ends_with(suffix))
                .map(|f| f.format)
                .unwrap()
        };
        assert_eq!(format_of("saved_model.pb"), Format::TfSavedModel);
        assert_eq!(format_of("fingerprint.pb"), Format::TfFingerprint);
        assert_eq!(format_of("variables.index"), Format::TfCheckpointIndex);
        let shard = files
            .iter()
            .find(|f| f.path.ends_with("variables.data-00000-of-00001"))
            .unwrap();
        assert_eq!(shard.kind, FileKind::TensorData);
        assert!(shard
            .data_of
            .as_deref()
            .unwrap()
            .ends_with("variables.index"));
    }
}

#[test]
fn a_checkpoint_shard_without_its_index_fails_closed() {
    let r = scan_file("tf_savedmodel/variables/variables.data-00000-of-00001");
    assert!(!r.errors.is_empty());
}

#[test]
fn savedmodels_whose_functions_touch_files_are_dangerous() {
    for (name, op) in [
        ("tf_savedmodel_readfile", "ReadFile"),
        ("tf_savedmodel_writefile", "WriteFile"),
        ("tf_savedmodel_print_file", "PrintV2"),
    ] {
        let r = scan_file(&format!("{name}/saved_model.pb"));
        assert_eq!(r.verdict, Verdict::Dangerous, "{name}");
        assert!(
            rules(&r)
                .iter()
                .any(|(id, _, m)| *id == "AISEC-TF-001" && m.starts_with(op)),
            "{name}: {:#?}",
            r.findings
        );
        // Only the planted op: the saver's own SaveV2/RestoreV2 stay accepted.
        assert_eq!(r.findings.len(), 1, "{name}: {:#?}", r.findings);
    }
}

/// A GraphDef with one node per (name, op), as protobuf bytes.
fn graph_def(nodes: &[(&str, &str)]) -> Vec<u8> {
    fn field(n: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3) | 2];
        let mut len = bytes.len();
        loop {
            let b = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(bytes);
        out
    }
    let mut out = Vec::new();
    for (name, op) in nodes {
        let mut node = field(1, name.as_bytes());
        node.extend(field(2, op.as_bytes()));
        out.extend(field(1, &node));
    }
    out
}

#[test]
fn frozen_graphs_are_judged_by_their_ops() {
    let options = ScanOptions::default();
    let benign = graph_def(&[("x", "Placeholder"), ("w", "Const"), ("y", "MatMul")]);
    let r = scan_bytes("frozen.pb", &benign, &options);
    assert_eq!(r.format, Format::TfGraphDef);
    assert!(r.errors.is_empty() && r.findings.is_empty(), "{r:#?}");
    // TF1's saver lives in the graph under save/: accepted there, dangerous elsewhere.
    let saver = graph_def(&[("save/RestoreV2", "RestoreV2"), ("y", "MatMul")]);
    assert_eq!(scan_bytes("g.pb", &saver, &options).verdict, Verdict::Safe);
    let restore_elsewhere = graph_def(&[("sneaky/RestoreV2", "RestoreV2")]);
    assert_eq!(
        scan_bytes("g.pb", &restore_elsewhere, &options).verdict,
        Verdict::Dangerous
    );
    let py = graph_def(&[("f", "PyFunc")]);
    assert_eq!(
        scan_bytes("g.pb", &py, &options).verdict,
        Verdict::Dangerous
    );
    let custom = graph_def(&[("c", "MyCustomKernelOp")]);
    let r = scan_bytes("g.pb", &custom, &options);
    assert_eq!(r.verdict, Verdict::Suspicious);
    assert_eq!(r.findings[0].rule, "AISEC-TF-002");
}

#[test]
fn savedmodels_and_graphs_are_recognised_in_any_field_order_and_as_meta_graphs() {
    // TF's parser takes a SavedModel without its version field; so does the scan.
    let data = std::fs::read(real("tf_savedmodel_readfile/saved_model.pb")).unwrap();
    assert_eq!(&data[..2], &[0x08, 0x01]);
    let r = scan_bytes("saved_model.pb", &data[2..], &ScanOptions::default());
    assert_eq!(r.format, Format::TfSavedModel);
    assert_eq!(r.verdict, Verdict::Dangerous);
    // A GraphDef whose versions come first, and the same graph inside a TF1 .meta file.
    let mut graph = vec![0x22, 0x02, 0x08, 0x01];
    graph.extend(graph_def(&[("x", "Placeholder"), ("r", "ReadFile")]));
    let r = scan_bytes("frozen.pb", &graph, &ScanOptions::default());
    assert_eq!(r.format, Format::TfGraphDef);
    assert_eq!(r.verdict, Verdict::Dangerous);
    let mut meta = vec![0x0a, 0x00, 0x12, graph.len() as u8];
    meta.extend(&graph);
    let r = scan_bytes("model.ckpt.meta", &meta, &ScanOptions::default());
    assert_eq!(r.format, Format::TfMetaGraph);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:#?}", r.findings);
}

#[test]
fn the_saver_exemption_is_for_the_savers_own_nodes_only() {
    let options = ScanOptions::default();
    for (name, verdict) in [
        ("save/SaveV2", Verdict::Safe),
        ("save_1/RestoreV2", Verdict::Safe),
        ("save/evil", Verdict::Dangerous),
        ("save/SaveV2_x", Verdict::Dangerous),
        ("saver/SaveV2", Verdict::Dangerous),
    ] {
        let g = graph_def(&[(name, "SaveV2")]);
        assert_eq!(scan_bytes("g.pb", &g, &options).verdict, verdict, "{name}");
    }
}

#[test]
fn graphs_in_text_format_are_models_judged_op_by_op() {
    let options = ScanOptions::default();
    let graph = |op: &str| {
        format!("node {{\n  name: \"x\"\n  op: \"Placeholder\"\n}}\nnode {{\n  name: \"r\"\n  op: \"{op}\"\n  input: \"x\"\n}}\nversions {{\n  producer: 1\n}}\n")
    };
    let r = scan_bytes("graph.pbtxt", graph("ReadFile").as_bytes(), &options);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:#?}", r.findings);
    assert_eq!(r.kind, FileKind::Model);
    let r = scan_bytes("graph.pbtxt", graph("Relu").as_bytes(), &options);
    assert_eq!(r.verdict, Verdict::Safe, "{:#?}", r.findings);
    assert_eq!(r.kind, FileKind::Model);
    let print = "node {\n  name: \"p\"\n  op: \"PrintV2\"\n  attr {\n    key: \"output_stream\"\n    value {\n      s: \"file:///tmp/x\"\n    }\n  }\n}\n";
    assert_eq!(
        scan_bytes("g.pbtxt", print.as_bytes(), &options).verdict,
        Verdict::Dangerous
    );
}

#[test]
fn catboost_models_are_recognised() {
    let r = scan_file("catboost_model.cbm");
    assert_eq!(r.format, Format::CatBoost);
    assert!(r.errors.is_empty() && r.findings.is_empty());
    assert_eq!(r.kind, FileKind::Model);
    // A length past the end is not a CatBoost model.
    let mut cut = std::fs::read(real("catboost_model.cbm")).unwrap();
    cut.truncate(100);
    assert!(!scan_bytes("cut.cbm", &cut, &ScanOptions::default())
        .errors
        .is_empty());
}

#[test]
fn python_source_in_torchscript_debug_info_is_expected_but_not_elsewhere() {
    // torch.jit.save keeps the scripted modules' original source in `code/….py.debug_pkl`
    // for error messages; torchvision's detection models quote importlib.import_module(…).
    let source = "def _load(name):\n    return importlib.import_module(name)\n";
    let pickle = aisec_scan::craft::PickleWriter::new()
        .proto(2)
        .binunicode(source)
        .stop()
        .finish();
    let empty = aisec_scan::craft::PickleWriter::new()
        .proto(2)
        .empty_dict()
        .stop()
        .finish();
    let archive = |debug_name: &str| {
        ZipWriter::new()
            .file("m/data.pkl", &empty)
            .file("m/constants.pkl", &empty)
            .file("m/code/__torch__.py", b"class M(Module):\n  pass\n")
            .file(debug_name, &pickle)
            .finish()
    };
    let r = scan_bytes(
        "m.pt",
        &archive("m/code/__torch__.py.debug_pkl"),
        &ScanOptions::default(),
    );
    assert_eq!(r.verdict, Verdict::Safe, "{:#?}", r.findings);
    let r = scan_bytes(
        "m.pt",
        &archive("m/extra/notes.pkl"),
        &ScanOptions::default(),
    );
    assert_eq!(r.verdict, Verdict::Suspicious, "{:#?}", r.findings);
}

/// `CBM1` reads as SHORT_BINBYTES of 66 bytes to a pickle reader, so a pickle placed at byte
/// 68 of a CatBoost file whose FlatBuffers still hold together is run by `pickle.load`.
#[test]
fn a_catboost_file_that_is_also_a_pickle_is_scanned_as_one() {
    let mut body = vec![0u8; 92];
    body[0..4].copy_from_slice(&88u32.to_le_bytes());
    let payload = b"cos\nsystem\n(S'id'\ntR.";
    body[60..60 + payload.len()].copy_from_slice(payload);
    body[84..86].copy_from_slice(&4u16.to_le_bytes());
    body[86..88].copy_from_slice(&4u16.to_le_bytes());
    body[88..92].copy_from_slice(&4i32.to_le_bytes());
    let mut file = b"CBM1".to_vec();
    file.extend_from_slice(&(body.len() as u32).to_le_bytes());
    file.extend_from_slice(&body);
    let r = scan_bytes("model.cbm", &file, &ScanOptions::default());
    assert_eq!(r.format, Format::CatBoost);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:#?}", r.findings);
    // The same FlatBuffers without the pickle: a CatBoost model, nothing to run.
    let mut clean = file.clone();
    clean[68..68 + payload.len()].fill(0);
    let r = scan_bytes("model.cbm", &clean, &ScanOptions::default());
    assert_eq!(r.verdict, Verdict::Safe, "{:#?}", r.findings);
    // A root table outside the declared bytes is not a model CatBoost would load.
    let mut broken = clean;
    broken[8..12].copy_from_slice(&5000u32.to_le_bytes());
    assert!(!scan_bytes("model.cbm", &broken, &ScanOptions::default())
        .errors
        .is_empty());
}

fn pb(n: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![(n << 3) | 2, bytes.len() as u8];
    out.extend_from_slice(bytes);
    out
}

/// A NodeDef with inputs and, for a Const, a string tensor as its value.
fn node(name: &str, op: &str, inputs: &[&str], string_value: Option<&str>) -> Vec<u8> {
    let mut n = pb(1, name.as_bytes());
    n.extend(pb(2, op.as_bytes()));
    for i in inputs {
        n.extend(pb(3, i.as_bytes()));
    }
    if let Some(v) = string_value {
        let tensor = pb(8, v.as_bytes());
        let mut entry = pb(1, b"value");
        entry.extend(pb(2, &pb(8, &tensor)));
        n.extend(pb(5, &entry));
    }
    pb(1, &n)
}

#[test]
fn a_vocabulary_table_fed_a_fixed_path_reads_that_file() {
    let options = ScanOptions::default();
    let graph = |path: &str| {
        let mut g = node("table", "HashTableV2", &[], None);
        g.extend(node("path", "Const", &[], Some(path)));
        g.extend(node(
            "init",
            "InitializeTableFromTextFileV2",
            &["table", "path:0"],
            None,
        ));
        g
    };
    let r = scan_bytes("g.pb", &graph("/etc/passwd"), &options);
    assert_eq!(r.format, Format::TfGraphDef);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:#?}", r.findings);
    assert!(r.findings[0].message.contains("/etc/passwd"));
    // The model's own vocabulary, by a relative name: what it reads is its asset.
    let r = scan_bytes("g.pb", &graph("vocab.txt"), &options);
    assert_eq!(r.verdict, Verdict::Unknown, "{:#?}", r.findings);
}
