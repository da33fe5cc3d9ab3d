//! Response padding against timing side channels (constant-time serving): every response
//! of a served model leaves at the next whole multiple of a quantum after its request
//! arrived, so that while the slowest path fits in one quantum every answer takes exactly
//! one quantum, whatever path the input took (an early exit, a tree's depth, a cache). A
//! request slower than the quantum still leaves on the quantum grid, which tells an observer
//! only how many quanta it needed. The cost is latency (each answer waits for the slowest
//! path) — throughput is kept, because the server computes the next request while the last
//! one waits (`aisec model serve --pad-latency MS`). Measured by attacking again with
//! `aisec attack timing`: the separation each property had before and after, and the mean
//! latency added. The countermeasure of the timing-attack literature (Kocher 1996; for ML:
//! Duddu et al., "Stealing Neural Networks via Timing Side Channels", 2018). Filed under
//! AML.M0002 Passive AI Output Obfuscation: the response time is an output.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::defense::{Action, AppliesTo, DefenseInfo, Family, Role};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.latency-padding",
    summary: "Constant-time serving: each response leaves at the next whole multiple of a quantum after its request arrived, so every path the model takes answers in the same time",
    mitigations: &["AML.M0002"],
    phases: &["Deployment"],
    applies_to: AppliesTo::Outputs,
    action: Action::Wrap,
    role: Role::QueryPath,
    families: &[Family::SideChannel],
    measured_by: &["sidechannel.timing"],
    adaptive_attack: None,
    forms: &["pad-latency", "pad-latency:MS"],
};

/// The longest quantum accepted: a minute.
pub const MAX_QUANTUM_MS: f64 = 60_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyPaddingConfig {
    /// The quantum in milliseconds; `None`: chosen from the undefended run (twice its
    /// 99th-percentile latency, rounded up to a whole millisecond).
    pub quantum_ms: Option<f64>,
}

impl LatencyPaddingConfig {
    /// The quantum that covers a model whose 99th-percentile latency is `p99_ms`.
    pub fn quantum_for(p99_ms: f64) -> f64 {
        (2.0 * p99_ms).ceil().clamp(1.0, MAX_QUANTUM_MS)
    }
}

/// Checks a quantum given on the command line.
pub fn check_quantum(ms: f64) -> Result<f64, String> {
    if ms.is_finite() && (0.1..=MAX_QUANTUM_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "{ms} ms: expected a quantum from 0.1 to {MAX_QUANTUM_MS} milliseconds"
        ))
    }
}

/// When a response to a request that `arrived` and was ready at `ready` may leave: the first
/// whole multiple of `quantum` after arrival that is not before `ready` (at least one).
pub fn release_at(arrived: Instant, ready: Instant, quantum: Duration) -> Instant {
    let spent = ready.saturating_duration_since(arrived).as_nanos();
    let q = quantum.as_nanos().max(1);
    let quanta = spent.div_ceil(q).max(1);
    let wait = u64::try_from(quanta.saturating_mul(q)).unwrap_or(u64::MAX);
    arrived + Duration::from_nanos(wait)
}

pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    if keyword != "pad-latency" {
        return None;
    }
    Some(match argument {
        None => Ok(DefenseSpec::new(LatencyPaddingConfig { quantum_ms: None })),
        Some(a) => a
            .trim()
            .trim_end_matches("ms")
            .parse::<f64>()
            .map_err(|_| format!("`{a}` is not a number of milliseconds"))
            .and_then(check_quantum)
            .map(|ms| {
                DefenseSpec::new(LatencyPaddingConfig {
                    quantum_ms: Some(ms),
                })
            }),
    })
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(LatencyPaddingConfig);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_leave_on_the_quantum_grid() {
        let t0 = Instant::now();
        let q = Duration::from_millis(10);
        for (spent_us, expected_ms) in [(0, 10), (1, 10), (9_999, 10), (10_000, 10), (10_001, 20), (35_000, 40)] {
            let ready = t0 + Duration::from_micros(spent_us);
            assert_eq!(release_at(t0, ready, q), t0 + Duration::from_millis(expected_ms), "{spent_us} µs");
        }
    }

    #[test]
    fn forms_parse_and_extremes_are_refused() {
        let spec = DefenseSpec::parse("pad-latency:25").unwrap();
        assert_eq!(spec.config::<LatencyPaddingConfig>().unwrap().quantum_ms, Some(25.0));
        assert_eq!(
            DefenseSpec::parse("pad-latency").unwrap().config::<LatencyPaddingConfig>().unwrap().quantum_ms,
            None
        );
        for bad in ["pad-latency:0", "pad-latency:-5", "pad-latency:1e30", "pad-latency:NaN", "pad-latency:x"] {
            assert!(DefenseSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(LatencyPaddingConfig::quantum_for(3.2), 7.0);
        assert_eq!(LatencyPaddingConfig::quantum_for(1e12), MAX_QUANTUM_MS);
    }
}
