//! The all-MiniLM-L6-v2 sentence encoder (Wang et al. 2020, MiniLM; Reimers & Gurevych 2019,
//! Sentence-BERT) run in plain Rust: a 6-layer, 384-wide, 12-head BERT over WordPiece ids,
//! mean-pooled and L2-normalised, as sentence-transformers computes it. The weights are read
//! from the model directory the user gives (`model.safetensors`, `vocab.txt`; see
//! `scripts/fetch-minilm.sh`), never downloaded by the binary. Matrix products go through
//! `matrixmultiply`'s SIMD sgemm; texts of a batch are encoded on all cores.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::wordpiece::WordPiece;
use crate::error::{LlmError, Result};

pub const HIDDEN: usize = 384;
const HEADS: usize = 12;
const HEAD_DIM: usize = HIDDEN / HEADS;
const INTERMEDIATE: usize = 1536;
const LAYERS: usize = 6;
/// sentence-transformers' max_seq_length for this model.
pub const MAX_TOKENS: usize = 256;
const EPS: f32 = 1e-12;

struct Linear {
    /// [out × in], row-major, as PyTorch stores it.
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    up: Linear,
    down: Linear,
    out_norm: Norm,
}

pub struct MiniLm {
    pub tokenizer: WordPiece,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// F32 tensors by name: (shape, values).
type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// The F32 tensors of a safetensors file, by name.
fn read_safetensors(path: &Path) -> Result<Tensors> {
    let bad = |why: String| LlmError::Invalid(format!("{}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| LlmError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    if bytes.len() < 8 {
        return Err(bad("too short for a safetensors file".into()));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = bytes
        .get(8..8 + n)
        .ok_or_else(|| bad(format!("header of {n} bytes runs past the end")))?;
    let mut infos: HashMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| bad(format!("header: {e}")))?;
    infos.remove("__metadata__");
    let data = &bytes[8 + n..];
    let mut out = HashMap::new();
    for (name, v) in infos {
        let info: TensorInfo =
            serde_json::from_value(v).map_err(|e| bad(format!("tensor {name}: {e}")))?;
        if info.dtype != "F32" {
            continue;
        }
        let (a, b) = info.data_offsets;
        let raw = data
            .get(a..b)
            .ok_or_else(|| bad(format!("tensor {name}: data {a}..{b} past the end")))?;
        let count: usize = info.shape.iter().product();
        if raw.len() != count * 4 {
            return Err(bad(format!(
                "tensor {name}: {} bytes for shape {:?}",
                raw.len(),
                info.shape
            )));
        }
        let values = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        out.insert(name, (info.shape, values));
    }
    Ok(out)
}

impl MiniLm {
    /// `dir` holds `model.safetensors` and `vocab.txt` (all-MiniLM-L6-v2 as Hugging Face
    /// ships it).
    pub fn load(dir: &Path) -> Result<MiniLm> {
        let tokenizer = WordPiece::from_vocab_file(&dir.join("vocab.txt"))?;
        let path = dir.join("model.safetensors");
        let mut t = read_safetensors(&path)?;
        let mut take = |name: &str, shape: &[usize]| take_tensor(&mut t, &path, name, shape);
        let mut layers = Vec::with_capacity(LAYERS);
        for l in 0..LAYERS {
            let p = format!("encoder.layer.{l}");
            let mut linear = |name: &str, outputs: usize, inputs: usize| -> Result<Linear> {
                Ok(Linear {
                    weight: take(&format!("{p}.{name}.weight"), &[outputs, inputs])?,
                    bias: take(&format!("{p}.{name}.bias"), &[outputs])?,
                    inputs,
                    outputs,
                })
            };
            let query = linear("attention.self.query", HIDDEN, HIDDEN)?;
            let key = linear("attention.self.key", HIDDEN, HIDDEN)?;
            let value = linear("attention.self.value", HIDDEN, HIDDEN)?;
            let attn_out = linear("attention.output.dense", HIDDEN, HIDDEN)?;
            let up = linear("intermediate.dense", INTERMEDIATE, HIDDEN)?;
            let down = linear("output.dense", HIDDEN, INTERMEDIATE)?;
            let mut norm = |name: &str| -> Result<Norm> {
                Ok(Norm {
                    gamma: take(&format!("{p}.{name}.weight"), &[HIDDEN])?,
                    beta: take(&format!("{p}.{name}.bias"), &[HIDDEN])?,
                })
            };
            layers.push(Layer {
                query,
                key,
                value,
                attn_out,
                attn_norm: norm("attention.output.LayerNorm")?,
                up,
                down,
                out_norm: norm("output.LayerNorm")?,
            });
        }
        let vocab = 30522;
        Ok(MiniLm {
            word: take("embeddings.word_embeddings.weight", &[vocab, HIDDEN])?,
            position: take("embeddings.position_embeddings.weight", &[512, HIDDEN])?,
            token_type: take("embeddings.token_type_embeddings.weight", &[2, HIDDEN])?,
            emb_norm: Norm {
                gamma: take("embeddings.LayerNorm.weight", &[HIDDEN])?,
                beta: take("embeddings.LayerNorm.bias", &[HIDDEN])?,
            },
            layers,
            tokenizer,
        })
    }

    /// The sentence embedding of `text`: unit length, 384 numbers.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let ids = self.tokenizer.encode(text, MAX_TOKENS);
        self.embed_ids(&ids)
    }

    pub fn embed_ids(&self, ids: &[u32]) -> Vec<f32> {
        let t = ids.len();
        let mut h = vec![0f32; t * HIDDEN];
        for (i, &id) in ids.iter().enumerate() {
            let row = &mut h[i * HIDDEN..(i + 1) * HIDDEN];
            let w = &self.word[id as usize * HIDDEN..(id as usize + 1) * HIDDEN];
            let p = &self.position[i * HIDDEN..(i + 1) * HIDDEN];
            for k in 0..HIDDEN {
                row[k] = w[k] + p[k] + self.token_type[k];
            }
        }
        layer_norm(&mut h, &self.emb_norm);
        let mut q = vec![0f32; t * HIDDEN];
        let mut k = vec![0f32; t * HIDDEN];
        let mut v = vec![0f32; t * HIDDEN];
        let mut ctx = vec![0f32; t * HIDDEN];
        let mut scores = vec![0f32; t * t];
        let mut a = vec![0f32; t * HIDDEN];
        let mut up = vec![0f32; t * INTERMEDIATE];
        let scale = 1.0 / (HEAD_DIM as f32).sqrt();
        for layer in &self.layers {
            linear(&h, t, &layer.query, &mut q);
            linear(&h, t, &layer.key, &mut k);
            linear(&h, t, &layer.value, &mut v);
            for head in 0..HEADS {
                let off = head * HEAD_DIM;
                // scores = q_h · k_hᵀ, both read in place with strides.
                unsafe {
                    matrixmultiply::sgemm(
                        t,
                        HEAD_DIM,
                        t,
                        scale,
                        q.as_ptr().add(off),
                        HIDDEN as isize,
                        1,
                        k.as_ptr().add(off),
                        1,
                        HIDDEN as isize,
                        0.0,
                        scores.as_mut_ptr(),
                        t as isize,
                        1,
                    );
                }
                for row in scores.chunks_exact_mut(t) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for x in row.iter_mut() {
                        *x = (*x - max).exp();
                        sum += *x;
                    }
                    for x in row.iter_mut() {
                        *x /= sum;
                    }
                }
                unsafe {
                    matrixmultiply::sgemm(
                        t,
                        t,
                        HEAD_DIM,
                        1.0,
                        scores.as_ptr(),
                        t as isize,
                        1,
                        v.as_ptr().add(off),
                        HIDDEN as isize,
                        1,
                        0.0,
                        ctx.as_mut_ptr().add(off),
                        HIDDEN as isize,
                        1,
                    );
                }
            }
            linear(&ctx, t, &layer.attn_out, &mut a);
            for (x, y) in a.iter_mut().zip(&h) {
                *x += y;
            }
            layer_norm(&mut a, &layer.attn_norm);
            linear(&a, t, &layer.up, &mut up);
            for x in up.iter_mut() {
                // The exact (erf) GELU, as BERT's "gelu".
                *x = 0.5 * *x * (1.0 + libm::erff(*x / std::f32::consts::SQRT_2));
            }
            linear(&up, t, &layer.down, &mut h);
            for (x, y) in h.iter_mut().zip(&a) {
                *x += y;
            }
            layer_norm(&mut h, &layer.out_norm);
        }
        let mut pooled = vec![0f32; HIDDEN];
        for row in h.chunks_exact(HIDDEN) {
            for (p, x) in pooled.iter_mut().zip(row) {
                *p += x;
            }
        }
        let norm = pooled.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        pooled.iter_mut().for_each(|x| *x /= norm);
        pooled
    }
}

fn take_tensor(t: &mut Tensors, path: &Path, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let (s, v) = t.remove(name).ok_or_else(|| {
        LlmError::Invalid(format!(
            "{}: no tensor {name} (expected all-MiniLM-L6-v2)",
            path.display()
        ))
    })?;
    if s != shape {
        return Err(LlmError::Invalid(format!(
            "{}: {name} has shape {s:?}, expected {shape:?}",
            path.display()
        )));
    }
    Ok(v)
}

/// `out` = `x` · Wᵀ + b, for `t` rows.
fn linear(x: &[f32], t: usize, l: &Linear, out: &mut [f32]) {
    for row in out.chunks_exact_mut(l.outputs) {
        row.copy_from_slice(&l.bias);
    }
    unsafe {
        matrixmultiply::sgemm(
            t,
            l.inputs,
            l.outputs,
            1.0,
            x.as_ptr(),
            l.inputs as isize,
            1,
            l.weight.as_ptr(),
            1,
            l.inputs as isize,
            1.0,
            out.as_mut_ptr(),
            l.outputs as isize,
            1,
        );
    }
}

fn layer_norm(x: &mut [f32], n: &Norm) {
    for row in x.chunks_exact_mut(HIDDEN) {
        let mean = row.iter().sum::<f32>() / HIDDEN as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / HIDDEN as f32;
        let inv = 1.0 / (var + EPS).sqrt();
        for (k, v) in row.iter_mut().enumerate() {
            *v = (*v - mean) * inv * n.gamma[k] + n.beta[k];
        }
    }
}
