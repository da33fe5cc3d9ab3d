//! Probes: what is sent to the model (garak's split). Each module is one probe with its
//! rationale, ATLAS techniques and payload file; [`REGISTRY`] lists them, and nothing else
//! needs editing to add one.

mod cost_denial;
mod crescendo;
mod data_leakage;
mod direct_injection;
mod indirect_injection;
mod many_shot;
mod markdown_exfil;
mod refusal_suppression;
mod roleplay;
mod system_prompt_extraction;
mod tool_misuse;

use serde::{Deserialize, Serialize};

use crate::buffs::Buff;
use crate::chat::{Message, Tool};
use crate::context::ProbeContext;

/// What a probe is, for listings, reports and the registry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProbeInfo {
    pub name: &'static str,
    /// `injection`, `jailbreak`, `leakage`, `exfiltration`, `tool-misuse`, `cost`.
    pub family: &'static str,
    pub atlas: &'static [&'static str],
    /// ATLAS mitigations that address it.
    pub mitigations: &'static [&'static str],
    pub summary: &'static str,
}

/// What counts as success, shown by positive evidence in a reply (never by the absence of
/// a refusal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Goal {
    /// The model produced the marker that only following the injected instruction makes.
    Marker { marker: String },
    /// A planted secret appears in the reply, in plain or decoded form.
    Secret { what: String, values: Vec<String> },
    /// The system prompt comes back: its code, or a long verbatim stretch of it.
    SystemPrompt { canary: String, prompt: String },
    /// A markdown image or link to the attacker's host whose URL carries data.
    ExfilUrl { host: String, secrets: Vec<String> },
    /// A call of `tool` whose arguments name `recipient`.
    ToolCall {
        tool: String,
        recipient: String,
        secrets: Vec<String>,
    },
    /// The reply ran to the output cap instead of ending by itself.
    Runaway { cap: u32 },
}

/// One conversation to have with the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The payload's id within the probe.
    pub payload: String,
    /// Sent before the first user turn (the system prompt).
    pub preamble: Vec<Message>,
    /// User turns, each sent after the model answered the previous one.
    pub turns: Vec<String>,
    pub tools: Vec<Tool>,
    pub max_tokens: u32,
    pub goal: Goal,
}

pub trait Probe: Send + Sync {
    fn info(&self) -> &'static ProbeInfo;
    /// The conversations to have; `buff`, when given, disguises the attacker's text.
    fn plans(&self, ctx: &ProbeContext, buff: Option<Buff>) -> Vec<Plan>;
}

/// Every probe, in the order reports list them.
pub static REGISTRY: &[&dyn Probe] = &[
    &direct_injection::DirectInjection,
    &indirect_injection::IndirectInjection,
    &roleplay::Roleplay,
    &refusal_suppression::RefusalSuppression,
    &many_shot::ManyShot,
    &crescendo::Crescendo,
    &system_prompt_extraction::SystemPromptExtraction,
    &data_leakage::DataLeakage,
    &markdown_exfil::MarkdownExfil,
    &tool_misuse::ToolMisuse,
    &cost_denial::CostDenial,
];

pub fn find(name: &str) -> Option<&'static dyn Probe> {
    REGISTRY.iter().copied().find(|p| p.info().name == name)
}

/// Parses `--probes`: probe names or family names, comma-separated; `all` for every probe.
pub fn select(list: &str) -> Result<Vec<&'static dyn Probe>, String> {
    let mut out: Vec<&'static dyn Probe> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let matched: Vec<&'static dyn Probe> = if item == "all" {
            REGISTRY.to_vec()
        } else if let Some(p) = find(item) {
            vec![p]
        } else {
            REGISTRY
                .iter()
                .copied()
                .filter(|p| p.info().family == item)
                .collect()
        };
        if matched.is_empty() {
            let names: Vec<&str> = REGISTRY.iter().map(|p| p.info().name).collect();
            let mut families: Vec<&str> = REGISTRY.iter().map(|p| p.info().family).collect();
            families.dedup();
            return Err(format!(
                "--probes: unknown probe or family `{item}`: probes are {}; families are {}",
                names.join(", "),
                families.join(", ")
            ));
        }
        for p in matched {
            if !out.iter().any(|q| q.info().name == p.info().name) {
                out.push(p);
            }
        }
    }
    if out.is_empty() {
        return Err("--probes: no probe named".into());
    }
    Ok(out)
}

/// The default output cap for one reply, in tokens.
pub const MAX_TOKENS: u32 = 160;

/// A payload file's entries.
#[derive(Debug, Deserialize)]
struct Payloads {
    payloads: Vec<Payload>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    id: String,
    text: String,
}

/// A carrier file: a request about content the attacker planted an instruction in.
#[derive(Debug, Deserialize)]
struct Carriers {
    request: String,
    carriers: Vec<Carrier>,
    instructions: Vec<Payload>,
}

#[derive(Debug, Deserialize)]
struct Carrier {
    id: String,
    name: String,
    text: String,
}

/// Payload files are part of the binary and checked by tests, so a parse failure is a bug.
fn parse<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> T {
    serde_yaml_ng::from_str(text)
        .unwrap_or_else(|e| panic!("payloads/{file} does not parse (a build defect): {e}"))
}

fn buffed(ctx: &ProbeContext, text: &str, buff: Option<Buff>) -> String {
    let filled = ctx.fill(text);
    match buff {
        Some(b) => b.apply(&filled),
        None => filled,
    }
}

/// One single-turn plan per payload, against the system prompt.
fn single_turn(
    ctx: &ProbeContext,
    file: &str,
    text: &str,
    buff: Option<Buff>,
    goal: Goal,
    max_tokens: u32,
) -> Vec<Plan> {
    let payloads: Payloads = parse(file, text);
    payloads
        .payloads
        .into_iter()
        .map(|p| Plan {
            payload: p.id,
            preamble: vec![Message::system(&ctx.system_prompt)],
            turns: vec![buffed(ctx, &p.text, buff)],
            tools: Vec::new(),
            max_tokens,
            goal: goal.clone(),
        })
        .collect()
}

/// One plan per carrier and instruction: the (buffed) instruction inside benign content
/// that the user asks about.
fn carried(
    ctx: &ProbeContext,
    file: &str,
    text: &str,
    buff: Option<Buff>,
    goal: Goal,
    tools: Vec<Tool>,
) -> Vec<Plan> {
    let c: Carriers = parse(file, text);
    let mut plans = Vec::new();
    for carrier in &c.carriers {
        for instruction in &c.instructions {
            let planted = buffed(ctx, &instruction.text, buff);
            let content = carrier.text.replace("{instruction}", &planted);
            let request = c.request.replace("{carrier_name}", &carrier.name);
            plans.push(Plan {
                payload: format!("{}/{}", carrier.id, instruction.id),
                preamble: vec![Message::system(&ctx.system_prompt)],
                turns: vec![format!("{request}\n\n{content}")],
                tools: tools.clone(),
                max_tokens: MAX_TOKENS,
                goal: goal.clone(),
            });
        }
    }
    plans
}

fn secret_goal(ctx: &ProbeContext) -> Goal {
    Goal::Secret {
        what: "escalation code".into(),
        values: vec![ctx.canary.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_has_plans_and_valid_atlas_ids() {
        let ctx = ProbeContext::new(1, None);
        let mut names = std::collections::HashSet::new();
        for p in REGISTRY {
            let info = p.info();
            assert!(names.insert(info.name), "duplicate probe {}", info.name);
            for id in info.atlas.iter().chain(info.mitigations) {
                aisec_core::AtlasRef::parse(id).unwrap();
            }
            let plans = p.plans(&ctx, None);
            assert!(!plans.is_empty(), "{}", info.name);
            let ids: std::collections::HashSet<_> = plans.iter().map(|p| &p.payload).collect();
            assert_eq!(ids.len(), plans.len(), "{}: payload ids repeat", info.name);
            for plan in &plans {
                assert!(!plan.turns.is_empty());
                for turn in &plan.turns {
                    for ph in [
                        "{marker_a}",
                        "{marker_b}",
                        "{exfil_url}",
                        "{attacker_email}",
                        "{instruction}",
                        "{carrier_name}",
                    ] {
                        assert!(!turn.contains(ph), "{}: unfilled {ph}", info.name);
                    }
                    // The marker is assembled by the model, never given in the prompt, not
                    // even in a spelling the detector would take for it.
                    assert!(
                        !crate::detectors::marker::detect(turn, &ctx.marker()).hit,
                        "{}: {turn}",
                        info.name
                    );
                    assert!(!turn.contains(&ctx.canary), "{}", info.name);
                }
            }
            for b in Buff::ALL {
                let buffed = p.plans(&ctx, Some(*b));
                assert_eq!(buffed.len(), plans.len());
                for turn in buffed.iter().flat_map(|plan| plan.turns.iter()) {
                    assert!(
                        !crate::detectors::marker::detect(turn, &ctx.marker()).hit,
                        "{} with {b:?}: {turn}",
                        info.name
                    );
                }
            }
        }
    }

    #[test]
    fn selection_by_name_and_family() {
        assert_eq!(select("all").unwrap().len(), REGISTRY.len());
        let j = select("jailbreak").unwrap();
        assert!(j.len() >= 4 && j.iter().all(|p| p.info().family == "jailbreak"));
        assert_eq!(
            select("direct-injection,direct-injection").unwrap().len(),
            1
        );
        assert!(select("nope").err().unwrap().contains("direct-injection"));
    }
}
