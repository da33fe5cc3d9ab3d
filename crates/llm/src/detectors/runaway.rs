//! Runaway-output detector: the reply was stopped by the output cap, not by the model —
//! `finish_reason: length`, or as many completion tokens as the cap allowed when the target does
//! not say why it stopped.

use super::Verdict;
use crate::chat::Reply;

pub const NAME: &str = "runaway";

pub fn detect(reply: &Reply, cap: u32) -> Verdict {
    let tokens = reply.usage.map(|u| u.completion_tokens);
    let by_reason = reply.finish_reason.as_deref() == Some("length");
    let by_count = tokens.is_some_and(|t| t >= cap as u64);
    if by_reason || by_count {
        let evidence = format!(
            "stopped at the {cap}-token cap ({} completion tokens, finish_reason {})",
            tokens.map_or("unreported".into(), |t| t.to_string()),
            reply.finish_reason.as_deref().unwrap_or("unreported")
        );
        return Verdict::hit(
            NAME,
            evidence,
            if by_reason {
                "finish_reason"
            } else {
                "token count"
            },
        );
    }
    Verdict::miss(NAME)
}
