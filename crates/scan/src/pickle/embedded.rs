//! Payloads staged inside a pickle's own values: a string or bytes value that holds another
//! pickle (raw, base64 or hex) or Python source. Something in the loading program may later
//! `pickle.loads` or `exec` it (the pattern ModelAudit flags); the scanner finds the inner
//! pickle and hands it back to be scanned as a part of its own (`outer!<…>`), and reports
//! source code as suspicious.

use crate::policy::Verdict;
use crate::scanner::{Location, ScanFinding};

use super::machine::{Blob, Trace};
use super::PickleScan;
use crate::rules::RuleId;

/// Shorter values cannot hold a pickle with a call in it, nor a line of code worth flagging.
pub const MIN_LEN: usize = 16;
/// Values examined per pickle; a pickle of millions of long strings is checked on its first.
const MAX_BLOBS: usize = 100_000;

/// Calls that make a string of Python source a payload rather than prose.
const CODE_CALLS: &[&str] = &[
    "os.system(",
    "os.popen(",
    "subprocess.Popen(",
    "subprocess.run(",
    "subprocess.call(",
    "subprocess.check_output(",
    "subprocess.getoutput(",
    "exec(",
    "eval(",
    "__import__(",
    "pty.spawn(",
    "socket.socket(",
    "marshal.loads(",
    "pickle.loads(",
    "compile(",
    "importlib.import_module(",
    "urllib.request.urlopen(",
    "requests.get(",
    "base64.b64decode(",
];

fn looks_like_source(text: &str) -> Option<&'static str> {
    CODE_CALLS.iter().copied().find(|c| text.contains(c))
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if clean.len() < MIN_LEN || clean.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let body = clean
        .strip_suffix(b"==")
        .or_else(|| clean.strip_suffix(b"="))
        .unwrap_or(&clean);
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if t.len() < MIN_LEN || t.len() % 2 != 0 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&t[i..i + 2], 16).ok())
        .collect()
}

fn is_pickle(bytes: &[u8]) -> bool {
    super::looks_like_pickle(bytes) && crate::sniff::sniff(bytes) == crate::sniff::Format::Pickle
}

/// Looks at the trace's long string and bytes values; inner pickles go to `out.embedded`,
/// source code becomes a finding.
pub fn inspect(trace: &Trace, data: &[u8], location: &Location, out: &mut PickleScan) {
    let source_expected = torchscript_debug_info(location);
    for blob in trace.blobs.iter().take(MAX_BLOBS) {
        let (offset, bytes, text): (usize, &[u8], bool) = match blob {
            Blob::Raw {
                offset,
                start,
                len,
                text,
            } => (*offset, &data[*start..*start + *len], *text),
            Blob::Decoded { offset, text } => (*offset, text.as_bytes(), true),
        };
        if is_pickle(bytes) {
            let kind = if text { "a string" } else { "a bytes value" };
            out.embedded.push((
                format!("<pickle in {kind} at byte {offset}>"),
                bytes.to_vec(),
            ));
            continue;
        }
        if !text {
            continue;
        }
        let Ok(s) = std::str::from_utf8(bytes) else {
            continue;
        };
        let decoded = decode_base64(s)
            .map(|d| ("base64", d))
            .or_else(|| decode_hex(s).map(|d| ("hex", d)));
        if let Some((encoding, inner)) = decoded {
            if is_pickle(&inner) {
                out.embedded.push((
                    format!("<{encoding} pickle in a string at byte {offset}>"),
                    inner,
                ));
                continue;
            }
            if let Some(call) = std::str::from_utf8(&inner)
                .ok()
                .filter(|_| !source_expected)
                .and_then(looks_like_source)
            {
                out.findings
                    .push(source_finding(location, offset, call, encoding));
                continue;
            }
        }
        if let Some(call) = looks_like_source(s).filter(|_| !source_expected) {
            out.findings
                .push(source_finding(location, offset, call, "plain"));
        }
    }
}

/// A TorchScript archive's `code/….py.debug_pkl`: the source ranges `torch.jit.save` keeps for
/// error messages, which hold the original Python source of the scripted modules as strings
/// (torchvision's detection models quote `importlib.import_module(…)`). The JIT reads them to
/// point at lines, never to run them, so source there is not a staged payload; inner pickles
/// and the pickle's own calls are still judged.
fn torchscript_debug_info(location: &Location) -> bool {
    location.members.last().is_some_and(|m| {
        m.ends_with(".debug_pkl") && (m.starts_with("code/") || m.contains("/code/"))
    })
}

fn source_finding(location: &Location, offset: usize, call: &str, encoding: &str) -> ScanFinding {
    ScanFinding::new(
        RuleId::PickleStagedPayload,
        Verdict::Suspicious,
        location,
        format!("a string value holds Python source ({encoding} text calling {call}…): a staged payload for something that evaluates it"),
    )
    .at(offset as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders() {
        assert_eq!(
            decode_base64("aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=").unwrap(),
            b"hello world hello world"
        );
        assert_eq!(decode_base64("not base64 at all!!"), None);
        assert_eq!(
            decode_hex("80027d71002e80027d71002e").unwrap()[..2],
            [0x80, 2]
        );
        assert_eq!(decode_hex("xyz"), None);
        assert_eq!(
            looks_like_source("import os; os.system('id')"),
            Some("os.system(")
        );
        assert_eq!(looks_like_source("a learning rate schedule"), None);
    }
}
