//! Reading operands from the stream: fixed-width integers, lengths, newline-terminated text
//! operands, and the string, bytes and integer values built from them.

use super::{Blob, FrameReading, Machine, Step};
use crate::pickle::value::{Node, Val, V};

impl<'a> Machine<'a> {
    /// Before reading `n` operand bytes: the current frame ends, or the read crosses its end
    /// (recorded). CPython's C unpickler copies the rest of the frame into a fixed-size read
    /// but not into a line: a line it cannot finish in the frame is read from the file anew,
    /// so with [`FrameReading::DropFrameRest`] a crossing line starts at the frame's end.
    fn cross_frame(&mut self, n: usize, at: usize, line: bool) {
        let Some(end) = self.frame_end else { return };
        if self.pos >= end {
            self.frame_end = None;
        } else if self.pos.saturating_add(n) > end {
            self.trace.frame_straddles.push(at);
            self.frame_end = None;
            if line && self.frame_reading == FrameReading::DropFrameRest {
                self.pos = end;
            }
        }
    }

    pub(super) fn take(&mut self, n: usize, at: usize, what: &str) -> Step<&'a [u8]> {
        self.cross_frame(n, at, false);
        let data = self.data;
        match self.pos.checked_add(n).filter(|end| *end <= data.len()) {
            Some(end) => {
                let s = &data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => self.fail(at, format!("{what}: the pickle ends inside its operand")),
        }
    }

    pub(super) fn line(&mut self, at: usize, what: &str) -> Step<&'a [u8]> {
        if self.frame_end.is_some() {
            let data = self.data;
            let n = data[self.pos.min(data.len())..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(usize::MAX, |i| i + 1);
            self.cross_frame(n, at, true);
        }
        let data = self.data;
        match data[self.pos.min(data.len())..]
            .iter()
            .position(|b| *b == b'\n')
        {
            Some(i) => {
                let s = &data[self.pos..self.pos + i];
                self.pos += i + 1;
                Ok(s)
            }
            None => self.fail(at, format!("{what}: no newline ends the operand")),
        }
    }

    pub(super) fn text_line(&mut self, at: usize, what: &str) -> Step<String> {
        let raw = self.line(at, what)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => self.fail(at, format!("{what}: the operand is not UTF-8")),
        }
    }

    pub(super) fn u8(&mut self, at: usize, what: &str) -> Step<usize> {
        Ok(self.take(1, at, what)?[0] as usize)
    }

    pub(super) fn u16(&mut self, at: usize, what: &str) -> Step<usize> {
        let b = self.take(2, at, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]) as usize)
    }

    pub(super) fn u32(&mut self, at: usize, what: &str) -> Step<u32> {
        let b = self.take(4, at, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn u64(&mut self, at: usize, what: &str) -> Step<u64> {
        let b = self.take(8, at, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    pub(super) fn len_u64(&mut self, at: usize, what: &str) -> Step<usize> {
        let n = self.u64(at, what)?;
        usize::try_from(n).or_else(|_| self.fail(at, format!("{what}: length {n} does not fit")))
    }

    pub(super) fn memo_key(&self, s: &str, at: usize, op: &str) -> Step<u64> {
        s.trim()
            .parse::<u64>()
            .or_else(|_| self.fail(at, format!("{op}: {s:?} is not a memo key")))
    }

    pub(super) fn parse_int(&self, s: &str, at: usize, op: &str) -> Step<V> {
        let t = s.trim();
        if let Ok(i) = t.parse::<i64>() {
            return Ok(V::Int(i));
        }
        let digits = t.strip_prefix('-').unwrap_or(t);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(V::BigInt(digits.len() / 2 + 1));
        }
        self.fail(at, format!("{op}: {s:?} is not an integer"))
    }

    fn raw_blob(&mut self, start: usize, len: usize, at: usize, text: bool) {
        if len >= crate::pickle::embedded::MIN_LEN {
            self.trace.blobs.push(Blob::Raw {
                offset: at,
                start,
                len,
                text,
            });
        }
    }

    pub(super) fn decoded_blob(&mut self, s: &str, at: usize) {
        if s.len() >= crate::pickle::embedded::MIN_LEN {
            self.trace.blobs.push(Blob::Decoded {
                offset: at,
                text: s.to_string(),
            });
        }
    }

    pub(super) fn push_bytes(&mut self, n: usize, at: usize, op: &str) -> Step<()> {
        self.take(n, at, op)?;
        let start = self.pos - n;
        self.raw_blob(start, n, at, false);
        self.push(Node::shared(Val::Bytes { start, len: n }), at)
    }

    pub(super) fn push_utf8(&mut self, n: usize, at: usize, op: &str) -> Step<()> {
        self.take(n, at, op)?;
        let start = self.pos - n;
        self.raw_blob(start, n, at, true);
        // Python decodes with surrogatepass; lone surrogates are rare and harmless to replace,
        // which is done when the text is read.
        let v = match u32::try_from(n) {
            Ok(len) => V::Utf8 { start, len },
            Err(_) => V::owned(String::from_utf8_lossy(&self.data[start..start + n]).into_owned()),
        };
        self.push(v, at)
    }

    /// Python 3 decodes protocol-2 byte strings as ASCII by default (encoding="ASCII"); torch
    /// and numpy pass "latin1" or "bytes". Names in them are what matters here, so latin-1.
    pub(super) fn push_bytes_as_str(&mut self, n: usize, at: usize, op: &str) -> Step<()> {
        self.take(n, at, op)?;
        let start = self.pos - n;
        self.raw_blob(start, n, at, true);
        let v = match u32::try_from(n) {
            Ok(len) => V::Latin1 { start, len },
            Err(_) => V::owned(
                self.data[start..start + n]
                    .iter()
                    .map(|b| *b as char)
                    .collect(),
            ),
        };
        self.push(v, at)
    }
}
