//! The shared vocabulary of aisec: what every attack, defence and scan reports.
//!
//! Kept small and free of heavy dependencies so that every other crate can use it.
//! Output formats (JSON, HTML, SARIF, Navigator) are views of a list of [`Finding`]s plus
//! [`RunMeta`].

mod atlas_ref;
pub mod date;
mod defense_ref;
mod details;
mod finding;
mod metrics;
pub mod rng;
pub mod stats;

pub use atlas_ref::{AtlasRef, AtlasRefError, AtlasRefKind};
pub use defense_ref::DefenseRef;
pub use details::{Detail, Details, Recorded};
pub use finding::{Evidence, Finding, MitigationRef, RunMeta, Severity};
pub use metrics::{fixed, pct, Metric, MetricError, Metrics, NOT_MEASURED};

/// Serialises an `f32` as the decimal it was written as (`0.1`, not `0.10000000149011612`),
/// for configurations that users read and copy back into commands.
pub fn serialize_f32_decimal<S: serde::Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    let decimal: f64 = v.to_string().parse().unwrap_or(*v as f64);
    s.serialize_f64(decimal)
}

/// [`serialize_f32_decimal`] for an optional value (`null` when absent).
pub fn serialize_opt_f32_decimal<S: serde::Serializer>(
    v: &Option<f32>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => serialize_f32_decimal(v, s),
        None => s.serialize_none(),
    }
}
