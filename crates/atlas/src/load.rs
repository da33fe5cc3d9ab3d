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

/// Deeper than any profile, plan or case study: a YAML parser takes time that grows with the
/// square of the nesting, so deeper input is refused before parsing.
pub const MAX_YAML_FLOW_DEPTH: usize = 64;

/// The deepest nesting of `[` and `{` outside quotes and comments.
pub fn yaml_flow_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    for c in text.chars() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Refuses YAML nested deeper than [`MAX_YAML_FLOW_DEPTH`] before it is parsed; `what` names
/// the document in the message.
pub fn check_yaml_nesting(text: &str, what: &str) -> Result<(), String> {
    let depth = yaml_flow_depth(text);
    if depth > MAX_YAML_FLOW_DEPTH {
        return Err(format!(
            "brackets nested {depth} deep; a {what} needs at most {MAX_YAML_FLOW_DEPTH}"
        ));
    }
    Ok(())
}
