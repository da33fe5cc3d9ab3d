//! NumPy `.npy` files (format versions 1–3), read and written without executing anything:
//! object arrays (which NumPy stores as pickles) are refused.

use std::path::Path;

use crate::error::{MlError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl DType {
    fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    fn is_integer(self) -> bool {
        !matches!(self, DType::F32 | DType::F64)
    }
}

/// An array read from a `.npy` file, its values widened to f64.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub data: Vec<f64>,
}

impl NpyArray {
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|v| *v as f32).collect()
    }

    /// Class labels: integers (or whole-valued floats) that are not negative.
    pub fn to_labels(&self) -> std::result::Result<Vec<usize>, String> {
        if self.shape.len() > 2 || (self.shape.len() == 2 && self.shape[1] != 1) {
            return Err(format!(
                "labels must be a 1-D array (or N×1), found shape {:?}",
                self.shape
            ));
        }
        self.data
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if *v < 0.0 || v.fract() != 0.0 || !v.is_finite() {
                    Err(format!(
                        "label {i} is {v}: expected a non-negative integer class index"
                    ))
                } else {
                    Ok(*v as usize)
                }
            })
            .collect()
    }
}

pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|source| MlError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes).map_err(|message| MlError::Format {
        path: path.to_path_buf(),
        message,
    })
}

pub fn parse(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a NumPy .npy file (missing the \\x93NUMPY magic)".into());
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => {
            return Err(format!(
                "unsupported .npy format version {v} (expected 1, 2 or 3)"
            ))
        }
    };
    let header_end = start
        .checked_add(header_len)
        .filter(|e| *e <= bytes.len())
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(&bytes[start..header_end])
        .map_err(|_| "the .npy header is not text")?;
    let descr = header_value(header, "descr").ok_or("the .npy header has no 'descr'")?;
    let fortran =
        header_value(header, "fortran_order").ok_or("the .npy header has no 'fortran_order'")?;
    let shape_text = header_value(header, "shape").ok_or("the .npy header has no 'shape'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let (big_endian, code) = match descr.as_bytes().first() {
        Some(b'<') | Some(b'|') | Some(b'=') => (false, &descr[1..]),
        Some(b'>') => (true, &descr[1..]),
        _ => (false, descr),
    };
    let dtype = match code {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "i1" => DType::I8,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "u1" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "b1" => DType::Bool,
        "O" => {
            return Err(
                "object arrays (dtype 'O') are pickles and are refused: save numeric arrays".into(),
            )
        }
        other => {
            return Err(format!(
                "unsupported dtype '{other}': expected a float, integer or bool array"
            ))
        }
    };
    let shape: Vec<usize> = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape entry '{s}'"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .ok_or("the shape is too large")?;
    let body = &bytes[header_end..];
    let needed = count
        .checked_mul(dtype.size())
        .ok_or("the shape is too large")?;
    if body.len() < needed {
        return Err(format!(
            "the file holds {} bytes of data but shape {shape:?} needs {needed}",
            body.len()
        ));
    }
    let mut data = Vec::with_capacity(count);
    for chunk in body[..needed].chunks_exact(dtype.size()) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        if big_endian {
            b[..chunk.len()].reverse();
        }
        let v = match dtype {
            DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            DType::F64 => f64::from_le_bytes(b),
            DType::I8 => b[0] as i8 as f64,
            DType::I16 => i16::from_le_bytes([b[0], b[1]]) as f64,
            DType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            DType::I64 => i64::from_le_bytes(b) as f64,
            DType::U8 | DType::Bool => b[0] as f64,
            DType::U16 => u16::from_le_bytes([b[0], b[1]]) as f64,
            DType::U32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            DType::U64 => u64::from_le_bytes(b) as f64,
        };
        data.push(v);
    }
    if fortran.trim() == "True" && shape.len() > 1 {
        data = fortran_to_c(&data, &shape);
    }
    let _ = dtype.is_integer();
    Ok(NpyArray { shape, dtype, data })
}

/// The text of `key`'s value in the header's Python dict literal.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat_single = format!("'{key}':");
    let pat_double = format!("\"{key}\":");
    let start = header
        .find(&pat_single)
        .map(|i| i + pat_single.len())
        .or_else(|| header.find(&pat_double).map(|i| i + pat_double.len()))?;
    let rest = header[start..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let n = data.len();
    let mut out = vec![0.0; n];
    let mut index = vec![0usize; shape.len()];
    for value in data.iter() {
        // Fortran order: the first axis varies fastest.
        let mut c_offset = 0;
        for (axis, &i) in index.iter().enumerate() {
            c_offset = c_offset * shape[axis] + i;
        }
        out[c_offset] = *value;
        for axis in 0..shape.len() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// Writes a little-endian f32 array in format version 1.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let bytes = encode_f32(shape, data);
    std::fs::write(path, bytes).map_err(|source| MlError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes little-endian i64 labels in format version 1.
pub fn write_i64(path: &Path, data: &[i64]) -> Result<()> {
    let mut bytes = header("<i8", &[data.len()]);
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).map_err(|source| MlError::Write {
        path: path.to_path_buf(),
        source,
    })
}

pub fn encode_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let mut bytes = header("<f4", shape);
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape {
        [one] => format!("({one},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so that the data starts on a 64-byte boundary, ending the header with a newline.
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_f32() {
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        let arr = parse(&encode_f32(&[2, 3, 4], &data)).unwrap();
        assert_eq!(arr.shape, vec![2, 3, 4]);
        assert_eq!(arr.dtype, DType::F32);
        assert_eq!(arr.to_f32(), data);
        let bytes = encode_f32(&[5], &data[..5]);
        assert_eq!((bytes.len() - 20) % 64, 0, "data is 64-byte aligned");
    }

    #[test]
    fn reads_numpy_written_headers() {
        // As numpy 1.x writes an int64 label vector and a big-endian Fortran matrix.
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }          \n";
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        for v in [2i64, 0, 1] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let arr = parse(&bytes).unwrap();
        assert_eq!(arr.to_labels().unwrap(), vec![2, 0, 1]);

        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let dict = "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }\n";
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        // Column-major [[1,2,3],[4,5,6]] is 1,4,2,5,3,6.
        for v in [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(
            parse(&bytes).unwrap().data,
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
    }

    #[test]
    fn refuses_pickles_and_garbage() {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let dict = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n";
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend_from_slice(b"\x80\x04N.");
        assert!(parse(&bytes).unwrap_err().contains("pickle"));
        assert!(parse(b"PK\x03\x04 not numpy")
            .unwrap_err()
            .contains("magic"));
        let truncated = encode_f32(&[10], &[1.0; 10]);
        assert!(parse(&truncated[..truncated.len() - 4])
            .unwrap_err()
            .contains("needs"));
        let labels = parse(&encode_f32(&[2], &[0.5, 1.0])).unwrap();
        assert!(labels.to_labels().is_err());
    }
}
