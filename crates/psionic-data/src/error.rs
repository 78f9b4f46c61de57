//! What can go wrong reading a data file. Files come from outside: a malformed one is a
//! typed error naming the file and the problem, never a panic.

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {msg}")]
    Format { what: String, msg: String },
}

impl DataError {
    pub(crate) fn format(what: impl Into<String>, msg: impl Into<String>) -> Self {
        DataError::Format { what: what.into(), msg: msg.into() }
    }
}

pub type Result<T> = std::result::Result<T, DataError>;
