//! System prompt extraction (AML.T0056): asks the model to repeat, list or translate its
//! instructions. Evidence is the planted code or a long verbatim stretch of the system prompt
//! (see the `system-prompt` detector), so a paraphrase of the bot's public role does not count.

use super::{single_turn, Goal, Plan, Probe, ProbeInfo, MAX_TOKENS};
use crate::buffs::Buff;
use crate::context::ProbeContext;

pub struct SystemPromptExtraction;

static INFO: ProbeInfo = ProbeInfo {
    name: "system-prompt-extraction",
    family: "leakage",
    atlas: &["AML.T0056"],
    mitigations: &["AML.M0020", "AML.M0021"],
    summary: "asks the model to repeat, list or translate its instructions",
};

impl Probe for SystemPromptExtraction {
    fn info(&self) -> &'static ProbeInfo {
        &INFO
    }

    fn plans(&self, ctx: &ProbeContext, buff: Option<Buff>) -> Vec<Plan> {
        let goal = Goal::SystemPrompt {
            canary: ctx.canary.clone(),
            prompt: ctx.system_prompt.clone(),
        };
        single_turn(
            ctx,
            "system-prompt-extraction.yaml",
            include_str!("../../payloads/system-prompt-extraction.yaml"),
            buff,
            goal,
            2 * MAX_TOKENS,
        )
    }
}
