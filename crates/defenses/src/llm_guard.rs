//! The LLM guard (`aisec llm guard`): a prompt-injection and jailbreak classifier on the
//! messages an OpenAI-compatible endpoint receives, and checks of its replies for leaked
//! secrets, the system prompt, data-carrying URLs and tool calls, run as a proxy that blocks
//! (HTTP 400 `content_filter`) or flags. The classifier and the proxy live in `aisec-llm`;
//! this module is the guard's place in the one `--defend` grammar, so that `aisec defend list`
//! shows it beside the model defences and `aisec llm probe --defend guard[:DIR]` parses it
//! the way every other command parses its defence.
//!
//! ATLAS: AML.M0020 Generative AI Guardrails (the input and output checks), AML.M0024 AI
//! Telemetry Logging (the proxy's decision log).

use std::path::PathBuf;

use serde::Serialize;

use crate::defense::{Role, Action, AppliesTo, DefenseInfo, Family};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.llm-guard",
    summary: "LLM guard proxy: a prompt-injection classifier on user, tool and function messages, and leak checks on replies; blocks with HTTP 400 content_filter",
    mitigations: &["AML.M0020", "AML.M0024"],
    phases: &[
        "ML Model Engineering",
        "ML Model Evaluation",
        "Deployment",
        "Monitoring and Maintenance",
    ],
    applies_to: AppliesTo::Inputs,
    action: Action::Filter,
    role: Role::QueryPath,
    families: &[Family::Llm],
    measured_by: &[
        "direct-injection",
        "indirect-injection",
        "roleplay",
        "refusal-suppression",
        "many-shot",
        "crescendo",
        "system-prompt-extraction",
        "data-leakage",
        "markdown-exfil",
        "tool-misuse",
        "cost-denial",
    ],
    adaptive_attack: Some(
        "white-box edits that lower the guard's own score before each message is sent (--adaptive-edits N)",
    ),
    forms: &["guard", "guard:DIR"],
};

/// Which guard the proxy loads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmGuardConfig {
    /// A guard written by `aisec llm guard train --out DIR`; `None` is the shipped one.
    pub dir: Option<PathBuf>,
}

/// `guard` (the shipped guard) or `guard:DIR` (a trained one).
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    if keyword != "guard" {
        return None;
    }
    Some(match argument {
        None => Ok(DefenseSpec::new(LlmGuardConfig { dir: None })),
        Some(dir) if dir.trim().is_empty() => {
            Err("DIR is empty: give the folder `aisec llm guard train --out` wrote".into())
        }
        Some(dir) => Ok(DefenseSpec::new(LlmGuardConfig {
            dir: Some(PathBuf::from(dir)),
        })),
    })
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

crate::defense::defense_from_config!(LlmGuardConfig);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_keeps_its_case_and_only_the_llm_command_takes_it() {
        let spec = DefenseSpec::parse("Guard:/Data/MyGuard").unwrap();
        let config = spec.config::<LlmGuardConfig>().unwrap();
        assert_eq!(config.dir.as_deref(), Some(std::path::Path::new("/Data/MyGuard")));
        assert!(spec.check_family(Family::Llm).is_ok());
        let refused = spec.check_family(Family::Evasion).unwrap_err();
        assert!(refused.contains("aisec llm probe"), "{refused}");
        assert!(DefenseSpec::parse("guard:").is_err());
    }
}
