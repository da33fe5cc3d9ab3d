//! Built-in architectures: softmax regression, a two-hidden-layer MLP and a small CNN.
//! Every network takes flattened inputs `[n, features]` and returns logits `[n, classes]`,
//! so that attacks see one interface whatever the architecture.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{MlError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    Logreg,
    Mlp,
    Cnn,
}

impl Architecture {
    pub const ALL: [Architecture; 3] = [Architecture::Logreg, Architecture::Mlp, Architecture::Cnn];

    pub fn name(self) -> &'static str {
        match self {
            Architecture::Logreg => "logreg",
            Architecture::Mlp => "mlp",
            Architecture::Cnn => "cnn",
        }
    }

    pub fn parse(s: &str) -> Option<Architecture> {
        Architecture::ALL
            .into_iter()
            .find(|a| a.name() == s.trim().to_ascii_lowercase())
    }
}

#[derive(Module, Debug)]
pub struct LogReg {
    linear: Linear,
}

#[derive(Module, Debug)]
pub struct Mlp {
    hidden1: Linear,
    hidden2: Linear,
    output: Linear,
    activation: Relu,
}

/// conv3×3(32) → ReLU → max-pool 2 → conv3×3(64) → ReLU → max-pool 2 → dense 128 → ReLU → dense.
#[derive(Module, Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    hidden: Linear,
    output: Linear,
    activation: Relu,
    #[module(skip)]
    image: [usize; 3],
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pooling {
    Module,
    Reshaped,
}

impl Cnn {
    /// The 2×2, stride-2 max-pool. `Reshaped` takes the same maxima as two reductions over a
    /// reshaped view: on burn's CPU backend `MaxPool2d`'s kernel was half of a black-box
    /// attack's time (Square on the digits CNN: 23 s → 15 s), but its backward pass is slower
    /// than `MaxPool2d`'s, so gradients keep the module. Odd sizes, which pooling floors, go
    /// to the module.
    fn pool_2x2(&self, x: Tensor<4>, pooling: Pooling) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        if pooling == Pooling::Module || h % 2 != 0 || w % 2 != 0 {
            return self.pool.forward(x);
        }
        x.reshape([n, c, h / 2, 2, w / 2, 2])
            .max_dim(5)
            .max_dim(3)
            .reshape([n, c, h / 2, w / 2])
    }
}

// The variants differ in size, but a process holds a handful of networks at most: boxing
// them would only add indirection to every forward pass.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network {
    LogReg(LogReg),
    Mlp(Mlp),
    Cnn(Cnn),
}

impl Network {
    /// A freshly initialised network for inputs of `sample_shape`. Initialisation draws
    /// from the device's generator, which the caller seeds.
    pub fn new(
        arch: Architecture,
        sample_shape: &[usize],
        classes: usize,
        device: &Device,
    ) -> Result<Self> {
        let features: usize = sample_shape.iter().product();
        Ok(match arch {
            Architecture::Logreg => Network::LogReg(LogReg {
                linear: LinearConfig::new(features, classes).init(device),
            }),
            Architecture::Mlp => Network::Mlp(Mlp {
                hidden1: LinearConfig::new(features, Self::MLP_HIDDEN[0]).init(device),
                hidden2: LinearConfig::new(Self::MLP_HIDDEN[0], Self::MLP_HIDDEN[1]).init(device),
                output: LinearConfig::new(Self::MLP_HIDDEN[1], classes).init(device),
                activation: Relu::new(),
            }),
            Architecture::Cnn => {
                let image = match sample_shape {
                    [c, h, w] => [*c, *h, *w],
                    [h, w] => [1, *h, *w],
                    other => {
                        return Err(MlError::Invalid(format!(
                            "the cnn architecture needs image inputs (C×H×W or H×W), the data has shape {other:?}; use mlp or logreg"
                        )))
                    }
                };
                if image[1] < 4 || image[2] < 4 {
                    return Err(MlError::Invalid(format!(
                        "the cnn architecture needs images of at least 4×4, found {}×{}",
                        image[1], image[2]
                    )));
                }
                let pad = PaddingConfig2d::Explicit(1, 1, 1, 1);
                let flat = 64 * (image[1] / 4) * (image[2] / 4);
                Network::Cnn(Cnn {
                    conv1: Conv2dConfig::new([image[0], 32], [3, 3])
                        .with_padding(pad.clone())
                        .init(device),
                    conv2: Conv2dConfig::new([32, 64], [3, 3])
                        .with_padding(pad)
                        .init(device),
                    pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
                    hidden: LinearConfig::new(flat, 128).init(device),
                    output: LinearConfig::new(128, classes).init(device),
                    activation: Relu::new(),
                    image,
                })
            }
        })
    }

    /// A softmax regression with the given parameters: `weight` is `[features, classes]`
    /// row-major, `bias` has one value per class. Equation-solving extraction builds its
    /// recovered model this way.
    pub fn logreg_with(weight: &[f32], bias: &[f32], device: &Device) -> Result<Self> {
        Network::dense_with(
            Architecture::Logreg,
            &[(weight.to_vec(), bias.to_vec())],
            device,
        )
    }

    /// Hidden widths of the built-in MLP, first to last.
    pub const MLP_HIDDEN: [usize; 2] = [128, 64];

    /// A network of `arch` from dense layers, each `(weight [in, out] row-major, bias [out])`:
    /// one layer for logreg, three for mlp (hidden widths [`Network::MLP_HIDDEN`]). Trainers
    /// outside burn (DP-SGD's per-example clipping) hand their parameters back this way.
    pub fn dense_with(
        arch: Architecture,
        layers: &[(Vec<f32>, Vec<f32>)],
        device: &Device,
    ) -> Result<Self> {
        let linear = |(weight, bias): &(Vec<f32>, Vec<f32>)| -> Result<Linear> {
            let out = bias.len();
            if out == 0 || weight.len() % out != 0 {
                return Err(MlError::Invalid(format!(
                    "{} weights do not make an [inputs, {out}] matrix",
                    weight.len()
                )));
            }
            let inputs = weight.len() / out;
            let mut l = LinearConfig::new(inputs, out).init(device);
            l.weight = burn::module::Param::from_tensor(Tensor::<2>::from_data(
                TensorData::new(weight.clone(), [inputs, out]),
                device,
            ));
            l.bias = Some(burn::module::Param::from_tensor(Tensor::<1>::from_data(
                TensorData::new(bias.clone(), [out]),
                device,
            )));
            Ok(l)
        };
        match (arch, layers) {
            (Architecture::Logreg, [only]) => Ok(Network::LogReg(LogReg {
                linear: linear(only)?,
            })),
            (Architecture::Mlp, [a, b, c]) => Ok(Network::Mlp(Mlp {
                hidden1: linear(a)?,
                hidden2: linear(b)?,
                output: linear(c)?,
                activation: Relu::new(),
            })),
            (arch, layers) => Err(MlError::Invalid(format!(
                "{} dense layers do not make a {} network (logreg takes 1, mlp 3; cnn is not dense)",
                layers.len(),
                arch.name()
            ))),
        }
    }

    pub fn architecture(&self) -> Architecture {
        match self {
            Network::LogReg(_) => Architecture::Logreg,
            Network::Mlp(_) => Architecture::Mlp,
            Network::Cnn(_) => Architecture::Cnn,
        }
    }

    /// Logits for flattened inputs.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output_layer(self.penultimate(x))
    }

    /// Logits for flattened inputs, for a network without gradients (`valid()`): the same
    /// numbers as [`Network::forward`] by a path that is faster forward and slower backward.
    pub fn forward_inference(&self, x: Tensor<2>) -> Tensor<2> {
        self.output_layer(self.penultimate_with(x, Pooling::Reshaped))
    }

    fn output_layer(&self, h: Tensor<2>) -> Tensor<2> {
        match self {
            Network::LogReg(m) => m.linear.forward(h),
            Network::Mlp(m) => m.output.forward(h),
            Network::Cnn(m) => m.output.forward(h),
        }
    }

    /// The representation the output layer reads: the inputs themselves for logistic
    /// regression, the last hidden layer's activations otherwise. Data-poisoning defences
    /// (spectral signatures, activation clustering) look for poisons here.
    pub fn penultimate(&self, x: Tensor<2>) -> Tensor<2> {
        self.penultimate_with(x, Pooling::Module)
    }

    fn penultimate_with(&self, x: Tensor<2>, pooling: Pooling) -> Tensor<2> {
        match self {
            Network::LogReg(_) => x,
            Network::Mlp(m) => {
                let h = m.activation.forward(m.hidden1.forward(x));
                m.activation.forward(m.hidden2.forward(h))
            }
            Network::Cnn(m) => {
                let [n, _] = x.dims();
                let [c, h, w] = m.image;
                let x = x.reshape([n, c, h, w]);
                let x = m.pool_2x2(m.activation.forward(m.conv1.forward(x)), pooling);
                let x = m.pool_2x2(m.activation.forward(m.conv2.forward(x)), pooling);
                let x = x.flatten::<2>(1, 3);
                m.activation.forward(m.hidden.forward(x))
            }
        }
    }
}
