//! Query-path defences put in front of a target: the one way every command and the demo
//! wrap a model before attacking it again.

use std::sync::Arc;

use aisec_ml::model::Classifier;

use crate::output_hardening::HardenedOutputs;
use crate::prada::Prada;
use crate::query_limit::{Clock, QueryLimit, LOCAL_CLIENT};
use crate::registry::DefenseSpec;
use crate::smoothing::{AttackerView, Smoothed};

/// A target behind a defence, and the monitor to read after the attack when it watches.
pub struct Guarded {
    pub model: Arc<dyn Classifier>,
    watcher: Option<Watcher>,
}

enum Watcher {
    Limit(Arc<QueryLimit>),
    Prada(Arc<Prada>),
}

impl Guarded {
    /// What the monitor saw of the attacker's stream (refusals, waits, alerts).
    pub fn observed(&self) -> Option<serde_json::Value> {
        match &self.watcher {
            Some(Watcher::Limit(l)) => serde_json::to_value(l.client_stats(LOCAL_CLIENT)).ok(),
            Some(Watcher::Prada(p)) => serde_json::to_value(p.client_stats(LOCAL_CLIENT)).ok(),
            None => None,
        }
    }

    /// The PRADA monitor, for the assessment's benign-stream check.
    pub fn prada(&self) -> Option<&Arc<Prada>> {
        match &self.watcher {
            Some(Watcher::Prada(p)) => Some(p),
            _ => None,
        }
    }
}

impl DefenseSpec {
    /// `model` behind this defence, for defences on the query path (`None` for those that
    /// retrain or inspect data or are measured by detection).
    pub fn guard(&self, model: Arc<dyn Classifier>, seed: u64) -> Option<Guarded> {
        self.guard_as(model, seed, AttackerView::BaseModel)
    }

    /// The target the adaptive attack meets, when the defence has one on the query path.
    pub fn adaptive_guard(&self, model: Arc<dyn Classifier>, seed: u64) -> Option<Guarded> {
        match self {
            DefenseSpec::Smoothing(_) => {
                self.guard_as(model, seed, AttackerView::ExpectationOverNoise)
            }
            _ => None,
        }
    }

    fn guard_as(
        &self,
        model: Arc<dyn Classifier>,
        seed: u64,
        view: AttackerView,
    ) -> Option<Guarded> {
        let plain = |model: Arc<dyn Classifier>| Guarded {
            model,
            watcher: None,
        };
        Some(match self {
            DefenseSpec::Harden(mode) => plain(Arc::new(HardenedOutputs::new(model, *mode))),
            DefenseSpec::Smoothing(config) => {
                plain(Arc::new(Smoothed::new(model, *config, view, seed)))
            }
            DefenseSpec::QueryLimit(limit) => {
                // Attacks in this process run on the virtual clock: waits are measured,
                // not slept.
                let l = Arc::new(QueryLimit::with_policy(
                    model,
                    limit.policy(),
                    Clock::virtual_clock(),
                ));
                Guarded {
                    model: l.clone(),
                    watcher: Some(Watcher::Limit(l)),
                }
            }
            DefenseSpec::Prada(config) => {
                let p = Arc::new(Prada::new(model, *config));
                Guarded {
                    model: p.clone(),
                    watcher: Some(Watcher::Prada(p)),
                }
            }
            DefenseSpec::Squeeze(_)
            | DefenseSpec::Spectral(_)
            | DefenseSpec::ActivationClustering(_)
            | DefenseSpec::Strip(_) => return None,
        })
    }
}
