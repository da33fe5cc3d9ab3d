//! Generates the embedded knowledge base: the facts of an official ATLAS.yaml (IDs, names,
//! relations, tags, dates, URLs) with every piece of prose removed. Descriptions, mitigation
//! "use" text, case-study summaries and step narratives, and reference titles stay in the
//! official file, which `--atlas-data` loads when the user wants them.

use crate::model::{Atlas, Reference};

/// `atlas` with its prose removed.
pub fn facts(atlas: &Atlas) -> Atlas {
    let mut out = atlas.clone();
    let strip_refs = |refs: &mut Vec<Reference>| {
        refs.retain(|r| r.url.is_some());
        for r in refs.iter_mut() {
            r.title = None;
        }
    };
    for m in &mut out.matrices {
        for t in &mut m.tactics {
            t.description = None;
            strip_refs(&mut t.references);
        }
        for t in &mut m.techniques {
            t.description = None;
            strip_refs(&mut t.references);
        }
        for mit in &mut m.mitigations {
            mit.description = None;
            strip_refs(&mut mit.references);
            for u in &mut mit.techniques {
                u.usage = None;
            }
        }
    }
    for c in &mut out.case_studies {
        c.summary = None;
        strip_refs(&mut c.references);
        for step in &mut c.procedure {
            step.description = None;
        }
    }
    out
}

/// The embedded-facts file for `atlas`: deterministic, pretty JSON ending in a newline.
pub fn facts_json(atlas: &Atlas) -> String {
    let mut text = serde_json::to_string_pretty(&facts(atlas))
        .expect("the ATLAS model serializes to JSON: it holds only strings, lists and maps");
    text.push('\n');
    text
}
