//! UBJSON (Universal Binary JSON), XGBoost's default model format since 2.1 (`.ubj`): a
//! binary JSON document that XGBoost reads as numbers, strings and containers — no code. It
//! is recognised by parsing the whole document (every marker, length and count checked
//! against the bytes that remain, nesting bounded), so random bytes that open with `{` are not
//! taken for it.

/// Deeper nesting than any model needs; a bound, so a crafted file cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn skip(&mut self, n: u64) -> Option<()> {
        let end = self.pos.checked_add(usize::try_from(n).ok()?)?;
        (end <= self.data.len()).then(|| self.pos = end)
    }

    fn int_of(&mut self, marker: u8) -> Option<u64> {
        let width = match marker {
            b'i' | b'U' => 1,
            b'I' => 2,
            b'l' => 4,
            b'L' => 8,
            _ => return None,
        };
        let bytes = self.data.get(self.pos..self.pos + width)?;
        self.pos += width;
        let value = bytes.iter().fold(0i128, |v, b| v << 8 | i128::from(*b));
        let signed = match (marker, width) {
            (b'U', _) => value,
            (_, w) if ((value >> (8 * w - 1)) & 1) == 1 => value - (1i128 << (8 * w)),
            _ => value,
        };
        u64::try_from(signed).ok()
    }

    fn length(&mut self) -> Option<u64> {
        let m = self.byte()?;
        self.int_of(m)
    }

    /// A value whose marker is `marker`.
    fn value(&mut self, marker: u8, depth: usize) -> Option<()> {
        match marker {
            b'Z' | b'N' | b'T' | b'F' => Some(()),
            b'i' | b'U' | b'C' => self.skip(1),
            b'I' => self.skip(2),
            b'l' | b'd' => self.skip(4),
            b'L' | b'D' => self.skip(8),
            b'S' | b'H' => {
                let n = self.length()?;
                self.skip(n)
            }
            b'[' | b'{' => self.container(marker == b'{', depth + 1),
            _ => None,
        }
    }

    fn container(&mut self, object: bool, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut typed = None;
        let mut count = None;
        if self.data.get(self.pos) == Some(&b'$') {
            self.pos += 1;
            typed = Some(self.byte()?);
        }
        if self.data.get(self.pos) == Some(&b'#') {
            self.pos += 1;
            count = Some(self.length()?);
        } else if typed.is_some() {
            return None;
        }
        match count {
            Some(n) => {
                // Every element takes at least one byte (a typed container of Z/N/T/F takes
                // none, which this parser refuses rather than loop over).
                if n > (self.data.len() - self.pos) as u64 + 1 {
                    return None;
                }
                for _ in 0..n {
                    if object {
                        let k = self.length()?;
                        self.skip(k)?;
                    }
                    let marker = match typed {
                        Some(b'Z' | b'N' | b'T' | b'F') => return None,
                        Some(t) => t,
                        None => self.byte()?,
                    };
                    self.value(marker, depth)?;
                }
                Some(())
            }
            None => loop {
                let next = *self.data.get(self.pos)?;
                if next == if object { b'}' } else { b']' } {
                    self.pos += 1;
                    return Some(());
                }
                if object {
                    let k = self.length()?;
                    self.skip(k)?;
                }
                let marker = self.byte()?;
                self.value(marker, depth)?;
            },
        }
    }
}

/// A whole UBJSON document holding one object, nothing after it.
pub fn looks_like_ubjson(data: &[u8]) -> bool {
    if data.first() != Some(&b'{')
        || !matches!(
            data.get(1),
            Some(b'i' | b'U' | b'I' | b'l' | b'L' | b'$' | b'#')
        )
    {
        return false;
    }
    let mut r = Reader { data, pos: 1 };
    r.container(true, 1).is_some() && r.pos == data.len()
}

#[cfg(test)]
mod tests {
    use super::looks_like_ubjson;

    /// `{"learner": {"n": 3, "w": [1.5f32, 2.5f32]}}` as XGBoost writes it: int64 key lengths,
    /// a typed, counted float32 array.
    fn model() -> Vec<u8> {
        let mut d = b"{L\0\0\0\0\0\0\0\x07learner{L\0\0\0\0\0\0\0\x01nl\0\0\0\x03".to_vec();
        d.extend_from_slice(b"L\0\0\0\0\0\0\0\x01w[$d#L\0\0\0\0\0\0\0\x02");
        d.extend_from_slice(&1.5f32.to_be_bytes());
        d.extend_from_slice(&2.5f32.to_be_bytes());
        d.extend_from_slice(b"}}");
        d
    }

    #[test]
    fn whole_documents_only() {
        let d = model();
        assert!(looks_like_ubjson(&d));
        assert!(!looks_like_ubjson(&d[..d.len() - 1]), "truncated");
        assert!(
            !looks_like_ubjson(&[d.as_slice(), b"x"].concat()),
            "trailing bytes"
        );
        assert!(!looks_like_ubjson(b"{}"), "JSON text stays text");
        assert!(!looks_like_ubjson(b"{\"a\": 1}"));
        // A count far beyond the bytes that follow, and nesting past the bound.
        assert!(!looks_like_ubjson(
            b"{L\0\0\0\0\0\0\0\x01a[#L\x7f\0\0\0\0\0\0\0}"
        ));
        let deep = [
            b"{i\x01a".to_vec(),
            vec![b'['; 100],
            vec![b']'; 100],
            b"}".to_vec(),
        ]
        .concat();
        assert!(!looks_like_ubjson(&deep));
    }
}
