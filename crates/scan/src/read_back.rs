//! Scan reports read back from JSON (a shard's result, for `aisec report merge`): a finding's
//! rule name, ATLAS and CWE lists come from this build's rule table, not from the file.

use aisec_core::Severity;
use serde::Deserialize;

use crate::policy::Verdict;
use crate::scanner::ScanFinding;

fn one() -> usize {
    1
}

/// A finding as written: the rule's name, ATLAS and CWE lists come back from the rule table
/// (a rule ID this build does not know is refused, not invented).
#[derive(Deserialize)]
struct StoredFinding {
    rule: String,
    verdict: Verdict,
    severity: Severity,
    file: String,
    member: Option<String>,
    offset: Option<u64>,
    opcode: Option<String>,
    call: Option<String>,
    message: String,
    #[serde(default = "one")]
    occurrences: usize,
    #[serde(default)]
    repeated_at: Vec<u64>,
}

impl<'de> Deserialize<'de> for ScanFinding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ScanFinding::try_from(StoredFinding::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<StoredFinding> for ScanFinding {
    type Error = String;

    fn try_from(s: StoredFinding) -> Result<Self, String> {
        let rule = crate::rules::RULES
            .iter()
            .find(|r| r.id == s.rule)
            .ok_or_else(|| format!("rule {:?} is not a rule of this aisec build", s.rule))?;
        Ok(ScanFinding {
            rule: rule.id,
            name: rule.name,
            verdict: s.verdict,
            severity: s.severity,
            file: s.file,
            member: s.member,
            offset: s.offset,
            opcode: s.opcode,
            call: s.call,
            message: s.message,
            atlas: rule.atlas,
            cwe: rule.cwe,
            occurrences: s.occurrences,
            repeated_at: s.repeated_at,
        })
    }
}
