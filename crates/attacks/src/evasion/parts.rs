//! One evasion run over data read a part at a time: each part is attacked by [`super::run`]
//! on its own (part k with seed + k, so a run of one part is the run over the whole data),
//! and the parts join into one outcome whose figures are over every input.

use serde::Serialize;

use aisec_core::Metric;

use super::{measure, OutsideRange, Seconds};
use crate::AttackOutcome;

/// How the run was split, for the report: the attack's own observations (curves, per-step
/// records) are the first part's, which the report must say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartsNote {
    pub parts: usize,
    /// Inputs read and attacked at a time (the last part may hold fewer).
    pub inputs_per_part: usize,
    pub attack_observations_from: String,
}

/// The seed part `index` runs with.
pub fn part_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_add(index as u64)
}

/// Joins what [`super::run`] returned for consecutive parts. The adversarial inputs are not
/// kept (a caller that wants them writes each part's as it comes); metrics are measured
/// again over every input, times and queries summed.
pub fn join(
    parts: Vec<AttackOutcome>,
    inputs_per_part: usize,
    target: Option<usize>,
) -> Option<AttackOutcome> {
    let count = parts.len();
    let mut iter = parts.into_iter();
    let mut joined = iter.next()?;
    let first_inputs = joined.examples.len();
    let seconds = |o: &AttackOutcome| Seconds {
        wall: o.metrics.get(Metric::WallSeconds).unwrap_or(0.0),
        attack: o.metrics.get(Metric::AttackSeconds).unwrap_or(0.0),
    };
    let mut total = seconds(&joined);
    let values_per_input = |o: &AttackOutcome| {
        o.observations
            .outside_clean_range
            .as_ref()
            .map(|r| r.of / o.examples.len().max(1))
    };
    let mut per_input = values_per_input(&joined);
    joined.adversarial = Vec::new();
    for part in iter {
        let s = seconds(&part);
        per_input = per_input.or(values_per_input(&part));
        total.wall += s.wall;
        total.attack += s.attack;
        joined.examples.extend(part.examples);
        let q = &mut joined.queries;
        q.spent_total += part.queries.spent_total;
        q.stopped_by_budget |= part.queries.stopped_by_budget;
        q.inputs_not_evaluated += part.queries.inputs_not_evaluated;
        let outside = &mut joined.observations.outside_clean_range;
        *outside = match (outside.take(), part.observations.outside_clean_range) {
            (Some(a), Some(b)) => Some(OutsideRange {
                values: a.values + b.values,
                of: a.of,
                clean_range: [
                    a.clean_range[0].min(b.clean_range[0]),
                    a.clean_range[1].max(b.clean_range[1]),
                ],
                adversarial_range: [
                    a.adversarial_range[0].min(b.adversarial_range[0]),
                    a.adversarial_range[1].max(b.adversarial_range[1]),
                ],
            }),
            (a, b) => a.or(b),
        };
    }
    // `of` counts every input value, parts with none outside included.
    let inputs = joined.examples.len();
    if let (Some(outside), Some(per_input)) =
        (&mut joined.observations.outside_clean_range, per_input)
    {
        outside.of = per_input * inputs;
    }
    joined.metrics = measure(&joined.examples, target, joined.queries.spent_total, total);
    if count > 1 {
        joined.observations.parts = Some(PartsNote {
            parts: count,
            inputs_per_part,
            attack_observations_from: format!(
                "the first part ({first_inputs} inputs); the metrics are over all {}",
                joined.examples.len()
            ),
        });
    }
    Some(joined)
}
