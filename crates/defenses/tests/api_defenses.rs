//! Output hardening and query limits, measured by re-running the black-box attacks.

use aisec_core::Metric;
use std::path::PathBuf;
use std::sync::Arc;

use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};
use aisec_attacks::registry::find_evasion;
use aisec_defenses::output_hardening::{HardenedOutputs, Hardening};
use aisec_defenses::query_limit::{Clock, QueryLimit, QueryPolicy, RateLimit, RateMode};
use aisec_ml::data::BuiltinDataset;
use aisec_ml::kserve::KServeModel;
use aisec_ml::model::{Classifier, OutputKind, Restricted};
use aisec_ml::native::NativeModel;
use std::time::Duration;

fn cnn() -> Arc<dyn Classifier> {
    Arc::new(
        NativeModel::load(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ml/tests/fixtures/onnx/digits-cnn"),
        )
        .unwrap(),
    )
}

fn success(name: &str, params: EvasionParams, model: &dyn Classifier) -> f64 {
    let (_, test) = BuiltinDataset::Digits.split();
    let data = test.head(40);
    let attack = (find_evasion(name).unwrap().build)(&params).unwrap();
    let task = EvasionTask::on(model, &data, 4);
    let outcome = evasion::run(attack.as_ref(), &task).unwrap();
    eprintln!(
        "{name} on {}: {:?}",
        model.info().description,
        outcome.metrics
    );
    outcome.metrics.get(Metric::AttackSuccessRate).unwrap()
}

fn square() -> EvasionParams {
    EvasionParams {
        eps: Some(0.1),
        norm: Some(Norm::Linf),
        queries_per_input: Some(1000),
        ..EvasionParams::default()
    }
}

fn hsj() -> EvasionParams {
    EvasionParams {
        eps: Some(1.5),
        norm: Some(Norm::L2),
        queries_per_input: Some(2000),
        ..EvasionParams::default()
    }
}

#[test]
fn rounding_costs_score_based_attacks_but_not_decision_based_ones() {
    let model = cnn();
    let rounded = HardenedOutputs::new(model.clone(), Hardening::Round { decimals: 1 });
    let open_square = success("square", square(), model.as_ref());
    let rounded_square = success("square", square(), &rounded);
    assert!(
        rounded_square < open_square,
        "rounding should cost Square: {rounded_square} vs {open_square}"
    );
    // A label-only adversary does not care how probabilities are rounded.
    let labels = Restricted::new(model.clone(), OutputKind::Label, false);
    let top1 = HardenedOutputs::new(model, Hardening::Top1);
    assert_eq!(success("hsj", hsj(), &labels), success("hsj", hsj(), &top1));
}

#[test]
fn a_query_budget_stops_query_hungry_attacks() {
    let model = cnn();
    let open = success("hsj", hsj(), model.as_ref());
    let limited = QueryLimit::new(model, 4000);
    let stopped = success("hsj", hsj(), &limited);
    assert!(limited.used() <= 4000);
    assert!(
        stopped < open,
        "a 4000-query budget for 40 images should stop HopSkipJump early: {stopped} vs {open}"
    );
}

fn served(limit: QueryLimit) -> (aisec_ml::kserve::Server, KServeModel) {
    let server = aisec_ml::kserve::serve(Arc::new(limit), "digits", "127.0.0.1:0").unwrap();
    let remote = KServeModel::connect(
        &format!("kserve+http://{}/v2/models/digits", server.addr),
        None,
        Duration::from_secs(30),
    )
    .unwrap();
    (server, remote)
}

/// The adversary queries the server; the assessor judges the result on its own copy, because
/// the server's budget cannot tell the assessor's requests from the adversary's.
struct RemoteAdversary {
    remote: KServeModel,
    truth: Arc<dyn Classifier>,
}

impl Classifier for RemoteAdversary {
    fn info(&self) -> &aisec_ml::model::ModelInfo {
        self.remote.info()
    }
    fn output_kind(&self) -> OutputKind {
        self.remote.output_kind()
    }
    fn query(&self, x: &[f32]) -> aisec_ml::Result<aisec_ml::model::QueryOutput> {
        self.remote.query(x)
    }
    fn evaluate(&self, x: &[f32]) -> aisec_ml::Result<Vec<usize>> {
        self.truth.evaluate(x)
    }
    fn budget(&self) -> &aisec_ml::model::QueryBudget {
        self.remote.budget()
    }
}

#[test]
fn a_served_budget_stops_the_remote_attack_gracefully() {
    let (_server, remote) = served(QueryLimit::new(cnn(), 2000));
    let adversary = RemoteAdversary {
        remote,
        truth: cnn(),
    };
    let open = success("square", square(), cnn().as_ref());
    // The client learns of the server's budget through HTTP 429 and stops with what it found.
    let stopped = success("square", square(), &adversary);
    assert!(stopped < open, "{stopped} vs {open}");
    assert!(adversary.remote.budget().used() <= 2000 + 40);
}

#[test]
fn a_served_rate_limit_is_waited_out_and_only_slows_the_attack() {
    let policy = QueryPolicy::rate(
        RateLimit {
            per_second: 20_000.0,
            burst: 200.0,
        },
        RateMode::Refuse,
    );
    let limit = QueryLimit::with_policy(cnn(), policy, Clock::real());
    let (_server, remote) = served(limit);
    let open = success("square", square(), cnn().as_ref());
    let limited = success("square", square(), &remote);
    assert_eq!(
        limited, open,
        "a rate limit delays an attack, it does not stop it"
    );
}

#[test]
fn throttling_reports_the_time_an_attack_must_wait() {
    let limit = QueryLimit::with_policy(
        cnn(),
        QueryPolicy::rate(RateLimit::per_second(10.0), RateMode::Throttle),
        Clock::virtual_clock(),
    );
    let open = success("square", square(), cnn().as_ref());
    let throttled = success("square", square(), &limit);
    assert_eq!(throttled, open);
    let stats = limit.client_stats(aisec_defenses::query_limit::LOCAL_CLIENT);
    // Every query beyond the first second's burst costs a tenth of a second.
    let expected = (stats.answered as f64 - 10.0) / 10.0;
    assert!(
        (stats.waited_s - expected).abs() < 1e-6,
        "{} vs {expected}",
        stats.waited_s
    );
    assert!(stats.waited_s > 60.0, "{stats:?}");
}
