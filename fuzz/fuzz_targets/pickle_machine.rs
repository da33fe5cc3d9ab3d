//! Any bytes straight into the pickle machine and its judgement.
#![no_main]

use aisec_scan::scanner::{Limits, Location};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_opcodes: 1_000_000,
        ..Limits::default()
    };
    let _ = aisec_scan::pickle::scan(data, &Location::file("fuzz"), &aisec_scan::Policy::new(), &limits);
});
