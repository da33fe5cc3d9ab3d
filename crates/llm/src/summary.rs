//! Success rates with 95% Wilson score intervals, per probe, per buff, per family and per
//! ATLAS technique. Errors and budget skips are counted but are not trials: a rate is
//! successes over attempts that were answered.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::run::{Attempt, Outcome};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Attempts answered (successes and failures).
    pub attempts: u64,
    pub successes: u64,
    pub errors: u64,
    pub skipped: u64,
    /// Answered attempts whose last reply the refusal detector called a refusal.
    pub refusals: u64,
    /// Successes whose reply also read as a refusal (the model refused and leaked anyway).
    pub successes_with_refusal: u64,
    /// successes / attempts; `None` with no answered attempt.
    pub success_rate: Option<f64>,
    /// 95% Wilson score interval of the rate.
    pub ci95: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub overall: Tally,
    pub by_probe: BTreeMap<String, Tally>,
    /// `none` for the plain probes.
    pub by_buff: BTreeMap<String, Tally>,
    pub by_family: BTreeMap<String, Tally>,
    pub by_technique: BTreeMap<String, Tally>,
}

/// The 95% Wilson score interval for `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let p = k as f64 / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

impl Tally {
    fn add(&mut self, a: &Attempt) {
        match a.outcome {
            Outcome::Success | Outcome::Failure => {
                self.attempts += 1;
                if a.refusal.hit {
                    self.refusals += 1;
                }
                if a.outcome == Outcome::Success {
                    self.successes += 1;
                    if a.refusal.hit {
                        self.successes_with_refusal += 1;
                    }
                }
            }
            Outcome::Error => self.errors += 1,
            Outcome::Skipped => self.skipped += 1,
        }
    }

    fn finish(&mut self) {
        self.success_rate =
            (self.attempts > 0).then(|| self.successes as f64 / self.attempts as f64);
        self.ci95 = wilson(self.successes, self.attempts);
    }
}

pub fn summarise(attempts: &[Attempt]) -> Summary {
    let mut s = Summary::default();
    for a in attempts {
        s.overall.add(a);
        s.by_probe.entry(a.probe.clone()).or_default().add(a);
        s.by_buff
            .entry(a.buff.clone().unwrap_or_else(|| "none".into()))
            .or_default()
            .add(a);
        s.by_family.entry(a.family.clone()).or_default().add(a);
        let mut techniques = a.atlas.clone();
        if a.buff.is_some() {
            techniques.extend(crate::buffs::BUFF_ATLAS.iter().map(|t| t.to_string()));
        }
        for t in techniques {
            s.by_technique.entry(t).or_default().add(a);
        }
    }
    s.overall.finish();
    for map in [
        &mut s.by_probe,
        &mut s.by_buff,
        &mut s.by_family,
        &mut s.by_technique,
    ] {
        map.values_mut().for_each(Tally::finish);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_values() {
        // 0 of 10: [0, 0.2775]; 5 of 10: [0.2366, 0.7634] (Wilson 1927; Newcombe 1998).
        let (lo, hi) = wilson(0, 10).unwrap();
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-3);
        let (lo, hi) = wilson(5, 10).unwrap();
        assert!((lo - 0.2366).abs() < 1e-3 && (hi - 0.7634).abs() < 1e-3);
        assert!(wilson(0, 0).is_none());
    }
}
