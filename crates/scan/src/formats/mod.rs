//! Per-format rules for the model formats that are not pickles (or hide one).

pub mod catboost;
pub mod gguf;
pub mod jinja;
pub mod keras;
pub mod npy;
pub mod onnx;
pub mod onnx_trojan;
pub mod protobuf;
pub mod safetensors;
pub mod tensorflow;
pub mod tensorflow_text;
pub mod tfrecord;
pub mod torchscript;
pub mod ubjson;
pub mod xml;
