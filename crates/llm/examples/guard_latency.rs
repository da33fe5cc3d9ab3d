//! Where a guard check spends its time, per component, on a labelled file:
//! `cargo run --release -p aisec-llm --example guard_latency -- FILE [GUARD_DIR]`.
//! Prints p50/p99 in microseconds for the n-gram counting, the lexical score, the
//! heuristics and the whole check, and the same for the longest 1% of texts.

use std::path::Path;
use std::time::Instant;

use aisec_llm::guard::{data, eval, features, heuristics, Guard};

fn time<T>(f: impl FnOnce() -> T) -> f64 {
    let t = Instant::now();
    std::hint::black_box(f());
    t.elapsed().as_secs_f64() * 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: guard_latency FILE [GUARD_DIR]");
        std::process::exit(2);
    };
    let guard = Guard::load(args.get(1).map(Path::new)).expect("a guard");
    let rows = data::read(Path::new(file), &data::Columns::default()).expect("labelled rows");
    let mut parts: Vec<(&str, Vec<f64>)> = vec![
        ("counts", vec![]),
        ("lexical", vec![]),
        ("heuristics", vec![]),
        ("check", vec![]),
    ];
    for _ in 0..3 {
        for r in &rows {
            let t = r.text.as_str();
            parts[0].1.push(time(|| features::counts(t)));
            parts[1].1.push(time(|| guard.lexical.score(t)));
            parts[2].1.push(time(|| {
                (heuristics::hidden_text(t), heuristics::decoded_payloads(t))
            }));
            parts[3].1.push(time(|| guard.check(t)));
        }
    }
    let mut lens: Vec<usize> = rows.iter().map(|r| r.text.chars().count()).collect();
    lens.sort_unstable();
    println!(
        "{} texts, length p50 {} p99 {} chars",
        rows.len(),
        lens[lens.len() / 2],
        lens[lens.len() * 99 / 100]
    );
    for (name, v) in parts {
        let l = eval::latency(v).expect("samples");
        println!(
            "{name:<11} p50 {:>8.1} µs  p99 {:>8.1} µs",
            l.p50_us, l.p99_us
        );
    }
}
