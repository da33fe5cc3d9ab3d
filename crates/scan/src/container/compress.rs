//! Single-stream decompression under the file's byte budget: output is read in chunks and
//! the scan stops as soon as a member or the whole file passes its limit, so a decompression
//! bomb costs at most the budget, never the bomb's size.

use std::io::Read;

use crate::scanner::{Ctx, Location};
use crate::sniff::Format;
use crate::ScanError;

pub fn decompress(
    ctx: &mut Ctx,
    format: Format,
    data: &[u8],
    at: &Location,
) -> Result<Vec<u8>, ScanError> {
    match format {
        Format::Gzip => read_bounded(ctx, flate2::read::MultiGzDecoder::new(data), at, "gzip"),
        Format::Zlib => read_bounded(ctx, flate2::read::ZlibDecoder::new(data), at, "zlib"),
        Format::Bzip2 => read_bounded(ctx, bzip2::read::MultiBzDecoder::new(data), at, "bzip2"),
        Format::Xz => {
            // lzma-rs writes into a sink; a bounded writer stops it at the budget.
            let limit = member_limit(ctx);
            let mut sink = Bounded {
                buf: Vec::new(),
                limit,
            };
            let mut input = std::io::BufReader::new(data);
            match lzma_rs::xz_decompress(&mut input, &mut sink) {
                Ok(()) => {
                    ctx.charge_decompressed(sink.buf.len() as u64, at)?;
                    Ok(sink.buf)
                }
                Err(_) if sink.buf.len() as u64 >= limit => Err(over(ctx, at)),
                Err(e) => Err(ScanError::Malformed {
                    location: at.display(),
                    format: "xz".into(),
                    offset: 0,
                    message: e.to_string(),
                }),
            }
        }
        other => Err(ScanError::Unsupported {
            location: at.display(),
            message: format!("no decompressor for {}", other.as_str()),
        }),
    }
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

/// Reads a decompressing reader to the end or to the budget.
pub fn read_bounded(
    ctx: &mut Ctx,
    reader: impl Read,
    at: &Location,
    what: &str,
) -> Result<Vec<u8>, ScanError> {
    let limit = member_limit(ctx);
    let mut out = Vec::new();
    let mut limited = reader.take(limit.saturating_add(1));
    if let Err(e) = limited.read_to_end(&mut out) {
        return Err(ScanError::Malformed {
            location: at.display(),
            format: what.into(),
            offset: 0,
            message: e.to_string(),
        });
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
}

impl std::io::Write for Bounded {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + b.len() as u64 > self.limit {
            return Err(std::io::Error::other("decompression budget"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
