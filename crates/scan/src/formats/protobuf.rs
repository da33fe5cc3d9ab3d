//! A protobuf walker for formats read as raw messages (ONNX, SentencePiece, TensorFlow): fields
//! by number, never a schema, never a generated type.

/// One protobuf field: its number and, for length-delimited fields, its bytes.
pub enum Field<'a> {
    Varint(u64),
    Bytes(u64, &'a [u8]),
    Fixed,
}

pub fn varint(d: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *d.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// All fields of a message, or None when it is not valid protobuf.
pub fn fields(d: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < d.len() {
        let key = varint(d, &mut pos)?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 {
            return None;
        }
        match wire {
            0 => {
                varint(d, &mut pos)?;
                out.push(Field::Varint(number));
            }
            1 => {
                pos = pos.checked_add(8).filter(|p| *p <= d.len())?;
                out.push(Field::Fixed);
            }
            2 => {
                let len = usize::try_from(varint(d, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= d.len())?;
                out.push(Field::Bytes(number, &d[pos..end]));
                pos = end;
            }
            5 => {
                pos = pos.checked_add(4).filter(|p| *p <= d.len())?;
                out.push(Field::Fixed);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The values of the varint fields of a message, by number (what [`fields`] leaves out).
pub fn varint_values(d: &[u8]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < d.len() {
        let Some(key) = varint(d, &mut pos) else {
            break;
        };
        let (number, wire) = (key >> 3, key & 7);
        let skipped = match wire {
            0 => match varint(d, &mut pos) {
                Some(v) => {
                    out.push((number, v));
                    Some(())
                }
                None => None,
            },
            1 => pos
                .checked_add(8)
                .filter(|p| *p <= d.len())
                .map(|p| pos = p),
            2 => varint(d, &mut pos)
                .and_then(|len| usize::try_from(len).ok())
                .and_then(|len| pos.checked_add(len))
                .filter(|e| *e <= d.len())
                .map(|e| pos = e),
            5 => pos
                .checked_add(4)
                .filter(|p| *p <= d.len())
                .map(|p| pos = p),
            _ => None,
        };
        if skipped.is_none() {
            break;
        }
    }
    out
}

/// The first length-delimited field `number` as UTF-8 text (lossy).
pub fn text_field(message: &[Field<'_>], number: u64) -> Option<String> {
    message.iter().find_map(|f| match f {
        Field::Bytes(n, b) if *n == number => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    })
}
