//! Jobs cut into shards (`--shard I/N`) and joined (`aisec report merge`): the merged report
//! is the one a single process writes (byte for byte where no clock is in it, the same JSON
//! without its timings otherwise), a shard run again replaces only its own result, and sets
//! that are not one whole job are refused with what is wrong.

mod common;

use std::path::{Path, PathBuf};

use common::{aisec, fails_with, json_of_any_exit, plan_of, stderr, stdout};

/// The JSON without its clock readings (`seconds`, `wall_seconds`, `attack_seconds`).
fn timeless(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "seconds" | "wall_seconds" | "attack_seconds"))
            .map(|(k, v)| (k.clone(), timeless(v)))
            .collect(),
        serde_json::Value::Array(a) => a.iter().map(timeless).collect(),
        other => other.clone(),
    }
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A small model registry: safe and dangerous pickles (protocol 0 and 2), a zip holding a
/// pickle, READMEs, an ONNX-named model with a data file beside it, and TensorFlow-style
/// checkpoint shards beside their index, in nested folders.
fn registry(root: &Path, files: usize) {
    for i in 0..files {
        let dir = root
            .join(format!("org{}", i % 5))
            .join(format!("m{}", i % 23));
        std::fs::create_dir_all(&dir).unwrap();
        let (name, bytes): (String, Vec<u8>) = match i % 7 {
            0 => (
                format!("f{i}.pkl"),
                b"cposix\nsystem\n(S'echo hi'\ntR.".to_vec(),
            ),
            1 => (format!("README{i}.md"), b"# a model\n".to_vec()),
            2 => (format!("f{i}.bin"), vec![0x80, 0x02, b']', b'q', 0, b'.']),
            _ => {
                let mut p = vec![0x80, 0x02, b']', b'q', 0, b'('];
                for k in 0..(i % 50) {
                    p.extend_from_slice(&[b'K', (k % 200) as u8]);
                }
                p.extend_from_slice(b"e.");
                (format!("w{i}.pkl"), p)
            }
        };
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let onnx = root.join("org1/exported");
    std::fs::create_dir_all(onnx.join("weights")).unwrap();
    std::fs::write(onnx.join("model.onnx"), b"not really onnx").unwrap();
    std::fs::write(onnx.join("weights/w.bin"), vec![0u8; 64]).unwrap();
    let ckpt = root.join("org2/tf/variables");
    std::fs::create_dir_all(&ckpt).unwrap();
    std::fs::write(ckpt.join("variables.index"), b"").unwrap();
    for k in 0..2 {
        std::fs::write(
            ckpt.join(format!("variables.data-0000{k}-of-00002")),
            vec![1u8; 32],
        )
        .unwrap();
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_sharded_scan_merges_into_the_single_scan_and_refuses_incomplete_or_mixed_sets() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("registry");
    registry(&corpus, 400);
    let single_json = dir.path().join("single.json");
    let o = aisec(&[
        "scan",
        s(&corpus),
        "--format",
        "json",
        "--out",
        s(&single_json),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let single_sarif = dir.path().join("single.sarif");
    aisec(&[
        "scan",
        s(&corpus),
        "--format",
        "sarif",
        "--out",
        s(&single_sarif),
    ]);
    let single_text = stdout(&aisec(&["scan", s(&corpus)]));

    let shards = dir.path().join("shards");
    let result = |i: usize| shards.join(format!("s{i}.json"));
    let mut counted = 0;
    for i in 1..=4 {
        let o = aisec(&[
            "scan",
            s(&corpus),
            "--shard",
            &format!("{i}/4"),
            "--out",
            s(&result(i)),
            "--format",
            "json",
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "a shard that wrote its result: {}",
            stderr(&o)
        );
        let summary = json_of_any_exit(&o);
        let files = summary["files"].as_u64().unwrap();
        assert!(files > 50, "every shard takes a fair part: {summary}");
        counted += files;
    }
    assert_eq!(counted, 400 + 5, "every file in exactly one shard");

    // Shard 2 run again (as after a failed worker): only its own result is replaced.
    let before: Vec<_> = (1..=4).map(|i| std::fs::read(result(i)).unwrap()).collect();
    let o = aisec(&["scan", s(&corpus), "--shard", "2/4", "--out", s(&result(2))]);
    assert!(o.status.success(), "{}", stderr(&o));
    for i in [1, 3, 4] {
        assert_eq!(std::fs::read(result(i)).unwrap(), before[i - 1]);
    }

    let merged = dir.path().join("merged");
    let all: Vec<PathBuf> = [3, 1, 4, 2].iter().map(|&i| result(i)).collect();
    let mut args = vec!["report", "merge"];
    args.extend(all.iter().map(|p| s(p)));
    args.extend(["--out", s(&merged)]);
    let o = aisec(&args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the scan's own exit code: {}",
        stderr(&o)
    );
    assert_eq!(
        timeless(&read_json(&merged.join("report.json"))),
        timeless(&read_json(&single_json))
    );
    assert_eq!(
        std::fs::read(merged.join("report.sarif")).unwrap(),
        std::fs::read(&single_sarif).unwrap(),
        "SARIF byte for byte"
    );
    assert_eq!(
        std::fs::read_to_string(merged.join("report.txt")).unwrap(),
        single_text
    );
    let layer = read_json(&merged.join("atlas-layer.json"));
    assert!(layer["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["techniqueID"] == "AML.T0011.000"));
    let html = std::fs::read_to_string(merged.join("report.html")).unwrap();
    assert!(
        html.contains("AISEC-PKL-001"),
        "the findings are in the HTML"
    );
    let provenance = read_json(&merged.join("merge.json"));
    assert_eq!(provenance["shards"], 4);

    // Missing shards are named; nothing is written.
    let partial = dir.path().join("partial");
    let o = aisec(&[
        "report",
        "merge",
        s(&result(1)),
        s(&result(3)),
        "--out",
        s(&partial),
    ]);
    fails_with(&o, "2 of 4 shards missing: 2/4, 4/4");
    assert!(!partial.join("report.json").exists());
    // The same shard twice.
    let o = aisec(&[
        "report",
        "merge",
        s(&result(1)),
        s(&result(2)),
        s(&result(2)),
        s(&result(3)),
        s(&result(4)),
        "--out",
        s(&partial),
    ]);
    fails_with(&o, "shard 2/4 is given twice");
    // A shard of a registry that changed in between.
    std::fs::write(corpus.join("org0/new.pkl"), b"\x80\x02]q\x00.").unwrap();
    let late = dir.path().join("late.json");
    let o = aisec(&["scan", s(&corpus), "--shard", "3/4", "--out", s(&late)]);
    assert!(o.status.success());
    let o = aisec(&[
        "report",
        "merge",
        s(&result(1)),
        s(&result(2)),
        s(&late),
        s(&result(4)),
        "--out",
        s(&partial),
    ]);
    fails_with(&o, "shards of different work");
    // Not a shard result at all.
    let o = aisec(&["report", "merge", s(&single_json), "--out", s(&partial)]);
    fails_with(&o, "not a shard result");
    // A shard needs somewhere to write its result, and a real I/N.
    fails_with(
        &aisec(&["scan", s(&corpus), "--shard", "0/4", "--out", s(&late)]),
        "I must be from 1 to N",
    );
    fails_with(&aisec(&["scan", s(&corpus), "--shard", "1/4"]), "--out");
}

#[test]
fn an_assessment_run_in_shards_merges_into_the_report_one_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.yaml");
    let mut text = String::from("name: three files\nmodels:\n");
    for (name, chain) in [
        ("a", "pickled-artifacts"),
        ("b", "pickled-artifacts"),
        ("c", "pretrained-from-hub"),
    ] {
        text.push_str(&format!(
            "  - name: {name}\n    task: classification\n    artifact: {name}.pkl\n    outputs: labels\n    access: [internal]\n    supply_chain: [{chain}]\n"
        ));
    }
    text.push_str("objectives: [integrity]\n");
    std::fs::write(&profile, text).unwrap();
    for name in ["a", "b"] {
        std::fs::write(dir.path().join(format!("{name}.pkl")), b"\x80\x02]q\x00.").unwrap();
    }
    std::fs::write(
        dir.path().join("c.pkl"),
        b"cposix\nsystem\n(S'echo hi'\ntR.",
    )
    .unwrap();
    let plan = dir.path().join("plan.yaml");
    plan_of(&profile, &plan);
    let single = dir.path().join("single");
    let o = aisec(&["assess", s(&plan), "--out", s(&single)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // Two shards in two folders, as on two machines.
    let mut results = Vec::new();
    for i in 1..=2 {
        let out = dir.path().join(format!("shard{i}"));
        let o = aisec(&[
            "assess",
            s(&plan),
            "--out",
            s(&out),
            "--shard",
            &format!("{i}/2"),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            !out.join("assessment.json").exists(),
            "a shard writes no report"
        );
        results.push(out.join(format!("shard-{i}-of-2.json")));
    }
    let merged = dir.path().join("merged");
    let o = aisec(&[
        "report",
        "merge",
        s(&results[1]),
        s(&results[0]),
        "--out",
        s(&merged),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the assessment's exit code: {}",
        stderr(&o)
    );
    for file in [
        "assessment.md",
        "assessment.sarif",
        "assessment.layer.json",
        "case-study.yaml",
        "assessment.html",
    ] {
        assert_eq!(
            std::fs::read_to_string(merged.join(file)).unwrap(),
            std::fs::read_to_string(single.join(file)).unwrap(),
            "{file}"
        );
    }
    let (a, b) = (
        read_json(&merged.join("assessment.json")),
        read_json(&single.join("assessment.json")),
    );
    assert_eq!(timeless(&a), timeless(&b));
    assert_eq!(a["steps"].as_array().unwrap().len(), 3);

    // A plan edited after the shards ran is not merged into a report of the new plan.
    let edited = std::fs::read_to_string(&plan).unwrap() + "\n# edited\n";
    std::fs::write(&plan, edited).unwrap();
    let o = aisec(&[
        "report",
        "merge",
        s(&results[0]),
        s(&results[1]),
        "--out",
        s(&merged),
    ]);
    fails_with(&o, "changed since the shards ran");
}

#[test]
fn shadow_models_trained_in_shards_give_the_attack_one_run_gives() {
    let dir = tempfile::tempdir().unwrap();
    let attack = [
        "attack",
        "membership",
        "--dataset",
        "purchase-synthetic",
        "--attack",
        "lira",
        "--shadows",
        "6",
        "--epochs",
        "4",
        "--seed",
        "3",
    ];
    let mut single_args = attack.to_vec();
    single_args.extend(["--format", "json"]);
    let single = aisec(&single_args);
    assert!(single.status.success(), "{}", stderr(&single));
    let single = json_of_any_exit(&single);

    let store = dir.path().join("shadows");
    for i in 1..=3 {
        let mut args = attack.to_vec();
        let shard = format!("{i}/3");
        args.extend(["--shadow-dir", s(&store), "--shard", &shard]);
        let o = aisec(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).contains("2 of 6 shadow models are this shard's (2 trained now"),
            "{}",
            stdout(&o)
        );
    }
    // Run again, a shard keeps what it already trained.
    let mut args = attack.to_vec();
    args.extend(["--shadow-dir", s(&store), "--shard", "2/3"]);
    let o = aisec(&args);
    assert!(
        stdout(&o).contains("(0 trained now, 2 kept from an earlier try)"),
        "{}",
        stdout(&o)
    );

    let results: Vec<PathBuf> = (1..=3)
        .map(|i| store.join(format!("shard-{i}-of-3.json")))
        .collect();
    let merged = dir.path().join("merged");
    let o = aisec(&[
        "report",
        "merge",
        s(&results[0]),
        s(&results[1]),
        s(&results[2]),
        "--out",
        s(&merged),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("6 loaded from"), "{}", stderr(&o));
    let report = read_json(&merged.join("report.json"));
    assert_eq!(timeless(&report), timeless(&single));
    assert!(report["metrics"]["auc"].as_f64().unwrap() > 0.5);

    // A model deleted from the shared folder is named, not trained again silently.
    let gone = std::fs::read_dir(&store)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
        .unwrap()
        .path();
    std::fs::remove_file(&gone).unwrap();
    let o = aisec(&[
        "report",
        "merge",
        s(&results[0]),
        s(&results[1]),
        s(&results[2]),
        "--out",
        s(&merged),
    ]);
    fails_with(&o, "1 of 6 shadow models the shards kept are not in");
    // An attack without shadow models has nothing to shard.
    let o = aisec(&[
        "attack",
        "membership",
        "--dataset",
        "purchase-synthetic",
        "--attack",
        "loss",
        "--shadow-dir",
        s(&store),
        "--shard",
        "1/2",
    ]);
    fails_with(&o, "trains none");
}
