//! The rules for LLM applications: which ATLAS techniques apply to a chat application, from
//! who can write to it, what its context holds, what it renders and which tools it calls.

use super::profile::{Audience, LlmApp, Objective, Rag};
use super::rules::{absent, adversary_of, denial, outside_reach, Draft, Verdict};
use super::{AdversaryKind, Knowledge, Targeting};

fn llm_reach(at: &str, a: &LlmApp) -> (AdversaryKind, i32, String) {
    match outside_reach(&a.access) {
        Some((aud, base)) => (
            adversary_of(aud),
            base,
            format!(
                "{at}.access includes {}: {}",
                aud.as_str(),
                match aud {
                    Audience::Public => "anyone can write to it",
                    Audience::Customers => "every customer can write to it",
                    _ => "employees can write to it",
                }
            ),
        ),
        None => (
            AdversaryKind::Insider,
            1,
            format!("{at}.access is insiders only"),
        ),
    }
}

fn llm_integrity(at: &str, a: &LlmApp) -> (i32, String) {
    if a.tools.iter().any(|t| t.side_effects) {
        (
            4,
            format!("{at}.tools includes tools with side effects: a hijacked reply acts"),
        )
    } else {
        (
            3,
            "a hijacked reply misleads the user or the organisation".into(),
        )
    }
}

pub fn direct_injection(at: &str, a: &LlmApp) -> Verdict {
    let (adversary, exposure, why) = llm_reach(at, a);
    let (severity, sev_why) = llm_integrity(at, a);
    Verdict::Applies(Box::new(Draft {
        family: "prompt-injection",
        title: "User prompts override the application's instructions".into(),
        techniques: vec!["AML.T0051.000", "AML.T0065"],
        rationale: vec![why.clone(), format!("{at} is an LLM application: its instructions and the user's text share one context")],
        adversary,
        knowledge: Knowledge::BlackBox,
        targeting: Targeting::Targeted,
        exposure,
        exposure_why: why,
        harms: vec![(Objective::Integrity, severity, sev_why)],
        scores: false,
    }))
}

pub fn jailbreak(at: &str, a: &LlmApp) -> Verdict {
    let (adversary, exposure, why) = llm_reach(at, a);
    Verdict::Applies(Box::new(Draft {
        family: "jailbreak",
        title: "Jailbreaks make the model produce what its policy forbids".into(),
        techniques: vec!["AML.T0054", "AML.T0068"],
        rationale: vec![why.clone()],
        adversary,
        knowledge: Knowledge::BlackBox,
        targeting: Targeting::Targeted,
        exposure,
        exposure_why: why,
        harms: vec![(
            Objective::Integrity,
            3,
            "harmful or off-policy output in the organisation's name".into(),
        )],
        scores: false,
    }))
}

pub fn indirect_injection(at: &str, a: &LlmApp) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0051.001", "AML.T0070", "AML.T0066"];
    if a.rag != Rag::UntrustedDocuments {
        return absent(
            "indirect-injection",
            TECHNIQUES,
            format!(
                "{at}.rag is {}: no text an outsider wrote is retrieved into its context",
                super::profile::kebab(&a.rag)
            ),
        );
    }
    let (severity, sev_why) = llm_integrity(at, a);
    let mut harms = vec![(Objective::Integrity, severity, sev_why)];
    if a.system_prompt_secrets || !a.tools.is_empty() {
        harms.push((
            Objective::Confidentiality,
            4,
            "an injected document can ask for the secrets in its context".into(),
        ));
    }
    Verdict::Applies(Box::new(Draft {
        family: "indirect-injection",
        title: "Instructions hidden in retrieved documents hijack the application".into(),
        techniques: TECHNIQUES.to_vec(),
        rationale: vec![format!(
            "{at}.rag is untrusted-documents: text anyone can write is read as context"
        )],
        adversary: AdversaryKind::ContentAuthor,
        knowledge: Knowledge::BlackBox,
        targeting: Targeting::Either,
        exposure: 4,
        exposure_why: "anyone who can publish a document it retrieves".into(),
        harms,
        scores: false,
    }))
}

pub fn system_prompt(at: &str, a: &LlmApp) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0056", "AML.T0069.002"];
    if !a.system_prompt_secrets {
        return absent("prompt-leak", TECHNIQUES, format!("{at}.system_prompt_secrets is false: its system prompt holds nothing a user may not read"));
    }
    let (adversary, exposure, why) = llm_reach(at, a);
    Verdict::Applies(Box::new(Draft {
        family: "prompt-leak",
        title: "The system prompt and the secrets in it are extracted".into(),
        techniques: TECHNIQUES.to_vec(),
        rationale: vec![why.clone(), format!("{at}.system_prompt_secrets is true")],
        adversary,
        knowledge: Knowledge::BlackBox,
        targeting: Targeting::Targeted,
        exposure,
        exposure_why: why,
        harms: vec![(
            Objective::Confidentiality,
            4,
            "the system prompt holds secrets".into(),
        )],
        scores: false,
    }))
}

pub fn data_leakage(at: &str, a: &LlmApp) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0057"];
    if a.rag != Rag::InternalDocuments && !a.system_prompt_secrets {
        return absent("data-leakage", TECHNIQUES, format!("{at}.rag is {} and system_prompt_secrets is false: nothing confidential is in its context", super::profile::kebab(&a.rag)));
    }
    let (adversary, exposure, why) = llm_reach(at, a);
    let mut rationale = vec![why.clone()];
    if a.rag == Rag::InternalDocuments {
        rationale.push(format!(
            "{at}.rag is internal-documents: confidential text is retrieved into replies"
        ));
    }
    if a.system_prompt_secrets {
        rationale.push(format!("{at}.system_prompt_secrets is true"));
    }
    Verdict::Applies(Box::new(Draft {
        family: "data-leakage",
        title: "Confidential data in the context is disclosed to the user".into(),
        techniques: TECHNIQUES.to_vec(),
        rationale,
        adversary,
        knowledge: Knowledge::BlackBox,
        targeting: Targeting::Targeted,
        exposure,
        exposure_why: why,
        harms: vec![(
            Objective::Confidentiality,
            4,
            "confidential documents or secrets".into(),
        )],
        scores: false,
    }))
}

pub fn rendering(at: &str, a: &LlmApp) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0077"];
    if !a.renders_markdown {
        return absent("exfiltration", TECHNIQUES, format!("{at}.renders_markdown is false: a reply's images and links do not load by themselves"));
    }
    if a.rag == Rag::None && !a.system_prompt_secrets && a.tools.is_empty() {
        return absent("exfiltration", TECHNIQUES, format!("{at}: nothing in its context is secret (no rag, no tools, system_prompt_secrets false)"));
    }
    let (adversary, exposure, why) = llm_reach(at, a);
    Verdict::Applies(Box::new(Draft {
        family: "exfiltration",
        title: "A rendered image or link sends context data to the attacker".into(),
        techniques: TECHNIQUES.to_vec(),
        rationale: vec![
            why.clone(),
            format!(
                "{at}.renders_markdown is true: an image URL in a reply is fetched without a click"
            ),
        ],
        adversary,
        knowledge: Knowledge::BlackBox,
        targeting: Targeting::Targeted,
        exposure: exposure - 1,
        exposure_why: format!("{why}; the attacker also needs an injection to succeed (−1)"),
        harms: vec![(
            Objective::Confidentiality,
            4,
            "context data leaves in the URL".into(),
        )],
        scores: false,
    }))
}

pub fn tool_misuse(at: &str, a: &LlmApp) -> Verdict {
    const TECHNIQUES: &[&str] = &["AML.T0053", "AML.T0086"];
    if a.tools.is_empty() {
        return absent(
            "tool-misuse",
            TECHNIQUES,
            format!("{at}.tools is empty: the application calls no tools"),
        );
    }
    let (adversary, exposure, why) = llm_reach(at, a);
    let acting: Vec<&str> = a
        .tools
        .iter()
        .filter(|t| t.side_effects)
        .map(|t| t.name.as_str())
        .collect();
    let mut rationale = vec![why.clone()];
    let severity = if acting.is_empty() {
        rationale.push(format!(
            "{at}.tools: {} (read-only)",
            a.tools
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        (
            3,
            "read-only tools can still leak what they read".to_string(),
        )
    } else {
        rationale.push(format!(
            "{at}.tools with side effects: {}",
            acting.join(", ")
        ));
        (
            4,
            format!("a hijacked call to {} changes something", acting.join(", ")),
        )
    };
    let mut techniques = TECHNIQUES.to_vec();
    if !acting.is_empty() {
        techniques.push("AML.T0101");
    }
    Verdict::Applies(Box::new(Draft {
        family: "tool-misuse",
        title: "The model is talked into calling its tools for the attacker".into(),
        techniques,
        rationale,
        adversary,
        knowledge: Knowledge::BlackBox,
        targeting: Targeting::Targeted,
        exposure,
        exposure_why: why,
        harms: vec![
            (Objective::Integrity, severity.0, severity.1),
            (
                Objective::Confidentiality,
                3,
                "tool results can carry data to the attacker".into(),
            ),
        ],
        scores: false,
    }))
}

pub fn llm_denial(at: &str, a: &LlmApp) -> Verdict {
    denial(at, &a.access, true)
}

/// The rules for an LLM application, in report order.
pub fn for_llm_app(at: &str, a: &LlmApp) -> Vec<Verdict> {
    vec![
        direct_injection(at, a),
        indirect_injection(at, a),
        jailbreak(at, a),
        system_prompt(at, a),
        data_leakage(at, a),
        rendering(at, a),
        tool_misuse(at, a),
        llm_denial(at, a),
    ]
}
