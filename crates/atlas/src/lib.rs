//! The MITRE ATLAS knowledge base for aisec.
//!
//! - [`model`]: typed model of the official distribution format (`ATLAS.yaml`, v5, with
//!   room for v6).
//! - [`kb::KnowledgeBase`]: the objects with their reverse links and a search index, from
//!   the facts embedded in the binary or from a full official file.
//! - [`validate`]: a strict validator for ATLAS files and case-study files.
//! - [`export`]: ATT&CK Navigator layers and STIX 2.1 bundles.
//! - [`views`]: what the CLI prints (matrix, object pages, mitigation lists).
//!
//! ATLAS data © MITRE, Apache-2.0. Only facts are embedded; prose is loaded from an
//! official ATLAS.yaml that the user supplies.

pub mod case_study;
pub mod date;
pub mod diff;
pub mod embed;
mod error;
pub mod export;
pub mod frameworks;
pub mod kb;
mod load;
pub mod model;
pub mod search;
pub mod validate;
pub mod views;

pub use error::AtlasError;
pub use kb::{KnowledgeBase, ObjectRef, Source};
pub use load::{
    check_yaml_nesting, parse_atlas, read_atlas_file, yaml_flow_depth, MAX_YAML_FLOW_DEPTH,
};

/// The environment variable that points at a full official ATLAS.yaml.
pub const ATLAS_DATA_ENV: &str = "AISEC_ATLAS_DATA";
