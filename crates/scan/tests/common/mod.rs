//! Helpers shared by the scanner's test files.

use aisec_scan::scanner::{scan_bytes, FileReport, ScanOptions};
use aisec_scan::Verdict;

pub fn scan(name: &str, data: &[u8]) -> FileReport {
    scan_bytes(name, data, &ScanOptions::default())
}

pub fn rules(r: &FileReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule).collect()
}

#[track_caller]
pub fn dangerous(name: &str, data: &[u8], rule: &str) -> FileReport {
    let r = scan(name, data);
    assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
    assert_eq!(r.verdict, Verdict::Dangerous, "{name}: {:#?}", r.findings);
    assert!(
        rules(&r).contains(&rule),
        "{name}: {rule} not in {:?}",
        rules(&r)
    );
    r
}

#[track_caller]
pub fn safe(name: &str, data: &[u8]) -> FileReport {
    let r = scan(name, data);
    assert!(r.errors.is_empty(), "{name}: {:?}", r.errors);
    assert_eq!(r.verdict, Verdict::Safe, "{name}: {:#?}", r.findings);
    r
}

/// A sample of the labelled corpus by name; a typo fails the test instead of testing nothing.
#[track_caller]
pub fn corpus(name: &str) -> Vec<u8> {
    aisec_scan::corpus::named(name).unwrap_or_else(|| panic!("no corpus sample named {name}"))
}

/// The report's finding of `rule`; a missing one fails the test.
#[track_caller]
pub fn the_finding<'a>(r: &'a FileReport, rule: &str) -> &'a aisec_scan::scanner::ScanFinding {
    r.findings
        .iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("{rule} not in {:?}", rules(r)))
}
