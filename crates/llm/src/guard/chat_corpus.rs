//! Ordinary chat for the guard to learn what is *not* an injection: the utterances of the
//! chatterbot-corpus (BSD-3-Clause; the `chatterbot-corpus` 1.3.3 wheel on PyPI, fetched and
//! unpacked by `scripts/fetch-chat-corpus.sh`): greetings, thanks, small talk, questions about
//! food, money, science, computers and more, in 28 languages. The injection datasets have
//! almost none of this, so a guard trained on them alone flags "Hello!" (an empty text
//! scored 0.54: the model's bias alone was above its threshold).
//!
//! Every utterance is benign (label 0). They are deduplicated and split by a hash of the
//! text — 60% train, 20% validation, 20% test — so a split never changes when files are
//! added and a repeated line never sits on both sides.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::data::Example;
use crate::error::{LlmError, Result};

#[derive(Deserialize)]
struct CorpusFile {
    #[serde(default)]
    conversations: Vec<serde_yaml_ng::Value>,
}

/// One benign message and where it came from: the language folder of the chat corpus, the
/// eval of the task corpus.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Utterance {
    pub text: String,
    pub group: String,
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| LlmError::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Every distinct utterance under `dir` (the corpus's `data/` folder: one folder per
/// language, YAML files of conversations), sorted.
pub fn read(dir: &Path) -> Result<Vec<Utterance>> {
    let mut files = Vec::new();
    yaml_files(dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(LlmError::Invalid(format!(
            "{}: no .yml files (expected chatterbot-corpus's data folder)",
            dir.display()
        )));
    }
    let mut seen = BTreeSet::new();
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|e| LlmError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        // Some files start with a byte-order mark; a few hold more than one YAML document.
        let text = text.trim_start_matches('\u{feff}');
        let mut conversations = Vec::new();
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            let file = CorpusFile::deserialize(document)
                .map_err(|e| LlmError::Invalid(format!("{}: {e}", path.display())))?;
            conversations.extend(file.conversations);
        }
        let language = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A conversation is a list of turns; a few files write a lone turn as a string.
        let turns = conversations.iter().flat_map(|c| match c {
            serde_yaml_ng::Value::Sequence(turns) => turns.iter().collect::<Vec<_>>(),
            other => vec![other],
        });
        for turn in turns {
            let text = match turn {
                serde_yaml_ng::Value::String(s) => s.clone(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if !text.is_empty() {
                seen.insert(Utterance {
                    text,
                    group: language.clone(),
                });
            }
        }
    }
    Ok(seen.into_iter().collect())
}

/// Which split a text belongs to: 0..6 train, 6..8 validation, 8..10 test, by FNV-1a.
fn bucket(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % 10
}

/// The utterances as (train, validation, test) benign examples, grouped as they came.
pub fn split(utterances: &[Utterance]) -> [Vec<Example>; 3] {
    let mut out: [Vec<Example>; 3] = Default::default();
    for u in utterances {
        let which = match bucket(&u.text) {
            0..=5 => 0,
            6 | 7 => 1,
            _ => 2,
        };
        out[which].push(Example {
            text: u.text.clone(),
            label: 0,
            group: Some(u.group.clone()),
        });
    }
    out
}

/// Writes `{prefix}-train.csv`, `{prefix}-validation.csv` and `{prefix}-test.csv` (columns
/// text, label, and `group_column` for each utterance's group) into `out`; returns their
/// paths and row counts.
pub fn write_splits(
    utterances: &[Utterance],
    out: &Path,
    prefix: &str,
    group_column: &str,
) -> Result<Vec<(PathBuf, usize)>> {
    std::fs::create_dir_all(out).map_err(|e| LlmError::Io {
        path: out.display().to_string(),
        source: e,
    })?;
    let mut written = Vec::new();
    for (name, rows) in ["train", "validation", "test"]
        .iter()
        .zip(split(utterances))
    {
        let path = out.join(format!("{prefix}-{name}.csv"));
        let mut w = csv::Writer::from_path(&path)
            .map_err(|e| LlmError::Invalid(format!("{}: {e}", path.display())))?;
        let io = |e: csv::Error| LlmError::Invalid(format!("{}: {e}", path.display()));
        w.write_record(["text", "label", group_column])
            .map_err(io)?;
        for r in &rows {
            w.write_record([r.text.as_str(), "0", r.group.as_deref().unwrap_or("")])
                .map_err(io)?;
        }
        w.flush().map_err(|e| LlmError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        written.push((path, rows.len()));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utterances_are_read_deduplicated_and_split_by_their_text() {
        let dir = tempfile::tempdir().unwrap();
        let en = dir.path().join("english");
        std::fs::create_dir_all(&en).unwrap();
        std::fs::write(
            en.join("greetings.yml"),
            "categories:\n- greetings\nconversations:\n- - Hello\n  - Hi\n- - Hello\n  - >\n    How are\n    you?\n- - 42\n- Hi\n",
        )
        .unwrap();
        let u = read(dir.path()).unwrap();
        let texts: Vec<&str> = u.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(texts, ["42", "Hello", "Hi", "How are you?"]);
        assert!(u.iter().all(|u| u.group == "english"));
        let [a, b, c] = split(&u);
        assert_eq!(a.len() + b.len() + c.len(), 4);
        assert_eq!(split(&u)[2], c, "the split depends on the text alone");
        let err = read(&en.join("nothing")).unwrap_err().to_string();
        assert!(err.contains("nothing"), "{err}");
    }
}
