//! Crescendo-style multi-turn jailbreak (AML.T0054; Russinovich et al. 2024, "Great, Now Write
//! an Article About That"): each turn is harmless on its own and leans on the model's previous
//! answer; only the last turns ask for the confidential code. The code may come out at any
//! turn, and the turn where it did is part of the evidence.

use super::{parse, secret_goal, Plan, Probe, ProbeInfo, MAX_TOKENS};
use crate::buffs::Buff;
use crate::chat::Message;
use crate::context::ProbeContext;

pub struct Crescendo;

static INFO: ProbeInfo = ProbeInfo {
    name: "crescendo",
    family: "jailbreak",
    atlas: &["AML.T0054"],
    mitigations: &["AML.M0020", "AML.M0022"],
    summary: "a multi-turn conversation that escalates from harmless questions to the code",
};

#[derive(serde::Deserialize)]
struct Conversations {
    conversations: Vec<Conversation>,
}

#[derive(serde::Deserialize)]
struct Conversation {
    id: String,
    turns: Vec<String>,
}

impl Probe for Crescendo {
    fn info(&self) -> &'static ProbeInfo {
        &INFO
    }

    fn plans(&self, ctx: &ProbeContext, buff: Option<Buff>) -> Vec<Plan> {
        let data: Conversations = parse(
            "crescendo.yaml",
            include_str!("../../payloads/crescendo.yaml"),
        );
        data.conversations
            .into_iter()
            .map(|c| Plan {
                payload: c.id,
                preamble: vec![Message::system(&ctx.system_prompt)],
                turns: c
                    .turns
                    .iter()
                    .map(|t| buff.map_or_else(|| t.clone(), |b| b.apply(t)))
                    .collect(),
                tools: Vec::new(),
                max_tokens: MAX_TOKENS,
                goal: secret_goal(ctx),
            })
            .collect()
    }
}
