//! Evasion attacks (ATLAS AML.T0015 Evade AI Model): inputs changed within a small budget so
//! that the model answers wrongly (or, targeted, answers a chosen class).

mod gradient;
mod lockstep;
pub mod parts;

registered!(ATTACKS: crate::registry::EvasionEntry = fgsm, pgd, apgd, cw, deepfool, square, hsj);

use aisec_core::Metric;
use std::time::Instant;

use aisec_core::{Details, Metrics};
use aisec_ml::data::{Dataset, InputRange};
use aisec_ml::model::Classifier;
use aisec_ml::MlError;
use serde::{Deserialize, Serialize};

pub use gradient::{ascend, project, Direction, GradientOracle, Norm};

use crate::{Access, AttackError, AttackInfo, AttackOutcome, ExampleResult, QueryUse, Result};

/// The examples to attack and the rules of the game.
pub struct EvasionTask<'a> {
    pub model: &'a dyn Classifier,
    /// Flattened inputs, `len(y) * features` values.
    pub x: &'a [f32],
    pub y: &'a [usize],
    /// Valid input range: adversarial inputs are clipped to it.
    pub clip: Option<InputRange>,
    /// Targeted attack: the class every example should be pushed to.
    pub target: Option<usize>,
    pub seed: u64,
    /// Set when a budget or a refusal stopped the attack early.
    pub stopped: BudgetStop,
}

/// Records that the target refused a query for budget: the attack stops with what it found.
#[derive(Debug, Default)]
pub struct BudgetStop(std::sync::atomic::AtomicBool);

impl BudgetStop {
    pub fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<'a> EvasionTask<'a> {
    /// The untargeted game on all of `data`, clipped to its declared input range.
    pub fn on(model: &'a dyn Classifier, data: &'a Dataset, seed: u64) -> Self {
        EvasionTask {
            model,
            x: &data.x,
            y: &data.y,
            clip: data.input_range,
            target: None,
            seed,
            stopped: BudgetStop::default(),
        }
    }

    pub fn direction(&self) -> Direction {
        match self.target {
            Some(t) => Direction::Targeted(t),
            None => Direction::Untargeted,
        }
    }
}

/// Builds the registered attack `name` (its registry name or an alias) with `params` and
/// runs it on `task`.
pub fn run_named(name: &str, params: &EvasionParams, task: &EvasionTask) -> Result<AttackOutcome> {
    let entry = crate::registry::find_evasion(name).ok_or_else(|| AttackError::Config {
        attack: "registry",
        message: format!("no evasion attack named `{name}`"),
    })?;
    let attack = (entry.build)(params)?;
    run(attack.as_ref(), task)
}

/// The perturbation a run is held to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Budget {
    pub norm: Norm,
    /// None for an attack that looks for the smallest perturbation that succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eps: Option<f32>,
}

/// An evasion run's settings: the attack's own configuration and the range adversarial
/// inputs were kept in (`"none"` when no `--clip` was given).
#[derive(Debug, Clone, Serialize)]
pub struct EvasionConfig {
    #[serde(flatten)]
    pub attack: Details,
    #[serde(serialize_with = "clip_or_none")]
    pub clip: Option<InputRange>,
}

fn clip_or_none<S: serde::Serializer>(
    clip: &Option<InputRange>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match clip {
        Some(c) => [c.lo, c.hi].serialize(s),
        None => s.serialize_str("none"),
    }
}

/// What an evasion run observed beyond the shared metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvasionObservations {
    /// The attack's own record (HopSkipJump's distance-per-query curve).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub attack: Option<Details>,
    /// Adversarial values outside the clean inputs' range, when nothing kept them in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_clean_range: Option<OutsideRange>,
    /// How a run over data read a part at a time was split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<parts::PartsNote>,
}

impl EvasionObservations {
    pub fn is_empty(&self) -> bool {
        self.attack.is_none() && self.outside_clean_range.is_none() && self.parts.is_none()
    }
}

/// How many adversarial values left the range the clean inputs occupy, and by how much.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutsideRange {
    pub values: usize,
    pub of: usize,
    pub clean_range: [f32; 2],
    pub adversarial_range: [f32; 2],
}

/// An evasion attack: one module each, listed in [`crate::registry`].
pub trait EvasionAttack: Send + Sync {
    /// The module's description (its `INFO` const).
    fn info(&self) -> &'static AttackInfo;
    /// Registry name, e.g. `evasion.pgd`.
    fn name(&self) -> &'static str {
        self.info().name
    }
    /// ATLAS technique IDs the attack exercises.
    fn atlas(&self) -> &'static [&'static str] {
        self.info().atlas
    }
    fn access(&self) -> Access {
        self.info().access
    }
    /// The effective configuration, for reports.
    fn config(&self) -> Details;
    /// The perturbation the run is held to: the norm, and ε unless the attack looks for the
    /// smallest perturbation that succeeds (C&W, DeepFool, HopSkipJump without ε).
    fn budget(&self) -> Budget;
    /// The attack's own query allowance per input (Square's and HopSkipJump's).
    fn queries_per_input(&self) -> Option<u64> {
        None
    }
    /// Adversarial versions of `task.x`, same shape and order.
    fn perturb(&self, task: &EvasionTask) -> Result<Vec<f32>>;
    /// What the last run observed beyond the shared metrics (e.g. a distance-per-query curve).
    fn observations(&self) -> Option<Details> {
        None
    }
}

/// Parameters the CLI passes to any evasion attack; each attack takes what it uses and
/// documents its own defaults for the rest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvasionParams {
    pub eps: Option<f32>,
    pub norm: Option<Norm>,
    pub steps: Option<usize>,
    pub step_size: Option<f32>,
    pub random_start: Option<bool>,
    pub restarts: Option<usize>,
    /// The attack's query budget per input (Square, HopSkipJump).
    pub queries_per_input: Option<u64>,
}

impl EvasionParams {
    /// The norm (default L∞) and a checked budget (default 0.1 for L∞, 1.0 for L2).
    pub fn norm_and_eps(&self, attack: &'static str) -> Result<(Norm, f32)> {
        let norm = self.norm.unwrap_or(Norm::Linf);
        let eps = self.eps.unwrap_or(match norm {
            Norm::Linf => 0.1,
            Norm::L2 => 1.0,
        });
        if !(eps > 0.0 && eps.is_finite()) {
            return Err(AttackError::Config {
                attack,
                message: format!("--eps must be a positive number, got {eps}"),
            });
        }
        Ok((norm, eps))
    }
}

/// A query that ends the search gracefully when the target's query budget (or a defence's)
/// is spent: `None` means stop and report what was found so far.
pub(crate) fn query_or_stop(
    task: &EvasionTask,
    rows: &[f32],
) -> Result<Option<aisec_ml::model::QueryOutput>> {
    match task.model.query(rows) {
        Ok(out) => Ok(Some(out)),
        Err(aisec_ml::MlError::BudgetExhausted { used, max }) => {
            tracing::info!(used, max, "query budget exhausted; the attack stops here");
            task.stopped.set();
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The target's labels for the adversarial inputs, asked in parts. A remote target counts
/// these measuring queries against its per-client limit like any other, so one whose limit
/// the attack spent refuses them: the inputs left unasked are marked unfinished (not
/// evaluated, counted as not fooled, their clean label kept as a placeholder) and the run
/// ends with what it could measure instead of an error.
fn evaluate_until_refused(
    task: &EvasionTask,
    adversarial: &[f32],
    clean: &[usize],
    unfinished: &mut [bool],
) -> Result<Vec<usize>> {
    let features = task.model.info().features();
    let mut labels = Vec::with_capacity(clean.len());
    for part in adversarial.chunks(BUDGETED_CHUNK * features) {
        match task.model.evaluate(part) {
            Ok(l) => labels.extend(l),
            Err(aisec_ml::MlError::BudgetExhausted { used, max }) => {
                tracing::warn!(
                    used,
                    max,
                    "the target refused to label the remaining adversarial inputs; they are reported as not evaluated"
                );
                task.stopped.set();
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    for i in labels.len()..clean.len() {
        labels.push(clean[i]);
        unfinished[i] = true;
    }
    Ok(labels)
}

/// Runs `attack` on `task` and measures it.
pub fn run(attack: &dyn EvasionAttack, task: &EvasionTask) -> Result<AttackOutcome> {
    let features = task.model.info().features();
    if task.x.len() != task.y.len() * features {
        return Err(AttackError::Config {
            attack: attack.name(),
            message: format!(
                "{} input values for {} labels, but the model takes {features} values per input",
                task.x.len(),
                task.y.len()
            ),
        });
    }
    if let Some(t) = task.target {
        if t >= task.model.info().num_classes {
            return Err(AttackError::Config {
                attack: attack.name(),
                message: format!(
                    "target class {t} does not exist: the model has {} classes",
                    task.model.info().num_classes
                ),
            });
        }
    }
    if task.y.is_empty() {
        return Err(AttackError::Config {
            attack: attack.name(),
            message: "no inputs to attack (--limit must be at least 1)".into(),
        });
    }
    if let Some(clip) = task.clip {
        let outside = task
            .x
            .iter()
            .filter(|v| **v < clip.lo || **v > clip.hi)
            .count();
        if outside > 0 {
            return Err(AttackError::Config {
                attack: attack.name(),
                message: format!(
                    "{outside} of {} input values lie outside the clip range [{}, {}]: adversarial inputs would be clipped while clean ones are not, and the perturbation would exceed ε; clip or rescale the data first, or give a --clip range that contains it",
                    task.x.len(),
                    clip.lo,
                    clip.hi
                ),
            });
        }
    }
    let started = Instant::now();
    let queries_before = task.model.budget().used();
    // The defender's measurements (clean and adversarial predictions) are not queries: they
    // are never paid from the adversary's budget.
    let clean = task.model.evaluate(task.x)?;
    // The adversary's own time, what ART's `generate` measures: the clean predictions
    // before it and the adversarial ones after it are the defender's.
    let perturbing = Instant::now();
    let (adversarial, mut unfinished) = perturb_within_budget(attack, task)?;
    let attack_seconds = perturbing.elapsed().as_secs_f64();
    let wall = started.elapsed().as_secs_f64();
    let queries = task.model.budget().used() - queries_before;
    let adv_pred = evaluate_until_refused(task, &adversarial, &clean, &mut unfinished)?;

    let mut examples = Vec::with_capacity(task.y.len());
    for i in 0..task.y.len() {
        let a = &adversarial[i * features..(i + 1) * features];
        let o = &task.x[i * features..(i + 1) * features];
        // Squares summed in f64: a huge ε (1e30 without clipping) overflows f32 squares.
        let (mut linf, mut l2) = (0.0f32, 0.0f64);
        for (p, q) in a.iter().zip(o) {
            let d = (p - q).abs();
            linf = linf.max(d);
            l2 += f64::from(d) * f64::from(d);
        }
        let success = match task.target {
            Some(t) => adv_pred[i] == t,
            None => clean[i] == task.y[i] && adv_pred[i] != task.y[i],
        };
        examples.push(ExampleResult {
            label: task.y[i],
            clean_prediction: clean[i],
            adversarial_prediction: adv_pred[i],
            success,
            evaluated: success || !unfinished[i],
            linf,
            l2: l2.sqrt() as f32,
        });
    }
    check_within_budget(attack, &examples)?;
    let not_evaluated = examples.iter().filter(|e| !e.evaluated).count();
    let metrics = measure(
        &examples,
        task.target,
        queries,
        Seconds {
            wall,
            attack: attack_seconds,
        },
    );
    // The range the adversarial inputs were kept in is part of what was measured: a run
    // without one may leave the values real inputs can take, and says so.
    let config = EvasionConfig {
        attack: attack.config(),
        clip: task.clip,
    };
    let mut observations = EvasionObservations {
        attack: attack.observations(),
        outside_clean_range: None,
        parts: None,
    };
    if task.clip.is_none() {
        if let Some(outside) = outside_clean_range(task.x, &adversarial) {
            tracing::warn!(
                "{} of {} adversarial values lie outside [{:?}, {:?}], the range the clean inputs occupy (no --clip was given, so nothing kept them in it): if real inputs cannot take such values, give --clip LO,HI",
                outside.values, outside.of, outside.clean_range[0], outside.clean_range[1]
            );
            observations.outside_clean_range = Some(outside);
        }
    }
    Ok(AttackOutcome {
        name: attack.name().to_string(),
        atlas: attack.atlas().iter().map(|s| s.to_string()).collect(),
        config,
        budget: attack.budget(),
        observations,
        seed: task.seed,
        target: task.target,
        metrics,
        queries: QueryUse {
            allowed_per_input: attack.queries_per_input(),
            allowed_total: task.model.budget().max(),
            spent_total: queries,
            stopped_by_budget: unfinished.iter().any(|u| *u) || task.stopped.is_set(),
            inputs_not_evaluated: not_evaluated,
        },
        adversarial,
        examples,
    })
}

/// Refuses to report a success whose perturbation is larger than the attack's ε: such an
/// example is not the attack the report names (a bug, or clipping that moved the input).
fn check_within_budget(attack: &dyn EvasionAttack, examples: &[ExampleResult]) -> Result<()> {
    let budget = attack.budget();
    let Some(eps) = budget.eps.map(f64::from) else {
        return Ok(());
    };
    let l2 = budget.norm == Norm::L2;
    let tolerance = 1e-4 * eps.max(1.0);
    for (i, e) in examples.iter().enumerate().filter(|(_, e)| e.success) {
        let norm = if l2 { e.l2 } else { e.linf } as f64;
        if norm > eps + tolerance {
            return Err(AttackError::Config {
                attack: attack.name(),
                message: format!(
                    "input {i}: the adversarial example is {} {norm} from the original, above ε = {eps}; refusing to report it",
                    if l2 { "L2" } else { "L∞" }
                ),
            });
        }
    }
    Ok(())
}

/// Inputs per run of a white-box attack against a target with a total budget: a budget
/// spent part-way loses at most this many inputs' work.
const BUDGETED_CHUNK: usize = 16;

/// The adversarial inputs, and for each input whether the attack was stopped (by the
/// target's budget or a refusal) before it finished with it. An unfinished input keeps
/// whatever the attack had reached.
/// `one(i)` for every part (input or chunk) in order, on up to [`aisec_ml::model::worker_threads`] threads
/// when `parallel`; the first error in input order is returned.
pub(crate) fn for_each_part<T: Send>(
    n: usize,
    parallel: bool,
    one: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let workers = if parallel {
        aisec_ml::model::worker_threads().min(n)
    } else {
        1
    };
    if workers <= 1 {
        return (0..n).map(one).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<T>>>> =
        (0..n).map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let result = one(i);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every input is taken")
        })
        .collect()
}

fn perturb_within_budget(
    attack: &dyn EvasionAttack,
    task: &EvasionTask,
) -> Result<(Vec<f32>, Vec<bool>)> {
    let n = task.y.len();
    let features = task.model.info().features();
    let refused =
        |e: &AttackError| matches!(e, AttackError::Model(MlError::BudgetExhausted { .. }));
    // A gradient attack cannot stop gracefully mid-batch; against a total budget it runs
    // in chunks so that what finished before the budget ran out is kept.
    let chunked = attack.access() == Access::WhiteBox && task.model.budget().max().is_some();
    if !chunked {
        return match attack.perturb(task) {
            Ok(adversarial) => {
                let stopped = task.stopped.is_set();
                Ok((adversarial, vec![stopped; n]))
            }
            Err(e) if refused(&e) => {
                task.stopped.set();
                Ok((task.x.to_vec(), vec![true; n]))
            }
            Err(e) => Err(e),
        };
    }
    let mut adversarial = Vec::with_capacity(task.x.len());
    let mut unfinished = Vec::with_capacity(n);
    for (chunk, start) in (0..n).step_by(BUDGETED_CHUNK).enumerate() {
        let end = (start + BUDGETED_CHUNK).min(n);
        let x = &task.x[start * features..end * features];
        if task.stopped.is_set() {
            adversarial.extend_from_slice(x);
            unfinished.extend(std::iter::repeat_n(true, end - start));
            continue;
        }
        let part = EvasionTask {
            model: task.model,
            x,
            y: &task.y[start..end],
            clip: task.clip,
            target: task.target,
            seed: task.seed.wrapping_add(chunk as u64),
            stopped: BudgetStop::default(),
        };
        match attack.perturb(&part) {
            Ok(a) => {
                adversarial.extend(a);
                unfinished.extend(std::iter::repeat_n(part.stopped.is_set(), end - start));
                if part.stopped.is_set() {
                    task.stopped.set();
                }
            }
            Err(e) if refused(&e) => {
                task.stopped.set();
                adversarial.extend_from_slice(x);
                unfinished.extend(std::iter::repeat_n(true, end - start));
            }
            Err(e) => return Err(e),
        }
    }
    Ok((adversarial, unfinished))
}

/// The shared metrics of a set of attacked examples. Robust accuracy is reported only when
/// every input was evaluated, and the perturbation norms only when some input was fooled:
/// a missing figure is "not measured", never zero.
/// Where a run's time went: `wall` from the clean predictions to the end of the attack,
/// `attack` the attack alone.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seconds {
    pub(crate) wall: f64,
    pub(crate) attack: f64,
}

pub(crate) fn measure(
    examples: &[ExampleResult],
    target: Option<usize>,
    queries: u64,
    seconds: Seconds,
) -> Metrics {
    let n = examples.len().max(1) as f64;
    let eligible: Vec<&ExampleResult> = examples
        .iter()
        .filter(|e| match target {
            Some(t) => e.label != t,
            None => e.clean_prediction == e.label,
        })
        .collect();
    let successes: Vec<&ExampleResult> = examples.iter().filter(|e| e.success).collect();
    let mut l2s: Vec<f32> = successes.iter().map(|e| e.l2).collect();
    l2s.sort_by(f32::total_cmp);
    let mean = |v: &mut dyn Iterator<Item = f32>| -> f64 {
        let (s, c) = v.fold((0.0f64, 0usize), |(s, c), x| (s + x as f64, c + 1));
        s / c.max(1) as f64
    };
    let mut metrics = Metrics::default();
    let mut put = |k: Metric, v: f64| put_metric(&mut metrics, k, v);
    put(
        Metric::CleanAccuracy,
        examples
            .iter()
            .filter(|e| e.clean_prediction == e.label)
            .count() as f64
            / n,
    );
    if examples.iter().all(|e| e.evaluated) {
        put(
            Metric::RobustAccuracy,
            examples
                .iter()
                .filter(|e| e.adversarial_prediction == e.label)
                .count() as f64
                / n,
        );
    }
    if !eligible.is_empty() {
        put(
            Metric::AttackSuccessRate,
            eligible.iter().filter(|e| e.success).count() as f64 / eligible.len() as f64,
        );
    }
    if !successes.is_empty() {
        put(
            Metric::MeanLinf,
            mean(&mut successes.iter().map(|e| e.linf)),
        );
        put(Metric::MeanL2, mean(&mut successes.iter().map(|e| e.l2)));
        put(Metric::MedianL2, l2s[l2s.len() / 2] as f64);
    }
    put(Metric::QueriesTotal, queries as f64);
    put(Metric::QueriesMean, queries as f64 / n);
    put(Metric::WallSeconds, seconds.wall);
    put(Metric::AttackSeconds, seconds.attack);
    metrics
}

/// Records a metric, or — for a value no metric can hold (an infinite mean norm after an
/// ε past f32's range) — leaves it out with a warning: a report with one figure missing and
/// said so, never a panic.
pub(crate) fn put_metric(metrics: &mut Metrics, metric: Metric, value: f64) {
    if let Err(e) = metrics.insert(metric, value) {
        tracing::warn!("{e}: left out of the report");
    }
}

/// How many adversarial values lie outside the range the clean inputs occupy, when any do.
fn outside_clean_range(clean: &[f32], adversarial: &[f32]) -> Option<OutsideRange> {
    let (lo, hi) = clean
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let outside = adversarial.iter().filter(|v| **v < lo || **v > hi).count();
    (outside > 0).then(|| {
        let (alo, ahi) = adversarial
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        OutsideRange {
            values: outside,
            of: adversarial.len(),
            clean_range: [lo, hi],
            adversarial_range: [alo, ahi],
        }
    })
}
