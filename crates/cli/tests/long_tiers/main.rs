//! The two longest tests of the suite, in one binary on purpose: cargo runs test binaries one
//! after another and the tests of one binary side by side, and each of these keeps one core
//! busy for minutes (the demo's training; llama.cpp's one inference thread). Together they
//! take the time of the longer one on CI's two cores instead of the sum.

#[path = "../common/mod.rs"]
mod common;

mod demo;
mod llm_real;
