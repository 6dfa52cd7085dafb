//! Sweeps over one trained network in this process: a metric against magnitude thresholds, and against
//! sparsity for several pruning methods.

use std::fmt::Write as _;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::metrics::Metric;
use crate::nn::Mlp;
use crate::progress::{Counter, Progress};
use crate::prune::{
    check_threshold, chosen_layers, prune_to_sparsity, Norm, RankScope, Scope, SkipLayers,
    UnitPruning, UnitScore,
};
use crate::study::{SweepRow, SweepTable};

/// Prunes copies of a network at many magnitude thresholds and evaluates a metric at each.
///
/// The kept weights are sorted by magnitude once; thresholds that prune the same weights share one
/// evaluation, and each worker thread takes a run of increasing thresholds and prunes one copy
/// incrementally, so 1000 points on a small network take milliseconds.
///
/// ```
/// use prunelab::prelude::*;
///
/// let (train, test) = data::iris_binary().split(0.7, 42)?;
/// let mut model = Mlp::config(&[4, 5, 3, 1]).output_activation(Activation::Sigmoid).seed(42).build()?;
/// TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.01)).epochs(300).fit(&mut model, &train)?;
/// let sweep = ThresholdSweep::linspace(&model, 1000)?.run_metric(&model, &test, Metric::AveragePrecision)?;
/// assert_eq!(sweep.thresholds.len(), 1000);
/// assert!(sweep.removed.windows(2).all(|w| w[0] <= w[1]));
/// if let Some(best) = sweep.best_threshold(0.9) {
///     println!("prune |w| < {:.3}: {} of {} weights go, AP {:.3}", best.threshold, best.removed, sweep.total_weights, best.metric);
/// }
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdSweep {
    /// The thresholds (any order; results come sorted ascending).
    pub thresholds: Vec<f32>,
    /// Prune `|w| <= t` rather than `|w| < t`.
    pub inclusive: bool,
    /// Layers never pruned.
    pub skip: Vec<usize>,
}

/// The outcome of a [`ThresholdSweep`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdSweepResult {
    /// Thresholds, ascending.
    pub thresholds: Vec<f32>,
    /// Weights pruned at each threshold (including any pruned before the sweep).
    pub removed: Vec<usize>,
    /// The metric at each threshold.
    pub metric: Vec<f64>,
    /// The metric's name.
    pub metric_name: String,
    /// Weights of the network.
    pub total_weights: usize,
}

/// One point of a threshold sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The threshold.
    pub threshold: f32,
    /// Weights pruned there.
    pub removed: usize,
    /// The metric there.
    pub metric: f64,
}

crate::prune::impl_selection!(skip: ThresholdSweep, SparsitySweep);

impl ThresholdSweep {
    /// A sweep over the given thresholds.
    pub fn new(thresholds: Vec<f32>) -> Self {
        ThresholdSweep {
            thresholds,
            inclusive: false,
            skip: Vec::new(),
        }
    }

    /// `n` thresholds evenly spaced from 0 to the largest kept `|w|` of `model`, both included.
    pub fn linspace(model: &Mlp, n: usize) -> Result<Self> {
        if n < 2 {
            return Err(Error::param(
                "n",
                format!("need at least 2 thresholds, got {n}"),
            ));
        }
        let max = model
            .layers()
            .iter()
            .flat_map(|l| l.weight().iter().map(|w| w.abs()).collect::<Vec<_>>())
            .fold(0.0f32, f32::max);
        let step = max as f64 / (n - 1) as f64;
        // The thresholds and one result row each.
        crate::mem::ensure(
            "the sweep's thresholds",
            crate::mem::bytes(n, 4 + std::mem::size_of::<SweepPoint>()),
        )?;
        let mut thresholds = crate::mem::try_vec("the sweep's thresholds", n, 0.0f32)?;
        for (i, t) in thresholds.iter_mut().enumerate() {
            *t = (i as f64 * step) as f32;
        }
        Ok(Self::new(thresholds))
    }

    /// Prunes `|w| <= t` instead of `|w| < t`.
    pub fn inclusive(mut self) -> Self {
        self.inclusive = true;
        self
    }

    /// Runs the sweep with a built-in metric on `data`.
    pub fn run_metric(
        &self,
        model: &Mlp,
        data: &Dataset,
        metric: Metric,
    ) -> Result<ThresholdSweepResult> {
        let mut r = self.run(model, |m| metric.evaluate(m, data))?;
        r.metric_name = metric.name().into();
        Ok(r)
    }

    /// Runs the sweep with any metric of the pruned network.
    ///
    /// `metric` is called once per distinct pruned network: thresholds that prune the same weights (every
    /// threshold between two neighbouring kept magnitudes) share one value, so it should depend on the
    /// network alone.
    pub fn run<F>(&self, model: &Mlp, metric: F) -> Result<ThresholdSweepResult>
    where
        F: Fn(&Mlp) -> Result<f64> + Sync,
    {
        if self.thresholds.is_empty() {
            return Err(Error::Empty {
                what: "threshold list",
            });
        }
        for &t in &self.thresholds {
            check_threshold(t)?;
        }
        let layers = chosen_layers(model, &self.skip)?;
        let mut thresholds = self.thresholds.clone();
        thresholds.sort_by(f32::total_cmp);
        // Kept weights of the chosen layers, by magnitude.
        let mut entries: Vec<(f32, usize, usize, usize)> = Vec::new();
        for &k in &layers {
            let l = &model.layers()[k];
            for ((u, c), &w) in l.weight().indexed_iter() {
                if l.is_kept(u, c) {
                    entries.push((w.abs(), k, u, c));
                }
            }
        }
        entries.sort_by(|a, b| a.0.total_cmp(&b.0));
        let before = model.n_weights() - model.n_remaining();
        let cuts: Vec<usize> = thresholds
            .iter()
            .map(|&t| {
                if self.inclusive {
                    entries.partition_point(|e| e.0 <= t)
                } else {
                    entries.partition_point(|e| e.0 < t)
                }
            })
            .collect();
        // Thresholds that prune the same weights give the same network: each distinct cut (the cuts rise
        // with the sorted thresholds) is evaluated once and its value shared. Between two kept
        // magnitudes every threshold is such a repeat, so a small network's sweep evaluates at most one
        // network per kept weight, however many thresholds it has.
        let mut distinct = cuts.clone();
        distinct.dedup();
        let chunk = distinct
            .len()
            .div_ceil(4 * rayon::current_num_threads())
            .max(1);
        let metric = &metric;
        let distinct_values: Vec<f64> = distinct
            .par_chunks(chunk)
            .map(|run| -> Result<Vec<f64>> {
                let mut copy = model.clone();
                let mut done = 0;
                run.iter()
                    .map(|&cut| {
                        crate::interrupt::checkpoint("the threshold sweep", || {
                            format!(
                                "before the end of its {} thresholds; the model is unchanged",
                                cuts.len()
                            )
                        })?;
                        for &(_, k, u, c) in &entries[done..cut] {
                            copy.prune_weight(k, u, c);
                        }
                        done = cut;
                        metric(&copy)
                    })
                    .collect()
            })
            .collect::<Result<Vec<Vec<f64>>>>()?
            .into_iter()
            .flatten()
            .collect();
        let mut next = 0;
        let values: Vec<f64> = cuts
            .iter()
            .map(|&cut| {
                // `distinct` holds every cut once, in the same (rising) order.
                while distinct[next] != cut {
                    next += 1;
                }
                distinct_values[next]
            })
            .collect();
        Ok(ThresholdSweepResult {
            removed: cuts.iter().map(|c| before + c).collect(),
            thresholds,
            metric: values,
            metric_name: "metric".into(),
            total_weights: model.n_weights(),
        })
    }
}

impl ThresholdSweepResult {
    fn point(&self, i: usize) -> SweepPoint {
        SweepPoint {
            threshold: self.thresholds[i],
            removed: self.removed[i],
            metric: self.metric[i],
        }
    }

    /// The largest threshold up to which the metric stays above `bound` (above it at that threshold and at
    /// every smaller one). `None` if the metric is not above `bound` even at the smallest threshold.
    pub fn best_threshold(&self, bound: f64) -> Option<SweepPoint> {
        let n = self.metric.iter().take_while(|&&m| m > bound).count();
        (n > 0).then(|| self.point(n - 1))
    }

    /// The largest threshold at which the metric is above `bound`, wherever it dips in between.
    pub fn largest_threshold_above(&self, bound: f64) -> Option<SweepPoint> {
        (0..self.metric.len())
            .rev()
            .find(|&i| self.metric[i] > bound)
            .map(|i| self.point(i))
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.thresholds.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.thresholds.is_empty()
    }

    /// CSV with columns `threshold,removed,fraction_removed,<metric>`.
    pub fn to_csv(&self) -> String {
        let mut out = format!(
            "threshold,removed,fraction_removed,{}\n",
            crate::csv_text::field(&self.metric_name)
        );
        for i in 0..self.len() {
            let _ = writeln!(
                out,
                "{},{},{},{}",
                self.thresholds[i],
                self.removed[i],
                self.removed[i] as f64 / self.total_weights as f64,
                self.metric[i]
            );
        }
        out
    }

    /// The result as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Serialize {
            what: "the threshold sweep",
            format: "JSON",
            reason: e.to_string(),
        })
    }
}

/// A pruning method compared in a [`SparsitySweep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SweepMethod {
    /// Unstructured magnitude pruning to the target fraction of weights.
    Weights(Scope),
    /// Removing the target fraction of hidden units by the norm of their incoming weights.
    Units {
        /// Layerwise or global ranking.
        scope: Scope,
        /// Which norm ranks the units.
        norm: Norm,
    },
}

impl SweepMethod {
    /// A short label, e.g. `"weight (layerwise)"`, `"unit L2 (global)"`.
    pub fn label(&self) -> String {
        let scope = |s: &Scope| match s {
            Scope::Layerwise => "layerwise",
            Scope::Global => "global",
        };
        match self {
            SweepMethod::Weights(s) => format!("weight ({})", scope(s)),
            SweepMethod::Units { scope: s, norm } => format!("unit {norm:?} ({})", scope(s)),
        }
    }

    pub(super) fn prune(&self, model: &mut Mlp, sparsity: f64, skip: &[usize]) -> Result<()> {
        match *self {
            SweepMethod::Weights(scope) => {
                prune_to_sparsity(model, sparsity, scope, skip).map(|_| ())
            }
            SweepMethod::Units { scope, norm } => {
                let hidden = model.n_layers() - 1;
                let skip: Vec<usize> = skip.iter().copied().filter(|&k| k < hidden).collect();
                UnitPruning::new(
                    UnitScore::Incoming {
                        norm,
                        with_bias: false,
                    },
                    sparsity,
                )
                .skip(&skip)
                .ranked(scope)
                .apply(model)
                .map(|_| ())
            }
        }
    }
}

/// Prunes copies of a network to several sparsities with several methods and evaluates a metric on each.
///
/// ```
/// use prunelab::prelude::*;
///
/// let model = Mlp::config(&[4, 16, 16, 3]).output_activation(Activation::Softmax).seed(0).build()?;
/// let data = data::iris();
/// let table = SparsitySweep::new(vec![0.0, 0.5, 0.9])
///     .skip(&[2])
///     .run_metric(&model, &data, Metric::Accuracy)?;
/// assert_eq!(table.rows.len(), 6); // two default methods × three sparsities
/// println!("{table}");
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparsitySweep {
    /// Target sparsities in `[0, 1]`: the fraction of weights (or of hidden units) removed.
    pub sparsities: Vec<f64>,
    /// The methods compared (default: layerwise weight pruning and layerwise L2 unit pruning).
    pub methods: Vec<SweepMethod>,
    /// Layers never pruned (e.g. the output layer).
    pub skip: Vec<usize>,
    /// How the sweep reports its progress, point by point (default: silent).
    #[serde(default)]
    pub progress: Progress,
}

impl SparsitySweep {
    /// A sweep over `sparsities` with the default methods.
    pub fn new(sparsities: Vec<f64>) -> Self {
        SparsitySweep {
            sparsities,
            methods: vec![
                SweepMethod::Weights(Scope::Layerwise),
                SweepMethod::Units {
                    scope: Scope::Layerwise,
                    norm: Norm::L2,
                },
            ],
            skip: Vec::new(),
            progress: Progress::Silent,
        }
    }

    /// Reports progress point by point (a bar redrawn in place with [`Progress::Bar`]).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Sets the methods.
    pub fn methods(mut self, methods: Vec<SweepMethod>) -> Self {
        self.methods = methods;
        self
    }

    /// Runs with a built-in metric on `data`.
    pub fn run_metric(&self, model: &Mlp, data: &Dataset, metric: Metric) -> Result<SweepTable> {
        let mut t = self.run(model, |m| metric.evaluate(m, data))?;
        t.metric_name = metric.name().into();
        Ok(t)
    }

    /// Runs with any metric of the pruned network; points are evaluated in parallel.
    pub fn run<F>(&self, model: &Mlp, metric: F) -> Result<SweepTable>
    where
        F: Fn(&Mlp) -> Result<f64> + Sync,
    {
        if self.sparsities.is_empty() || self.methods.is_empty() {
            return Err(Error::Empty {
                what: "sparsity sweep",
            });
        }
        if let Some(&s) = self.sparsities.iter().find(|s| !(0.0..=1.0).contains(*s)) {
            return Err(Error::param(
                "sparsity",
                format!("must lie in [0, 1], got {s}"),
            ));
        }
        chosen_layers(model, &self.skip)?;
        self.progress.check()?;
        let mut sparsities = self.sparsities.clone();
        sparsities.sort_by(f64::total_cmp);
        let points: Vec<(SweepMethod, f64)> = self
            .methods
            .iter()
            .flat_map(|&m| sparsities.iter().map(move |&s| (m, s)))
            .collect();
        let progress = Counter::new(self.progress, points.len(), "points");
        let rows = points
            .par_iter()
            .map(|&(method, sparsity)| {
                crate::interrupt::checkpoint("the sparsity sweep", || {
                    format!(
                        "at {} sparsity {sparsity}; the model is unchanged",
                        method.label()
                    )
                })?;
                let mut copy = model.clone();
                method.prune(&mut copy, sparsity, &self.skip)?;
                let row = SweepRow {
                    method: method.label(),
                    sparsity,
                    remaining: copy.n_remaining(),
                    metric: metric(&copy)?,
                };
                progress.tick();
                Ok(row)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SweepTable {
            metric_name: "metric".into(),
            rows,
        })
    }
}
