//! PRADA (Juuti et al. 2019, "PRADA: Protecting against DNN Model Stealing Attacks"): a
//! stateful monitor of each client's query stream. For every query it finds the smallest L2
//! distance to the client's earlier queries that the model put in the same class (the
//! class's "growing set"); natural inputs give distances that look normally distributed,
//! while the synthetic queries of an extraction (small steps from earlier queries, as
//! Jacobian augmentation makes) give a spike of near-identical distances. Once a client has
//! `min_distances` distances, a Shapiro–Wilk W below `delta` raises the alert.
//!
//! The monitor wraps any query-access model, a remote one included; in `block` mode it
//! refuses a client's queries after the alert, otherwise it only records it (telemetry).
//!
//! ATLAS: AML.M0004 Restrict Number of AI Model Queries, AML.M0024 AI Telemetry Logging;
//! lifecycle phase Monitoring and Maintenance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aisec_ml::model::{rows, Classifier, ModelInfo, QueryOutput};
use aisec_ml::MlError;
use serde::{Deserialize, Serialize};

use crate::query_limit::LOCAL_CLIENT;
use crate::shapiro::shapiro_wilk;

use crate::defense::{Role, Action, AppliesTo, DefenseInfo, Family};
use crate::guard::{Guarded, Watcher};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.prada",
    summary: "PRADA: per client, the minimum distances between successive queries of a class; a Shapiro–Wilk test flags streams that stop looking natural (Juuti et al. 2019)",
    mitigations: &["AML.M0004", "AML.M0024"],
    phases: &["Monitoring and Maintenance"],
    applies_to: AppliesTo::QueryStream,
    action: Action::Watch,
    role: Role::QueryPath,
    families: &[Family::Extraction],
    measured_by: &["extract.jacobian", "extract.knockoff"],
    adaptive_attack: Some("extract.knockoff: natural inputs from a public pool, whose distances look benign"),
    forms: &["prada", "prada:DELTA", "prada-block"],
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PradaConfig {
    /// Alert when the Shapiro–Wilk W of the distances falls below this. The default, 0.95,
    /// raises no alert on benign digits traffic (the whole dataset in random order: lowest
    /// W 0.969; 5,000 natural variations of the training split: 0.960); calibrate it on
    /// your own benign traffic.
    pub delta: f64,
    /// Distances needed before the test runs (the paper starts at about 100).
    pub min_distances: usize,
    /// Refuse the client's queries after the alert instead of only recording it.
    pub block: bool,
}

impl Default for PradaConfig {
    fn default() -> Self {
        PradaConfig {
            delta: 0.95,
            min_distances: 100,
            block: false,
        }
    }
}

/// What the monitor saw of one client.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PradaStats {
    pub queries: u64,
    /// The 1-based index of the query that raised the alert: the detection delay.
    pub alert_at_query: Option<u64>,
    pub distances: usize,
    /// The lowest W seen once the test ran, and the last one.
    pub w_min: Option<f64>,
    pub w_last: Option<f64>,
    pub refused: u64,
}

#[derive(Default)]
struct ClientState {
    /// Per class: the growing set's inputs (flattened) and the distances that admitted them.
    growing: HashMap<usize, (Vec<f32>, Vec<f64>)>,
    distances: Vec<f64>,
    stats: PradaStats,
}

impl ClientState {
    /// Records one query; true when it raised the alert.
    fn observe(&mut self, x: &[f32], class: usize, config: &PradaConfig) -> bool {
        self.stats.queries += 1;
        let features = x.len();
        let (set, admitted) = self.growing.entry(class).or_default();
        if set.is_empty() {
            set.extend_from_slice(x);
            return false;
        }
        let d_min = set
            .chunks(features)
            .map(|g| {
                g.iter()
                    .zip(x)
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min)
            .sqrt();
        self.distances.push(d_min);
        let threshold = if admitted.is_empty() {
            0.0
        } else {
            let n = admitted.len() as f64;
            let mean = admitted.iter().sum::<f64>() / n;
            let var = admitted.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n;
            mean - var.sqrt()
        };
        if d_min > threshold {
            set.extend_from_slice(x);
            admitted.push(d_min);
        }
        self.stats.distances = self.distances.len();
        if self.distances.len() >= config.min_distances {
            if let Some((w, _)) = shapiro_wilk(&without_outliers(&self.distances)) {
                self.stats.w_last = Some(w);
                self.stats.w_min = Some(self.stats.w_min.map_or(w, |m: f64| m.min(w)));
                if w < config.delta && self.stats.alert_at_query.is_none() {
                    self.stats.alert_at_query = Some(self.stats.queries);
                    return true;
                }
            }
        }
        false
    }
}

/// The distances within three standard deviations of their mean: PRADA drops the rare
/// extreme ones (a benign user's near-duplicate) before testing the shape of the rest.
fn without_outliers(distances: &[f64]) -> Vec<f64> {
    let n = distances.len() as f64;
    let mean = distances.iter().sum::<f64>() / n;
    let std = (distances.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
    distances
        .iter()
        .copied()
        .filter(|d| (d - mean).abs() <= 3.0 * std)
        .collect()
}

pub struct Prada {
    inner: Arc<dyn Classifier>,
    config: PradaConfig,
    info: ModelInfo,
    clients: Mutex<HashMap<String, ClientState>>,
}

impl Prada {
    pub fn new(inner: Arc<dyn Classifier>, config: PradaConfig) -> Self {
        let mut info = inner.info().clone();
        info.description = format!("{} watched by PRADA", info.description);
        Prada {
            inner,
            config,
            info,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &PradaConfig {
        &self.config
    }

    pub fn client_stats(&self, client: &str) -> PradaStats {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(client)
            .map(|c| c.stats.clone())
            .unwrap_or_default()
    }

    /// Forgets every client (a new monitoring period).
    pub fn reset(&self) {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Classifier for Prada {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    crate::guard::forward_to_inner!(output_kind, evaluate, scores, budget);

    fn query(&self, x: &[f32]) -> Result<QueryOutput, MlError> {
        self.query_as(LOCAL_CLIENT, x)
    }

    fn query_as(&self, client: &str, x: &[f32]) -> Result<QueryOutput, MlError> {
        let features = self.info.features();
        let n = rows(x, features)?;
        if self.config.block {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            let state = clients.entry(client.to_string()).or_default();
            if state.stats.alert_at_query.is_some() {
                state.stats.refused += n as u64;
                return Err(MlError::BudgetExhausted {
                    used: state.stats.queries,
                    max: state.stats.queries,
                });
            }
        }
        let out = self.inner.query_as(client, x)?;
        let labels = out.labels(self.info.num_classes);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let state = clients.entry(client.to_string()).or_default();
        for (row, label) in x.chunks(features).zip(labels) {
            if state.observe(row, label, &self.config) {
                tracing::warn!(
                    client,
                    queries = state.stats.queries,
                    w = state.stats.w_last,
                    "PRADA: this client's query stream looks like a model extraction"
                );
            }
        }
        Ok(out)
    }
}

/// `prada`, `prada:DELTA` (the Shapiro–Wilk threshold, in (0, 1)) or `prada-block` (refuse
/// the client's queries after the alert).
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    let config = match (keyword, argument) {
        ("prada", None) => Ok(PradaConfig::default()),
        ("prada-block", None) => Ok(PradaConfig {
            block: true,
            ..PradaConfig::default()
        }),
        ("prada", argument) => {
            crate::registry::number(argument, "DELTA in (0, 1)", |d: &f64| *d > 0.0 && *d < 1.0)
                .map(|delta| PradaConfig {
                    delta,
                    ..PradaConfig::default()
                })
        }
        ("prada-block", Some(a)) => Err(format!("it takes no argument (found `:{a}`)")),
        _ => return None,
    };
    Some(config.map(DefenseSpec::new))
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(PradaConfig, {
    fn guard(&self, model: Arc<dyn Classifier>, _seed: u64) -> Option<Guarded> {
        Some(Guarded::watched(Arc::new(Prada::new(model, *self))))
    }
});

impl Watcher for Prada {
    fn observed(&self) -> Option<aisec_core::Details> {
        Some(aisec_core::Details::new(self.client_stats(LOCAL_CLIENT)))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisec_core::rng::Rng;

    fn observe_all(points: &[Vec<f32>], class_of: impl Fn(usize) -> usize) -> PradaStats {
        let mut state = ClientState::default();
        for (i, p) in points.iter().enumerate() {
            state.observe(p, class_of(i), &PradaConfig::default());
        }
        state.stats
    }

    #[test]
    fn natural_gaussian_queries_raise_no_alert() {
        let mut rng = Rng::new(3);
        let points: Vec<Vec<f32>> = (0..1500)
            .map(|_| (0..16).map(|_| rng.normal()).collect())
            .collect();
        let stats = observe_all(&points, |i| i % 3);
        assert_eq!(stats.alert_at_query, None, "{stats:?}");
        assert!(stats.w_min.unwrap() > 0.95, "{stats:?}");
    }

    #[test]
    fn small_fixed_steps_from_earlier_queries_raise_the_alert() {
        let mut rng = Rng::new(4);
        let mut points: Vec<Vec<f32>> = (0..60)
            .map(|_| (0..16).map(|_| rng.normal()).collect())
            .collect();
        // Jacobian-style augmentation: every earlier point moved by ±0.1 on each feature.
        for _ in 0..2 {
            let new: Vec<Vec<f32>> = points
                .iter()
                .map(|p| {
                    p.iter()
                        .map(|v| v + if rng.next_f32() < 0.5 { 0.1 } else { -0.1 })
                        .collect()
                })
                .collect();
            points.extend(new);
        }
        let stats = observe_all(&points, |i| i % 3);
        let at = stats.alert_at_query.expect("alert");
        assert!(at <= 240, "{stats:?}");
    }
}
