//! `aisec attack timing` over real HTTP: the early-exit network (made with torch and the
//! onnx library, crates/ml/tests/fixtures/onnx/early_exit/) answers inputs that miss its
//! first exit ~240 µs later, and the attack says which properties that reveals, at two
//! seeds; the constant-time digits CNN is not accused; response padding — in-process with
//! `--defend pad-latency` and in a separate `aisec model serve --pad-latency` process —
//! removes the leak, at a latency cost the report states. One test runs every scenario in
//! turn, so that the runs do not time each other.

use std::path::PathBuf;

mod common;
use common::{aisec, json, num};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ml/tests/fixtures/onnx")
        .join(name)
        .display()
        .to_string()
}

fn timing(model: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--format",
        "json",
        "attack",
        "timing",
        "--model",
        model,
        "--repeats",
        "6",
    ];
    args.extend_from_slice(extra);
    let o = aisec(&args);
    assert!(o.status.success(), "{}", common::stderr(&o));
    json(&o)
}

fn property<'a>(run: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    run["observations"]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["property"] == name)
}

fn leaking(run: &serde_json::Value) -> Vec<String> {
    run["observations"]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["leaks"] == true)
        .map(|p| p["property"].as_str().unwrap().to_string())
        .collect()
}

fn separation(p: &serde_json::Value) -> f64 {
    let auc = num(&p["auc"]);
    auc.max(1.0 - auc)
}

#[test]
fn timing_finds_the_early_exit_and_padding_removes_it() {
    let early_exit = fixture("early_exit/digits_early_exit.onnx");
    let digits = ["--dataset", "digits", "--inputs", "359"];
    for seed in ["1", "2"] {
        let run = timing(&early_exit, &[&digits[..], &["--seed", seed]].concat());
        // The final answer's confidence is what the path shows: the deep trunk answers
        // with saturated probabilities.
        let confidence = property(&run, "confidence").expect("scores are returned");
        assert_eq!(confidence["leaks"], true, "seed {seed}: {confidence}");
        assert!(separation(confidence) >= 0.7, "seed {seed}: {confidence}");
        let gap =
            (num(&confidence["positive_median_us"]) - num(&confidence["against_median_us"])).abs();
        assert!(gap >= 100.0, "seed {seed}: {gap} µs");
        assert_eq!(
            run["observations"]["input_dependence"]["depends"], true,
            "seed {seed}"
        );
        assert_eq!(run["atlas"][2], "AML.T0024.000");
        let finding = &run["findings"][0];
        assert_eq!(finding["atlas"][1], "AML.T0063", "{finding}");
        assert_eq!(finding["mitigations"][0]["id"], "AML.M0002", "{finding}");
        assert_eq!(num(&run["metrics"]["queries_total"]), 20.0 + 359.0 * 6.0);
    }

    // A network whose every input takes the same path: nothing is called a leak.
    for seed in ["1", "2"] {
        let run = timing(
            &fixture("digits-cnn.onnx"),
            &[&digits[..], &["--seed", seed]].concat(),
        );
        assert!(
            leaking(&run).is_empty(),
            "seed {seed}: {:?}",
            run["observations"]["properties"]
        );
        assert_eq!(run["findings"][0]["severity"], "info");
        assert_eq!(
            run["observations"]["input_dependence"]["depends"], false,
            "seed {seed}"
        );
    }

    // Members and non-members of its training split: measured and reported, whatever the
    // verdict (its first exit takes 84% of members and 77% of non-members).
    let dir = fixture("early_exit");
    let run = timing(
        &early_exit,
        &[
            "--members",
            &format!("{dir}/members.csv"),
            "--non-members",
            &format!("{dir}/non_members.csv"),
            "--inputs",
            "400",
        ],
    );
    let membership = property(&run, "membership").expect("membership is tested");
    assert_eq!(membership["groups"][1]["name"], "members");
    assert_eq!(num(&membership["groups"][1]["inputs"]), 200.0);
    assert!(separation(membership) < 0.75, "{membership}");

    // Padding in process: the same attack again, nothing separates, the cost is stated.
    let run = timing(
        &early_exit,
        &[&digits[..], &["--defend", "pad-latency"]].concat(),
    );
    assert!(!leaking(&run).is_empty());
    let after = &run["defended"];
    assert!(
        leaking(after).is_empty(),
        "{:?}",
        after["observations"]["properties"]
    );
    let quantum = num(&run["defense"]["settings"]["quantum_ms"]);
    assert!((1.0..=20.0).contains(&quantum), "{quantum}");
    let mean_after = num(&after["observations"]["latency"]["mean_us"]);
    assert!(
        mean_after >= quantum * 1000.0,
        "{mean_after} µs at {quantum} ms"
    );

    // Padding by `aisec model serve`, attacked as a remote endpoint.
    let server = common::serve(&["--model", &early_exit, "--pad-latency", "3"]);
    assert!(server.banner.contains("3 ms grid"), "{}", server.banner);
    let run = timing(&server.url, &digits);
    assert!(
        leaking(&run).is_empty(),
        "{:?}",
        run["observations"]["properties"]
    );
    assert!(num(&run["observations"]["latency"]["p50_us"]) >= 3000.0);
    drop(server);

    // A monitor that cuts the client off ends the measurement, not the run: the tests use
    // what was measured, the report says it stopped, and the exit code is not a clean 0.
    let server = common::serve(&[
        "--model",
        &fixture("digits-cnn.onnx"),
        "--max-queries-per-client",
        "100",
    ]);
    let o = aisec(&[
        "--format",
        "json",
        "attack",
        "timing",
        "--model",
        &server.url,
        "--dataset",
        "digits",
        "--inputs",
        "50",
        "--repeats",
        "4",
        "--warmup",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", common::stderr(&o));
    let run = common::json_of_any_exit(&o);
    let stopped = run["observations"]["stopped"].as_str().unwrap();
    assert!(stopped.contains("budget exhausted"), "{stopped}");
    assert_eq!(num(&run["observations"]["inputs_timed"]), 50.0);
    assert_eq!(num(&run["observations"]["rounds"]), 1.0);
    assert!(run["findings"][0]["title"]
        .as_str()
        .unwrap()
        .contains("stopped early"));
}

#[test]
fn timing_refuses_what_it_cannot_measure() {
    let early_exit = fixture("early_exit/digits_early_exit.onnx");
    for (extra, mentions) in [
        (vec!["--inputs", "5"], "--inputs 5"),
        (vec!["--repeats", "0"], "--repeats 0"),
        (vec!["--alpha", "0"], "--alpha 0"),
        (vec!["--alpha", "1e-300"], "0.0001 to 0.5"),
        (vec!["--timeout", "0"], "--timeout 0"),
        (vec!["--min-auc", "2"], "--min-auc 2"),
        (vec!["--min-difference", "-1"], "--min-difference -1"),
        (vec!["--resamples", "1e9"], "--resamples"),
        (vec!["--defend", "pad-latency:1e30"], "quantum"),
        (
            vec![
                "--defend",
                "pad-latency:5000",
                "--timeout",
                "2",
                "--inputs",
                "10",
                "--repeats",
                "1",
            ],
            "raise --timeout",
        ),
        (vec!["--defend", "clamp"], "aisec attack bitflip"),
    ] {
        let mut args = vec![
            "attack",
            "timing",
            "--model",
            &early_exit,
            "--dataset",
            "digits",
        ];
        args.extend_from_slice(&extra);
        common::fails_with(&aisec(&args), mentions);
    }
    common::fails_with(
        &aisec(&[
            "attack",
            "timing",
            "--model",
            "kserve+http://127.0.0.1:9/v2/models/x",
            "--dataset",
            "digits",
            "--defend",
            "pad-latency",
        ]),
        "model serve --pad-latency",
    );
    common::fails_with(
        &aisec(&[
            "model",
            "serve",
            "--model",
            &early_exit,
            "--pad-latency",
            "0",
        ]),
        "0.1 to 60000",
    );
}
