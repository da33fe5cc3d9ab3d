//! The adversary's own models: trained with the target's recipe on data the adversary
//! chooses, in parallel on the CPU's cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aisec_core::rng::Rng;
use aisec_ml::data::Dataset;
use aisec_ml::net::{Architecture, Network};
use aisec_ml::tensor;
use aisec_ml::train::{self, TrainConfig};
use serde::Serialize;

use aisec_ml::model::QueryOutput;

use super::logit_confidence;
use crate::extract::targets;
use crate::Result;

/// How the target was trained, as the adversary assumes it (LiRA's and RMIA's threat model:
/// the training algorithm is known, the data is not).
#[derive(Clone, Serialize)]
pub struct Recipe {
    pub architecture: Architecture,
    pub train: TrainConfig,
    /// Records per shadow model: the target's training-set size.
    pub train_size: usize,
    /// A training algorithm other than plain Adam (DP-SGD, when the target was trained with
    /// it): the adversary trains its shadows the same way.
    #[serde(skip)]
    pub trainer: Option<Arc<dyn Trainer>>,
    /// How the target's API shapes a model's probabilities into its answer (top-k, rounding,
    /// a reverse sigmoid), when it is not the plain probabilities. The adversary reads its
    /// shadow models through the same view, so that both sides of every comparison are
    /// answers of the same kind (the adaptive adversary of output hardening).
    #[serde(skip)]
    pub answers: Option<AnswerView>,
}

/// An API's answer to a batch of probability rows `[n, classes]`.
pub type AnswerView = Arc<dyn Fn(QueryOutput, usize) -> QueryOutput + Send + Sync>;

impl std::fmt::Debug for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipe")
            .field("architecture", &self.architecture)
            .field("train", &self.train)
            .field("train_size", &self.train_size)
            .field("trainer", &self.trainer.as_ref().map(|t| t.name()))
            .field(
                "answers",
                &self.answers.as_ref().map(|_| "the target API's view"),
            )
            .finish()
    }
}

/// A training algorithm the adversary can run for its shadow models.
pub trait Trainer: Send + Sync {
    fn name(&self) -> &'static str;
    /// A fresh network of `architecture` trained on `data` from `seed`.
    fn train(&self, architecture: Architecture, data: &Dataset, seed: u64) -> Result<Network>;
}

impl Recipe {
    /// Plain training (burn, Adam) with `train`'s settings on `train_size` records.
    pub fn plain(architecture: Architecture, train: TrainConfig, train_size: usize) -> Recipe {
        Recipe {
            architecture,
            train,
            train_size,
            trainer: None,
            answers: None,
        }
    }

    /// The recipe's model for `data`.
    pub fn fit(&self, data: &Dataset, seed: u64) -> Result<Network> {
        if let Some(t) = &self.trainer {
            return t.train(self.architecture, data, seed);
        }
        let net = train::init_network(self.architecture, data, seed)?;
        let config = TrainConfig {
            seed,
            ..self.train.clone()
        };
        Ok(train::train(net, data, &config, None, |_| {}).0)
    }
}

/// Models trained on chosen subsets of one dataset, with who was inside each.
pub struct ShadowSet {
    pub networks: Vec<Network>,
    /// `inside[m][i]`: record `i` of the dataset was in model `m`'s training set.
    pub inside: Vec<Vec<bool>>,
}

impl ShadowSet {
    /// Trains one model per subset of `data` (indices), `threads` at a time.
    pub fn train(
        recipe: &Recipe,
        data: &Dataset,
        subsets: Vec<Vec<usize>>,
        seed: u64,
        progress: Option<&(dyn Fn(usize, usize) + Sync)>,
    ) -> Result<ShadowSet> {
        let total = subsets.len();
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<Network>>>> =
            Mutex::new((0..total).map(|_| None).collect());
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(total.max(1));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let m = next.fetch_add(1, Ordering::SeqCst);
                    if m >= total {
                        break;
                    }
                    let model_seed = seed.wrapping_mul(1_000_003).wrapping_add(m as u64 + 1);
                    let subset = data.subset(&subsets[m]);
                    let network = recipe.fit(&subset, model_seed);
                    results.lock().unwrap_or_else(|p| p.into_inner())[m] = Some(network);
                    let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
                    if let Some(report) = progress {
                        report(finished, total);
                    }
                });
            }
        });
        let mut networks = Vec::with_capacity(total);
        for r in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
            networks.push(r.expect("every shadow was trained")?);
        }
        let inside = subsets
            .iter()
            .map(|s| {
                let mut v = vec![false; data.len()];
                for &i in s {
                    v[i] = true;
                }
                v
            })
            .collect();
        Ok(ShadowSet { networks, inside })
    }
}

impl ShadowSet {
    /// The models' mean accuracy on records they did not train on: the records of `data`
    /// outside each model's subset when `data` is the dataset the subsets index
    /// (`indexed`), every record of `data` otherwise. None when no model has such a record.
    pub fn held_out_accuracy(&self, data: &Dataset, indexed: bool) -> Option<f64> {
        let mut per_model = Vec::new();
        for (m, network) in self.networks.iter().enumerate() {
            let predicted = tensor::argmax_rows(&probabilities(network, data), data.num_classes);
            let (mut right, mut counted) = (0usize, 0usize);
            for (i, p) in predicted.into_iter().enumerate() {
                if indexed && self.inside[m][i] {
                    continue;
                }
                right += usize::from(p == data.y[i]);
                counted += 1;
            }
            if counted > 0 {
                per_model.push(right as f64 / counted as f64);
            }
        }
        (!per_model.is_empty()).then(|| per_model.iter().sum::<f64>() / per_model.len() as f64)
    }
}

/// `a`'s records, then `b`'s (the online attacks' pool: candidates first, so candidate `i`
/// is pool record `i`).
pub(crate) fn concat(a: &Dataset, b: &Dataset) -> Dataset {
    let mut out = a.clone();
    out.x.extend_from_slice(&b.x);
    out.y.extend_from_slice(&b.y);
    out
}

/// `models` subsets of `0..n`, each of `size` records, drawn so that every record is inside
/// exactly half of them when `size` is n / 2 and `models` is even (Carlini et al.'s paired
/// halves: a subset and its complement).
pub fn paired_subsets(n: usize, size: usize, models: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = Rng::derive(seed, "shadow-subsets");
    let mut out = Vec::with_capacity(models);
    while out.len() < models {
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        let size = size.min(n);
        out.push(order[..size].to_vec());
        if out.len() < models && 2 * size <= n {
            out.push(order[size..2 * size].to_vec());
        }
    }
    out
}

/// A network's probability rows for `data`.
pub fn probabilities(network: &Network, data: &Dataset) -> Vec<f32> {
    let logits = train::logits(network, &data.x, data.features());
    tensor::softmax_rows(&logits, data.num_classes)
}

impl Recipe {
    /// A shadow network's answers for `data` as probability rows, read as the target's API
    /// answers (a top-k answer gives the classes it names and spreads the rest evenly, as the
    /// target's answers are read).
    pub fn answers(&self, network: &Network, data: &Dataset) -> Vec<f32> {
        let probs = probabilities(network, data);
        match &self.answers {
            None => probs,
            Some(view) => {
                let out = view(QueryOutput::Probabilities(probs), data.num_classes);
                targets(&out, data.num_classes)
            }
        }
    }

    /// A shadow network's φ (logit-scaled confidence in the true label) for each record of
    /// `data`, from its answers as the target's API would give them.
    pub fn confidences(&self, network: &Network, data: &Dataset) -> Vec<f64> {
        self.answers(network, data)
            .chunks(data.num_classes)
            .zip(&data.y)
            .map(|(row, &y)| logit_confidence(row, y))
            .collect()
    }
}
