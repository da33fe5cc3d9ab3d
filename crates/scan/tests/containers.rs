//! Containers and the other formats against files these tests build themselves: zip tricks,
//! tar, compression wrappers, NumPy, safetensors, Keras, ONNX, GGUF, malformed input.

use aisec_scan::craft::{self, call, PickleWriter, ZipEntry, ZipWriter};
use aisec_scan::{ScanError, Verdict};

mod common;
use common::{corpus, dangerous, rules, safe, scan};

#[test]
fn formats_are_sniffed_not_named() {
    let evil = call("os", "system", &["id"]);
    for name in [
        "model.bin",
        "model.pt",
        "model.safetensors",
        "weights.h5",
        "model.onnx",
    ] {
        let r = dangerous(name, &evil, "AISEC-PKL-001");
        assert_eq!(r.format.as_str(), "pickle", "{name}");
    }
    // Named like text: scanned as the pickle it is, and an error for what its name says.
    let r = scan("README.txt", &evil);
    assert_eq!(
        (r.format.as_str(), r.verdict),
        ("pickle", Verdict::Dangerous)
    );
    assert!(
        matches!(&r.errors[..], [ScanError::Unsupported { message, .. }] if message.contains("named like a .txt text file")),
        "{:?}",
        r.errors
    );
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

    // PyTorch 2.x writes zip64 end records into every file, classic fields unsaturated: the
    // central directory ends at the zip64 record, 76 bytes before the classic end record.
    let mut z64 = ZipWriter::new()
        .file("archive/data.pkl", &craft::torch_state_dict(1, 4096))
        .file("archive/data/0", &storages[0]);
    z64.zip64_records = true;
    let r = safe("zip64.pt", &z64.clone().finish());
    assert!(r.parts.iter().any(|(m, _)| m == "archive/data.pkl"));
    z64.prefix = b"prepended bytes".to_vec();
    safe("zip64-prefixed.pt", &z64.finish());

    // ZipCrypto: 12 header bytes before the ciphertext. Not a size mismatch; not inspectable
    // either, so it fails closed and says why.
    let mut secret = ZipEntry::new(
        "test.txt",
        b"\xea\x34\x06\x42\xc5\x68\x0c\x57\xf2\xfe\x78\x83\x11\x9a",
    );
    secret.flags = 1;
    secret.size = Some(2);
    let r = scan("locked.zip", &ZipWriter::new().entry(secret).finish());
    assert!(!rules(&r).contains(&"AISEC-ARC-001"), "{:?}", r.findings);
    assert!(
        r.errors.len() == 1 && r.errors[0].to_string().contains("encrypted member"),
        "{:?}",
        r.errors
    );
    // The bit set on plaintext: PyTorch reads it as it is, so the scanner does too.
    let mut fake = ZipEntry::new("archive/data.pkl", &call("os", "system", &["id"]));
    fake.flags = 1;
    dangerous(
        "fake-locked.pt",
        &ZipWriter::new().entry(fake).finish(),
        "AISEC-PKL-001",
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
    let f = common::the_finding(&r, "AISEC-PKL-001");
    assert_eq!(
        f.member.as_deref(),
        Some("<gzip>!models/inner.pt!archive/data.pkl")
    );

    // Garbage is not "no issues".
    let r = scan("broken.pt", &plain[..plain.len() - 30]);
    assert!(!r.errors.is_empty());
}

#[test]
fn numpy_tar_and_compressed_wrappers() {
    let evil = call("os", "system", &["id"]);
    let object_array = corpus("object.npy");
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

    let r = dangerous("legacy.tar", &corpus("legacy.tar"), "AISEC-PKL-001");
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
    // The same payload spelled so that no dunder name appears in the template's text (a
    // substring list passed all three).
    for disguised in [
        "{{ ()['_' * 2 ~ 'class' ~ '_' * 2]['_' * 2 ~ 'base' ~ '_' * 2] }}",
        "{{ ()[['_','_','class','_','_']|join] }}",
        "{{ ()['_''_cla''ss_''_'] }}",
    ] {
        dangerous("disguised.gguf", &gguf(disguised, 0), "AISEC-GGUF-001");
    }
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

    // A custom domain alone fails the scan (suspicious); the same domain defined by a
    // function inside the model (its body made of standard nodes) is the model's own.
    let node = [pb(4, b"Gelu"), pb(7, b"pkg.mine")].concat();
    let graph = pb(1, &node);
    let opset = pb(8, &[pb(1, b"pkg.mine"), vec![0x10, 1]].concat());
    let custom = [vec![0x08, 8], pb(7, &graph), opset.clone()].concat();
    let r = scan("custom.onnx", &custom);
    assert_eq!(r.verdict, Verdict::Suspicious, "{r:#?}");
    assert_eq!(rules(&r), ["AISEC-ONNX-002"]);
    let body = [pb(4, b"Tanh"), pb(7, b"")].concat();
    let function = [pb(1, b"Gelu"), pb(7, &body), pb(10, b"pkg.mine")].concat();
    let defined = [vec![0x08, 8], pb(7, &graph), opset, pb(25, &function)].concat();
    safe("function.onnx", &defined);
}

#[test]
fn zstd_streams_of_several_frames() {
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};
    let evil = call("os", "system", &["id"]);
    let one = compress_to_vec(&evil[..], CompressionLevel::Fastest);
    let r = dangerous("evil.pkl.zst", &one, "AISEC-PKL-001");
    assert_eq!(r.findings[0].member.as_deref(), Some("<zstd>"));
    // A benign frame, a skippable frame, then the payload: every frame is decoded.
    let mut several = compress_to_vec(
        &craft::torch_state_dict(1, 4)[..],
        CompressionLevel::Uncompressed,
    );
    several.extend_from_slice(&0x184d_2a50u32.to_le_bytes());
    several.extend_from_slice(&3u32.to_le_bytes());
    several.extend_from_slice(b"abc");
    several.extend_from_slice(&one);
    dangerous("frames.zst", &several, "AISEC-PKL-001");
}

#[test]
fn legacy_torch_tars_are_read_record_by_record() {
    // storages: a count, then (key, location, class) + int64 count + raw elements per storage.
    let header = |key: i32| {
        PickleWriter::new()
            .proto(2)
            .int(key)
            .binunicode("cpu")
            .global("torch", "FloatStorage")
            .op(0x87)
            .stop()
            .finish()
    };
    let mut storages = PickleWriter::new().proto(2).int(2).stop().finish();
    storages.extend_from_slice(&header(0));
    storages.extend_from_slice(&2i64.to_le_bytes());
    storages.extend_from_slice(&[0u8; 8]);
    // The second record's header is a payload: only a record-by-record reader reaches it.
    storages.extend_from_slice(&call("os", "system", &["id"]));
    storages.extend_from_slice(&0i64.to_le_bytes());
    storages.extend_from_slice(&PickleWriter::new().proto(2).empty_list().stop().finish());
    let sys_info = PickleWriter::new().proto(2).empty_dict().stop().finish();
    let main = PickleWriter::new().proto(2).empty_dict().stop().finish();
    let tar = craft::tar(&[
        ("sys_info", &sys_info),
        ("pickle", &main),
        ("storages", &storages),
    ]);
    // The payload is found; its record then has no storage class to size it by, which is
    // an error too (exit 1 all the same: a loader ran the payload before failing).
    let r = scan("legacy.tar", &tar);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(rules(&r), vec!["AISEC-PKL-001"]);
    assert_eq!(r.findings[0].member.as_deref(), Some("storages"));
    assert!(
        r.errors[0].to_string().contains("storage record 1"),
        "{:?}",
        r.errors
    );
}

#[test]
fn a_pickle_that_is_also_a_zip_is_scanned_both_ways() {
    // torch.load reads the benign pickle at the start; a zipfile-based loader finds the zip
    // from its end record and opens the payload.
    let mut poly = craft::torch_state_dict(1, 4);
    poly.extend_from_slice(
        &ZipWriter::new()
            .file("config.pkl", &call("os", "system", &["id"]))
            .finish(),
    );
    let r = scan("poly.keras", &poly);
    assert_eq!(r.verdict, Verdict::Dangerous, "{:#?}", r.findings);
    assert!(rules(&r).contains(&"AISEC-ARC-007"));
    let hit = common::the_finding(&r, "AISEC-PKL-001");
    assert_eq!(
        hit.member.as_deref(),
        Some("<zip read from the end>!config.pkl")
    );
}

#[test]
fn xml_models_with_entity_attacks() {
    let xxe = br#"<?xml version="1.0"?>
<!DOCTYPE PMML [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<PMML version="4.4"><Header description="&secret;"/></PMML>
"#;
    let r = dangerous("model.pmml", xxe, "AISEC-XML-001");
    let declared = xxe.windows(8).position(|w| w == b"<!ENTITY").unwrap() as u64;
    assert_eq!(r.findings[0].offset, Some(declared));
    let mut laughs =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..6 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        laughs.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    laughs.push_str("]>\n<PMML>&lol5;</PMML>\n");
    let r = scan("laughs.pmml", laughs.as_bytes());
    assert_eq!(r.verdict, Verdict::Suspicious, "{:#?}", r.findings);
    // Ordinary XML and prose stay data.
    safe(
        "model.pmml",
        b"<?xml version=\"1.0\"?>\n<PMML version=\"4.4\"><Header/></PMML>\n",
    );
    safe("notes.txt", b"An <!ENTITY> in prose is not XML.\n");
}

/// A stream that expands past 200× (and 16 MiB) is a decompression bomb, judged while it
/// streams and stopped there — a gzip of spaces used to pass as "safe" text after being
/// expanded whole; model data that compresses ordinarily, or a small repeated tensor, is not.
#[test]
fn decompression_bombs_are_findings_and_stop_the_expansion() {
    let spaces = vec![b' '; 40 << 20];
    let zeros = vec![0u8; 40 << 20];
    for (name, data) in [
        ("spaces.gz", craft::gzip(&spaces)),
        ("zeros.gz", craft::gzip(&zeros)),
        (
            "weights.zip",
            ZipWriter::new()
                .entry(ZipEntry {
                    deflate: true,
                    ..ZipEntry::new("archive/data/0", &zeros)
                })
                .finish(),
        ),
    ] {
        let r = scan(name, &data);
        assert_eq!(r.verdict, Verdict::Suspicious, "{name}: {r:#?}");
        assert!(rules(&r).contains(&"AISEC-ARC-008"), "{name}: {r:#?}");
        let f = r
            .findings
            .iter()
            .find(|f| f.rule == "AISEC-ARC-008")
            .unwrap();
        assert!(f.atlas.contains(&"AML.T0029"), "{name}");
        assert!(
            matches!(&r.errors[..], [ScanError::Budget { message, .. }] if message.contains("stopped expanding at") && message.contains("decompression bomb")),
            "{name}: {:?}",
            r.errors
        );
    }
    // 8 MiB of zeros (under the floor) and 20 MiB that compresses 1.5× are data.
    let r = scan("small.gz", &craft::gzip(&vec![0u8; 8 << 20]));
    assert!(!rules(&r).contains(&"AISEC-ARC-008"), "{r:#?}");
    let varied: Vec<u8> = (0..20u32 << 20)
        .map(|i| b'a' + ((i.wrapping_mul(2_654_435_761) >> 24) % 26) as u8)
        .collect();
    let r = scan("text.gz", &craft::gzip(&varied));
    assert!(r.findings.is_empty() && r.errors.is_empty(), "{r:#?}");
}

/// Storage records are numbers: float bytes that happen to open with a zlib header (0x78 and
/// a byte that makes the pair a multiple of 31) or with a few bytes that parse as a tiny pickle
/// were errors and "unknown" in 3 of 121 torchvision models (bench/scan_allowlist_libraries.sh);
/// a real pickle hidden in a record is still emulated.
#[test]
fn storage_records_that_look_like_zlib_or_a_pickle_prefix_are_data() {
    let mut zlib_like = vec![0x78, 0x9c];
    zlib_like.extend((0..4094u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let mut pickle_like = b"K\x05.".to_vec();
    pickle_like.extend((0..4093u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8));
    let state = craft::torch_state_dict(2, 1024);
    let r = safe(
        "model.pt",
        &craft::torch_zip(&state, &[zlib_like, pickle_like]),
    );
    assert!(
        r.parts
            .iter()
            .filter(|p| p.1.as_str() == "tensor-data")
            .count()
            >= 2,
        "{r:#?}"
    );
    let evil = call("os", "system", &["id"]);
    dangerous(
        "model.pt",
        &craft::torch_zip(&state, &[evil, vec![0u8; 4096]]),
        "AISEC-PKL-001",
    );
}
