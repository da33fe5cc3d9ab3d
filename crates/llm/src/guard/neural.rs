//! The neural detector: all-MiniLM-L6-v2 sentence embeddings ([`super::minilm`]) with a
//! logistic-regression head trained by aisec on the same labelled data as the lexical guard,
//! its threshold chosen by the same rule (max F1 on the validation rows pooled). The head is
//! 385 numbers and ships with the guard (`neural.json`); the encoder's weights come from the
//! directory the user gives (`--encoder DIR`, fetched by `scripts/fetch-minilm.sh`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::data::Example;
use super::minilm::{MiniLm, HIDDEN};
use super::{eval, logreg, DataRef};
use crate::error::{LlmError, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NeuralHead {
    pub encoder: String,
    pub weights: Vec<f32>,
    pub bias: f32,
    pub threshold: f64,
    pub threshold_rule: String,
    pub c: f64,
    pub training_rows: usize,
    pub train_seconds: f64,
    pub validation_data: Vec<DataRef>,
}

/// Embeds texts on every core, in order.
pub fn embed_all(encoder: &MiniLm, texts: &[&str]) -> Vec<Vec<f32>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let chunk = texts.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = texts
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|t| encoder.embed(t)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("an embedding thread panicked"))
            .collect()
    })
}

impl NeuralHead {
    pub fn score_embedding(&self, e: &[f32]) -> f64 {
        let z: f32 = e.iter().zip(&self.weights).map(|(a, b)| a * b).sum::<f32>() + self.bias;
        logreg::sigmoid(z as f64)
    }

    pub fn load(path: &Path) -> Result<NeuralHead> {
        let text = std::fs::read_to_string(path).map_err(|e| LlmError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    pub fn from_json(text: &str, what: &str) -> Result<NeuralHead> {
        let head: NeuralHead = serde_json::from_str(text).map_err(|e| {
            LlmError::Invalid(format!(
                "{what}: {e} (expected the neural.json `llm guard train --encoder` writes)"
            ))
        })?;
        if head.weights.len() != HIDDEN {
            return Err(LlmError::Invalid(format!(
                "{what}: {} weights, expected {HIDDEN} (one per MiniLM dimension)",
                head.weights.len()
            )));
        }
        Ok(head)
    }

    /// Trains the head on embeddings of the training rows; the threshold maximises F1 over
    /// the validation rows pooled (0.5 without them).
    pub fn train(
        encoder: &MiniLm,
        encoder_name: &str,
        training: &[(String, Vec<Example>)],
        validation: &[(String, Vec<Example>)],
        c: f64,
    ) -> NeuralHead {
        let started = std::time::Instant::now();
        let texts: Vec<&str> = training
            .iter()
            .flat_map(|(_, r)| r.iter().map(|e| e.text.as_str()))
            .collect();
        let labels: Vec<u8> = training
            .iter()
            .flat_map(|(_, r)| r.iter().map(|e| e.label))
            .collect();
        let rows: Vec<Vec<(u32, f32)>> = embed_all(encoder, &texts)
            .into_iter()
            .map(|e| {
                e.into_iter()
                    .enumerate()
                    .map(|(j, v)| (j as u32, v))
                    .collect()
            })
            .collect();
        let fit = logreg::fit(&rows, &labels, HIDDEN, c, 500);
        let mut head = NeuralHead {
            encoder: encoder_name.to_string(),
            weights: fit.weights,
            bias: fit.bias,
            threshold: 0.5,
            threshold_rule: "0.5 (no validation data given)".into(),
            c,
            training_rows: texts.len(),
            train_seconds: 0.0,
            validation_data: Vec::new(),
        };
        let scored: Vec<Vec<f64>> = validation
            .iter()
            .map(|(_, rows)| {
                let t: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
                embed_all(encoder, &t)
                    .iter()
                    .map(|e| head.score_embedding(e))
                    .collect()
            })
            .collect();
        if !validation.is_empty() {
            let all: Vec<f64> = scored.iter().flatten().copied().collect();
            let all_labels: Vec<u8> = validation
                .iter()
                .flat_map(|(_, r)| r.iter().map(|e| e.label))
                .collect();
            head.threshold = eval::best_f1_threshold(&all, &all_labels);
            head.threshold_rule =
                format!("maximises F1 over the {} validation rows pooled", all.len());
        }
        head.validation_data = validation
            .iter()
            .zip(&scored)
            .map(|((p, rows), s)| {
                let labels: Vec<u8> = rows.iter().map(|r| r.label).collect();
                DataRef {
                    path: p.clone(),
                    rows: rows.len(),
                    positives: labels.iter().filter(|&&l| l == 1).count(),
                    figures: Some(eval::figures(s, &labels, head.threshold)),
                }
            })
            .collect();
        head.train_seconds = started.elapsed().as_secs_f64();
        head
    }
}
