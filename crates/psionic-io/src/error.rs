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
    /// A pickle names a global outside the weights-only allowlist (`os.system`, ...).
    /// Nothing was executed; the file is refused.
    #[error("{format}: the pickle calls {what}, which a weights file may not (only what torch.load(weights_only=True) allows is read)")]
    Forbidden { format: &'static str, what: String },
    /// The tensors do not hash to the SHA-256 the file records: it was altered or damaged.
    #[error("{path}: content SHA-256 is {actual}, the file records {expected}")]
    Checksum { path: String, expected: String, actual: String },
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
