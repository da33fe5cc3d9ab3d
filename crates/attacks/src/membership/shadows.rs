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
    /// Where trained models are kept and looked up (`--shadow-dir`), and which share of them
    /// this process trains (`--shard`). None: every model is trained here and dropped.
    #[serde(skip)]
    pub store: Option<Arc<ShadowStore>>,
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
            .field("store", &self.store.as_ref().map(|s| s.dir.clone()))
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
            store: None,
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
        // Stored models are keyed by everything their weights depend on; a trainer other
        // than plain Adam (DP-SGD) is not, since its settings are not in the key.
        let store = recipe.store.as_ref().filter(|_| recipe.trainer.is_none());
        let keys: Vec<String> = match store {
            Some(_) => (0..total)
                .map(|m| shadow_key(recipe, data, &subsets[m], model_seed(seed, m)))
                .collect(),
            None => Vec::new(),
        };
        if let Some(store) = store {
            store.note_job(&keys);
            if let Some((index, count)) = store.shard {
                let mine: Vec<usize> = (0..total).filter(|m| m % count == index - 1).collect();
                let trained =
                    store.train_missing(recipe, data, &subsets, seed, &keys, &mine, progress)?;
                return Err(crate::AttackError::ShadowShardDone {
                    trained,
                    kept: mine.len(),
                    total,
                });
            }
        }
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
                    let network = match store {
                        Some(store) => store.load_or_train(
                            recipe,
                            data,
                            &subsets[m],
                            model_seed(seed, m),
                            &keys[m],
                        ),
                        None => recipe.fit(&data.subset(&subsets[m]), model_seed(seed, m)),
                    };
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

/// Model `m`'s seed in a set trained from `seed`.
fn model_seed(seed: u64, m: usize) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(m as u64 + 1)
}

/// SHA-256 of everything a shadow model's weights depend on: the recipe (architecture,
/// training settings), the records it trains on, in order, and its seed.
fn shadow_key(recipe: &Recipe, data: &Dataset, subset: &[usize], seed: u64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"aisec-shadow/1\0");
    h.update(recipe.architecture.name().as_bytes());
    h.update(serde_json::to_vec(&recipe.train).unwrap_or_default());
    h.update((recipe.train_size as u64).to_le_bytes());
    h.update(seed.to_le_bytes());
    h.update((data.num_classes as u64).to_le_bytes());
    for d in &data.sample_shape {
        h.update((*d as u64).to_le_bytes());
    }
    for &i in subset {
        for v in data.sample(i) {
            h.update(v.to_le_bytes());
        }
        h.update((data.y[i] as u64).to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A folder of trained shadow models shared by the processes of one job: a shard trains its
/// share into it, the final run loads them all (and trains, then keeps, any not there).
#[derive(Debug)]
pub struct ShadowStore {
    pub dir: std::path::PathBuf,
    /// `(I, N)`: train only models `m` with `m mod N = I − 1`, then stop the attack.
    pub shard: Option<(usize, usize)>,
    loaded: AtomicUsize,
    trained: AtomicUsize,
    /// The keys of every model of the first set asked for (the job's identity).
    job: Mutex<Option<Vec<String>>>,
}

impl ShadowStore {
    pub fn new(dir: std::path::PathBuf, shard: Option<(usize, usize)>) -> Self {
        ShadowStore {
            dir,
            shard,
            loaded: AtomicUsize::new(0),
            trained: AtomicUsize::new(0),
            job: Mutex::new(None),
        }
    }

    /// Models read from the folder, and trained here, so far.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.loaded.load(Ordering::SeqCst),
            self.trained.load(Ordering::SeqCst),
        )
    }

    /// The keys of the first set of models asked for.
    pub fn job_keys(&self) -> Vec<String> {
        self.job
            .lock()
            .map(|j| j.clone().unwrap_or_default())
            .unwrap_or_default()
    }

    pub fn path_of(&self, key: &str) -> std::path::PathBuf {
        self.dir.join(format!("shadow-{key}.safetensors"))
    }

    /// The SHA-256 of a kept model's file, as written when it was kept.
    pub fn kept_digest(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.digest_path(key))
            .ok()
            .map(|d| d.trim().to_string())
    }

    fn digest_path(&self, key: &str) -> std::path::PathBuf {
        self.dir.join(format!("shadow-{key}.sha256"))
    }

    fn note_job(&self, keys: &[String]) {
        if let Ok(mut job) = self.job.lock() {
            job.get_or_insert_with(|| keys.to_vec());
        }
    }

    fn load(&self, recipe: &Recipe, data: &Dataset, key: &str) -> Option<Network> {
        let path = self.path_of(key);
        if !path.is_file() {
            return None;
        }
        // The weights must be the bytes that were kept: the key names what they were trained
        // from, not what is in the file now.
        let actual = file_digest(&path);
        if actual.is_none() || actual != self.kept_digest(key) {
            tracing::warn!(
                "{}: not the model that was kept (its SHA-256 differs from {}, or either is unreadable): trained again",
                path.display(),
                self.digest_path(key).display()
            );
            return None;
        }
        match aisec_ml::native::load_weights(
            recipe.architecture,
            &data.sample_shape,
            data.num_classes,
            &path,
        ) {
            Ok(n) => {
                self.loaded.fetch_add(1, Ordering::SeqCst);
                Some(n)
            }
            Err(e) => {
                tracing::warn!("{}: unreadable, trained again: {e}", path.display());
                None
            }
        }
    }

    fn train_and_keep(
        &self,
        recipe: &Recipe,
        data: &Dataset,
        subset: &[usize],
        seed: u64,
        key: &str,
    ) -> Result<Network> {
        let network = recipe.fit(&data.subset(subset), seed)?;
        std::fs::create_dir_all(&self.dir).map_err(|source| aisec_ml::MlError::Write {
            path: self.dir.clone(),
            source,
        })?;
        let path = self.path_of(key);
        aisec_ml::native::save_weights(&network, &path)?;
        let digest = file_digest(&path).unwrap_or_default();
        let sidecar = self.digest_path(key);
        let tmp = sidecar.with_extension(format!("sha256.{}.tmp", std::process::id()));
        std::fs::write(&tmp, digest + "\n")
            .and_then(|_| std::fs::rename(&tmp, &sidecar))
            .map_err(|source| aisec_ml::MlError::Write {
                path: sidecar.clone(),
                source,
            })?;
        self.trained.fetch_add(1, Ordering::SeqCst);
        Ok(network)
    }

    fn load_or_train(
        &self,
        recipe: &Recipe,
        data: &Dataset,
        subset: &[usize],
        seed: u64,
        key: &str,
    ) -> Result<Network> {
        match self.load(recipe, data, key) {
            Some(n) => Ok(n),
            None => self.train_and_keep(recipe, data, subset, seed, key),
        }
    }

    /// Trains and keeps the models of `which` not already in the folder, on every core;
    /// returns how many it trained.
    #[allow(clippy::too_many_arguments)]
    fn train_missing(
        &self,
        recipe: &Recipe,
        data: &Dataset,
        subsets: &[Vec<usize>],
        seed: u64,
        keys: &[String],
        which: &[usize],
        progress: Option<&(dyn Fn(usize, usize) + Sync)>,
    ) -> Result<usize> {
        // A model kept by an earlier try is kept again only if its file is the one kept.
        let todo: Vec<usize> = which
            .iter()
            .copied()
            .filter(|&m| {
                let path = self.path_of(&keys[m]);
                !path.is_file() || file_digest(&path) != self.kept_digest(&keys[m])
            })
            .collect();
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let failed: Mutex<Option<crate::AttackError>> = Mutex::new(None);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(todo.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= todo.len() {
                        break;
                    }
                    let m = todo[k];
                    if let Err(e) = self.train_and_keep(
                        recipe,
                        data,
                        &subsets[m],
                        model_seed(seed, m),
                        &keys[m],
                    ) {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                        break;
                    }
                    let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
                    if let Some(report) = progress {
                        report(finished, todo.len());
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        Ok(todo.len())
    }
}

/// SHA-256 of a file's bytes, in hex.
pub fn file_digest(path: &std::path::Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).ok()?;
    Some(
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}
