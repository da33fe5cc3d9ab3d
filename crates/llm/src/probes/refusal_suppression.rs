//! Refusal suppression (AML.T0054; Wei et al. 2023, "Jailbroken: How Does LLM Safety Training
//! Fail?"): forbid the words refusals are made of, or make the reply start with an affirmative
//! prefix, so that the model's most likely continuation is compliance. The goal is the
//! confidential code of the system prompt.

use super::{secret_goal, single_turn, Plan, Probe, ProbeInfo, MAX_TOKENS};
use crate::buffs::Buff;
use crate::context::ProbeContext;

pub struct RefusalSuppression;

static INFO: ProbeInfo = ProbeInfo {
    name: "refusal-suppression",
    family: "jailbreak",
    atlas: &["AML.T0054"],
    mitigations: &["AML.M0020", "AML.M0022"],
    summary: "forbids refusal words or forces an affirmative opening, then asks for the code",
};

impl Probe for RefusalSuppression {
    fn info(&self) -> &'static ProbeInfo {
        &INFO
    }

    fn plans(&self, ctx: &ProbeContext, buff: Option<Buff>) -> Vec<Plan> {
        single_turn(
            ctx,
            "refusal-suppression.yaml",
            include_str!("../../payloads/refusal-suppression.yaml"),
            buff,
            secret_goal(ctx),
            MAX_TOKENS,
        )
    }
}
