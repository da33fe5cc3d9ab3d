//! How a report names the defence a run was measured behind.

use serde::{Deserialize, Serialize};

use crate::Details;

/// The defence of a defended run: its registry name, ATLAS mitigations and CRISP-ML(Q)
/// phases, the settings it ran with, and what it observed while the attack ran (alerts,
/// refusals, imposed waits), when it watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefenseRef {
    pub name: String,
    pub mitigations: Vec<String>,
    pub phases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Details>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Details>,
}
