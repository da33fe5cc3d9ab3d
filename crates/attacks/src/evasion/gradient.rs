//! Shared machinery of the gradient attacks: the loss gradient with respect to the input,
//! steps and projections for the L∞ and L2 threat models.

use aisec_core::rng::Rng;
use aisec_ml::data::InputRange;
use aisec_ml::model::{Classifier, Differentiable};
use aisec_ml::tensor;
use serde::{Deserialize, Serialize};

use crate::{AttackError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Norm {
    #[serde(rename = "inf")]
    Linf,
    #[serde(rename = "2")]
    L2,
}

impl Norm {
    pub fn parse(s: &str) -> Option<Norm> {
        match s.trim().to_ascii_lowercase().as_str() {
            "inf" | "linf" | "l-inf" | "infinity" => Some(Norm::Linf),
            "2" | "l2" => Some(Norm::L2),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Norm::Linf => "L∞",
            Norm::L2 => "L2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Untargeted,
    Targeted(usize),
}

/// Loss gradients of a white-box model, each evaluation charged to the model's budget.
pub struct GradientOracle<'a> {
    model: &'a dyn Classifier,
    diff: &'a dyn Differentiable,
    pub features: usize,
    pub classes: usize,
}

impl<'a> GradientOracle<'a> {
    pub fn new(model: &'a dyn Classifier, attack: &'static str) -> Result<Self> {
        let diff = model
            .gradients()
            .ok_or(AttackError::NeedsGradients { attack })?;
        Ok(GradientOracle {
            model,
            diff,
            features: model.info().features(),
            classes: model.info().num_classes,
        })
    }

    /// Whether this model's gradient passes may run on several threads at once.
    pub fn concurrent(&self) -> bool {
        self.diff.gradient_threads() == aisec_ml::model::GradientThreads::Concurrent
    }

    /// Per example: the objective the adversary maximises (cross-entropy of the true label,
    /// or minus that of the target), its gradient with respect to the input, and the logits.
    pub fn objective_and_gradient(
        &self,
        x: &[f32],
        labels: &[usize],
        direction: Direction,
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        let n = labels.len();
        self.model.budget().charge(n as u64)?;
        let _autodiff = aisec_ml::model::autodiff_guard_for(self.diff);
        let device = tensor::autodiff_device();
        let input = tensor::matrix(x, n, &device).require_grad();
        let logits = self.diff.logits(input.clone())?;
        let (targets, sign) = match direction {
            Direction::Untargeted => (labels.to_vec(), 1.0),
            Direction::Targeted(t) => (vec![t; n], -1.0),
        };
        let ce =
            tensor::per_example_cross_entropy(logits.clone(), tensor::labels(&targets, &device));
        let objective = ce.clone().mul_scalar(sign);
        let grads = objective.clone().sum().backward();
        let gradient = input
            .grad(&grads)
            .map(tensor::to_vec)
            .unwrap_or_else(|| vec![0.0; x.len()]);
        Ok((
            tensor::to_vec(objective.detach()),
            gradient,
            tensor::to_vec(logits.detach()),
        ))
    }

    /// Logits and, for each class in `classes`, the gradient of that class's logit with respect
    /// to the input (`[n, features]` each). One forward-backward pass per class, each charged.
    pub fn logit_gradients(
        &self,
        x: &[f32],
        n: usize,
        classes: &[usize],
    ) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
        let device = tensor::autodiff_device();
        let mut logits = Vec::new();
        let mut grads = Vec::with_capacity(classes.len());
        for (k, &class) in classes.iter().enumerate() {
            self.model.budget().charge(n as u64)?;
            let _autodiff = aisec_ml::model::autodiff_guard_for(self.diff);
            let input = tensor::matrix(x, n, &device).require_grad();
            let out = self.diff.logits(input.clone())?;
            if k == 0 {
                logits = tensor::to_vec(out.clone().detach());
            }
            let picked = out.narrow(1, class, 1).sum();
            let g = picked.backward();
            grads.push(
                input
                    .grad(&g)
                    .map(tensor::to_vec)
                    .unwrap_or_else(|| vec![0.0; x.len()]),
            );
        }
        Ok((logits, grads))
    }

    /// The logits at `x` and the gradient with respect to `x` of the sum of `f(logits)`.
    /// Charged once per example.
    pub fn gradient_of(
        &self,
        x: &[f32],
        n: usize,
        f: impl FnOnce(burn::prelude::Tensor<2>) -> burn::prelude::Tensor<1>,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        self.model.budget().charge(n as u64)?;
        let _autodiff = aisec_ml::model::autodiff_guard_for(self.diff);
        let device = tensor::autodiff_device();
        let input = tensor::matrix(x, n, &device).require_grad();
        let logits = self.diff.logits(input.clone())?;
        let values = tensor::to_vec(logits.clone().detach());
        let g = f(logits).sum().backward();
        Ok((
            values,
            input
                .grad(&g)
                .map(tensor::to_vec)
                .unwrap_or_else(|| vec![0.0; x.len()]),
        ))
    }

    pub fn labels_of(&self, logits: &[f32]) -> Vec<usize> {
        tensor::argmax_rows(logits, self.classes)
    }
}

/// Whether the prediction counts as a success for the adversary.
pub(crate) fn fooled(predicted: usize, label: usize, direction: Direction) -> bool {
    match direction {
        Direction::Untargeted => predicted != label,
        Direction::Targeted(t) => predicted == t,
    }
}

/// Moves each row of `x` by `size[i]` along the steepest-ascent direction of `grad` for the
/// norm: the sign for L∞, the normalised gradient for L2.
pub fn ascend(x: &mut [f32], grad: &[f32], size: &[f32], features: usize, norm: Norm) {
    for (i, (row, g)) in x
        .chunks_mut(features)
        .zip(grad.chunks(features))
        .enumerate()
    {
        match norm {
            Norm::Linf => {
                for (v, gv) in row.iter_mut().zip(g) {
                    *v += size[i] * sign(*gv);
                }
            }
            Norm::L2 => {
                let len = g.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                for (v, gv) in row.iter_mut().zip(g) {
                    *v += size[i] * gv / len;
                }
            }
        }
    }
}

fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Projects each row of `adv` onto the `eps`-ball around `orig`, then into the valid range.
pub fn project(
    adv: &mut [f32],
    orig: &[f32],
    eps: f32,
    norm: Norm,
    clip: Option<InputRange>,
    features: usize,
) {
    for (row, o) in adv.chunks_mut(features).zip(orig.chunks(features)) {
        match norm {
            Norm::Linf => {
                for (v, ov) in row.iter_mut().zip(o) {
                    *v = v.clamp(ov - eps, ov + eps);
                }
            }
            Norm::L2 => {
                let len = row
                    .iter()
                    .zip(o)
                    .map(|(v, ov)| (v - ov) * (v - ov))
                    .sum::<f32>()
                    .sqrt();
                if len > eps {
                    let scale = eps / len;
                    for (v, ov) in row.iter_mut().zip(o) {
                        *v = ov + (*v - ov) * scale;
                    }
                }
            }
        }
        if let Some(r) = clip {
            for v in row.iter_mut() {
                *v = v.clamp(r.lo, r.hi);
            }
        }
    }
}

/// A uniformly random point of the `eps`-ball around each row (for L2, uniform in volume).
pub(crate) fn random_start(
    orig: &[f32],
    eps: f32,
    norm: Norm,
    clip: Option<InputRange>,
    features: usize,
    rng: &mut Rng,
) -> Vec<f32> {
    let mut out = orig.to_vec();
    for row in out.chunks_mut(features) {
        match norm {
            Norm::Linf => {
                for v in row.iter_mut() {
                    *v += rng.uniform(-eps, eps);
                }
            }
            Norm::L2 => {
                let dir: Vec<f32> = (0..features).map(|_| rng.normal()).collect();
                let len = dir.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                let radius = eps * rng.next_f32().powf(1.0 / features as f32);
                for (v, d) in row.iter_mut().zip(dir) {
                    *v += radius * d / len;
                }
            }
        }
    }
    project(&mut out, orig, eps, norm, clip, features);
    out
}

/// Runs `f` over the examples in batches of `batch`, concatenating the adversarial rows in
/// order. `f` receives the batch's inputs, labels and offset; an attack derives its random
/// stream from the offset, so the batches (and the result) do not depend on how many threads
/// run them. With `parallel`, up to [`aisec_ml::model::worker_threads`] batches run at once;
/// the first error (a spent query budget, say) stops the workers taking new batches.
pub(crate) fn in_batches(
    x: &[f32],
    y: &[usize],
    features: usize,
    batch: usize,
    parallel: bool,
    f: impl Fn(&[f32], &[usize], usize) -> Result<Vec<f32>> + Sync,
) -> Result<Vec<f32>> {
    let batch = batch.max(1);
    let starts: Vec<usize> = (0..y.len()).step_by(batch).collect();
    let run = |start: usize| {
        let end = (start + batch).min(y.len());
        f(&x[start * features..end * features], &y[start..end], start)
    };
    let workers = if parallel {
        aisec_ml::model::worker_threads().min(starts.len())
    } else {
        1
    };
    if workers <= 1 {
        let mut out = Vec::with_capacity(x.len());
        for &start in &starts {
            out.extend(run(start)?);
        }
        return Ok(out);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<std::sync::Mutex<Option<Result<Vec<f32>>>>> =
        starts.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                use std::sync::atomic::Ordering::SeqCst;
                let i = next.fetch_add(1, SeqCst);
                if i >= starts.len() || failed.load(SeqCst) {
                    break;
                }
                let result = run(starts[i]);
                if result.is_err() {
                    failed.store(true, SeqCst);
                }
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            });
        }
    });
    let mut out = Vec::with_capacity(x.len());
    // Batches are taken in order, so any left untaken after a failure come after it.
    for slot in results {
        if let Some(part) = slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            out.extend(part?);
        }
    }
    if out.len() != x.len() {
        return Err(crate::AttackError::Config {
            attack: "batches",
            message: "a batch was left unfinished without an error".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_the_ball_and_the_range() {
        let orig = vec![0.5, 0.5, 0.9, 0.1];
        let mut adv = vec![0.9, 0.0, 1.5, -0.5];
        project(
            &mut adv,
            &orig,
            0.2,
            Norm::Linf,
            Some(InputRange { lo: 0.0, hi: 1.0 }),
            2,
        );
        assert_eq!(adv, vec![0.7, 0.3, 1.0, 0.0]);
        let mut adv = vec![3.5, 4.5];
        project(&mut adv, &[0.5, 0.5], 1.0, Norm::L2, None, 2);
        let len = ((adv[0] - 0.5).powi(2) + (adv[1] - 0.5).powi(2)).sqrt();
        assert!((len - 1.0).abs() < 1e-5);
        assert!((adv[0] - 0.5 - 0.6).abs() < 1e-5 && (adv[1] - 0.5 - 0.8).abs() < 1e-5);
    }

    #[test]
    fn ascent_steps() {
        let mut x = vec![0.0, 0.0, 0.0];
        ascend(&mut x, &[2.0, -0.5, 0.0], &[0.1], 3, Norm::Linf);
        assert_eq!(x, vec![0.1, -0.1, 0.0]);
        let mut x = vec![0.0, 0.0];
        ascend(&mut x, &[3.0, 4.0], &[1.0], 2, Norm::L2);
        assert!((x[0] - 0.6).abs() < 1e-6 && (x[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn random_starts_stay_inside() {
        let mut rng = Rng::new(3);
        let orig = vec![0.5; 64];
        for norm in [Norm::Linf, Norm::L2] {
            let s = random_start(
                &orig,
                0.3,
                norm,
                Some(InputRange { lo: 0.0, hi: 1.0 }),
                64,
                &mut rng,
            );
            let linf = s.iter().map(|v| (v - 0.5).abs()).fold(0.0, f32::max);
            let l2 = s.iter().map(|v| (v - 0.5).powi(2)).sum::<f32>().sqrt();
            match norm {
                Norm::Linf => assert!(linf <= 0.3 + 1e-6 && linf > 0.2),
                Norm::L2 => assert!(l2 <= 0.3 + 1e-5 && l2 > 0.1),
            }
        }
    }
}
