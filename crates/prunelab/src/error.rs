//! The crate's error type.
//!
//! Every fallible operation in prunelab returns [`Result`]. Nothing in the public API panics on bad input:
//! a notebook cell that passes a wrong shape, a NaN or an out-of-range hyperparameter gets one of these
//! variants, with a message that names what was wrong.

use std::path::PathBuf;

/// Everything that can go wrong in prunelab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two arrays (or an array and a network) do not fit together.
    #[error("shape mismatch in {context}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// Where the mismatch was found.
        context: &'static str,
        /// The shape that was required.
        expected: String,
        /// The shape that was given.
        found: String,
    },
    /// An input holds NaN or an infinity.
    #[error("{what} contains NaN or infinite values")]
    NonFinite {
        /// What held the non-finite value.
        what: &'static str,
    },
    /// The training loss became NaN or infinite. The weights are restored to their values at the start of
    /// that epoch.
    #[error("training loss became non-finite in epoch {epoch}; weights restored to the start of that epoch")]
    NonFiniteLoss {
        /// The epoch (1-based) in which the loss diverged.
        epoch: usize,
    },
    /// An input holds no samples (or no features).
    #[error("{what} is empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A class label is not below the number of classes.
    #[error("label {label} is out of range for {n_classes} classes")]
    LabelOutOfRange {
        /// The offending label.
        label: usize,
        /// How many classes there are.
        n_classes: usize,
    },
    /// A hyperparameter or argument is outside its valid range.
    #[error("invalid value for `{name}`: {reason}")]
    InvalidParam {
        /// The field or argument name.
        name: &'static str,
        /// Why the value is invalid.
        reason: String,
    },
    /// An index (layer, unit, weight) is out of range.
    #[error("{what} index {index} is out of range (there are {len})")]
    IndexOutOfRange {
        /// What was indexed.
        what: &'static str,
        /// The index given.
        index: usize,
        /// The number of valid indices.
        len: usize,
    },
    /// Two settings that cannot be used together.
    #[error("incompatible settings: {0}")]
    Incompatible(String),
    /// A value could not be written in a text format (JSON, TOML).
    #[error("cannot write {what} as {format}: {reason}")]
    Serialize {
        /// What was being written.
        what: &'static str,
        /// The format.
        format: &'static str,
        /// The serializer's message.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A long computation was stopped from outside (Jupyter's stop button, or
    /// [`interrupt::request`](crate::interrupt::request)) between two steps; what it finished is kept (a
    /// model being trained has the weights of the last completed step).
    #[error("interrupted: {what} stopped {at}")]
    Interrupted {
        /// The computation that stopped.
        what: &'static str,
        /// Where it stopped.
        at: String,
    },
    /// A request would allocate more memory than this process may still use (see
    /// [`mem::available`](crate::mem::available)); nothing was allocated.
    #[error("{what} needs {} GB, {}{}", gigabytes(*bytes), match available {
        Some(a) => format!("more than the {} GB this process can still allocate", gigabytes(*a)),
        None => "more than any machine has".to_string(),
    }, bound.map(|b| format!(" (limited by {b})")).unwrap_or_default())]
    TooLarge {
        /// What was to be allocated.
        what: &'static str,
        /// How many bytes it needs.
        bytes: u64,
        /// How many bytes were available, where the platform says.
        available: Option<u64>,
        /// The limit that set `available`, e.g. `RLIMIT_AS (ulimit -v)` (see
        /// [`mem::Bound`](crate::mem::Bound)); `None` where the platform says nothing.
        bound: Option<&'static str>,
    },
    /// A file could not be downloaded from any of its mirrors (offline, refused, or wrong bytes); the
    /// reason lists each attempt and where to put the file by hand.
    #[error("cannot download {file}: {reason}")]
    Download {
        /// The file that was wanted.
        file: String,
        /// What each mirror did, and what to do about it.
        reason: String,
    },
    /// A sweep spec is not valid: a field is missing, unknown, of the wrong type or out of range.
    #[error("sweep spec: `{field}`: {reason}")]
    Spec {
        /// The field, as a path like `train.epochs` or `experiment.sparsities[2]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A sweep's results folder does not hold every cell exactly once.
    #[error("cannot merge {}: {reason}", dir.display())]
    Merge {
        /// The results folder.
        dir: PathBuf,
        /// Ids of the cells with no record.
        missing: Vec<String>,
        /// Ids of the cells recorded more than once (with their files), or not in the spec.
        duplicated: Vec<String>,
        /// Both, for people.
        reason: String,
    },
    /// A file was read but its content is not in the expected format.
    #[error("{path}: {reason}")]
    Format {
        /// The file (or a description of the source).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The kernel family asked for (`PRUNELAB_SIMD`, [`force_family`](crate::kernels::force_family)) is
    /// unknown or needs a CPU feature this machine lacks.
    #[error("kernel family: {reason}")]
    Simd {
        /// What was asked and what this CPU runs.
        reason: String,
    },
}

/// Bytes as gigabytes with two significant decimals, for messages.
fn gigabytes(bytes: u64) -> String {
    let gb = bytes as f64 / 1e9;
    if gb >= 10.0 {
        format!("{gb:.0}")
    } else if gb >= 0.1 {
        format!("{gb:.1}")
    } else {
        format!("{gb:.3}")
    }
}

/// Shorthand for `std::result::Result<T, prunelab::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds an [`Error::InvalidParam`].
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParam {
            name,
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::ShapeMismatch`].
    pub(crate) fn shape(
        context: &'static str,
        expected: impl ToString,
        found: impl ToString,
    ) -> Self {
        Error::ShapeMismatch {
            context,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

/// Fails with [`Error::NonFinite`] when any value is NaN or infinite.
pub(crate) fn check_finite<'a>(
    values: impl IntoIterator<Item = &'a f32>,
    what: &'static str,
) -> Result<()> {
    if values.into_iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite { what })
    }
}
