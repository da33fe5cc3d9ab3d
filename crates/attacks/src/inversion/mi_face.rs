//! MI-Face (Fredrikson, Jha and Ristenpart 2015, "Model Inversion Attacks that Exploit
//! Confidence Information and Basic Countermeasures"): start from a blank input and climb
//! the model's confidence in the chosen class, log p_c(x), minus a smoothness prior (the
//! squared total variation of the image, standing in for the paper's denoising step),
//! projected to the valid input range after each step. White box: the exact gradient.
//! Scores only: a zeroth-order estimate from antithetic Gaussian probes (NES-style, as in
//! black-box inversion work), each probe a counted query. ATLAS AML.T0024.001 Invert AI
//! Model (via AML.T0040 when only scores are available).

use aisec_core::rng::Rng;
use aisec_ml::data::InputRange;
use aisec_ml::model::{Classifier, OutputKind};
use aisec_ml::tensor;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::evasion::GradientOracle;
use crate::extract::Oracle;
use crate::{Access, AttackError, AttackInfo, Result};

pub const INFO: AttackInfo = AttackInfo {
    name: "inversion.mi-face",
    aliases: &["mi-face", "invert", "fredrikson"],
    summary: "MI-Face: a class representative reconstructed by climbing the model's confidence, white-box or from scores (Fredrikson et al. 2015)",
    access: Access::ScoreBased,
    atlas: super::ATLAS,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GradientSource {
    /// The model's own gradients when it offers them, else estimated from scores.
    Auto,
    WhiteBox,
    ZerothOrder,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiFaceConfig {
    pub gradients: GradientSource,
    /// Ascent steps. Default 300 white-box, 150 from scores.
    pub steps: Option<usize>,
    /// Step length as a fraction of the input range, per value on average. Default 0.02.
    pub step_size: f32,
    /// Weight of the smoothness prior (squared total variation over neighbouring values of
    /// an image). Default 0.05; 0 turns it off; ignored for non-image inputs.
    pub tv_weight: f32,
    /// Scores only: antithetic probe pairs per step (2 queries each). Default 20.
    pub probes: usize,
    /// Scores only: probe scale as a fraction of the input range. Default 0.05.
    pub probe_scale: f32,
}

impl Default for MiFaceConfig {
    fn default() -> Self {
        MiFaceConfig {
            gradients: GradientSource::Auto,
            steps: None,
            step_size: 0.02,
            tv_weight: 0.05,
            probes: 20,
            probe_scale: 0.05,
        }
    }
}

/// One reconstruction.
#[derive(Debug, Clone, Serialize)]
pub struct Inverted {
    pub class: usize,
    pub image: Vec<f32>,
    /// The model's probability of `class` for `image`.
    pub confidence: f64,
}

/// All reconstructions of a run, with what they cost.
#[derive(Debug, Clone, Serialize)]
pub struct Inversion {
    pub gradients: GradientSource,
    /// Steps asked for.
    pub steps: usize,
    /// Steps taken: fewer when a budget, a limit or a monitor stopped the run.
    pub steps_done: usize,
    /// Why the run ended before its last step.
    pub stopped: Option<String>,
    pub queries: u64,
    pub images: Vec<Inverted>,
}

/// Reconstructs a representative of each class in `classes`. `shape` is the input's shape
/// (an image is `[C, H, W]` or `[H, W]`); `range` its valid range; `budget` caps the
/// queries (scores only; gradient evaluations count against the model's own budget).
pub fn invert(
    config: &MiFaceConfig,
    target: &dyn Classifier,
    classes: &[usize],
    shape: &[usize],
    range: InputRange,
    budget: u64,
    seed: u64,
) -> Result<Inversion> {
    let bad = |message: String| AttackError::Config {
        attack: INFO.name,
        message,
    };
    let k = target.info().num_classes;
    if let Some(c) = classes.iter().find(|c| **c >= k) {
        return Err(bad(format!(
            "--class {c} does not exist: the model has {k} classes"
        )));
    }
    if !(config.step_size > 0.0 && config.step_size.is_finite()) {
        return Err(bad(format!(
            "the step size must be positive, got {}",
            config.step_size
        )));
    }
    let white = match config.gradients {
        GradientSource::WhiteBox => {
            if target.gradients().is_none() {
                return Err(AttackError::NeedsGradients { attack: INFO.name });
            }
            true
        }
        GradientSource::ZerothOrder => false,
        GradientSource::Auto => target.gradients().is_some(),
    };
    if !white && matches!(target.output_kind(), OutputKind::Label) {
        return Err(bad(
            "the target answers labels only; model inversion needs scores or gradients".into(),
        ));
    }
    let steps = config.steps.unwrap_or(if white { 300 } else { 150 });
    let f = target.info().features();
    let n = classes.len();
    let span = range.hi - range.lo;
    let mut x = vec![range.lo; n * f];
    let mut rng = Rng::derive(seed, "mi-face");
    let mut oracle = Oracle::over(target, budget);
    let grid = image_grid(shape);
    let mut steps_done = 0;
    let mut stopped = None;
    for _ in 0..steps {
        let mut grad = if white {
            let g = GradientOracle::new(target, INFO.name)?;
            let labels = tensor::labels(classes, &tensor::autodiff_device());
            let (_, grad) = g.gradient_of(&x, n, |logits| {
                log_softmax(logits, 1)
                    .gather(1, labels.unsqueeze_dim(1))
                    .squeeze_dim::<1>(1)
            })?;
            grad
        } else {
            match estimate(&mut oracle, &x, classes, f, config, span, &mut rng)? {
                Some(g) => g,
                None => {
                    let needed = 2 * config.probes.max(1) * n;
                    stopped = Some(oracle.stop_reason(budget).unwrap_or_else(|| {
                        format!(
                            "the budget of {budget} queries cannot pay for another step ({needed} queries: 2 × {} probes × {n} classes)",
                            config.probes.max(1)
                        )
                    }));
                    break;
                }
            }
        };
        if let Some((h, w)) = grid {
            if config.tv_weight > 0.0 {
                for row in 0..n {
                    subtract_tv_gradient(
                        &mut grad[row * f..(row + 1) * f],
                        &x[row * f..(row + 1) * f],
                        h,
                        w,
                        config.tv_weight,
                    );
                }
            }
        }
        steps_done += 1;
        for row in 0..n {
            let g = &grad[row * f..(row + 1) * f];
            let norm = g.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm <= 0.0 || !norm.is_finite() {
                continue;
            }
            let scale = config.step_size * span * (f as f32).sqrt() / norm;
            for (xi, gi) in x[row * f..(row + 1) * f].iter_mut().zip(g) {
                *xi = (*xi + scale * gi).clamp(range.lo, range.hi);
            }
        }
    }
    // The owner's view for the confidences: not charged to the adversary.
    let scores = target.scores(&x)?;
    let probs = match scores {
        aisec_ml::model::QueryOutput::Logits(l) => tensor::softmax_rows(&l, k),
        other => crate::extract::targets(&other, k),
    };
    let images = classes
        .iter()
        .enumerate()
        .map(|(row, &class)| Inverted {
            class,
            image: x[row * f..(row + 1) * f].to_vec(),
            confidence: f64::from(probs[row * k + class]),
        })
        .collect();
    Ok(Inversion {
        gradients: if white {
            GradientSource::WhiteBox
        } else {
            GradientSource::ZerothOrder
        },
        steps,
        steps_done,
        stopped,
        queries: oracle.used,
        images,
    })
}

/// Height and width of an image input (one channel, or the first of several, sets them).
fn image_grid(shape: &[usize]) -> Option<(usize, usize)> {
    match shape {
        [_, h, w] | [h, w] if *h > 1 && *w > 1 => Some((*h, *w)),
        _ => None,
    }
}

/// Adds −λ·∇TV(x) to `grad`, TV being the sum of squared differences between horizontal and
/// vertical neighbours in each channel.
fn subtract_tv_gradient(grad: &mut [f32], x: &[f32], h: usize, w: usize, lambda: f32) {
    let plane = h * w;
    for c in 0..x.len() / plane {
        let o = c * plane;
        for i in 0..h {
            for j in 0..w {
                let p = o + i * w + j;
                let mut g = 0.0;
                if j + 1 < w {
                    g += 2.0 * (x[p] - x[p + 1]);
                }
                if j > 0 {
                    g += 2.0 * (x[p] - x[p - 1]);
                }
                if i + 1 < h {
                    g += 2.0 * (x[p] - x[p + w]);
                }
                if i > 0 {
                    g += 2.0 * (x[p] - x[p - w]);
                }
                grad[p] -= lambda * g;
            }
        }
    }
}

/// Antithetic Gaussian estimate of ∇ log p_c for every row, from 2·probes queries per row;
/// `None` when the budget cannot pay for a step.
fn estimate(
    oracle: &mut Oracle,
    x: &[f32],
    classes: &[usize],
    f: usize,
    config: &MiFaceConfig,
    span: f32,
    rng: &mut Rng,
) -> Result<Option<Vec<f32>>> {
    let n = classes.len();
    let p = config.probes.max(1);
    let sigma = config.probe_scale * span;
    let needed = (2 * p * n) as u64;
    if oracle.remaining() < needed {
        return Ok(None);
    }
    let mut directions = Vec::with_capacity(n * p * f);
    let mut probes = Vec::with_capacity(2 * n * p * f);
    for row in 0..n {
        for _ in 0..p {
            let u: Vec<f32> = (0..f).map(|_| rng.normal()).collect();
            for sign in [1.0f32, -1.0] {
                probes.extend(
                    x[row * f..(row + 1) * f]
                        .iter()
                        .zip(&u)
                        .map(|(a, b)| a + sign * sigma * b),
                );
            }
            directions.extend(u);
        }
    }
    let answers = oracle.ask(&probes)?;
    if answers.rows < 2 * n * p {
        return Ok(None);
    }
    let k = answers.targets.len() / answers.rows;
    let log_p = |r: usize, class: usize| f64::from(answers.targets[r * k + class]).max(1e-30).ln();
    let mut grad = vec![0.0f32; n * f];
    for (row, &class) in classes.iter().enumerate() {
        for q in 0..p {
            let r = 2 * (row * p + q);
            let diff = ((log_p(r, class) - log_p(r + 1, class)) / (2.0 * f64::from(sigma))) as f32;
            let u = &directions[(row * p + q) * f..(row * p + q + 1) * f];
            for (g, ui) in grad[row * f..(row + 1) * f].iter_mut().zip(u) {
                *g += diff * ui / p as f32;
            }
        }
    }
    Ok(Some(grad))
}
