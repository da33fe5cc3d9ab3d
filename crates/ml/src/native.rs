//! Built-in models: a trained [`Network`] with its manifest, saved as safetensors weights
//! plus `model.json`, and served through the [`Classifier`] and [`Differentiable`] traits.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, InputRange};
use crate::error::{MlError, Result};
use crate::model::{rows, Differentiable, LocalModel, ModelInfo, QueryBudget};
use crate::net::{Architecture, Network};
use crate::tensor;
use crate::train::TrainReport;

pub const MANIFEST_FILE: &str = "model.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
const FORMAT: &str = "aisec-model";

/// What `model.json` records: enough to rebuild the network and to know what it was
/// trained on, how, and how well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub architecture: Architecture,
    pub input_shape: Vec<usize>,
    pub input_range: Option<InputRange>,
    pub classes: usize,
    pub dataset: String,
    pub seed: u64,
    #[serde(default)]
    pub training: Option<TrainReport>,
    #[serde(default)]
    pub metrics: serde_json::Map<String, serde_json::Value>,
    /// How the model was hardened, when it was (e.g. PGD adversarial training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defense: Option<aisec_core::DefenseRef>,
    /// Which records it was trained on, when aisec trained it: the truth a membership
    /// experiment needs (members: the training part of the split; non-members: the part
    /// held out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_split: Option<TrainingSplit>,
}

/// A stratified split as `aisec model train` makes it, enough to rebuild it from the same
/// data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSplit {
    /// The data as the training command named it: a built-in name or a file path.
    pub source: String,
    /// Records in the data before the split.
    pub records: usize,
    pub split_seed: u64,
    /// The held-out share.
    pub test_fraction: f64,
    /// Records trained on (the members).
    pub members: usize,
    /// Records held out (never seen in training).
    pub held_out: usize,
}

impl Manifest {
    pub fn new(architecture: Architecture, data: &Dataset, seed: u64) -> Self {
        Manifest {
            format: FORMAT.to_string(),
            format_version: 1,
            architecture,
            input_shape: data.sample_shape.clone(),
            input_range: data.input_range,
            classes: data.num_classes,
            dataset: data.name.clone(),
            seed,
            training: None,
            metrics: serde_json::Map::new(),
            defense: None,
            training_split: None,
        }
    }
}

/// A built-in network under test, with its gradients.
#[derive(Debug)]
pub struct NativeModel {
    pub manifest: Manifest,
    /// Parameters on the autodiff device, tracked (for whoever trains a copy).
    network: Network,
    /// The same parameters on the autodiff device, untracked: input gradients for attacks,
    /// which may then run on several threads (see `GradientThreads`).
    attacked: Network,
    /// The same parameters without autodiff, for fast queries.
    plain: Network,
    info: ModelInfo,
    budget: QueryBudget,
}

impl NativeModel {
    /// Trains `arch` on `data` from `seed` (the architecture's default configuration) and
    /// wraps the network with its manifest.
    pub fn fit(arch: Architecture, data: &Dataset, seed: u64) -> Result<NativeModel> {
        let network = crate::train::fit(arch, data, seed)?;
        Ok(NativeModel::new(network, Manifest::new(arch, data, seed)))
    }

    pub fn new(network: Network, manifest: Manifest) -> Self {
        let plain = network.valid();
        let attacked = network.clone().no_grad();
        let info = ModelInfo {
            description: format!(
                "{} ({} on {}){}",
                manifest.architecture.name(),
                FORMAT,
                manifest.dataset,
                crate::tensor::compute().suffix()
            ),
            input_shape: manifest.input_shape.clone(),
            num_classes: manifest.classes,
            input_range: manifest.input_range,
        };
        NativeModel {
            manifest,
            network,
            attacked,
            plain,
            info,
            budget: QueryBudget::new(None),
        }
    }

    /// Sets the adversary's query budget.
    pub fn with_budget(mut self, max: Option<u64>) -> Self {
        self.budget = QueryBudget::new(max);
        self
    }

    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Writes `model.safetensors` and `model.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| MlError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let weights = dir.join(WEIGHTS_FILE);
        let mut store = SafetensorsStore::from_file(weights.clone()).overwrite(true);
        self.plain
            .save_into(&mut store)
            .map_err(|e| MlError::Format {
                path: weights.clone(),
                message: format!("cannot save weights: {e}"),
            })?;
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(&self.manifest)
            .map_err(|e| MlError::Invalid(e.to_string()))?;
        std::fs::write(&manifest_path, text + "\n").map_err(|source| MlError::Write {
            path: manifest_path.clone(),
            source,
        })?;
        // The weights are written through a private temporary file (mode 0600); give them the
        // permissions the user's umask gave the manifest, so the two files travel together.
        let permissions = std::fs::metadata(&manifest_path)
            .map_err(|source| MlError::Write {
                path: manifest_path,
                source,
            })?
            .permissions();
        std::fs::set_permissions(&weights, permissions).map_err(|source| MlError::Write {
            path: weights,
            source,
        })
    }

    /// Loads a model saved by [`NativeModel::save`]: `path` is its directory or its
    /// `model.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let dir: PathBuf = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let manifest_path = if path.is_dir() {
            dir.join(MANIFEST_FILE)
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| MlError::Io {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| MlError::Format {
            path: manifest_path.clone(),
            message: format!("not an aisec model manifest: {e}"),
        })?;
        if manifest.format != FORMAT {
            return Err(MlError::Format {
                path: manifest_path,
                message: format!("format is `{}`, expected `{FORMAT}`", manifest.format),
            });
        }
        let weights = dir.join(WEIGHTS_FILE);
        if !weights.is_file() {
            return Err(MlError::Io {
                path: weights,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the weights file is missing next to model.json",
                ),
            });
        }
        let device = tensor::autodiff_device();
        let mut network = Network::new(
            manifest.architecture,
            &manifest.input_shape,
            manifest.classes,
            &device,
        )?;
        let mut store = SafetensorsStore::from_file(weights.clone());
        network.load_from(&mut store).map_err(|e| MlError::Format {
            path: weights.clone(),
            message: format!(
                "weights do not fit a {} for shape {:?}: {}",
                manifest.architecture.name(),
                manifest.input_shape,
                mismatch_summary(&e.to_string())
            ),
        })?;
        Ok(NativeModel::new(network, manifest))
    }

    fn forward_plain(&self, x: &[f32]) -> Result<Vec<f32>> {
        let n = rows(x, self.info.features())?;
        let device = tensor::device();
        let mut out = Vec::with_capacity(n * self.info.num_classes);
        let f = self.info.features();
        for chunk in x.chunks(1024 * f) {
            out.extend(tensor::to_vec(self.plain.forward_inference(
                tensor::matrix(chunk, chunk.len() / f, &device),
            )));
        }
        Ok(out)
    }
}

impl LocalModel for NativeModel {
    fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    fn plain_logits(&self, x: &[f32]) -> Result<Vec<f32>> {
        self.forward_plain(x)
    }

    fn query_budget(&self) -> &QueryBudget {
        &self.budget
    }
}

impl Differentiable for NativeModel {
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        Ok(self.attacked.forward(x))
    }

    fn gradient_threads(&self) -> crate::model::GradientThreads {
        crate::model::GradientThreads::Concurrent
    }
}

/// One line out of burn's multi-line loading report: which tensors the architecture needs
/// and which the file holds instead (whose prefix names the architecture they came from).
fn mismatch_summary(report: &str) -> String {
    let (mut missing, mut unused, mut section) = (Vec::new(), Vec::new(), 0);
    for line in report.lines() {
        if line.contains("Missing Tensors") {
            section = 1;
        } else if line.contains("Unused Tensors") {
            section = 2;
        } else if let Some(name) = line.split("• ").nth(1) {
            match section {
                1 => missing.push(name.trim().to_string()),
                2 => unused.push(name.trim().to_string()),
                _ => {}
            }
        }
    }
    if missing.is_empty() && unused.is_empty() {
        return report.lines().next().unwrap_or(report).trim().to_string();
    }
    let from = unused
        .first()
        .and_then(|n| n.split('.').next())
        .map(|a| format!(" (the file's tensors are a {a}'s)"))
        .unwrap_or_default();
    format!(
        "it needs {} but the file holds {}{from}",
        if missing.is_empty() {
            "nothing more".to_string()
        } else {
            missing.join(", ")
        },
        if unused.is_empty() {
            "no other tensors".to_string()
        } else {
            unused.join(", ")
        }
    )
}

/// Writes a network's weights alone (safetensors) to `path`, through a temporary file renamed
/// into place: a process killed mid-write leaves no half-written file under `path`.
pub fn save_weights(network: &Network, path: &Path) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut store = SafetensorsStore::from_file(tmp.clone()).overwrite(true);
    network.save_into(&mut store).map_err(|e| MlError::Format {
        path: path.to_path_buf(),
        message: format!("cannot save weights: {e}"),
    })?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        MlError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// A network of `architecture` for `sample_shape` and `classes`, with the weights
/// [`save_weights`] wrote.
pub fn load_weights(
    architecture: Architecture,
    sample_shape: &[usize],
    classes: usize,
    path: &Path,
) -> Result<Network> {
    let device = tensor::autodiff_device();
    let mut network = Network::new(architecture, sample_shape, classes, &device)?;
    let mut store = SafetensorsStore::from_file(path.to_path_buf());
    network.load_from(&mut store).map_err(|e| MlError::Format {
        path: path.to_path_buf(),
        message: format!(
            "weights do not fit a {} for shape {sample_shape:?}: {}",
            architecture.name(),
            mismatch_summary(&e.to_string())
        ),
    })?;
    Ok(network)
}
