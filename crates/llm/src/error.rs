/// What can go wrong reaching or reading an LLM target.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// A flag, file or field the user gave is not what was expected.
    #[error("{0}")]
    Invalid(String),
    /// The target could not be reached or kept failing after the retries.
    #[error("{target}: {why}")]
    Unreachable { target: String, why: String },
    /// The target answered something that is not a chat completion.
    #[error("{target} answered something that is not a chat completion: {why}")]
    Protocol { target: String, why: String },
    /// The run's request or token budget is spent; the attempt was not sent.
    #[error("the {which} budget is spent ({spent} of {allowed})")]
    BudgetSpent {
        which: &'static str,
        spent: u64,
        allowed: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, LlmError>;
