//! Training the built-in architectures with Adam on mini-batches, optionally on perturbed
//! batches (adversarial training passes a perturbation that runs an attack on each batch).

use std::time::Instant;

use aisec_core::rng::Rng;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::net::{Architecture, Network};
use crate::tensor::{self, autodiff_device};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// L2 penalty on the weights (Adam's weight decay); 0, the default, is none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight_decay: f64,
    /// Gaussian noise of this standard deviation added to every training input, fresh each
    /// time it is seen (Cohen et al. 2019's training for randomized smoothing: the base
    /// model learns to classify noisy copies); 0, the default, is none.
    #[serde(default, skip_serializing_if = "is_zero_f32")]
    pub noise_sigma: f32,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_f32(v: &f32) -> bool {
    *v == 0.0
}

impl TrainConfig {
    /// Defaults that reach the documented accuracies on the built-in datasets.
    pub fn for_architecture(arch: Architecture, seed: u64) -> Self {
        let (epochs, learning_rate) = match arch {
            Architecture::Logreg => (60, 1e-2),
            Architecture::Mlp => (40, 2e-3),
            Architecture::Cnn => (30, 2e-3),
        };
        TrainConfig {
            epochs,
            batch_size: 64,
            learning_rate,
            seed,
            weight_decay: 0.0,
            noise_sigma: 0.0,
        }
    }

    /// Adam with this configuration's weight decay.
    fn optimizer(&self) -> AdamConfig {
        let decay = (self.weight_decay > 0.0)
            .then(|| burn::optim::decay::WeightDecayConfig::new(self.weight_decay as f32));
        AdamConfig::new().with_weight_decay(decay)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f64,
    pub train_accuracy: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub config: TrainConfig,
    pub history: Vec<EpochStats>,
    pub wall_seconds: f64,
}

/// Replaces a clean batch by the batch to train on (adversarial examples, say). Receives
/// the current network, the batch inputs `[n, features]` and labels, all on the autodiff
/// device.
pub type Perturbation<'a> = dyn FnMut(&Network, Tensor<2>, Tensor<1, Int>) -> Tensor<2> + 'a;

/// Burn's generator is process-wide: seeding and drawing the initial weights must not
/// interleave with another thread's, or the same seed gives different models.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Initialises a network for `data` from `seed`.
pub fn init_network(arch: Architecture, data: &Dataset, seed: u64) -> crate::Result<Network> {
    let _guard = INIT_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let device = autodiff_device();
    device.seed(seed);
    let network = Network::new(arch, &data.sample_shape, data.num_classes, &device)?;
    // Parameters are initialised lazily, on first use: use them all while the lock is held.
    let _ = network.forward(Tensor::<2>::zeros([1, data.features()], &device));
    Ok(network)
}

/// Trains `network` on `data`. `on_epoch` sees each epoch's statistics (for progress).
pub fn train(
    mut network: Network,
    data: &Dataset,
    config: &TrainConfig,
    mut perturbation: Option<&mut Perturbation<'_>>,
    mut on_epoch: impl FnMut(&EpochStats),
) -> (Network, TrainReport) {
    let started = Instant::now();
    let device = autodiff_device();
    let mut optimizer = config.optimizer().init();
    let mut rng = Rng::derive(config.seed, "train-batches");
    let mut noise = Rng::derive(config.seed, "train-noise");
    let features = data.features();
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut history = Vec::new();
    for epoch in 0..config.epochs {
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0;
        let mut correct = 0usize;
        for batch in order.chunks(config.batch_size.max(1)) {
            let mut xs = Vec::with_capacity(batch.len() * features);
            let mut ys = Vec::with_capacity(batch.len());
            for &i in batch {
                xs.extend_from_slice(data.sample(i));
                ys.push(data.y[i]);
            }
            if config.noise_sigma > 0.0 {
                for v in &mut xs {
                    *v += config.noise_sigma * noise.normal();
                }
            }
            let x = tensor::matrix(&xs, batch.len(), &device);
            let y = tensor::labels(&ys, &device);
            let x = match perturbation.as_mut() {
                Some(perturb) => perturb(&network, x, y.clone()).detach(),
                None => x,
            };
            // No process-wide autodiff lock here: this thread owns `network`, so its graph
            // shares no node with another thread's and trainings of different models run in
            // parallel (shadow models, the demo's lanes). The lock guards gradient passes
            // through models that several threads use (attacks, the perturbation above).
            let logits = network.forward(x);
            let predicted =
                tensor::to_labels(logits.clone().detach().argmax(1).squeeze_dim::<1>(1));
            correct += predicted.iter().zip(&ys).filter(|(p, t)| p == t).count();
            let loss = tensor::cross_entropy(logits, y);
            loss_sum += tensor::to_vec(loss.clone().detach())[0] as f64 * batch.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &network);
            network = optimizer.step(config.learning_rate, network, grads);
        }
        let stats = EpochStats {
            epoch: epoch + 1,
            loss: loss_sum / data.len() as f64,
            train_accuracy: correct as f64 / data.len() as f64,
        };
        tracing::debug!(
            epoch = stats.epoch,
            loss = stats.loss,
            accuracy = stats.train_accuracy,
            "epoch done"
        );
        on_epoch(&stats);
        history.push(stats);
    }
    let report = TrainReport {
        config: config.clone(),
        history,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    (network, report)
}

/// A fresh network of `arch` trained on `data` with the architecture's default settings.
pub fn fit(arch: Architecture, data: &Dataset, seed: u64) -> crate::Result<Network> {
    let network = init_network(arch, data, seed)?;
    let config = TrainConfig::for_architecture(arch, seed);
    Ok(train(network, data, &config, None, |_| {}).0)
}

/// Predicted labels of `network` for every example of `data`, in batches, without gradients.
pub fn predict(network: &Network, data: &Dataset) -> Vec<usize> {
    let plain = network.valid();
    let device = tensor::device();
    let mut out = Vec::with_capacity(data.len());
    let features = data.features();
    for chunk in data.x.chunks(512 * features) {
        let rows = chunk.len() / features;
        let logits = plain.forward_inference(tensor::matrix(chunk, rows, &device));
        out.extend(tensor::to_labels(logits.argmax(1).squeeze_dim::<1>(1)));
    }
    out
}

/// Penultimate-layer activations of `network` for flattened inputs `x`, row-major, with
/// their width.
pub fn activations(network: &Network, x: &[f32], features: usize) -> (Vec<f32>, usize) {
    let plain = network.valid();
    let device = tensor::device();
    let mut out = Vec::new();
    let mut width = 0;
    for chunk in x.chunks(512 * features.max(1)) {
        let rows = chunk.len() / features;
        let h = plain.penultimate(tensor::matrix(chunk, rows, &device));
        width = h.dims()[1];
        out.extend(tensor::to_vec(h));
    }
    (out, width)
}

pub fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    predicted.iter().zip(labels).filter(|(p, t)| p == t).count() as f64 / labels.len() as f64
}

/// Trains `network` to reproduce `targets`, a probability row of `classes` values for each
/// input of `x`: cross-entropy against soft targets, which is plain cross-entropy when the
/// targets are one-hot. Substitute models of an extraction learn from a victim's answers this
/// way, whatever the answers reveal (probabilities, a top-k, a label).
pub fn train_soft(
    mut network: Network,
    x: &[f32],
    targets: &[f32],
    classes: usize,
    config: &TrainConfig,
) -> Network {
    let n = targets.len() / classes.max(1);
    if n == 0 {
        return network;
    }
    let features = x.len() / n;
    let device = autodiff_device();
    let mut optimizer = config.optimizer().init();
    let mut rng = Rng::derive(config.seed, "train-soft-batches");
    let mut order: Vec<usize> = (0..n).collect();
    for _ in 0..config.epochs {
        rng.shuffle(&mut order);
        for batch in order.chunks(config.batch_size.max(1)) {
            let mut xs = Vec::with_capacity(batch.len() * features);
            let mut ts = Vec::with_capacity(batch.len() * classes);
            for &i in batch {
                xs.extend_from_slice(&x[i * features..(i + 1) * features]);
                ts.extend_from_slice(&targets[i * classes..(i + 1) * classes]);
            }
            let xb = tensor::matrix(&xs, batch.len(), &device);
            let tb = tensor::matrix(&ts, batch.len(), &device);
            // This thread owns `network`: see `train`.
            let log_probs = burn::tensor::activation::log_softmax(network.forward(xb), 1);
            let loss = (log_probs * tb).sum_dim(1).neg().mean();
            let grads = GradientsParams::from_grads(loss.backward(), &network);
            network = optimizer.step(config.learning_rate, network, grads);
        }
    }
    network
}

/// Logits of `network` for flattened inputs `x`, row-major, without gradients.
pub fn logits(network: &Network, x: &[f32], features: usize) -> Vec<f32> {
    let plain = network.valid();
    let device = tensor::device();
    let mut out = Vec::with_capacity(x.len() / features.max(1));
    for chunk in x.chunks(512 * features.max(1)) {
        let rows = chunk.len() / features;
        out.extend(tensor::to_vec(
            plain.forward_inference(tensor::matrix(chunk, rows, &device)),
        ));
    }
    out
}

/// The gradient of logit `classes[i]` with respect to input `i`, for every row of `x`
/// (Jacobian rows, as Papernot et al.'s dataset augmentation needs them).
pub fn logit_gradients(
    network: &Network,
    x: &[f32],
    features: usize,
    classes: &[usize],
) -> Vec<f32> {
    let device = autodiff_device();
    let mut out = Vec::with_capacity(x.len());
    for (chunk, picked) in x.chunks(256 * features.max(1)).zip(classes.chunks(256)) {
        let rows = chunk.len() / features;
        let _autodiff = tensor::autodiff_guard();
        let input = tensor::matrix(chunk, rows, &device).require_grad();
        let selected = network
            .forward(input.clone())
            .gather(1, tensor::labels(picked, &device).unsqueeze_dim(1))
            .sum();
        let grads = selected.backward();
        let g = input
            .grad(&grads)
            .map(tensor::to_vec)
            .unwrap_or_else(|| vec![0.0; chunk.len()]);
        out.extend(g);
    }
    out
}
