//! A sweep spec's grid: planning its cells and running one of them.

use crate::error::{Error, Result};
use crate::nn::Mlp;
use crate::prune::{RankScope, SkipLayers, WeightPruning};
use crate::study::{IterativePruning, LotteryTicket, Rewind};
use crate::sweep::cell::{round_rows, Cell, CellRow, MAX_CELLS};
use crate::sweep::in_process::ThresholdSweep;
use crate::sweep::names::MethodName;
use crate::sweep::sections::ExperimentSpec;
use crate::sweep::spec::{StudyData, SweepSpec};

impl SweepSpec {
    /// The grid's cells in a fixed order (seed by seed; within a seed, method by method, then sparsity), after
    /// checking the spec.
    pub fn plan(&self) -> Result<Vec<Cell>> {
        self.check()?;
        let per_seed: Vec<(Option<MethodName>, Option<f64>)> = match &self.experiment {
            ExperimentSpec::Sparsity {
                methods,
                sparsities,
                ..
            } => methods
                .iter()
                .flat_map(|&m| sparsities.iter().map(move |&s| (Some(m), Some(s))))
                .collect(),
            _ => vec![(None, None)],
        };
        let n = per_seed.len().saturating_mul(self.seeds.len());
        if n > MAX_CELLS {
            return Err(Error::Spec {
                field: "seeds".into(),
                reason: format!("the grid has {n} cells; at most {MAX_CELLS}"),
            });
        }
        Ok(self
            .seeds
            .iter()
            .flat_map(|&seed| {
                per_seed
                    .iter()
                    .map(move |&(method, sparsity)| (seed, method, sparsity))
            })
            .enumerate()
            .map(|(index, (seed, method, sparsity))| Cell {
                index,
                seed,
                method,
                sparsity,
            })
            .collect())
    }

    /// The name of a result row's x: `sparsity` or `threshold`.
    pub fn x_name(&self) -> &'static str {
        match self.experiment {
            ExperimentSpec::Threshold { .. } => "threshold",
            _ => "sparsity",
        }
    }

    /// The network of `seed` trained as the spec says, kept in `trained` so the cells of one seed train it
    /// once (training is deterministic, so a cell computes the same numbers alone or after its neighbours).
    fn trained(
        &self,
        data: &StudyData,
        trained: &mut Option<(u64, Mlp)>,
        seed: u64,
    ) -> Result<Mlp> {
        if let Some((s, model)) = trained {
            if *s == seed {
                return Ok(model.clone());
            }
        }
        let mut model = self.network(data, seed)?;
        self.train_params(data, seed, None)
            .fit(&mut model, &data.train)?;
        *trained = Some((seed, model.clone()));
        Ok(model)
    }

    /// Runs one cell on loaded data; `trained` keeps the last trained network between calls (start with
    /// `None`).
    pub(super) fn run_cell(
        &self,
        data: &StudyData,
        trained: &mut Option<(u64, Mlp)>,
        cell: &Cell,
    ) -> Result<Vec<CellRow>> {
        let spec = self;
        let metric = spec.metric(data);
        let seed = cell.seed;
        match &spec.experiment {
            ExperimentSpec::Sparsity {
                skip,
                finetune_epochs,
                ..
            } => {
                let (Some(method), Some(sparsity)) = (cell.method, cell.sparsity) else {
                    return Err(Error::Incompatible(format!(
                        "cell {} is not a cell of a sparsity experiment",
                        cell.id()
                    )));
                };
                let mut model = self.trained(data, trained, seed)?;
                match method.sweep_method() {
                    Some(m) => m.prune(&mut model, sparsity, skip)?,
                    None => {
                        WeightPruning::random(sparsity, seed)
                            .skip(skip)
                            .apply(&mut model)?;
                    }
                }
                if *finetune_epochs > 0 {
                    spec.train_params(data, seed, Some(*finetune_epochs))
                        .fit(&mut model, &data.train)?;
                }
                Ok(vec![CellRow {
                    method: method.label(),
                    x: sparsity,
                    remaining: model.n_remaining(),
                    metric: metric.evaluate(&model, &data.test)?,
                }])
            }
            ExperimentSpec::Threshold {
                thresholds,
                inclusive,
                skip,
            } => {
                let model = self.trained(data, trained, seed)?;
                let r = thresholds;
                let values: Vec<f32> = (0..r.count)
                    .map(|i| match r.count {
                        1 => r.start,
                        n => {
                            (r.start as f64 + (r.stop - r.start) as f64 * i as f64 / (n - 1) as f64)
                                as f32
                        }
                    })
                    .collect();
                let mut sweep = ThresholdSweep::new(values).skip(skip);
                sweep.inclusive = *inclusive;
                let result = sweep.run_metric(&model, &data.test, metric)?;
                Ok((0..result.len())
                    .map(|i| CellRow {
                        method: "magnitude threshold".into(),
                        x: result.thresholds[i] as f64,
                        remaining: result.total_weights - result.removed[i],
                        metric: result.metric[i],
                    })
                    .collect())
            }
            ExperimentSpec::Iterative {
                rounds,
                amount,
                retrain_epochs,
                scope,
                skip,
            } => {
                let mut model = self.trained(data, trained, seed)?;
                let pruning = WeightPruning::magnitude(*amount)
                    .skip(skip)
                    .ranked(scope.scope());
                let schedule = IterativePruning {
                    rounds: *rounds,
                    pruning,
                    retrain: spec.train_params(data, seed, *retrain_epochs),
                };
                let history = schedule.run(&mut model, &data.train, &data.test, metric)?;
                Ok(round_rows(&history, "iterative magnitude", *amount))
            }
            ExperimentSpec::Lottery {
                rounds,
                amount,
                rewind_epoch,
                scope,
                skip,
                controls,
            } => {
                let mut model = spec.network(data, seed)?;
                let search = LotteryTicket {
                    rounds: *rounds,
                    amount_per_round: *amount,
                    rewind: match rewind_epoch {
                        0 => Rewind::Init,
                        &k => Rewind::Epoch(k),
                    },
                    scope: scope.scope(),
                    skip: skip.clone(),
                    train: spec.train_params(data, seed, None),
                };
                if *controls {
                    let table = search.compare(
                        &model,
                        &data.train,
                        &data.test,
                        metric,
                        spec.init(),
                        seed,
                    )?;
                    Ok(table
                        .rows
                        .into_iter()
                        .map(|r| CellRow {
                            method: r.method,
                            x: r.sparsity,
                            remaining: r.remaining,
                            metric: r.metric,
                        })
                        .collect())
                } else {
                    let history = search.run(&mut model, &data.train, &data.test, metric)?;
                    Ok(round_rows(&history, "lottery ticket", *amount))
                }
            }
        }
    }
}
