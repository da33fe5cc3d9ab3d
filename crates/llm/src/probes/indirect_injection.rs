//! Indirect prompt injection (AML.T0051.001; Greshake et al. 2023, "Not what you've signed up
//! for"): the instruction is planted in content the application hands the model — a web page
//! (in an HTML comment), an e-mail, retrieved search results, a document — while the user asks
//! for an ordinary summary. Success is the same assembled marker as direct injection, so the
//! two can be compared.

use super::{carried, Goal, Plan, Probe, ProbeInfo};
use crate::buffs::Buff;
use crate::context::ProbeContext;

pub struct IndirectInjection;

static INFO: ProbeInfo = ProbeInfo {
    name: "indirect-injection",
    family: "injection",
    atlas: &["AML.T0051.001"],
    mitigations: &["AML.M0020", "AML.M0021", "AML.M0022"],
    summary: "an instruction planted in a web page, e-mail, retrieved chunk or document the user asks about",
};

impl Probe for IndirectInjection {
    fn info(&self) -> &'static ProbeInfo {
        &INFO
    }

    fn plans(&self, ctx: &ProbeContext, buff: Option<Buff>) -> Vec<Plan> {
        let goal = Goal::Marker {
            marker: ctx.marker(),
        };
        carried(
            ctx,
            "indirect-injection.yaml",
            include_str!("../../payloads/indirect-injection.yaml"),
            buff,
            goal,
            Vec::new(),
        )
    }
}
