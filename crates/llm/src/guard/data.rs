//! Labelled text for training and evaluating a guard: CSV (with a header row; quoted fields
//! may span lines) or Parquet (the form Hugging Face datasets ship in), a text column and a
//! 0/1 label column picked by name. Only the two named columns are read from a Parquet file, so
//! list-typed metadata columns beside them do no harm.

use std::path::Path;

use crate::error::{LlmError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    /// 1 = an injection or jailbreak, 0 = benign.
    pub label: u8,
    /// The group column's value, when one was asked for.
    pub group: Option<String>,
}

/// Which columns hold the text and the label (and, optionally, a group such as a category).
#[derive(Debug, Clone)]
pub struct Columns {
    pub text: String,
    pub label: String,
    pub group: Option<String>,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            text: "text".into(),
            label: "label".into(),
            group: None,
        }
    }
}

fn invalid(path: &Path, why: impl std::fmt::Display) -> LlmError {
    LlmError::Invalid(format!("{}: {why}", path.display()))
}

fn parse_label(path: &Path, row: usize, column: &str, raw: &str) -> Result<u8> {
    match raw.trim() {
        "0" | "0.0" | "false" | "False" | "benign" => Ok(0),
        "1" | "1.0" | "true" | "True" | "injection" | "malicious" => Ok(1),
        other => Err(invalid(
            path,
            format!("row {row}, column {column:?}: label {other:?} (expected 0 or 1)"),
        )),
    }
}

/// Reads every row of a CSV or Parquet file (chosen by the extension: `.parquet` or `.pq`
/// is Parquet, anything else CSV).
pub fn read(path: &Path, columns: &Columns) -> Result<Vec<Example>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let rows = if ext == "parquet" || ext == "pq" {
        read_parquet(path, columns)?
    } else {
        read_csv(path, columns)?
    };
    if rows.is_empty() {
        return Err(invalid(path, "no rows"));
    }
    Ok(rows)
}

fn read_csv(path: &Path, columns: &Columns) -> Result<Vec<Example>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| invalid(path, e))?;
    let headers = reader.headers().map_err(|e| invalid(path, e))?.clone();
    let find = |name: &str| {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
            invalid(
                path,
                format!(
                    "no column {name:?}; the header has {:?} (name the columns with --text-column and --label-column)",
                    headers.iter().collect::<Vec<_>>()
                ),
            )
        })
    };
    let (ti, li) = (find(&columns.text)?, find(&columns.label)?);
    let gi = columns.group.as_deref().map(find).transpose()?;
    let mut out = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| invalid(path, e))?;
        let row = n + 2;
        let text = record.get(ti).unwrap_or_default().to_string();
        let label = parse_label(
            path,
            row,
            &columns.label,
            record.get(li).unwrap_or_default(),
        )?;
        let group = gi.map(|g| record.get(g).unwrap_or_default().to_string());
        out.push(Example { text, label, group });
    }
    Ok(out)
}

fn read_parquet(path: &Path, columns: &Columns) -> Result<Vec<Example>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    use parquet::schema::types::Type;
    use std::sync::Arc;

    let file = std::fs::File::open(path).map_err(|e| LlmError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let reader = SerializedFileReader::new(file).map_err(|e| invalid(path, e))?;
    let schema = reader.metadata().file_metadata().schema();
    let fields = schema.get_fields();
    let pick = |name: &str| -> Result<Arc<Type>> {
        fields
            .iter()
            .find(|f| f.name() == name)
            .cloned()
            .ok_or_else(|| {
                invalid(
                    path,
                    format!(
                        "no column {name:?}; the file has {:?} (name the columns with --text-column and --label-column)",
                        fields.iter().map(|f| f.name()).collect::<Vec<_>>()
                    ),
                )
            })
    };
    let mut picked = vec![pick(&columns.text)?, pick(&columns.label)?];
    if let Some(g) = &columns.group {
        picked.push(pick(g)?);
    }
    let projection = Type::group_type_builder(schema.name())
        .with_fields(picked)
        .build()
        .map_err(|e| invalid(path, e))?;
    let rows = reader
        .get_row_iter(Some(projection))
        .map_err(|e| invalid(path, e))?;
    let mut out = Vec::new();
    for (n, row) in rows.enumerate() {
        let row = row.map_err(|e| invalid(path, format!("row {}: {e}", n + 1)))?;
        let mut text = None;
        let mut label = None;
        let mut group = None;
        for (name, field) in row.get_column_iter() {
            if Some(name) == columns.group.as_ref() {
                group = Some(match field {
                    Field::Str(s) => s.clone(),
                    other => other.to_string(),
                });
            }
            if *name == columns.text {
                text = match field {
                    Field::Str(s) => Some(s.clone()),
                    Field::Null => Some(String::new()),
                    other => {
                        return Err(invalid(
                            path,
                            format!(
                                "row {}: column {name:?} holds {other:?}, expected text",
                                n + 1
                            ),
                        ))
                    }
                };
            } else if *name == columns.label {
                let raw = match field {
                    Field::Bool(b) => u8::from(*b).to_string(),
                    Field::Byte(v) => v.to_string(),
                    Field::Short(v) => v.to_string(),
                    Field::Int(v) => v.to_string(),
                    Field::Long(v) => v.to_string(),
                    Field::UByte(v) => v.to_string(),
                    Field::UShort(v) => v.to_string(),
                    Field::UInt(v) => v.to_string(),
                    Field::ULong(v) => v.to_string(),
                    Field::Float(v) => v.to_string(),
                    Field::Double(v) => v.to_string(),
                    Field::Str(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                label = Some(parse_label(path, n + 1, name, &raw)?);
            }
        }
        match (text, label) {
            (Some(text), Some(label)) => out.push(Example { text, label, group }),
            _ => return Err(invalid(path, format!("row {}: a column is missing", n + 1))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quoted_newlines_and_named_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(
            &p,
            "id,prompt,y\n1,\"line one\nline two, with comma\",1\n2,hello,0\n",
        )
        .unwrap();
        let cols = Columns {
            text: "prompt".into(),
            label: "y".into(),
            group: Some("id".into()),
        };
        let rows = read(&p, &cols).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text, "line one\nline two, with comma");
        assert_eq!(rows[0].label, 1);
        assert_eq!(rows[1].group.as_deref(), Some("2"));
        let err = read(&p, &Columns::default()).unwrap_err().to_string();
        assert!(err.contains("no column \"text\""), "{err}");
    }

    #[test]
    fn bad_label_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv");
        std::fs::write(&p, "text,label\nhi,2\n").unwrap();
        let err = read(&p, &Columns::default()).unwrap_err().to_string();
        assert!(
            err.contains("row 2") && err.contains("label \"2\""),
            "{err}"
        );
    }
}
