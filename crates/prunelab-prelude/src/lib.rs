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
pub use prunelab::data::{self, Dataset, MnistSource, Standardizer, Targets};
pub use prunelab::display::ScoreTable;
pub use prunelab::graph::{Edge, NetworkGraph};
pub use prunelab::loss::Loss;
pub use prunelab::metrics::{self, Metric};
pub use prunelab::nn::{Activation, Dense, Init, Mlp, MlpConfig, Topology};
pub use prunelab::optim::{Adam, Optimizer, Sgd};
pub use prunelab::prune::{
    prune_to_sparsity, snip_scores, unit_scores, unit_utility, Amount, GradualPruning,
    IterativePruning, LotteryTicket, Norm, PruneReport, PruningHistory, Rewind, Scope, SparseMlp,
    ThresholdPruning, UnitPruning, UnitScore, WeightPruning, WeightScore,
};
pub use prunelab::sweep::{
    Shard, SparsitySweep, SweepMethod, SweepPoint, SweepResults, SweepRow, SweepSpec, SweepTable,
    ThresholdSweep, ThresholdSweepResult,
};
pub use prunelab::train::{BatchSize, EarlyStopping, History, Progress, TrainParams, Trainer};
pub use prunelab::{interrupt, sweep, Error};
pub use prunelab_plot::{
    Animation, Chart, ImageGrid, LineChart, NetworkPlot, Plot, PlotError, PrunedEdges,
    PruningAnimation, ScatterMatrix, ThresholdSweepPlot, WeightHistogram,
};
