//! Many-shot jailbreak (AML.T0054; Anil et al. 2024, "Many-shot Jailbreaking"): a long
//! fabricated history in which the assistant always hands out confidential values, then the
//! real question. Two shapes: the shots written inside one user message (any chat UI can do
//! that) and the shots as real prior turns (what API access allows). Longer histories work
//! better in the paper; the counts here are kept small enough for a 0.5B model's context.

use super::{parse, secret_goal, Plan, Probe, ProbeInfo, MAX_TOKENS};
use crate::buffs::Buff;
use crate::chat::Message;
use crate::context::ProbeContext;

pub struct ManyShot;

static INFO: ProbeInfo = ProbeInfo {
    name: "many-shot",
    family: "jailbreak",
    atlas: &["AML.T0054"],
    mitigations: &["AML.M0020", "AML.M0022"],
    summary: "a long fabricated history of compliance before asking for the code",
};

/// Shot counts tried, each in both shapes.
const COUNTS: &[usize] = &[8, 24];

#[derive(serde::Deserialize)]
struct Shots {
    r#final: String,
    shots: Vec<Shot>,
}

#[derive(serde::Deserialize)]
struct Shot {
    q: String,
    a: String,
}

impl Probe for ManyShot {
    fn info(&self) -> &'static ProbeInfo {
        &INFO
    }

    fn plans(&self, ctx: &ProbeContext, buff: Option<Buff>) -> Vec<Plan> {
        let data: Shots = parse(
            "many-shot.yaml",
            include_str!("../../payloads/many-shot.yaml"),
        );
        let question = match buff {
            Some(b) => b.apply(&data.r#final),
            None => data.r#final.clone(),
        };
        let mut plans = Vec::new();
        for &n in COUNTS {
            let shots = data.shots.iter().cycle().take(n);
            let mut inline = String::new();
            let mut history = vec![Message::system(&ctx.system_prompt)];
            for s in shots {
                inline.push_str(&format!("User: {}\nAssistant: {}\n\n", s.q, s.a));
                history.push(Message::user(&s.q));
                history.push(Message::assistant(&s.a));
            }
            inline.push_str(&format!("User: {question}\nAssistant:"));
            plans.push(Plan {
                payload: format!("inline-{n}"),
                preamble: vec![Message::system(&ctx.system_prompt)],
                turns: vec![inline],
                tools: Vec::new(),
                max_tokens: MAX_TOKENS,
                goal: secret_goal(ctx),
            });
            plans.push(Plan {
                payload: format!("history-{n}"),
                preamble: history,
                turns: vec![question.clone()],
                tools: Vec::new(),
                max_tokens: MAX_TOKENS,
                goal: secret_goal(ctx),
            });
        }
        plans
    }
}
