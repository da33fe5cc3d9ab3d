use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MlError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("query budget exhausted: {used} of {max} queries used")]
    BudgetExhausted { used: u64, max: u64 },
    #[error("rate limited: retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    #[error("this model offers no gradient access (black-box)")]
    NoGradients,
}

pub type Result<T, E = MlError> = std::result::Result<T, E>;
