//! LLM probes in the one runner: every selected probe against the chat API, again through the
//! guarding proxy (the LLM guard sits in the query path: it refuses flagged requests and
//! withholds replies that carry what it protects), ordinary messages through the same proxy
//! to measure what the guard costs harmless users, and — when asked for — an adaptive
//! attacker that knows the guard and rewrites each turn until it passes.

use std::path::PathBuf;
use std::sync::Arc;

use aisec_atlas::KnowledgeBase;
use aisec_defenses::{DefenseSpec, Family, Role};
use aisec_llm::context::ProbeContext;
use aisec_llm::guard::{proxy, Guard};
use aisec_llm::probes::Probe;
use aisec_llm::run::{self, RunConfig, RunOutcome};
use aisec_llm::targets::{self, TargetSpec};
use aisec_report::RunReport;

use super::Experiment;
use crate::{AssessError, Result};

/// The guard proxy's settings as the defended run's report states them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GuardProxySettings {
    pub guard: String,
    pub threshold: f64,
    pub mode: proxy::Mode,
    pub checked_roles: Vec<String>,
    pub hold_back_chars: usize,
}

/// What the guard proxy did while the probes ran through it, and what it cost ordinary chat.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GuardProxyObserved {
    pub requests: u64,
    pub blocked_requests: u64,
    pub blocked_replies: u64,
    pub guard_latency_per_check: Option<aisec_llm::guard::eval::Latency>,
    pub guard_latency_note: &'static str,
    pub benign: Option<aisec_llm::benign::BenignCost>,
    pub benign_note: &'static str,
}

pub struct LlmProbeSetup<'a> {
    pub spec: TargetSpec,
    pub probes: Vec<&'static dyn Probe>,
    pub ctx: ProbeContext,
    pub cfg: RunConfig,
    /// The plain run's journal; the defended and adaptive runs keep theirs beside it
    /// (`.defended`, `.adaptive`), so each resumes on its own.
    pub journal: Option<PathBuf>,
    /// With a guard: an attacker that rewrites each turn up to this many times until the
    /// guard lets it pass.
    pub adaptive_edits: Option<usize>,
    /// Ordinary messages sent through the guard after the attacks (false blocks).
    pub benign: usize,
    pub timeout_s: f64,
    pub kb: &'a KnowledgeBase,
    /// Progress lines, e.g. "through the guard: 12/27 attempts".
    pub progress: &'a (dyn Fn(String) + Sync),
}

pub struct LlmProbes<'a> {
    pub setup: LlmProbeSetup<'a>,
    pub outcome: Option<RunOutcome>,
    pub defended: Option<RunOutcome>,
    pub adaptive: Option<RunOutcome>,
    /// The proxy of the defended run, kept for the adaptive run.
    through: Option<(proxy::Proxy, Arc<Guard>, String, TargetSpec)>,
}

impl<'a> LlmProbes<'a> {
    pub fn new(setup: LlmProbeSetup<'a>) -> Self {
        LlmProbes {
            setup,
            outcome: None,
            defended: None,
            adaptive: None,
            through: None,
        }
    }

    fn journal(&self, suffix: &str) -> Option<PathBuf> {
        self.setup.journal.as_ref().map(|j| {
            let mut p = j.clone().into_os_string();
            p.push(suffix);
            PathBuf::from(p)
        })
    }
}

impl Experiment for LlmProbes<'_> {
    fn family(&self) -> Family {
        Family::Llm
    }

    fn check(&self, defense: &DefenseSpec) -> Result<()> {
        if defense.info().role != Role::QueryPath
            || defense
                .config::<aisec_defenses::llm_guard::LlmGuardConfig>()
                .is_none()
        {
            return Err(AssessError::Config(format!(
                "{} is not measured by the LLM probes",
                defense.info().name
            )));
        }
        if !self.setup.spec.target.starts_with("openai+") {
            return Err(AssessError::Config(
                "--defend guard: the guarding proxy speaks the OpenAI chat API, so the target must be openai+URL".into(),
            ));
        }
        Ok(())
    }

    fn attack(&mut self) -> Result<RunReport> {
        let s = &self.setup;
        let target = targets::connect(&s.spec)?;
        let progress = |done: usize, total: usize| (s.progress)(format!("{done}/{total} attempts"));
        let outcome = run::run(
            target.as_ref(),
            &s.probes,
            &s.ctx,
            &s.cfg,
            s.journal.as_deref(),
            &progress,
        )?;
        let report = aisec_llm::report::report(
            &outcome,
            &s.probes,
            &s.ctx,
            &s.cfg,
            &target.describe(),
            s.kb,
        );
        self.outcome = Some(outcome);
        Ok(report)
    }

    fn defended(&mut self, defense: &DefenseSpec) -> Result<RunReport> {
        let dir = defense
            .config::<aisec_defenses::llm_guard::LlmGuardConfig>()
            .and_then(|c| c.dir.clone());
        let base = self
            .setup
            .spec
            .target
            .strip_prefix("openai+")
            .unwrap_or_default();
        let guard = Arc::new(Guard::load(dir.as_deref())?);
        let mut pc = proxy::ProxyConfig::new(base);
        pc.ca_cert = self.setup.spec.ca_cert.clone();
        pc.timeout_s = self.setup.timeout_s;
        let settings = GuardProxySettings {
            guard: guard.describe(),
            threshold: guard.meta.threshold,
            mode: pc.mode,
            checked_roles: pc.check_roles.clone(),
            hold_back_chars: proxy::HOLD_BACK,
        };
        let running = proxy::start(guard.clone(), pc, "127.0.0.1:0")?;
        let through = TargetSpec {
            target: format!("openai+{}", running.base_url),
            ca_cert: None,
            ..self.setup.spec.clone()
        };
        // Named by the real target, not the proxy's port of this run, so that the journal of
        // the defended pass resumes.
        let through_name = format!(
            "{} through the aisec guard proxy ({})",
            targets::connect(&self.setup.spec)?.describe(),
            guard.describe()
        );
        let target = targets::Named {
            inner: targets::connect(&through)?,
            name: through_name.clone(),
        };
        let s = &self.setup;
        let progress = |done: usize, total: usize| {
            (s.progress)(format!("through the guard: {done}/{total} attempts"))
        };
        let journal = self.journal(".defended");
        let outcome = run::run(
            &target,
            &s.probes,
            &s.ctx,
            &s.cfg,
            journal.as_deref(),
            &progress,
        )?;
        // What the defence costs harmless users, measured on the same proxy after the attacks.
        let benign = (s.benign > 0).then(|| {
            (s.progress)(format!("{} ordinary messages through the guard", s.benign));
            aisec_llm::benign::measure(&target, &s.ctx, &aisec_llm::benign::sample(s.benign))
        });
        let st = &running.stats;
        let micros = st
            .guard_micros
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default();
        let latency = aisec_llm::guard::eval::latency(micros);
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        let observed = GuardProxyObserved {
            requests: st.requests.load(relaxed),
            blocked_requests: st.blocked_requests.load(relaxed),
            blocked_replies: st.blocked_replies.load(relaxed),
            guard_latency_per_check: latency,
            guard_latency_note: "microseconds the guard spent per request (input checks) and per reply (output checks); the proxy's added latency is this plus one loopback hop",
            benign,
            benign_note: "ordinary chat messages (aisec's payloads/ordinary-chat.txt, spread over the list) sent through the proxy after the attacks, with the probes' system prompt: how many the defence refused or withheld (false blocks); the request counts above include them",
        };
        let described = format!("{} through the aisec guard proxy", s.spec.target);
        let report =
            aisec_llm::report::report(&outcome, &s.probes, &s.ctx, &s.cfg, &described, s.kb)
                .with_defense(aisec_core::DefenseRef {
                    settings: Some(aisec_core::Details::new(settings)),
                    observed: Some(aisec_core::Details::new(observed)),
                    ..defense.as_defense().reference()
                });
        self.defended = Some(outcome);
        self.through = Some((running, guard, through_name, through));
        Ok(report)
    }

    fn adaptive(
        &mut self,
        _defense: &DefenseSpec,
        _defended: &mut RunReport,
    ) -> Result<Option<RunReport>> {
        // The proxy stops when this returns, adaptive run or not.
        let Some((running, guard, through_name, through)) = self.through.take() else {
            return Ok(None);
        };
        let Some(max_edits) = self.setup.adaptive_edits else {
            drop(running);
            return Ok(None);
        };
        let evading = aisec_llm::guard::adaptive::EvadingTarget {
            inner: Box::new(targets::Named {
                inner: targets::connect(&through)?,
                name: through_name,
            }),
            guard,
            max_edits,
        };
        let s = &self.setup;
        let progress = |done: usize, total: usize| {
            (s.progress)(format!(
                "adaptive attacker through the guard: {done}/{total} attempts"
            ))
        };
        let journal = self.journal(".adaptive");
        let outcome = run::run(
            &evading,
            &s.probes,
            &s.ctx,
            &s.cfg,
            journal.as_deref(),
            &progress,
        )?;
        let described = aisec_llm::targets::Target::describe(&evading);
        let report =
            aisec_llm::report::report(&outcome, &s.probes, &s.ctx, &s.cfg, &described, s.kb);
        drop(running);
        self.adaptive = Some(outcome);
        Ok(Some(report))
    }
}
