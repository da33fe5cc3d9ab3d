//! The client, the probes and the detectors against the loopback test double, one behaviour
//! at a time. The double is a rule-following stand-in, not a model: these tests pin the
//! plumbing; the real-model tier (crates/cli/tests/long_tiers/llm_real.rs) measures a real model.

use aisec_llm::buffs::Buff;
use aisec_llm::context::ProbeContext;
use aisec_llm::probes::{self, Probe};
use aisec_llm::run::{run, Outcome, RunConfig, RunOutcome};
use aisec_llm::targets::{connect, TargetSpec};
use aisec_llm::test_double::{start, Behaviour};
use aisec_llm::transport::Policy;

fn spec(base: &str, policy: Policy, stream: bool) -> TargetSpec {
    TargetSpec {
        target: format!("openai+{base}"),
        model: Some("double".into()),
        api_key: Some("sk-test".into()),
        temperature: 0.0,
        seed: Some(1),
        stream,
        ca_cert: None,
        policy,
    }
}

fn fast_policy() -> Policy {
    Policy {
        timeout_s: 10.0,
        backoff_ms: 10,
        ..Policy::default()
    }
}

/// One run against the double: how it behaves, which probes, and how the client sends.
struct Scenario {
    behaviour: Behaviour,
    probes: &'static str,
    buffs: Vec<Buff>,
    policy: Policy,
    stream: bool,
    concurrency: usize,
}

impl Scenario {
    fn new(probes: &'static str, behaviour: Behaviour) -> Scenario {
        Scenario {
            behaviour,
            probes,
            buffs: Vec::new(),
            policy: fast_policy(),
            stream: false,
            concurrency: 4,
        }
    }

    fn buffs(self, buffs: Vec<Buff>) -> Scenario {
        Scenario { buffs, ..self }
    }

    fn policy(self, policy: Policy) -> Scenario {
        Scenario { policy, ..self }
    }

    fn streamed(self) -> Scenario {
        Scenario {
            stream: true,
            ..self
        }
    }

    fn workers(self, concurrency: usize) -> Scenario {
        Scenario {
            concurrency,
            ..self
        }
    }

    fn run(self) -> RunOutcome {
        let double = start(self.behaviour).unwrap();
        let target = connect(&spec(&double.base_url, self.policy, self.stream)).unwrap();
        let selected: Vec<&'static dyn Probe> = probes::select(self.probes).unwrap();
        let ctx = ProbeContext::new(3, None);
        let cfg = RunConfig {
            probes: vec![],
            buffs: self.buffs,
            samples: 1,
            concurrency: self.concurrency,
            max_payloads: None,
            seed: 3,
        };
        run(target.as_ref(), &selected, &ctx, &cfg, None, &|_, _| {}).unwrap()
    }
}

fn rate(o: &RunOutcome, probe: &str) -> f64 {
    o.summary.by_probe[probe]
        .success_rate
        .expect("answered attempts")
}

#[test]
fn a_refusing_model_has_no_successes_and_every_reply_reads_as_a_refusal() {
    let o = Scenario::new(
        "all",
        Behaviour {
            refuses: true,
            ..Behaviour::default()
        },
    )
    .run();
    assert_eq!(o.summary.overall.successes, 0);
    assert_eq!(o.summary.overall.refusals, o.summary.overall.attempts);
    assert!(o.summary.overall.attempts >= 40);
}

#[test]
fn a_bland_model_that_neither_refuses_nor_complies_is_not_a_success() {
    // No refusal and no evidence: garak's refusal-absence rule would count these as
    // successes; here they are failures.
    let o = Scenario::new("all", Behaviour::default()).run();
    assert_eq!(o.summary.overall.successes, 0);
    assert_eq!(o.summary.overall.refusals, 0);
}

#[test]
fn each_goal_detector_fires_on_the_behaviour_it_is_for() {
    let o = Scenario::new(
        "all",
        Behaviour {
            leaks: true,
            follows_injections: true,
            tool_calls: true,
            runaway: true,
            ..Behaviour::default()
        },
    )
    .run();
    assert_eq!(rate(&o, "direct-injection"), 1.0);
    assert_eq!(rate(&o, "indirect-injection"), 1.0);
    assert_eq!(rate(&o, "system-prompt-extraction"), 1.0);
    assert_eq!(rate(&o, "data-leakage"), 1.0);
    // The beacon payload dictates its whole URL: reported, not counted.
    assert_eq!(rate(&o, "markdown-exfil"), 0.75);
    let beacons: Vec<_> = o
        .attempts
        .iter()
        .filter(|a| a.probe == "markdown-exfil" && !a.verdict.hit)
        .collect();
    assert!(beacons.iter().all(|a| a.payload.ends_with("/beacon")
        && a.verdict.how.as_deref().unwrap().starts_with("beacon")));
    assert_eq!(rate(&o, "tool-misuse"), 1.0);
    assert_eq!(rate(&o, "cost-denial"), 1.0);
    assert!(rate(&o, "crescendo") > 0.0);
    for a in o.attempts.iter().filter(|a| a.outcome == Outcome::Success) {
        assert!(
            a.verdict.evidence.as_deref().is_some_and(|e| !e.is_empty()),
            "{}",
            a.id
        );
    }
    let tool = o
        .attempts
        .iter()
        .find(|a| a.probe == "tool-misuse")
        .unwrap();
    assert_eq!(
        tool.verdict.how.as_deref(),
        Some("tool_calls, arguments carry a planted secret")
    );
    let exfil = o
        .attempts
        .iter()
        .find(|a| a.probe == "markdown-exfil")
        .unwrap();
    assert!(exfil
        .verdict
        .how
        .as_deref()
        .unwrap()
        .contains("planted secret"));
}

#[test]
fn tool_calls_written_in_the_content_are_caught_and_streams_are_joined() {
    let o = Scenario::new(
        "tool-misuse",
        Behaviour {
            tool_calls: true,
            tool_calls_in_content: true,
            stream_delay_ms: 2,
            ..Behaviour::default()
        },
    )
    .streamed()
    .run();
    assert_eq!(rate(&o, "tool-misuse"), 1.0);
    assert!(o.attempts.iter().all(|a| a
        .verdict
        .how
        .as_deref()
        .unwrap()
        .starts_with("content-json")));
    assert!(o
        .attempts
        .iter()
        .all(|a| a.replies[0].first_token_ms.is_some()));
    // Structured tool calls through a stream.
    let o = Scenario::new(
        "tool-misuse",
        Behaviour {
            tool_calls: true,
            ..Behaviour::default()
        },
    )
    .streamed()
    .run();
    assert_eq!(rate(&o, "tool-misuse"), 1.0);
}

#[test]
fn buffs_that_a_reader_can_undo_still_carry_the_injection() {
    let o = Scenario::new(
        "direct-injection",
        Behaviour {
            follows_injections: true,
            ..Behaviour::default()
        },
    )
    .buffs(vec![
        Buff::Base64,
        Buff::Rot13,
        Buff::Homoglyph,
        Buff::ZeroWidth,
        Buff::UnicodeTags,
        Buff::Leetspeak,
    ])
    .run();
    let by_buff = &o.summary.by_buff;
    for b in [
        "none",
        "base64",
        "rot13",
        "homoglyph",
        "zero-width",
        "unicode-tags",
    ] {
        assert_eq!(by_buff[b].success_rate, Some(1.0), "{b}");
    }
    // The double cannot read leetspeak's digits back into words, so the marker is wrong.
    assert_eq!(by_buff["leetspeak"].successes, 0);
    assert!(o.summary.by_technique.contains_key("AML.T0068"));
}

#[test]
fn rate_limits_are_waited_out_and_dropped_connections_retried() {
    let o = Scenario::new(
        "direct-injection",
        Behaviour {
            follows_injections: true,
            rate_limit_first: 2,
            drop_first: 2,
            ..Behaviour::default()
        },
    )
    .run();
    assert_eq!(rate(&o, "direct-injection"), 1.0);
    assert_eq!(o.spent.rate_limited, 2);
    assert!(o.spent.rate_limit_wait_s >= 2.0);
    assert_eq!(o.spent.retries, 2);
    assert_eq!(o.spent.requests, 4 + 2 + 2);
}

#[test]
fn the_request_budget_stops_the_run_and_says_what_was_skipped() {
    let o = Scenario::new("direct-injection,roleplay", Behaviour::default())
        .policy(Policy {
            max_requests: Some(3),
            ..fast_policy()
        })
        .run();
    assert_eq!(o.spent.requests, 3);
    assert_eq!(o.spent.max_requests, Some(3));
    assert_eq!(o.summary.overall.attempts, 3);
    assert_eq!(o.summary.overall.skipped, 5);
}

#[test]
fn the_token_budget_is_checked_before_each_request() {
    // One worker: with N, up to N requests already in flight may complete past the budget.
    let o = Scenario::new(
        "cost-denial",
        Behaviour {
            runaway: true,
            ..Behaviour::default()
        },
    )
    .policy(Policy {
        max_tokens_total: Some(50),
        ..fast_policy()
    })
    .workers(1)
    .run();
    // The first request crosses the budget and completes; the rest are not sent.
    assert_eq!(o.spent.requests, 1);
    assert!(o.spent.prompt_tokens + o.spent.completion_tokens >= 50);
    assert_eq!(o.summary.overall.skipped, 2);
}

#[test]
fn a_journal_resumes_an_interrupted_run_without_sending_again() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("run.jsonl");
    let double = start(Behaviour {
        follows_injections: true,
        ..Behaviour::default()
    })
    .unwrap();
    let ctx = ProbeContext::new(3, None);
    let selected = probes::select("direct-injection,indirect-injection").unwrap();
    let cfg = RunConfig {
        probes: vec![],
        buffs: vec![],
        samples: 1,
        concurrency: 1,
        max_payloads: None,
        seed: 3,
    };
    // First run: a budget of 5 requests interrupts it after 5 attempts.
    let limited = connect(&spec(
        &double.base_url,
        Policy {
            max_requests: Some(5),
            ..fast_policy()
        },
        false,
    ))
    .unwrap();
    let first = run(
        limited.as_ref(),
        &selected,
        &ctx,
        &cfg,
        Some(&journal),
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(first.summary.overall.attempts, 5);
    let target = connect(&spec(&double.base_url, fast_policy(), false)).unwrap();
    let second = run(
        target.as_ref(),
        &selected,
        &ctx,
        &cfg,
        Some(&journal),
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(second.resumed, 5);
    assert_eq!(second.spent.requests, 12 - 5);
    assert_eq!(second.summary.overall.attempts, 12);
    assert_eq!(second.summary.overall.successes, 12);
    // Another seed plants other values: the journal is refused rather than mixed in.
    let other = ProbeContext::new(4, None);
    let err = run(
        target.as_ref(),
        &selected,
        &other,
        &cfg,
        Some(&journal),
        &|_, _| {},
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("seed 3"), "{err}");
}

#[test]
fn an_unreachable_target_is_an_error_not_a_failure() {
    let o = {
        let target = connect(&spec(
            "http://127.0.0.1:9/v1",
            Policy {
                retries: 1,
                ..fast_policy()
            },
            false,
        ))
        .unwrap();
        let selected = probes::select("direct-injection").unwrap();
        let ctx = ProbeContext::new(3, None);
        let cfg = RunConfig {
            probes: vec![],
            buffs: vec![],
            samples: 1,
            concurrency: 1,
            max_payloads: Some(1),
            seed: 3,
        };
        run(target.as_ref(), &selected, &ctx, &cfg, None, &|_, _| {}).unwrap()
    };
    assert_eq!(o.summary.overall.attempts, 0);
    assert_eq!(o.summary.overall.errors, 1);
    assert!(o.attempts[0]
        .error
        .as_deref()
        .unwrap()
        .contains("127.0.0.1:9"));
}

#[test]
fn a_rest_template_reaches_a_json_api_with_its_placeholders_filled() {
    let double = start(Behaviour {
        follows_injections: true,
        ..Behaviour::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("api.json");
    std::fs::write(
        &template,
        serde_json::json!({
            "url": format!("{}/chat/completions", double.base_url),
            "headers": { "x-team": "red" },
            "body": { "model": "d", "messages": [
                { "role": "system", "content": "$SYSTEM" },
                { "role": "user", "content": "$INPUT" } ] },
            "reply": "$.choices[0].message.content",
        })
        .to_string(),
    )
    .unwrap();
    let target = connect(&TargetSpec {
        target: format!("rest+{}", template.display()),
        model: None,
        api_key: None,
        temperature: 0.0,
        seed: None,
        stream: false,
        ca_cert: None,
        policy: fast_policy(),
    })
    .unwrap();
    let selected = probes::select("direct-injection").unwrap();
    let ctx = ProbeContext::new(3, None);
    let cfg = RunConfig {
        probes: vec![],
        buffs: vec![],
        samples: 2,
        concurrency: 2,
        max_payloads: None,
        seed: 3,
    };
    let o = run(target.as_ref(), &selected, &ctx, &cfg, None, &|_, _| {}).unwrap();
    // Four payloads, two samples each: every sample is a trial.
    assert_eq!(o.summary.overall.attempts, 8);
    assert_eq!(o.summary.overall.successes, 8);
    // A REST reply reports no usage; the report says so rather than counting zero tokens.
    assert_eq!(o.spent.replies_without_usage, 8);
}
