//! The IDX format of the MNIST family (LeCun's `train-images-idx3-ubyte`, Fashion-MNIST,
//! KMNIST, EMNIST): two zero bytes, an element-type byte, a rank byte, then big-endian u32
//! dimensions and the data in row-major order. Files ending in `.gz` are read through gzip,
//! as the sets are distributed.

use std::io::Read;
use std::path::Path;

use crate::error::{MlError, Result};

/// An IDX array as floats, with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
    /// Whether the file held unsigned bytes (pixels 0–255, or labels).
    pub unsigned_bytes: bool,
}

/// Whether `bytes` start like an IDX file (and not like a `.npy`, which starts with 0x93).
pub fn looks_like_idx(bytes: &[u8]) -> bool {
    bytes.len() >= 4
        && bytes[0] == 0
        && bytes[1] == 0
        && matches!(bytes[2], 0x08 | 0x09 | 0x0B | 0x0C | 0x0D | 0x0E)
        && (1..=4).contains(&bytes[3])
}

/// The file's bytes, gunzipped when the name ends in `.gz`.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| MlError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| MlError::Format {
                path: path.to_path_buf(),
                message: format!("not a readable gzip stream: {e}"),
            })?;
        return Ok(out);
    }
    Ok(raw)
}

pub fn parse(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    let bad = |message: String| MlError::Format {
        path: path.to_path_buf(),
        message,
    };
    if !looks_like_idx(bytes) {
        return Err(bad(
            "not an IDX file: expected two zero bytes, an element type (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64) and a rank from 1 to 4".into(),
        ));
    }
    let (kind, rank) = (bytes[2], bytes[3] as usize);
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(format!(
            "the header of a rank-{rank} array needs {header} bytes; the file has {}",
            bytes.len()
        )));
    }
    let shape: Vec<usize> = (0..rank)
        .map(|i| {
            let at = 4 + 4 * i;
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
        })
        .collect();
    let width = match kind {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        _ => 8,
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or_else(|| bad(format!("dimensions {shape:?} overflow")))?;
    let expected = count
        .checked_mul(width)
        .and_then(|n| n.checked_add(header))
        .ok_or_else(|| bad(format!("dimensions {shape:?} overflow")))?;
    if bytes.len() != expected {
        return Err(bad(format!(
            "dimensions {shape:?} of {width}-byte values need {expected} bytes; the file has {} (truncated or not IDX)",
            bytes.len()
        )));
    }
    let data = &bytes[header..];
    let values: Vec<f64> = match kind {
        0x08 => data.iter().map(|b| *b as f64).collect(),
        0x09 => data.iter().map(|b| *b as i8 as f64).collect(),
        0x0B => data
            .chunks_exact(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]) as f64)
            .collect(),
        0x0C => data
            .chunks_exact(4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        0x0D => data
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        _ => data
            .chunks_exact(8)
            .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    };
    Ok(IdxArray {
        shape,
        values,
        unsigned_bytes: kind == 0x08,
    })
}

pub fn read(path: &Path) -> Result<IdxArray> {
    parse(&read_bytes(path)?, path)
}

/// Images and labels in IDX files as a dataset: `[n, h, w]` images become one-channel
/// `[1, h, w]` inputs, `[n, h, w, c]` become `[c, h, w]`; unsigned-byte pixels are scaled to
/// [0, 1] (and the range recorded), other types are kept as they are.
pub fn load_pair(images: &Path, labels: &Path) -> Result<super::Dataset> {
    let x = read(images)?;
    let y = read(labels)?;
    if y.shape.len() != 1 || y.values.iter().any(|v| *v < 0.0 || v.fract() != 0.0) {
        return Err(MlError::Format {
            path: labels.to_path_buf(),
            message: format!(
                "expected one non-negative integer label per example (rank 1), found shape {:?}",
                y.shape
            ),
        });
    }
    let n = x.shape[0];
    if y.shape[0] != n {
        return Err(MlError::Invalid(format!(
            "{} has {n} images but {} has {} labels",
            images.display(),
            labels.display(),
            y.shape[0]
        )));
    }
    let scale = if x.unsigned_bytes { 1.0 / 255.0 } else { 1.0 };
    let (sample_shape, values): (Vec<usize>, Vec<f32>) = match x.shape.as_slice() {
        [_, h, w] => (
            vec![1, *h, *w],
            x.values.iter().map(|v| (v * scale) as f32).collect(),
        ),
        [_, h, w, c] => {
            // Channels last in the file; burn's convolutions want them first.
            let (h, w, c) = (*h, *w, *c);
            let mut out = vec![0.0f32; x.values.len()];
            for i in 0..n {
                for r in 0..h {
                    for col in 0..w {
                        for ch in 0..c {
                            let from = ((i * h + r) * w + col) * c + ch;
                            let to = ((i * c + ch) * h + r) * w + col;
                            out[to] = (x.values[from] * scale) as f32;
                        }
                    }
                }
            }
            (vec![c, h, w], out)
        }
        [_, d] => (
            vec![*d],
            x.values.iter().map(|v| (v * scale) as f32).collect(),
        ),
        other => {
            return Err(MlError::Format {
                path: images.to_path_buf(),
                message: format!(
                    "expected images of rank 3 or 4 (or rows of rank 2), found shape {other:?}"
                ),
            })
        }
    };
    let range = x
        .unsigned_bytes
        .then_some(super::InputRange { lo: 0.0, hi: 1.0 });
    let name = images
        .file_name()
        .map_or("idx".into(), |s| s.to_string_lossy().into_owned());
    let labels: Vec<usize> = y.values.iter().map(|v| *v as usize).collect();
    super::Dataset::new(name, values, labels, sample_shape, None, range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(kind: u8, shape: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, kind, shape.len() as u8];
        for d in shape {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn bytes_and_wider_types_read_big_endian() {
        let p = Path::new("t.idx");
        let a = parse(&idx(0x08, &[2, 2], &[0, 255, 7, 9]), p).unwrap();
        assert_eq!(a.shape, vec![2, 2]);
        assert_eq!(a.values, vec![0.0, 255.0, 7.0, 9.0]);
        assert!(a.unsigned_bytes);
        let b = parse(&idx(0x0B, &[2], &[0xFF, 0xFE, 0x01, 0x00]), p).unwrap();
        assert_eq!(b.values, vec![-2.0, 256.0]);
        let f = parse(&idx(0x0D, &[1], &1.5f32.to_be_bytes()), p).unwrap();
        assert_eq!(f.values, vec![1.5]);
    }

    #[test]
    fn truncated_and_foreign_files_are_refused_with_the_reason() {
        let p = Path::new("t.idx");
        let e = parse(&idx(0x08, &[3, 2], &[1, 2, 3]), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("need 18 bytes; the file has 15"), "{e}");
        let e = parse(b"\x93NUMPY\x01\x00", p).unwrap_err().to_string();
        assert!(e.contains("not an IDX file"), "{e}");
    }
}
