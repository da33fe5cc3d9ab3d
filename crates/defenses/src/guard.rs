//! Query-path defences put in front of a target: the one way every command and the demo
//! wrap a model before attacking it again. Each defence builds its own [`Guarded`] in
//! [`crate::Defense::guard`].

use std::any::Any;
use std::sync::Arc;

use aisec_ml::model::Classifier;

/// The [`Classifier`] methods a query-path defence passes to the model it wraps
/// (`self.inner`) unchanged: the defender's own evaluation and scoring are not queries.
macro_rules! forward_to_inner {
    ($($method:ident),* $(,)?) => {
        $($crate::guard::forward_to_inner!(@one $method);)*
    };
    (@one output_kind) => {
        fn output_kind(&self) -> aisec_ml::model::OutputKind {
            self.inner.output_kind()
        }
    };
    (@one evaluate) => {
        fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>, aisec_ml::MlError> {
            self.inner.evaluate(x)
        }
    };
    (@one scores) => {
        fn scores(&self, x: &[f32]) -> Result<aisec_ml::model::QueryOutput, aisec_ml::MlError> {
            self.inner.scores(x)
        }
    };
    (@one budget) => {
        fn budget(&self) -> &aisec_ml::model::QueryBudget {
            self.inner.budget()
        }
    };
}
pub(crate) use forward_to_inner;

/// A monitor on the query path whose view of the attacker's stream the report shows.
pub trait Watcher: Send + Sync + 'static {
    /// What it saw (refusals, waits, alerts), as the report's `observed` object.
    fn observed(&self) -> Option<aisec_core::Details>;

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// A target behind a defence, and the monitor to read after the attack when it watches.
pub struct Guarded {
    pub model: Arc<dyn Classifier>,
    watcher: Option<Arc<dyn Watcher>>,
}

impl Guarded {
    /// A defence that changes what passes and keeps no record of the stream.
    pub fn plain(model: Arc<dyn Classifier>) -> Guarded {
        Guarded {
            model,
            watcher: None,
        }
    }

    /// A defence that is its own monitor.
    pub fn watched<W: Watcher + Classifier>(defended: Arc<W>) -> Guarded {
        Guarded {
            model: defended.clone(),
            watcher: Some(defended),
        }
    }

    /// What the monitor saw of the attacker's stream.
    pub fn observed(&self) -> Option<aisec_core::Details> {
        self.watcher.as_ref().and_then(|w| w.observed())
    }

    /// The monitor as its own type (e.g. PRADA, for the assessment's benign-stream check).
    pub fn watcher<W: Watcher>(&self) -> Option<Arc<W>> {
        self.watcher.clone()?.into_any().downcast().ok()
    }
}
