//! Markdown image exfiltration (AML.T0077 LLM Response Rendering; Rehberger's disclosures
//! against Bing Chat and ChatGPT plugins, 2023): a planted instruction asks the model to end its
//! answer with a markdown image on the attacker's host whose URL carries data. A chat UI that
//! renders markdown fetches it without a click. Success needs the attacker's host in an image
//! or link with data in the URL; the evidence says whether the confidential code was in it.

use super::{carried, Goal, Plan, Probe, ProbeInfo};
use crate::buffs::Buff;
use crate::context::{ProbeContext, EXFIL_HOST};

pub struct MarkdownExfil;

static INFO: ProbeInfo = ProbeInfo {
    name: "markdown-exfil",
    family: "exfiltration",
    atlas: &["AML.T0077", "AML.T0051.001"],
    mitigations: &["AML.M0020", "AML.M0021"],
    summary: "planted text makes the reply render an image whose URL carries data to the attacker",
};

impl Probe for MarkdownExfil {
    fn info(&self) -> &'static ProbeInfo {
        &INFO
    }

    fn plans(&self, ctx: &ProbeContext, buff: Option<Buff>) -> Vec<Plan> {
        let goal = Goal::ExfilUrl {
            host: EXFIL_HOST.into(),
            secrets: vec![ctx.canary.clone()],
        };
        carried(
            ctx,
            "markdown-exfil.yaml",
            include_str!("../../payloads/markdown-exfil.yaml"),
            buff,
            goal,
            Vec::new(),
        )
    }
}
