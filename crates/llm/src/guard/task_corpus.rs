//! Ordinary *tasks* for the guard to learn what is not an injection: the user messages of the
//! evals that ship inside the `evals` 3.0.1.post1 wheel on PyPI (OpenAI's evals registry, MIT;
//! fetched and only unzipped by `scripts/fetch-task-corpus.sh`). Hundreds of contributed
//! evals ask a model to translate, solve, count, rhyme, parse, sort, answer exam questions and
//! follow formatting rules, in dozens of languages: the task-shaped traffic ("Translate into
//! Italian: …", "Answer only with the letter …") that small talk lacks and that a guard
//! trained on injection data flags (the guard shipped before it flagged 29% of them).
//!
//! Each eval folder gives at most [`PER_EVAL`] distinct user messages, read in file order, so
//! that the few evals with thousands of near-identical samples do not outweigh the rest. Evals
//! whose inputs are attacks, manipulation or disguised text by design are left out
//! ([`EXCLUDED`]). Every message is benign (label 0); the split is the chat corpus's: by a
//! hash of the text, 60/20/20.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::chat_corpus::Utterance;
use crate::error::{LlmError, Result};

/// The most messages taken from one eval.
pub const PER_EVAL: usize = 15;
/// Longer messages are skipped: whole documents pasted as context, not a message's shape.
const MAX_CHARS: usize = 4000;

/// Evals left out, and why: their inputs are injections, attack code, manipulation games or
/// disguised (encoded) text on purpose, which the guard should not learn as ordinary.
pub const EXCLUDED: &[(&str, &str)] = &[
    ("prompt-injection", "prompt injections"),
    (
        "override-system-instruction",
        "instructions that override the system prompt",
    ),
    ("naughty_strings", "XSS and SQL-injection strings"),
    ("reverse-shell", "reverse-shell code"),
    ("make_me_say", "a manipulation game"),
    ("self_prompting", "prompts written by a model for a model"),
    ("steganography", "hidden messages"),
    ("text_compression", "text compressed by a model for a model"),
    ("sandbagging", "deliberate underperformance"),
    ("schelling_point", "coordination between model copies"),
    ("ballots", "persuasion"),
    ("already_said_that", "a distraction game"),
    ("bugged_tools", "tool-use traps"),
    ("cant_do_that_anymore", "rule-changing games"),
    ("base64_decode", "base64-encoded text"),
    ("rot13", "ROT13-encoded text"),
    ("vigenere", "enciphered text"),
];

fn io_error(path: &Path, e: std::io::Error) -> LlmError {
    LlmError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

fn jsonl_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)
        .map_err(|e| io_error(dir, e))?
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            jsonl_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.push(path);
        }
    }
    Ok(())
}

/// The user messages of one sample line, when it is a chat-form sample (`"input"` a list of
/// `{role, content}`); None for any other line (completion-style, malformed).
fn user_messages(line: &str) -> Option<Vec<String>> {
    let sample: serde_json::Value = serde_json::from_str(line).ok()?;
    let turns = sample.get("input")?.as_array()?;
    Some(
        turns
            .iter()
            .filter(|t| t.get("role").and_then(|r| r.as_str()) == Some("user"))
            .filter_map(|t| t.get("content")?.as_str())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s.chars().count() <= MAX_CHARS)
            .collect(),
    )
}

/// Up to [`PER_EVAL`] distinct user messages from each eval folder under `dir` (the evals
/// package's `registry/data` folder), every eval of [`EXCLUDED`] left out; sorted by eval.
pub fn read(dir: &Path) -> Result<Vec<Utterance>> {
    let mut evals: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_error(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    evals.sort();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for eval in &evals {
        let name = eval
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if EXCLUDED.iter().any(|(e, _)| *e == name) {
            continue;
        }
        let mut files = Vec::new();
        jsonl_files(eval, &mut files)?;
        files.sort();
        let mut taken = 0;
        'files: for path in &files {
            let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
            for line in std::io::BufReader::new(file).lines() {
                let line = line.map_err(|e| io_error(path, e))?;
                for text in user_messages(&line).into_iter().flatten() {
                    if taken == PER_EVAL {
                        break 'files;
                    }
                    // A message repeated across evals is kept once, under its first eval.
                    if seen.insert(text.clone()) {
                        out.push(Utterance {
                            text,
                            group: name.clone(),
                        });
                        taken += 1;
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Err(LlmError::Invalid(format!(
            "{}: no chat-form samples in any eval folder (expected the evals package's \
             registry/data folder, which scripts/fetch-task-corpus.sh prints)",
            dir.display()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_messages_are_taken_per_eval_capped_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let write = |eval: &str, file: &str, body: &str| {
            let d = dir.path().join(eval);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(file), body).unwrap();
        };
        let sample = |i: usize| {
            format!(
                r#"{{"input": [{{"role": "system", "content": "Answer briefly."}}, {{"role": "user", "content": " Translate item {i} "}}], "ideal": "x"}}"#
            )
        };
        let many: Vec<String> = (0..30).map(sample).collect();
        write("translate", "samples.jsonl", &many.join("\n"));
        write(
            "mixed",
            "a.jsonl",
            "not json\n{\"input\": \"a completion prompt\"}\n{\"input\": [{\"role\": \"user\", \"content\": \"Translate item 0\"}, {\"role\": \"user\", \"content\": \"Sort 3, 1, 2\"}]}\n",
        );
        write(
            "naughty_strings",
            "s.jsonl",
            r#"{"input": [{"role": "user", "content": "<script>alert(1)</script>"}]}"#,
        );
        let u = read(dir.path()).unwrap();
        let of = |eval: &str| u.iter().filter(|x| x.group == eval).count();
        assert_eq!(of("translate"), PER_EVAL);
        // "mixed" sorts first, so the message both evals hold is kept under it.
        assert!(u
            .iter()
            .any(|x| x.text == "Translate item 0" && x.group == "mixed"));
        assert_eq!(of("mixed"), 2, "{u:?}");
        assert_eq!(of("naughty_strings"), 0);
        assert!(u.iter().all(|x| x.text == x.text.trim()));
        let err = read(&dir.path().join("translate")).unwrap_err().to_string();
        assert!(err.contains("no chat-form samples"), "{err}");
    }
}
