//! CatBoost's binary model (`.cbm`, `save_model`'s default): `CBM1`, a little-endian u32
//! length, then that many bytes of FlatBuffers (trees, borders, metadata strings) and, for
//! models with categorical features, CTR data after them. Nothing in it is code, so the check
//! is that it is what it claims: the FlatBuffers root table and its vtable lie inside the
//! declared length (CatBoost itself refuses a file that fails its verifier). A file that is
//! also a pickle (`CBM1` reads as SHORT_BINBYTES, so a pickle can follow) is scanned as one
//! too: `pickle.load` would run it.

use crate::scanner::{Ctx, Location, Role};
use crate::ScanError;

fn u16_at(b: &[u8], i: usize) -> Option<usize> {
    Some(usize::from(u16::from_le_bytes(
        b.get(i..i + 2)?.try_into().ok()?,
    )))
}

fn u32_at(b: &[u8], i: usize) -> Option<usize> {
    usize::try_from(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?)).ok()
}

/// Where the FlatBuffers root fails to hold together, if it does.
fn flatbuffers_problem(body: &[u8]) -> Option<String> {
    let Some(root) = u32_at(body, 0) else {
        return Some("no root offset".into());
    };
    if root < 4 || root + 4 > body.len() {
        return Some(format!(
            "root table offset {root} outside the {} bytes",
            body.len()
        ));
    }
    let soffset = i64::from(i32::from_le_bytes(body[root..root + 4].try_into().ok()?));
    let vtable = root as i64 - soffset;
    if vtable < 4 || vtable as usize + 4 > body.len() {
        return Some(format!(
            "vtable at {vtable} outside the {} bytes",
            body.len()
        ));
    }
    let vtable = vtable as usize;
    let (vt_size, table_size) = (u16_at(body, vtable)?, u16_at(body, vtable + 2)?);
    if vt_size < 4 || vt_size % 2 != 0 || vtable + vt_size > body.len() {
        return Some(format!("vtable of {vt_size} bytes does not fit"));
    }
    if table_size < 4 || root + table_size > body.len() {
        return Some(format!("root table of {table_size} bytes does not fit"));
    }
    for k in (4..vt_size).step_by(2) {
        let field = u16_at(body, vtable + k)?;
        if field >= table_size {
            return Some(format!(
                "field at {field} past the table's {table_size} bytes"
            ));
        }
    }
    None
}

pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location, depth: usize) {
    let len = u32_at(data, 4).unwrap_or(0);
    let body = &data[8..(8 + len).min(data.len())];
    if let Some(problem) = flatbuffers_problem(body) {
        ctx.error(ScanError::Malformed {
            location: at.display(),
            format: "CatBoost".into(),
            offset: 8,
            message: format!("starts like a CatBoost model (CBM1) but its FlatBuffers do not hold together: {problem}; CatBoost refuses it"),
        });
    }
    if crate::sniff::pickle_parses(data) {
        ctx.scan_pickle(data, at, depth, Role::Artifact);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_outside_the_buffer_is_a_problem() {
        assert!(flatbuffers_problem(&[0, 0, 0, 0]).is_some());
        assert!(flatbuffers_problem(&[200, 0, 0, 0, 0, 0, 0, 0]).is_some());
        assert!(flatbuffers_problem(&[]).is_some());
    }
}
