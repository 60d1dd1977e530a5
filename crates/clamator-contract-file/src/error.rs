//! What can go wrong reading a contract file or generating from it.

/// A contract file could not be read, parsed or generated from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContractFileError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Text that should be JSON is not, or not in the expected shape.
    #[error("{what} is not valid: {source}")]
    Json {
        /// What was being read.
        what: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// The file parses but breaks a rule of the format.
    #[error("{origin}: {msg}")]
    Invalid {
        /// The file.
        origin: String,
        /// Which rule, and what to change.
        msg: String,
    },
    /// A stored hash is not the hash of the schema beside it.
    #[error(
        "{origin}: the hash of {what} is {stored} in the file but the schema hashes to {computed}; \
         the schema was edited by hand or the file was written by another tool: re-export it"
    )]
    HashMismatch {
        /// The file.
        origin: String,
        /// `service.method params|result`.
        what: String,
        /// The hash in the file.
        stored: String,
        /// The hash of the schema text.
        computed: String,
    },
    /// A schema uses a feature the generators do not support.
    #[error(transparent)]
    Unsupported(#[from] crate::schema::UnsupportedSchema),
}
