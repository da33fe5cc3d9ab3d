use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Declares the shared metrics: the variant, the key reports spell, and whether the value
/// is a fraction in [0, 1].
macro_rules! metrics {
    ($($variant:ident = $key:literal, $fraction:literal;)*) => {
        /// The metric keys shared across the project (see DESIGN.md). A new metric gets a
        /// new variant here rather than a synonym of an old one, so that reports stay
        /// comparable.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum Metric {
            $($variant,)*
        }

        impl Metric {
            pub const ALL: &[Metric] = &[$(Metric::$variant,)*];

            /// The key, as JSON reports spell it.
            pub fn key(self) -> &'static str {
                match self {
                    $(Metric::$variant => $key,)*
                }
            }

            /// Fractions must lie in [0, 1].
            pub fn is_fraction(self) -> bool {
                match self {
                    $(Metric::$variant => $fraction,)*
                }
            }
        }
    };
}

metrics! {
    CleanAccuracy = "clean_accuracy", true;
    RobustAccuracy = "robust_accuracy", true;
    AttackSuccessRate = "attack_success_rate", true;
    MeanLinf = "mean_linf", false;
    MeanL2 = "mean_l2", false;
    MedianL2 = "median_l2", false;
    QueriesMean = "queries_mean", false;
    QueriesTotal = "queries_total", false;
    Fidelity = "fidelity", true;
    FidelityUniform = "fidelity_uniform", true;
    SubstituteAccuracy = "substitute_accuracy", true;
    PoisonCount = "poison_count", false;
    Auc = "auc", true;
    TprAt0_1PctFpr = "tpr_at_0_1pct_fpr", true;
    TprAt1PctFpr = "tpr_at_1pct_fpr", true;
    BalancedAccuracy = "balanced_accuracy", true;
    DetectionPrecision = "detection_precision", true;
    DetectionRecall = "detection_recall", true;
    FalsePositiveRate = "false_positive_rate", true;
    F1 = "f1", true;
    DetectionDelayQueries = "detection_delay_queries", false;
    EpsilonDp = "epsilon_dp", false;
    WallSeconds = "wall_seconds", false;
    AttackSeconds = "attack_seconds", false;
    CertifiedAccuracy = "certified_accuracy", true;
    AbstainRate = "abstain_rate", true;
    MeanCertifiedRadius = "mean_certified_radius", false;
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl std::str::FromStr for Metric {
    type Err = MetricError;

    fn from_str(key: &str) -> Result<Metric, MetricError> {
        Metric::ALL
            .iter()
            .copied()
            .find(|m| m.key() == key)
            .ok_or_else(|| MetricError::UnknownKey(key.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    #[error("unknown metric key `{0}`: add it to `Metric` in aisec-core rather than inventing a synonym")]
    UnknownKey(String),
    #[error("metric `{key}` = {value} is not a finite number")]
    NotFinite { key: String, value: f64 },
    #[error("metric `{key}` = {value} is a fraction and must lie in [0, 1]")]
    OutOfRange { key: String, value: f64 },
}

/// Named measurements of one run, restricted to the shared keys (kept in key order, as
/// JSON shows them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Metrics(BTreeMap<String, f64>);

/// A report read back is checked as one being written: unknown keys and bad values fail.
impl<'de> Deserialize<'de> for Metrics {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Metrics, D::Error> {
        let raw = BTreeMap::<String, f64>::deserialize(deserializer)?;
        let mut metrics = Metrics::default();
        for (key, value) in raw {
            let metric: Metric = key.parse().map_err(serde::de::Error::custom)?;
            metrics
                .insert(metric, value)
                .map_err(serde::de::Error::custom)?;
        }
        Ok(metrics)
    }
}

impl Metrics {
    pub fn insert(&mut self, metric: Metric, value: f64) -> Result<(), MetricError> {
        let key = metric.key();
        if !value.is_finite() {
            return Err(MetricError::NotFinite {
                key: key.to_string(),
                value,
            });
        }
        if metric.is_fraction() && !(0.0..=1.0).contains(&value) {
            return Err(MetricError::OutOfRange {
                key: key.to_string(),
                value,
            });
        }
        self.0.insert(key.to_string(), value);
        Ok(())
    }

    pub fn get(&self, metric: Metric) -> Option<f64> {
        self.0.get(metric.key()).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A fraction as a percentage with one decimal (`"37.5%"`), or `"not measured"` when the
    /// run did not record it: a missing figure is never shown as 0%.
    pub fn pct(&self, metric: Metric) -> String {
        pct(self.get(metric))
    }

    /// A figure with `decimals` decimals, or `"not measured"`.
    pub fn fixed(&self, metric: Metric, decimals: usize) -> String {
        fixed(self.get(metric), decimals)
    }

    /// Each metric and its value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (Metric, f64)> + '_ {
        self.0
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, *v)))
    }
}

/// The words shown for a figure a run did not record.
pub const NOT_MEASURED: &str = "not measured";

/// An optional fraction as a percentage with one decimal, or [`NOT_MEASURED`].
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(
        || NOT_MEASURED.to_string(),
        |v| format!("{:.1}%", 100.0 * v),
    )
}

/// An optional figure with `decimals` decimals, or [`NOT_MEASURED`].
pub fn fixed(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| NOT_MEASURED.to_string(), |v| format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_figure_is_not_measured_never_zero() {
        let mut m = Metrics::default();
        m.insert(Metric::Auc, 0.0).unwrap();
        assert_eq!(m.pct(Metric::Auc), "0.0%");
        assert_eq!(m.pct(Metric::RobustAccuracy), "not measured");
        assert_eq!(m.fixed(Metric::Auc, 3), "0.000");
        assert_eq!(fixed(None, 2), "not measured");
    }

    #[test]
    fn keys_round_trip_and_unknown_keys_fail() {
        let mut m = Metrics::default();
        m.insert(Metric::RobustAccuracy, 0.03).unwrap();
        m.insert(Metric::QueriesTotal, 12_000.0).unwrap();
        assert_eq!(m.get(Metric::RobustAccuracy), Some(0.03));
        assert_eq!(m.get(Metric::Auc), None);
        for metric in Metric::ALL {
            assert_eq!(metric.key().parse::<Metric>().unwrap(), *metric);
        }
        assert_eq!(Metric::TprAt0_1PctFpr.key(), "tpr_at_0_1pct_fpr");
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"queries_total":12000.0,"robust_accuracy":0.03}"#);
        assert_eq!(serde_json::from_str::<Metrics>(&json).unwrap(), m);
        let err = serde_json::from_str::<Metrics>(r#"{"robustness":0.5}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown metric key `robustness`"),
            "{err}"
        );
        let err = serde_json::from_str::<Metrics>(r#"{"auc":1.5}"#).unwrap_err();
        assert!(err.to_string().contains("must lie in [0, 1]"), "{err}");
    }

    #[test]
    fn rejects_bad_values() {
        let mut m = Metrics::default();
        assert!(matches!(
            m.insert(Metric::Auc, 1.2),
            Err(MetricError::OutOfRange { .. })
        ));
        assert!(matches!(
            m.insert(Metric::MeanL2, f64::NAN),
            Err(MetricError::NotFinite { .. })
        ));
        assert!(m.is_empty());
    }
}
