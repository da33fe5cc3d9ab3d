//! Legacy PyTorch tars (`torch.save` before 0.4; current torch still loads them): the
//! `storages` and `tensors` members interleave pickles with raw records, read the way
//! `torch.serialization._legacy_load` reads them — a pickled count, then per storage a pickled
//! `(key, location, storage type)`, an int64 element count and the raw elements, then the
//! pickled storage views; per tensor a pickled `(key, storage key, tensor type)`, an int32
//! rank, 4 bytes of padding, int64 sizes, strides and offset. Every pickle is judged; the raw
//! records are listed as tensor data; anything left over is scanned as a further pickle stream.

use crate::pickle::machine::Trace;
use crate::pickle::value::Val;
use crate::scanner::{Ctx, Location, Role};
use crate::sniff::Format;
use crate::ScanError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    Storages,
    Tensors,
}

/// Bytes per element of a legacy storage class.
fn element_size(class: &str) -> Option<u64> {
    Some(match class.strip_suffix("Storage")? {
        "Byte" | "Char" | "Bool" | "QUInt8" | "QInt8" | "QUInt4x2" | "QUInt2x4" => 1,
        "Short" | "Half" | "BFloat16" => 2,
        "Int" | "Float" | "QInt32" => 4,
        "Long" | "Double" | "ComplexFloat" => 8,
        "ComplexDouble" => 16,
        _ => return None,
    })
}

fn malformed(at: &Location, offset: usize, message: String) -> ScanError {
    ScanError::Malformed {
        location: at.display(),
        format: "legacy PyTorch tar member".into(),
        offset: offset as u64,
        message,
    }
}

fn le(data: &[u8], pos: usize, width: usize) -> Option<i64> {
    let b = data.get(pos..pos + width)?;
    Some(match width {
        4 => i64::from(i32::from_le_bytes(b.try_into().ok()?)),
        _ => i64::from_le_bytes(b.try_into().ok()?),
    })
}

/// One pickle at `pos`: judged into the context; its trace, or the error recorded.
fn pickle_at(ctx: &mut Ctx, data: &[u8], pos: usize, at: &Location) -> Option<Trace> {
    let (scan, trace) = crate::pickle::scan_one(data, pos, at, ctx.policy, ctx.limits);
    ctx.pickles += scan.pickles;
    ctx.opcodes += scan.opcodes;
    ctx.findings.extend(scan.findings);
    match trace {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.error(e);
            None
        }
    }
}

/// The storage class named in a `(key, location, class)` record.
fn storage_class(trace: &Trace) -> Option<String> {
    let items = trace.result.as_ref()?.items()?;
    match items.get(2)?.val()? {
        Val::Global(i) => Some(trace.imports[*i].name.clone()),
        _ => None,
    }
}

pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location, member: Member) {
    let Some(count) = pickle_at(ctx, data, 0, at) else {
        return;
    };
    let mut pos = count.end;
    let Some(n) = count.result.as_ref().and_then(|r| r.as_int()) else {
        return ctx.error(malformed(
            at,
            0,
            "the record count is not an integer".into(),
        ));
    };
    for record in 0..n.max(0) {
        if pos >= data.len() {
            return ctx.error(malformed(
                at,
                pos,
                format!("{n} records announced, the member ends after {record}"),
            ));
        }
        let Some(header) = pickle_at(ctx, data, pos, at) else {
            return;
        };
        let raw_start = header.end;
        let raw_len = match member {
            Member::Storages => {
                let class = storage_class(&header).unwrap_or_default();
                let (Some(size), Some(count)) = (element_size(&class), le(data, raw_start, 8))
                else {
                    return ctx.error(malformed(
                        at,
                        pos,
                        format!("storage record {record}: cannot tell its size (class {class:?})"),
                    ));
                };
                u64::try_from(count)
                    .ok()
                    .and_then(|c| c.checked_mul(size))
                    .and_then(|b| b.checked_add(8))
            }
            Member::Tensors => le(data, raw_start, 4)
                .and_then(|ndim| u64::try_from(ndim).ok())
                .and_then(|ndim| ndim.checked_mul(16))
                .and_then(|b| b.checked_add(16)),
        };
        let Some(end) = raw_len
            .and_then(|l| usize::try_from(l).ok())
            .and_then(|l| raw_start.checked_add(l))
            .filter(|&e| e <= data.len())
        else {
            return ctx.error(malformed(
                at,
                raw_start,
                format!("record {record}'s raw bytes run past the end of the member"),
            ));
        };
        ctx.parts.push((
            at.child(format!("<record {record}, bytes {raw_start}..{end}>"))
                .member()
                .unwrap_or_default(),
            Format::TensorData,
        ));
        pos = end;
    }
    if member == Member::Storages {
        // The storage views.
        let Some(views) = pickle_at(ctx, data, pos, at) else {
            return;
        };
        pos = views.end;
    }
    if pos < data.len() {
        // Not part of the format: whatever it is gets scanned, a second reader may see it.
        ctx.scan(
            &data[pos..],
            &at.child(format!("<after the records, byte {pos}>")),
            1,
            Role::Artifact,
        );
    }
}
