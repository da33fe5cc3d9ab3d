//! The shared vocabulary of aisec: what every attack, defence and scan reports.
//!
//! Kept small and free of heavy dependencies so that every other crate can use it.
//! Output formats (JSON, HTML, SARIF, Navigator) are views of a list of [`Finding`]s plus
//! [`RunMeta`].

mod atlas_ref;
mod finding;
mod metrics;
pub mod rng;

pub use atlas_ref::{AtlasRef, AtlasRefError, AtlasRefKind};
pub use finding::{Evidence, Finding, MitigationRef, RunMeta, Severity};
pub use metrics::{MetricError, Metrics, METRIC_KEYS};
