//! Certified robustness by randomized smoothing (Cohen, Rosenfeld & Kolter, "Certified
//! Adversarial Robustness via Randomized Smoothing", ICML 2019): the smoothed classifier
//! g(x) = argmax_c P(f(x + δ) = c), δ ~ N(0, σ²I), answers the same class everywhere within an
//! L2 radius σ·Φ⁻¹(p_A) of x, where p_A bounds the top class's probability from below.
//!
//! CERTIFY, as the paper states it: n₀ noisy copies choose the top class ĉ_A; n fresh copies
//! count it; the one-sided (1 − α) Clopper–Pearson bound p̲_A on its probability gives the
//! radius σ·Φ⁻¹(p̲_A) when p̲_A > ½, and an abstention otherwise. With probability at least
//! 1 − α per input, a certificate that is not an abstention is correct about g. PREDICT
//! (which the attack check uses) answers the top class of n copies when a two-sided binomial
//! test of the top two counts against ½ has p ≤ α, and abstains otherwise.
//!
//! The certificate is checked empirically too: L2 PGD through the expected gradient over the
//! same noise (EOT, Athalye et al. 2018; Salman et al. 2019 attack smoothed classifiers so)
//! searches each certified input's ball of its own radius, and PREDICT judges the point it
//! finds: a broken certificate is a point inside the radius that PREDICT assigns another
//! class, which should happen for no more than about an α fraction of inputs.
//!
//! ATLAS: certifies against AML.T0015 Evade AI Model with AML.T0043 Craft Adversarial Data;
//! filed under AML.M0010 Input Restoration (the input is randomised before the model sees
//! it, as `--defend smooth` does), lifecycle phases ML Model Engineering and ML Model Evaluation.

pub use aisec_core::stats;

use std::time::Instant;

use aisec_core::rng::Rng;
use aisec_ml::data::Dataset;
use aisec_ml::model::{Classifier, QueryOutput};
use aisec_ml::MlError;
use serde::Serialize;

use crate::defense::{Action, AppliesTo, DefenseInfo, Family, Role};

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.certify",
    summary: "Certified L2 robustness of the randomized-smoothing classifier: per-input radii by Cohen et al.'s CERTIFY (Clopper–Pearson, α), certified accuracy against radius",
    mitigations: &["AML.M0010"],
    phases: &["ML Model Engineering", "ML Model Evaluation"],
    applies_to: AppliesTo::Inputs,
    action: Action::Wrap,
    role: Role::QueryPath,
    families: &[Family::Evasion],
    measured_by: &["evasion.pgd"],
    adaptive_attack: Some(
        "L2 PGD through the expected gradient over the smoothing noise (EOT) inside each input's certified radius, judged by PREDICT",
    ),
    forms: &[],
};

pub const ENTRY: crate::registry::Entry = crate::registry::unparsed(&INFO);

/// CERTIFY's parameters, with the paper's names.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CertifyConfig {
    /// Noise standard deviation, in input units (default 0.25).
    pub sigma: f32,
    /// Noisy copies that choose the top class (default 100, as in the paper).
    pub n0: usize,
    /// Noisy copies that bound its probability (default 10,000; the paper uses 100,000,
    /// whose largest certifiable radius is σ·Φ⁻¹(α^(1/n)): 3.8σ against 3.1σ here).
    pub n: usize,
    /// Failure probability of each certificate (default 0.001, as in the paper).
    pub alpha: f64,
    /// Noisy copies per model call (memory, not results).
    pub batch: usize,
}

impl Default for CertifyConfig {
    fn default() -> Self {
        CertifyConfig {
            sigma: 0.25,
            n0: 100,
            n: 10_000,
            alpha: 0.001,
            batch: 1_000,
        }
    }
}

impl CertifyConfig {
    /// Refuses values the procedure cannot use, naming the flag.
    pub fn check(&self) -> Result<(), String> {
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(format!("--sigma {}: expected a positive number", self.sigma));
        }
        if self.n0 == 0 || self.n == 0 {
            return Err("--n0 and --n must be at least 1".into());
        }
        if self.n0 > 10_000_000 || self.n > 10_000_000 {
            return Err(format!(
                "--n0 {} / --n {}: at most 10,000,000 noisy copies per input",
                self.n0, self.n
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return Err(format!(
                "--alpha {}: expected a failure probability in (0, 0.5)",
                describe_alpha(self.alpha)
            ));
        }
        let best = stats::clopper_pearson_lower(self.n, self.n, self.alpha);
        if best <= 0.5 {
            // All n copies agreeing gives p̲ = α^(1/n); it passes ½ from n > log₂(1/α).
            let needed = (self.alpha.ln() / 0.5f64.ln()).floor() as u64 + 1;
            return Err(format!(
                "--n {} with --alpha {}: even if every noisy copy agreed, the bound on the top class would be {best:.3}, not above ½, so no input could be certified; use --n {needed} or more",
                self.n,
                describe_alpha(self.alpha)
            ));
        }
        Ok(())
    }

    /// The largest radius any input can get: all n copies voting for the top class.
    pub fn largest_radius(&self) -> f64 {
        let best = stats::clopper_pearson_lower(self.n, self.n, self.alpha);
        self.sigma as f64 * stats::normal_quantile(best)
    }
}

/// α as people write it: 0.001, 1e-12.
pub fn describe_alpha(alpha: f64) -> String {
    if alpha != 0.0 && alpha.abs() < 1e-4 {
        format!("{alpha:e}")
    } else {
        format!("{alpha}")
    }
}

/// One input's certificate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Certificate {
    pub index: usize,
    pub label: usize,
    /// The smoothed classifier's class, or None for an abstention.
    pub prediction: Option<usize>,
    /// Certified L2 radius (0 for an abstention).
    pub radius: f64,
    /// How many of the n copies gave the top class.
    pub top_count: usize,
    /// The lower confidence bound p̲_A.
    pub p_lower: f64,
}

impl Certificate {
    /// Correct and certified at `radius` or beyond.
    pub fn holds_at(&self, radius: f64) -> bool {
        self.prediction == Some(self.label) && self.radius >= radius
    }
}

/// Counts of the base model's classes on `copies` noisy copies of `input`.
fn noisy_counts(
    model: &dyn Classifier,
    input: &[f32],
    copies: usize,
    sigma: f32,
    batch: usize,
    rng: &mut Rng,
) -> Result<Vec<usize>, MlError> {
    let classes = model.info().num_classes;
    let mut counts = vec![0usize; classes];
    let mut left = copies;
    let mut noisy = Vec::new();
    while left > 0 {
        let take = left.min(batch.max(1));
        noisy.clear();
        for _ in 0..take {
            noisy.extend(input.iter().map(|v| v + sigma * rng.normal()));
        }
        for label in model.evaluate(&noisy)? {
            if let Some(c) = counts.get_mut(label) {
                *c += 1;
            }
        }
        left -= take;
    }
    Ok(counts)
}

fn top(counts: &[usize]) -> usize {
    // The first of equal counts, as numpy's argmax picks.
    let mut best = 0;
    for (c, n) in counts.iter().enumerate() {
        if *n > counts[best] {
            best = c;
        }
    }
    best
}

/// CERTIFY for input `index` of `data`, with noise from streams derived from `seed` and the
/// index (selection and estimation independent, as the procedure requires).
pub fn certify_one(
    model: &dyn Classifier,
    data: &Dataset,
    index: usize,
    config: &CertifyConfig,
    seed: u64,
) -> Result<Certificate, MlError> {
    let input = data.sample(index);
    let mut selection = Rng::derive(seed, &format!("certify-select-{index}"));
    let mut estimation = Rng::derive(seed, &format!("certify-estimate-{index}"));
    let chosen = top(&noisy_counts(
        model,
        input,
        config.n0,
        config.sigma,
        config.batch,
        &mut selection,
    )?);
    let counts = noisy_counts(
        model,
        input,
        config.n,
        config.sigma,
        config.batch,
        &mut estimation,
    )?;
    let top_count = counts[chosen];
    let p_lower = stats::clopper_pearson_lower(top_count, config.n, config.alpha);
    let (prediction, radius) = if p_lower > 0.5 {
        (
            Some(chosen),
            config.sigma as f64 * stats::normal_quantile(p_lower),
        )
    } else {
        (None, 0.0)
    };
    Ok(Certificate {
        index,
        label: data.y[index],
        prediction,
        radius,
        top_count,
        p_lower,
    })
}

/// PREDICT: the top class of `n` noisy copies of `input` when the binomial test of the top
/// two counts has p ≤ α, None (abstain) otherwise.
pub fn predict(
    model: &dyn Classifier,
    input: &[f32],
    config: &CertifyConfig,
    rng: &mut Rng,
) -> Result<Option<usize>, MlError> {
    let counts = noisy_counts(model, input, config.n, config.sigma, config.batch, rng)?;
    let first = top(&counts);
    let runner_up = counts
        .iter()
        .enumerate()
        .filter(|(c, _)| *c != first)
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0);
    let p = stats::binomial_test_half(counts[first], counts[first] + runner_up);
    Ok((p <= config.alpha).then_some(first))
}

/// Certified accuracy at a radius: the fraction of inputs certified correct at least that far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CertifiedAt {
    pub radius: f64,
    pub certified_accuracy: f64,
}

/// The curve at radii 0, step, 2·step, … up to the largest radius reached (step a quarter
/// of σ, as the paper's tables use multiples of 0.25 at σ from 0.12 to 1).
pub fn certified_accuracy_curve(certificates: &[Certificate], sigma: f32) -> Vec<CertifiedAt> {
    let n = certificates.len().max(1) as f64;
    let largest = certificates
        .iter()
        .filter(|c| c.prediction == Some(c.label))
        .map(|c| c.radius)
        .fold(0.0f64, f64::max);
    let step = sigma as f64 / 4.0;
    let steps = ((largest / step).floor() as usize).min(400);
    (0..=steps + 1)
        .map(|k| {
            let radius = k as f64 * step;
            CertifiedAt {
                radius,
                certified_accuracy: certificates.iter().filter(|c| c.holds_at(radius)).count()
                    as f64
                    / n,
            }
        })
        .collect()
}

/// What the empirical check of the certificates found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackCheck {
    /// Certified inputs attacked (the first ones with a radius above 0).
    pub inputs: usize,
    /// Points found inside a certified radius that PREDICT assigned another class.
    pub broken: usize,
    /// Points PREDICT abstained on (not a break: the certificate is about g, and PREDICT
    /// abstains when its sample cannot tell).
    pub abstained: usize,
    /// PGD's settings: steps, EOT noise draws per step, norm.
    pub pgd_steps: usize,
    pub eot_samples: usize,
    /// The largest L2 distance of an attack point from its input, as a fraction of that
    /// input's radius (at most 1: the points stay inside the certified ball).
    pub largest_distance_over_radius: f64,
    /// Inputs whose attack point the smoothed API's own vote already misclassified (the
    /// attack's success against the 100-copy vote `--defend smooth` answers with, which is
    /// not the certified classifier).
    pub fooled_the_vote: usize,
    pub seconds: f64,
}

/// Attacks up to `inputs` certified inputs with L2 PGD (EOT over the smoothing noise)
/// inside their radius and judges each point with PREDICT.
pub fn attack_check(
    model: std::sync::Arc<dyn Classifier>,
    data: &Dataset,
    certificates: &[Certificate],
    config: &CertifyConfig,
    inputs: usize,
    seed: u64,
) -> Result<AttackCheck, MlError> {
    use aisec_attacks::evasion::{self, EvasionParams, EvasionTask, Norm};

    use crate::smoothing::{AttackerView, Smoothed, SmoothingConfig};

    let smoothing = SmoothingConfig {
        sigma: config.sigma,
        ..SmoothingConfig::default()
    };
    let target = Smoothed::new(model.clone(), smoothing, AttackerView::ExpectationOverNoise, seed);
    let steps = 20;
    let started = Instant::now();
    let mut check = AttackCheck {
        inputs: 0,
        broken: 0,
        abstained: 0,
        pgd_steps: steps,
        eot_samples: smoothing.eot_samples,
        largest_distance_over_radius: 0.0,
        fooled_the_vote: 0,
        seconds: 0.0,
    };
    for certificate in certificates
        .iter()
        .filter(|c| c.prediction.is_some() && c.radius > 0.0)
        .take(inputs)
    {
        let Some(class) = certificate.prediction else {
            continue;
        };
        // A hair inside the radius, so that rounding cannot carry the point past it.
        let eps = (certificate.radius * (1.0 - 1e-4)) as f32;
        let params = EvasionParams {
            eps: Some(eps),
            norm: Some(Norm::L2),
            steps: Some(steps),
            step_size: Some(2.5 * eps / steps as f32),
            random_start: None,
            restarts: None,
            queries_per_input: None,
        };
        let attack_error = |e: aisec_attacks::AttackError| MlError::Invalid(e.to_string());
        let attack = (aisec_attacks::evasion::pgd::ENTRY.build)(&params).map_err(attack_error)?;
        let x = data.sample(certificate.index);
        let task = EvasionTask {
            model: &target,
            x,
            y: &[class],
            clip: data.input_range,
            target: None,
            seed: seed.wrapping_add(certificate.index as u64),
            stopped: Default::default(),
        };
        let outcome = evasion::run(attack.as_ref(), &task).map_err(attack_error)?;
        let distance = outcome.examples[0].l2 as f64;
        check.largest_distance_over_radius = check
            .largest_distance_over_radius
            .max(distance / certificate.radius);
        if outcome.examples[0].adversarial_prediction != class {
            check.fooled_the_vote += 1;
        }
        let mut rng = Rng::derive(seed, &format!("certify-check-{}", certificate.index));
        match predict(model.as_ref(), &outcome.adversarial, config, &mut rng)? {
            None => check.abstained += 1,
            Some(c) if c != class => check.broken += 1,
            Some(_) => {}
        }
        check.inputs += 1;
    }
    check.seconds = started.elapsed().as_secs_f64();
    Ok(check)
}

/// A certification run's results.
#[derive(Debug, Clone, Serialize)]
pub struct CertifyOutcome {
    pub config: CertifyConfig,
    pub seed: u64,
    pub certificates: Vec<Certificate>,
    pub curve: Vec<CertifiedAt>,
    /// The base model's accuracy on the clean inputs, for comparison.
    pub base_accuracy: f64,
    pub abstentions: usize,
    /// Noisy copies the base model classified (n₀ + n per input).
    pub model_evaluations: u64,
    pub wall_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack_check: Option<AttackCheck>,
}

impl CertifyOutcome {
    /// Correct and not abstained (certified at radius 0).
    pub fn certified_accuracy(&self) -> f64 {
        self.certificates.iter().filter(|c| c.holds_at(0.0)).count() as f64
            / self.certificates.len().max(1) as f64
    }

    /// Mean radius over the inputs certified correct (0 when there are none).
    pub fn mean_correct_radius(&self) -> f64 {
        let correct: Vec<f64> = self
            .certificates
            .iter()
            .filter(|c| c.holds_at(0.0))
            .map(|c| c.radius)
            .collect();
        correct.iter().sum::<f64>() / correct.len().max(1) as f64
    }
}

/// CERTIFY on every input of `data`; `on_input` is told as each finishes (progress).
pub fn certify(
    model: &dyn Classifier,
    data: &Dataset,
    config: &CertifyConfig,
    seed: u64,
    on_input: &mut dyn FnMut(usize),
) -> Result<CertifyOutcome, MlError> {
    config.check().map_err(MlError::Invalid)?;
    let started = Instant::now();
    let scores = model.scores(&data.x)?;
    let finite = match &scores {
        QueryOutput::Probabilities(v) | QueryOutput::Logits(v) => v.iter().all(|x| x.is_finite()),
        QueryOutput::TopK(rows) => rows.iter().flatten().all(|(_, p)| p.is_finite()),
        QueryOutput::Labels(_) => true,
    };
    if !finite {
        return Err(MlError::Invalid(format!(
            "{}: its outputs on the clean inputs are not all finite numbers (NaN or infinite), so its answers under noise mean nothing and nothing can be certified about it",
            model.info().description
        )));
    }
    let base = scores.labels(model.info().num_classes);
    let base_accuracy = base.iter().zip(&data.y).filter(|(p, y)| p == y).count() as f64
        / data.len().max(1) as f64;
    // Inputs are independent and each draws its own noise streams, so splitting them
    // across threads changes nothing but the time.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(data.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (sender, receiver) = std::sync::mpsc::channel();
    let mut slots: Vec<Option<Certificate>> = vec![None; data.len()];
    std::thread::scope(|scope| -> Result<(), MlError> {
        for _ in 0..workers {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if index >= data.len() {
                    break;
                }
                let result = certify_one(model, data, index, config, seed);
                let failed = result.is_err();
                if sender.send((index, result)).is_err() || failed {
                    // Stop taking inputs: the first error ends the run.
                    next.store(data.len(), std::sync::atomic::Ordering::Relaxed);
                    break;
                }
            });
        }
        drop(sender);
        let mut done = 0;
        for (index, result) in receiver {
            slots[index] = Some(result?);
            done += 1;
            on_input(done);
        }
        Ok(())
    })?;
    let certificates: Vec<Certificate> = slots.into_iter().flatten().collect();
    if certificates.len() != data.len() {
        return Err(MlError::Invalid(format!(
            "certification stopped after {} of {} inputs",
            certificates.len(),
            data.len()
        )));
    }
    Ok(CertifyOutcome {
        config: *config,
        seed,
        curve: certified_accuracy_curve(&certificates, config.sigma),
        abstentions: certificates.iter().filter(|c| c.prediction.is_none()).count(),
        certificates,
        base_accuracy,
        model_evaluations: (data.len() * (config.n0 + config.n)) as u64,
        wall_seconds: started.elapsed().as_secs_f64(),
        attack_check: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model whose class is the sign of the first value: P(f(x + δ) = 1) = Φ(x₀/σ), so
    /// g's true radius at x is |x₀| and every certificate must lie below it.
    struct Sign {
        info: aisec_ml::model::ModelInfo,
        budget: aisec_ml::model::QueryBudget,
    }

    impl Classifier for Sign {
        fn info(&self) -> &aisec_ml::model::ModelInfo {
            &self.info
        }
        fn output_kind(&self) -> aisec_ml::model::OutputKind {
            aisec_ml::model::OutputKind::Label
        }
        fn query(&self, x: &[f32]) -> Result<aisec_ml::model::QueryOutput, MlError> {
            Ok(aisec_ml::model::QueryOutput::Labels(self.evaluate(x)?))
        }
        fn evaluate(&self, x: &[f32]) -> Result<Vec<usize>, MlError> {
            Ok(x.chunks(2).map(|r| usize::from(r[0] > 0.0)).collect())
        }
        fn budget(&self) -> &aisec_ml::model::QueryBudget {
            &self.budget
        }
    }

    fn sign_model() -> Sign {
        Sign {
            info: aisec_ml::model::ModelInfo {
                description: "sign of x0".into(),
                input_shape: vec![2],
                num_classes: 2,
                input_range: None,
            },
            budget: aisec_ml::model::QueryBudget::new(None),
        }
    }

    #[test]
    fn radii_stay_below_the_true_radius_and_grow_with_the_margin() {
        let model = sign_model();
        let xs = [0.02f32, 0.1, 0.3, 0.6, -0.45, 5.0];
        let x: Vec<f32> = xs.iter().flat_map(|v| [*v, 0.7]).collect();
        let y: Vec<usize> = xs.iter().map(|v| usize::from(*v > 0.0)).collect();
        let data = Dataset::new("signs", x, y, vec![2], Some(2), None).unwrap();
        let config = CertifyConfig {
            n: 2_000,
            ..CertifyConfig::default()
        };
        for seed in [1, 2, 3] {
            let outcome = certify(&model, &data, &config, seed, &mut |_| {}).unwrap();
            let c = &outcome.certificates;
            assert_eq!(c[0].prediction, None, "x0 = 0.02 is too close to call: {c:?}");
            for (cert, x0) in c.iter().zip(xs).skip(1) {
                assert_eq!(cert.prediction, Some(cert.label), "{cert:?}");
                assert!(cert.radius < x0.abs() as f64, "{cert:?} beyond |x0| = {x0}");
            }
            assert!(c[1].radius < c[2].radius && c[2].radius < c[3].radius, "{c:?}");
            // x0 = 5 = 20σ: every copy agrees, and the radius is the largest n can give.
            assert!((c[5].radius - config.largest_radius()).abs() < 1e-9, "{c:?}");
            assert_eq!(outcome.abstentions, 1);
            assert_eq!(outcome.curve[0].certified_accuracy, 5.0 / 6.0);
            assert!(outcome.curve.windows(2).all(|w| w[0].certified_accuracy >= w[1].certified_accuracy));
        }
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        for (config, word) in [
            (CertifyConfig { sigma: 0.0, ..Default::default() }, "--sigma"),
            (CertifyConfig { sigma: f32::NAN, ..Default::default() }, "--sigma"),
            (CertifyConfig { n: 0, ..Default::default() }, "--n"),
            (CertifyConfig { alpha: 0.7, ..Default::default() }, "--alpha"),
            (CertifyConfig { alpha: 0.0, ..Default::default() }, "--alpha"),
            (CertifyConfig { n0: usize::MAX, ..Default::default() }, "--n0"),
            (CertifyConfig { n: 9, ..Default::default() }, "--n 10 or more"),
            (CertifyConfig { n: 100, alpha: 1e-300, ..Default::default() }, "1e-300"),
        ] {
            let err = config.check().unwrap_err();
            assert!(err.contains(word), "{err}");
        }
    }
}
