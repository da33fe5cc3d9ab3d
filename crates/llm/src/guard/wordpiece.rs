//! BERT's uncased WordPiece tokenizer (Wu et al. 2016; Devlin et al. 2019), as the
//! all-MiniLM-L6-v2 encoder expects its input: clean the text (drop control and format
//! characters, whitespace to spaces), space out CJK ideographs, lowercase and strip accents
//! (NFD, combining marks removed), split on whitespace and on every punctuation character,
//! then match each word greedily against the vocabulary, longest prefix first, continuations
//! marked `##`. `[CLS]` and `[SEP]` frame the ids; words over 100 characters become `[UNK]`.
//! Checked token for token against Hugging Face `tokenizers` on the labelled prompt sets
//! (`bench/minilm_reference.py`).

use std::collections::HashMap;
use std::path::Path;

use unicode_general_category::{get_general_category, GeneralCategory as G};
use unicode_normalization::UnicodeNormalization;

use crate::error::{LlmError, Result};

const MAX_WORD_CHARS: usize = 100;

pub struct WordPiece {
    vocab: HashMap<String, u32>,
    pub cls: u32,
    pub sep: u32,
    pub unk: u32,
    pub pad: u32,
}

fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    matches!(
        get_general_category(c),
        G::Control | G::Format | G::Unassigned | G::PrivateUse | G::Surrogate
    )
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r') || get_general_category(c) == G::SpaceSeparator
}

fn is_punctuation(c: char) -> bool {
    let u = c as u32;
    (33..=47).contains(&u)
        || (58..=64).contains(&u)
        || (91..=96).contains(&u)
        || (123..=126).contains(&u)
        || matches!(
            get_general_category(c),
            G::ConnectorPunctuation
                | G::DashPunctuation
                | G::OpenPunctuation
                | G::ClosePunctuation
                | G::InitialPunctuation
                | G::FinalPunctuation
                | G::OtherPunctuation
        )
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// The normalised words of a text, before WordPiece.
pub fn basic_tokens(text: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{FFFD}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_cjk(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    // Lowercase, then strip accents: NFD and drop the combining marks.
    let lowered: String = cleaned
        .to_lowercase()
        .nfd()
        .filter(|&c| get_general_category(c) != G::NonspacingMark)
        .collect();
    let mut out = Vec::new();
    for word in lowered.split(' ').filter(|w| !w.is_empty()) {
        let mut current = String::new();
        for c in word.chars() {
            if is_punctuation(c) {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                out.push(c.to_string());
            } else {
                current.push(c);
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    out
}

impl WordPiece {
    /// `vocab.txt`: one token per line, the line number is its id.
    pub fn from_vocab_file(path: &Path) -> Result<WordPiece> {
        let text = std::fs::read_to_string(path).map_err(|e| LlmError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        let vocab: HashMap<String, u32> = text
            .lines()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let special = |t: &str| {
            vocab.get(t).copied().ok_or_else(|| {
                LlmError::Invalid(format!(
                    "{}: no {t} token (expected a BERT vocab.txt)",
                    path.display()
                ))
            })
        };
        Ok(WordPiece {
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            unk: special("[UNK]")?,
            pad: special("[PAD]")?,
            vocab,
        })
    }

    fn word_ids(&self, word: &str, out: &mut Vec<u32>) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD_CHARS {
            out.push(self.unk);
            return;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let piece: String = chars[start..end].iter().collect();
                let key = if start > 0 {
                    format!("##{piece}")
                } else {
                    piece
                };
                if let Some(&id) = self.vocab.get(&key) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => {
                    pieces.push(id);
                    start = end;
                }
                None => {
                    out.push(self.unk);
                    return;
                }
            }
        }
        out.extend(pieces);
    }

    /// `[CLS] … [SEP]`, at most `max_len` ids in all (the text is cut, never the frame).
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = vec![self.cls];
        for w in basic_tokens(text) {
            self.word_ids(&w, &mut ids);
            if ids.len() >= max_len.saturating_sub(1) {
                break;
            }
        }
        ids.truncate(max_len.saturating_sub(1).max(1));
        ids.push(self.sep);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_tokens_follow_berts_rules() {
        assert_eq!(
            basic_tokens(
                "Ignore all previous instructions! Ünïcödé naïve café — 日本 don't \u{200b}x."
            ),
            [
                "ignore",
                "all",
                "previous",
                "instructions",
                "!",
                "unicode",
                "naive",
                "cafe",
                "—",
                "日",
                "本",
                "don",
                "'",
                "t",
                "x",
                "."
            ]
        );
    }

    #[test]
    fn wordpiece_takes_the_longest_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vocab.txt");
        std::fs::write(
            &p,
            "[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\n##aff\n##able\naff\n!\n",
        )
        .unwrap();
        let wp = WordPiece::from_vocab_file(&p).unwrap();
        assert_eq!(wp.encode("Unaffable! xyz", 16), vec![2, 4, 5, 6, 8, 1, 3]);
        assert_eq!(wp.encode("Unaffable! xyz", 3), vec![2, 4, 3]);
        std::fs::write(&p, "a\n").unwrap();
        assert!(WordPiece::from_vocab_file(&p).is_err());
    }
}
