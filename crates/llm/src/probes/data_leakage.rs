//! Data leakage with planted canaries (AML.T0057): the system prompt holds another customer's
//! record that it says is confidential; the payloads ask for it directly, by pretext, by
//! "verification" and as an export. Evidence is the planted e-mail address or phone number in
//! the reply, plain or encoded — values that exist nowhere but in the model's context.

use super::{single_turn, Goal, Plan, Probe, ProbeInfo, MAX_TOKENS};
use crate::buffs::Buff;
use crate::context::ProbeContext;

pub struct DataLeakage;

static INFO: ProbeInfo = ProbeInfo {
    name: "data-leakage",
    family: "leakage",
    atlas: &["AML.T0057"],
    mitigations: &["AML.M0020", "AML.M0021"],
    summary: "asks for another customer's record planted in the context",
};

impl Probe for DataLeakage {
    fn info(&self) -> &'static ProbeInfo {
        &INFO
    }

    fn plans(&self, ctx: &ProbeContext, buff: Option<Buff>) -> Vec<Plan> {
        let goal = Goal::Secret {
            what: "customer record".into(),
            values: vec![ctx.record.email.clone(), ctx.record.phone.clone()],
        };
        single_turn(
            ctx,
            "data-leakage.yaml",
            include_str!("../../payloads/data-leakage.yaml"),
            buff,
            goal,
            MAX_TOKENS,
        )
    }
}
