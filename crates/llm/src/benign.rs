//! What a defence costs harmless users: the ordinary chat messages of
//! `payloads/ordinary-chat.txt` (greetings, thanks, tasks worded like instructions, arithmetic,
//! other languages; written for aisec), sent through the defence with the application's system
//! prompt, counting the ones it blocks or withholds. A defence that stops every attack by
//! refusing everything would look perfect in a before → after table alone.

use serde::Serialize;

use crate::chat::{ChatRequest, Message};
use crate::context::ProbeContext;
use crate::targets::Target;

const ORDINARY_CHAT: &str = include_str!("../payloads/ordinary-chat.txt");

/// Every ordinary message, in file order.
pub fn ordinary_chat() -> Vec<&'static str> {
    ORDINARY_CHAT
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect()
}

/// `n` messages spread over the whole list (every k-th), so a small sample still mixes
/// greetings, tasks and languages.
pub fn sample(n: usize) -> Vec<&'static str> {
    let all = ordinary_chat();
    if n >= all.len() {
        return all;
    }
    (0..n).map(|i| all[i * all.len() / n]).collect()
}

/// Harmless traffic through a defence.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BenignCost {
    pub sent: usize,
    /// Answered `content_filter`: refused at the input or withheld at the output.
    pub blocked: usize,
    pub answered: usize,
    /// Requests that got no answer (network, budget): neither blocked nor answered.
    pub errors: usize,
    /// blocked / (blocked + answered).
    pub false_block_rate: Option<f64>,
    /// The messages blocked, so a reader can judge them.
    pub blocked_messages: Vec<String>,
}

/// Sends each message once (a new conversation each, the context's system prompt first).
pub fn measure(target: &dyn Target, ctx: &ProbeContext, messages: &[&str]) -> BenignCost {
    let mut cost = BenignCost {
        sent: messages.len(),
        ..BenignCost::default()
    };
    for m in messages {
        let req = ChatRequest {
            messages: vec![
                Message::system(ctx.system_prompt.clone()),
                Message::user(m.to_string()),
            ],
            tools: Vec::new(),
            max_tokens: 64,
        };
        let mut state = Default::default();
        match target.chat(&req, &mut state) {
            Ok(r) if r.finish_reason.as_deref() == Some("content_filter") => {
                cost.blocked += 1;
                cost.blocked_messages.push(m.to_string());
            }
            Ok(_) => cost.answered += 1,
            Err(e) => {
                tracing::warn!("benign message {m:?}: {e}");
                cost.errors += 1;
            }
        }
    }
    let judged = cost.blocked + cost.answered;
    cost.false_block_rate = (judged > 0).then(|| cost.blocked as f64 / judged as f64);
    cost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_spreads_over_the_list() {
        let all = ordinary_chat();
        assert_eq!(all.len(), 59);
        let s = sample(6);
        assert_eq!(s.len(), 6);
        assert_eq!(s[0], all[0]);
        assert!(
            s.iter().any(|m| !m.is_ascii()),
            "a non-English message: {s:?}"
        );
        assert_eq!(sample(1000).len(), 59);
    }
}
