//! LLM red teaming: targets (how a chat model is reached), probes (what is sent), buffs (how
//! it is disguised) and detectors (how a reply is judged), with a runner that journals every
//! attempt and summarises success rates with intervals per ATLAS technique.

pub mod benign;
pub mod buffs;
pub mod chat;
pub mod context;
pub mod detectors;
mod error;
pub mod guard;
pub mod probes;
pub mod refusal_eval;
pub mod report;
pub mod run;
pub mod sse;
pub mod summary;
pub mod targets;
pub mod test_double;
pub mod transport;

pub use error::{LlmError, Result};
