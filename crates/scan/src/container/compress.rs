//! Single-stream decompression under the file's byte budget: output is read in chunks and
//! the scan stops as soon as a member or the whole file passes its limit, so a decompression
//! bomb costs at most the budget, never the bomb's size.

use std::io::Read;

use crate::policy::Verdict;
use crate::rules::RuleId;
use crate::scanner::{Ctx, Location, ScanFinding};
use crate::sniff::Format;
use crate::ScanError;

pub fn decompress(
    ctx: &mut Ctx,
    format: Format,
    data: &[u8],
    at: &Location,
) -> Result<Vec<u8>, ScanError> {
    match format {
        Format::Gzip => read_bounded(
            ctx,
            flate2::read::MultiGzDecoder::new(data),
            data.len(),
            at,
            "gzip",
        ),
        Format::Zlib => read_bounded(
            ctx,
            flate2::read::ZlibDecoder::new(data),
            data.len(),
            at,
            "zlib",
        ),
        Format::Bzip2 => read_bounded(
            ctx,
            bzip2::read::MultiBzDecoder::new(data),
            data.len(),
            at,
            "bzip2",
        ),
        Format::Xz | Format::Lzma => {
            // lzma-rs writes into a sink; a bounded writer stops it at the budget.
            let budget = member_limit(ctx);
            let bomb_at = bomb_threshold(data.len());
            let limit = budget.min(bomb_at);
            let mut sink = Bounded {
                buf: Vec::new(),
                limit,
                exceeded: false,
            };
            let mut input = std::io::BufReader::new(data);
            let result = if format == Format::Xz {
                lzma_rs::xz_decompress(&mut input, &mut sink)
            } else {
                lzma_rs::lzma_decompress(&mut input, &mut sink)
            };
            match result {
                Ok(()) => {
                    ctx.charge_decompressed(sink.buf.len() as u64, at)?;
                    Ok(sink.buf)
                }
                Err(_) if sink.exceeded && bomb_at <= budget => {
                    Err(bomb(ctx, data.len(), bomb_at, at, format.as_str()))
                }
                Err(_) if sink.exceeded => Err(over(ctx, at)),
                Err(e) => Err(ScanError::Malformed {
                    location: at.display(),
                    format: format.as_str().into(),
                    offset: 0,
                    message: e.to_string(),
                }),
            }
        }
        Format::Zstd => zstd(ctx, data, at),
        other => Err(ScanError::Unsupported {
            location: at.display(),
            message: format!("no decompressor for {}", other.as_str()),
        }),
    }
}

/// A zstd stream is one or more frames, skippable frames among them (RFC 8878); each is
/// decoded in turn under one budget.
fn zstd(ctx: &mut Ctx, data: &[u8], at: &Location) -> Result<Vec<u8>, ScanError> {
    let malformed = |offset: usize, message: String| ScanError::Malformed {
        location: at.display(),
        format: "zstd".into(),
        offset: offset as u64,
        message,
    };
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let offset = data.len() - rest.len();
        let magic = rest
            .get(..4)
            .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
        if magic.is_some_and(|m| m & 0xffff_fff0 == 0x184d_2a50) {
            let len = rest
                .get(4..8)
                .map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
                .ok_or_else(|| malformed(offset, "a truncated skippable frame".into()))?;
            rest = rest
                .get(8 + len..)
                .ok_or_else(|| malformed(offset, "a skippable frame runs past the end".into()))?;
            continue;
        }
        let mut source = rest;
        let decoder = ruzstd::decoding::StreamingDecoder::new(&mut source)
            .map_err(|e| malformed(offset, e.to_string()))?;
        let frame = read_bounded(ctx, decoder, rest.len(), at, "zstd")?;
        out.extend_from_slice(&frame);
        if source.len() == rest.len() {
            break;
        }
        rest = source;
    }
    Ok(out)
}

fn member_limit(ctx: &Ctx) -> u64 {
    ctx.limits.max_member_bytes.min(
        ctx.limits
            .max_decompressed_bytes
            .saturating_sub(ctx.decompressed),
    )
}

fn over(ctx: &Ctx, at: &Location) -> ScanError {
    ScanError::Budget {
        location: at.display(),
        message: format!(
            "decompresses to more than {} bytes (member limit {}, file limit {}): decompression bomb?",
            member_limit(ctx),
            ctx.limits.max_member_bytes,
            ctx.limits.max_decompressed_bytes
        ),
    }
}

/// Expansion past which a compressed stream is a bomb: model data (float weights, pickles,
/// JSON) compresses a few times at most; deflate's own ceiling is about 1,032×, so 200× of
/// at least [`BOMB_MIN_BYTES`] is a stream made of one repeated byte or a crafted nest.
pub const BOMB_RATIO: u64 = 200;
/// A small repeated tensor may compress 1,000× legitimately; below this size it is no threat.
pub const BOMB_MIN_BYTES: u64 = 16 << 20;

fn bomb_threshold(compressed: usize) -> u64 {
    (compressed as u64)
        .saturating_mul(BOMB_RATIO)
        .max(BOMB_MIN_BYTES)
}

/// Records the bomb finding and returns the error that stops the expansion.
fn bomb(ctx: &mut Ctx, compressed: usize, bomb_at: u64, at: &Location, what: &str) -> ScanError {
    ctx.findings.push(ScanFinding::new(
        RuleId::DecompressionBomb,
        Verdict::Suspicious,
        at,
        format!(
            "{compressed} {what}-compressed bytes expand past {bomb_at} bytes (over {BOMB_RATIO}×) and were not expanded further: a decompression bomb"
        ),
    ));
    ScanError::Budget {
        location: at.display(),
        message: format!(
            "stopped expanding at {bomb_at} bytes, over {BOMB_RATIO}× its {compressed} compressed bytes (decompression bomb)"
        ),
    }
}

/// Reads a decompressing reader of `compressed` bytes to the end or to the budget, judging
/// the expansion as it streams: past [`BOMB_RATIO`]× (and [`BOMB_MIN_BYTES`]) it stops
/// reading and reports a decompression bomb (AML.T0029), so a bomb costs at most that much.
pub fn read_bounded(
    ctx: &mut Ctx,
    reader: impl Read,
    compressed: usize,
    at: &Location,
    what: &str,
) -> Result<Vec<u8>, ScanError> {
    let limit = member_limit(ctx);
    let bomb_at = bomb_threshold(compressed);
    let mut out = Vec::new();
    let mut limited = reader.take(limit.min(bomb_at).saturating_add(1));
    if let Err(e) = limited.read_to_end(&mut out) {
        return Err(ScanError::Malformed {
            location: at.display(),
            format: what.into(),
            offset: 0,
            message: e.to_string(),
        });
    }
    if out.len() as u64 > bomb_at && bomb_at <= limit {
        return Err(bomb(ctx, compressed, bomb_at, at, what));
    }
    if out.len() as u64 > limit {
        return Err(over(ctx, at));
    }
    ctx.charge_decompressed(out.len() as u64, at)?;
    Ok(out)
}

struct Bounded {
    buf: Vec<u8>,
    limit: u64,
    exceeded: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + b.len() as u64 > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("decompression budget"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
