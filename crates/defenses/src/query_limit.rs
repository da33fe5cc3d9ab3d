//! Query monitoring: a per-client query budget that any target can wear. Past the budget the
//! API refuses to answer, so query-hungry attacks (score- and decision-based) stop with what
//! they had found; attacks that succeed within the budget are not stopped at all, and a
//! white-box adversary (or one who rotates clients) is not affected — the measurement says
//! which of these happened.
//!
//! ATLAS: AML.M0004 Restrict Number of AI Model Queries, lifecycle phases Business and Data
//! Understanding, Deployment, and Monitoring and Maintenance.

use std::sync::Arc;

use aisec_ml::model::{rows, Classifier, ModelInfo, OutputKind, QueryBudget, QueryOutput};
use aisec_ml::MlError;

pub const MITIGATIONS: &[&str] = &["AML.M0004"];
pub const PHASES: &[&str] = &[
    "Business and Data Understanding",
    "Deployment",
    "Monitoring and Maintenance",
];

pub struct QueryLimit {
    inner: Arc<dyn Classifier>,
    limit: QueryBudget,
    info: ModelInfo,
}

impl QueryLimit {
    pub fn new(inner: Arc<dyn Classifier>, max_queries: u64) -> Self {
        let mut info = inner.info().clone();
        info.description = format!("{} behind a {max_queries}-query budget", info.description);
        QueryLimit {
            inner,
            limit: QueryBudget::new(Some(max_queries)),
            info,
        }
    }

    /// Queries the client spent.
    pub fn used(&self) -> u64 {
        self.limit.used()
    }
}

impl Classifier for QueryLimit {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn output_kind(&self) -> OutputKind {
        self.inner.output_kind()
    }

    fn query(&self, x: &[f32]) -> Result<QueryOutput, MlError> {
        let n = rows(x, self.info.features())?;
        self.limit.charge(n as u64)?;
        self.inner.query(x)
    }

    fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>, MlError> {
        self.inner.evaluate(x)
    }

    fn budget(&self) -> &QueryBudget {
        &self.limit
    }
}
