//! The scanner against a corpus these tests build themselves (no file is ever loaded by
//! Python): each dangerous pattern, its benign look-alikes, the container tricks, and the bombs.

use aisec_scan::craft::{self, call, PickleWriter, ZipEntry, ZipWriter};
use aisec_scan::scanner::{scan_bytes, FileReport, Limits, ScanOptions};
use aisec_scan::{ScanError, Verdict};

fn scan(name: &str, data: &[u8]) -> FileReport {
    scan_bytes(name, data, &ScanOptions::default())
}

fn rules(r: &FileReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule).collect()
}

#[track_caller]
fn dangerous(name: &str, data: &[u8], rule: &str) -> FileReport {
    let r = scan(name, data);
    assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
    assert_eq!(r.verdict, Verdict::Dangerous, "{name}: {:#?}", r.findings);
    assert!(
        rules(&r).contains(&rule),
        "{name}: {rule} not in {:?}",
        rules(&r)
    );
    r
}

#[track_caller]
fn safe(name: &str, data: &[u8]) -> FileReport {
    let r = scan(name, data);
    assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
    assert_eq!(r.verdict, Verdict::Safe, "{name}: {:#?}", r.findings);
    r
}

#[test]
fn every_dangerous_callable_is_caught() {
    let cases: &[(&str, &str)] = &[
        ("os", "system"),
        ("posix", "system"),
        ("nt", "system"),
        ("subprocess", "Popen"),
        ("subprocess", "check_output"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "compile"),
        ("builtins", "open"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("importlib", "import_module"),
        ("pkgutil", "resolve_name"),
        ("runpy", "_run_code"),
        ("pip", "main"),
        ("ensurepip", "bootstrap"),
        ("marshal", "loads"),
        ("types", "FunctionType"),
        ("types", "CodeType"),
        ("operator", "attrgetter"),
        ("_operator", "methodcaller"),
        ("functools", "partial"),
        ("pdb", "run"),
        ("profile", "run"),
        ("cProfile", "run"),
        ("timeit", "timeit"),
        ("trace", "Trace"),
        ("webbrowser", "open"),
        ("socket", "create_connection"),
        ("ctypes", "CDLL"),
        ("code", "InteractiveInterpreter"),
        ("pty", "spawn"),
        ("asyncio.unix_events", "_UnixSubprocessTransport"),
        ("numpy.testing._private.utils", "runstring"),
        ("torch.serialization", "load"),
        ("shutil", "rmtree"),
        ("sys", "exit"),
        ("platform", "popen"),
    ];
    for (module, name) in cases {
        let r = dangerous(
            &format!("{module}.{name}"),
            &call(module, name, &["id"]),
            "AISEC-PKL-001",
        );
        let f = r
            .findings
            .iter()
            .find(|f| f.rule == "AISEC-PKL-001")
            .unwrap();
        assert_eq!(
            f.call.as_deref(),
            Some(format!("{module}.{name}(\"id\")").as_str())
        );
        assert_eq!(f.opcode.as_deref(), Some("REDUCE"));
        assert!(f.atlas.contains(&"AML.T0011.000"));
        assert!(f.cwe.contains(&"CWE-502"));
    }
}

#[test]
fn python2_names_and_dotted_names_do_not_slip_past() {
    dangerous("py2", &call("__builtin__", "eval", &["1"]), "AISEC-PKL-001");
    dangerous(
        "py2-commands",
        &call("commands", "getoutput", &["id"]),
        "AISEC-PKL-001",
    );
    // Attribute chains resolved by find_class in protocol 4.
    let chained = PickleWriter::new()
        .proto(4)
        .stack_global("numpy.core.multiarray", "__builtins__.eval")
        .string("1")
        .tuple1()
        .reduce()
        .stop()
        .finish();
    dangerous("dotted", &chained, "AISEC-PKL-001");
}

#[test]
fn every_call_opcode_is_followed() {
    // Protocol 0, INST: `i os\nsystem\n` pops a MARK of arguments and calls.
    let inst = b"(S'id'\nios\nsystem\n.";
    let r = dangerous("inst", inst, "AISEC-PKL-001");
    assert_eq!(r.findings[0].opcode.as_deref(), Some("INST"));
    // OBJ: class and arguments after a MARK.
    let obj = PickleWriter::new()
        .proto(1)
        .mark()
        .global("os", "system")
        .string("id")
        .op(b'o')
        .stop()
        .finish();
    assert_eq!(
        dangerous("obj", &obj, "AISEC-PKL-001").findings[0]
            .opcode
            .as_deref(),
        Some("OBJ")
    );
    // NEWOBJ and NEWOBJ_EX.
    let newobj = PickleWriter::new()
        .proto(2)
        .global("subprocess", "Popen")
        .string("id")
        .tuple1()
        .newobj()
        .stop()
        .finish();
    dangerous("newobj", &newobj, "AISEC-PKL-001");
    let newobj_ex = PickleWriter::new()
        .proto(4)
        .stack_global("subprocess", "Popen")
        .string("id")
        .tuple1()
        .empty_dict()
        .op(0x92)
        .stop()
        .finish();
    dangerous("newobj_ex", &newobj_ex, "AISEC-PKL-001");
    // STACK_GLOBAL operands taken from the memo, behind a FRAME and MEMOIZE.
    let body = PickleWriter::new()
        .string("os")
        .memoize()
        .string("system")
        .memoize()
        .pop()
        .pop()
        .binget(0)
        .binget(1)
        .op(0x93)
        .string("id")
        .tuple1()
        .reduce()
        .stop()
        .finish();
    let mut framed = vec![0x80, 4, 0x95];
    framed.extend_from_slice(&(body.len() as u64).to_le_bytes());
    framed.extend_from_slice(&body);
    let r = dangerous("memo", &framed, "AISEC-PKL-001");
    assert!(r.findings[0]
        .call
        .as_deref()
        .unwrap()
        .starts_with("os.system("));
}

#[test]
fn gadget_chains_and_mutations() {
    // getattr(__import__('os'), 'system')('id')
    let chain = PickleWriter::new()
        .proto(2)
        .global("builtins", "getattr")
        .global("builtins", "__import__")
        .string("os")
        .tuple1()
        .reduce()
        .string("system")
        .tuple2()
        .reduce()
        .string("id")
        .tuple1()
        .reduce()
        .stop()
        .finish();
    let r = dangerous("chain", &chain, "AISEC-PKL-005");
    let chained = r
        .findings
        .iter()
        .find(|f| f.rule == "AISEC-PKL-005")
        .unwrap();
    assert_eq!(
        chained.call.as_deref(),
        Some("builtins.getattr(…(…), \"system\")(\"id\")")
    );
    // SETITEM on os.environ: LD_PRELOAD at load time.
    let environ = PickleWriter::new()
        .proto(2)
        .global("os", "environ")
        .string("LD_PRELOAD")
        .string("/tmp/x.so")
        .setitem()
        .stop()
        .finish();
    dangerous("environ", &environ, "AISEC-PKL-004");
    // BUILD on an imported class that looks harmless.
    let build = PickleWriter::new()
        .proto(2)
        .global("collections", "OrderedDict")
        .empty_dict()
        .string("__reduce__")
        .none()
        .setitem()
        .build()
        .stop()
        .finish();
    dangerous("build", &build, "AISEC-PKL-004");
}

#[test]
fn benign_look_alikes_are_safe() {
    safe("state_dict", &craft::torch_state_dict(5, 16));
    // Strings that name dangerous things are data, not imports.
    let data = PickleWriter::new()
        .proto(2)
        .empty_dict()
        .string("cmd")
        .string("os.system('rm -rf /')")
        .setitem()
        .string("eval")
        .string("__import__")
        .setitem()
        .stop()
        .finish();
    safe("strings", &data);
    for module in ["numpy.core.multiarray", "numpy._core.multiarray"] {
        let ok = PickleWriter::new()
            .proto(2)
            .global(module, "_reconstruct")
            .mark()
            .global("numpy", "ndarray")
            .int(0)
            .tuple1()
            .string("b")
            .tuple()
            .reduce()
            .mark()
            .int(1)
            .mark()
            .int(3)
            .tuple()
            .global("numpy", "dtype")
            .mark()
            .string("f8")
            .int(0)
            .int(1)
            .tuple()
            .reduce()
            .op(0x89)
            .bytes(&[0u8; 24])
            .tuple()
            .build()
            .stop()
            .finish();
        safe(module, &ok);
    }
    let builtins = PickleWriter::new()
        .proto(2)
        .mark()
        .global("builtins", "set")
        .empty_list()
        .tuple1()
        .reduce()
        .global("builtins", "complex")
        .mark()
        .int(1)
        .int(2)
        .tuple()
        .reduce()
        .global("datetime", "datetime")
        .bytes(b"\x07\xe9\x01\x01\x00\x00\x00\x00\x00\x00")
        .tuple1()
        .reduce()
        .tuple()
        .stop()
        .finish();
    safe("builtins", &builtins);
    // Modules that merely start like dangerous ones are unknown, not dangerous.
    let r = scan("osmosis", &call("osmosis", "run", &[]));
    assert_eq!(r.verdict, Verdict::Unknown);
    assert_eq!(rules(&r), vec!["AISEC-PKL-003"]);
}

#[test]
fn formats_are_sniffed_not_named() {
    let evil = call("os", "system", &["id"]);
    for name in [
        "model.bin",
        "model.pt",
        "model.safetensors",
        "weights.h5",
        "model.onnx",
        "README.txt",
    ] {
        let r = dangerous(name, &evil, "AISEC-PKL-001");
        assert_eq!(r.format.as_str(), "pickle", "{name}");
    }
    // A protocol-0 pickle without STOP still runs os.system before the loader fails.
    let r = scan("nostop", b"cos\nsystem\n(S'id'\ntR");
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert!(
        matches!(r.errors[..], [ScanError::Malformed { .. }]),
        "{:?}",
        r.errors
    );
}

#[test]
fn pytorch_zips_and_their_tricks() {
    let storages = vec![(0..4096u32)
        .flat_map(|i| (i * 2_654_435_761).to_le_bytes())
        .collect::<Vec<u8>>()];
    let benign = craft::torch_zip(&craft::torch_state_dict(1, 4096), &storages);
    let r = safe("benign.pt", &benign);
    assert!(
        r.parts
            .iter()
            .any(|(m, f)| m == "archive/data.pkl" && f.as_str() == "pickle"),
        "{:?}",
        r.parts
    );

    let evil = call("os", "system", &["id"]);
    let plain = craft::torch_zip(&evil, &storages);
    let r = dangerous("evil.pt", &plain, "AISEC-PKL-001");
    assert_eq!(r.findings[0].member.as_deref(), Some("archive/data.pkl"));

    // A wrong CRC: Python's zipfile refuses the member, PyTorch loads it.
    let mut entry = ZipEntry::new("archive/data.pkl", &evil);
    entry.crc = Some(0xdead_beef);
    let bad_crc = ZipWriter::new()
        .entry(entry)
        .file("archive/version", b"3\n")
        .finish();
    let r = dangerous("crc.pt", &bad_crc, "AISEC-PKL-001");
    assert!(rules(&r).contains(&"AISEC-ARC-002"));

    // The encrypted bit set: zipfile asks for a password; the data is plain.
    let mut entry = ZipEntry::new("archive/data.pkl", &evil);
    entry.flags = 0x1;
    let flagged = ZipWriter::new().entry(entry).finish();
    let r = dangerous("flags.pt", &flagged, "AISEC-PKL-001");
    assert!(rules(&r).contains(&"AISEC-ARC-003"));

    // Local and central names differ.
    let mut entry = ZipEntry::new("archive/data.pkl", &evil);
    entry.local_name = Some("archive/innocent.txt".into());
    let r = dangerous(
        "names.pt",
        &ZipWriter::new().entry(entry).finish(),
        "AISEC-ARC-001",
    );
    assert!(rules(&r).contains(&"AISEC-PKL-001"));

    // Deflated members, an entry only streaming readers see, duplicates, traversal.
    let mut deflated = ZipEntry::new("archive/data.pkl", &evil);
    deflated.deflate = true;
    dangerous(
        "deflate.pt",
        &ZipWriter::new().entry(deflated).finish(),
        "AISEC-PKL-001",
    );
    let mut hidden = ZipEntry::new("archive/extra.pkl", &evil);
    hidden.hidden = true;
    let r = dangerous(
        "hidden.zip",
        &ZipWriter::new()
            .file("archive/data.pkl", &craft::torch_state_dict(1, 4))
            .entry(hidden)
            .finish(),
        "AISEC-ARC-001",
    );
    assert!(rules(&r).contains(&"AISEC-PKL-001"));
    let dup = ZipWriter::new()
        .file("a.pkl", &craft::torch_state_dict(1, 4))
        .file("a.pkl", &evil)
        .finish();
    let r = dangerous("dup.zip", &dup, "AISEC-ARC-004");
    assert!(
        rules(&r).contains(&"AISEC-PKL-001"),
        "the second copy is scanned too"
    );
    dangerous(
        "traversal.zip",
        &ZipWriter::new()
            .file("../../etc/cron.d/x", b"* * * * * id\n")
            .finish(),
        "AISEC-ARC-005",
    );

    // A zip inside a zip inside a gzip.
    let inner = craft::torch_zip(&evil, &[]);
    let outer = ZipWriter::new().file("models/inner.pt", &inner).finish();
    let r = dangerous("nested.zip.gz", &craft::gzip(&outer), "AISEC-PKL-001");
    let f = r
        .findings
        .iter()
        .find(|f| f.rule == "AISEC-PKL-001")
        .unwrap();
    assert_eq!(
        f.member.as_deref(),
        Some("<gzip>!models/inner.pt!archive/data.pkl")
    );

    // Garbage is not "no issues".
    let r = scan("broken.pt", &plain[..plain.len() - 30]);
    assert!(!r.errors.is_empty());
}

#[test]
fn streams_of_pickles_and_long_prefixes() {
    let mut two = craft::torch_state_dict(1, 4);
    two.extend_from_slice(&call("os", "system", &["id"]));
    let r = dangerous("second.pkl", &two, "AISEC-PKL-001");
    assert!(rules(&r).contains(&"AISEC-PKL-006"));
    assert_eq!(r.pickles, 2);

    // 100 MB of benign bytes, then the call.
    let blob = vec![0x2eu8; 100 << 20];
    let long = PickleWriter::new()
        .proto(4)
        .bytes(&[])
        .pop()
        .raw(b"\x8e")
        .raw(&(blob.len() as u64).to_le_bytes())
        .raw(&blob)
        .pop()
        .global("os", "system")
        .string("id")
        .tuple1()
        .reduce()
        .stop()
        .finish();
    let r = dangerous("prefix.pkl", &long, "AISEC-PKL-001");
    assert!(r.findings[0].offset.unwrap() > 100 << 20);
}

#[test]
fn numpy_tar_and_compressed_wrappers() {
    let evil = call("os", "system", &["id"]);
    let object_array = craft::npy("|O", "(1,)", &evil);
    let r = dangerous("objects.npy", &object_array, "AISEC-PKL-001");
    assert!(rules(&r).contains(&"AISEC-NPY-001"));
    let plain = craft::npy("<f4", "(2, 2)", &[0u8; 16]);
    safe("plain.npy", &plain);
    let npz = ZipWriter::new()
        .file("x.npy", &plain)
        .file("y.npy", &object_array)
        .finish();
    dangerous("arrays.npz", &npz, "AISEC-PKL-001");
    let short = craft::npy("<f4", "(100,)", &[0u8; 16]);
    assert!(!scan("short.npy", &short).errors.is_empty());

    let tar = craft::tar(&[
        ("sys_info", &craft::torch_state_dict(0, 1)),
        ("pickle", &evil),
    ]);
    let r = dangerous("legacy.tar", &tar, "AISEC-PKL-001");
    assert_eq!(
        r.findings
            .iter()
            .find(|f| f.rule == "AISEC-PKL-001")
            .unwrap()
            .member
            .as_deref(),
        Some("pickle")
    );

    use std::io::Write;
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&evil).unwrap();
    dangerous("model.pkl.bz2", &bz.finish().unwrap(), "AISEC-PKL-001");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&evil).unwrap();
    dangerous("joblib-zlib", &z.finish().unwrap(), "AISEC-PKL-001");
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut std::io::Cursor::new(&evil), &mut xz).unwrap();
    dangerous("model.pkl.xz", &xz, "AISEC-PKL-001");
}

#[test]
fn joblib_arrays_inline_in_the_stream() {
    // joblib: NumpyArrayWrapper BUILD, then the raw array bytes, then the pickle goes on.
    let wrapper = |w: PickleWriter, bytes: &[u8]| {
        w.global("joblib.numpy_pickle", "NumpyArrayWrapper")
            .empty_tuple()
            .newobj()
            .empty_dict()
            .string("subclass")
            .global("numpy", "ndarray")
            .setitem()
            .string("shape")
            .int(3)
            .tuple1()
            .setitem()
            .string("order")
            .string("C")
            .setitem()
            .string("dtype")
            .global("numpy", "dtype")
            .string("f8")
            .op(0x89)
            .op(0x88)
            .op(0x87)
            .reduce()
            .setitem()
            .string("allow_mmap")
            .op(0x89)
            .setitem()
            .string("numpy_array_alignment_bytes")
            .int(16)
            .setitem()
            .build()
            .raw(&[3, 0, 0, 0])
            .raw(bytes)
    };
    let array_bytes: Vec<u8> = (0..24u8).map(|b| b.wrapping_mul(37) | 0x80).collect();
    let benign = wrapper(
        PickleWriter::new().proto(4).empty_dict().string("coef_"),
        &array_bytes,
    )
    .setitem()
    .stop()
    .finish();
    let r = safe("model.joblib", &benign);
    assert_eq!(r.pickles, 1);
    let evil = wrapper(
        PickleWriter::new().proto(4).empty_dict().string("coef_"),
        &array_bytes,
    )
    .setitem()
    .global("os", "system")
    .string("id")
    .tuple1()
    .reduce()
    .pop()
    .stop()
    .finish();
    dangerous("evil.joblib", &evil, "AISEC-PKL-001");
}

#[test]
fn budgets_pass_big_benign_files_and_stop_bombs() {
    // A benign pickle of 10 million opcodes.
    let mut big = PickleWriter::new()
        .proto(4)
        .empty_list()
        .int(7)
        .binput(0)
        .pop();
    let mut body = Vec::with_capacity(10_000_000 * 2);
    for _ in 0..(10_000_000 - 6) / 2 {
        body.extend_from_slice(b"h\x00a");
    }
    big = big.raw(&body);
    let big = big.stop().finish();
    let r = safe("big.pkl", &big);
    assert!(r.opcodes >= 9_999_990, "{}", r.opcodes);

    // A 200 MB checkpoint, stored as torch.save stores it.
    let storage = vec![0u8; 200 << 20];
    safe(
        "big.pt",
        &craft::torch_zip(&craft::torch_state_dict(1, 50 << 20), &[storage]),
    );

    // Memo/DUP expansion: each round doubles the logical size.
    let mut bomb = PickleWriter::new().proto(4).empty_list().binput(0);
    for _ in 0..64 {
        bomb = bomb.binget(0).op(b'2').tuple2().binput(0).pop();
    }
    let r = scan("dup-bomb.pkl", &bomb.binget(0).stop().finish());
    assert!(
        matches!(&r.errors[..], [ScanError::Budget { message, .. }] if message.contains("expansion")),
        "{:?}",
        r.errors
    );

    // A decompression bomb under the default budgets: 1.5 GiB of zeros in ~1.5 MB of gzip.
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..1536 {
        enc.write_all(&chunk).unwrap();
    }
    let gz = enc.finish().unwrap();
    assert!(gz.len() < 8 << 20);
    let r = scan("bomb.gz", &gz);
    assert!(
        matches!(&r.errors[..], [ScanError::Budget { message, .. }] if message.contains("bomb")),
        "{:?}",
        r.errors
    );

    // Archives nested past the depth limit.
    let mut nested = call("os", "system", &["id"]);
    for i in 0..10 {
        nested = ZipWriter::new()
            .file(&format!("level{i}.zip"), &nested)
            .finish();
    }
    let r = scan("deep.zip", &nested);
    assert!(
        r.errors
            .iter()
            .any(|e| matches!(e, ScanError::Budget { message, .. } if message.contains("nested"))),
        "{:?}",
        r.errors
    );

    // Configured budgets are honoured.
    let tight = ScanOptions {
        limits: Limits {
            max_opcodes: 1000,
            ..Limits::default()
        },
        ..ScanOptions::default()
    };
    let r = scan_bytes("big.pkl", &big, &tight);
    assert!(matches!(&r.errors[..], [ScanError::Budget { .. }]));
}

#[test]
fn other_formats() {
    // safetensors: valid, trailing junk with a pickle in it, overlapping offsets.
    let header = r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"__metadata__":{"format":"pt"}}"#;
    safe("ok.safetensors", &craft::safetensors(header, &[0u8; 16]));
    let mut junk = vec![0u8; 16];
    junk.extend_from_slice(&call("os", "system", &["id"]));
    let r = dangerous(
        "polyglot.safetensors",
        &craft::safetensors(header, &junk),
        "AISEC-PKL-001",
    );
    assert!(rules(&r).contains(&"AISEC-ST-002"));
    let overlap = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#;
    dangerous(
        "overlap.safetensors",
        &craft::safetensors(overlap, &[0u8; 24]),
        "AISEC-ST-001",
    );
    let outside = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,1600]}}"#;
    dangerous(
        "outside.safetensors",
        &craft::safetensors(outside, &[0u8; 16]),
        "AISEC-ST-001",
    );

    // Keras: a Lambda layer and a module reference outside Keras.
    let config = br#"{"module": "keras", "class_name": "Sequential", "config": {"layers": [
        {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "l", "function": {"module": "builtins", "class_name": "function", "config": "exec"}}}]}}"#;
    let keras = ZipWriter::new()
        .file("metadata.json", b"{}")
        .file("config.json", config)
        .file("model.weights.h5", b"\x89HDF\r\n\x1a\n")
        .finish();
    let r = dangerous("model.keras", &keras, "AISEC-KERAS-001");
    assert!(rules(&r).contains(&"AISEC-KERAS-002"));
    let clean = br#"{"module": "keras", "class_name": "Sequential", "config": {"layers": [{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3}}]}}"#;
    safe(
        "clean.keras",
        &ZipWriter::new()
            .file("metadata.json", b"{}")
            .file("config.json", clean)
            .finish(),
    );
    let mut h5 = b"\x89HDF\r\n\x1a\n\0\0\0\0model_config\0".to_vec();
    h5.extend_from_slice(br#"{"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {"name": "x", "function": ["4wEAAAAAAAAA", null, null]}}]}}"#);
    h5.extend_from_slice(&[0u8; 64]);
    dangerous("model.h5", &h5, "AISEC-KERAS-001");
}

fn gguf(template: &str, tensor_offset: u64) -> Vec<u8> {
    let mut g = b"GGUF".to_vec();
    g.extend_from_slice(&3u32.to_le_bytes());
    g.extend_from_slice(&1u64.to_le_bytes());
    g.extend_from_slice(&1u64.to_le_bytes());
    let key = "tokenizer.chat_template";
    g.extend_from_slice(&(key.len() as u64).to_le_bytes());
    g.extend_from_slice(key.as_bytes());
    g.extend_from_slice(&8u32.to_le_bytes());
    g.extend_from_slice(&(template.len() as u64).to_le_bytes());
    g.extend_from_slice(template.as_bytes());
    let name = "w";
    g.extend_from_slice(&(name.len() as u64).to_le_bytes());
    g.extend_from_slice(name.as_bytes());
    g.extend_from_slice(&1u32.to_le_bytes());
    g.extend_from_slice(&8u64.to_le_bytes());
    g.extend_from_slice(&0u32.to_le_bytes());
    g.extend_from_slice(&tensor_offset.to_le_bytes());
    while g.len() % 32 != 0 {
        g.push(0);
    }
    g.extend_from_slice(&[0u8; 32]);
    g
}

#[test]
fn gguf_templates_and_bounds() {
    let benign = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}";
    safe("ok.gguf", &gguf(benign, 0));
    let ssti = "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}";
    dangerous("ssti.gguf", &gguf(ssti, 0), "AISEC-GGUF-001");
    dangerous("bounds.gguf", &gguf(benign, 4096), "AISEC-GGUF-002");
}

#[test]
fn unknown_imports_fail_only_under_strict_and_allowlists_clear_them() {
    let sk = call("sklearn.linear_model._logistic", "LogisticRegression", &[]);
    let r = scan("sk.pkl", &sk);
    assert_eq!(r.verdict, Verdict::Unknown);
    let mut options = ScanOptions::default();
    options
        .policy
        .allow("sklearn.linear_model._logistic.LogisticRegression", "ours")
        .unwrap();
    assert_eq!(scan_bytes("sk.pkl", &sk, &options).verdict, Verdict::Safe);
    // EXT codes name whatever the loading process registered: not resolvable, not safe.
    let ext = PickleWriter::new()
        .proto(2)
        .raw(&[0x82, 7])
        .empty_tuple()
        .reduce()
        .stop()
        .finish();
    dangerous("ext.pkl", &ext, "AISEC-PKL-001");
}

#[test]
fn malformed_and_unsupported_inputs_are_errors() {
    for (name, data) in [
        (
            "truncated.pkl",
            &b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os"[..],
        ),
        ("random.bin", &[0u8, 1, 2, 3, 0xff, 0xfe, 9, 9, 9, 0][..]),
        ("model.7z", &b"7z\xbc\xaf\x27\x1c\x00\x04rest"[..]),
        ("bad.zip", &b"PK\x03\x04 truncated"[..]),
    ] {
        let r = scan(name, data);
        assert!(
            !r.errors.is_empty(),
            "{name} must be an error, got {:?}",
            r.findings
        );
        assert!(r.errors[0].to_string().contains(name), "{}", r.errors[0]);
    }
}

#[test]
fn the_labelled_corpus_gets_its_labels() {
    for s in aisec_scan::corpus::samples() {
        let r = scan(s.name, &s.data);
        assert!(r.errors.is_empty(), "{}: {:?}", s.name, r.errors);
        assert_eq!(
            r.verdict, s.expected,
            "{} ({}): {:#?}",
            s.name, s.what, r.findings
        );
    }
}

/// Length-delimited protobuf field.
fn pb(field: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut key = (field << 3) | 2;
    loop {
        let b = (key & 0x7f) as u8;
        key >>= 7;
        out.push(if key == 0 { b } else { b | 0x80 });
        if key == 0 {
            break;
        }
    }
    let mut n = bytes.len() as u64;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { b } else { b | 0x80 });
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(bytes);
    out
}

#[test]
fn onnx_external_data_and_custom_domains() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ml/tests/fixtures/onnx/digits-cnn.onnx");
    let r = safe("digits-cnn.onnx", &std::fs::read(fixture).unwrap());
    assert_eq!(r.format.as_str(), "onnx");

    let node = [pb(4, b"Evil"), pb(7, b"com.evil.ops")].concat();
    let external = [pb(1, b"location"), pb(2, b"../../../etc/passwd")].concat();
    let tensor = [pb(8, b"w"), pb(13, &external), vec![0x70, 1]].concat();
    let graph = [pb(1, &node), pb(5, &tensor)].concat();
    let model = [
        vec![0x08, 8],
        pb(7, &graph),
        pb(8, &[pb(1, b"com.evil.ops"), vec![0x10, 1]].concat()),
    ]
    .concat();
    let r = dangerous("evil.onnx", &model, "AISEC-ONNX-001");
    assert!(rules(&r).contains(&"AISEC-ONNX-002"), "{:?}", rules(&r));
    let inside = [pb(1, b"location"), pb(2, b"weights/w.bin")].concat();
    let tensor = [pb(8, b"w"), pb(13, &inside), vec![0x70, 1]].concat();
    let model = [vec![0x08, 8], pb(7, &pb(5, &tensor))].concat();
    safe("external.onnx", &model);
}
