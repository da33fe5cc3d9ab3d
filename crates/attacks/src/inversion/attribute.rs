//! Attribute inference (Fredrikson et al. 2014, "Privacy in Pharmacogenetics"; the
//! formulation of Yeom et al. 2018): the adversary holds a record without one sensitive
//! column, and its label; it tries every value the column takes, queries the model for each
//! completed record, and keeps the value under which the model is most confident in the
//! record's label, weighted by the value's prior (its frequency in the adversary's data)
//! or not (the likelihood alone, Yeom et al.'s variant, which shows a model's leak even when
//! a strong prior outweighs it).
//! Measured on the target's members and on records it never saw: accuracy against the base
//! rate (always guessing the commonest value), and the gap between members and non-members
//! (what the model leaks about its own training records). ATLAS AML.T0024.001 via AML.T0040.

use aisec_ml::data::Dataset;
use serde::Serialize;

use crate::extract::Oracle;
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "inversion.attribute",
    aliases: &["attribute", "attribute-inference"],
    summary: "Attribute inference: a record's held-out sensitive column, by the value the model is most confident under (Fredrikson et al. 2014; Yeom et al. 2018)",
    access: Access::ScoreBased,
    atlas: super::ATLAS,
};

/// What attribute inference achieved on one set of records.
#[derive(Debug, Clone, Serialize)]
pub struct Guessed {
    pub records: usize,
    pub accuracy: f64,
    /// Mean over the column's values of the share of records with that value guessed right:
    /// 1 / (number of values) for a guess that ignores the record, whatever the base rate.
    pub balanced_accuracy: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttributeOutcome {
    pub column: usize,
    /// Whether the guess weighed the model's confidence by the value's prior (Fredrikson et
    /// al.'s maximum a posteriori guess) or used the confidence alone (Yeom et al.).
    pub use_prior: bool,
    /// The values tried, with their prior.
    pub values: Vec<(f32, f64)>,
    /// Accuracy of always guessing the commonest value (from the adversary's data).
    pub base_rate_guess: f32,
    pub base_rate_members: f64,
    pub base_rate_non_members: f64,
    pub members: Guessed,
    pub non_members: Guessed,
    pub queries: u64,
}

/// Guesses column `column` of every record in `records` (its own value is overwritten before
/// any query), using the values and priors of `population`.
pub fn guess(
    oracle: &mut Oracle,
    records: &Dataset,
    column: usize,
    values: &[(f32, f64)],
    use_prior: bool,
) -> Result<Vec<f32>> {
    let f = records.features();
    let mut completed = Vec::with_capacity(records.len() * values.len() * f);
    for i in 0..records.len() {
        for (v, _) in values {
            let start = completed.len();
            completed.extend_from_slice(records.sample(i));
            completed[start + column] = *v;
        }
    }
    let answers = oracle.ask(&completed)?;
    if answers.rows < records.len() * values.len() {
        return Err(AttackError::Config {
            attack: INFO.name,
            message: format!(
                "the query budget ran out after {} of the {} queries the attack needs",
                oracle.used,
                records.len() * values.len()
            ),
        });
    }
    let k = answers.targets.len() / answers.rows.max(1);
    Ok((0..records.len())
        .map(|i| {
            let y = records.y[i];
            values
                .iter()
                .enumerate()
                .map(|(j, (v, prior))| {
                    let row = i * values.len() + j;
                    (
                        *v,
                        f64::from(answers.targets[row * k + y]).max(1e-30).ln()
                            + if use_prior { prior.ln() } else { 0.0 },
                    )
                })
                .fold((values[0].0, f64::NEG_INFINITY), |best, c| {
                    if c.1 > best.1 {
                        c
                    } else {
                        best
                    }
                })
                .0
        })
        .collect())
}

/// The distinct values of `column` in `data` with their frequencies; at most 32 values, or
/// the column is not categorical.
pub fn categories(data: &Dataset, column: usize) -> Result<Vec<(f32, f64)>> {
    let mut counts: Vec<(f32, usize)> = Vec::new();
    for i in 0..data.len() {
        let v = data.sample(i)[column];
        match counts.iter_mut().find(|(c, _)| *c == v) {
            Some(c) => c.1 += 1,
            None => counts.push((v, 1)),
        }
        if counts.len() > 32 {
            return Err(AttackError::Config {
                attack: INFO.name,
                message: format!("--column {column} takes more than 32 values: attribute inference needs a categorical column"),
            });
        }
    }
    counts.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(counts
        .into_iter()
        .map(|(v, c)| (v, c as f64 / data.len().max(1) as f64))
        .collect())
}

/// Runs the attack on the target's `members` and on `non_members`, with priors from the
/// adversary's `population`.
pub fn run(
    oracle: &mut Oracle,
    members: &Dataset,
    non_members: &Dataset,
    population: &Dataset,
    column: usize,
    use_prior: bool,
) -> Result<AttributeOutcome> {
    if column >= population.features() {
        return Err(AttackError::Config {
            attack: INFO.name,
            message: format!(
                "--column {column} does not exist: records have {} columns (0-based)",
                population.features()
            ),
        });
    }
    let values = categories(population, column)?;
    if values.len() < 2 {
        return Err(AttackError::Config {
            attack: INFO.name,
            message: format!("--column {column} takes one value only in the adversary's data"),
        });
    }
    let commonest = values
        .iter()
        .copied()
        .fold(values[0], |b, v| if v.1 > b.1 { v } else { b })
        .0;
    let score = |d: &Dataset, guesses: &[f32]| {
        let truth = |i: usize| d.sample(i)[column];
        let recalls: Vec<f64> = values
            .iter()
            .filter_map(|(v, _)| {
                let with: Vec<usize> = (0..d.len()).filter(|&i| truth(i) == *v).collect();
                (!with.is_empty()).then(|| {
                    with.iter().filter(|&&i| guesses[i] == *v).count() as f64 / with.len() as f64
                })
            })
            .collect();
        Guessed {
            records: d.len(),
            accuracy: (0..d.len()).filter(|&i| guesses[i] == truth(i)).count() as f64
                / d.len().max(1) as f64,
            balanced_accuracy: recalls.iter().sum::<f64>() / recalls.len().max(1) as f64,
        }
    };
    let base = |d: &Dataset| {
        (0..d.len())
            .filter(|&i| d.sample(i)[column] == commonest)
            .count() as f64
            / d.len().max(1) as f64
    };
    let m = guess(oracle, members, column, &values, use_prior)?;
    let n = guess(oracle, non_members, column, &values, use_prior)?;
    Ok(AttributeOutcome {
        column,
        use_prior,
        base_rate_guess: commonest,
        base_rate_members: base(members),
        base_rate_non_members: base(non_members),
        members: score(members, &m),
        non_members: score(non_members, &n),
        values,
        queries: oracle.used,
    })
}
