//! The adaptive attack on feature squeezing (Athalye, Carlini & Wagner 2018's BPDA): it knows
//! the squeezers and differentiates through them with straight-through gradients, so that
//! the squeezed copies agree with the fooled prediction and the detector stays quiet.

use aisec_attacks::evasion::{ascend, project, Norm};
use aisec_core::rng::Rng;
use aisec_ml::model::Classifier;
use aisec_ml::{tensor, MlError};
use burn::tensor::activation::softmax;

use super::{keep_lower, probabilities, FeatureSqueezing, PointsAndScores, Squeezer};

impl FeatureSqueezing {
    /// The adaptive attack: L∞ PGD towards each input's runner-up class, on the input and on
    /// every squeezed copy at once (straight-through gradients through the squeezers), so that
    /// the squeezed predictions agree with the fooled one. Knowing the detector, it keeps for
    /// each input the iterate that fools the model with the lowest detector score. Returns the
    /// adversarial inputs.
    pub fn adaptive_attack(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        y: &[usize],
        eps: f32,
        steps: usize,
        seed: u64,
    ) -> Result<Vec<f32>, MlError> {
        // Two runs that weigh the detector's score differently (5 and 20 against the
        // cross-entropy terms), then one on the squeezer's levels; each input keeps the
        // fooling point with the lowest score.
        let f = model.info().features();
        let mut best = x.to_vec();
        let mut best_score = vec![f32::INFINITY; y.len()];
        for (run, (weight, target_rank)) in [(5.0f32, 0), (20.0, 0)].into_iter().enumerate() {
            let (candidate, scores) = self.adaptive_run(
                model,
                x,
                y,
                eps,
                steps,
                seed + run as u64,
                weight,
                target_rank,
            )?;
            keep_lower(&mut best, &mut best_score, &candidate, &scores, f);
        }
        // A third run on the bit-depth squeezer's levels, whose points it leaves unchanged.
        if let Some((candidate, scores)) = self.on_levels_run(model, x, y, eps, steps, seed + 2)? {
            keep_lower(&mut best, &mut best_score, &candidate, &scores, f);
        }
        Ok(best)
    }

    /// PGD whose every iterate is snapped onto the bit-depth squeezer's levels inside the
    /// ε-ball (BPDA: the gradient is taken at the snapped point and applied to a continuous
    /// shadow). A snapped point that fools the model is a fixed point of that squeezer, so the
    /// squeezer sees no change at all. None without a bit-depth squeezer.
    fn on_levels_run(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        y: &[usize],
        eps: f32,
        steps: usize,
        seed: u64,
    ) -> Result<Option<PointsAndScores>, MlError> {
        let Some(mut snapped) = self.snap_to_levels(x, x, eps) else {
            return Ok(None);
        };
        let diff = model.gradients().ok_or(MlError::NoGradients)?;
        let f = model.info().features();
        let n = y.len();
        let mut rng = Rng::derive(seed, "adaptive-squeezing-levels");
        let mut shadow: Vec<f32> = x.iter().map(|v| v + rng.uniform(-eps, eps)).collect();
        project(&mut shadow, x, eps, Norm::Linf, Some(self.range), f);
        // Steps large enough to cross from one level to the next within a few iterations.
        let sizes = vec![eps / 8.0; n];
        let mut best = x.to_vec();
        let mut best_score = vec![f32::INFINITY; n];
        for _ in 0..steps.div_ceil(2) {
            snapped = self.snap_to_levels(&shadow, x, eps).unwrap_or(snapped);
            let scores = self.scores(model, &snapped)?;
            let predicted = model.evaluate(&snapped)?;
            for i in 0..n {
                if predicted[i] != y[i] && scores[i] < best_score[i] {
                    best_score[i] = scores[i];
                    best[i * f..(i + 1) * f].copy_from_slice(&snapped[i * f..(i + 1) * f]);
                }
            }
            if best_score.iter().all(|s| *s <= 0.0) {
                break;
            }
            model.budget().charge(n as u64)?;
            let grad = {
                let _autodiff = tensor::autodiff_guard();
                let device = tensor::autodiff_device();
                let input = tensor::matrix(&snapped, n, &device).require_grad();
                let z = diff.logits(input.clone())?;
                let loss = tensor::per_example_cross_entropy(z, tensor::labels(y, &device));
                let grads = loss.sum().backward();
                input
                    .grad(&grads)
                    .map(tensor::to_vec)
                    .unwrap_or_else(|| vec![0.0; snapped.len()])
            };
            ascend(&mut shadow, &grad, &sizes, f, Norm::Linf);
            project(&mut shadow, x, eps, Norm::Linf, Some(self.range), f);
        }
        tracing::info!(
            fooled = best_score.iter().filter(|s| s.is_finite()).count(),
            unseen = best_score.iter().filter(|s| **s <= 1e-6).count(),
            inputs = n,
            "adaptive run on the squeezer's levels"
        );
        Ok(Some((best, best_score)))
    }

    /// Each value moved to the nearest level of the first bit-depth squeezer that stays within
    /// ε of the clean value (and the input range); None without a bit-depth squeezer.
    fn snap_to_levels(&self, adv: &[f32], x: &[f32], eps: f32) -> Option<Vec<f32>> {
        let bits = self.squeezers.iter().find_map(|s| match s {
            Squeezer::BitDepth(b) => Some(*b),
            Squeezer::Median(_) => None,
        })?;
        let levels = ((1u32 << bits) - 1) as f32;
        let (lo, span) = (self.range.lo, self.range.hi - self.range.lo);
        let level = |k: f32| lo + k / levels * span;
        Some(
            adv.iter()
                .zip(x)
                .map(|(a, c)| {
                    let nearest = ((a - lo) / span * levels).round().clamp(0.0, levels);
                    // The nearest level, or the next one towards the clean value when the
                    // nearest lies outside the ε-ball.
                    [nearest, nearest - 1.0, nearest + 1.0]
                        .into_iter()
                        .filter(|k| (0.0..=levels).contains(k))
                        .map(level)
                        .filter(|v| (v - c).abs() <= eps + 1e-6)
                        .min_by(|p, q| (p - a).abs().total_cmp(&(q - a).abs()))
                        .unwrap_or(*a)
                })
                .collect(),
        )
    }

    /// One adaptive run; returns the points and, per input, the score of the kept fooling
    /// point (infinity when none fooled the model).
    #[allow(clippy::too_many_arguments)]
    fn adaptive_run(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        y: &[usize],
        eps: f32,
        steps: usize,
        seed: u64,
        weight: f32,
        target_rank: usize,
    ) -> Result<PointsAndScores, MlError> {
        let diff = model.gradients().ok_or(MlError::NoGradients)?;
        let f = model.info().features();
        let classes = model.info().num_classes;
        let n = y.len();
        let clean = probabilities(model, x)?;
        // Each input's target: its most likely wrong class.
        let targets: Vec<usize> = (0..n)
            .map(|i| {
                let row = &clean[i * classes..(i + 1) * classes];
                let mut wrong: Vec<usize> = (0..classes).filter(|c| *c != y[i]).collect();
                wrong.sort_by(|a, b| row[*b].total_cmp(&row[*a]));
                wrong
                    .get(target_rank)
                    .or(wrong.first())
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        let mut rng = Rng::derive(seed, "adaptive-squeezing");
        let mut adv: Vec<f32> = x.iter().map(|v| v + rng.uniform(-eps, eps)).collect();
        project(&mut adv, x, eps, Norm::Linf, Some(self.range), f);
        let step = 2.5 * eps / steps as f32;
        let sizes = vec![step; n];
        let mut best = x.to_vec();
        let mut best_score = vec![f32::INFINITY; n];
        for iteration in 0..steps {
            if iteration % 5 == 4 || iteration + 1 == steps {
                // The iterate, and the iterate snapped onto the bit-depth squeezer's levels
                // inside the ε-ball: a fixed point of that squeezer, so it scores nothing there.
                let snapped = self.snap_to_levels(&adv, x, eps);
                for candidate in std::iter::once(&adv).chain(snapped.as_ref()) {
                    let scores = self.scores(model, candidate)?;
                    let predicted = model.evaluate(candidate)?;
                    for i in 0..n {
                        if predicted[i] != y[i] && scores[i] < best_score[i] {
                            best_score[i] = scores[i];
                            best[i * f..(i + 1) * f]
                                .copy_from_slice(&candidate[i * f..(i + 1) * f]);
                        }
                    }
                }
            }
            // Straight-through copies: the value of each squeezed input, the gradient of the
            // identity. The loss pulls the input and every copy to the target class and pulls
            // their probabilities together (the detector's L1 score).
            let squeezed: Vec<Vec<f32>> = self
                .squeezers
                .iter()
                .map(|s| {
                    adv.chunks(f)
                        .flat_map(|row| s.apply(row, self.shape, self.range))
                        .collect()
                })
                .collect();
            model.budget().charge((n * (1 + squeezed.len())) as u64)?;
            let total = {
                let _autodiff = tensor::autodiff_guard();
                let device = tensor::autodiff_device();
                let input = tensor::matrix(&adv, n, &device).require_grad();
                let target_tensor = tensor::labels(&targets, &device);
                let z = diff.logits(input.clone())?;
                let p = softmax(z.clone(), 1);
                let mut loss = tensor::per_example_cross_entropy(z, target_tensor.clone());
                for values in &squeezed {
                    let st = input.clone()
                        + (tensor::matrix(values, n, &device) - input.clone().detach());
                    let zs = diff.logits(st)?;
                    let ps = softmax(zs.clone(), 1);
                    loss = loss
                        + tensor::per_example_cross_entropy(zs, target_tensor.clone())
                        + (p.clone() - ps)
                            .abs()
                            .sum_dim(1)
                            .reshape([n])
                            .mul_scalar(weight);
                }
                let grads = loss.sum().backward();
                // Descend the loss: the ascent helper moves along minus the gradient.
                input
                    .grad(&grads)
                    .map(|g| tensor::to_vec(g.neg()))
                    .unwrap_or_else(|| vec![0.0; adv.len()])
            };
            ascend(&mut adv, &total, &sizes, f, Norm::Linf);
            project(&mut adv, x, eps, Norm::Linf, Some(self.range), f);
        }
        Ok((best, best_score))
    }
}
