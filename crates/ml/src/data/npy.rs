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

/// What a `.npy` header says: enough to read the whole array or any run of its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    pub shape: Vec<usize>,
    pub dtype: DType,
    big_endian: bool,
    fortran: bool,
    /// Where the values start in the file.
    pub data_offset: usize,
    /// Values in the array (the shape's product).
    count: usize,
}

impl NpyHeader {
    /// Values in one row (an example: everything after the first axis).
    pub fn row_values(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Whether each row's values lie together in the file (C order, or one axis), so that
    /// rows can be read a few at a time.
    pub fn rows_contiguous(&self) -> bool {
        !self.fortran || self.shape.len() <= 1
    }
}

/// The header, from the file's first bytes (all of the header, any part of the data).
pub fn parse_header(bytes: &[u8]) -> std::result::Result<NpyHeader, String> {
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
        .filter(|c| c.checked_mul(dtype.size()).is_some())
        .ok_or("the shape is too large")?;
    Ok(NpyHeader {
        shape,
        dtype,
        big_endian,
        fortran: fortran.trim() == "True",
        data_offset: header_end,
        count,
    })
}

/// Values in file order, widened to f64.
fn decode(header: &NpyHeader, body: &[u8]) -> Vec<f64> {
    let size = header.dtype.size();
    let mut data = Vec::with_capacity(body.len() / size);
    for chunk in body.chunks_exact(size) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        if header.big_endian {
            b[..chunk.len()].reverse();
        }
        let v = match header.dtype {
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
    data
}

pub fn parse(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    let header = parse_header(bytes)?;
    let body = &bytes[header.data_offset..];
    let needed = header.count * header.dtype.size();
    if body.len() < needed {
        return Err(format!(
            "the file holds {} bytes of data but shape {:?} needs {needed}",
            body.len(),
            header.shape
        ));
    }
    let mut data = decode(&header, &body[..needed]);
    if header.fortran && header.shape.len() > 1 {
        data = fortran_to_c(&data, &header.shape);
    }
    Ok(NpyArray {
        shape: header.shape,
        dtype: header.dtype,
        data,
    })
}

/// The header of the file at `path`, reading only its first bytes, with the file's length
/// checked against the shape.
pub fn read_header(path: &Path) -> Result<NpyHeader> {
    let io = |source| MlError::Io {
        path: path.to_path_buf(),
        source,
    };
    let format = |message: String| MlError::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut first = [0u8; 12];
    let got = read_up_to(&mut file, &mut first).map_err(io)?;
    let header_len = match (got >= 10, first.get(6)) {
        (true, Some(1)) => 10 + u16::from_le_bytes([first[8], first[9]]) as usize,
        (true, Some(2 | 3)) if got == 12 => {
            12 + u32::from_le_bytes([first[8], first[9], first[10], first[11]]) as usize
        }
        _ => {
            return Err(format(
                parse_header(&first[..got])
                    .err()
                    .unwrap_or_else(|| "truncated .npy header".into()),
            ))
        }
    };
    // A header is a short dict; NumPy pads it to 64 bytes. Anything huge is not one.
    if header_len > 1 << 20 {
        return Err(format(format!(
            "a .npy header of {header_len} bytes is not one NumPy writes"
        )));
    }
    let mut bytes = first[..got].to_vec();
    bytes.resize(header_len, 0);
    let more = read_up_to(&mut file, &mut bytes[got..]).map_err(io)?;
    bytes.truncate(got + more);
    let header = parse_header(&bytes).map_err(format)?;
    let len = file.metadata().map_err(io)?.len();
    let needed = (header.data_offset + header.count * header.dtype.size()) as u64;
    if len < needed {
        return Err(format(format!(
            "the file holds {} bytes of data but shape {:?} needs {}",
            len.saturating_sub(header.data_offset as u64),
            header.shape,
            needed - header.data_offset as u64
        )));
    }
    Ok(header)
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Rows `start..start + count` of the array at `path` (rows along the first axis), as f32,
/// reading only those bytes. Fortran-ordered arrays keep a row's values apart, so they are
/// refused here: `load_npy_pair` reads them whole.
pub fn read_rows_f32(
    path: &Path,
    header: &NpyHeader,
    start: usize,
    count: usize,
) -> Result<Vec<f32>> {
    use std::io::{Read, Seek, SeekFrom};
    let format = |message: String| MlError::Format {
        path: path.to_path_buf(),
        message,
    };
    if !header.rows_contiguous() {
        return Err(format(
            "the array is stored in Fortran order, which cannot be read a part at a time: save it in C order (numpy.ascontiguousarray) or read it whole".into(),
        ));
    }
    if start
        .checked_add(count)
        .is_none_or(|end| end > header.rows())
    {
        return Err(format(format!(
            "rows {start}..{} asked of an array with {} rows",
            start.saturating_add(count),
            header.rows()
        )));
    }
    let row_bytes = header.row_values() * header.dtype.size();
    let io = |source| MlError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(
        (header.data_offset + start * row_bytes) as u64,
    ))
    .map_err(io)?;
    let mut body = vec![0u8; count * row_bytes];
    file.read_exact(&mut body).map_err(io)?;
    Ok(decode(header, &body)
        .into_iter()
        .map(|v| v as f32)
        .collect())
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

/// An f32 array written a run of rows at a time, so that it never has to be whole in
/// memory: the header (with the final shape) first, then the rows as they come. The rows go
/// to a temporary file beside `path`, renamed to `path` by [`F32Writer::finish`]: a run that
/// fails half-way leaves no truncated array and no earlier file clobbered.
pub struct F32Writer {
    path: std::path::PathBuf,
    partial: std::path::PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    expected: usize,
    written: usize,
}

impl F32Writer {
    pub fn create(path: &Path, shape: &[usize]) -> Result<F32Writer> {
        use std::io::Write;
        let name = path
            .file_name()
            .map_or_else(|| "array.npy".into(), |n| n.to_string_lossy().into_owned());
        let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let write = |source| MlError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::io::BufWriter::new(std::fs::File::create(&partial).map_err(write)?);
        let mut writer = F32Writer {
            path: path.to_path_buf(),
            partial,
            file: None,
            expected: shape.iter().product(),
            written: 0,
        };
        file.write_all(&header("<f4", shape)).map_err(write)?;
        writer.file = Some(file);
        Ok(writer)
    }

    fn write_error(&self, source: std::io::Error) -> MlError {
        MlError::Write {
            path: self.path.clone(),
            source,
        }
    }

    pub fn append(&mut self, values: &[f32]) -> Result<()> {
        use std::io::Write;
        if self.written + values.len() > self.expected {
            return Err(MlError::Invalid(format!(
                "{}: {} values written to an array of {}",
                self.path.display(),
                self.written + values.len(),
                self.expected
            )));
        }
        let Some(file) = self.file.as_mut() else {
            return Err(MlError::Invalid(format!(
                "{}: written after it was finished",
                self.path.display()
            )));
        };
        let mut bytes = Vec::with_capacity(values.len() * 4);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        if let Err(e) = file.write_all(&bytes) {
            return Err(self.write_error(e));
        }
        self.written += values.len();
        Ok(())
    }

    /// Flushes and puts the array in place; an array left short of its shape is an error
    /// (the file would not load) and is not put there.
    pub fn finish(mut self) -> Result<()> {
        use std::io::Write;
        if self.written != self.expected {
            return Err(MlError::Invalid(format!(
                "{}: {} values written to an array of {}",
                self.path.display(),
                self.written,
                self.expected
            )));
        }
        if let Some(mut file) = self.file.take() {
            file.flush().map_err(|e| self.write_error(e))?;
        }
        std::fs::rename(&self.partial, &self.path).map_err(|e| self.write_error(e))
    }
}

impl Drop for F32Writer {
    fn drop(&mut self) {
        // Unfinished (an error, or finished already and renamed: then this finds nothing).
        self.file.take();
        let _ = std::fs::remove_file(&self.partial);
    }
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
    fn rows_read_a_part_at_a_time_equal_the_whole() {
        let dir = std::env::temp_dir().join(format!("aisec-npy-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.npy");
        let data: Vec<f32> = (0..5 * 6).map(|i| i as f32 * 0.25).collect();
        let mut writer = F32Writer::create(&path, &[5, 2, 3]).unwrap();
        writer.append(&data[..12]).unwrap();
        writer.append(&data[12..]).unwrap();
        writer.finish().unwrap();
        assert_eq!(read(&path).unwrap().to_f32(), data);
        let header = read_header(&path).unwrap();
        assert_eq!((header.rows(), header.row_values()), (5, 6));
        assert_eq!(read_rows_f32(&path, &header, 1, 2).unwrap(), data[6..18]);
        assert_eq!(read_rows_f32(&path, &header, 4, 1).unwrap(), data[24..]);
        let past = read_rows_f32(&path, &header, 4, 2).unwrap_err().to_string();
        assert!(past.contains("5 rows"), "{past}");
        // Short of its shape: the writer says so and leaves the earlier file as it was, and
        // nothing beside it.
        let before = std::fs::read(&path).unwrap();
        let mut short = F32Writer::create(&path, &[5, 6]).unwrap();
        short.append(&data[..6]).unwrap();
        assert!(short.finish().is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let mut abandoned = F32Writer::create(&path, &[5, 6]).unwrap();
        abandoned.append(&data[..6]).unwrap();
        drop(abandoned);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no partial file left"
        );
        // The header check reads the file's length against the shape.
        std::fs::write(&path, &before[..before.len() - 4]).unwrap();
        let truncated = read_header(&path).unwrap_err().to_string();
        assert!(truncated.contains("needs"), "{truncated}");
        std::fs::remove_dir_all(&dir).unwrap();
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
