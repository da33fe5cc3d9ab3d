//! The adversary's side of the API: [`Oracle`] counts each query, stops at the budget, and
//! turns what the API reveals into training targets; [`InputBox`] is the input space.

use aisec_core::rng::Rng;
use aisec_ml::data::{Dataset, InputRange};
use aisec_ml::model::{Classifier, OutputKind, QueryOutput};
use aisec_ml::{tensor, MlError};
use serde::Serialize;

use super::{ExtractionTask, CHUNK};
use crate::Result;

/// Per-feature bounds for random queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputBox {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
}

impl InputBox {
    pub fn of(data: &Dataset) -> InputBox {
        let f = data.features();
        if let Some(InputRange { lo, hi }) = data.input_range {
            return InputBox {
                lo: vec![lo; f],
                hi: vec![hi; f],
            };
        }
        let mut lo = vec![f32::INFINITY; f];
        let mut hi = vec![f32::NEG_INFINITY; f];
        for row in data.x.chunks(f) {
            for (j, v) in row.iter().enumerate() {
                lo[j] = lo[j].min(*v);
                hi[j] = hi[j].max(*v);
            }
        }
        InputBox { lo, hi }
    }

    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<f32> {
        let mut out = Vec::with_capacity(n * self.lo.len());
        for _ in 0..n {
            for (lo, hi) in self.lo.iter().zip(&self.hi) {
                out.push(rng.uniform(*lo, *hi));
            }
        }
        out
    }

    pub fn clip(&self, x: &mut [f32]) {
        let f = self.lo.len();
        for row in x.chunks_mut(f) {
            for (j, v) in row.iter_mut().enumerate() {
                *v = v.clamp(self.lo[j], self.hi[j]);
            }
        }
    }
}

/// The victim's answers to a batch of queries.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// Rows answered (fewer than asked when a budget ran out).
    pub rows: usize,
    /// A probability row per input: the scores when revealed, top-k mass with the rest
    /// spread evenly, or one-hot labels.
    pub targets: Vec<f32>,
    pub labels: Vec<usize>,
    /// The raw probabilities, when the API reveals full scores.
    pub probabilities: Option<Vec<f32>>,
}

/// The adversary's side of the API: counted, budgeted queries.
pub struct Oracle<'a> {
    victim: &'a dyn Classifier,
    classes: usize,
    features: usize,
    budget: u64,
    pub used: u64,
    /// Set when the attack's or the target's budget stopped a query.
    pub exhausted: bool,
    /// Set when the API refused a query (a server's limit, a monitor blocking the client).
    pub refused: bool,
}

impl<'a> Oracle<'a> {
    pub fn new(task: &ExtractionTask<'a>) -> Self {
        Oracle::over(task.victim, task.budget)
    }

    /// Queries to `victim`, at most `budget` of them (other attack families use the same
    /// counted path as extraction).
    pub fn over(victim: &'a dyn Classifier, budget: u64) -> Self {
        Oracle {
            victim,
            classes: victim.info().num_classes,
            features: victim.info().features(),
            budget,
            used: 0,
            exhausted: false,
            refused: false,
        }
    }

    /// Why the attack stopped before it finished, if it did.
    pub fn stop_reason(&self, budget: u64) -> Option<String> {
        if self.refused {
            Some(format!(
                "the API refused further queries after {} (a server limit or a monitor blocking this client)",
                self.used
            ))
        } else if self.exhausted {
            Some(format!(
                "the adversary's budget of {budget} queries was spent"
            ))
        } else {
            None
        }
    }

    pub fn remaining(&self) -> u64 {
        if self.exhausted {
            0
        } else {
            self.budget.saturating_sub(self.used)
        }
    }

    /// Whether the API reveals full scores.
    pub fn reveals_scores(&self) -> bool {
        matches!(
            self.victim.output_kind(),
            OutputKind::Probabilities | OutputKind::Logits
        )
    }

    pub fn output_kind(&self) -> OutputKind {
        self.victim.output_kind()
    }

    /// Asks about the rows of `x`, as many as the budget allows.
    pub fn ask(&mut self, x: &[f32]) -> Result<Answers> {
        let wanted = x.len() / self.features;
        let n = wanted.min(self.remaining() as usize);
        if n < wanted {
            self.exhausted = true;
        }
        let mut answers = Answers::default();
        let mut probabilities = Vec::new();
        let mut all_scores = true;
        for chunk in x[..n * self.features].chunks(CHUNK * self.features) {
            let rows = chunk.len() / self.features;
            let out = match self.victim.query(chunk) {
                Ok(out) => out,
                Err(MlError::BudgetExhausted { .. }) => {
                    self.exhausted = true;
                    self.refused = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            self.used += rows as u64;
            answers.rows += rows;
            answers.labels.extend(out.labels(self.classes));
            match &out {
                QueryOutput::Probabilities(p) => probabilities.extend_from_slice(p),
                QueryOutput::Logits(l) => {
                    probabilities.extend(tensor::softmax_rows(l, self.classes))
                }
                _ => all_scores = false,
            }
            answers.targets.extend(targets(&out, self.classes));
        }
        if all_scores && answers.rows > 0 {
            answers.probabilities = Some(probabilities);
        }
        Ok(answers)
    }
}

/// Training targets from an API answer.
pub fn targets(out: &QueryOutput, classes: usize) -> Vec<f32> {
    match out {
        QueryOutput::Probabilities(p) => p
            .chunks(classes)
            .flat_map(|row| normalised(row, classes))
            .collect(),
        QueryOutput::Logits(l) => tensor::softmax_rows(l, classes),
        QueryOutput::TopK(rows) => rows
            .iter()
            .flat_map(|top| {
                let mut row = vec![0.0f32; classes];
                let mut mass = 0.0;
                for (c, p) in top {
                    if *c < classes {
                        row[*c] = p.max(0.0);
                        mass += p.max(0.0);
                    }
                }
                let rest = classes.saturating_sub(top.len());
                if rest > 0 && mass < 1.0 {
                    let share = (1.0 - mass) / rest as f32;
                    let named: Vec<usize> = top.iter().map(|(c, _)| *c).collect();
                    for (c, v) in row.iter_mut().enumerate() {
                        if !named.contains(&c) {
                            *v = share;
                        }
                    }
                }
                normalised(&row, classes)
            })
            .collect(),
        QueryOutput::Labels(labels) => labels
            .iter()
            .flat_map(|&l| {
                let mut row = vec![0.0f32; classes];
                if l < classes {
                    row[l] = 1.0;
                }
                row
            })
            .collect(),
    }
}

/// A probability row that sums to one (rounded or bent scores need not).
fn normalised(row: &[f32], classes: usize) -> Vec<f32> {
    let clean: Vec<f32> = row
        .iter()
        .map(|v| if v.is_finite() { v.max(0.0) } else { 0.0 })
        .collect();
    let sum: f32 = clean.iter().sum();
    if sum <= 0.0 {
        return vec![1.0 / classes as f32; classes];
    }
    clean.iter().map(|v| v / sum).collect()
}
