//! Reading ATLAS-format files from disk. Parsing only: nothing in a file is executed.

use std::path::Path;

use crate::error::AtlasError;
use crate::model::Atlas;

pub(crate) fn read_text(path: &Path) -> Result<String, AtlasError> {
    let text = std::fs::read_to_string(path).map_err(|source| AtlasError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if text.trim().is_empty() {
        return Err(AtlasError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

/// Parses an official `ATLAS.yaml` (the distribution format, v5).
pub fn read_atlas_file(path: &Path) -> Result<Atlas, AtlasError> {
    let text = read_text(path)?;
    parse_atlas(&text).map_err(|message| AtlasError::Parse {
        path: path.to_path_buf(),
        message,
    })
}

/// Parses ATLAS YAML text; the error says where and what was expected.
pub fn parse_atlas(text: &str) -> Result<Atlas, String> {
    serde_yaml_ng::from_str(text).map_err(|e| format!("not a valid ATLAS data file: {e}"))
}
