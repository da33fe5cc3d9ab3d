//! Timing side channel of an inference API: does the response time tell an observer the
//! predicted class, how confident the model was, whether it was right, or whether the input
//! was in the training data? The attack queries each probe input `repeats` times, every
//! round in a fresh random order (so that drift in the host's load spreads over all inputs
//! alike), clocks each answer from request to parsed response, and summarises each input by
//! its median time (robust to the host's jitter). For each property it then tests the
//! separation of the groups with a permutation test of the Mann–Whitney AUC (for more than
//! two groups, of the most separated group's against the rest, chosen again in every
//! shuffle): rank-based and exact under exchangeability, whatever the group sizes and the
//! bimodal times two paths make. Beside it: the AUC with a stratified bootstrap interval, the
//! AUC a single observation gives, Welch's t-test (two groups), and the mutual information in
//! bits between binned time and group above what shuffled groups give. A property leaks when
//! its test passes at α divided by the number of properties tested (Bonferroni), the AUC is
//! at least `min_auc` on either side, and the compared groups' median times differ by at
//! least `min_difference_us`: a real but microscopic difference (formatting and parsing
//! different numbers costs a few microseconds) is reported, not called a leak. Separately,
//! a split-half check says whether the time depends on the input at all (the medians of odd
//! and even rounds agree across inputs), so a cost that none of the properties explains is
//! still seen.
//!
//! Inputs whose path through the model depends on the input leak: early-exit networks
//! (BranchyNet, Teerapittayanon et al. 2016; the membership leak of multi-exit networks, Li
//! et al., CCS 2022), tree ensembles, caches. Timing attacks on ML: Duddu et al., "Stealing
//! Neural Networks via Timing Side Channels" (2018).
//!
//! ATLAS: AML.T0040 AI Model Inference API Access (the access used), AML.T0063 Discover AI
//! Model Outputs (what the time discloses), AML.T0024.000 Infer Training Data Membership
//! (when membership separates).

use std::time::Instant;

use aisec_core::rng::Rng;
use aisec_core::stats::Welch;
use aisec_ml::model::{Classifier, QueryOutput};
use serde::Serialize;

use crate::{Access, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "sidechannel.timing",
    aliases: &["timing"],
    summary: "Timing side channel: clock repeated queries to an inference API in random order and test which property of the input (predicted class, confidence, correctness, training membership) the response time separates",
    access: Access::ResponseTime,
    atlas: &["AML.T0040", "AML.T0063", "AML.T0024.000"],
};

/// Groups smaller than this are left out of a property's test (too few to compare).
pub const MIN_GROUP: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimingConfig {
    /// Probe inputs (default 200).
    pub inputs: usize,
    /// Queries per input, one per round (default 10).
    pub repeats: usize,
    /// Queries before the measurement, discarded (default 20): connection set-up, caches.
    pub warmup: usize,
    /// Significance level over all the properties tested (default 0.01).
    pub alpha: f64,
    /// The AUC (or 1 − AUC) a property must reach to be called a leak (default 0.6).
    pub min_auc: f64,
    /// The difference of the compared groups' median times a property must reach to be
    /// called a leak, in microseconds (default 10): the few microseconds that formatting and
    /// parsing different numbers cost are reported, not called a leak.
    pub min_difference_us: f64,
    /// Bootstrap draws and permutations (default 1000).
    pub resamples: usize,
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            inputs: 200,
            repeats: 10,
            warmup: 20,
            alpha: 0.01,
            min_auc: 0.6,
            min_difference_us: 10.0,
            resamples: 1000,
        }
    }
}

impl TimingConfig {
    pub fn check(&self) -> std::result::Result<(), String> {
        if !(2 * MIN_GROUP..=100_000).contains(&self.inputs) {
            return Err(format!(
                "--inputs {}: expected {} to 100000 (two groups of at least {MIN_GROUP})",
                self.inputs,
                2 * MIN_GROUP
            ));
        }
        if !(1..=10_000).contains(&self.repeats) {
            return Err(format!("--repeats {}: expected 1 to 10000", self.repeats));
        }
        if self.inputs.saturating_mul(self.repeats) > 10_000_000 {
            return Err(format!(
                "--inputs {} × --repeats {} is {} queries: at most 10,000,000",
                self.inputs,
                self.repeats,
                self.inputs.saturating_mul(self.repeats)
            ));
        }
        if self.warmup > 100_000 {
            return Err(format!("--warmup {}: expected 0 to 100000", self.warmup));
        }
        if !(self.alpha >= 1e-4 && self.alpha <= 0.5) {
            return Err(format!(
                "--alpha {}: expected a significance level from 0.0001 to 0.5 (the permutation tests' shuffles grow as 1/α)",
                self.alpha
            ));
        }
        if !(0.5..=1.0).contains(&self.min_auc) {
            return Err(format!(
                "--min-auc {}: expected 0.5 (any significant difference) to 1",
                self.min_auc
            ));
        }
        if !(self.min_difference_us.is_finite() && (0.0..=1e9).contains(&self.min_difference_us)) {
            return Err(format!(
                "--min-difference {}: expected 0 to 1e9 microseconds",
                self.min_difference_us
            ));
        }
        if !(100..=100_000).contains(&self.resamples) {
            return Err(format!(
                "--resamples {}: expected 100 to 100000",
                self.resamples
            ));
        }
        Ok(())
    }
}

/// The probe inputs and what the auditor knows about them.
pub struct Probes<'a> {
    /// `[n, features]` row-major.
    pub x: &'a [f32],
    pub labels: Option<&'a [usize]>,
    /// Whether each input was in the target's training data.
    pub member: Option<&'a [bool]>,
}

/// The input properties the attack tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Property {
    PredictedClass,
    Confidence,
    Correctness,
    Membership,
}

impl Property {
    pub fn as_str(self) -> &'static str {
        match self {
            Property::PredictedClass => "predicted class",
            Property::Confidence => "confidence",
            Property::Correctness => "correctness",
            Property::Membership => "training membership",
        }
    }

    /// The ATLAS technique a leak of this property serves.
    pub fn technique(self) -> &'static str {
        match self {
            Property::Membership => "AML.T0024.000",
            _ => "AML.T0063",
        }
    }
}

/// One probe input's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct InputTiming {
    /// Median response time over its queries, in microseconds.
    pub median_us: f64,
    /// Its first round's response time: what one observation gives.
    pub first_us: f64,
    pub observations: usize,
    pub predicted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_probability: Option<f32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub name: String,
    pub inputs: usize,
    pub mean_us: f64,
    pub median_us: f64,
}

/// One property's test.
#[derive(Debug, Clone, Serialize)]
pub struct PropertyTest {
    pub property: Property,
    pub groups: Vec<Group>,
    /// The group whose separation from `against` the AUC measures (for more than two
    /// groups: the most separated one against all the others).
    pub positive: String,
    pub against: String,
    /// The median of the `positive` inputs' median times, and of the `against` inputs'.
    pub positive_median_us: f64,
    pub against_median_us: f64,
    /// P(a `positive` input's median time > an `against` input's).
    pub auc: f64,
    pub auc_interval: [f64; 2],
    /// The same from one observation per input.
    pub single_query_auc: f64,
    /// For more than two groups: how many the compared one was chosen from (the AUC's
    /// interval does not account for the choice; the p-value does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_among: Option<usize>,
    /// Welch's t-test on the two groups' per-input median times (two groups only): a
    /// figure beside the decision, not the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub welch: Option<Welch>,
    /// Mutual information between binned time and group, in bits above what shuffled groups
    /// give (at least 0), the shuffled mean, and its permutation p-value.
    pub mutual_information_bits: f64,
    pub mutual_information_chance_bits: f64,
    pub mutual_information_p: f64,
    pub mutual_information_bins: usize,
    /// The verdict's p-value: a permutation test of the compared group's separation (for
    /// more than two groups, of the most separated group's, the choice made again in every
    /// shuffle).
    pub p_value: f64,
    /// Shuffles the permutation tests ran: at least --resamples, and enough that the
    /// smallest p they can give is a tenth of the per-property level.
    pub permutations: usize,
    /// Inputs left out (in groups smaller than [`MIN_GROUP`]).
    pub excluded_inputs: usize,
    pub leaks: bool,
}

impl PropertyTest {
    /// max(AUC, 1 − AUC): the separation whichever group is slower.
    pub fn separation(&self) -> f64 {
        self.auc.max(1.0 - self.auc)
    }

    /// The interval of [`PropertyTest::separation`].
    pub fn separation_interval(&self) -> [f64; 2] {
        if self.auc >= 0.5 {
            self.auc_interval
        } else {
            [1.0 - self.auc_interval[1], 1.0 - self.auc_interval[0]]
        }
    }

    /// The slower group of the compared pair, then the faster.
    pub fn slower(&self) -> &str {
        self.ordered().0
    }

    /// (slower, faster, slower's median µs, faster's median µs).
    pub fn ordered(&self) -> (&str, &str, f64, f64) {
        if self.auc >= 0.5 {
            (
                &self.positive,
                &self.against,
                self.positive_median_us,
                self.against_median_us,
            )
        } else {
            (
                &self.against,
                &self.positive,
                self.against_median_us,
                self.positive_median_us,
            )
        }
    }
}

/// Why a property was not tested.
#[derive(Debug, Clone, Serialize)]
pub struct Untested {
    pub property: Property,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    pub min_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// The median over inputs of the median absolute deviation of an input's own times: the
    /// jitter one input sees (`None` with one round: it takes two to see).
    pub jitter_us: Option<f64>,
    /// The spread of the per-input medians: 90th percentile minus 10th (a slow path a
    /// minority of inputs take still shows).
    pub between_inputs_us: f64,
}

/// Whether the time depends on the input at all, whatever property explains it: the medians
/// of the odd rounds and of the even rounds agree across inputs (split-half reliability; at
/// least 0.25 with p < α), and the inputs' medians spread by at least the leak floor.
#[derive(Debug, Clone, Serialize)]
pub struct InputDependence {
    pub split_half_spearman: f64,
    /// One-sided p of the correlation (t approximation with n − 2 degrees of freedom).
    pub p: f64,
    pub depends: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimingOutcome {
    pub config: TimingConfig,
    /// Seeds the query order, the bootstrap and the permutations.
    pub seed: u64,
    /// Queries sent, warm-up included.
    pub queries: u64,
    /// Observations per input that the analysis used (the rounds completed).
    pub rounds: usize,
    pub inputs_timed: usize,
    pub latency: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_dependence: Option<InputDependence>,
    pub properties: Vec<PropertyTest>,
    pub untested: Vec<Untested>,
    /// Inputs whose answer changed between repeats (a randomised defence, nondeterminism).
    pub inconsistent_answers: usize,
    /// Why the run stopped before every round was done, when it did.
    pub stopped: Option<String>,
    pub seconds: f64,
    pub inputs: Vec<InputTiming>,
}

impl TimingOutcome {
    pub fn leaking(&self) -> impl Iterator<Item = &PropertyTest> {
        self.properties.iter().filter(|p| p.leaks)
    }
}

fn top_of(out: &QueryOutput, classes: usize) -> (usize, Option<f32>) {
    let label = out.labels(classes).first().copied().unwrap_or(0);
    let top = match out {
        QueryOutput::Probabilities(p) => p.iter().copied().reduce(f32::max),
        QueryOutput::Logits(l) => aisec_ml::tensor::softmax_rows(l, classes)
            .into_iter()
            .reduce(f32::max),
        QueryOutput::TopK(rows) => rows.first().and_then(|r| r.first()).map(|(_, p)| *p),
        QueryOutput::Labels(_) => None,
    };
    (label, top.filter(|p| p.is_finite()))
}

pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

/// Runs the attack: warm-up, `repeats` rounds in random order, then the tests. A refused
/// or failed query ends the measurement; what was measured until then is analysed and the
/// reason kept in [`TimingOutcome::stopped`].
pub fn run(
    model: &dyn Classifier,
    probes: &Probes,
    config: &TimingConfig,
    seed: u64,
    progress: &mut dyn FnMut(String),
) -> Result<TimingOutcome> {
    config
        .check()
        .map_err(|message| crate::AttackError::Config {
            attack: INFO.name,
            message,
        })?;
    let info = model.info().clone();
    let f = info.features();
    let n = (probes.x.len() / f.max(1)).min(config.inputs);
    let started = Instant::now();
    let mut rng = Rng::derive(seed, "timing-order");
    let mut queries = 0u64;
    let mut stopped = None;
    for w in (0..config.warmup).take_while(|_| n > 0) {
        let i = w % n;
        queries += 1;
        if let Err(e) = model.query(&probes.x[i * f..(i + 1) * f]) {
            stopped = Some(format!("warm-up query {} failed: {e}", w + 1));
            break;
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(config.repeats); n];
    let mut answers: Vec<Option<(usize, Option<f32>)>> = vec![None; n];
    let mut inconsistent = vec![false; n];
    let mut rounds = 0;
    let total = n * config.repeats;
    'rounds: for round in 0..config.repeats {
        if stopped.is_some() {
            break;
        }
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        for (k, &i) in order.iter().enumerate() {
            let row = &probes.x[i * f..(i + 1) * f];
            let t0 = Instant::now();
            let out = model.query(row);
            let elapsed = t0.elapsed().as_secs_f64() * 1e6;
            queries += 1;
            let out = match out {
                Ok(o) => o,
                Err(e) => {
                    stopped = Some(format!(
                        "query {} of {total} (round {}) failed: {e}",
                        round * n + k + 1,
                        round + 1
                    ));
                    break 'rounds;
                }
            };
            times[i].push(elapsed);
            let answer = top_of(&out, info.num_classes);
            match answers[i] {
                None => answers[i] = Some(answer),
                Some((label, _)) if label != answer.0 => inconsistent[i] = true,
                Some(_) => {}
            }
            let done = round * n + k + 1;
            if done % 200 == 0 {
                progress(format!("timing: {done}/{total} queries"));
            }
        }
        rounds += 1;
    }
    // Inputs with at least one observation.
    let timed: Vec<usize> = (0..n).filter(|&i| !times[i].is_empty()).collect();
    let inputs: Vec<InputTiming> = timed
        .iter()
        .map(|&i| {
            let (predicted, top_probability) = answers[i].unwrap_or((0, None));
            InputTiming {
                median_us: median(&mut times[i].clone()),
                first_us: times[i][0],
                observations: times[i].len(),
                predicted,
                top_probability,
            }
        })
        .collect();
    let per_input: Vec<&[f64]> = timed.iter().map(|&i| times[i].as_slice()).collect();
    let latency = summary(&per_input);
    let input_dependence = input_dependence(
        &per_input,
        config,
        latency.as_ref().map_or(0.0, |l| l.between_inputs_us),
    );
    let labels = probes
        .labels
        .map(|l| timed.iter().map(|&i| l[i]).collect::<Vec<_>>());
    let member = probes
        .member
        .map(|m| timed.iter().map(|&i| m[i]).collect::<Vec<_>>());
    let (properties, untested) =
        super::groups::test_properties(&inputs, labels.as_deref(), member.as_deref(), config, seed);
    Ok(TimingOutcome {
        config: *config,
        seed,
        queries,
        rounds,
        inputs_timed: inputs.len(),
        latency,
        input_dependence,
        properties,
        untested,
        inconsistent_answers: timed.iter().filter(|&&i| inconsistent[i]).count(),
        stopped,
        seconds: started.elapsed().as_secs_f64(),
        inputs,
    })
}

fn summary(times: &[&[f64]]) -> Option<LatencySummary> {
    let mut all: Vec<f64> = times.iter().flat_map(|t| t.iter().copied()).collect();
    if all.is_empty() {
        return None;
    }
    all.sort_by(f64::total_cmp);
    let at = |q: f64| super::separation::nearest_rank(&all, q);
    let mut deviations: Vec<f64> = times
        .iter()
        .map(|t| {
            let mut own = t.to_vec();
            let m = median(&mut own);
            let mut d: Vec<f64> = t.iter().map(|v| (v - m).abs()).collect();
            median(&mut d)
        })
        .collect();
    let mut medians: Vec<f64> = times.iter().map(|t| median(&mut t.to_vec())).collect();
    medians.sort_by(f64::total_cmp);
    let quantile = |q: f64| super::separation::nearest_rank(&medians, q);
    Some(LatencySummary {
        between_inputs_us: quantile(0.9) - quantile(0.1),
        min_us: all[0],
        p50_us: at(0.5),
        p90_us: at(0.9),
        p99_us: at(0.99),
        max_us: all[all.len() - 1],
        mean_us: all.iter().sum::<f64>() / all.len() as f64,
        jitter_us: times
            .iter()
            .any(|t| t.len() >= 2)
            .then(|| median(&mut deviations)),
    })
}

/// The split-half check: needs two rounds and ten inputs.
fn input_dependence(
    times: &[&[f64]],
    config: &TimingConfig,
    spread_us: f64,
) -> Option<InputDependence> {
    let halves: Vec<(f64, f64)> = times
        .iter()
        .filter(|t| t.len() >= 2)
        .map(|t| {
            let mut even: Vec<f64> = t.iter().step_by(2).copied().collect();
            let mut odd: Vec<f64> = t.iter().skip(1).step_by(2).copied().collect();
            (median(&mut even), median(&mut odd))
        })
        .collect();
    if halves.len() < 2 * MIN_GROUP {
        return None;
    }
    let (a, b): (Vec<f64>, Vec<f64>) = halves.into_iter().unzip();
    let r = super::separation::spearman(&a, &b);
    let df = a.len() as f64 - 2.0;
    let p = if r >= 1.0 {
        0.0
    } else if r <= 0.0 {
        1.0
    } else {
        0.5 * aisec_core::stats::student_t_two_sided(r * (df / (1.0 - r * r)).sqrt(), df)
    };
    Some(InputDependence {
        split_half_spearman: r,
        p,
        depends: r >= 0.25 && p < config.alpha && spread_us >= config.min_difference_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisec_ml::model::{ModelInfo, OutputKind, QueryBudget};

    /// A classifier that answers class 1 to inputs whose first value is positive and takes
    /// `extra_us` longer to do it: a path-dependent model in this process.
    struct Branching {
        info: ModelInfo,
        budget: QueryBudget,
        extra_us: u64,
    }

    impl Classifier for Branching {
        fn info(&self) -> &ModelInfo {
            &self.info
        }
        fn output_kind(&self) -> OutputKind {
            OutputKind::Probabilities
        }
        fn query(&self, x: &[f32]) -> aisec_ml::Result<QueryOutput> {
            let deep = x[0] > 0.0;
            let until = Instant::now()
                + std::time::Duration::from_micros(if deep { 200 + self.extra_us } else { 200 });
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            Ok(QueryOutput::Probabilities(if deep {
                vec![0.4, 0.6]
            } else {
                vec![0.95, 0.05]
            }))
        }
        fn evaluate(&self, x: &[f32]) -> aisec_ml::Result<Vec<usize>> {
            Ok(x.iter().map(|v| usize::from(*v > 0.0)).collect())
        }
        fn budget(&self) -> &QueryBudget {
            &self.budget
        }
    }

    fn probes(n: usize) -> (Vec<f32>, Vec<usize>) {
        let x: Vec<f32> = (0..n)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        let y = x.iter().map(|v| usize::from(*v > 0.0)).collect();
        (x, y)
    }

    fn branching(extra_us: u64) -> Branching {
        Branching {
            info: ModelInfo {
                description: "branching".into(),
                input_shape: vec![1],
                num_classes: 2,
                input_range: None,
            },
            budget: QueryBudget::new(None),
            extra_us,
        }
    }

    #[test]
    fn a_slow_path_is_found_and_a_constant_time_model_is_not_accused() {
        let (x, y) = probes(60);
        let config = TimingConfig {
            inputs: 60,
            repeats: 5,
            warmup: 5,
            resamples: 200,
            ..TimingConfig::default()
        };
        let p = Probes {
            x: &x,
            labels: Some(&y),
            member: None,
        };
        for seed in [1, 2] {
            let leaky = run(&branching(400), &p, &config, seed, &mut |_| {}).unwrap();
            let class = leaky
                .properties
                .iter()
                .find(|t| t.property == Property::PredictedClass)
                .unwrap();
            assert!(class.leaks, "{class:?}");
            assert_eq!(class.slower(), "class 1");
            assert!(class.auc > 0.95, "{}", class.auc);
            assert_eq!(leaky.queries, 5 + 300);
            assert!(leaky.input_dependence.as_ref().unwrap().depends);
            let constant = run(&branching(0), &p, &config, seed, &mut |_| {}).unwrap();
            assert_eq!(constant.leaking().count(), 0, "{:?}", constant.properties);
            assert!(!constant.input_dependence.as_ref().unwrap().depends);
        }
    }

    #[test]
    fn extremes_are_refused() {
        for bad in [
            TimingConfig {
                inputs: 3,
                ..TimingConfig::default()
            },
            TimingConfig {
                repeats: 0,
                ..TimingConfig::default()
            },
            TimingConfig {
                alpha: 0.0,
                ..TimingConfig::default()
            },
            TimingConfig {
                alpha: f64::NAN,
                ..TimingConfig::default()
            },
            TimingConfig {
                min_auc: 1.5,
                ..TimingConfig::default()
            },
            TimingConfig {
                inputs: 100_000,
                repeats: 10_000,
                ..TimingConfig::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
