//! The cells of a sweep spec's grid (one seed x one configuration), their result rows, and the shards that
//! split them.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::study::PruningHistory;
use crate::sweep::names::MethodName;

/// The most cells a spec may plan.
pub const MAX_CELLS: usize = 1_000_000;

/// One unit of work: one seed and one configuration, training included. A cell's result depends only on the
/// spec and the cell, so any process anywhere computes the same numbers for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Position in the plan, from 0.
    pub index: usize,
    /// The seed.
    pub seed: u64,
    /// The pruning method (sparsity experiments; the other kinds run all their points in one cell).
    pub method: Option<MethodName>,
    /// The target sparsity (sparsity experiments).
    pub sparsity: Option<f64>,
}

impl Cell {
    /// The cell's name, unique in its plan: `seed=3 method=weights sparsity=0.9`, or `seed=3`.
    pub fn id(&self) -> String {
        match (self.method, self.sparsity) {
            (Some(m), Some(s)) => format!("seed={} method={} sparsity={s}", self.seed, m.key()),
            _ => format!("seed={}", self.seed),
        }
    }
}

/// One result row of a cell: a method (or arm) at one x (a sparsity, a threshold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRow {
    /// The method or arm, e.g. `weight (layerwise)`, `lottery ticket`.
    pub method: String,
    /// The sparsity or threshold of the point.
    pub x: f64,
    /// Weights remaining.
    pub remaining: usize,
    /// The metric on the test data.
    pub metric: f64,
}

/// A deterministic part of a plan: shard `index` of `count` gets a contiguous run of cells, so together the
/// shards hold every cell exactly once, and a shard's cells share seeds (each process trains few networks).
///
/// ```
/// use prunelab::sweep::Shard;
///
/// let shard = Shard::parse("1/4")?;
/// assert_eq!(shard.range(10), 2..5);
/// let all: Vec<usize> = (0..4).flat_map(|i| Shard::new(i, 4).unwrap().range(10)).collect();
/// assert_eq!(all, (0..10).collect::<Vec<_>>());
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// How many shards there are.
    pub count: usize,
}

impl Shard {
    /// Every cell in one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count` (`index < count`, `count` ≤ 1,000,000).
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 || count > MAX_CELLS {
            return Err(Error::param(
                "shard count",
                format!("must lie in [1, {MAX_CELLS}], got {count}"),
            ));
        }
        if index >= count {
            return Err(Error::IndexOutOfRange {
                what: "shard",
                index,
                len: count,
            });
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N` (shard I of N, from 0).
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || {
            Error::param(
                "shard",
                format!("expected I/N with 0 ≤ I < N (e.g. 0/4), got {text:?}"),
            )
        };
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n)
    }

    /// The shard a scheduler gave this process, from its environment: Slurm job arrays
    /// (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`, less `SLURM_ARRAY_TASK_MIN`), or a Kubernetes
    /// Indexed Job (`JOB_COMPLETION_INDEX`, with the count in `PRUNELAB_SHARD_COUNT`). `None` outside both.
    pub fn from_env() -> Result<Option<Shard>> {
        Shard::from_vars(|k| std::env::var(k).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let num = |name: &str| -> Result<Option<usize>> {
            match var(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| {
                    Error::param("environment", format!("{name}={v:?} is not a number"))
                }),
            }
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let count = num("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
                Error::param(
                    "environment",
                    "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --shard I/N",
                )
            })?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(min).ok_or_else(|| {
                Error::param(
                    "environment",
                    format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"),
                )
            })?;
            return Shard::new(index, count).map(Some);
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = num("PRUNELAB_SHARD_COUNT")?.ok_or_else(|| {
                Error::param(
                    "environment",
                    "JOB_COMPLETION_INDEX is set but PRUNELAB_SHARD_COUNT is not (the Job's completions)",
                )
            })?;
            return Shard::new(index, count).map(Some);
        }
        Ok(None)
    }

    /// The cells of a plan of `n_cells` this shard runs (none for a shard that [`new`](Self::new) would
    /// refuse).
    pub fn range(&self, n_cells: usize) -> Range<usize> {
        if self.index >= self.count {
            return 0..0;
        }
        let at = |k: usize| (k as u128 * n_cells as u128 / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A schedule's rounds as rows of `method`, at each round's target sparsity `1 − (1 − amount)^round`.
pub(super) fn round_rows(history: &PruningHistory, method: &str, amount: f64) -> Vec<CellRow> {
    history
        .rounds
        .iter()
        .map(|r| CellRow {
            method: method.into(),
            x: 1.0 - (1.0 - amount).powi(r.round as i32),
            remaining: r.remaining,
            metric: r.metric,
        })
        .collect()
}
