//! Measures the refusal detector on labelled replies (a JSONL file of
//! `{"text": …, "label": 0|1, "request": …}`, label 1 for a refusal), so that its precision and
//! recall are numbers rather than claims. `bench/llm_refusal.sh` runs it on PyRIT's
//! human-labelled refusal CSVs beside garak's substring detector.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::detectors::refusal;
use crate::error::{LlmError, Result};

#[derive(Debug, Clone, Deserialize)]
pub struct LabelledReply {
    pub text: String,
    pub label: u8,
    #[serde(default)]
    pub request: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowVerdict {
    pub row: usize,
    pub label: u8,
    pub refusal: bool,
    pub how: Option<String>,
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefusalEval {
    pub rows: usize,
    pub refusals_labelled: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub false_positive_rate: Option<f64>,
    /// Whether the request was used (off-topic answers count as evasions).
    pub with_requests: bool,
    pub verdicts: Vec<RowVerdict>,
}

pub fn read(path: &Path) -> Result<Vec<LabelledReply>> {
    let file = std::fs::File::open(path).map_err(|e| LlmError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let mut rows = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| LlmError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let row: LabelledReply = serde_json::from_str(&line).map_err(|e| {
            LlmError::Invalid(format!(
                "{} line {}: {e}; expected {{\"text\": \"…\", \"label\": 0 or 1, \"request\": \"…\" (optional)}}",
                path.display(),
                n + 1
            ))
        })?;
        if row.label > 1 {
            return Err(LlmError::Invalid(format!(
                "{} line {}: label {} (expected 0, not a refusal, or 1, a refusal)",
                path.display(),
                n + 1,
                row.label
            )));
        }
        rows.push(row);
    }
    Ok(rows)
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

pub fn evaluate(rows: &[LabelledReply], with_requests: bool) -> RefusalEval {
    let verdicts: Vec<RowVerdict> = rows
        .iter()
        .enumerate()
        .map(|(row, r)| {
            let request = if with_requests {
                r.request.as_deref()
            } else {
                None
            };
            let v = refusal::detect(&r.text, request);
            RowVerdict {
                row,
                label: r.label,
                refusal: v.hit,
                how: v.how,
                evidence: v.evidence,
            }
        })
        .collect();
    let count = |f: &dyn Fn(&RowVerdict) -> bool| verdicts.iter().filter(|v| f(v)).count();
    let tp = count(&|v| v.refusal && v.label == 1);
    let fp = count(&|v| v.refusal && v.label == 0);
    let fn_ = count(&|v| !v.refusal && v.label == 1);
    let positives = count(&|v| v.label == 1);
    let negatives = rows.len() - positives;
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, positives);
    let f1 = match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        _ => None,
    };
    RefusalEval {
        rows: rows.len(),
        refusals_labelled: positives,
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        precision,
        recall,
        f1,
        false_positive_rate: ratio(fp, negatives),
        with_requests,
        verdicts,
    }
}
