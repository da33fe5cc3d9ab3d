//! Models under test: datasets, the built-in architectures and their training, model files,
//! and the two kinds of access an attacker can have (queries, gradients).
//!
//! Tensors are burn 0.22 on the pure-Rust `flex` CPU backend, with `autodiff` for gradients
//! with respect to the input.

pub mod data;
mod error;
pub mod kserve;
pub mod model;
pub mod native;
pub mod net;
pub mod onnx;
pub mod preprocess;
pub mod tensor;
pub mod train;
pub mod weights;

pub use error::{MlError, Result};
