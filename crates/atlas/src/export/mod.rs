//! Exports of the knowledge base for other ATLAS and ATT&CK tools.

pub mod navigator;
pub mod stix;

/// The kill-chain phase name and Navigator tactic name of a tactic: "AI Model Access" →
/// "ai-model-access", as the official ATLAS Navigator data writes it.
pub fn tactic_shortname(name: &str) -> String {
    name.to_lowercase().replace(' ', "-")
}
