//! Sweeps: a metric against magnitude thresholds, and against sparsity for several pruning methods; and
//! studies written as a [`SweepSpec`] whose grid of cells runs in one process or as the shards of a cluster
//! job ([`SweepSpec::run_shard`], [`merge_dir`]).

pub use crate::study::{SweepRow, SweepTable};

mod cell;
mod grid;
mod in_process;
mod merge;
mod names;
mod results;
mod run;
mod sections;
mod spec;

pub use cell::{Cell, CellRow, Shard, MAX_CELLS};
pub use in_process::{
    SparsitySweep, SweepMethod, SweepPoint, ThresholdSweep, ThresholdSweepResult,
};
pub use merge::{merge_dir, read_spec};
pub use names::{
    ActivationName, DatasetName, InitName, LossName, MethodName, MetricName, OptimizerName,
    ScopeName, TopologyName,
};
pub use results::{
    shard_file, BandPoint, CellRecord, MergedRow, ShardReport, SweepResults, SPEC_FILE,
};
pub use sections::{
    BatchSpec, DataSpec, ExperimentSpec, NetworkSpec, Normalize, ThresholdRange, TrainSpec,
};
pub use spec::{StudyData, SweepSpec};
