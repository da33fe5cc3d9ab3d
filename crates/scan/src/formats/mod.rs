//! Per-format rules for the model formats that are not pickles (or hide one).

pub mod gguf;
pub mod keras;
pub mod npy;
pub mod onnx;
pub mod safetensors;
pub mod ubjson;
pub mod xml;
