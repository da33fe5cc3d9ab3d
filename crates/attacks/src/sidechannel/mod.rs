//! Side-channel attacks on a served model: what an observer learns from how it answers
//! rather than from what it answers.

mod groups;
mod separation;
pub mod timing;
