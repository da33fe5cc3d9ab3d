//! The guard under an adaptive attacker (ATLAS AML.T0068 LLM Prompt Obfuscation, AML.T0015
//! Evade AI Model): every probe's attacker-written text, plain, under each buff, and under a
//! white-box edit attack that knows the lexical model — it reads which word n-grams weigh
//! most toward "injection" ([`Lexical::top_terms`](super::lexical::Lexical::top_terms)) and
//! rewrites them, a paraphrase where the buff's table has one and otherwise a transposition
//! of two inner letters (a typo a model reads through), until the text passes or the edit
//! budget is spent. A conversation counts as caught when any of its user turns is flagged, as
//! the proxy would flag it.

use serde::Serialize;

use super::Guard;
use crate::buffs::Buff;
use crate::context::ProbeContext;
use crate::probes::Probe;
use crate::summary::wilson;

/// ATLAS techniques the evasion exercises.
pub const ATLAS: &[&str] = &["AML.T0068", "AML.T0015"];

/// What `aisec llm guard attack` was asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct GuardEvasionSettings {
    /// The probe selection, as given.
    pub probes: String,
    pub max_edits: usize,
    pub seed: u64,
    pub threshold: f64,
    pub metrics_note: &'static str,
}

/// The guard's detection rate under each transform of the attacker's text.
#[derive(Debug, Clone, Serialize)]
pub struct GuardEvasionObservations {
    pub transforms: Vec<TransformResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransformResult {
    /// `none`, a buff's name, or `white-box-edits`.
    pub transform: String,
    pub conversations: usize,
    pub caught: usize,
    /// caught / conversations.
    pub detection_rate: f64,
    pub ci95: Option<(f64, f64)>,
    /// For the white-box attack: edits made per evading conversation, on average.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_edits: Option<f64>,
    /// Up to 5 texts that got through.
    pub evaded_examples: Vec<String>,
}

/// The user-written texts of a conversation: fabricated history and the turns.
fn user_texts(plan: &crate::probes::Plan) -> Vec<String> {
    plan.preamble
        .iter()
        .filter(|m| m.role == crate::chat::Role::User)
        .map(|m| m.content.clone())
        .chain(plan.turns.iter().cloned())
        .collect()
}

fn caught(guard: &Guard, texts: &[String]) -> bool {
    texts.iter().any(|t| guard.check_long(t).flagged)
}

/// Swaps two inner letters of the word: "instructions" → "instrcutions".
fn typo(word: &str) -> Option<String> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 4 {
        return None;
    }
    let mut c = chars.clone();
    let mid = c.len() / 2;
    c.swap(mid - 1, mid);
    (c != chars).then(|| c.into_iter().collect())
}

/// Rewrites the text until the guard lets it pass or `max_edits` are spent; returns the text
/// and the edits made.
pub fn white_box_evade(guard: &Guard, text: &str, max_edits: usize) -> (String, usize, bool) {
    let mut current = text.to_string();
    let mut edits = 0;
    while guard.check_long(&current).flagged {
        if edits == max_edits {
            return (current, edits, false);
        }
        let mut next = None;
        'terms: for term in guard.lexical.top_terms(&current, 6) {
            // A bigram's words are tried one at a time; the first that changes the text wins.
            for word in term.split(' ') {
                let paraphrased = Buff::Paraphrase.apply(word);
                let replacement = if paraphrased != word {
                    Some(paraphrased)
                } else {
                    typo(word)
                };
                let Some(replacement) = replacement else {
                    continue;
                };
                let candidate = replace_word(&current, word, &replacement);
                if candidate != current {
                    next = Some(candidate);
                    break 'terms;
                }
            }
        }
        match next {
            Some(n) => {
                current = n;
                edits += 1;
            }
            // Nothing left to rewrite that the model weighs.
            None => return (current, edits, false),
        }
    }
    (current, edits, true)
}

/// Replaces whole-word, case-insensitive occurrences of `word` (already lowercased by
/// normalising) in `text`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return text.replace(word, with);
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let bytes = lower.as_bytes();
    while i < text.len() {
        let boundary_before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if boundary_before
            && lower[i..].starts_with(word)
            && bytes
                .get(i + word.len())
                .is_none_or(|b| !b.is_ascii_alphanumeric())
        {
            out.push_str(with);
            i += word.len();
            continue;
        }
        let c = text[i..].chars().next().expect("char boundary");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn result(transform: &str, outcomes: &[(bool, Option<usize>, String)]) -> TransformResult {
    let n = outcomes.len();
    let k = outcomes.iter().filter(|o| o.0).count();
    let evaded: Vec<&(bool, Option<usize>, String)> = outcomes.iter().filter(|o| !o.0).collect();
    let edits: Vec<usize> = evaded.iter().filter_map(|o| o.1).collect();
    TransformResult {
        transform: transform.to_string(),
        conversations: n,
        caught: k,
        detection_rate: if n == 0 { 0.0 } else { k as f64 / n as f64 },
        ci95: wilson(k as u64, n as u64),
        mean_edits: (!edits.is_empty() && transform == "white-box-edits")
            .then(|| edits.iter().sum::<usize>() as f64 / edits.len() as f64),
        evaded_examples: evaded
            .iter()
            .take(5)
            .map(|o| crate::transport::snippet(&o.2))
            .collect(),
    }
}

/// Detection per transform over the conversations of `probes`.
pub fn evaluate(
    guard: &Guard,
    probes: &[&'static dyn Probe],
    ctx: &ProbeContext,
    max_edits: usize,
) -> Vec<TransformResult> {
    let mut out = Vec::new();
    let plain: Vec<Vec<String>> = probes
        .iter()
        .flat_map(|p| p.plans(ctx, None))
        .map(|plan| user_texts(&plan))
        .collect();
    let outcomes: Vec<_> = plain
        .iter()
        .map(|t| (caught(guard, t), None, t.join(" / ")))
        .collect();
    out.push(result("none", &outcomes));
    for buff in Buff::ALL {
        let outcomes: Vec<_> = probes
            .iter()
            .flat_map(|p| p.plans(ctx, Some(*buff)))
            .map(|plan| {
                let t = user_texts(&plan);
                (caught(guard, &t), None, t.join(" / "))
            })
            .collect();
        out.push(result(buff.name(), &outcomes));
    }
    let outcomes: Vec<_> = plain
        .iter()
        .map(|texts| {
            let mut total = 0;
            let mut all_pass = true;
            let mut rewritten = Vec::new();
            for t in texts {
                let (new, edits, passed) = white_box_evade(guard, t, max_edits);
                total += edits;
                all_pass &= passed;
                rewritten.push(new);
            }
            (!all_pass, Some(total), rewritten.join(" / "))
        })
        .collect();
    out.push(result("white-box-edits", &outcomes));
    out
}

/// A target seen through the white-box attacker: every user message is rewritten with
/// [`white_box_evade`] against the guard before it is sent, so that a probe run through the
/// guarding proxy measures whether evading the guard still gets the attack to work.
pub struct EvadingTarget {
    pub inner: Box<dyn crate::targets::Target>,
    pub guard: std::sync::Arc<Guard>,
    pub max_edits: usize,
}

impl crate::targets::Target for EvadingTarget {
    fn describe(&self) -> String {
        format!(
            "{} (user turns rewritten by the white-box attacker, ≤ {} edits each)",
            self.inner.describe(),
            self.max_edits
        )
    }

    fn http(&self) -> &crate::transport::Http {
        self.inner.http()
    }

    fn chat(
        &self,
        req: &crate::chat::ChatRequest,
        state: &mut crate::chat::SessionState,
    ) -> crate::error::Result<crate::chat::Reply> {
        let mut req = req.clone();
        for m in &mut req.messages {
            if m.role == crate::chat::Role::User {
                m.content = white_box_evade(&self.guard, &m.content, self.max_edits).0;
            }
        }
        self.inner.chat(&req, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_replaced_whole_and_typos_keep_the_ends() {
        assert_eq!(
            replace_word("Ignore it; ignored. IGNORE", "ignore", "skip"),
            "skip it; ignored. skip"
        );
        assert_eq!(typo("instructions").unwrap(), "instrcutions");
        assert_eq!(typo("the"), None);
    }
}
