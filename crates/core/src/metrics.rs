use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The metric keys shared across the project (see DESIGN.md). A new metric gets a new key
/// here rather than a synonym of an old one, so that reports stay comparable.
pub const METRIC_KEYS: &[&str] = &[
    "clean_accuracy",
    "robust_accuracy",
    "attack_success_rate",
    "mean_linf",
    "mean_l2",
    "median_l2",
    "queries_mean",
    "queries_total",
    "fidelity",
    "fidelity_uniform",
    "substitute_accuracy",
    "poison_count",
    "auc",
    "tpr_at_0_1pct_fpr",
    "tpr_at_1pct_fpr",
    "detection_precision",
    "detection_recall",
    "false_positive_rate",
    "detection_delay_queries",
    "epsilon_dp",
    "wall_seconds",
];

/// Keys whose values are fractions and must lie in [0, 1].
const FRACTION_KEYS: &[&str] = &[
    "clean_accuracy",
    "robust_accuracy",
    "attack_success_rate",
    "fidelity",
    "fidelity_uniform",
    "substitute_accuracy",
    "auc",
    "tpr_at_0_1pct_fpr",
    "tpr_at_1pct_fpr",
    "detection_precision",
    "detection_recall",
    "false_positive_rate",
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    #[error("unknown metric key `{0}`: add it to METRIC_KEYS in aisec-core rather than inventing a synonym")]
    UnknownKey(String),
    #[error("metric `{key}` = {value} is not a finite number")]
    NotFinite { key: String, value: f64 },
    #[error("metric `{key}` = {value} is a fraction and must lie in [0, 1]")]
    OutOfRange { key: String, value: f64 },
}

/// Named measurements of one run, restricted to the shared keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metrics(BTreeMap<String, f64>);

impl Metrics {
    pub fn insert(&mut self, key: &str, value: f64) -> Result<(), MetricError> {
        if !METRIC_KEYS.contains(&key) {
            return Err(MetricError::UnknownKey(key.to_string()));
        }
        if !value.is_finite() {
            return Err(MetricError::NotFinite {
                key: key.to_string(),
                value,
            });
        }
        if FRACTION_KEYS.contains(&key) && !(0.0..=1.0).contains(&value) {
            return Err(MetricError::OutOfRange {
                key: key.to_string(),
                value,
            });
        }
        self.0.insert(key.to_string(), value);
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.get(key).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_shared_keys_only() {
        let mut m = Metrics::default();
        m.insert("robust_accuracy", 0.03).unwrap();
        m.insert("queries_total", 12_000.0).unwrap();
        assert_eq!(m.get("robust_accuracy"), Some(0.03));
        assert!(matches!(
            m.insert("robustness", 0.5),
            Err(MetricError::UnknownKey(_))
        ));
    }

    #[test]
    fn rejects_bad_values() {
        let mut m = Metrics::default();
        assert!(matches!(
            m.insert("auc", 1.2),
            Err(MetricError::OutOfRange { .. })
        ));
        assert!(matches!(
            m.insert("mean_l2", f64::NAN),
            Err(MetricError::NotFinite { .. })
        ));
        assert!(m.is_empty());
    }
}
