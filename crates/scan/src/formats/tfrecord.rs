//! TFRecord files, as TensorFlow's summary writers (`events.out.tfevents.*`, written by
//! `tf.summary`, TensorBoard callbacks and every CatBoost `fit` in `catboost_info/`) lay them
//! out: records of a little-endian u64 length, the length's masked CRC-32C, the data, and the
//! data's masked CRC-32C. Logs, not models: nothing in them is loaded as code. Recognised only
//! when every record's checksums hold to the file's last byte.

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// TFRecord's checksum: CRC-32C rotated right by 15 bits plus a constant.
fn masked(data: &[u8]) -> u32 {
    let c = crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// Whether the bytes are TFRecords from start to end, every checksum holding.
pub fn looks_like_tfrecord(data: &[u8]) -> bool {
    let mut pos = 0usize;
    let mut records = 0;
    while pos < data.len() {
        let Some(len_bytes) = data.get(pos..pos + 8) else {
            return false;
        };
        if u32_at(data, pos + 8) != Some(masked(len_bytes)) {
            return false;
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| (pos + 12).checked_add(l))
            .filter(|e| e + 4 <= data.len())
        else {
            return false;
        };
        if u32_at(data, end) != Some(masked(&data[pos + 12..end])) {
            return false;
        }
        pos = end + 4;
        records += 1;
    }
    records > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(data: &[u8]) -> Vec<u8> {
        let len = (data.len() as u64).to_le_bytes();
        let mut out = len.to_vec();
        out.extend(masked(&len).to_le_bytes());
        out.extend(data);
        out.extend(masked(data).to_le_bytes());
        out
    }

    #[test]
    fn records_with_their_checksums() {
        // CRC-32C's check value.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        let mut file = record(b"\x1a\x0dbrain.Event:2");
        file.extend(record(b"\x10\x01"));
        assert!(looks_like_tfrecord(&file));
        file.push(0);
        assert!(!looks_like_tfrecord(&file));
        let mut flipped = record(b"abc");
        flipped[13] ^= 1;
        assert!(!looks_like_tfrecord(&flipped));
        assert!(!looks_like_tfrecord(b""));
    }
}
