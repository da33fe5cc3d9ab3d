//! Defences, one module each, each named by the ATLAS mitigation it implements and the
//! CRISP-ML(Q) lifecycle phase where it is applied. A defence is measured by re-running the
//! attacks it claims to stop (Build → Attack → Defend → attack again).

pub mod activation_clustering;
pub mod adv_train;
pub mod defense;
pub mod feature_squeezing;
pub mod guard;
pub mod linalg;
pub mod output_hardening;
pub mod prada;
pub mod query_limit;
pub mod registry;
pub mod shapiro;
pub mod smoothing;
pub mod spectral;
pub mod strip;

pub use defense::{Action, AppliesTo, Defense, DefenseInfo, Family};
pub use registry::DefenseSpec;
