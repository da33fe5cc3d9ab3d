//! 7z archives, opened with a pure-Rust decoder (sevenz-rust2) under the same budgets as the
//! other containers: each member's decoded size is capped by the member limit and by what is
//! left of the file's decompression budget. Encrypted archives cannot be inspected and fail
//! closed by name.

use std::io::{Cursor, Read};

use sevenz_rust2::{ArchiveReader, Password};

use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, Role, ScanFinding};
use crate::ScanError;

fn error(at: &Location, e: &sevenz_rust2::Error) -> ScanError {
    let message = e.to_string();
    let lower = message.to_lowercase();
    if lower.contains("password") || lower.contains("aes") {
        ScanError::Unsupported {
            location: at.display(),
            message: format!("an encrypted 7z archive ({message}): its content cannot be inspected without the password; decrypt it and scan the contents"),
        }
    } else {
        ScanError::Malformed {
            location: at.display(),
            format: "7z".into(),
            offset: 0,
            message,
        }
    }
}

pub fn scan(ctx: &mut Ctx, data: &[u8], at: &Location, depth: usize) {
    let mut reader = match ArchiveReader::new(Cursor::new(data), Password::empty()) {
        Ok(r) => r,
        Err(e) => return ctx.error(error(at, &e)),
    };
    let count = reader.archive().files.len();
    ctx.members += count;
    if ctx.members > ctx.limits.max_members {
        return ctx.error(ScanError::Budget {
            location: at.display(),
            message: format!("more than {} archive members", ctx.limits.max_members),
        });
    }
    let mut left = ctx
        .limits
        .max_decompressed_bytes
        .saturating_sub(ctx.decompressed);
    let member_limit = ctx.limits.max_member_bytes;
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut over: Option<String> = None;
    // Solid archives decode members in order, so all are read before any is scanned.
    let walked = reader.for_each_entries(|entry, stream| {
        if entry.is_directory() || !entry.has_stream {
            return Ok(true);
        }
        let cap = member_limit.min(left);
        let mut buf = Vec::new();
        stream.take(cap.saturating_add(1)).read_to_end(&mut buf)?;
        if buf.len() as u64 > cap {
            over = Some(entry.name().to_string());
            return Ok(false);
        }
        left -= buf.len() as u64;
        members.push((entry.name().to_string(), buf));
        Ok(true)
    });
    for (name, content) in &members {
        let member = at.child(name.as_str());
        if let Err(e) = ctx.charge_decompressed(content.len() as u64, &member) {
            return ctx.error(e);
        }
        if crate::container::escapes(name) {
            ctx.findings.push(ScanFinding::new(
                RuleId::ArchivePathTraversal,
                Verdict::Dangerous,
                &member,
                format!(
                    "the entry name {name:?} is absolute or climbs out of the extraction folder"
                ),
            ));
        }
        ctx.scan(content, &member, depth + 1, Role::Artifact);
    }
    if let Some(name) = over {
        ctx.error(ScanError::Budget {
            location: at.child(name.as_str()).display(),
            message: format!(
                "decompresses to more than {} bytes (member limit {member_limit}, file limit {}): decompression bomb?",
                member_limit.min(left),
                ctx.limits.max_decompressed_bytes
            ),
        });
    } else if let Err(e) = walked {
        ctx.error(error(at, &e));
    }
}
