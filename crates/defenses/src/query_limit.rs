//! Query monitoring: a per-client query budget and rate limit that any target can wear.
//!
//! - **Budget**: past `max_queries` the API refuses to answer, so query-hungry attacks
//!   (score- and decision-based) stop with what they had found.
//! - **Rate limit**: a token bucket (`per_second`, `burst`) per client. In
//!   [`RateMode::Throttle`] the client is made to wait for its tokens; in [`RateMode::Refuse`]
//!   the query is refused with a retry-after (HTTP 429 when served).
//!
//! What it does not stop, and the measurement shows: an attack that succeeds within the budget,
//! a patient adversary (a rate limit only stretches an attack in time — the wrapper reports by
//! how much), an adversary who rotates clients, and a white-box adversary.
//!
//! Attacks in this process run against a [`Clock::Virtual`] clock, which advances only by the
//! waits the limiter imposes, so the reported wait is the least extra time the attack would
//! need against the real API, measured on its real query sequence without sleeping.
//! `aisec model serve` uses the real clock.
//!
//! ATLAS: AML.M0004 Restrict Number of AI Model Queries, lifecycle phases Business and Data
//! Understanding, Deployment, and Monitoring and Maintenance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aisec_ml::model::{rows, Classifier, ModelInfo, QueryBudget, QueryOutput};
use aisec_ml::MlError;
use serde::Serialize;

use crate::defense::{Role, Action, AppliesTo, Defense, DefenseInfo, Family};
use crate::guard::{Guarded, Watcher};
use crate::registry::DefenseSpec;

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.query-limit",
    summary: "A per-client query budget (past it the API refuses to answer) or rate limit (the client waits)",
    mitigations: &["AML.M0004"],
    phases: &[
    "Business and Data Understanding",
    "Deployment",
    "Monitoring and Maintenance",
],
    applies_to: AppliesTo::QueryStream,
    action: Action::Watch,
    role: Role::QueryPath,
    families: &[Family::Evasion],
    measured_by: &["evasion.square", "evasion.hsj"],
    adaptive_attack: None,
    forms: &["budget:N", "rate:Q"],
};

/// The client name of queries that arrive through [`Classifier::query`].
pub const LOCAL_CLIENT: &str = "local";

/// A token bucket: `burst` queries at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl RateLimit {
    /// A limit of `per_second` queries per second with a burst of one second's worth.
    pub fn per_second(per_second: f64) -> Self {
        RateLimit {
            per_second,
            burst: per_second.max(1.0),
        }
    }
}

/// What happens to a query that finds the bucket empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RateMode {
    /// The client waits until its tokens are there.
    Throttle,
    /// The query is refused with the time after which it would be answered.
    Refuse,
}

/// Where time comes from.
#[derive(Debug)]
pub enum Clock {
    Real(Instant),
    /// Seconds; moves only when the limiter makes a client wait.
    Virtual(Mutex<f64>),
}

impl Clock {
    pub fn real() -> Self {
        Clock::Real(Instant::now())
    }

    pub fn virtual_clock() -> Self {
        Clock::Virtual(Mutex::new(0.0))
    }

    fn now(&self) -> f64 {
        match self {
            Clock::Real(start) => start.elapsed().as_secs_f64(),
            Clock::Virtual(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    fn wait(&self, seconds: f64) {
        match self {
            Clock::Real(_) => std::thread::sleep(Duration::from_secs_f64(seconds)),
            Clock::Virtual(t) => *t.lock().unwrap_or_else(|e| e.into_inner()) += seconds,
        }
    }
}

/// The policy a client is held to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QueryPolicy {
    pub max_queries: Option<u64>,
    pub rate: Option<RateLimit>,
    pub mode: RateMode,
}

impl QueryPolicy {
    pub fn budget(max_queries: u64) -> Self {
        QueryPolicy {
            max_queries: Some(max_queries),
            rate: None,
            mode: RateMode::Throttle,
        }
    }

    pub fn rate(limit: RateLimit, mode: RateMode) -> Self {
        QueryPolicy {
            max_queries: None,
            rate: Some(limit),
            mode,
        }
    }
}

/// What the monitor saw of one client.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClientStats {
    pub answered: u64,
    /// Queries refused: over the budget, or by the rate limit in refuse mode.
    pub refused: u64,
    /// Queries that had to wait for the rate limit.
    pub throttled: u64,
    /// Seconds the client was made to wait.
    pub waited_s: f64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: f64,
}

#[derive(Debug)]
struct ClientState {
    budget: Arc<QueryBudget>,
    bucket: Option<Bucket>,
    stats: ClientStats,
}

pub struct QueryLimit {
    inner: Arc<dyn Classifier>,
    policy: QueryPolicy,
    clock: Clock,
    local_budget: Arc<QueryBudget>,
    clients: Mutex<HashMap<String, ClientState>>,
    info: ModelInfo,
}

impl QueryLimit {
    /// A plain per-client query budget.
    pub fn new(inner: Arc<dyn Classifier>, max_queries: u64) -> Self {
        Self::with_policy(
            inner,
            QueryPolicy::budget(max_queries),
            Clock::virtual_clock(),
        )
    }

    pub fn with_policy(inner: Arc<dyn Classifier>, policy: QueryPolicy, clock: Clock) -> Self {
        let mut info = inner.info().clone();
        let mut limits = Vec::new();
        if let Some(max) = policy.max_queries {
            limits.push(format!("a {max}-query budget"));
        }
        if let Some(rate) = policy.rate {
            limits.push(format!(
                "a {} query/s rate limit ({})",
                rate.per_second,
                match policy.mode {
                    RateMode::Throttle => "throttled",
                    RateMode::Refuse => "refused",
                }
            ));
        }
        if !limits.is_empty() {
            info.description = format!("{} behind {}", info.description, limits.join(" and "));
        }
        let local_budget = Arc::new(QueryBudget::new(policy.max_queries));
        QueryLimit {
            inner,
            policy,
            clock,
            local_budget,
            clients: Mutex::new(HashMap::new()),
            info,
        }
    }

    /// Queries the local client spent.
    pub fn used(&self) -> u64 {
        self.local_budget.used()
    }

    pub fn policy(&self) -> QueryPolicy {
        self.policy
    }

    /// Per client, what the monitor saw.
    pub fn stats(&self) -> Vec<(String, ClientStats)> {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = clients
            .iter()
            .map(|(name, c)| (name.clone(), c.stats.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub fn client_stats(&self, client: &str) -> ClientStats {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(client)
            .map(|c| c.stats.clone())
            .unwrap_or_default()
    }

    /// Charges `n` queries to `client`: the budget first, then the rate limit. Returns how
    /// long the client must wait before its queries are answered (throttle mode).
    fn admit(&self, client: &str, n: u64) -> Result<f64, MlError> {
        let now = self.clock.now();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let state = clients
            .entry(client.to_string())
            .or_insert_with(|| ClientState {
                budget: if client == LOCAL_CLIENT {
                    self.local_budget.clone()
                } else {
                    Arc::new(QueryBudget::new(self.policy.max_queries))
                },
                bucket: self.policy.rate.map(|r| Bucket {
                    tokens: r.burst,
                    at: now,
                }),
                stats: ClientStats::default(),
            });
        if let Err(e) = state.budget.charge(n) {
            state.stats.refused += n;
            return Err(e);
        }
        let mut wait = 0.0;
        if let (Some(rate), Some(bucket)) = (self.policy.rate, state.bucket.as_mut()) {
            let elapsed = (now - bucket.at).max(0.0);
            bucket.tokens = (bucket.tokens + elapsed * rate.per_second).min(rate.burst);
            bucket.at = now;
            let need = n as f64;
            if bucket.tokens < need {
                let short = (need - bucket.tokens) / rate.per_second;
                if self.policy.mode == RateMode::Refuse {
                    state.budget.refund(n);
                    state.stats.refused += n;
                    return Err(MlError::RateLimited {
                        retry_after_ms: (short * 1000.0).ceil() as u64,
                    });
                }
                wait = short;
                state.stats.throttled += n;
                state.stats.waited_s += short;
                // The tokens the client waits for are spent on these queries.
                bucket.tokens = 0.0;
                bucket.at = now + short;
            } else {
                bucket.tokens -= need;
            }
        }
        state.stats.answered += n;
        Ok(wait)
    }
}

impl Classifier for QueryLimit {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    crate::guard::forward_to_inner!(output_kind, evaluate, scores);

    fn query(&self, x: &[f32]) -> Result<QueryOutput, MlError> {
        self.query_as(LOCAL_CLIENT, x)
    }

    fn query_as(&self, client: &str, x: &[f32]) -> Result<QueryOutput, MlError> {
        let n = rows(x, self.info.features())?;
        let wait = self.admit(client, n as u64)?;
        if wait > 0.0 {
            self.clock.wait(wait);
        }
        self.inner.query(x)
    }

    fn budget(&self) -> &QueryBudget {
        &self.local_budget
    }
}

/// The query limit as `--defend` sets it: `budget:N` queries, or `rate:Q` per second with
/// the client made to wait (throttled, on the virtual clock).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSpec {
    MaxQueries(u64),
    Rate(RateLimit),
}

/// A query budget's settings as reports state them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BudgetSettings {
    pub max_queries: u64,
}

/// A rate limit's settings as reports state them: in this process the client waits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RateSettings {
    pub rate: RateLimit,
    pub mode: RateMode,
}

impl LimitSpec {
    pub fn policy(self) -> QueryPolicy {
        match self {
            LimitSpec::MaxQueries(n) => QueryPolicy::budget(n),
            LimitSpec::Rate(rate) => QueryPolicy::rate(rate, RateMode::Throttle),
        }
    }
}

/// `budget:N` or `rate:Q`.
pub fn parse_form(keyword: &str, argument: Option<&str>) -> Option<Result<DefenseSpec, String>> {
    use crate::registry::number;
    let spec = match keyword {
        "budget" => number(argument, "N ≥ 1 queries", |n: &u64| *n >= 1).map(LimitSpec::MaxQueries),
        "rate" => number(argument, "Q > 0 queries per second", |q: &f64| {
            q.is_finite() && *q > 0.0
        })
        .map(|q| LimitSpec::Rate(RateLimit::per_second(q))),
        _ => return None,
    };
    Some(spec.map(DefenseSpec::new))
}

pub const ENTRY: crate::registry::Entry = crate::registry::Entry {
    info: &INFO,
    parse: parse_form,
};

impl Defense for LimitSpec {
    fn info(&self) -> &'static DefenseInfo {
        &INFO
    }

    fn settings(&self) -> aisec_core::Details {
        match *self {
            LimitSpec::MaxQueries(max_queries) => {
                aisec_core::Details::new(BudgetSettings { max_queries })
            }
            LimitSpec::Rate(rate) => aisec_core::Details::new(RateSettings {
                rate,
                mode: RateMode::Throttle,
            }),
        }
    }

    fn guard(&self, model: Arc<dyn Classifier>, _seed: u64) -> Option<Guarded> {
        // Attacks in this process run on the virtual clock: waits are measured, not slept.
        Some(Guarded::watched(Arc::new(QueryLimit::with_policy(
            model,
            self.policy(),
            Clock::virtual_clock(),
        ))))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Watcher for QueryLimit {
    fn observed(&self) -> Option<aisec_core::Details> {
        Some(aisec_core::Details::new(self.client_stats(LOCAL_CLIENT)))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisec_ml::model::OutputKind;

    /// A two-feature model that answers "class 0" to everything.
    struct Constant {
        info: ModelInfo,
        budget: QueryBudget,
    }

    impl Classifier for Constant {
        fn info(&self) -> &ModelInfo {
            &self.info
        }
        fn output_kind(&self) -> OutputKind {
            OutputKind::Label
        }
        fn query(&self, x: &[f32]) -> Result<QueryOutput, MlError> {
            Ok(QueryOutput::Labels(vec![0; x.len() / 2]))
        }
        fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>, MlError> {
            Ok(vec![0; x.len() / 2])
        }
        fn budget(&self) -> &QueryBudget {
            &self.budget
        }
    }

    fn constant() -> Arc<dyn Classifier> {
        Arc::new(Constant {
            info: ModelInfo {
                description: "constant".into(),
                input_shape: vec![2],
                num_classes: 2,
                input_range: None,
            },
            budget: QueryBudget::new(None),
        })
    }

    #[test]
    fn budgets_are_per_client() {
        let limit = QueryLimit::new(constant(), 3);
        limit.query_as("alice", &[0.0; 6]).unwrap();
        assert!(matches!(
            limit.query_as("alice", &[0.0; 2]),
            Err(MlError::BudgetExhausted { used: 3, max: 3 })
        ));
        // Another client has its own budget: rotating clients defeats a per-client budget.
        limit.query_as("mallory", &[0.0; 6]).unwrap();
        assert_eq!(limit.client_stats("alice").refused, 1);
        assert_eq!(limit.client_stats("mallory").answered, 3);
        assert_eq!(limit.used(), 0, "the local client did not query");
    }

    #[test]
    fn throttling_makes_the_client_wait_for_its_tokens() {
        let rate = RateLimit {
            per_second: 10.0,
            burst: 5.0,
        };
        let limit = QueryLimit::with_policy(
            constant(),
            QueryPolicy::rate(rate, RateMode::Throttle),
            Clock::virtual_clock(),
        );
        // 105 single queries: 5 from the burst, then one every 0.1 s.
        for _ in 0..105 {
            limit.query(&[0.0; 2]).unwrap();
        }
        let stats = limit.client_stats(LOCAL_CLIENT);
        assert_eq!(stats.answered, 105);
        assert_eq!(stats.throttled, 100);
        assert!((stats.waited_s - 10.0).abs() < 1e-9, "{}", stats.waited_s);
        // A batch larger than the burst waits for the tokens it lacks.
        limit.query(&[0.0; 40]).unwrap();
        assert!((limit.client_stats(LOCAL_CLIENT).waited_s - 12.0).abs() < 1e-9);
    }

    #[test]
    fn refusing_returns_the_time_to_retry_and_spends_nothing() {
        let limit = QueryLimit::with_policy(
            constant(),
            QueryPolicy {
                max_queries: Some(100),
                rate: Some(RateLimit {
                    per_second: 2.0,
                    burst: 2.0,
                }),
                mode: RateMode::Refuse,
            },
            Clock::virtual_clock(),
        );
        limit.query(&[0.0; 4]).unwrap();
        match limit.query(&[0.0; 2]) {
            Err(MlError::RateLimited { retry_after_ms }) => assert_eq!(retry_after_ms, 500),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            limit.used(),
            2,
            "a refused query is not charged to the budget"
        );
        assert_eq!(limit.client_stats(LOCAL_CLIENT).refused, 1);
    }

    #[test]
    fn the_real_clock_refills_the_bucket() {
        let limit = QueryLimit::with_policy(
            constant(),
            QueryPolicy::rate(
                RateLimit {
                    per_second: 50.0,
                    burst: 1.0,
                },
                RateMode::Refuse,
            ),
            Clock::real(),
        );
        limit.query(&[0.0; 2]).unwrap();
        assert!(limit.query(&[0.0; 2]).is_err());
        std::thread::sleep(Duration::from_millis(60));
        limit.query(&[0.0; 2]).unwrap();
    }
}
