//! XML model files (PMML and other XML model formats): their loaders parse the document, so a
//! DOCTYPE that declares external entities reads local files or URLs at load time (XXE,
//! CWE-611), and nested internal entities expand exponentially (the billion laughs). Other
//! text is data.

use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, ScanFinding};

/// Internal entities that make an expansion bomb suspicious: a handful that refer to each
/// other already expand to billions of characters.
const MAX_NESTED_ENTITIES: usize = 4;

pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location) {
    let text = String::from_utf8_lossy(data);
    let start = text.trim_start_matches('\u{feff}').trim_start();
    if !start.starts_with('<') {
        return;
    }
    let mut internal = 0usize;
    let mut referring = 0usize;
    for (offset, _) in text.match_indices("<!ENTITY") {
        let decl = &text[offset..text[offset..].find('>').map_or(text.len(), |e| offset + e)];
        let upper = decl.to_ascii_uppercase();
        if upper.contains(" SYSTEM") || upper.contains(" PUBLIC") {
            ctx.findings.push(
                ScanFinding::new(
                    RuleId::XmlEntityAttack,
                    Verdict::Dangerous,
                    at,
                    format!(
                        "an external entity ({}): the XML parser of the model's loader reads the file or URL it names",
                        decl.chars().take(120).collect::<String>()
                    ),
                )
                .at(offset as u64),
            );
        } else {
            internal += 1;
            if decl.contains('&') {
                referring += 1;
            }
        }
    }
    if referring >= MAX_NESTED_ENTITIES {
        ctx.findings.push(ScanFinding::new(
            RuleId::XmlEntityAttack,
            Verdict::Suspicious,
            at,
            format!("{internal} internal entities, {referring} of them referring to others: an entity expansion bomb (billion laughs) for the loader's XML parser"),
        ));
    }
}
