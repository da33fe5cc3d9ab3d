//! The guard's time per probe payload, plain and under every buff, as the proxy checks them
//! (`check_long`: whole text plus 400-character windows):
//! `cargo run --release -p aisec-llm --example guard_payload_latency`.

use std::time::Instant;

use aisec_llm::buffs::Buff;
use aisec_llm::context::ProbeContext;
use aisec_llm::guard::{eval, Guard};
use aisec_llm::probes::REGISTRY;

fn main() {
    let guard = Guard::shipped().expect("the shipped guard");
    let ctx = ProbeContext::new(7, None);
    let mut all = Vec::new();
    let mut worst: Vec<(f64, String, usize)> = Vec::new();
    for buff in std::iter::once(None).chain(Buff::ALL.iter().map(|b| Some(*b))) {
        let mut times = Vec::new();
        for p in REGISTRY {
            for plan in p.plans(&ctx, buff) {
                for t in &plan.turns {
                    let started = Instant::now();
                    std::hint::black_box(guard.check_long(t));
                    let us = started.elapsed().as_secs_f64() * 1e6;
                    times.push(us);
                    worst.push((
                        us,
                        format!("{} {:?}", p.info().name, buff.map(|b| b.name())),
                        t.chars().count(),
                    ));
                }
            }
        }
        all.extend(times.iter().copied());
        let l = eval::latency(times).expect("payloads");
        println!(
            "{:<14} p50 {:>7.1} µs  p99 {:>7.1} µs",
            buff.map_or("none", |b| b.name()),
            l.p50_us,
            l.p99_us
        );
    }
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (us, what, chars) in worst.iter().take(5) {
        println!("slowest: {us:.0} µs {what} ({chars} chars)");
    }
}
