//! Differential privacy: the accountant that turns DP-SGD's noise into (ε, δ), and the
//! training loop that spends it.

pub mod rdp;
pub mod sgd;

pub use rdp::{epsilon, noise_for_epsilon, DpSgdSetting, PrivacySpent};
