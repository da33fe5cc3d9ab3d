//! The LLM guard (ATLAS AML.M0020 Generative AI Guardrails): detectors that score a prompt —
//! or a document, e-mail or tool result the application passes along — as an injection or
//! jailbreak, and output checks for what a reply must not carry. Trained and evaluated by
//! aisec on labelled data; the default guard, trained on the S-Labs and neuralchemy training
//! splits, ships inside the binary.
//!
//! A guard directory holds `guard.json` (settings, threshold and how it was chosen, training
//! and validation figures) and `lexical.bin` ([`lexical`]).

pub mod adaptive;
pub mod chat_corpus;
pub mod data;
pub mod eval;
pub mod features;
pub mod heuristics;
pub mod lexical;
pub mod logreg;
pub mod minilm;
pub mod neural;
pub mod output;
pub mod proxy;
pub mod reply_fields;
pub mod report;
pub mod task_corpus;
pub mod wordpiece;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{LlmError, Result};
use heuristics::Finding;
use lexical::{Lexical, LexicalConfig, TrainStats};

/// Window length for long texts, in characters.
pub const WINDOW_CHARS: usize = 400;
/// Lines shorter than this are not scored on their own: a heading or a list bullet says too
/// little to judge.
const MIN_LINE_CHARS: usize = 24;
/// Texts of more lines than this (a pasted log, a long file) are scored in windows only, so
/// that a check stays bounded.
const MAX_LINES_SCORED: usize = 256;

const DEFAULT_META: &str = include_str!("../../guard/default/guard.json");
const DEFAULT_LEXICAL: &[u8] = include_bytes!("../../guard/default/lexical.bin");
const DEFAULT_NEURAL: &str = include_str!("../../guard/default/neural.json");

/// A labelled file the guard was trained or validated on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataRef {
    /// As given; a file name only for the shipped guard.
    pub path: String,
    pub rows: usize,
    pub positives: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<eval::Figures>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardMeta {
    pub kind: String,
    pub format: u32,
    pub aisec_version: String,
    /// A text is flagged when its score is at least this.
    pub threshold: f64,
    pub threshold_rule: String,
    pub lexical: LexicalConfig,
    pub train_stats: TrainStats,
    pub training_data: Vec<DataRef>,
    pub validation_data: Vec<DataRef>,
    /// Bytes of `lexical.bin`.
    pub model_bytes: usize,
}

pub struct Guard {
    pub meta: GuardMeta,
    pub lexical: Lexical,
    /// The neural detector's head (`neural.json`), when the guard was trained with an encoder.
    pub neural: Option<neural::NeuralHead>,
    /// Where it was loaded from; None for the shipped guard.
    pub source: Option<PathBuf>,
}

/// A guard's verdict on one text.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub flagged: bool,
    /// The highest score any detector gave (1.0 for conclusive heuristics).
    pub score: f64,
    pub threshold: f64,
    /// The detector behind the score: `lexical`, `lexical(encoded-base64)`, `hidden-unicode` …
    pub detector: String,
    /// Why: the n-grams that weighed most, the decoded payload, the hidden text.
    pub evidence: String,
    pub findings: Vec<Finding>,
    pub micros: f64,
}

impl Guard {
    /// The guard that ships in the binary.
    pub fn shipped() -> Result<Guard> {
        let meta: GuardMeta = serde_json::from_str(DEFAULT_META)
            .map_err(|e| LlmError::Invalid(format!("the shipped guard.json: {e}")))?;
        let lexical = Lexical::from_bytes(DEFAULT_LEXICAL, "the shipped lexical.bin")?;
        let neural = if DEFAULT_NEURAL.trim().is_empty() {
            None
        } else {
            Some(neural::NeuralHead::from_json(
                DEFAULT_NEURAL,
                "the shipped neural.json",
            )?)
        };
        Ok(Guard {
            meta,
            lexical,
            neural,
            source: None,
        })
    }

    /// `dir` as written by [`Guard::save`], or the shipped guard when None.
    pub fn load(dir: Option<&Path>) -> Result<Guard> {
        let Some(dir) = dir else {
            return Guard::shipped();
        };
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|e| LlmError::Io {
                path: p.display().to_string(),
                source: e,
            })
        };
        let meta_path = dir.join("guard.json");
        let meta: GuardMeta = serde_json::from_slice(&read("guard.json")?).map_err(|e| {
            LlmError::Invalid(format!(
                "{}: {e} (expected the guard.json `aisec llm guard train` writes)",
                meta_path.display()
            ))
        })?;
        if meta.kind != "aisec-llm-guard" {
            return Err(LlmError::Invalid(format!(
                "{}: kind {:?}, expected \"aisec-llm-guard\"",
                meta_path.display(),
                meta.kind
            )));
        }
        let lexical = Lexical::from_bytes(
            &read("lexical.bin")?,
            &dir.join("lexical.bin").display().to_string(),
        )?;
        let head = dir.join("neural.json");
        let neural = if head.is_file() {
            Some(neural::NeuralHead::load(&head)?)
        } else {
            None
        };
        Ok(Guard {
            meta,
            lexical,
            neural,
            source: Some(dir.to_path_buf()),
        })
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let io = |p: &Path, e| LlmError::Io {
            path: p.display().to_string(),
            source: e,
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let bin = dir.join("lexical.bin");
        std::fs::write(&bin, self.lexical.to_bytes()).map_err(|e| io(&bin, e))?;
        let meta = dir.join("guard.json");
        let text = serde_json::to_string_pretty(&self.meta).expect("plain data") + "\n";
        std::fs::write(&meta, text).map_err(|e| io(&meta, e))?;
        if let Some(head) = &self.neural {
            let p = dir.join("neural.json");
            let text = serde_json::to_string_pretty(head).expect("plain data") + "\n";
            std::fs::write(&p, text).map_err(|e| io(&p, e))?;
        }
        Ok(())
    }

    pub fn describe(&self) -> String {
        match &self.source {
            Some(p) => p.display().to_string(),
            None => "the shipped guard".into(),
        }
    }

    /// Scores one text: the lexical model on the text itself and on whatever the heuristics
    /// decoded from it; hidden instructions are flagged by themselves.
    pub fn check(&self, text: &str) -> Check {
        let started = Instant::now();
        let mut findings = heuristics::hidden_text(text);
        findings.extend(heuristics::decoded_payloads(text));
        let mut score = self.lexical.score(text);
        let mut detector = "lexical".to_string();
        let mut evidence = String::new();
        for f in &findings {
            if f.conclusive {
                if score < 1.0 {
                    score = 1.0;
                    detector = f.detector.to_string();
                    evidence = f.evidence.clone();
                }
                continue;
            }
            if f.detector.starts_with("encoded-") {
                let s = self.lexical.score(&f.evidence);
                if s > score {
                    score = s;
                    detector = format!("lexical({})", f.detector);
                    evidence = format!("decoded: {}", crate::transport::snippet(&f.evidence));
                }
            }
        }
        let flagged = score >= self.meta.threshold;
        if detector == "lexical" && flagged {
            evidence = format!(
                "weighed most: {}",
                self.lexical.top_terms(text, 4).join(", ")
            );
        }
        Check {
            flagged,
            score,
            threshold: self.meta.threshold,
            detector,
            evidence,
            findings,
            micros: started.elapsed().as_secs_f64() * 1e6,
        }
    }

    /// [`Guard::check`] on the whole text, on each of its lines when it has several, and, for
    /// a long one (a document, an e-mail, a retrieved chunk), on overlapping windows of it too:
    /// an instruction planted in ordinary text is diluted in the whole ("Please summarise the
    /// following e-mail …" reads as an ordinary task) but stands out in its own line or window.
    pub fn check_long(&self, text: &str) -> Check {
        let started = Instant::now();
        let mut best = self.check(text);
        // A part (a line, a window) that scores higher than the whole becomes the verdict,
        // saying where it was and quoting it when its detector gave no evidence of its own.
        let mut consider = |part: &str, place: String| {
            let c = self.check(part);
            if c.score > best.score {
                best = Check {
                    detector: format!("{} ({place})", c.detector),
                    evidence: if c.evidence.is_empty() {
                        crate::transport::snippet(part)
                    } else {
                        c.evidence.clone()
                    },
                    ..c
                };
            }
        };
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.chars().count() >= MIN_LINE_CHARS)
            .collect();
        // Past a few hundred lines the windows below cover the text at a bounded cost.
        if lines.len() > 1 && lines.len() <= MAX_LINES_SCORED {
            for line in lines {
                consider(line, "one line".into());
            }
        }
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        if chars.len() > WINDOW_CHARS * 3 / 2 {
            let step = WINDOW_CHARS / 2;
            let mut start = 0;
            while start < chars.len() {
                let end = (start + WINDOW_CHARS).min(chars.len());
                let from = chars[start].0;
                let to = chars.get(end).map_or(text.len(), |c| c.0);
                consider(&text[from..to], format!("window at character {start}"));
                if end == chars.len() {
                    break;
                }
                start += step;
            }
        }
        best.micros = started.elapsed().as_secs_f64() * 1e6;
        best
    }

    /// Trains a guard. The threshold maximises F1 over the validation rows pooled, or is 0.5
    /// when there are none.
    pub fn train(
        training: &[(String, Vec<data::Example>)],
        validation: &[(String, Vec<data::Example>)],
        config: &LexicalConfig,
    ) -> Result<Guard> {
        let texts: Vec<&str> = training
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|r| r.text.as_str()))
            .collect();
        let labels: Vec<u8> = training
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|r| r.label))
            .collect();
        let positives = labels.iter().filter(|&&l| l == 1).count();
        if positives == 0 || positives == labels.len() {
            return Err(LlmError::Invalid(format!(
                "--data: training needs both classes; the {} rows have {positives} labelled 1",
                labels.len()
            )));
        }
        let (lexical, stats) = Lexical::train(&texts, &labels, config);
        let refs = |sets: &[(String, Vec<data::Example>)]| -> Vec<DataRef> {
            sets.iter()
                .map(|(p, rows)| DataRef {
                    path: p.clone(),
                    rows: rows.len(),
                    positives: rows.iter().filter(|r| r.label == 1).count(),
                    figures: None,
                })
                .collect()
        };
        let model_bytes = lexical.to_bytes().len();
        let mut guard = Guard {
            meta: GuardMeta {
                kind: "aisec-llm-guard".into(),
                format: 1,
                aisec_version: env!("CARGO_PKG_VERSION").into(),
                threshold: 0.5,
                threshold_rule: "0.5 (no validation data given)".into(),
                lexical: config.clone(),
                train_stats: stats,
                training_data: refs(training),
                validation_data: refs(validation),
                model_bytes,
            },
            lexical,
            neural: None,
            source: None,
        };
        if !validation.is_empty() {
            let scored: Vec<Vec<f64>> = validation
                .iter()
                .map(|(_, rows)| rows.iter().map(|r| guard.check(&r.text).score).collect())
                .collect();
            let all_scores: Vec<f64> = scored.iter().flatten().copied().collect();
            let all_labels: Vec<u8> = validation
                .iter()
                .flat_map(|(_, rows)| rows.iter().map(|r| r.label))
                .collect();
            guard.meta.threshold = eval::best_f1_threshold(&all_scores, &all_labels);
            guard.meta.threshold_rule = format!(
                "maximises F1 over the {} validation rows pooled",
                all_scores.len()
            );
            for ((r, (_, rows)), scores) in guard
                .meta
                .validation_data
                .iter_mut()
                .zip(validation)
                .zip(&scored)
            {
                let labels: Vec<u8> = rows.iter().map(|r| r.label).collect();
                r.figures = Some(eval::figures(scores, &labels, guard.meta.threshold));
            }
        }
        Ok(guard)
    }
}
