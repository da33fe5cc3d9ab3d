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

/// Text with every "N.N s" (a duration) replaced by "# s".
fn without_seconds(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        if i > start {
            let is_duration = chars[start].is_ascii_digit()
                && chars[start..i].contains(&'.')
                && chars.get(i) == Some(&' ')
                && chars.get(i + 1) == Some(&'s')
                && !chars.get(i + 2).is_some_and(|c| c.is_alphanumeric());
            if is_duration {
                out.push('#');
            } else {
                out.extend(&chars[start..i]);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
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
    // Results edited by hand: a setting changed, a file moved to another shard's result.
    let edit = |from: &Path, to: &Path, change: &dyn Fn(&mut serde_json::Value)| {
        let mut v = read_json(from);
        change(&mut v);
        std::fs::write(to, serde_json::to_string(&v).unwrap()).unwrap();
    };
    let edited = dir.path().join("edited.json");
    edit(&result(1), &edited, &|v| {
        v["payload"]["settings"]["strict"] = true.into()
    });
    let o = aisec(&[
        "report",
        "merge",
        s(&edited),
        s(&result(2)),
        s(&result(3)),
        s(&result(4)),
        "--out",
        s(&partial),
    ]);
    fails_with(
        &o,
        "not the digest of its own paths, settings and file list",
    );
    let (one, two) = (dir.path().join("one.json"), dir.path().join("two.json"));
    let moved = read_json(&result(1))["payload"]["scan"]["files"][0].clone();
    let moved_size = read_json(&result(1))["payload"]["scan"]["sizes"][0].clone();
    edit(&result(1), &one, &|v| {
        v["payload"]["scan"]["files"]
            .as_array_mut()
            .unwrap()
            .remove(0);
        v["payload"]["scan"]["sizes"]
            .as_array_mut()
            .unwrap()
            .remove(0);
    });
    edit(&result(2), &two, &|v| {
        v["payload"]["scan"]["files"]
            .as_array_mut()
            .unwrap()
            .push(moved.clone());
        v["payload"]["scan"]["sizes"]
            .as_array_mut()
            .unwrap()
            .push(moved_size.clone());
    });
    let o = aisec(&[
        "report",
        "merge",
        s(&one),
        s(&two),
        s(&result(3)),
        s(&result(4)),
        "--out",
        s(&partial),
    ]);
    fails_with(&o, "which is shard 1's");
    // A result written inside the folder being scanned would be scanned by the next shard.
    fails_with(
        &aisec(&[
            "scan",
            s(&corpus),
            "--shard",
            "1/4",
            "--out",
            s(&corpus.join("org0/r.json")),
        ]),
        "is inside",
    );
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
        // The Markdown and HTML give each step's time ("(0.1 s)"): the one clock they hold.
        assert_eq!(
            without_seconds(&std::fs::read_to_string(merged.join(file)).unwrap()),
            without_seconds(&std::fs::read_to_string(single.join(file)).unwrap()),
            "{file}"
        );
    }
    let (a, b) = (
        read_json(&merged.join("assessment.json")),
        read_json(&single.join("assessment.json")),
    );
    assert_eq!(timeless(&a), timeless(&b));
    assert_eq!(a["steps"].as_array().unwrap().len(), 3);
    // Each step's result and log beside the merged report, as `aisec assess` keeps them.
    for step in a["steps"].as_array().unwrap() {
        let id = step["id"].as_str().unwrap();
        for ext in ["json", "log"] {
            assert!(
                merged.join("steps").join(format!("{id}.{ext}")).is_file(),
                "{id}.{ext}"
            );
        }
    }

    // A relative --out is the caller's folder, though the merge reads the plan from the
    // shards' folder.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args([
            "report",
            "merge",
            s(&results[0]),
            s(&results[1]),
            "--out",
            "rel",
        ])
        .current_dir(&elsewhere)
        .env_remove("AISEC_ATLAS_DATA")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    for file in ["assessment.json", "merge.json", "steps"] {
        assert!(elsewhere.join("rel").join(file).exists(), "{file}");
    }
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
    // A model damaged after it was kept is named, not loaded; the merge reads the models
    // beside the results it is given (here a copy of the folder).
    for i in 1..=3 {
        let mut args = attack.to_vec();
        let shard = format!("{i}/3");
        args.extend(["--shadow-dir", s(&store), "--shard", &shard]);
        let o = aisec(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(&store).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
        }
    }
    let copied: Vec<PathBuf> = (1..=3)
        .map(|i| copy.join(format!("shard-{i}-of-3.json")))
        .collect();
    let damaged = std::fs::read_dir(&copy)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .unwrap();
    let mut bytes = std::fs::read(&damaged).unwrap();
    let n = bytes.len();
    bytes[n - 20..].fill(0x7f);
    std::fs::write(&damaged, bytes).unwrap();
    let o = aisec(&[
        "report",
        "merge",
        s(&copied[0]),
        s(&copied[1]),
        s(&copied[2]),
        "--out",
        s(&merged),
    ]);
    fails_with(&o, "not the model the shard kept");
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

/// A named pipe would block a reader for ever and a dangling link points at nothing: both are
/// errors of the scan (exit 2), never a hang and never silently left out.
#[cfg(unix)]
#[test]
fn a_named_pipe_or_a_dangling_link_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("c");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("ok.pkl"), b"\x80\x02]q\x00.").unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(corpus.join("pipe.pkl"))
        .status()
        .unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink(corpus.join("nowhere"), corpus.join("dangling.pkl")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args(["scan", s(&corpus)])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("aisec scan hung on a named pipe");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(out.contains("a named pipe"), "{out}");
    assert!(out.contains("dangling"), "{out}");
    assert!(
        out.contains("safe       "),
        "the regular file is still scanned: {out}"
    );
}

/// A registry in S3-compatible object storage (moto's server, from PyPI, in a venv cached
/// outside the repository, on 127.0.0.1): scanned whole and in three shards whose results go
/// to the bucket and are merged from it; the same report either way.
#[test]
fn a_registry_in_object_storage_is_scanned_in_shards_with_results_in_the_bucket() {
    const MOTO: &str = "5.2.6";
    let venv =
        match common::cached_venv(&format!("moto-{MOTO}"), &[&format!("moto[server]=={MOTO}")]) {
            Ok(v) => v,
            Err(e) => {
                assert!(!common::in_ci(), "object-storage tier under CI=true: {e}");
                eprintln!("skipped the object-storage test: {e}");
                return;
            }
        };
    let port = common::free_port();
    let server = std::process::Command::new(venv.join("bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _server = common::Killed(server);
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("registry");
    registry(&corpus, 150);
    let upload = format!(
        "import boto3, os, time\n\
         s3 = boto3.client('s3', endpoint_url='{endpoint}', aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')\n\
         for _ in range(100):\n\
         \x20   try:\n\
         \x20       s3.create_bucket(Bucket='registry'); break\n\
         \x20   except Exception:\n\
         \x20       time.sleep(0.1)\n\
         root = {root:?}\n\
         for d, _, fs in os.walk(root):\n\
         \x20   for f in fs:\n\
         \x20       p = os.path.join(d, f)\n\
         \x20       s3.upload_file(p, 'registry', 'models/' + os.path.relpath(p, root))\n\
         bad = b\"cposix\\nsystem\\n(S'echo hi'\\ntR.\"\n\
         for key in ['odd/sp ace/ü ni €.pkl', 'odd/q?x#y%20z.pkl', 'odd/a', 'odd/a/b', 'odd/' + 'L' * 300 + '.pkl']:\n\
         \x20   s3.put_object(Bucket='registry', Key=key, Body=bad)\n\
         s3.put_object(Bucket='registry', Key='odd/folder/', Body=b'')\n",
        root = corpus.display().to_string()
    );
    let o = std::process::Command::new(venv.join("bin/python"))
        .args(["-c", &upload])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let s3 = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_aisec"))
            .args(args)
            .env_remove("AISEC_ATLAS_DATA")
            .env("CI", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ENDPOINT", &endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .output()
            .unwrap()
    };
    let single = dir.path().join("single.json");
    let o = s3(&[
        "scan",
        "s3://registry/models/",
        "--format",
        "json",
        "--out",
        s(&single),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let single = read_json(&single);
    assert_eq!(
        single["observations"]["files"].as_array().unwrap().len(),
        150 + 5
    );
    // The ONNX model's folder was downloaded together: its data file is its tensor data.
    let files = single["observations"]["files"].as_array().unwrap();
    let data = files
        .iter()
        .find(|f| f["path"] == "s3://registry/models/org1/exported/weights/w.bin")
        .unwrap();
    assert_eq!(
        data["path"],
        "s3://registry/models/org1/exported/weights/w.bin"
    );
    for i in 1..=3 {
        let o = s3(&[
            "scan",
            "s3://registry/models/",
            "--shard",
            &format!("{i}/3"),
            "--out",
            &format!("s3://registry/results/scan-{i}.json"),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let merged = dir.path().join("merged");
    let o = s3(&[
        "report",
        "merge",
        "s3://registry/results/",
        "--out",
        s(&merged),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        timeless(&read_json(&merged.join("report.json"))),
        timeless(&single)
    );
    // The same registry on disk gets the same verdicts.
    let local = json_of_any_exit(&aisec(&["scan", s(&corpus), "--format", "json"]));
    for key in [
        "dangerous",
        "suspicious",
        "unknown",
        "safe",
        "not_models",
        "errors",
    ] {
        assert_eq!(
            local["observations"][key], single["observations"][key],
            "{key}"
        );
    }
    // Keys as S3 allows them: spaces, non-ASCII, `?#%`, a key that is also another key's
    // folder, a part longer than a file name, an empty folder marker.
    let o = s3(&["scan", "s3://registry/odd/", "--format", "json"]);
    let odd = json_of_any_exit(&o);
    assert_eq!(odd["observations"]["dangerous"], 5, "{}", stderr(&o));
    assert_eq!(odd["observations"]["errors"], 0, "{odd}");
    assert!(odd["observations"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "s3://registry/odd/sp ace/\u{fc} ni \u{20ac}.pkl"));
    // A shard result inside the scanned prefix, and a merged report to the bucket, refused.
    fails_with(
        &s3(&[
            "scan",
            "s3://registry/models/",
            "--shard",
            "1/3",
            "--out",
            "s3://registry/models/r.json",
        ]),
        "which this scan reads",
    );
    fails_with(
        &s3(&[
            "report",
            "merge",
            "s3://registry/results/",
            "--out",
            "s3://registry/report/",
        ]),
        "local folder",
    );
    // A bucket that is not there, and a report --out in the bucket, are refused by name.
    let o = s3(&["scan", "s3://no-such-bucket/x/"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "fails closed, as a missing path does"
    );
    assert!(
        stdout(&o).contains("ERROR      s3://no-such-bucket/x/"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("NoSuchBucket"), "{}", stdout(&o));
    fails_with(
        &s3(&[
            "scan",
            "s3://registry/models/",
            "--out",
            "s3://registry/report.txt",
        ]),
        "only a shard's result",
    );
}
