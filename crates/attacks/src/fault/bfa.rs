//! The bit-flip attack (Rakin, He & Fan, "Bit-Flip Attack: Crushing Neural Network with
//! Progressive Bit Search", ICCV 2019): on an 8-bit quantized model, flip the few weight bits
//! that hurt most. Each step computes the loss gradient on an attack batch; within each
//! layer, ranks every weight's best single-bit flip by its first-order loss increase
//! (∂L/∂w · s · Δq) and evaluates the top candidates' true loss; across layers, commits the
//! flip with the largest loss. The paper took ResNet-18 on ImageNet to random guessing with
//! 13 flips, where 100 random flips barely moved it; the same comparison is made here: the
//! accuracy after as many (and 10× and 100) uniformly random bit flips, averaged over trials.
//!
//! ATLAS: AML.T0031 Erode AI Model Integrity; a collapsed model is AML.T0029 Denial of AI
//! Service. Access: write access to the weights' memory (rowhammer, fault injection), with
//! the weights known (white box).

use std::time::Instant;

use aisec_core::rng::Rng;
use aisec_ml::model::LocalModel;
use aisec_ml::native::NativeModel;
use aisec_ml::weights::WeightTensor;
use serde::Serialize;

use super::quant::{flipped, Quantized};
use crate::{Access, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "fault.bfa",
    aliases: &["bfa", "bitflip"],
    summary: "Bit-flip attack (Rakin et al. 2019): progressive bit search over an 8-bit quantized model's weights, against as many random flips",
    access: Access::WeightMemory,
    atlas: &["AML.T0031", "AML.T0029"],
};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BfaConfig {
    /// Flips the search may commit (default 50).
    pub max_flips: usize,
    /// Attack-batch inputs the gradient and the candidates' losses use (default 128).
    pub batch: usize,
    /// Candidates per layer whose true loss is evaluated each step (default 5).
    pub candidates: usize,
    /// Random-flip trials per count (default 5).
    pub random_trials: usize,
    /// The search stops once accuracy is at most a constant answer's plus this (default
    /// 0.02).
    pub chance_margin: f64,
    /// The flip count the random comparison starts from (N, 10N, 100), when it is not this
    /// run's own (a defended run compared like for like with the undefended one).
    pub random_base: Option<usize>,
}

impl Default for BfaConfig {
    fn default() -> Self {
        BfaConfig {
            max_flips: 50,
            batch: 128,
            candidates: 5,
            random_trials: 5,
            chance_margin: 0.02,
            random_base: None,
        }
    }
}

impl BfaConfig {
    pub fn check(&self) -> std::result::Result<(), String> {
        if !(1..=10_000).contains(&self.max_flips) {
            return Err(format!(
                "--max-flips {}: expected 1 to 10000",
                self.max_flips
            ));
        }
        if self.batch == 0 {
            return Err("--batch 0: the gradient needs at least 1 input".into());
        }
        if !(1..=100).contains(&self.candidates) {
            return Err(format!(
                "--candidates {}: expected 1 to 100 (each costs a forward pass per layer per flip)",
                self.candidates
            ));
        }
        if self.random_trials > 1000 {
            return Err(format!(
                "--random-trials {}: expected at most 1000",
                self.random_trials
            ));
        }
        Ok(())
    }
}

/// One committed flip.
#[derive(Debug, Clone, Serialize)]
pub struct FlipStep {
    pub flip: usize,
    pub layer: String,
    pub index: usize,
    /// 0 = least significant, 7 = the sign bit.
    pub bit: u8,
    pub from: i8,
    pub to: i8,
    /// The value inference uses after the flip (`to`, or `to` clamped by a defence).
    pub used: i8,
    pub attack_loss: f32,
    /// Accuracy on the evaluation inputs after this flip.
    pub accuracy: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RandomFlips {
    pub flips: usize,
    pub trials: usize,
    pub accuracy_mean: f64,
    pub accuracy_min: f64,
    pub accuracy_max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BfaOutcome {
    pub config: BfaConfig,
    /// Weights per clamp group, when the model was attacked behind `defense.weight-clamp`.
    pub clamp_group: Option<usize>,
    pub float_accuracy: f64,
    pub quantized_accuracy: f64,
    /// The accuracy of a model that gives every evaluation input the same answer (the most
    /// common class): where a model the flips have collapsed ends up.
    pub constant_answer_accuracy: f64,
    /// Bits the attacker could flip (8 per quantized weight).
    pub bits: usize,
    /// Evaluation inputs the accuracy is measured on.
    pub eval_inputs: usize,
    pub steps: Vec<FlipStep>,
    /// Flips after which accuracy was at most a constant answer's plus the margin (0 when
    /// the 8-bit model already was: nothing to attack).
    pub flips_to_constant_answer: Option<usize>,
    pub final_accuracy: f64,
    pub random: Vec<RandomFlips>,
    /// The flipped model's weights, as the search left them (for integrity checks).
    #[serde(skip)]
    pub attacked: Quantized,
    #[serde(skip)]
    pub clean: Quantized,
    pub model_evaluations: u64,
    pub seconds: f64,
}

/// Inputs and labels.
pub type Labelled<'a> = (&'a [f32], &'a [usize]);

pub fn run(
    model: &NativeModel,
    attack: Labelled<'_>,
    eval: Labelled<'_>,
    config: &BfaConfig,
    clamp_group: Option<usize>,
    seed: u64,
    progress: &mut dyn FnMut(String),
) -> Result<BfaOutcome> {
    let started = Instant::now();
    let classes = model.model_info().num_classes;
    let mut counts = vec![0usize; classes.max(1)];
    for y in eval.1 {
        if let Some(c) = counts.get_mut(*y) {
            *c += 1;
        }
    }
    if counts.iter().filter(|c| **c > 0).count() < 2 {
        return Err(crate::AttackError::Config {
            attack: INFO.name,
            message: "the evaluation inputs hold fewer than 2 classes: accuracy cannot tell a working model from a constant answer (give more --eval inputs or other data)".into(),
        });
    }
    let chance = (counts.iter().copied().max().unwrap_or(0) as f64 / eval.1.len().max(1) as f64)
        .max(1.0 / classes.max(1) as f64);
    let base = model.weights();
    if let Some(w) = base
        .iter()
        .find(|w| w.values.iter().any(|v| !v.is_finite()))
    {
        return Err(crate::AttackError::Config {
            attack: INFO.name,
            message: format!(
                "weight `{}` holds a non-finite value: the model is already broken",
                w.name
            ),
        });
    }
    let clean = Quantized::new(&base, clamp_group);
    let mut evaluations = 0u64;
    let accuracy_of = |q: &Quantized, evaluations: &mut u64| -> Result<f64> {
        let m = model.with_weights(&q.dequantize(&base))?;
        *evaluations += eval.1.len() as u64;
        accuracy(&m, eval)
    };
    let float_accuracy = accuracy(model, eval)?;
    let quantized_accuracy = accuracy_of(&clean, &mut evaluations)?;
    let mut quant = clean.clone();
    let mut steps: Vec<FlipStep> = Vec::new();
    let mut flips_to_chance = None;
    let mut current = quantized_accuracy;
    if current > chance + config.chance_margin {
        for flip in 1..=config.max_flips {
            progress(format!(
                "bit search: flip {flip}/{}, accuracy {:.1}%",
                config.max_flips,
                100.0 * current
            ));
            let m = model.with_weights(&quant.dequantize(&base))?;
            let (_, grads) = m.weight_gradients(attack.0, attack.1)?;
            evaluations += attack.1.len() as u64;
            let Some(best) = best_flip(
                model,
                &base,
                &mut quant,
                &grads,
                attack,
                config,
                &mut evaluations,
            )?
            else {
                break;
            };
            let (from, to) = quant.flip(best.layer, best.index, best.bit);
            let used = quant.effective(best.layer, best.index, to);
            current = accuracy_of(&quant, &mut evaluations)?;
            steps.push(FlipStep {
                flip,
                layer: quant.layers[best.layer].name.clone(),
                index: best.index,
                bit: best.bit,
                from,
                to,
                used,
                attack_loss: best.loss,
                accuracy: current,
            });
            if current <= chance + config.chance_margin {
                flips_to_chance = Some(flip);
                break;
            }
        }
    } else {
        flips_to_chance = Some(0);
    }
    let searched = config.random_base.unwrap_or(steps.len()).max(1);
    let mut counts = vec![searched, 10 * searched, 100];
    counts.sort_unstable();
    counts.dedup();
    let mut random = Vec::new();
    for count in counts {
        if config.random_trials == 0 {
            break;
        }
        progress(format!(
            "{count} random flips, {} trials",
            config.random_trials
        ));
        let mut accuracies = Vec::new();
        for trial in 0..config.random_trials {
            let mut rng = Rng::derive(seed, &format!("random-flips/{count}/{trial}"));
            let mut q = clean.clone();
            random_flips(&mut q, count, &mut rng);
            accuracies.push(accuracy_of(&q, &mut evaluations)?);
        }
        random.push(RandomFlips {
            flips: count,
            trials: accuracies.len(),
            accuracy_mean: accuracies.iter().sum::<f64>() / accuracies.len() as f64,
            accuracy_min: accuracies.iter().copied().fold(f64::INFINITY, f64::min),
            accuracy_max: accuracies.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        });
    }
    Ok(BfaOutcome {
        config: *config,
        clamp_group,
        float_accuracy,
        quantized_accuracy,
        constant_answer_accuracy: chance,
        bits: clean.bits(),
        eval_inputs: eval.1.len(),
        steps,
        flips_to_constant_answer: flips_to_chance,
        final_accuracy: current,
        random,
        attacked: quant,
        clean,
        model_evaluations: evaluations,
        seconds: started.elapsed().as_secs_f64(),
    })
}

struct Candidate {
    layer: usize,
    index: usize,
    bit: u8,
    loss: f32,
}

/// In each layer the top candidates by first-order gain, evaluated; the best across layers.
fn best_flip(
    model: &NativeModel,
    base: &[WeightTensor],
    quant: &mut Quantized,
    grads: &[WeightTensor],
    attack: Labelled<'_>,
    config: &BfaConfig,
    evaluations: &mut u64,
) -> Result<Option<Candidate>> {
    let mut best: Option<Candidate> = None;
    for li in 0..quant.layers.len() {
        let layer = &quant.layers[li];
        let g = &grads[layer.tensor].values;
        let mut scored: Vec<(f32, usize, u8)> = layer
            .q
            .iter()
            .enumerate()
            .filter_map(|(i, &q)| {
                // What inference will use after the flip (a clamp pulls it back): the search
                // knows the defence.
                let now = quant.effective(li, i, q) as f32;
                (0..8u8)
                    .map(|b| {
                        let after = quant.effective(li, i, flipped(q, b)) as f32;
                        (g[i] * layer.scale * (after - now), i, b)
                    })
                    .filter(|(gain, _, _)| gain.is_finite() && *gain > 0.0)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
            })
            .collect();
        let k = config.candidates.min(scored.len());
        if k == 0 {
            continue;
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        for &(_, index, bit) in &scored[..k] {
            quant.flip(li, index, bit);
            let m = model.with_weights(&quant.dequantize(base));
            quant.flip(li, index, bit);
            let loss = loss(&m?, attack)?;
            *evaluations += attack.1.len() as u64;
            if best.as_ref().is_none_or(|b| loss > b.loss) {
                best = Some(Candidate {
                    layer: li,
                    index,
                    bit,
                    loss,
                });
            }
        }
    }
    Ok(best)
}

fn random_flips(q: &mut Quantized, count: usize, rng: &mut Rng) {
    let total: usize = q.layers.iter().map(|l| l.q.len()).sum();
    if total == 0 {
        return;
    }
    for _ in 0..count {
        let mut at = rng.below(total);
        let bit = rng.below(8) as u8;
        for li in 0..q.layers.len() {
            let n = q.layers[li].q.len();
            if at < n {
                q.flip(li, at, bit);
                break;
            }
            at -= n;
        }
    }
}

fn accuracy(model: &dyn LocalModel, (x, y): Labelled<'_>) -> Result<f64> {
    let k = model.model_info().num_classes;
    let logits = model.plain_logits(x)?;
    let pred = aisec_ml::tensor::argmax_rows(&logits, k);
    Ok(pred.iter().zip(y).filter(|(p, t)| p == t).count() as f64 / y.len().max(1) as f64)
}

/// Mean cross-entropy; a non-finite logit (a flipped exponent is impossible in int8, but
/// a huge weight can overflow a sum) counts as the largest loss.
fn loss(model: &dyn LocalModel, (x, y): Labelled<'_>) -> Result<f32> {
    let k = model.model_info().num_classes;
    let logits = model.plain_logits(x)?;
    let mut total = 0f64;
    for (row, &label) in logits.chunks(k).zip(y) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|v| ((v - max) as f64).exp()).sum();
        let l = (max as f64 + sum.ln()) - row[label] as f64;
        total += if l.is_finite() { l } else { 1e6 };
    }
    Ok((total / y.len().max(1) as f64) as f32)
}
