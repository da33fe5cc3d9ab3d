//! aisec against a real KServe v2 server that is not its own: Seldon's MLServer 1.7 serving a
//! scikit-learn model, as `pip install mlserver mlserver-sklearn` gives it. The test installs
//! MLServer into a virtual environment cached outside the repository (`AISEC_TEST_CACHE`, else
//! `~/.cache/aisec-tests`), trains a logistic regression on scikit-learn's own iris copy, serves
//! it on 127.0.0.1 and runs the commands a user would. Without Python it says it was skipped;
//! under `CI=true` a missing server is a failure.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{aisec_line, json, num};

const MLSERVER: &str = "1.7.1";

fn skip_or_fail(why: &str) {
    assert!(!common::in_ci(), "MLServer tier under CI=true: {why}");
    eprintln!("skipped the MLServer tests: {why}");
}

fn mlserver_venv() -> Result<PathBuf, String> {
    common::cached_venv(
        &format!("mlserver-{MLSERVER}"),
        &[
            &format!("mlserver=={MLSERVER}"),
            &format!("mlserver-sklearn=={MLSERVER}"),
        ],
    )
}

use common::free_port;

struct Served {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    reply.split_whitespace().nth(1)?.parse().ok()
}

fn serve_iris(venv: &Path, dir: &Path) -> Served {
    let model_dir = dir.join("iris");
    std::fs::create_dir_all(&model_dir).unwrap();
    let train = r#"
import json, sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
x, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), sys.argv[1] + "/model.joblib")
json.dump({"name": "iris", "implementation": "mlserver_sklearn.SKLearnModel",
           "parameters": {"uri": "./model.joblib", "version": "v1"}},
          open(sys.argv[1] + "/model-settings.json", "w"))
"#;
    let status = Command::new(venv.join("bin/python"))
        .args(["-c", train])
        .arg(&model_dir)
        .status()
        .unwrap();
    assert!(status.success(), "training the scikit-learn model failed");
    let port = free_port();
    let settings = serde_json::json!({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
        "metrics_port": free_port(), "parallel_workers": 0,
    });
    std::fs::write(dir.join("settings.json"), settings.to_string()).unwrap();
    let log = dir.join("mlserver.log");
    let child = Command::new(venv.join("bin/mlserver"))
        .arg("start")
        .arg(dir)
        .current_dir(dir)
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("mlserver.err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let served = Served { child, port, log };
    let started = Instant::now();
    while http_status(port, "/v2/models/iris/ready") != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "MLServer did not become ready: {}",
            std::fs::read_to_string(dir.join("mlserver.err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    served
}

#[test]
fn mlserver_serving_scikit_learn() {
    let venv = match mlserver_venv() {
        Ok(v) => v,
        Err(why) => return skip_or_fail(&why),
    };
    let dir = tempfile::tempdir().unwrap();
    let served = serve_iris(&venv, dir.path());
    let url = format!("kserve+http://127.0.0.1:{}/v2/models/iris", served.port);

    // MLServer's default output is the label (INT64, [N, 1]): a label-only target.
    let labels = json(&aisec_line(&format!(
        "model eval --model {url} --dataset iris --format json"
    )));
    assert!(
        labels["target"].as_str().unwrap().contains("labels only"),
        "{labels}"
    );
    assert!(num(&labels["metrics"]["clean_accuracy"]) >= 0.9, "{labels}");

    // Probabilities come when the request names the output.
    let probs = json(&aisec_line(&format!(
        "model eval --model {url} --dataset iris --output-tensor predict_proba --format json"
    )));
    let target = probs["target"].as_str().unwrap();
    assert!(
        target.contains("predict_proba") && target.contains("probabilities"),
        "{target}"
    );
    assert_eq!(
        probs["metrics"]["clean_accuracy"],
        labels["metrics"]["clean_accuracy"]
    );

    // A score-based attack through the probabilities, a decision-based one through labels.
    let square = json(&aisec_line(&format!("attack evasion --model {url} --dataset iris --output-tensor predict_proba --attack square --eps 0.3 --limit 10 --total-queries 5000 --format json")));
    assert!(num(&square["metrics"]["queries_total"]) > 0.0);
    assert!(
        num(&square["metrics"]["attack_success_rate"]) > 0.0,
        "{square}"
    );
    let hsj = json(&aisec_line(&format!("attack evasion --model {url} --dataset iris --attack hsj --limit 5 --total-queries 2000 --format json")));
    assert!(hsj["target"].as_str().unwrap().contains("labels only"));
    assert!(num(&hsj["metrics"]["queries_total"]) > 0.0);

    // A wrong output name is the server's clear refusal, not a parse error.
    let o = aisec_line(&format!(
        "model eval --model {url} --dataset iris --output-tensor nope"
    ));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("nope"),
        "{}",
        common::stderr(&o)
    );
    assert!(std::fs::metadata(&served.log).is_ok());
}
