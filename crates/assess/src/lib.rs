//! The assessment: runs attacks, turns their outcomes into findings named by ATLAS
//! techniques with recommended mitigations and lifecycle phases, applies defences and
//! attacks again.

pub mod bitflip;
pub mod certify;
pub mod demo;
pub mod detection;
pub mod extraction;
pub mod findings;
pub mod inversion;
pub mod membership;
pub mod poisoning;
pub mod runner;
pub mod scan;
pub mod shards;
pub mod threat;
pub mod timing;
pub mod trigger_search;

#[derive(Debug, thiserror::Error)]
pub enum AssessError {
    #[error(transparent)]
    Model(#[from] aisec_ml::MlError),
    #[error(transparent)]
    Attack(#[from] aisec_attacks::AttackError),
    #[error(transparent)]
    Atlas(#[from] aisec_atlas::AtlasError),
    #[error(transparent)]
    Llm(#[from] aisec_llm::LlmError),
    #[error("{0}")]
    Config(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = AssessError> = std::result::Result<T, E>;
