//! What the CLI shows: each view is a serializable struct (the `--format json` output)
//! with a `render_text` for people.

mod matrix;
mod mitigations;
mod show;

pub use matrix::{Cell, MatrixView, SubtechniqueMode, TacticColumn};
pub use mitigations::{MitigationsFilter, MitigationsView};
pub use show::{Details as ObjectDetails, ShowView};

use serde::Serialize;

use crate::kb::KnowledgeBase;

/// Cuts `text` to `width` characters, marking the cut with an ellipsis.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// Wraps prose to `width` columns, keeping paragraph breaks, each line prefixed by `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                out.push_str(indent);
                out.push_str(&line);
                out.push('\n');
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out.trim_end_matches('\n').to_string() + "\n"
}

/// One search result, ready to print.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub score: f64,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchView {
    pub query: String,
    pub full_text: bool,
    pub results: Vec<SearchResult>,
}

impl SearchView {
    pub fn new(kb: &KnowledgeBase, query: &str, limit: usize) -> Self {
        let results = kb
            .search_index()
            .search(kb, query, limit)
            .into_iter()
            .map(|hit| SearchResult {
                id: kb.object_id(hit.object).to_string(),
                kind: kb.object_kind(hit.object).label().to_string(),
                name: kb.object_name(hit.object).to_string(),
                score: (hit.score * 1000.0).round() / 1000.0,
                url: kb.object_url(hit.object),
            })
            .collect();
        SearchView {
            query: query.to_string(),
            full_text: kb.has_full_text(),
            results,
        }
    }

    pub fn render_text(&self) -> String {
        if self.results.is_empty() {
            return format!("No ATLAS object matches `{}`.\n", self.query);
        }
        let mut out = String::new();
        for r in &self.results {
            out.push_str(&format!("{:<15} {:<13} {}\n", r.id, r.kind, r.name));
        }
        if !self.full_text {
            out.push_str("(names only; pass --atlas-data ATLAS.yaml to search descriptions too)\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_marks_the_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn wrap_respects_width() {
        let text = "one two three four five six seven eight nine ten";
        for line in wrap(text, 12, "  ").lines() {
            assert!(line.chars().count() <= 14, "{line}");
        }
    }
}
