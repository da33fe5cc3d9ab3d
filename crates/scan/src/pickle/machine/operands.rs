//! Decoding pickle operands (protocol-0 text literals, little-endian longs, NumPy dtype
//! descriptors) and small helpers on values.

use super::super::value::{Val, V};

pub(super) fn pairs(items: Vec<V>) -> Vec<(V, V)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

pub(super) fn long_le(bytes: &[u8]) -> V {
    if bytes.len() <= 8 {
        let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
            [0xffu8; 8]
        } else {
            [0u8; 8]
        };
        buf[..bytes.len()].copy_from_slice(bytes);
        V::Int(i64::from_le_bytes(buf))
    } else {
        V::BigInt(bytes.len())
    }
}

/// Bytes per element of a NumPy descr such as `<f8`, `i4`, `|b1`, `<U5`, `S3`, `<M8[ns]`.
pub fn dtype_itemsize(descr: &str) -> Option<u64> {
    let d = descr.trim_start_matches(['<', '>', '|', '=']);
    let kind = d.chars().next()?;
    let rest = &d[kind.len_utf8()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = if digits.is_empty() {
        match kind {
            '?' | 'b' | 'B' => 1,
            'h' | 'H' | 'e' => 2,
            'i' | 'I' | 'l' | 'f' => 4,
            'q' | 'Q' | 'd' | 'g' | 'F' | 'L' => 8,
            'D' => 16,
            _ => return None,
        }
    } else {
        digits.parse().ok()?
    };
    match kind {
        'U' => n.checked_mul(4),
        'b' | 'i' | 'u' | 'f' | 'c' | 'S' | 'V' | 'a' | 'M' | 'm' | '?' | 'B' | 'h' | 'H' | 'e'
        | 'I' | 'l' | 'q' | 'Q' | 'd' | 'g' | 'F' | 'D' | 'L' => Some(n),
        _ => None,
    }
}

/// A protocol-0 STRING operand: a Python literal in single or double quotes, with escapes.
pub(super) fn python_string_literal(raw: &[u8]) -> Option<String> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let q = *raw.first()?;
    if raw.len() < 2 || (q != b'\'' && q != b'"') || *raw.last()? != q {
        return None;
    }
    let body = &raw[1..raw.len() - 1];
    let mut out = String::new();
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b'\\' && i + 1 < body.len() {
            i += 1;
            match body[i] {
                b'n' => out.push('\n'),
                b't' => out.push('\t'),
                b'r' => out.push('\r'),
                b'0' => out.push('\0'),
                b'x' if i + 2 < body.len() + 1 => {
                    let hex = std::str::from_utf8(body.get(i + 1..i + 3)?).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()? as char);
                    i += 2;
                }
                other => out.push(other as char),
            }
        } else {
            out.push(b as char);
        }
        i += 1;
    }
    Some(out)
}

/// `raw-unicode-escape`: latin-1 bytes with `\uXXXX` and `\UXXXXXXXX` escapes.
pub(super) fn raw_unicode_escape(raw: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() && (raw[i + 1] == b'u' || raw[i + 1] == b'U') {
            let n = if raw[i + 1] == b'u' { 4 } else { 8 };
            if let Some(c) = raw
                .get(i + 2..i + 2 + n)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32)
            {
                out.push(c);
                i += 2 + n;
                continue;
            }
        }
        out.push(raw[i] as char);
        i += 1;
    }
    out
}

/// The strings inside a value, shallowly (for arguments worth showing or checking).
pub fn strings_in(v: &V, data: &[u8], out: &mut Vec<String>, depth: usize) {
    if depth > 4 || out.len() > 64 {
        return;
    }
    if let Some(text) = v.text(data) {
        return out.push(text.into_owned());
    }
    match v.val() {
        Some(Val::Tuple(items) | Val::FrozenSet(items)) => items
            .iter()
            .for_each(|i| strings_in(i, data, out, depth + 1)),
        Some(Val::List(items) | Val::Set(items)) => items
            .borrow()
            .iter()
            .for_each(|i| strings_in(i, data, out, depth + 1)),
        Some(Val::Dict(pairs)) => pairs.borrow().iter().for_each(|(k, val)| {
            strings_in(k, data, out, depth + 1);
            strings_in(val, data, out, depth + 1)
        }),
        _ => {}
    }
}
