//! What can go wrong reading or writing a file: the file system, a malformed file, or an
//! element type the format or Psionic cannot hold. Never a panic: files come from outside.

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{format}: {msg}")]
    Format { format: &'static str, msg: String },
    #[error("{format}: element type {elem} is not supported: {why}")]
    Unsupported { format: &'static str, elem: String, why: String },
}

impl IoError {
    pub(crate) fn format(format: &'static str, msg: impl Into<String>) -> Self {
        IoError::Format { format, msg: msg.into() }
    }

    pub(crate) fn unsupported(format: &'static str, elem: impl Into<String>, why: impl Into<String>) -> Self {
        IoError::Unsupported { format, elem: elem.into(), why: why.into() }
    }
}

pub type Result<T> = std::result::Result<T, IoError>;
