//! # prunelab
//!
//! A workbench for neural-network pruning: small MLPs trained on ndarray, metrics that match
//! scikit-learn, bundled datasets, and the pruning engine built on them: masks, unstructured and
//! structured criteria, activation and gradient scores, compaction, sparse inference, schedules and sweeps.
//!
//! ```
//! use prunelab::prelude::*;
//!
//! let (train, test) = data::iris_binary().split(0.7, 0)?;
//! let mut model = Mlp::config(&[4, 5, 3, 1])
//!     .output_activation(Activation::Sigmoid)
//!     .seed(0)
//!     .build()?;
//! let history = TrainParams::new(Loss::BinaryCrossEntropy, Sgd::new(0.01).momentum(0.9).nesterov(true))
//!     .epochs(300)
//!     .alpha(0.1)
//!     .fit(&mut model, &train)?;
//! let ap = metrics::average_precision(test.labels()?, &model.predict_score(&test.records)?)?;
//! println!("{history}; test AP {ap:.3}");
//! # Ok::<(), prunelab::Error>(())
//! ```

pub mod activation;
mod csv_text;
pub mod data;
pub mod display;
mod elementwise;
mod error;
pub mod interrupt;
pub mod kernels;
mod linalg;
pub mod loss;
pub mod mem;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod progress;
pub mod prune;
pub mod study;
pub mod sweep;
pub mod train;

pub use error::{Error, Result};

/// The network as a graph of nodes and weighted edges (defined in [`nn`]).
pub use nn::graph;

/// The names most programs need, for `use prunelab::prelude::*`: the one list of the core API, which the
/// notebook prelude (`prunelab-prelude`) re-exports with the charts and ndarray's types added.
pub mod prelude {
    pub use crate::data::{self, Dataset, MnistSource, Standardizer, Targets};
    pub use crate::display::ScoreTable;
    pub use crate::error::{Error, Result};
    pub use crate::graph::{Edge, NetworkGraph};
    pub use crate::interrupt;
    pub use crate::loss::Loss;
    pub use crate::metrics::{self, Metric};
    pub use crate::nn::{Activation, Dense, Init, Mlp, MlpConfig, Topology, TorchSpec};
    pub use crate::optim::{Adam, Optimizer, Sgd};
    pub use crate::prune::{
        prune_to_sparsity, snip_scores, unit_scores, unit_utility, Amount, GradualPruning, Norm,
        PruneReport, RankScope, Scope, SkipLayers, SparseMlp, ThresholdPruning, UnitPruning,
        UnitScore, WeightPruning, WeightScore,
    };
    pub use crate::study::{IterativePruning, LotteryTicket, PruningHistory, Rewind};
    pub use crate::sweep::{
        self, Shard, SparsitySweep, SweepMethod, SweepPoint, SweepResults, SweepRow, SweepSpec,
        SweepTable, ThresholdSweep, ThresholdSweepResult,
    };
    pub use crate::train::{BatchSize, EarlyStopping, History, Progress, TrainParams, Trainer};
}

/// The README's examples, compiled and run as doc-tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
