//! Tar (ustar, GNU long names, pax path records, pre-POSIX headers), as the legacy PyTorch
//! format and many model bundles use it.

use std::collections::HashMap;

use super::legacy_torch;
use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, Role, ScanFinding};
use crate::sniff::Format;
use crate::ScanError;

fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256 for large sizes.
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    let text: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    let t = text.trim();
    if t.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(t, 8).ok()
}

fn cstr(field: &[u8]) -> String {
    field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect()
}

pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location, depth: usize) {
    let mut pos = 0usize;
    let mut long_name: Option<String> = None;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut members: Vec<(String, usize, usize)> = Vec::new();
    while pos + 512 <= data.len() {
        let h = &data[pos..pos + 512];
        if h.iter().all(|b| *b == 0) {
            break;
        }
        let Some(size) = octal(&h[124..136]) else {
            return ctx.error(ScanError::Malformed {
                location: at.display(),
                format: "tar".into(),
                offset: pos as u64 + 124,
                message: "the size field is not octal".into(),
            });
        };
        let body = pos + 512;
        let Some(end) = usize::try_from(size)
            .ok()
            .and_then(|s| body.checked_add(s))
            .filter(|e| *e <= data.len())
        else {
            return ctx.error(ScanError::Malformed {
                location: at.display(),
                format: "tar".into(),
                offset: pos as u64,
                message: format!("an entry of {size} bytes runs past the end"),
            });
        };
        let kind = h[156];
        let mut name = cstr(&h[0..100]);
        if &h[257..262] == b"ustar" {
            let prefix = cstr(&h[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        if let Some(n) = long_name.take() {
            name = n;
        }
        match kind {
            b'L' => long_name = Some(cstr(&data[body..end])),
            b'x' => {
                let records = String::from_utf8_lossy(&data[body..end]);
                long_name = records
                    .lines()
                    .find_map(|l| l.split_once(" path=").map(|(_, p)| p.to_string()));
            }
            b'1' | b'2' => {
                let target = cstr(&h[157..257]);
                if crate::container::escapes(&target) || crate::container::escapes(&name) {
                    ctx.findings.push(
                        ScanFinding::new(
                            RuleId::ArchivePathTraversal,
                            Verdict::Dangerous,
                            &at.child(&name),
                            format!("a link to {target:?} that leaves the extraction folder"),
                        )
                        .at(pos as u64),
                    );
                }
            }
            b'0' | 0 | b'7' => {
                ctx.members += 1;
                if ctx.members > ctx.limits.max_members {
                    return ctx.error(ScanError::Budget {
                        location: at.display(),
                        message: format!("more than {} archive members", ctx.limits.max_members),
                    });
                }
                *seen.entry(name.clone()).or_default() += 1;
                if crate::container::escapes(&name) {
                    ctx.findings.push(
                        ScanFinding::new(
                            RuleId::ArchivePathTraversal,
                            Verdict::Dangerous,
                            &at.child(&name),
                            format!("the entry name {name:?} is absolute or climbs out of the extraction folder"),
                        )
                        .at(pos as u64),
                    );
                }
                members.push((name, body, end));
            }
            _ => {}
        }
        pos = body + (size as usize).div_ceil(512) * 512;
    }
    for (name, n) in &seen {
        if *n > 1 {
            ctx.findings.push(ScanFinding::new(
                RuleId::ArchiveDuplicateName,
                Verdict::Dangerous,
                &at.child(name),
                format!(
                    "{n} entries are named {name:?}; extraction keeps the last — all are scanned"
                ),
            ));
        }
    }
    // Legacy torch.save tars keep raw tensor bytes between the pickles of two members.
    let legacy_torch = seen.contains_key("sys_info") && seen.contains_key("pickle");
    for (name, body, end) in members {
        let member = at.child(&name);
        let records = match name.as_str() {
            "storages" if legacy_torch => Some(legacy_torch::Member::Storages),
            "tensors" if legacy_torch => Some(legacy_torch::Member::Tensors),
            _ => None,
        };
        match records {
            Some(kind) => {
                ctx.parts
                    .push((member.member().unwrap_or_default(), Format::Pickle));
                legacy_torch::scan(ctx, &data[body..end], &member, kind);
            }
            None => ctx.scan(&data[body..end], &member, depth + 1, Role::Artifact),
        }
    }
}
