//! Runs probes against a target: every probe's plans, as written and under each buff, each
//! sampled `samples` times, on `concurrency` workers. Each finished attempt is appended to a
//! JSONL journal at once, so that an interrupted run resumes where it stopped.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::buffs::Buff;
use crate::chat::{ChatRequest, Message, Reply, SessionState};
use crate::context::ProbeContext;
use crate::detectors::{self, Verdict};
use crate::error::{LlmError, Result};
use crate::probes::{Plan, Probe};
use crate::summary::{summarise, Summary};
use crate::targets::Target;
use crate::transport::Spent;

#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    pub probes: Vec<String>,
    /// Buffs run in addition to the plain probes.
    pub buffs: Vec<Buff>,
    /// Repetitions of every attempt (for targets that are not deterministic).
    pub samples: u32,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// At most this many payloads of each probe (in file order); `None`: all.
    pub max_payloads: Option<usize>,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The goal's detector found evidence.
    Success,
    /// Replies came back without evidence.
    Failure,
    /// The target failed (after retries) or answered garbage.
    Error,
    /// Not sent: the run's request or token budget was spent.
    Skipped,
}

/// One attempt, as a JSONL line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub id: String,
    pub probe: String,
    pub family: String,
    pub atlas: Vec<String>,
    pub payload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buff: Option<String>,
    pub sample: u32,
    /// What was sent before the first user turn (the system prompt, fabricated history).
    pub preamble: Vec<Message>,
    /// The user turns, in order.
    pub turns: Vec<String>,
    /// The model's replies, one per user turn answered.
    pub replies: Vec<Reply>,
    pub outcome: Outcome,
    pub verdict: Verdict,
    pub refusal: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The journal's first line: what the attempts in it were made against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalHeader {
    pub aisec_journal: u32,
    pub target: String,
    pub seed: u64,
    pub system_prompt_sha: String,
}

pub struct RunOutcome {
    pub attempts: Vec<Attempt>,
    pub summary: Summary,
    pub spent: Spent,
    pub wall_seconds: f64,
    /// Attempts taken from the journal rather than sent in this run.
    pub resumed: usize,
}

/// A short fingerprint of the system prompt (FNV-1a), so a journal is not resumed against a
/// different prompt.
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

struct Job {
    probe: &'static dyn Probe,
    plan: Plan,
    buff: Option<Buff>,
    sample: u32,
    id: String,
}

fn jobs(probes: &[&'static dyn Probe], ctx: &ProbeContext, cfg: &RunConfig) -> Vec<Job> {
    let mut out = Vec::new();
    let variants: Vec<Option<Buff>> = std::iter::once(None)
        .chain(cfg.buffs.iter().copied().map(Some))
        .collect();
    for &probe in probes {
        for &buff in &variants {
            let plans = probe.plans(ctx, buff);
            let take = cfg.max_payloads.unwrap_or(plans.len());
            for plan in plans.into_iter().take(take) {
                for sample in 0..cfg.samples.max(1) {
                    let id = format!(
                        "{}/{}/{}/{}",
                        probe.info().name,
                        plan.payload,
                        buff.map_or("none", |b| b.name()),
                        sample
                    );
                    out.push(Job {
                        probe,
                        plan: plan.clone(),
                        buff,
                        sample,
                        id,
                    });
                }
            }
        }
    }
    out
}

fn attempt(target: &dyn Target, job: &Job) -> Attempt {
    let info = job.probe.info();
    let mut messages = job.plan.preamble.clone();
    let mut replies = Vec::new();
    let mut state = SessionState::new();
    let mut error = None;
    let mut skipped = false;
    for turn in &job.plan.turns {
        messages.push(Message::user(turn));
        let req = ChatRequest {
            messages: messages.clone(),
            tools: job.plan.tools.clone(),
            max_tokens: job.plan.max_tokens,
        };
        match target.chat(&req, &mut state) {
            Ok(reply) => {
                let mut said = Message::assistant(&reply.content);
                said.tool_calls = reply.tool_calls.clone();
                messages.push(said);
                replies.push(reply);
            }
            Err(e) => {
                skipped = matches!(e, LlmError::BudgetSpent { .. });
                error = Some(e.to_string());
                break;
            }
        }
    }
    let (verdict, refusal) = detectors::judge(&job.plan.goal, &replies, &job.plan.turns);
    // Evidence already in hand stands even if a later turn failed.
    let outcome = match (&error, verdict.hit) {
        (_, true) => Outcome::Success,
        (None, false) => Outcome::Failure,
        (Some(_), false) if skipped => Outcome::Skipped,
        (Some(_), false) => Outcome::Error,
    };
    Attempt {
        id: job.id.clone(),
        probe: info.name.into(),
        family: info.family.into(),
        atlas: info.atlas.iter().map(|s| s.to_string()).collect(),
        payload: job.plan.payload.clone(),
        buff: job.buff.map(|b| b.name().to_string()),
        sample: job.sample,
        preamble: job.plan.preamble.clone(),
        turns: job.plan.turns.clone(),
        replies,
        outcome,
        verdict,
        refusal,
        error,
    }
}

/// Reads a journal: the attempts that finished (successes and failures; errors and skips
/// are tried again). A journal made against another target, seed or system prompt is refused.
fn read_journal(path: &Path, header: &JournalHeader) -> Result<Vec<Attempt>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(LlmError::Io {
                path: path.display().to_string(),
                source: e,
            })
        }
    };
    let mut lines = std::io::BufReader::new(file).lines();
    let bad = |why: String| LlmError::Invalid(format!("--journal {}: {why}", path.display()));
    let Some(first) = lines.next() else {
        return Ok(Vec::new());
    };
    let first = first.map_err(|e| bad(e.to_string()))?;
    let found: JournalHeader = serde_json::from_str(&first).map_err(|e| {
        bad(format!(
            "the first line is not an aisec journal header ({e})"
        ))
    })?;
    if &found != header {
        return Err(bad(format!(
            "it was made against {} (seed {}, system prompt {}), not {} (seed {}, system prompt {}); use another file to start afresh",
            found.target, found.seed, found.system_prompt_sha, header.target, header.seed, header.system_prompt_sha
        )));
    }
    let mut done = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|e| bad(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Attempt>(&line) {
            Ok(a) if matches!(a.outcome, Outcome::Success | Outcome::Failure) => done.push(a),
            Ok(_) => {}
            // An interrupted write leaves a partial last line; anything else is corruption.
            Err(e) => tracing::warn!("--journal {} line {}: skipped ({e})", path.display(), n + 2),
        }
    }
    Ok(done)
}

/// Runs the probes. `journal`: a JSONL file that receives every attempt as it finishes and,
/// when it already holds attempts of the same run, supplies them instead of sending again.
pub fn run(
    target: &dyn Target,
    probes: &[&'static dyn Probe],
    ctx: &ProbeContext,
    cfg: &RunConfig,
    journal: Option<&Path>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<RunOutcome> {
    if cfg.concurrency == 0 {
        return Err(LlmError::Invalid(
            "--concurrency: must be at least 1".into(),
        ));
    }
    let started = Instant::now();
    let header = JournalHeader {
        aisec_journal: 1,
        target: target.describe(),
        seed: ctx.seed,
        system_prompt_sha: fingerprint(&ctx.system_prompt),
    };
    let all = jobs(probes, ctx, cfg);
    let wanted: HashSet<&str> = all.iter().map(|j| j.id.as_str()).collect();
    let mut finished: Vec<Attempt> = match journal {
        Some(p) => read_journal(p, &header)?
            .into_iter()
            .filter(|a| wanted.contains(a.id.as_str()))
            .collect(),
        None => Vec::new(),
    };
    let resumed = finished.len();
    let done_ids: HashSet<String> = finished.iter().map(|a| a.id.clone()).collect();
    let todo: Vec<&Job> = all.iter().filter(|j| !done_ids.contains(&j.id)).collect();
    let writer = match journal {
        Some(p) => {
            let fresh = resumed == 0;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(!fresh)
                .truncate(fresh)
                .open(p)
                .map_err(|e| LlmError::Io {
                    path: p.display().to_string(),
                    source: e,
                })?;
            if fresh {
                writeln!(f, "{}", serde_json::to_string(&header).unwrap_or_default()).map_err(
                    |e| LlmError::Io {
                        path: p.display().to_string(),
                        source: e,
                    },
                )?;
            }
            Some(Mutex::new(f))
        }
        None => None,
    };
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(todo.len()));
    let total = all.len();
    let counted = AtomicUsize::new(resumed);
    progress(resumed, total);
    std::thread::scope(|scope| {
        for _ in 0..cfg.concurrency.min(todo.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = todo.get(i) else { break };
                let a = attempt(target, job);
                if let Some(w) = &writer {
                    if let (Ok(mut f), Ok(line)) = (w.lock(), serde_json::to_string(&a)) {
                        if let Err(e) = writeln!(f, "{line}").and_then(|_| f.flush()) {
                            tracing::warn!("cannot append to the journal: {e}");
                        }
                    }
                }
                if let Ok(mut r) = results.lock() {
                    r.push((i, a));
                }
                progress(counted.fetch_add(1, Ordering::Relaxed) + 1, total);
            });
        }
    });
    let mut fresh = results.into_inner().unwrap_or_default();
    fresh.sort_by_key(|(i, _)| *i);
    finished.extend(fresh.into_iter().map(|(_, a)| a));
    // Report order is the plan's order, whatever order the workers finished in.
    let order: std::collections::HashMap<&str, usize> = all
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.as_str(), i))
        .collect();
    finished.sort_by_key(|a| order.get(a.id.as_str()).copied().unwrap_or(usize::MAX));
    let summary = summarise(&finished);
    Ok(RunOutcome {
        spent: target.http().ledger.spent(&target.http().policy),
        summary,
        attempts: finished,
        wall_seconds: started.elapsed().as_secs_f64(),
        resumed,
    })
}
