//! Zip, read the way Python's `zipfile` and PyTorch's reader read it: the central directory
//! decides names, methods, sizes and offsets; the local header is only skipped over. CRC
//! errors and flag bits that one reader honours and another ignores do not stop the scan —
//! the data is scanned as a lenient loader would see it, and the disagreement is a finding.
//! Local entries missing from the central directory (visible to streaming readers) are
//! scanned as well.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, Role, ScanFinding};
use crate::sniff::{sniff, Format};
use crate::ScanError;

const LOCAL: &[u8] = b"PK\x03\x04";
const CENTRAL: &[u8] = b"PK\x01\x02";
const EOCD: &[u8] = b"PK\x05\x06";
const EOCD64: &[u8] = b"PK\x06\x06";
const EOCD64_LOCATOR: &[u8] = b"PK\x06\x07";

fn u16_at(d: &[u8], i: usize) -> Option<u64> {
    d.get(i..i + 2)
        .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
}

fn u32_at(d: &[u8], i: usize) -> Option<u64> {
    d.get(i..i + 4)
        .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
}

fn u64_at(d: &[u8], i: usize) -> Option<u64> {
    d.get(i..i + 8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub flags: u64,
    pub method: u64,
    pub crc: u64,
    pub compressed: u64,
    pub size: u64,
    /// Offset of the local header in the file.
    pub local: u64,
}

fn malformed(at: &Location, offset: u64, message: impl Into<String>) -> ScanError {
    ScanError::Malformed {
        location: at.display(),
        format: "zip".into(),
        offset,
        message: message.into(),
    }
}

/// The central directory: entries and the offset correction for data prepended to the zip.
pub fn central_directory(data: &[u8], at: &Location) -> Result<(Vec<Entry>, u64), ScanError> {
    let search_from = data.len().saturating_sub(22 + 65_535);
    let eocd = (search_from..=data.len().saturating_sub(22))
        .rev()
        .find(|&i| data[i..].starts_with(EOCD))
        .ok_or_else(|| malformed(at, 0, "no end-of-central-directory record"))?;
    let bad = |what: &str| malformed(at, eocd as u64, what.to_string());
    let mut count = u16_at(data, eocd + 10).ok_or_else(|| bad("truncated end record"))?;
    let mut cd_size = u32_at(data, eocd + 12).ok_or_else(|| bad("truncated end record"))?;
    let mut cd_offset = u32_at(data, eocd + 16).ok_or_else(|| bad("truncated end record"))?;
    let mut cd_end = eocd as u64;
    // Python's zipfile and PyTorch's reader look for the zip64 locator whether or not the
    // classic record is saturated: PyTorch 2.x writes the zip64 records into every file, so
    // the directory ends at the zip64 record, not at the classic one.
    if eocd >= 20 && data[eocd - 20..].starts_with(EOCD64_LOCATOR) {
        let pointed = u64_at(data, eocd - 20 + 8)
            .and_then(|v| usize::try_from(v).ok())
            .filter(|&z| data.get(z..).is_some_and(|d| d.starts_with(EOCD64)));
        // Python reads the record just before the locator; miniz follows the pointer. They
        // agree on every honest file; a pointer elsewhere is read as the loader would.
        let adjacent = eocd
            .checked_sub(20 + 56)
            .filter(|&z| data[z..].starts_with(EOCD64));
        let Some(z64) = pointed.or(adjacent) else {
            return Err(bad("the zip64 locator points at no zip64 end record"));
        };
        count = u64_at(data, z64 + 32).ok_or_else(|| bad("truncated zip64 end record"))?;
        cd_size = u64_at(data, z64 + 40).ok_or_else(|| bad("truncated zip64 end record"))?;
        cd_offset = u64_at(data, z64 + 48).ok_or_else(|| bad("truncated zip64 end record"))?;
        cd_end = z64 as u64;
    }
    // Bytes in front of the zip shift every offset (Python's "concat").
    let concat = cd_end
        .checked_sub(cd_size)
        .and_then(|v| v.checked_sub(cd_offset))
        .ok_or_else(|| bad("the central directory does not fit before its end record"))?;
    let mut entries = Vec::new();
    let mut pos = (cd_offset + concat) as usize;
    let end = pos.saturating_add(cd_size as usize).min(data.len());
    while pos < end {
        if !data[pos..].starts_with(CENTRAL) {
            return Err(malformed(
                at,
                pos as u64,
                "a central directory entry lacks its signature",
            ));
        }
        let field = |o: usize, w: usize| -> Result<u64, ScanError> {
            let v = if w == 2 {
                u16_at(data, pos + o)
            } else {
                u32_at(data, pos + o)
            };
            v.ok_or_else(|| malformed(at, pos as u64, "truncated central directory entry"))
        };
        let name_len = field(28, 2)? as usize;
        let extra_len = field(30, 2)? as usize;
        let comment_len = field(32, 2)? as usize;
        let name_bytes = data
            .get(pos + 46..pos + 46 + name_len)
            .ok_or_else(|| malformed(at, pos as u64, "the entry name runs past the end"))?;
        let flags = field(8, 2)?;
        // Bit 11: UTF-8 names; otherwise CP437, which Python decodes; latin-1 is close enough
        // for comparing and showing names.
        let name = if flags & 0x800 != 0 {
            String::from_utf8_lossy(name_bytes).into_owned()
        } else {
            name_bytes.iter().map(|b| *b as char).collect()
        };
        let mut e = Entry {
            name,
            flags,
            method: field(10, 2)?,
            crc: field(16, 4)?,
            compressed: field(20, 4)?,
            size: field(24, 4)?,
            local: field(42, 4)?,
        };
        let extra = data
            .get(pos + 46 + name_len..pos + 46 + name_len + extra_len)
            .unwrap_or(&[]);
        apply_zip64(&mut e, extra);
        e.local += concat;
        entries.push(e);
        pos += 46 + name_len + extra_len + comment_len;
    }
    if entries.len() as u64 != count {
        return Err(malformed(
            at,
            eocd as u64,
            format!(
                "the end record counts {count} entries, the central directory holds {}",
                entries.len()
            ),
        ));
    }
    Ok((entries, concat))
}

fn apply_zip64(e: &mut Entry, extra: &[u8]) {
    let mut i = 0;
    while i + 4 <= extra.len() {
        let id = u16_at(extra, i).unwrap_or(0);
        let len = u16_at(extra, i + 2).unwrap_or(0) as usize;
        if id == 1 {
            let mut j = i + 4;
            for field in [&mut e.size, &mut e.compressed, &mut e.local] {
                if *field == 0xffff_ffff {
                    if let Some(v) = u64_at(extra, j) {
                        *field = v;
                        j += 8;
                    }
                }
            }
        }
        i += 4 + len;
    }
}

struct Local {
    name: String,
    flags: u64,
    method: u64,
    crc: u64,
    compressed: u64,
    size: u64,
    data_start: u64,
}

fn local_header(data: &[u8], offset: u64) -> Option<Local> {
    let o = usize::try_from(offset).ok()?;
    if !data.get(o..)?.starts_with(LOCAL) {
        return None;
    }
    let name_len = u16_at(data, o + 26)? as usize;
    let extra_len = u16_at(data, o + 28)? as usize;
    let name = data
        .get(o + 30..o + 30 + name_len)?
        .iter()
        .map(|b| *b as char)
        .collect();
    Some(Local {
        name,
        flags: u16_at(data, o + 6)?,
        method: u16_at(data, o + 8)?,
        crc: u32_at(data, o + 14)?,
        compressed: u32_at(data, o + 18)?,
        size: u32_at(data, o + 22)?,
        data_start: offset + 30 + name_len as u64 + extra_len as u64,
    })
}

/// Whether `name` is a PyTorch storage record (`<root>/data/<n>`), raw tensor bytes that
/// `torch.load` never unpickles.
fn torch_storage(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    // `constants/N`: the storages of the tensors `constants.pkl` holds, which TorchScript's
    // freezing (`torch.jit.freeze`, `optimize_for_inference`) moves the weights into.
    parts.len() == 3
        && matches!(parts[1], "data" | "constants")
        && !parts[2].is_empty()
        && parts[2].bytes().all(|b| b.is_ascii_digit())
}

/// The tensor files of a `torch.export.save` archive (`.pt2`): raw bytes under
/// `<root>/data/weights/` and `<root>/data/constants/`, each named (`path_name`) by the JSON
/// config beside it, which `torch.export.load` reads as numbers (`use_pickle: true` ones are
/// pickles, which the scan recognises and emulates all the same). Only what a config names
/// counts: any other unrecognised member stays an error. The configs are read where stored
/// uncompressed, as PyTorch writes them.
fn pt2_tensors(data: &[u8], entries: &[Entry]) -> HashSet<String> {
    let mut out = HashSet::new();
    for e in entries {
        let Some(dir) = e
            .name
            .strip_suffix("/model_weights_config.json")
            .or_else(|| e.name.strip_suffix("/model_constants_config.json"))
        else {
            continue;
        };
        if e.method != 0 || !(dir.ends_with("/data/weights") || dir.ends_with("/data/constants")) {
            continue;
        }
        let Some(bytes) = local_header(data, e.local).and_then(|l| {
            let start = usize::try_from(l.data_start).ok()?;
            data.get(start..start.checked_add(usize::try_from(e.compressed).ok()?)?)
        }) else {
            continue;
        };
        let Ok(config) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            continue;
        };
        for tensor in config["config"]
            .as_object()
            .into_iter()
            .flat_map(|c| c.values())
        {
            if let Some(file) = tensor["path_name"].as_str().filter(|f| !f.contains('/')) {
                out.insert(format!("{dir}/{file}"));
            }
        }
    }
    out
}

pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location, depth: usize) {
    let (entries, concat) = match central_directory(data, at) {
        Ok(x) => x,
        Err(e) => return ctx.error(e),
    };
    ctx.members += entries.len();
    if ctx.members > ctx.limits.max_members {
        return ctx.error(ScanError::Budget {
            location: at.display(),
            message: format!("more than {} archive members", ctx.limits.max_members),
        });
    }
    let pt2 = pt2_tensors(data, &entries);
    let mut names: HashMap<&str, usize> = HashMap::new();
    for e in &entries {
        *names.entry(e.name.as_str()).or_default() += 1;
    }
    for (name, n) in &names {
        if *n > 1 {
            ctx.findings.push(ScanFinding::new(
                RuleId::ArchiveDuplicateName,
                Verdict::Dangerous,
                &at.child(*name),
                format!("{n} entries are named {name:?}; Python's zipfile reads the last, other readers the first — both are scanned"),
            ));
        }
    }
    let keras = names.contains_key("config.json")
        && (names.contains_key("metadata.json") || names.contains_key("model.weights.h5"));
    let all_names: Vec<&str> = names.keys().copied().collect();
    let mut spans: Vec<(u64, u64, &str)> = Vec::new();
    let mut central_offsets = HashSet::new();
    for e in &entries {
        let member = at.child(&e.name);
        central_offsets.insert(e.local);
        if crate::container::escapes(&e.name) {
            ctx.findings.push(
                ScanFinding::new(
                    RuleId::ArchivePathTraversal,
                    Verdict::Dangerous,
                    &member,
                    format!(
                        "the entry name {:?} is absolute or climbs out of the extraction folder",
                        e.name
                    ),
                )
                .at(e.local),
            );
        }
        let Some(local) = local_header(data, e.local) else {
            ctx.error(malformed(
                &member,
                e.local,
                "the central directory points at no local header",
            ));
            continue;
        };
        let mut mismatches = Vec::new();
        if local.name != e.name && local.name.as_bytes() != e.name.as_bytes() {
            mismatches.push(format!(
                "name {:?} here, {:?} in the central directory",
                local.name, e.name
            ));
        }
        if local.method != e.method {
            mismatches.push(format!(
                "method {} here, {} in the central directory",
                local.method, e.method
            ));
        }
        if local.flags & 0x8 == 0 && e.flags & 0x8 == 0 {
            if local.compressed != e.compressed && local.compressed != 0xffff_ffff {
                mismatches.push(format!(
                    "compressed size {} here, {} in the central directory",
                    local.compressed, e.compressed
                ));
            }
            if local.size != e.size && local.size != 0xffff_ffff {
                mismatches.push(format!(
                    "size {} here, {} in the central directory",
                    local.size, e.size
                ));
            }
            if local.crc != e.crc {
                mismatches.push(format!(
                    "CRC {:08x} here, {:08x} in the central directory",
                    local.crc, e.crc
                ));
            }
        }
        if !mismatches.is_empty() {
            ctx.findings.push(
                ScanFinding::new(
                    RuleId::ZipHeaderMismatch,
                    Verdict::Dangerous,
                    &member,
                    format!(
                        "the local header disagrees with the central directory: {}",
                        mismatches.join("; ")
                    ),
                )
                .at(e.local),
            );
        }
        if e.flags & 0x1 != 0 || local.flags & 0x1 != 0 || (local.flags ^ e.flags) & !0x8 != 0 {
            ctx.findings.push(
                ScanFinding::new(
                    RuleId::ZipOddFlags,
                    Verdict::Unknown,
                    &member,
                    format!(
                        "flag bits {:#06x} (central) / {:#06x} (local){}: Python's zipfile asks for a password, PyTorch reads the data as is — scanned as PyTorch reads it",
                        e.flags,
                        local.flags,
                        if e.flags & 0x1 != 0 { ", encrypted bit set" } else { "" }
                    ),
                )
                .at(e.local),
            );
        }
        let start = local.data_start;
        let end = start.saturating_add(e.compressed);
        spans.push((e.local, end, e.name.as_str()));
        let Some(raw) = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, t)| data.get(s..t))
        else {
            ctx.error(malformed(
                &member,
                e.local,
                format!(
                    "the entry's {} bytes run past the end of the archive",
                    e.compressed
                ),
            ));
            continue;
        };
        let role = if torch_storage(&e.name) || pt2.contains(&e.name) {
            Role::RawData
        } else {
            Role::Artifact
        };
        scan_member(
            ctx,
            raw,
            e.method,
            e.size,
            e.crc,
            &member,
            e.flags | local.flags,
            depth,
            role,
            if keras && e.name == "config.json" {
                MemberCheck::KerasConfig
            } else if crate::formats::torchscript::is_code_member(&e.name, &all_names) {
                MemberCheck::TorchScriptCode
            } else if e.name == "bytecode.pkl" || e.name.ends_with("/bytecode.pkl") {
                MemberCheck::TorchScriptBytecode
            } else {
                MemberCheck::None
            },
        );
    }
    spans.sort();
    for pair in spans.windows(2) {
        if pair[1].0 < pair[0].1 {
            ctx.findings.push(
                ScanFinding::new(
                    RuleId::ZipOverlappingEntries,
                    Verdict::Dangerous,
                    &at.child(pair[1].2),
                    format!(
                        "the entry overlaps {:?}: its header starts inside that entry's data",
                        pair[0].2
                    ),
                )
                .at(pair[1].0),
            );
        }
    }
    hidden_local_entries(ctx, data, concat, &central_offsets, at, depth);
}

/// What a member is read as besides its own format, by its place in the archive.
#[derive(Clone, Copy)]
enum MemberCheck {
    None,
    /// A Keras 3 archive's `config.json`: layers and the modules they name.
    KerasConfig,
    /// TorchScript source under `code/`: the operators it calls.
    TorchScriptCode,
    /// A mobile archive's `bytecode.pkl`: the operator table the lite interpreter runs.
    TorchScriptBytecode,
}

#[allow(clippy::too_many_arguments)]
fn scan_member(
    ctx: &mut Ctx,
    raw: &[u8],
    method: u64,
    size: u64,
    crc: u64,
    member: &Location,
    flags: u64,
    depth: usize,
    role: Role,
    check: MemberCheck,
) {
    let encrypted = flags & 0x1 != 0;
    if encrypted {
        // PyTorch's reader ignores the bit and reads the bytes as they are, so plaintext behind
        // a set bit is scanned; real ciphertext cannot be inspected and fails closed.
        let plain = match method {
            0 => sniff(raw),
            8 => {
                let mut head = Vec::new();
                match flate2::read::DeflateDecoder::new(raw)
                    .take(4096)
                    .read_to_end(&mut head)
                {
                    Ok(_) => sniff(&head),
                    Err(_) => Format::Unknown,
                }
            }
            _ => Format::Unknown,
        };
        if matches!(plain, Format::Unknown | Format::Text) {
            return ctx.error(ScanError::Unsupported {
                location: member.display(),
                message: "an encrypted member (zip encryption bit set): its content cannot be inspected without the password; decrypt it and scan the contents".into(),
            });
        }
    }
    let content = match method {
        0 => {
            // ZipCrypto puts a 12-byte header before the data.
            if raw.len() as u64 != size && !(encrypted && raw.len() as u64 == size + 12) {
                ctx.findings.push(ScanFinding::new(
                    RuleId::ZipHeaderMismatch,
                    Verdict::Dangerous,
                    member,
                    format!(
                        "a stored entry of {} bytes claims to hold {size}",
                        raw.len()
                    ),
                ));
            }
            std::borrow::Cow::Borrowed(raw)
        }
        8 => match super::compress::read_bounded(
            ctx,
            flate2::read::DeflateDecoder::new(raw),
            raw.len(),
            member,
            "deflate",
        ) {
            Ok(v) => std::borrow::Cow::Owned(v),
            Err(e) => return ctx.error(e),
        },
        12 => match super::compress::read_bounded(
            ctx,
            bzip2::read::BzDecoder::new(raw),
            raw.len(),
            member,
            "bzip2",
        ) {
            Ok(v) => std::borrow::Cow::Owned(v),
            Err(e) => return ctx.error(e),
        },
        other => {
            return ctx.error(ScanError::Unsupported {
                location: member.display(),
                message: format!(
                    "zip compression method {other} (aisec reads stored, deflate and bzip2)"
                ),
            })
        }
    };
    let mut hasher = flate2::Crc::new();
    hasher.update(&content);
    if u64::from(hasher.sum()) != crc {
        ctx.findings.push(ScanFinding::new(
            RuleId::ZipBadCrc,
            Verdict::Unknown,
            member,
            format!(
                "CRC-32 of the data is {:08x}, the directory says {crc:08x}: Python's zipfile refuses the entry, PyTorch loads it — scanned",
                hasher.sum()
            ),
        ));
    }
    match check {
        MemberCheck::KerasConfig => crate::formats::keras::scan_config(ctx, &content, member),
        MemberCheck::TorchScriptCode => {
            crate::formats::torchscript::scan_code(ctx, &content, member)
        }
        MemberCheck::TorchScriptBytecode => {
            crate::formats::torchscript::scan_bytecode(ctx, &content, member)
        }
        MemberCheck::None => {}
    }
    ctx.scan(&content, member, depth + 1, role);
}

/// Walks local headers from the start as a streaming reader would, and scans entries the
/// central directory does not list.
fn hidden_local_entries(
    ctx: &mut Ctx,
    data: &[u8],
    concat: u64,
    listed: &HashSet<u64>,
    at: &Location,
    depth: usize,
) {
    let mut offset = concat;
    while let Some(local) = local_header(data, offset) {
        let end = local.data_start.saturating_add(local.compressed);
        if !listed.contains(&offset) {
            let member = at.child(format!("{} (local header only)", local.name));
            ctx.findings.push(
                ScanFinding::new(
                    RuleId::ZipHeaderMismatch,
                    Verdict::Dangerous,
                    &member,
                    "a local entry the central directory does not list: streaming readers see it, others do not".into(),
                )
                .at(offset),
            );
            if let Some(raw) = data.get(local.data_start as usize..(end as usize).min(data.len())) {
                scan_member(
                    ctx,
                    raw,
                    local.method,
                    local.size,
                    local.crc,
                    &member,
                    local.flags,
                    depth,
                    Role::Artifact,
                    MemberCheck::None,
                );
            }
        }
        if local.flags & 0x8 != 0 && local.compressed == 0 {
            break; // sizes only in a data descriptor: the walk cannot continue reliably
        }
        let mut next = end;
        if local.flags & 0x8 != 0 {
            next += if data
                .get(next as usize..)
                .is_some_and(|d| d.starts_with(b"PK\x07\x08"))
            {
                16
            } else {
                12
            };
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
}
