//! Numeric CSV files with one label column.

use std::path::Path;

use super::{Dataset, InputRange};
use crate::error::{MlError, Result};

/// Reads a CSV of numbers. The first row is a header when any of its cells is not a number.
/// `label_column` is a header name or a zero-based index; by default the last column.
pub fn read_csv(
    path: &Path,
    label_column: Option<&str>,
    range: Option<InputRange>,
) -> Result<Dataset> {
    let text = std::fs::read_to_string(path).map_err(|source| MlError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |message: String| MlError::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut rows = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let first: Vec<String> = match rows.peek() {
        Some((_, line)) => split(line),
        None => return Err(bad("the file has no rows".into())),
    };
    let has_header = first.iter().any(|c| c.parse::<f64>().is_err());
    let header = if has_header {
        rows.next();
        Some(first.clone())
    } else {
        None
    };
    let width = first.len();
    if width < 2 {
        return Err(bad(
            "expected at least one feature column and a label column".into(),
        ));
    }
    let label = match label_column {
        None => width - 1,
        Some(spec) => match spec.parse::<usize>() {
            Ok(i) if i < width => i,
            Ok(i) => {
                return Err(bad(format!(
                    "label column {i} is out of range: the file has {width} columns"
                )))
            }
            Err(_) => header
                .as_ref()
                .and_then(|h| h.iter().position(|c| c == spec))
                .ok_or_else(|| {
                    bad(format!(
                        "no column named `{spec}`{}",
                        header.as_ref().map_or(
                            " (the file has no header row)".to_string(),
                            |h| format!("; columns: {}", h.join(", "))
                        )
                    ))
                })?,
        },
    };
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (line_no, line) in rows {
        let cells = split(line);
        if cells.len() != width {
            return Err(bad(format!(
                "line {}: {} cells, expected {width}",
                line_no + 1,
                cells.len()
            )));
        }
        for (i, cell) in cells.iter().enumerate() {
            let v: f64 = cell.parse().map_err(|_| {
                bad(format!(
                    "line {}, column {}: `{cell}` is not a number",
                    line_no + 1,
                    i + 1
                ))
            })?;
            if i == label {
                if v < 0.0 || v.fract() != 0.0 {
                    return Err(bad(format!(
                        "line {}: label `{cell}` is not a non-negative integer class",
                        line_no + 1
                    )));
                }
                y.push(v as usize);
            } else {
                x.push(v as f32);
            }
        }
    }
    let name = path
        .file_stem()
        .map_or("data".into(), |s| s.to_string_lossy().into_owned());
    Dataset::new(name, x, y, vec![width - 1], None, range)
}

fn split(line: &str) -> Vec<String> {
    line.split(',')
        .map(|c| c.trim().trim_matches('"').to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_label_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(&p, "a,label,b\n1,0,2\n3,1,4\n5,1,6\n").unwrap();
        let ds = read_csv(&p, Some("label"), None).unwrap();
        assert_eq!(ds.x, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(ds.y, vec![0, 1, 1]);
        let err = read_csv(&p, Some("class"), None).unwrap_err().to_string();
        assert!(
            err.contains("no column named `class`") && err.contains("a, label, b"),
            "{err}"
        );
        std::fs::write(&p, "1,2,0\n3,4,x\n").unwrap();
        let err = read_csv(&p, None, None).unwrap_err().to_string();
        assert!(err.contains("line 2, column 3"), "{err}");
    }
}
