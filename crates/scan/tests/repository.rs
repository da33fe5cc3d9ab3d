//! A model folder as the hubs lay it out (`tests/fixtures/real/hub_repo`, written by the real
//! libraries: `bench/make_repo_fixture.py`) scans as one model: the ONNX export's
//! `model.onnx.data` is tensor data of that model, the SentencePiece tokenizer is recognised,
//! README, licence and JSON configs are listed as not models — and a file whose bytes
//! contradict its name, or a data file shorter than its model reads, is still an error.

use std::path::{Path, PathBuf};

use aisec_scan::scanner::{scan_path, ScanOptions};
use aisec_scan::sniff::Format;
use aisec_scan::{FileKind, FileReport, ScanReport, Verdict};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/hub_repo")
}

fn scan(dir: &Path) -> ScanReport {
    scan_path(&[dir.to_path_buf()], &ScanOptions::default(), &|_, _, _| {})
}

fn file<'a>(report: &'a ScanReport, name: &str) -> &'a FileReport {
    report
        .files
        .iter()
        .find(|f| f.path.ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in the report"))
}

/// A copy of the fixture to change, in a folder of its own under the target directory.
fn copy_of_fixture(tag: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hub_repo-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    for entry in walk(&fixture()) {
        let to = dir.join(entry.strip_prefix(fixture()).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    dir
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_hub_laid_out_model_folder_scans_as_one_clean_model() {
    let r = scan(&fixture());
    assert_eq!(r.exit_code(), 0, "{:#?}", r.files);
    for f in &r.files {
        assert!(f.errors.is_empty() && f.findings.is_empty(), "{f:#?}");
        assert_eq!(f.verdict, Verdict::Safe, "{}", f.path);
    }
    let data = file(&r, "onnx/model.onnx.data");
    assert_eq!(data.kind, FileKind::TensorData);
    assert_eq!(data.format, Format::TensorData);
    assert!(data
        .data_of
        .as_deref()
        .unwrap()
        .ends_with("onnx/model.onnx"));
    let model = file(&r, "onnx/model.onnx");
    assert_eq!(model.kind, FileKind::Model);
    assert_eq!(model.external_data.len(), 1, "{model:#?}");
    assert_eq!(model.external_data[0].location, "model.onnx.data");
    assert_eq!(model.external_data[0].length, Some(48));
    assert_eq!(file(&r, "tokenizer.model").format, Format::SentencePiece);
    for name in [
        "README.md",
        "LICENSE",
        "config.json",
        "model.safetensors.index.json",
    ] {
        assert_eq!(file(&r, name).kind, FileKind::NotAModel, "{name}");
    }
    assert_eq!(r.not_models(), 4);
    // The two shards, the ONNX model, its data and the tokenizer.
    assert_eq!(r.count(Verdict::Safe), 5);
}

#[test]
fn a_data_file_shorter_than_its_model_reads_is_an_error() {
    let dir = copy_of_fixture("truncated");
    let data = dir.join("onnx/model.onnx.data");
    std::fs::write(&data, [0u8; 20]).unwrap();
    let r = scan(&dir);
    assert_eq!(r.exit_code(), 2);
    let f = file(&r, "onnx/model.onnx.data");
    assert!(
        f.errors
            .iter()
            .any(|e| e.to_string().contains("past the file's end")),
        "{f:#?}"
    );
}

#[test]
fn a_data_file_that_is_a_pickle_is_scanned_as_one() {
    let dir = copy_of_fixture("pickled");
    // GLOBAL os.system, the string, TUPLE1, REDUCE: the pickle a loader would run.
    let evil = b"cos\nsystem\n(S'id'\ntR.";
    let mut bytes = evil.to_vec();
    bytes.resize(48, b' ');
    std::fs::write(dir.join("onnx/model.onnx.data"), &bytes).unwrap();
    let r = scan(&dir);
    assert_eq!(r.exit_code(), 1);
    assert_eq!(file(&r, "onnx/model.onnx.data").verdict, Verdict::Dangerous);
}

#[test]
fn a_text_named_file_holding_a_model_format_is_an_error() {
    let dir = copy_of_fixture("renamed");
    std::fs::copy(
        dir.join("model-00001-of-00002.safetensors"),
        dir.join("config.json"),
    )
    .unwrap();
    let r = scan(&dir);
    assert_eq!(r.exit_code(), 2);
    let f = file(&r, "config.json");
    assert_eq!(f.kind, FileKind::Model);
    assert!(
        f.errors
            .iter()
            .any(|e| e.to_string().contains("named like a .json text file")),
        "{f:#?}"
    );
}

#[test]
fn a_data_file_without_its_model_in_the_scan_still_fails_closed() {
    let r = scan(&fixture().join("onnx/model.onnx.data"));
    assert_eq!(r.exit_code(), 2, "{:#?}", r.files);
}

/// What `torch.onnx.export` of PyTorch 2.15 writes by default (`bench/make_torch_export_fixtures.py`).
#[test]
fn torch_onnx_exports_weights_beside_the_model_scan_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/torch_onnx");
    let r = scan(&dir);
    assert_eq!(r.exit_code(), 0, "{:#?}", r.files);
    let data = file(&r, "model.onnx.data");
    assert_eq!(
        (data.kind, data.verdict),
        (FileKind::TensorData, Verdict::Safe)
    );
    assert!(!file(&r, "model.onnx").external_data.is_empty());
}

/// Models stored as text by their libraries (xgboost-cpu 3.2.0 `save_model("model.json")`,
/// LightGBM 4.7.0 `save_model("model.txt")`) are listed as models, not among the README and
/// configs.
#[test]
fn text_models_are_models_not_documents() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/text_models");
    let r = scan(&dir);
    assert_eq!(r.exit_code(), 0, "{:#?}", r.files);
    for name in ["xgboost_model.json", "lightgbm_model.txt"] {
        let f = file(&r, name);
        assert_eq!(
            (f.kind, f.verdict),
            (FileKind::Model, Verdict::Safe),
            "{name}"
        );
    }
    assert_eq!(file(&r, "README.md").kind, FileKind::NotAModel);
    assert_eq!(r.not_models(), 1);
}

/// Large files are mapped rather than read: a sparse 200 MB safetensors file (its header, then
/// zeros the file system does not store) and the same size with a pickle appended past the
/// tensors' end are judged as the small ones are.
#[test]
fn large_files_are_scanned_in_place() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("large-files");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let n: u64 = 50_000_000;
    let header = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{}]}}}}"#,
        n * 4
    );
    let write = |name: &str, tail: &[u8]| {
        use std::io::{Seek, SeekFrom, Write};
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        f.set_len(8 + header.len() as u64 + n * 4).unwrap();
        f.seek(SeekFrom::End(0)).unwrap();
        f.write_all(tail).unwrap();
        path
    };
    let clean = write("clean.safetensors", b"");
    let payload = aisec_scan::craft::call("os", "system", &["id"]);
    let trailing = write("trailing.safetensors", &payload);
    let report = scan_path(&[clean, trailing], &ScanOptions::default(), &|_, _, _| {});
    let clean = file(&report, "clean.safetensors");
    assert!(clean.bytes > 200_000_000);
    assert!(clean.errors.is_empty(), "{:?}", clean.errors);
    assert_eq!(clean.verdict, Verdict::Safe);
    assert_eq!(
        file(&report, "trailing.safetensors").verdict,
        Verdict::Dangerous
    );
    let _ = std::fs::remove_dir_all(&dir);
}
