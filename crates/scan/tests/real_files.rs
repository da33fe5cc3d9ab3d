//! Files written by the real tools (torch 2.15, scikit-learn 1.9, joblib, NumPy, safetensors,
//! Keras 3), kept as fixtures: see `tests/fixtures/real/README.md` for how each was made.

use aisec_scan::scanner::{scan_bytes, ScanOptions};
use aisec_scan::sniff::Format;
use aisec_scan::{FileReport, Verdict};

fn scan_fixture(name: &str, options: &ScanOptions) -> FileReport {
    let path = format!("{}/tests/fixtures/real/{name}", env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    scan_bytes(name, &data, options)
}

#[test]
fn benign_files_from_the_real_tools_scan_clean() {
    let options = ScanOptions::default();
    for name in [
        "torch_state_dict.pt",
        "torch_checkpoint.pt",
        "torch_legacy.pt",
        "torch_dtypes.pt",
        "torchscript.pt",
        "sklearn_pipeline.joblib",
        "sklearn_forest.joblib",
        "numpy_array.npy",
        "numpy_arrays.npz",
        "model.safetensors",
        "keras3_model.keras",
        "torch_state_dict.7z",
        "sklearn_pipeline.joblib.zst",
        "legacy_tar.pt",
        "sklearn_lzma.joblib",
        "torch_export.pt2",
        // Flagged before the allowlist was checked against whole libraries
        // (bench/scan_allowlist_libraries.sh): NumPy's Generator inside HistGradientBoosting,
        // private classes (_BinMapper, _CFNode), Cython's newObj, a stored score function,
        // argparse.Namespace hyperparameters in a checkpoint.
        "sklearn_hist_gb.joblib",
        "sklearn_birch.pkl",
        "sklearn_kdtree_knn.pkl",
        "sklearn_select_k_best.pkl",
        "sklearn_grid_search.pkl",
        // XGBoost's default save format since 2.1 (UBJSON), an error before.
        "xgboost_classifier.ubj",
        "torch_namespace_checkpoint.pt",
    ] {
        let r = scan_fixture(name, &options);
        assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
        assert!(r.findings.is_empty(), "{name}: {:#?}", r.findings);
        assert_eq!(r.verdict, Verdict::Safe, "{name}");
    }
}

#[test]
fn torch_files_have_their_tensor_records_identified() {
    let options = ScanOptions::default();
    let tensors = |r: &FileReport| {
        r.parts
            .iter()
            .filter(|(_, f)| *f == Format::TensorData)
            .count()
    };
    // TinyNet has four tensors: two weights, two biases.
    let r = scan_fixture("torch_state_dict.pt", &options);
    assert_eq!(tensors(&r), 4, "{:?}", r.parts);
    assert_eq!(r.pickles, 1);
    let r = scan_fixture("torch_legacy.pt", &options);
    assert_eq!(r.pickles, 5);
    assert_eq!(tensors(&r), 1, "{:?}", r.parts);
    // Two storages and two tensor records between the pickles of a legacy tar.
    let r = scan_fixture("legacy_tar.pt", &options);
    assert_eq!(r.pickles, 9, "{:?}", r.parts);
    assert_eq!(tensors(&r), 4, "{:?}", r.parts);
}

#[test]
fn a_whole_module_of_user_code_is_suspicious_until_allowed() {
    let r = scan_fixture("torch_whole_module.pt", &ScanOptions::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.verdict, Verdict::Suspicious);
    let rules: Vec<_> = r.findings.iter().map(|f| f.rule).collect();
    assert_eq!(rules, vec!["AISEC-PKL-007"], "{:#?}", r.findings);
    assert!(r.findings[0].message.contains("--allow __main__.TinyNet"));
    let mut options = ScanOptions::default();
    options
        .policy
        .allow("__main__.TinyNet", "reviewed")
        .unwrap();
    assert_eq!(
        scan_fixture("torch_whole_module.pt", &options).verdict,
        Verdict::Safe
    );
}

#[test]
fn seven_zip_and_zstd_are_opened() {
    let options = ScanOptions::default();
    let r = scan_fixture("torch_state_dict.7z", &options);
    assert!(
        r.parts.iter().any(
            |(m, f)| m == "torch_state_dict.pt!torch_state_dict/data.pkl" && *f == Format::Pickle
        ),
        "{:?}",
        r.parts
    );
    let r = scan_fixture("sklearn_pipeline.joblib.zst", &options);
    assert_eq!(r.pickles, 1);
    let r = scan_fixture("crafted_os_system.7z", &options);
    assert_eq!(r.verdict, Verdict::Dangerous);
    assert_eq!(r.findings[0].rule, "AISEC-PKL-001");
    assert_eq!(r.findings[0].member.as_deref(), Some("model/data.pkl"));
    let r = scan_fixture("locked.7z", &options);
    assert!(
        r.errors.len() == 1 && r.errors[0].to_string().contains("encrypted 7z"),
        "{:?}",
        r.errors
    );
}

/// A `.pt2` archive's tensor files are raw bytes only where its JSON config names them: a
/// named one holding a pickle is still emulated as one, and an unnamed blob fails closed.
#[test]
fn torch_export_tensor_files_are_data_only_where_the_config_names_them() {
    use aisec_scan::craft::{call, ZipWriter};
    let config = br#"{"config": {"0.weight": {"path_name": "weight_0", "use_pickle": false}}}"#;
    let archive = |weight: &[u8], extra: Option<&[u8]>| {
        let mut z = ZipWriter::new()
            .file("net/archive_format", b"pt2")
            .file("net/data/weights/model_weights_config.json", config)
            .file("net/data/weights/weight_0", weight);
        if let Some(blob) = extra {
            z = z.file("net/data/weights/weight_1", blob);
        }
        z.finish()
    };
    let options = ScanOptions::default();
    let raw: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37) ^ 0x5a).collect();
    let r = scan_bytes("m.pt2", &archive(&raw, None), &options);
    assert!(r.errors.is_empty() && r.findings.is_empty(), "{r:#?}");
    let r = scan_bytes(
        "m.pt2",
        &archive(&call("os", "system", &["id"]), None),
        &options,
    );
    assert_eq!(r.verdict, Verdict::Dangerous, "{r:#?}");
    let r = scan_bytes("m.pt2", &archive(&raw, Some(&raw)), &options);
    assert!(
        r.errors.iter().any(|e| e.to_string().contains("weight_1")),
        "{r:#?}"
    );
}
