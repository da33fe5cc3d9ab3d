//! Trigger search for architectural backdoors in a white-box ONNX graph: a trojan grafted onto
//! the graph (HiddenLayer's ShadowLogic, 2024; Bober-Irizar et al., "Architectural Backdoors
//! in Neural Networks", CVPR 2023) compares input values with a key and switches the output.
//! Its comparison is *dormant*: on clean data it always answers the same, since no natural
//! input carries the key. The search runs the graph (aisec's own interpreter: parsed, never
//! executed by a runtime) and:
//!
//! 1. evaluates every comparison of the main graph on clean inputs and keeps the dormant ones
//!    (the same answer for every input, a handful of numbers per input: a key check, not an
//!    element-wise preprocessing step such as clamping);
//! 2. finds which input positions each compared number reads, by setting one position (or
//!    one block of positions, on large inputs) at a time to the data's lowest and highest
//!    value on a random input and seeing which numbers move;
//! 3. for each number, sets its positions to a grid of values over the data's range plus the
//!    constants it is compared with, keeps the values that flip it, and, for an equality
//!    nothing on the grid hits, bisects to the value whose image meets the constant;
//! 4. stamps the values found onto clean inputs and runs the whole model: the trigger's
//!    attack success rate (inputs of another class answered as the target), the comparisons'
//!    firing rate, and a control that fills the same positions with random values (how much
//!    of the change is the key, not the occlusion).
//!
//! A trigger that sends ≥ 90% of the stamped inputs of other classes (at least 10 of them) to
//! one class, while random values at the same positions do not scatter the answers over
//! other classes (an occlusion would), is a confirmed backdoor with its key. Comparisons inside
//! `If`/`Loop` bodies and keys detected by a weighted layer are out of reach; `aisec scan`'s
//! AISEC-ONNX-003 reads the same graphs statically.
//!
//! ATLAS: finds AML.T0018.001 Modify AI Model Architecture (delivered by AML.T0010.003);
//! filed under AML.M0008 Validate AI Model and AML.M0016 Vulnerability Scanning, lifecycle
//! phases ML Model Evaluation and Deployment.

use std::collections::BTreeMap;
use std::time::Instant;

use aisec_core::rng::Rng;
use aisec_ml::data::Dataset;
use aisec_ml::model::LocalModel;
use aisec_ml::onnx::probe::GraphComparison;
use aisec_ml::onnx::OnnxModel;
use aisec_ml::MlError;
use serde::Serialize;

use crate::defense::{Action, AppliesTo, DefenseInfo, Family, Role};

pub const INFO: DefenseInfo = DefenseInfo {
    name: "defense.trigger-search",
    summary: "Architectural-backdoor search in an ONNX graph: dormant comparisons on the input, the key that flips them, and what the stamped key does to the model's answers",
    mitigations: &["AML.M0008", "AML.M0016"],
    phases: &["ML Model Evaluation", "Deployment"],
    applies_to: AppliesTo::Model,
    action: Action::Watch,
    role: Role::Detector,
    families: &[Family::Poisoning],
    measured_by: &[],
    adaptive_attack: None,
    forms: &[],
};

pub const ENTRY: crate::registry::Entry = crate::registry::unparsed(&INFO);

/// Fewer inputs of other classes than this cannot confirm a trigger.
pub const MIN_OTHER_CLASS_INPUTS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TriggerSearchConfig {
    /// Clean inputs the dormancy check and the verification use (default 200).
    pub inputs: usize,
    /// Values tried per compared number, evenly over the data's range (default 64).
    pub grid: usize,
    /// Largest count of compared numbers per input a key check may have (default 64).
    pub max_compared: usize,
    /// Attack success rate from which a trigger is reported as a backdoor (default 0.9).
    pub confirm_at: f64,
}

impl Default for TriggerSearchConfig {
    fn default() -> Self {
        TriggerSearchConfig {
            inputs: 200,
            grid: 64,
            max_compared: 64,
            confirm_at: 0.9,
        }
    }
}

impl TriggerSearchConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.inputs < 2 {
            return Err(format!("--inputs {}: at least 2 clean inputs are needed to tell a dormant comparison from a varying one", self.inputs));
        }
        if !(2..=4096).contains(&self.grid) {
            return Err(format!("--grid {}: expected 2 to 4096 values", self.grid));
        }
        if !(self.confirm_at > 0.0 && self.confirm_at <= 1.0) {
            return Err(format!(
                "--confirm-at {}: expected a rate in (0, 1]",
                self.confirm_at
            ));
        }
        Ok(())
    }
}

/// What the search made of one comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CheckedComparison {
    pub node: String,
    /// Numbers it compares per input.
    pub compared: usize,
    /// `dormant`, or why it was left alone.
    pub status: String,
    /// Input positions (flat, per input) its numbers read.
    pub positions: Vec<usize>,
    /// The values found that flip it, by position.
    pub key: Vec<(usize, f32)>,
    /// Stamped clean inputs on which every compared number flipped.
    pub fire_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TriggerSearchOutcome {
    pub config: TriggerSearchConfig,
    pub comparisons: Vec<CheckedComparison>,
    /// The key of every comparison that fired, stamped together: position → value.
    pub trigger: Vec<(usize, f32)>,
    pub clean_inputs: usize,
    /// The shape of one input (positions are flat indices into it).
    pub input_shape: Vec<usize>,
    pub clean_accuracy: f64,
    pub triggered_accuracy: f64,
    /// The class the stamped inputs are answered as most.
    pub target_class: Option<usize>,
    /// Stamped inputs of another class answered as the target.
    pub attack_success_rate: f64,
    /// Clean inputs whose label is not the target class (what the success rate is over).
    pub other_class_inputs: usize,
    /// Inputs whose answer changes when the trigger's positions get random values instead.
    pub control_flip_rate: f64,
    /// Of those, the share (of all inputs) changed to a class other than the target.
    pub control_elsewhere_rate: f64,
    pub confirmed: bool,
    pub model_evaluations: u64,
    pub seconds: f64,
}

/// A compared number: the input positions it reads.
struct Compared {
    positions: Vec<usize>,
}

pub fn search(
    model: &OnnxModel,
    data: &Dataset,
    config: &TriggerSearchConfig,
    seed: u64,
    progress: &mut dyn FnMut(String),
) -> Result<TriggerSearchOutcome, MlError> {
    let started = Instant::now();
    let f = model.model_info().features();
    let n = data.len().min(config.inputs);
    let clean = &data.x[..n * f];
    let labels = &data.y[..n];
    let (lo, hi) = range(data, clean);
    let mut rng = Rng::new(seed);
    let mut evaluations = 0u64;
    let mut checked = Vec::new();
    let comparisons = model.comparisons();
    for (i, c) in comparisons.iter().enumerate() {
        progress(format!(
            "comparison {}/{}: {}",
            i + 1,
            comparisons.len(),
            c.label
        ));
        checked.push(examine(
            model,
            c,
            clean,
            (lo, hi),
            config,
            seed,
            &mut evaluations,
        )?);
    }
    let mut trigger: BTreeMap<usize, f32> = BTreeMap::new();
    for c in checked.iter().filter(|c| c.fire_rate >= 0.5) {
        trigger.extend(c.key.iter().copied());
    }
    let trigger: Vec<(usize, f32)> = trigger.into_iter().collect();
    progress("verifying the trigger on the whole model".into());
    let clean_pred = predict(model, clean, &mut evaluations)?;
    let clean_accuracy = accuracy(&clean_pred, labels);
    let mut outcome = TriggerSearchOutcome {
        config: *config,
        comparisons: checked,
        trigger: trigger.clone(),
        clean_inputs: n,
        input_shape: model.model_info().input_shape.clone(),
        clean_accuracy,
        triggered_accuracy: clean_accuracy,
        target_class: None,
        attack_success_rate: 0.0,
        other_class_inputs: 0,
        control_flip_rate: 0.0,
        control_elsewhere_rate: 0.0,
        confirmed: false,
        model_evaluations: 0,
        seconds: 0.0,
    };
    if !trigger.is_empty() {
        let stamped = stamp(clean, f, &trigger);
        let pred = predict(model, &stamped, &mut evaluations)?;
        outcome.triggered_accuracy = accuracy(&pred, labels);
        let target = mode(&pred);
        let others: Vec<usize> = (0..n).filter(|&r| labels[r] != target).collect();
        outcome.other_class_inputs = others.len();
        outcome.attack_success_rate = others.iter().filter(|&&r| pred[r] == target).count()
            as f64
            / others.len().max(1) as f64;
        outcome.target_class = Some(target);
        let random: Vec<(usize, f32)> = trigger
            .iter()
            .map(|(p, _)| (*p, rng.uniform(lo, hi)))
            .collect();
        let control = predict(model, &stamp(clean, f, &random), &mut evaluations)?;
        let changed: Vec<usize> = (0..n).filter(|&r| control[r] != clean_pred[r]).collect();
        outcome.control_flip_rate = changed.len() as f64 / n.max(1) as f64;
        outcome.control_elsewhere_rate =
            changed.iter().filter(|&&r| control[r] != target).count() as f64 / n.max(1) as f64;
        // The control tells the key from an occlusion: random values that scatter the answers
        // over other classes mean the positions matter to the network itself; random values
        // that send them to the same class mean the key is loose (a threshold the random
        // values also cross), which is still the backdoor.
        outcome.confirmed = others.len() >= MIN_OTHER_CLASS_INPUTS
            && outcome.attack_success_rate >= config.confirm_at
            && outcome.control_elsewhere_rate < 0.5;
    }
    outcome.model_evaluations = evaluations;
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}

/// The data's declared range, else the range of the clean inputs.
fn range(data: &Dataset, clean: &[f32]) -> (f32, f32) {
    if let Some(r) = data.input_range {
        return (r.lo, r.hi);
    }
    let lo = clean.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = clean.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if lo.is_finite() && hi.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

fn examine(
    model: &OnnxModel,
    c: &GraphComparison,
    clean: &[f32],
    (lo, hi): (f32, f32),
    config: &TriggerSearchConfig,
    seed: u64,
    evaluations: &mut u64,
) -> Result<CheckedComparison, MlError> {
    // Each comparison's random inputs come from its own stream: the report of one does not
    // depend on how many came before it.
    let rng = &mut Rng::derive(seed, &format!("sources/{}", c.label));
    let f = model.model_info().features();
    let n = clean.len() / f;
    let mut report = CheckedComparison {
        node: c.label.clone(),
        compared: 0,
        status: String::new(),
        positions: Vec::new(),
        key: Vec::new(),
        fire_rate: 0.0,
    };
    let out = &model.probe(clean, &[c.output.as_str()])?[0];
    *evaluations += n as u64;
    report.compared = out.per_row;
    if !out.row_wise {
        report.status = "batch-wide (not one answer per input): not searched".into();
        return Ok(report);
    }
    let usual: Vec<f32> = out.values[..out.per_row].to_vec();
    if out
        .values
        .chunks(out.per_row.max(1))
        .any(|row| row != usual.as_slice())
    {
        report.status = "varies on clean data: a test of the data, not a dormant key".into();
        return Ok(report);
    }
    if out.per_row == 0 || out.per_row > config.max_compared {
        report.status = format!(
            "dormant but compares {} numbers per input (more than {}): element-wise preprocessing, not a key check",
            out.per_row, config.max_compared
        );
        return Ok(report);
    }
    let operands: Vec<&str> = c
        .inputs
        .iter()
        .map(String::as_str)
        .filter(|i| !i.is_empty() && !model.is_constant(i))
        .collect();
    let compared = sources(model, &operands, out.per_row, f, (lo, hi), rng, evaluations)?;
    if compared.iter().all(|s| s.positions.is_empty()) {
        report.status = "dormant, but reads no input value (shape or constant data)".into();
        return Ok(report);
    }
    let mut positions: Vec<usize> = compared
        .iter()
        .flat_map(|s| s.positions.iter().copied())
        .collect();
    positions.sort_unstable();
    positions.dedup();
    report.positions = positions;
    let constants: Vec<f32> = constant_operands(model, c, clean, f)?;
    let operand = c
        .inputs
        .iter()
        .find(|i| !i.is_empty() && !model.is_constant(i))
        .cloned();
    let mut key: BTreeMap<usize, f32> = BTreeMap::new();
    for (j, s) in compared.iter().enumerate() {
        if s.positions.is_empty() {
            continue;
        }
        let constant = match constants.len() {
            0 => None,
            k if k == compared.len() => Some(constants[j]),
            _ => Some(constants[0]),
        };
        let target = Target {
            model,
            comparison: c,
            operand: operand.as_deref(),
            base: &clean[..f],
            j,
            usual: usual[j],
            positions: &s.positions,
            range: (lo, hi),
            constants: &constants,
            constant,
            grid: config.grid,
            seed,
        };
        if let Some(values) = target.search(evaluations)? {
            key.extend(values);
        }
    }
    report.key = key.into_iter().collect();
    if report.key.is_empty() {
        report.status = "dormant; no value in the data's range flips it".into();
        return Ok(report);
    }
    let stamped = stamp(clean, f, &report.key);
    let fired = &model.probe(&stamped, &[c.output.as_str()])?[0];
    *evaluations += n as u64;
    let all_flipped = fired
        .values
        .chunks(out.per_row)
        .filter(|row| row.iter().zip(&usual).all(|(a, b)| a != b))
        .count();
    report.fire_rate = all_flipped as f64 / n.max(1) as f64;
    report.status = "dormant".into();
    Ok(report)
}

/// For each of the `compared` numbers of the operands, the input positions it reads: one
/// random input, each position (or block, above 4,096 positions) set to `lo` and to `hi`.
fn sources(
    model: &OnnxModel,
    operands: &[&str],
    compared: usize,
    f: usize,
    (lo, hi): (f32, f32),
    rng: &mut Rng,
    evaluations: &mut u64,
) -> Result<Vec<Compared>, MlError> {
    let random: Vec<f32> = (0..f)
        .map(|_| rng.uniform(lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo)))
        .collect();
    // A key that needs every position at once (a minimum of many tests) does not move when
    // one position changes on a random input; from an input all at the top (or the bottom)
    // of the range, one position changed does move it.
    let mut found = Vec::new();
    for base in [random, vec![hi; f], vec![lo; f]] {
        found = sources_from(model, operands, compared, f, (lo, hi), &base, evaluations)?;
        if found.iter().any(|c| !c.positions.is_empty()) {
            break;
        }
    }
    Ok(found)
}

fn sources_from(
    model: &OnnxModel,
    operands: &[&str],
    compared: usize,
    f: usize,
    (lo, hi): (f32, f32),
    base: &[f32],
    evaluations: &mut u64,
) -> Result<Vec<Compared>, MlError> {
    let block = f.div_ceil(4096).max(1);
    let blocks = f.div_ceil(block);
    let mut batch = Vec::with_capacity((2 * blocks + 1) * f);
    batch.extend_from_slice(base);
    for level in [lo, hi] {
        for b in 0..blocks {
            let mut row = base.to_vec();
            for v in &mut row[b * block..((b + 1) * block).min(f)] {
                *v = level;
            }
            batch.extend(row);
        }
    }
    let probed = model.probe(&batch, operands)?;
    *evaluations += (2 * blocks + 1) as u64;
    let mut out: Vec<Compared> = (0..compared)
        .map(|_| Compared {
            positions: Vec::new(),
        })
        .collect();
    for p in probed.iter().filter(|p| p.row_wise && p.per_row > 0) {
        // An operand broadcast against the other (one number compared with several) reads
        // the same positions for every compared number.
        let spread = p.per_row == 1;
        // A reduction (one number from a patch of them) reads every position its operand
        // reads.
        let reduced = compared == 1;
        if !spread && !reduced && p.per_row != compared {
            continue;
        }
        let base_row = &p.values[..p.per_row];
        for r in 0..2 * blocks {
            let row = &p.values[(r + 1) * p.per_row..(r + 2) * p.per_row];
            let b = r % blocks;
            for (k, (a, z)) in row.iter().zip(base_row).enumerate() {
                if a != z {
                    let targets: Vec<usize> = if spread {
                        (0..compared).collect()
                    } else if reduced {
                        vec![0]
                    } else {
                        vec![k]
                    };
                    for t in targets {
                        out[t].positions.extend(b * block..((b + 1) * block).min(f));
                    }
                }
            }
        }
    }
    for c in &mut out {
        c.positions.sort_unstable();
        c.positions.dedup();
    }
    Ok(out)
}

/// The constant operands' numbers (what the key is compared with).
fn constant_operands(
    model: &OnnxModel,
    c: &GraphComparison,
    clean: &[f32],
    f: usize,
) -> Result<Vec<f32>, MlError> {
    let names: Vec<&str> = c
        .inputs
        .iter()
        .map(String::as_str)
        .filter(|i| !i.is_empty() && model.is_constant(i))
        .collect();
    let mut values = Vec::new();
    for p in model.probe(&clean[..f], &names)? {
        values.extend(p.values.into_iter().filter(|v| v.is_finite()).take(64));
    }
    Ok(values)
}

/// One compared number to turn away from its clean answer, and what it reads.
struct Target<'a> {
    model: &'a OnnxModel,
    comparison: &'a GraphComparison,
    /// The data operand's value name (for the objective of the coordinate search).
    operand: Option<&'a str>,
    base: &'a [f32],
    j: usize,
    usual: f32,
    positions: &'a [usize],
    range: (f32, f32),
    constants: &'a [f32],
    /// What number `j` is compared with.
    constant: Option<f32>,
    grid: usize,
    seed: u64,
}

impl Target<'_> {
    /// Values for the positions that flip the number: one value for all of them (a patch
    /// key, a threshold on a mean), an equality bisected through a monotone transform, or,
    /// when the positions each need their own value (corner pixels compared with a vector
    /// through a reduction), a value per position.
    fn search(&self, evaluations: &mut u64) -> Result<Option<Vec<(usize, f32)>>, MlError> {
        let spread = |v: f32| self.positions.iter().map(|p| (*p, v)).collect::<Vec<_>>();
        if let Some(v) = self.uniform(evaluations)? {
            return Ok(Some(spread(v)));
        }
        if self.comparison.op == "Equal" {
            if let Some(v) = self.bisect(evaluations)? {
                return Ok(Some(spread(v)));
            }
        }
        if self.positions.len() > 1 {
            return self.per_position(evaluations);
        }
        Ok(None)
    }

    fn grid_values(&self) -> Vec<f32> {
        let (lo, hi) = self.range;
        (0..self.grid)
            .map(|k| lo + (hi - lo) * k as f32 / (self.grid - 1) as f32)
            .collect()
    }

    fn stamped(&self, rows: &[Vec<(usize, f32)>]) -> Vec<f32> {
        let mut batch = Vec::with_capacity(rows.len() * self.base.len());
        for key in rows {
            let mut row = self.base.to_vec();
            for (p, v) in key {
                row[*p] = *v;
            }
            batch.extend(row);
        }
        batch
    }

    /// Number `j` of `name` for each stamped row.
    fn read(
        &self,
        name: &str,
        rows: &[Vec<(usize, f32)>],
        evaluations: &mut u64,
    ) -> Result<Vec<f32>, MlError> {
        let p = &self.model.probe(&self.stamped(rows), &[name])?[0];
        *evaluations += rows.len() as u64;
        let k = self.j.min(p.per_row.saturating_sub(1));
        Ok(p.values.chunks(p.per_row.max(1)).map(|r| r[k]).collect())
    }

    fn flipped(&self, rows: &[Vec<(usize, f32)>], evaluations: &mut u64) -> Result<Vec<bool>, MlError> {
        Ok(self
            .read(&self.comparison.output, rows, evaluations)?
            .into_iter()
            .map(|a| a != self.usual)
            .collect())
    }

    fn uniform(&self, evaluations: &mut u64) -> Result<Option<f32>, MlError> {
        let (lo, hi) = self.range;
        let mut candidates = self.grid_values();
        for v in self.constants {
            for m in [1.0, self.positions.len() as f32] {
                let x = v / m;
                if x >= lo && x <= hi {
                    candidates.push(x);
                }
            }
        }
        let rows: Vec<Vec<(usize, f32)>> = candidates
            .iter()
            .map(|v| self.positions.iter().map(|p| (*p, *v)).collect())
            .collect();
        let answers = self.read(&self.comparison.output, &rows, evaluations)?;
        // How far each value moves the switch: a comparison either flips or not, a steep
        // function (a Pow, a Sigmoid) moves by degrees, and only its far end throws the switch.
        let moved: Vec<f32> = answers
            .iter()
            .map(|a| {
                let d = (a - self.usual).abs();
                if d.is_nan() { 0.0 } else { d }
            })
            .collect();
        let most = moved.iter().copied().fold(0f32, f32::max);
        if most <= 0.0 {
            return Ok(None);
        }
        let mut furthest: Vec<f32> = candidates
            .iter()
            .zip(&moved)
            .filter(|(_, m)| **m >= most * (1.0 - 1e-6))
            .map(|(v, _)| *v)
            .collect();
        furthest.sort_by(f32::total_cmp);
        // The middle of the values that move it furthest: away from the threshold, so that a
        // small change of the stamped input does not undo it.
        Ok(furthest.get(furthest.len() / 2).copied())
    }

    /// An equality with a transformed input ((x − μ)/σ == k): the compared number is a
    /// monotone function of the stamped value; bisect to the constant, then try the floats
    /// around the crossing.
    fn bisect(&self, evaluations: &mut u64) -> Result<Option<f32>, MlError> {
        let (Some(name), Some(target)) = (self.operand, self.constant) else {
            return Ok(None);
        };
        let at = |v: f32, evaluations: &mut u64| -> Result<f32, MlError> {
            let row = self.positions.iter().map(|p| (*p, v)).collect();
            Ok(self.read(name, &[row], evaluations)?[0] - target)
        };
        let (mut a, mut b) = self.range;
        let fa = at(a, evaluations)?;
        if fa.signum() == at(b, evaluations)?.signum() {
            return Ok(None);
        }
        for _ in 0..48 {
            let m = 0.5 * (a + b);
            if at(m, evaluations)?.signum() == fa.signum() {
                a = m;
            } else {
                b = m;
            }
        }
        let mut near = vec![a, b];
        let (mut up, mut down) = (b, a);
        for _ in 0..8 {
            up = next_up(up);
            down = next_down(down);
            near.extend([up, down]);
        }
        let rows: Vec<Vec<(usize, f32)>> = near
            .iter()
            .map(|v| self.positions.iter().map(|p| (*p, *v)).collect())
            .collect();
        let flipped = self.flipped(&rows, evaluations)?;
        Ok(flipped.iter().position(|f| *f).map(|k| near[k]))
    }

    /// Each position its own value: the compared number is a reduction (a maximum, a
    /// minimum, a sum) of per-position numbers computed on the way (|x − k| for each corner
    /// pixel, say). The nearest such intermediate value with one number per position is
    /// found by setting each position alone; each position then takes the grid value that
    /// makes its own number smallest (or, the other candidate, largest), and the two stamped
    /// keys are tried.
    fn per_position(&self, evaluations: &mut u64) -> Result<Option<Vec<(usize, f32)>>, MlError> {
        let Some(operand) = self.operand else {
            return Ok(None);
        };
        let mut rng = Rng::derive(self.seed, &format!("{}/{}", self.comparison.label, self.j));
        let (lo, hi) = self.range;
        let start: Vec<(usize, f32)> = self
            .positions
            .iter()
            .map(|p| (*p, rng.uniform(lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo))))
            .collect();
        let mut rows = vec![start.clone()];
        for level in [lo, hi] {
            for k in 0..start.len() {
                let mut r = start.clone();
                r[k].1 = level;
                rows.push(r);
            }
        }
        let names = self.model.upstream(operand);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let probed = self.model.probe(&self.stamped(&rows), &names)?;
        *evaluations += rows.len() as u64;
        let m = start.len();
        // The element of the intermediate value each position moves, when it is one-to-one.
        let mapping = probed.iter().zip(&names).find_map(|(p, name)| {
            if !p.row_wise || p.per_row != m {
                return None;
            }
            let base = &p.values[..m];
            let mut owner = vec![None; m];
            for r in 0..2 * m {
                let row = &p.values[(r + 1) * m..(r + 2) * m];
                for (e, (a, b)) in row.iter().zip(base).enumerate() {
                    if a != b {
                        match owner[e] {
                            None => owner[e] = Some(r % m),
                            Some(k) if k == r % m => {}
                            Some(_) => return None,
                        }
                    }
                }
            }
            let owner: Option<Vec<usize>> = owner.into_iter().collect();
            let owner = owner?;
            let mut seen = owner.clone();
            seen.sort_unstable();
            seen.dedup();
            (seen.len() == m).then_some((owner, *name))
        });
        let Some((owner, name)) = mapping else {
            return Ok(None);
        };
        let grid = self.grid_values();
        let mut smallest = start.clone();
        let mut largest = start.clone();
        for (e, &k) in owner.iter().enumerate() {
            let rows: Vec<Vec<(usize, f32)>> = grid
                .iter()
                .map(|v| {
                    let mut r = start.clone();
                    r[k].1 = *v;
                    r
                })
                .collect();
            let p = &self.model.probe(&self.stamped(&rows), &[name])?[0];
            *evaluations += rows.len() as u64;
            let own: Vec<f32> = p.values.chunks(m).map(|r| r[e]).collect();
            let pick = |better: fn(f32, f32) -> bool| {
                let mut best = 0;
                for i in 1..own.len() {
                    if better(own[i], own[best]) {
                        best = i;
                    }
                }
                grid[best]
            };
            smallest[k].1 = pick(|a, b| a < b);
            largest[k].1 = pick(|a, b| a > b);
        }
        let flipped = self.flipped(&[smallest.clone(), largest.clone()], evaluations)?;
        Ok(match (flipped[0], flipped[1]) {
            (true, _) => Some(smallest),
            (_, true) => Some(largest),
            _ => None,
        })
    }
}

fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let bits = x.to_bits();
    f32::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

fn next_down(x: f32) -> f32 {
    -next_up(-x)
}

fn stamp(clean: &[f32], f: usize, key: &[(usize, f32)]) -> Vec<f32> {
    let mut out = clean.to_vec();
    for row in out.chunks_mut(f) {
        for (p, v) in key {
            row[*p] = *v;
        }
    }
    out
}

fn predict(model: &OnnxModel, x: &[f32], evaluations: &mut u64) -> Result<Vec<usize>, MlError> {
    let k = model.model_info().num_classes;
    let logits = model.plain_logits(x)?;
    *evaluations += (logits.len() / k.max(1)) as u64;
    Ok(aisec_ml::tensor::argmax_rows(&logits, k))
}

fn accuracy(pred: &[usize], labels: &[usize]) -> f64 {
    pred.iter().zip(labels).filter(|(p, y)| p == y).count() as f64 / pred.len().max(1) as f64
}

fn mode(pred: &[usize]) -> usize {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for p in pred {
        *counts.entry(*p).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(c, n)| (*n, std::cmp::Reverse(*c)))
        .map_or(0, |(c, _)| c)
}
