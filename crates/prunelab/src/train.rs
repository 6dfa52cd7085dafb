//! Training: checked hyperparameters, the [`Trainer`] that keeps optimiser state between runs, and the
//! [`History`] of a run.

use std::fmt;

use ndarray::{s, Array1, Array2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::metrics::Metric;
use crate::nn::{train_crossover, Gradients, Mlp, Snapshot, Workspace};
use crate::optim::{Optimizer, OptimizerState};
use crate::prune::scores::{MovementTracker, UtilityTracker};
use crate::prune::GradualPruning;

/// How many samples go into one gradient step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchSize {
    /// The whole training set in every step.
    Full,
    /// At most this many samples per step (the last batch of an epoch may be smaller).
    Size(usize),
}

impl BatchSize {
    fn resolve(self, n: usize) -> usize {
        match self {
            BatchSize::Full => n,
            BatchSize::Size(b) => b.min(n),
        }
    }
}

pub use crate::progress::Progress;

/// Stop when the monitored value has not improved for a while. The monitored value is the validation metric
/// when training is validated, otherwise the training loss (as scikit-learn's `n_iter_no_change`/`tol`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// The least change that counts as an improvement.
    pub min_delta: f32,
}

/// Training hyperparameters, checked by [`TrainParams::check`] before any training starts.
///
/// ```
/// use prunelab::prelude::*;
///
/// let data = data::xor();
/// let mut model = Mlp::config(&[2, 8, 1]).output_activation(Activation::Sigmoid).seed(1).build()?;
/// let params = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.05)).epochs(200).batch_size(BatchSize::Full);
/// let history = params.fit(&mut model, &data)?;
/// assert!(history.final_loss().unwrap() < history.loss[0]);
///
/// // Invalid values are typed errors that name the field.
/// let bad = TrainParams::new(Loss::Mse, Sgd::new(-1.0)).check();
/// assert!(matches!(bad, Err(Error::InvalidParam { name: "lr", .. })));
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// The loss to minimise.
    pub loss: Loss,
    /// The optimiser and its hyperparameters.
    pub optimizer: Optimizer,
    /// Number of passes over the training data (default 200, as scikit-learn's `max_iter`).
    pub epochs: usize,
    /// Samples per step (default at most 200, as scikit-learn's `batch_size='auto'`).
    pub batch_size: BatchSize,
    /// L2 penalty on weights (not biases) with scikit-learn's meaning: `0.5·alpha·Σ‖W‖² / batch_size` is added
    /// to the loss (default 0).
    pub alpha: f32,
    /// Shuffle the samples before each epoch (default `true`).
    pub shuffle: bool,
    /// Seed of the shuffling; the same seed gives bit-identical runs (default 0).
    pub seed: u64,
    /// Progress reporting (default silent).
    pub progress: Progress,
    /// Optional early stopping (default none).
    pub early_stopping: Option<EarlyStopping>,
    /// Track each hidden unit's activation utility, smoothed with this factor α (`u ← α·u + (1 − α)·new`;
    /// NaiveNASflux uses 0.05); read it with [`Trainer::unit_utility`] (default off).
    pub track_utility: Option<f32>,
    /// Accumulate movement scores `−Σ w·∂L/∂w`; read them with [`Trainer::movement_scores`] (default off).
    pub track_movement: bool,
    /// Prune gradually during training on the Zhu & Gupta schedule (default off).
    pub gradual: Option<GradualPruning>,
    /// Masked layers with at most this fraction of their weights kept train through sparse kernels, which
    /// give the same numbers as the dense ones (default `None`: the measured crossover of the kernels in
    /// use, [`train_crossover`]; `0` trains every layer dense). Files written before this default
    /// depended on the kernels hold the density then in force (0.25), which stays the one set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_density: Option<f64>,
}

impl TrainParams {
    /// Parameters with the given loss and optimiser and the defaults above.
    pub fn new(loss: Loss, optimizer: impl Into<Optimizer>) -> Self {
        TrainParams {
            loss,
            optimizer: optimizer.into(),
            epochs: 200,
            batch_size: BatchSize::Size(200),
            alpha: 0.0,
            shuffle: true,
            seed: 0,
            progress: Progress::Silent,
            early_stopping: None,
            track_utility: None,
            track_movement: false,
            gradual: None,
            sparse_density: None,
        }
    }

    /// Sets the number of epochs.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the batch size.
    pub fn batch_size(mut self, batch_size: BatchSize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the L2 penalty (scikit-learn's `alpha`).
    pub fn alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }

    /// Turns shuffling on or off.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the progress reporting.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Stops after `patience` epochs without an improvement of at least `min_delta`.
    pub fn early_stopping(mut self, patience: usize, min_delta: f32) -> Self {
        self.early_stopping = Some(EarlyStopping {
            patience,
            min_delta,
        });
        self
    }

    /// Tracks the smoothed activation utility of hidden units with smoothing factor `alpha` in `[0, 1)`.
    pub fn track_utility(mut self, alpha: f32) -> Self {
        self.track_utility = Some(alpha);
        self
    }

    /// Accumulates movement scores.
    pub fn track_movement(mut self) -> Self {
        self.track_movement = true;
        self
    }

    /// Prunes gradually while training.
    pub fn gradual(mut self, schedule: GradualPruning) -> Self {
        self.gradual = Some(schedule);
        self
    }

    /// Sets the density at or below which masked layers train through sparse kernels (`0`: never).
    pub fn sparse_density(mut self, density: f64) -> Self {
        self.sparse_density = Some(density);
        self
    }

    /// The density at or below which masked layers train through sparse kernels: the one set, else the
    /// crossover measured for the kernels in use ([`train_crossover`]).
    pub fn sparse_density_in_force(&self) -> f64 {
        self.sparse_density
            .unwrap_or_else(|| train_crossover(crate::kernels::family()))
    }

    /// Checks every hyperparameter; an invalid one is an [`Error::InvalidParam`] naming the field.
    pub fn check(self) -> Result<ValidTrainParams> {
        self.optimizer.check()?;
        if self.epochs == 0 {
            return Err(Error::param("epochs", "must be at least 1"));
        }
        if self.batch_size == BatchSize::Size(0) {
            return Err(Error::param("batch_size", "must be at least 1"));
        }
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(Error::param(
                "alpha",
                format!("must be finite and >= 0, got {}", self.alpha),
            ));
        }
        self.progress.check()?;
        if let Some(es) = self.early_stopping {
            if es.patience == 0 {
                return Err(Error::param(
                    "early_stopping.patience",
                    "must be at least 1",
                ));
            }
            if !(es.min_delta >= 0.0 && es.min_delta.is_finite()) {
                return Err(Error::param(
                    "early_stopping.min_delta",
                    format!("must be finite and >= 0, got {}", es.min_delta),
                ));
            }
        }
        if let Some(alpha) = self.track_utility {
            if !(0.0..1.0).contains(&alpha) {
                return Err(Error::param(
                    "track_utility",
                    format!("smoothing must lie in [0, 1), got {alpha}"),
                ));
            }
        }
        if let Some(g) = &self.gradual {
            g.check()?;
        }
        if let Some(d) = self.sparse_density.filter(|d| !(0.0..=1.0).contains(d)) {
            return Err(Error::param(
                "sparse_density",
                format!("must lie in [0, 1], got {d}"),
            ));
        }
        Ok(ValidTrainParams(self))
    }

    /// Checks the parameters and makes a [`Trainer`].
    pub fn trainer(self) -> Result<Trainer> {
        Ok(Trainer::new(self.check()?))
    }

    /// Checks the parameters and trains `model` on `data` with a fresh optimiser.
    pub fn fit(&self, model: &mut Mlp, data: &Dataset) -> Result<History> {
        self.clone().trainer()?.fit(model, data)
    }
}

/// Hyperparameters that passed [`TrainParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTrainParams(TrainParams);

impl std::ops::Deref for ValidTrainParams {
    type Target = TrainParams;
    fn deref(&self) -> &TrainParams {
        &self.0
    }
}

/// Trains networks with checked parameters, keeping the optimiser state (momenta, Adam's moments and step
/// count) and the shuffling stream between calls, so training can go on where it stopped.
///
/// ```
/// use prunelab::prelude::*;
///
/// let data = data::cos_sin(50)?;
/// let mut model = Mlp::config(&[1, 16, 2]).activation(Activation::Tanh).build()?;
/// let mut trainer = TrainParams::new(Loss::Mse, Adam::new(1e-2)).epochs(20).trainer()?;
/// let first = trainer.fit(&mut model, &data)?;
/// let more = trainer.fit(&mut model, &data)?; // continues with Adam's moments kept
/// assert_eq!(more.start_epoch, 20);
/// trainer.reset_optimizer(); // or starts the optimiser afresh
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Trainer {
    params: ValidTrainParams,
    state: OptimizerState,
    rng: ChaCha8Rng,
    epochs_done: usize,
    steps_done: usize,
    utility: Option<UtilityTracker>,
    movement: Option<MovementTracker>,
}

impl Trainer {
    /// A trainer with a fresh optimiser.
    pub fn new(params: ValidTrainParams) -> Self {
        Trainer {
            state: OptimizerState::new(params.optimizer),
            rng: ChaCha8Rng::seed_from_u64(params.seed),
            epochs_done: 0,
            steps_done: 0,
            utility: params.track_utility.map(|alpha| UtilityTracker {
                alpha,
                values: None,
            }),
            movement: params.track_movement.then(MovementTracker::default),
            params,
        }
    }

    /// Optimiser steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.steps_done
    }

    /// The smoothed activation utility of every hidden unit (one vector per hidden layer), when tracked and
    /// after at least one step. Higher is more useful; pass it to
    /// [`UnitScore::Custom`](crate::prune::UnitScore::Custom).
    pub fn unit_utility(&self) -> Option<Vec<Array1<f32>>> {
        self.utility.as_ref().and_then(|u| u.values.clone())
    }

    /// The accumulated movement scores (one matrix per layer), when tracked and after at least one step.
    pub fn movement_scores(&self) -> Option<Vec<Array2<f32>>> {
        self.movement.as_ref().and_then(|m| m.values.clone())
    }

    /// The parameters.
    pub fn params(&self) -> &TrainParams {
        &self.params
    }

    /// Epochs trained so far by this trainer.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Changes the number of epochs of the next calls.
    pub fn set_epochs(&mut self, epochs: usize) -> Result<()> {
        if epochs == 0 {
            return Err(Error::param("epochs", "must be at least 1"));
        }
        self.params.0.epochs = epochs;
        Ok(())
    }

    /// Forgets the optimiser state; the next step starts as a fresh optimiser would.
    pub fn reset_optimizer(&mut self) {
        self.state.reset();
    }

    /// Trains `model` on `train` for the configured number of epochs.
    pub fn fit(&mut self, model: &mut Mlp, train: &Dataset) -> Result<History> {
        crate::kernels::active_family()?;
        self.run(model, train, None)
    }

    /// Trains and evaluates `metric` on `validation` after every epoch; early stopping, if set, watches it.
    pub fn fit_validated(
        &mut self,
        model: &mut Mlp,
        train: &Dataset,
        validation: &Dataset,
        metric: Metric,
    ) -> Result<History> {
        self.run(model, train, Some((validation, metric)))
    }

    fn run(
        &mut self,
        model: &mut Mlp,
        train: &Dataset,
        validation: Option<(&Dataset, Metric)>,
    ) -> Result<History> {
        crate::linalg::on_pool(|| self.run_here(model, train, validation))
    }

    /// [`Trainer::run`] on the calling thread.
    fn run_here(
        &mut self,
        model: &mut Mlp,
        train: &Dataset,
        validation: Option<(&Dataset, Metric)>,
    ) -> Result<History> {
        let p = &self.params;
        p.loss.check_output(model.output_activation())?;
        model.check_input(&train.records.view())?;
        let y = p.loss.encode_targets(&train.targets, model.n_outputs())?;
        if let Some((val, metric)) = validation {
            metric.evaluate(model, val)?;
        }
        let n = train.n_samples();
        let bs = p.batch_size.resolve(n);
        let full_batch = bs == n;
        let mut ws = Workspace::new(model, bs);
        if self.utility.is_some() {
            ws.track_utility(model);
        }
        // Sparse layers update their kept weights only: the state of pruned ones is zeroed once here.
        ws.plan_sparse(model, p.sparse_density_in_force());
        self.state.forget_pruned(model);
        // Trackers read every layer's whole weight gradient; otherwise a sparse layer's lives in its plan.
        let tracked = self.utility.is_some() || self.movement.is_some();
        let in_plan = |ws: &Workspace, k: usize| {
            !tracked && ws.sparse.as_ref().is_some_and(|p| p.is_sparse(k))
        };
        let mut grads = Gradients::zeros_except(model, |k| in_plan(&ws, k));
        let (mut xb, mut yb) = if full_batch {
            (Array2::zeros((0, 0)), Array2::zeros((0, 0)))
        } else {
            (
                Array2::zeros((bs, train.n_features())),
                Array2::zeros((bs, y.ncols())),
            )
        };
        let mut snapshot = Snapshot::take(model, ws.sparse.as_ref());
        let mut order: Vec<usize> = (0..n).collect();
        let mut history = History {
            loss: Vec::with_capacity(p.epochs),
            metric: validation.map(|(_, m)| m),
            validation: Vec::new(),
            start_epoch: self.epochs_done,
            stopped_early: false,
        };
        let mut best = f64::NAN;
        let mut since_best = 0;
        // The bar counts steps, so an epoch of many batches moves it too.
        let steps = n.div_ceil(bs);
        let mut bar = (p.progress == Progress::Bar)
            .then(|| crate::progress::Bar::new(p.epochs.saturating_mul(steps)));
        for local in 1..=p.epochs {
            let epoch = self.epochs_done + 1;
            // Checked before the epoch draws its order, so a run stopped here continues exactly as one
            // that was never stopped.
            crate::interrupt::checkpoint("training", || {
                format!("before epoch {local} of {}", p.epochs)
            })?;
            if local > 1 {
                // (The first epoch's snapshot is the clone taken above.)
                snapshot.retake(model, ws.sparse.as_ref());
            }
            if p.shuffle && !full_batch {
                // A fresh permutation per epoch, so continued runs equal one longer run.
                order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
                order.shuffle(&mut self.rng);
            }
            let mut total = 0.0f64;
            let stopped_at = |step: usize| {
                move || {
                    format!(
                        "in epoch {local} of {} after {step} of {steps} steps; the model has the weights \
                         of the last completed step",
                        p.epochs
                    )
                }
            };
            for (step, chunk) in order.chunks(bs).enumerate() {
                if step > 0 {
                    if let Err(stop) = crate::interrupt::checkpoint("training", stopped_at(step)) {
                        // The model keeps the weights of the last completed step.
                        ws.write_back(model);
                        return Err(stop);
                    }
                }
                let m = chunk.len();
                let (xv, yv) = if full_batch {
                    (train.records.view(), y.view())
                } else {
                    for (r, &i) in chunk.iter().enumerate() {
                        xb.row_mut(r).assign(&train.records.row(i));
                        yb.row_mut(r).assign(&y.row(i));
                    }
                    (xb.slice(s![..m, ..]), yb.slice(s![..m, ..]))
                };
                model.forward_ws(&mut ws, xv);
                let value = model.loss_backward(&mut ws, yv, p.loss, p.alpha, &mut grads);
                // The optimiser checks the gradients in its own pass; trackers that read them first get
                // them checked here.
                if let (true, Some(plan)) = (tracked, &ws.sparse) {
                    plan.scatter_grads(&mut grads.weights);
                }
                if !value.is_finite() || (tracked && !grads.all_finite()) {
                    return Err(self.diverged(model, &snapshot, epoch));
                }
                if let (Some(tracker), Some(batch)) = (&mut self.utility, &ws.utility) {
                    tracker.update(batch);
                }
                if let Some(tracker) = &mut self.movement {
                    // It reads the weights: the sparse layers' current ones are written back first.
                    ws.write_back(model);
                    tracker.update(model, &grads);
                }
                if !self.state.step(model, &grads, ws.sparse.as_mut()) {
                    return Err(self.diverged(model, &snapshot, epoch));
                }
                if let Some(schedule) = &p.gradual {
                    if let Some(target) = schedule.target_at(self.steps_done) {
                        ws.write_back(model);
                        schedule.prune_to(model, target)?;
                        // New masks: the gradients and state of the newly pruned are zeroed once, and the
                        // layers now sparse enough switch kernels.
                        grads.apply_masks(model, |_| false);
                        self.state.forget_pruned(model);
                        ws.plan_sparse(model, p.sparse_density_in_force());
                        grads.fill_in(model, |k| in_plan(&ws, k));
                    }
                }
                self.steps_done += 1;
                if let Some(bar) = &mut bar {
                    let done = (local - 1) * steps + step + 1;
                    if done < p.epochs * steps {
                        bar.update(done, || {
                            let at = history.start_epoch + local;
                            let of = history.start_epoch + p.epochs;
                            format!("epoch {at:>5}/{of}  step {}/{steps}", step + 1)
                        });
                    }
                }
                total += value as f64 * m as f64;
            }
            // Everything after the epoch's steps reads the weights.
            ws.write_back(model);
            if !model.params_finite(ws.sparse.as_ref()) {
                return Err(self.diverged(model, &snapshot, epoch));
            }
            self.epochs_done += 1;
            let loss = (total / n as f64) as f32;
            history.loss.push(loss);
            let monitored = match validation {
                Some((val, metric)) => {
                    let v = metric.evaluate(model, val)?;
                    history.validation.push(v);
                    if metric.higher_is_better() {
                        -v
                    } else {
                        v
                    }
                }
                None => loss as f64,
            };
            report(p.progress, &mut bar, local, p.epochs, steps, &history);
            if let Some(es) = p.early_stopping {
                if best.is_nan() || monitored < best - es.min_delta as f64 {
                    best = monitored;
                    since_best = 0;
                } else {
                    since_best += 1;
                    if since_best >= es.patience {
                        history.stopped_early = true;
                        if let Some(bar) = &mut bar {
                            let line = epoch_line(local, p.epochs, &history);
                            bar.finish(local * steps, &line);
                        }
                        if p.progress != Progress::Silent {
                            println!(
                                "early stop after epoch {epoch}: no improvement in {} epochs",
                                es.patience
                            );
                        }
                        break;
                    }
                }
            }
        }
        Ok(history)
    }

    /// Restores the weights of the start of the epoch, resets the optimiser and builds the error.
    fn diverged(&mut self, model: &mut Mlp, snapshot: &Snapshot, epoch: usize) -> Error {
        snapshot.restore(model);
        self.state.reset();
        Error::NonFiniteLoss { epoch }
    }
}

/// One epoch's line: `epoch 12/600  loss 0.123456  val accuracy 0.9500`.
fn epoch_line(local: usize, epochs: usize, history: &History) -> String {
    let mut s = format!(
        "epoch {:>5}/{}  loss {:.6}",
        history.start_epoch + local,
        history.start_epoch + epochs,
        history.loss[local - 1]
    );
    if let (Some(m), Some(v)) = (history.metric, history.validation.last()) {
        s.push_str(&format!("  val {} {:.4}", m.name(), v));
    }
    s
}

/// Reports the end of epoch `local`: a line with [`Progress::Every`], the bar (which counts steps) with
/// [`Progress::Bar`].
fn report(
    progress: Progress,
    bar: &mut Option<crate::progress::Bar>,
    local: usize,
    epochs: usize,
    steps: usize,
    history: &History,
) {
    match (progress, bar) {
        (Progress::Every(k), _) if local.is_multiple_of(k) || local == epochs => {
            println!("{}", epoch_line(local, epochs, history));
        }
        (Progress::Bar, Some(bar)) => {
            bar.update(local * steps, || epoch_line(local, epochs, history))
        }
        _ => {}
    }
}

/// What happened in one training run: the loss per epoch and, when validated, the metric per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Mean training loss (with the L2 penalty) of each epoch.
    pub loss: Vec<f32>,
    /// The validation metric, if the run was validated.
    pub metric: Option<Metric>,
    /// The validation metric after each epoch (empty when not validated).
    pub validation: Vec<f64>,
    /// Epochs the trainer had run before this run.
    pub start_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

impl History {
    /// Number of epochs in this run.
    pub fn len(&self) -> usize {
        self.loss.len()
    }

    /// Whether the run has no epochs.
    pub fn is_empty(&self) -> bool {
        self.loss.is_empty()
    }

    /// The loss of the last epoch.
    pub fn final_loss(&self) -> Option<f32> {
        self.loss.last().copied()
    }

    /// The lowest epoch loss.
    pub fn min_loss(&self) -> Option<f32> {
        self.loss.iter().copied().reduce(f32::min)
    }

    /// The epoch numbers (1-based, counting earlier runs of the same trainer).
    pub fn epochs(&self) -> Vec<usize> {
        (self.start_epoch + 1..=self.start_epoch + self.loss.len()).collect()
    }

    /// The best validation value, if validated.
    pub fn best_validation(&self) -> Option<f64> {
        let metric = self.metric?;
        self.validation.iter().copied().reduce(|a, b| {
            if metric.higher_is_better() == (b > a) {
                b
            } else {
                a
            }
        })
    }

    /// Appends a later run of the same trainer.
    pub fn extend(&mut self, later: &History) {
        self.loss.extend_from_slice(&later.loss);
        self.validation.extend_from_slice(&later.validation);
        self.stopped_early = later.stopped_early;
    }
}

impl fmt::Display for History {
    /// A short summary: epochs, first, minimum and final loss, and the validation metric if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Some(first), Some(last), Some(min)) =
            (self.loss.first(), self.final_loss(), self.min_loss())
        else {
            return write!(f, "empty history");
        };
        write!(
            f,
            "epochs {}..={}: loss {first:.6} -> {last:.6} (min {min:.6})",
            self.start_epoch + 1,
            self.start_epoch + self.len()
        )?;
        if let (Some(m), Some(v)) = (self.metric, self.validation.last()) {
            write!(f, ", val {} {v:.4}", m.name())?;
        }
        if self.stopped_early {
            write!(f, ", stopped early")?;
        }
        Ok(())
    }
}
