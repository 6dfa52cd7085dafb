//! # prunelab-prelude
//!
//! What a prunelab notebook gets with `use prunelab_prelude::*;` (the kernel runs that line at start): the
//! core API, charts, datasets, and ndarray's array types and macros. It deliberately does not shadow
//! `std`'s `Result`, so notebook code can write `Result<T, E>` as usual. Plain values (numbers, strings,
//! vectors of them) show themselves through [`PlainText`], so a cell ending in one compiles once.
//!
//! ```
//! use prunelab_prelude::*;
//!
//! let x = array![[0.0f32, 1.0]];
//! let model = Mlp::config(&[2, 4, 1]).output_activation(Activation::Sigmoid).build()?;
//! let chart = model.plot()?;
//! assert_eq!(model.forward(&x)?.dim(), (1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod text;

pub use text::PlainText;

pub use ndarray::{array, s, Array, Array1, Array2, ArrayView1, ArrayView2, Axis};
// The core API's one list; `Result` is std's again here (the core's alias would shadow it in cells).
pub use prunelab::prelude::*;
pub use prunelab_plot::{
    Animation, Chart, ImageGrid, LineChart, NetworkPlot, Plot, PlotError, PrunedEdges,
    PruningAnimation, ScatterMatrix, ThresholdSweepPlot, WeightHistogram,
};
pub use std::result::Result;
