//! What an attacker can do with a model: query it (black box), and, for white-box targets,
//! differentiate through it.
//!
//! - [`Classifier`]: query access. Inputs in, probabilities / logits / top-k / label out.
//!   Every adversary query is counted against a [`QueryBudget`].
//! - [`Differentiable`]: gradient access, as logits of a burn tensor on the autodiff device.
//! - [`Restricted`]: wraps any classifier to take gradient access away or reduce its output
//!   to top-k or label only, to play a weaker adversary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::InputRange;
use crate::error::{MlError, Result};
use crate::tensor;

/// What a model under test is: its input shape, classes and valid input range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Human-readable description, e.g. `cnn (aisec safetensors)` or `onnx model.onnx`.
    pub description: String,
    pub input_shape: Vec<usize>,
    pub num_classes: usize,
    pub input_range: Option<InputRange>,
}

impl ModelInfo {
    pub fn features(&self) -> usize {
        self.input_shape.iter().product()
    }
}

/// How much a query reveals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "k")]
pub enum OutputKind {
    Probabilities,
    Logits,
    TopK(usize),
    Label,
}

/// The answer to a batch of queries, one row per input.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryOutput {
    /// `[n, classes]` row-major.
    Probabilities(Vec<f32>),
    /// `[n, classes]` row-major.
    Logits(Vec<f32>),
    /// Per input, the best `k` classes with their probabilities, best first.
    TopK(Vec<Vec<(usize, f32)>>),
    Labels(Vec<usize>),
}

impl QueryOutput {
    /// The predicted label of each input.
    pub fn labels(&self, classes: usize) -> Vec<usize> {
        match self {
            QueryOutput::Probabilities(p) | QueryOutput::Logits(p) => {
                tensor::argmax_rows(p, classes)
            }
            QueryOutput::TopK(rows) => rows
                .iter()
                .map(|r| r.first().map_or(0, |(c, _)| *c))
                .collect(),
            QueryOutput::Labels(l) => l.clone(),
        }
    }

    /// Reduces full scores to what `kind` reveals.
    pub fn restrict(self, kind: OutputKind, classes: usize) -> QueryOutput {
        let probs = match (&self, kind) {
            (_, OutputKind::Label) => return QueryOutput::Labels(self.labels(classes)),
            (QueryOutput::Logits(l), OutputKind::Probabilities | OutputKind::TopK(_)) => {
                tensor::softmax_rows(l, classes)
            }
            (QueryOutput::Probabilities(p), OutputKind::Probabilities | OutputKind::TopK(_)) => {
                p.clone()
            }
            _ => return self,
        };
        match kind {
            OutputKind::TopK(k) => QueryOutput::TopK(
                probs
                    .chunks(classes)
                    .map(|row| {
                        let mut ranked: Vec<(usize, f32)> =
                            row.iter().copied().enumerate().collect();
                        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                        ranked.truncate(k.max(1));
                        ranked
                    })
                    .collect(),
            ),
            _ => QueryOutput::Probabilities(probs),
        }
    }
}

/// Counts queries and refuses them past the limit.
#[derive(Debug, Default)]
pub struct QueryBudget {
    used: AtomicU64,
    max: Option<u64>,
}

impl QueryBudget {
    pub fn new(max: Option<u64>) -> Self {
        QueryBudget {
            used: AtomicU64::new(0),
            max,
        }
    }

    /// Spends `n` queries, or fails without spending any when that would pass the limit.
    pub fn charge(&self, n: u64) -> Result<()> {
        let mut current = self.used.load(Ordering::Relaxed);
        loop {
            let next = current + n;
            if let Some(max) = self.max {
                if next > max {
                    return Err(MlError::BudgetExhausted { used: current, max });
                }
            }
            match self
                .used
                .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> Option<u64> {
        self.max
    }

    /// Gives back `n` queries charged for work that was then refused.
    pub fn refund(&self, n: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(n))
            });
    }

    pub fn reset(&self) {
        self.used.store(0, Ordering::Relaxed);
    }
}

/// Query access to a classifier.
pub trait Classifier: Send + Sync {
    fn info(&self) -> &ModelInfo;

    fn output_kind(&self) -> OutputKind;

    /// The adversary's queries: one per input row, counted against [`Classifier::budget`].
    fn query(&self, x: &[f32]) -> Result<QueryOutput>;

    /// A query on behalf of a named client (a served API passes the caller's address), so
    /// that per-client defences can tell clients apart. Plain models ignore the name.
    fn query_as(&self, _client: &str, x: &[f32]) -> Result<QueryOutput> {
        self.query(x)
    }

    /// The assessor's view: labels for `x`, not charged to the adversary's budget.
    fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>>;

    /// The owner's view: the model's full scores for `x`, not charged to the adversary's
    /// budget (a deployed detector runs the model itself; its runs are not the adversary's
    /// queries). Wrappers that restrict the adversary forward this to the model they wrap.
    /// The default answers a query and gives its cost back.
    fn scores(&self, x: &[f32]) -> Result<QueryOutput> {
        let n = rows(x, self.info().features())?;
        let out = self.query(x)?;
        self.budget().refund(n as u64);
        Ok(out)
    }

    fn budget(&self) -> &QueryBudget;

    /// Gradient access, when the target offers it.
    fn gradients(&self) -> Option<&dyn Differentiable> {
        None
    }

    /// Whether queries from several threads at once are answered as they would be one after
    /// another: true for a model in this process; false (the default) for wrappers that
    /// watch the query stream (a detector, a rate limit) and for remote endpoints.
    fn concurrent_queries(&self) -> bool {
        false
    }
}

/// A model that runs in this process and offers its gradients (aisec's own networks, ONNX
/// files): its plain logits are all it has to provide; the query, evaluation and gradient
/// access of [`Classifier`] follow from them, counted against its budget.
pub trait LocalModel: Differentiable {
    fn model_info(&self) -> &ModelInfo;
    /// Logits for flattened inputs, `[n, classes]` row-major, without recording gradients.
    fn plain_logits(&self, x: &[f32]) -> Result<Vec<f32>>;
    fn query_budget(&self) -> &QueryBudget;
}

impl<T: LocalModel> Classifier for T {
    fn info(&self) -> &ModelInfo {
        self.model_info()
    }

    fn output_kind(&self) -> OutputKind {
        OutputKind::Probabilities
    }

    fn query(&self, x: &[f32]) -> Result<QueryOutput> {
        let n = rows(x, self.model_info().features())?;
        self.query_budget().charge(n as u64)?;
        self.scores(x)
    }

    fn scores(&self, x: &[f32]) -> Result<QueryOutput> {
        let logits = self.plain_logits(x)?;
        Ok(QueryOutput::Probabilities(tensor::softmax_rows(
            &logits,
            self.model_info().num_classes,
        )))
    }

    fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>> {
        Ok(tensor::argmax_rows(
            &self.plain_logits(x)?,
            self.model_info().num_classes,
        ))
    }

    fn budget(&self) -> &QueryBudget {
        self.query_budget()
    }

    fn gradients(&self) -> Option<&dyn Differentiable> {
        Some(self)
    }

    fn concurrent_queries(&self) -> bool {
        true
    }
}

/// Gradient access: logits that burn can differentiate with respect to the input.
pub trait Differentiable: Send + Sync {
    /// Logits for flattened inputs `[n, features]` on [`tensor::autodiff_device`].
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>>;

    /// How gradient passes through this model may share threads (default: the cautious
    /// [`GradientThreads::Shared`]).
    fn gradient_threads(&self) -> GradientThreads {
        GradientThreads::Shared
    }
}

/// What burn's autodiff graph allows a model's gradient passes. burn 0.22 merges the graphs
/// of tensors that meet in an operation under one global lock and can deadlock when two
/// threads run backward through the same *tracked* parameters; untracked weights never join
/// a graph, so passes through them are independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradientThreads {
    /// Weights are untracked and a pass touches no shared mutable state: an attack may run
    /// its batches on every core at once, without the process-wide lock.
    Concurrent,
    /// A network only the calling thread reaches (the one adversarial training is training,
    /// its weights tracked): no process-wide lock, but one batch at a time.
    Owned,
    /// Tracked weights other threads may use, or state shared between passes (a noise
    /// stream): one pass at a time in the whole process, under [`tensor::autodiff_guard`].
    Shared,
}

/// The process-wide autodiff lock when `model` needs it (see [`GradientThreads`]).
pub fn autodiff_guard_for(
    model: &dyn Differentiable,
) -> Option<std::sync::MutexGuard<'static, ()>> {
    (model.gradient_threads() == GradientThreads::Shared).then(crate::tensor::autodiff_guard)
}

/// Worker threads for work split into independent parts: `AISEC_THREADS` when set to a
/// positive number, else every core the process may use.
pub fn worker_threads() -> usize {
    std::env::var("AISEC_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Number of rows in `x` for a model taking `features` values per input.
pub fn rows(x: &[f32], features: usize) -> Result<usize> {
    if features == 0 || x.len() % features != 0 {
        return Err(MlError::Invalid(format!(
            "{} input values are not a whole number of inputs of {features} values",
            x.len()
        )));
    }
    Ok(x.len() / features)
}

/// `model` as an API that reveals `output`: the model itself when that is its probabilities,
/// otherwise behind [`Restricted`] (gradients withheld).
pub fn revealing(model: Arc<dyn Classifier>, output: OutputKind) -> Arc<dyn Classifier> {
    if output == OutputKind::Probabilities {
        model
    } else {
        Arc::new(Restricted::new(model, output, false))
    }
}

/// A classifier with less access than the one it wraps.
pub struct Restricted {
    inner: Arc<dyn Classifier>,
    output: OutputKind,
    gradients: bool,
    info: ModelInfo,
}

impl Restricted {
    pub fn new(inner: Arc<dyn Classifier>, output: OutputKind, keep_gradients: bool) -> Self {
        let mut info = inner.info().clone();
        let what = match output {
            OutputKind::Probabilities => "probabilities".to_string(),
            OutputKind::Logits => "logits".to_string(),
            OutputKind::TopK(k) => format!("top-{k}"),
            OutputKind::Label => "label only".to_string(),
        };
        info.description = format!(
            "{} ({what}{})",
            info.description,
            if keep_gradients { "" } else { ", no gradients" }
        );
        Restricted {
            inner,
            output,
            gradients: keep_gradients,
            info,
        }
    }
}

impl Classifier for Restricted {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn output_kind(&self) -> OutputKind {
        self.output
    }

    fn query(&self, x: &[f32]) -> Result<QueryOutput> {
        Ok(self
            .inner
            .query(x)?
            .restrict(self.output, self.info.num_classes))
    }

    fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>> {
        self.inner.evaluate(x)
    }

    fn scores(&self, x: &[f32]) -> Result<QueryOutput> {
        self.inner.scores(x)
    }

    fn budget(&self) -> &QueryBudget {
        self.inner.budget()
    }

    fn gradients(&self) -> Option<&dyn Differentiable> {
        if self.gradients {
            self.inner.gradients()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_past_the_limit_without_spending() {
        let b = QueryBudget::new(Some(10));
        b.charge(6).unwrap();
        assert!(matches!(
            b.charge(5),
            Err(MlError::BudgetExhausted { used: 6, max: 10 })
        ));
        assert_eq!(b.used(), 6);
        b.charge(4).unwrap();
        assert_eq!(b.used(), 10);
    }

    #[test]
    fn restricting_outputs() {
        let logits = QueryOutput::Logits(vec![1.0, 3.0, 2.0, 0.0, 0.0, 5.0]);
        assert_eq!(logits.labels(3), vec![1, 2]);
        match logits.clone().restrict(OutputKind::TopK(2), 3) {
            QueryOutput::TopK(rows) => {
                assert_eq!(
                    rows[0].iter().map(|(c, _)| *c).collect::<Vec<_>>(),
                    vec![1, 2]
                );
                assert!(rows[0][0].1 > rows[0][1].1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            logits.clone().restrict(OutputKind::Label, 3),
            QueryOutput::Labels(vec![1, 2])
        );
        match logits.restrict(OutputKind::Probabilities, 3) {
            QueryOutput::Probabilities(p) => {
                assert!((p[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6)
            }
            other => panic!("{other:?}"),
        }
    }
}
