//! Page loads with 1,000 stored runs (the goal: the matrix under 200 ms on this
//! machine). Each request goes through the whole router — access check, security headers,
//! opening the database, the query, rendering — as a browser's request from this host would.
//!
//! `cargo bench -p aisec-web --bench pages`

use std::net::SocketAddr;
use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_web::{router, AppState};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::ServiceExt;

const RUNS: usize = 1_000;

fn run_object(i: usize) -> serde_json::Value {
    let techniques = [
        "AML.T0043.000",
        "AML.T0043.001",
        "AML.T0015",
        "AML.T0024.002",
        "AML.T0010.003",
        "AML.T0051.000",
    ];
    let severities = ["info", "low", "medium", "high", "critical"];
    let findings: Vec<serde_json::Value> = (0..5)
        .map(|k| {
            serde_json::json!({
                "title": format!("finding {k} of run {i}"),
                "severity": severities[(i + k) % 5],
                "atlas": [techniques[(i + k) % techniques.len()], "AML.T0015"],
                "mitigations": [{"id": "AML.M0003", "phases": ["ML Model Engineering"]}],
                "evidence": {"metrics": {"attack_success_rate": 0.5}}
            })
        })
        .collect();
    let name = [
        "evasion.pgd",
        "extract.knockoff",
        "membership.lira",
        "scan.model-artifacts",
    ][i % 4];
    let technique = techniques[i % techniques.len()];
    serde_json::json!({
        "kind": "attack", "name": name,
        "atlas": [technique], "target": format!("model {}", i % 20),
        "config": {"eps": 0.1}, "seed": i, "metrics": {"attack_success_rate": 0.5}, "findings": findings
    })
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aisec.db");
    {
        let mut store = aisec_store::Store::open(&path).unwrap();
        for i in 0..RUNS {
            store.add(&run_object(i)).unwrap();
        }
    }
    let state = Arc::new(AppState {
        kb: Arc::new(KnowledgeBase::embedded().unwrap()),
        store_path: path,
        token_hash: [0; 32],
        assessments: aisec_web::Assessments {
            plans: None,
            exe: None,
            out: dir.path().join("assessments"),
            jobs: std::sync::Mutex::new(Vec::new()),
        },
        sessions: aisec_web::Sessions::default(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let load = |path: &str| {
        let mut req = Request::get(path).body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
        req.headers_mut()
            .insert(axum::http::header::HOST, "127.0.0.1:8765".parse().unwrap());
        let res = rt.block_on(router(state.clone()).oneshot(req)).unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        rt.block_on(axum::body::to_bytes(res.into_body(), 64 << 20))
            .unwrap()
            .len()
    };
    let mut g = c.benchmark_group(format!("{RUNS} stored runs"));
    g.sample_size(20);
    for path in ["/matrix", "/api/matrix", "/runs", "/objects/AML.T0015"] {
        g.bench_function(path, |b| b.iter(|| load(path)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
