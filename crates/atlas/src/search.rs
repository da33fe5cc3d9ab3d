//! Ranked, typo-tolerant full-text search over ATLAS objects.
//!
//! An inverted index over IDs, names and (when the full data is loaded) descriptions.
//! Each query word is matched against the vocabulary exactly, by a crude stem, as a
//! prefix, or within a small edit distance, so that "prompt injektion" still finds
//! AML.T0051. A document's score sums, per query word, its best weighted match
//! (field weight × idf × saturated term frequency), scaled by the share of query words
//! it matched.

use std::collections::HashMap;

use crate::kb::{KnowledgeBase, ObjectRef};
use crate::model::{CaseStudy, Mitigation, Tactic, Technique};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Name,
    Parent,
    Text,
}

impl Field {
    fn weight(self) -> f64 {
        match self {
            Field::Id => 6.0,
            Field::Name => 3.0,
            Field::Parent => 1.0,
            Field::Text => 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    field: Field,
    tf: u16,
}

#[derive(Debug, Default)]
pub struct SearchIndex {
    docs: Vec<ObjectRef>,
    names: Vec<String>,
    name_lengths: Vec<u32>,
    terms: Vec<String>,
    term_ids: HashMap<String, u32>,
    postings: Vec<Vec<Posting>>,
    doc_freq: Vec<u32>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub object: ObjectRef,
    pub score: f64,
}

const STOPWORDS: &[&str] = &[
    "the", "of", "and", "or", "to", "in", "a", "an", "for", "on", "by", "with", "is", "are", "be",
    "as", "at", "from", "that", "this", "it", "its", "can", "may", "their", "they", "which",
];

pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .filter(|w| w.chars().count() >= 2 && !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// Strips common English suffixes; enough to make "poisoning" meet "poison".
fn stem(word: &str) -> &str {
    for suffix in [
        "ations", "ation", "ings", "ing", "ions", "ion", "ers", "er", "es", "ed", "s",
    ] {
        if word.len() > suffix.len() + 3 {
            if let Some(stripped) = word.strip_suffix(suffix) {
                return stripped;
            }
        }
    }
    word
}

/// Levenshtein distance on characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// How well a vocabulary term answers a query word, in (0, 1]; 0 when it does not.
fn match_quality(query: &str, term: &str) -> f64 {
    if query == term {
        return 1.0;
    }
    if stem(query) == stem(term) {
        return 0.9;
    }
    let qlen = query.chars().count();
    if qlen >= 3 && term.starts_with(query) {
        return 0.75;
    }
    let allowed = match qlen {
        0..=3 => 0,
        4..=6 => 1,
        _ => 2,
    };
    if allowed == 0 || term.chars().count().abs_diff(qlen) > allowed {
        return 0.0;
    }
    match edit_distance(query, term) {
        0 => 1.0,
        d if d <= allowed => 0.85 - 0.15 * d as f64,
        _ => 0.0,
    }
}

impl SearchIndex {
    pub fn build(
        tactics: &[Tactic],
        techniques: &[Technique],
        mitigations: &[Mitigation],
        case_studies: &[CaseStudy],
    ) -> Self {
        let mut index = SearchIndex::default();
        let technique_name: HashMap<&str, &str> = techniques
            .iter()
            .map(|t| (t.id.as_str(), t.name.as_str()))
            .collect();
        for (i, t) in tactics.iter().enumerate() {
            index.add(
                ObjectRef::Tactic(i),
                &t.id,
                &t.name,
                None,
                &[t.description.as_deref()],
            );
        }
        for (i, t) in techniques.iter().enumerate() {
            let parent = t
                .subtechnique_of
                .as_deref()
                .and_then(|p| technique_name.get(p).copied());
            index.add(
                ObjectRef::Technique(i),
                &t.id,
                &t.name,
                parent,
                &[t.description.as_deref()],
            );
        }
        for (i, m) in mitigations.iter().enumerate() {
            let mut texts = vec![m.description.as_deref()];
            texts.extend(m.techniques.iter().map(|u| u.usage.as_deref()));
            index.add(ObjectRef::Mitigation(i), &m.id, &m.name, None, &texts);
        }
        for (i, c) in case_studies.iter().enumerate() {
            let mut texts = vec![
                c.summary.as_deref(),
                c.target.as_deref(),
                c.actor.as_deref(),
            ];
            texts.extend(c.procedure.iter().map(|s| s.description.as_deref()));
            index.add(ObjectRef::CaseStudy(i), &c.id, &c.name, None, &texts);
        }
        index
    }

    fn add(
        &mut self,
        object: ObjectRef,
        id: &str,
        name: &str,
        parent_name: Option<&str>,
        texts: &[Option<&str>],
    ) {
        let doc = self.docs.len() as u32;
        self.docs.push(object);
        self.names.push(name.to_lowercase());
        self.name_lengths.push(tokenize(name).len().max(1) as u32);
        let local_id = id.rsplit_once('.').map_or(id, |(head, tail)| {
            // A sub-technique's local part is the technique plus its number.
            if tail.len() == 3 {
                head.rsplit_once('.').map_or(head, |(_, t)| t)
            } else {
                tail
            }
        });
        let mut fields: Vec<(Field, Vec<String>)> = vec![
            (Field::Id, vec![local_id.to_lowercase(), id.to_lowercase()]),
            (Field::Name, tokenize(name)),
        ];
        if let Some(p) = parent_name {
            fields.push((Field::Parent, tokenize(p)));
        }
        let text_tokens: Vec<String> = texts.iter().flatten().flat_map(|t| tokenize(t)).collect();
        if !text_tokens.is_empty() {
            fields.push((Field::Text, text_tokens));
        }
        let mut seen_terms: Vec<u32> = Vec::new();
        for (field, tokens) in fields {
            let mut counts: HashMap<String, u16> = HashMap::new();
            for tok in tokens {
                *counts.entry(tok).or_default() += 1;
            }
            for (tok, tf) in counts {
                let term = self.term_id(tok);
                self.postings[term as usize].push(Posting { doc, field, tf });
                if !seen_terms.contains(&term) {
                    seen_terms.push(term);
                    self.doc_freq[term as usize] += 1;
                }
            }
        }
    }

    fn term_id(&mut self, term: String) -> u32 {
        if let Some(id) = self.term_ids.get(&term) {
            return *id;
        }
        let id = self.terms.len() as u32;
        self.terms.push(term.clone());
        self.term_ids.insert(term, id);
        self.postings.push(Vec::new());
        self.doc_freq.push(0);
        id
    }

    pub fn vocabulary_size(&self) -> usize {
        self.terms.len()
    }

    /// The best `limit` objects for `query`, best first. An exact ID comes first.
    pub fn search(&self, kb: &KnowledgeBase, query: &str, limit: usize) -> Vec<SearchHit> {
        let mut scores = vec![0.0f64; self.docs.len()];
        let exact = kb.resolve(query);

        let words = tokenize(query);
        if !words.is_empty() {
            let n_docs = self.docs.len().max(1) as f64;
            let mut matched = vec![0u32; self.docs.len()];
            let mut matched_in_name = vec![0u32; self.docs.len()];
            for word in &words {
                let mut best = vec![0.0f64; self.docs.len()];
                let mut in_name = vec![false; self.docs.len()];
                // A word the index knows is not a typo: looser matches would only let
                // rare look-alikes (promptarmor for prompt) outscore the real thing.
                let known = self.term_ids.contains_key(word.as_str());
                for (term_id, term) in self.terms.iter().enumerate() {
                    let quality = match_quality(word, term);
                    if quality == 0.0 || (known && quality < 0.9) {
                        continue;
                    }
                    let df = self.doc_freq[term_id] as f64;
                    let idf = (1.0 + (n_docs - df + 0.5) / (df + 0.5)).ln();
                    for p in &self.postings[term_id] {
                        let tf = p.tf as f64;
                        let saturation = tf * 2.2 / (tf + 1.2);
                        let s = quality * p.field.weight() * idf * saturation;
                        let slot = &mut best[p.doc as usize];
                        if s > *slot {
                            *slot = s;
                        }
                        if p.field == Field::Name {
                            in_name[p.doc as usize] = true;
                        }
                    }
                }
                for (doc, s) in best.iter().enumerate() {
                    if *s > 0.0 {
                        scores[doc] += s;
                        matched[doc] += 1;
                        matched_in_name[doc] += u32::from(in_name[doc]);
                    }
                }
            }
            let phrase = words.join(" ");
            for (doc, score) in scores.iter_mut().enumerate() {
                if *score == 0.0 {
                    continue;
                }
                let coverage = matched[doc] as f64 / words.len() as f64;
                *score *= coverage * coverage;
                // A name that is mostly the query beats a long name that merely contains it.
                let focus = (matched_in_name[doc] as f64 / self.name_lengths[doc] as f64).min(1.0);
                *score *= 0.7 + 0.3 * focus;
                if self.names[doc].contains(&phrase) {
                    *score *= 1.5;
                }
            }
        }

        let mut hits: Vec<SearchHit> = scores
            .iter()
            .enumerate()
            .filter(|(_, s)| **s > 0.0)
            .map(|(doc, s)| SearchHit {
                object: self.docs[doc],
                score: *s,
            })
            .collect();
        if let Some(obj) = exact {
            hits.retain(|h| h.object != obj);
            let top = hits.iter().map(|h| h.score).fold(0.0, f64::max);
            hits.push(SearchHit {
                object: obj,
                score: top + 100.0,
            });
        }
        // Ties go to the more general kind of object: tactic, technique, mitigation, study.
        let rank = |o: ObjectRef| match o {
            ObjectRef::Technique(_) => 0,
            ObjectRef::Tactic(_) => 1,
            ObjectRef::Mitigation(_) => 2,
            ObjectRef::CaseStudy(_) => 3,
        };
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| rank(a.object).cmp(&rank(b.object)))
                .then_with(|| kb.object_id(a.object).cmp(kb.object_id(b.object)))
        });
        hits.truncate(limit);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("injektion", "injection"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn match_quality_orders_kinds_of_match() {
        let exact = match_quality("poison", "poison");
        let stemmed = match_quality("poisoning", "poison");
        let prefix = match_quality("adver", "adversarial");
        let typo = match_quality("injektion", "injection");
        assert!(exact > stemmed && stemmed > prefix && prefix > 0.0 && typo > 0.0);
        assert_eq!(
            match_quality("llm", "slm"),
            0.0,
            "short words need exact matches"
        );
        assert_eq!(match_quality("prompt", "privacy"), 0.0);
    }

    #[test]
    fn tokenize_drops_stopwords_and_punctuation() {
        assert_eq!(
            tokenize("Evade the AI-Model (white-box)!"),
            vec!["evade", "ai", "model", "white", "box"]
        );
    }
}
