//! Defences, one module each, each named by the ATLAS mitigation it implements and the
//! CRISP-ML(Q) lifecycle phase where it is applied. A defence is measured by re-running the
//! attacks it claims to stop (Build → Attack → Defend → attack again).

pub mod defense;
pub mod dp;
pub mod guard;
pub mod linalg;
pub mod registry;
pub mod shapiro;

/// Declares each defence's module and lists its `ENTRY`, in `aisec defend list` order: the
/// one line a new defence adds outside its own module.
macro_rules! registered {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every defence aisec has.
        pub const DEFENSES: &[registry::Entry] = &[$($module::ENTRY),*];
    };
}

registered!(
    adv_train,
    output_hardening,
    query_limit,
    prada,
    feature_squeezing,
    smoothing,
    certify,
    spectral,
    activation_clustering,
    strip,
    trigger_search,
    weight_integrity,
    weight_clamp,
    latency_padding,
    dp_sgd,
    l2,
    early_stop,
    llm_guard,
);

pub use defense::{Action, AppliesTo, Defense, DefenseInfo, Family, PrivacyRetraining, Role};
pub use registry::DefenseSpec;
