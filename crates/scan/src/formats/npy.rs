//! NumPy `.npy`: the header is parsed, never evaluated. An object dtype means the data is a
//! pickle (loaded by `np.load(..., allow_pickle=True)`), which is then scanned as one.

use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, ScanFinding};
use crate::ScanError;

fn malformed(at: &Location, offset: u64, message: impl Into<String>) -> ScanError {
    ScanError::Malformed {
        location: at.display(),
        format: "npy".into(),
        offset,
        message: message.into(),
    }
}

/// The value of `'key':` in a header dict literal, as raw text up to the next top-level comma.
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[start + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for (i, c) in rest.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') if depth > 0 => depth -= 1,
            (None, ',' | '}') if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    None
}

pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location, depth: usize) {
    let major = data.get(6).copied().unwrap_or(0);
    let (len, start) = match major {
        1 => (
            data.get(8..10)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize),
            10,
        ),
        2 | 3 => (
            data.get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            12,
        ),
        v => return ctx.error(malformed(at, 6, format!("unknown format version {v}"))),
    };
    let Some(header) = len.and_then(|l| data.get(start..start + l)) else {
        return ctx.error(malformed(at, 8, "the header runs past the end"));
    };
    let header = String::from_utf8_lossy(header);
    let (Some(descr), Some(shape)) = (field(&header, "descr"), field(&header, "shape")) else {
        return ctx.error(malformed(
            at,
            start as u64,
            "the header has no 'descr' or 'shape'",
        ));
    };
    let body = start + len.unwrap_or(0);
    let object = descr.contains("'O")
        || descr.contains("\"O")
        || descr.contains("|O")
        || descr.contains("'|O");
    if object {
        ctx.findings.push(
            ScanFinding::new(
                RuleId::NpyObjectArray,
                Verdict::Unknown,
                at,
                format!("dtype {descr}: the array's data is a pickle, loaded only with allow_pickle=True — scanned"),
            )
            .at(body as u64),
        );
        let inner = at.child("<object data>");
        ctx.scan_pickle(
            &data[body..],
            &inner,
            depth + 1,
            crate::scanner::Role::Artifact,
        );
        return;
    }
    let dims: Option<Vec<u64>> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect();
    let descr_text = descr.trim_matches(|c| c == '\'' || c == '"');
    let Some(dims) = dims else {
        return ctx.error(malformed(
            at,
            start as u64,
            format!("shape {shape} is not a tuple of integers"),
        ));
    };
    if descr.starts_with('[') {
        return; // structured dtype without objects: sizes are not checked
    }
    let Some(itemsize) = crate::pickle::machine::dtype_itemsize(descr_text) else {
        return ctx.error(malformed(
            at,
            start as u64,
            format!("unknown dtype {descr}"),
        ));
    };
    let need = dims.iter().try_fold(itemsize, |acc, d| acc.checked_mul(*d));
    match need {
        Some(n) if (data.len() - body) as u64 >= n => {}
        _ => ctx.error(malformed(
            at,
            body as u64,
            format!(
                "shape {shape} of {descr} needs more than the {} data bytes present",
                data.len() - body
            ),
        )),
    }
}
