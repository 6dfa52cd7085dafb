//! The chart crate's error type.

use std::path::PathBuf;

/// What can go wrong while drawing or saving a chart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// There is nothing finite to draw.
    #[error("nothing to draw: {0}")]
    NoData(&'static str),
    /// An option is out of range.
    #[error("invalid chart option: {0}")]
    Invalid(String),
    /// The embedded font could not be registered.
    #[error("the embedded font could not be registered")]
    Font,
    /// plotters failed while drawing.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Encode(String),
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error from the core crate (e.g. evaluating a model for a chart).
    #[error(transparent)]
    Core(#[from] prunelab::Error),
}

impl PlotError {
    /// Wraps a plotters drawing error.
    pub(crate) fn draw(e: impl std::fmt::Debug) -> Self {
        PlotError::Draw(format!("{e:?}"))
    }
}

/// Shorthand for `Result<T, PlotError>`.
pub type Result<T> = std::result::Result<T, PlotError>;
