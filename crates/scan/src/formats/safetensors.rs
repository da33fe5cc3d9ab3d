//! safetensors: header length within the file, a JSON header of tensors with known dtypes,
//! offsets inside the data area that match dtype × shape, no overlaps or holes, and no bytes
//! after the last tensor.

use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, ScanFinding};

fn dtype_size(d: &str) -> Option<u64> {
    Some(match d {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" | "C64" => 8,
        "C128" => 16,
        _ => return None,
    })
}

pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location) {
    let n = u64::from_le_bytes(data[..8].try_into().expect("sniffed")) as usize;
    if 8 + n > data.len() {
        return ctx.error(crate::ScanError::Malformed {
            location: at.display(),
            format: "safetensors".into(),
            offset: data.len() as u64,
            message: format!(
                "truncated: the header declares {n} bytes but the file ends {} bytes into it",
                data.len() - 8
            ),
        });
    }
    let invalid = |ctx: &mut Ctx, offset: u64, message: String| {
        ctx.findings.push(
            ScanFinding::new(RuleId::SafetensorsInvalid, Verdict::Dangerous, at, message)
                .at(offset),
        );
    };
    let header: serde_json::Value = match serde_json::from_slice(&data[8..8 + n]) {
        Ok(v) => v,
        Err(e) => return invalid(ctx, 8, format!("the header is not JSON: {e}")),
    };
    let Some(tensors) = header.as_object() else {
        return invalid(ctx, 8, "the header is not a JSON object".into());
    };
    let area = (data.len() - 8 - n) as u64;
    let mut spans = Vec::new();
    for (name, t) in tensors {
        if name == "__metadata__" {
            if !t
                .as_object()
                .is_some_and(|m| m.values().all(|v| v.is_string()))
            {
                invalid(ctx, 8, "__metadata__ must map strings to strings".into());
            }
            continue;
        }
        let dtype = t.get("dtype").and_then(|d| d.as_str()).unwrap_or("");
        let shape: Option<Vec<u64>> = t
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect());
        let offsets: Option<Vec<u64>> = t
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect());
        let (Some(size), Some(shape), Some(offsets)) = (dtype_size(dtype), shape, offsets) else {
            invalid(ctx, 8, format!("tensor {name:?}: needs a known dtype, an integer shape and data_offsets (got dtype {dtype:?})"));
            continue;
        };
        let [begin, end] = offsets[..] else {
            invalid(
                ctx,
                8,
                format!("tensor {name:?}: data_offsets must be [begin, end]"),
            );
            continue;
        };
        if begin > end || end > area {
            invalid(ctx, 8, format!("tensor {name:?}: data_offsets [{begin}, {end}] outside the {area}-byte data area"));
            continue;
        }
        let need = shape.iter().try_fold(size, |acc, d| acc.checked_mul(*d));
        if need != Some(end - begin) {
            invalid(
                ctx,
                8,
                format!(
                    "tensor {name:?}: {dtype} × {shape:?} is {need:?} bytes, its offsets hold {}",
                    end - begin
                ),
            );
        }
        spans.push((begin, end, name.clone()));
    }
    spans.sort();
    let mut covered = 0u64;
    for (begin, end, name) in &spans {
        if *begin < covered {
            invalid(
                ctx,
                8,
                format!("tensor {name:?} overlaps the tensor before it"),
            );
        } else if *begin > covered {
            invalid(
                ctx,
                8,
                format!("{} unused bytes before tensor {name:?}", begin - covered),
            );
        }
        covered = covered.max(*end);
    }
    if covered < area {
        ctx.findings.push(
            ScanFinding::new(
                RuleId::SafetensorsTrailingData,
                Verdict::Unknown,
                at,
                format!("{} bytes after the last tensor — scanned", area - covered),
            )
            .at(8 + n as u64 + covered),
        );
        let tail = &data[8 + n + covered as usize..];
        ctx.scan(
            tail,
            &at.child("<trailing data>"),
            1,
            crate::scanner::Role::RawData,
        );
    }
}
