use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AtlasError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is empty: expected an ATLAS data file (YAML with id, name, version and matrices)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("unknown ATLAS ID `{id}`{}", did_you_mean(suggestions))]
    UnknownId {
        id: String,
        suggestions: Vec<String>,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        "; try `aisec atlas search` to find it by name".to_string()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}
