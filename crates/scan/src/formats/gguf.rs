//! GGUF (llama.cpp): header, metadata and tensor table parsed and bounds-checked; the chat
//! template is checked for Jinja that reaches Python internals (server-side template
//! injection, as in CVE-2024-34359).

use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, ScanFinding};
use crate::ScanError;

struct Reader<'a> {
    d: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.d.len())?;
        let s = &self.d[self.pos..end];
        self.pos = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4")))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8")))
    }
    fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
    /// Reads one metadata value; its text when it is a string, or, with `collect`, an array
    /// of strings joined by newlines (a chat template stored as an array is still a template).
    fn value(&mut self, kind: u32, depth: usize, collect: bool) -> Option<Option<String>> {
        let size = match kind {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => return self.string().map(Some),
            9 if depth == 0 => {
                let inner = self.u32()?;
                let n = self.u64()?;
                let mut parts = Vec::new();
                for _ in 0..n {
                    let v = self.value(inner, 1, false)?;
                    if collect {
                        parts.extend(v);
                    }
                }
                return Some((!parts.is_empty()).then(|| parts.join("\n")));
            }
            _ => return None,
        };
        self.take(size).map(|_| None)
    }
}

/// Bytes per block and elements per block of the ggml tensor types.
fn ggml_block(kind: u32) -> Option<(u64, u64)> {
    Some(match kind {
        0 => (4, 1),      // F32
        1 => (2, 1),      // F16
        2 => (18, 32),    // Q4_0
        3 => (20, 32),    // Q4_1
        6 => (22, 32),    // Q5_0
        7 => (24, 32),    // Q5_1
        8 => (34, 32),    // Q8_0
        9 => (36, 32),    // Q8_1
        10 => (84, 256),  // Q2_K
        11 => (110, 256), // Q3_K
        12 => (144, 256), // Q4_K
        13 => (176, 256), // Q5_K
        14 => (210, 256), // Q6_K
        15 => (292, 256), // Q8_K
        24 => (1, 1),     // I8
        25 => (2, 1),     // I16
        26 => (4, 1),     // I32
        27 => (8, 1),     // I64
        28 => (8, 1),     // F64
        30 => (2, 1),     // BF16
        _ => return None,
    })
}

/// Template constructs that lead from Jinja's sandbox-less environment to Python internals.
const TEMPLATE_RED_FLAGS: &[&str] = &[
    "__class__",
    "__mro__",
    "__subclasses__",
    "__globals__",
    "__builtins__",
    "__import__",
    "__init__",
    "__base__",
    "__bases__",
    "__getattribute__",
    "__dict__",
    "\\x5f\\x5f",
    "popen",
    "os.system",
    "subprocess",
    "eval(",
    "exec(",
    "self._TemplateReference__context",
    "cycler.",
    "joiner.",
    "lipsum.",
    "namespace.__",
    "request.application",
    "config.__",
    "|attr(",
];

pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location) {
    let bad = |offset: usize, m: &str| ScanError::Malformed {
        location: at.display(),
        format: "gguf".into(),
        offset: offset as u64,
        message: m.to_string(),
    };
    let mut r = Reader { d: data, pos: 4 };
    let Some(version) = r.u32() else {
        return ctx.error(bad(4, "truncated header"));
    };
    if !(2..=3).contains(&version) {
        return ctx.error(bad(
            4,
            &format!("GGUF version {version} (aisec reads 2 and 3)"),
        ));
    }
    let (Some(tensors), Some(kvs)) = (r.u64(), r.u64()) else {
        return ctx.error(bad(8, "truncated header"));
    };
    if tensors > 1 << 24 || kvs > 1 << 24 {
        return ctx.error(bad(
            8,
            &format!("{tensors} tensors and {kvs} metadata entries are implausible"),
        ));
    }
    let mut alignment = 32u64;
    for _ in 0..kvs {
        let at_kv = r.pos;
        let (Some(key), Some(kind)) = (r.string(), r.u32()) else {
            return ctx.error(bad(at_kv, "truncated metadata"));
        };
        // Keys are matched without case: a renderer that looks its template up loosely, or a
        // second template under its own name (`tokenizer.chat_template.tool_use`), is judged.
        let template_key = key.to_ascii_lowercase().contains("chat_template");
        let Some(value) = r.value(kind, 0, template_key) else {
            return ctx.error(bad(
                at_kv,
                &format!(
                    "metadata {key:?} of type {kind} runs past the end or has an unknown type"
                ),
            ));
        };
        if key == "general.alignment" {
            let b = &data[r.pos - 4..r.pos];
            alignment = u64::from(u32::from_le_bytes(b.try_into().expect("4"))).max(1);
        }
        if let Some(text) = value.filter(|_| template_key) {
            let lower = text.to_ascii_lowercase();
            let flags: Vec<&str> = TEMPLATE_RED_FLAGS
                .iter()
                .copied()
                .filter(|f| lower.contains(&f.to_ascii_lowercase()))
                .collect();
            if !flags.is_empty() {
                ctx.findings.push(
                    ScanFinding::new(
                        RuleId::GgufTemplateInjection,
                        Verdict::Dangerous,
                        at,
                        format!("{key} reaches Python internals ({}): a Jinja renderer without a sandbox runs it", flags.join(", ")),
                    )
                    .at(at_kv as u64),
                );
            }
            for (verdict, why) in super::jinja::judge(&text) {
                ctx.findings.push(
                    ScanFinding::new(
                        RuleId::GgufTemplateInjection,
                        verdict,
                        at,
                        format!("{key} {why}: what a template reaches Python internals with when a Jinja renderer has no sandbox"),
                    )
                    .at(at_kv as u64),
                );
            }
        }
    }
    let mut infos = Vec::new();
    for _ in 0..tensors {
        let at_t = r.pos;
        let Some(name) = r.string() else {
            return ctx.error(bad(at_t, "truncated tensor table"));
        };
        let Some(dims) = r.u32() else {
            return ctx.error(bad(at_t, "truncated tensor table"));
        };
        if dims > 8 {
            return ctx.error(bad(at_t, &format!("tensor {name:?} has {dims} dimensions")));
        }
        let mut count = 1u64;
        for _ in 0..dims {
            let Some(d) = r.u64() else {
                return ctx.error(bad(at_t, "truncated tensor table"));
            };
            count = count.saturating_mul(d);
        }
        let (Some(kind), Some(offset)) = (r.u32(), r.u64()) else {
            return ctx.error(bad(at_t, "truncated tensor table"));
        };
        infos.push((name, count, kind, offset, at_t));
    }
    let data_start = (r.pos as u64).div_ceil(alignment) * alignment;
    for (name, count, kind, offset, at_t) in infos {
        let Some((block_bytes, block_elems)) = ggml_block(kind) else {
            return ctx.error(ScanError::Unsupported {
                location: at.display(),
                message: format!("tensor {name:?} has ggml type {kind}, whose size aisec does not know, so its bounds cannot be checked"),
            });
        };
        let size = count.div_ceil(block_elems).saturating_mul(block_bytes);
        let end = data_start.saturating_add(offset).saturating_add(size);
        if end > data.len() as u64 || offset % alignment != 0 {
            ctx.findings.push(
                ScanFinding::new(
                    RuleId::GgufInvalid,
                    Verdict::Dangerous,
                    at,
                    format!("tensor {name:?} ({size} bytes at data offset {offset}) lies outside the {}-byte file or off its {alignment}-byte alignment", data.len()),
                )
                .at(at_t as u64),
            );
        }
    }
}
