//! Any bytes through the whole scanner: sniffing, containers, formats, the pickle machine.
//! Budgets are small so that a slow input shows up as a budget error, not a fuzzer timeout.
#![no_main]

use aisec_scan::scanner::{scan_bytes, Limits, ScanOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = ScanOptions {
        limits: Limits {
            max_opcodes: 1_000_000,
            max_member_bytes: 16 << 20,
            max_decompressed_bytes: 32 << 20,
            max_time: std::time::Duration::from_secs(5),
            ..Limits::default()
        },
        ..ScanOptions::default()
    };
    let report = scan_bytes("fuzz", data, &options);
    // Rendering the findings must not panic either.
    let _ = serde_json::to_string(&report.findings);
});
