//! Direct prompt injection (AML.T0051.000): the user's own message tells the model to drop the
//! application's instructions and do something else. The instruction asks for two words joined
//! in a way the prompt never spells out, so the evidence is a string only obedience produces —
//! a reply that refuses, quotes or translates the prompt cannot contain it.

use super::{single_turn, Goal, Plan, Probe, ProbeInfo, MAX_TOKENS};
use crate::buffs::Buff;
use crate::context::ProbeContext;

pub struct DirectInjection;

static INFO: ProbeInfo = ProbeInfo {
    name: "direct-injection",
    family: "injection",
    atlas: &["AML.T0051.000"],
    mitigations: &["AML.M0020", "AML.M0021", "AML.M0022"],
    summary: "the user's message overrides the system prompt with an instruction of its own",
};

impl Probe for DirectInjection {
    fn info(&self) -> &'static ProbeInfo {
        &INFO
    }

    fn plans(&self, ctx: &ProbeContext, buff: Option<Buff>) -> Vec<Plan> {
        let goal = Goal::Marker {
            marker: ctx.marker(),
        };
        single_turn(
            ctx,
            "direct-injection.yaml",
            include_str!("../../payloads/direct-injection.yaml"),
            buff,
            goal,
            MAX_TOKENS,
        )
    }
}
