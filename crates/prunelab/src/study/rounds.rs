//! Studies that prune and retrain in rounds: iterative magnitude pruning and the lottery ticket, with the
//! history of their rounds.

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::interrupt;
use crate::metrics::Metric;
use crate::nn::Mlp;
use crate::progress::{Counter, Progress};
use crate::prune::{chosen_layers, prune_to_sparsity, RankScope, Scope, SkipLayers, WeightPruning};
use crate::train::TrainParams;

use super::table::{SweepRow, SweepTable};

/// One round of a pruning schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruningRound {
    /// Round number (0 = before any pruning).
    pub round: usize,
    /// Weights not pruned.
    pub remaining: usize,
    /// Fraction of the weights remaining.
    pub remaining_fraction: f64,
    /// The evaluation metric after the round's training.
    pub metric: f64,
    /// The final training loss of the round.
    pub loss: f32,
}

/// The rounds of a schedule, for tables and charts (remaining weights and metric per round).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruningHistory {
    /// The metric evaluated each round.
    pub metric: Metric,
    /// One entry per round.
    pub rounds: Vec<PruningRound>,
}

impl PruningHistory {
    fn record(&mut self, round: usize, model: &Mlp, eval: &Dataset, loss: f32) -> Result<()> {
        let remaining = model.n_remaining();
        self.rounds.push(PruningRound {
            round,
            remaining,
            remaining_fraction: remaining as f64 / model.n_weights() as f64,
            metric: self.metric.evaluate(model, eval)?,
            loss,
        });
        Ok(())
    }
}

/// Iterative pruning: `rounds` times, prune a fraction of the remaining weights, then retrain.
///
/// ```
/// use prunelab::prelude::*;
///
/// let data = data::xor();
/// let mut model = Mlp::config(&[2, 16, 1]).output_activation(Activation::Sigmoid).seed(0).build()?;
/// let train = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.05)).epochs(100).batch_size(BatchSize::Full);
/// train.fit(&mut model, &data)?;
/// let schedule = IterativePruning { rounds: 3, pruning: WeightPruning::magnitude(0.3), retrain: train };
/// let history = schedule.run(&mut model, &data, &data, Metric::Accuracy)?;
/// assert_eq!(history.rounds.len(), 4); // before pruning, then each round
/// assert!(history.rounds[3].remaining < history.rounds[0].remaining);
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct IterativePruning {
    /// Number of prune-and-retrain rounds.
    pub rounds: usize,
    /// The pruning applied each round (its amount is a fraction of what remains).
    pub pruning: WeightPruning,
    /// How to retrain after each pruning (a fresh optimiser each round).
    pub retrain: TrainParams,
}

impl IterativePruning {
    /// Runs the schedule on a trained `model`; round 0 records the model as given.
    pub fn run(
        &self,
        model: &mut Mlp,
        train: &Dataset,
        eval: &Dataset,
        metric: Metric,
    ) -> Result<PruningHistory> {
        let mut trainer = self.retrain.clone().trainer()?;
        let mut history = PruningHistory {
            metric,
            rounds: Vec::new(),
        };
        history.record(0, model, eval, model.loss(train, self.retrain.loss)?)?;
        let at = |round: usize| {
            move || {
                format!(
                    "in round {round} of {}; the model has the weights of the last completed step",
                    self.rounds
                )
            }
        };
        for round in 1..=self.rounds {
            interrupt::checkpoint("iterative pruning", at(round))?;
            self.pruning.apply(model)?;
            trainer.reset_optimizer();
            let h = trainer
                .fit(model, train)
                .map_err(|e| interrupt::within(e, "iterative pruning", at(round)))?;
            history.record(round, model, eval, h.final_loss().unwrap_or(f32::NAN))?;
        }
        Ok(history)
    }
}

/// Where the lottery ticket rewinds the surviving weights after each pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rewind {
    /// To the initial weights (Frankle & Carbin 2019).
    Init,
    /// To the weights after this many epochs of training (Frankle et al. 2020, "late rewinding").
    Epoch(usize),
}

/// Lottery-ticket search by iterative magnitude pruning with rewinding: train, prune a fraction of the
/// remaining weights, reset the survivors to their rewind values, repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct LotteryTicket {
    /// Number of pruning rounds.
    pub rounds: usize,
    /// Fraction of the remaining weights pruned each round (e.g. 0.2).
    pub amount_per_round: f64,
    /// Rewinding point.
    pub rewind: Rewind,
    /// Layerwise or global magnitude ranking.
    pub scope: Scope,
    /// Layers never pruned.
    pub skip: Vec<usize>,
    /// Training of each round (a fresh optimiser each round).
    pub train: TrainParams,
}

crate::prune::impl_selection!(scope and skip: LotteryTicket);

impl LotteryTicket {
    /// Runs the search from the untrained `model`; on return `model` is the last round's trained ticket.
    /// Round `r` of the history holds the ticket with `(1 − amount)^r` of the weights, trained.
    pub fn run(
        &self,
        model: &mut Mlp,
        train: &Dataset,
        eval: &Dataset,
        metric: Metric,
    ) -> Result<PruningHistory> {
        self.check(model)?;
        let mut history = PruningHistory {
            metric,
            rounds: Vec::new(),
        };
        let rewind_point = self.rewind_point(model, train)?;
        let (params, progress) = self.training(self.rounds + 1);
        for round in 0..=self.rounds {
            let at = || format!("in round {round} of {}", self.rounds);
            interrupt::checkpoint("the lottery ticket", at)?;
            let h = params
                .fit(model, train)
                .map_err(|e| interrupt::within(e, "the lottery ticket", at))?;
            progress.tick();
            history.record(round, model, eval, h.final_loss().unwrap_or(f32::NAN))?;
            if round == self.rounds {
                break;
            }
            self.round_pruning().apply(model)?;
            model.rewind_to(&rewind_point);
        }
        Ok(history)
    }
}

impl LotteryTicket {
    fn check(&self, model: &Mlp) -> Result<Vec<usize>> {
        // The search draws the training's progress itself (its inner trainings run silent).
        self.train.progress.check()?;
        if !(0.0..1.0).contains(&self.amount_per_round) {
            return Err(Error::param(
                "amount_per_round",
                format!("must lie in [0, 1), got {}", self.amount_per_round),
            ));
        }
        chosen_layers(model, &self.skip)
    }

    /// The training of every network of a search, silent, and the search's own progress over its `total`
    /// trainings, shown as [`TrainParams::progress`] asks (one bar for the search, not one per training).
    fn training(&self, total: usize) -> (TrainParams, Counter) {
        let progress = Counter::new(self.train.progress, total, "trainings");
        (self.train.clone().progress(Progress::Silent), progress)
    }

    /// One round's pruning: magnitude, `amount_per_round` of what remains, in the search's scope.
    fn round_pruning(&self) -> WeightPruning {
        WeightPruning::magnitude(self.amount_per_round)
            .skip(&self.skip)
            .ranked(self.scope)
    }

    /// The weights survivors are reset to: the initial ones, or those after `k` epochs of training.
    fn rewind_point(&self, model: &Mlp, train: &Dataset) -> Result<Mlp> {
        Ok(match self.rewind {
            Rewind::Init | Rewind::Epoch(0) => model.clone(),
            Rewind::Epoch(k) => {
                let mut early = model.clone();
                let mut p = self.train.clone().progress(Progress::Silent);
                p.epochs = k;
                p.fit(&mut early, train)?;
                early
            }
        })
    }

    /// The lottery-ticket experiment with its two controls, at every round's sparsity: the ticket
    /// (iterative magnitude pruning with rewinding, as [`run`](Self::run)); the same masks with fresh
    /// random weights (drawn by `init` from `seed + round`), trained alike; and one-shot pruning — the
    /// trained dense network pruned by magnitude to the round's sparsity in one step, rewound, and trained
    /// alike. Every network trains with [`train`](Self::train). Rows are labelled `lottery ticket`,
    /// `random reinit` and `one-shot`; sparsity is the round's target `1 − (1 − amount)^round` of the
    /// pruned layers, and round 0 (the dense network) is shared by the three.
    ///
    /// ```
    /// use prunelab::prelude::*;
    ///
    /// let data = data::xor();
    /// let model = Mlp::config(&[2, 16, 1]).output_activation(Activation::Sigmoid).seed(0).build()?;
    /// let train = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.05)).epochs(50).batch_size(BatchSize::Full);
    /// let search = LotteryTicket {
    ///     rounds: 2, amount_per_round: 0.3, rewind: Rewind::Init, scope: Scope::Layerwise, skip: vec![], train,
    /// };
    /// let table = search.compare(&model, &data, &data, Metric::Accuracy, Init::GlorotUniform, 7)?;
    /// assert_eq!(table.rows.len(), 9); // 3 methods x (dense + 2 rounds)
    /// # Ok::<(), prunelab::Error>(())
    /// ```
    pub fn compare(
        &self,
        model: &Mlp,
        train: &Dataset,
        eval: &Dataset,
        metric: Metric,
        init: crate::nn::Init,
        seed: u64,
    ) -> Result<SweepTable> {
        self.check(model)?;
        const METHODS: [&str; 3] = ["lottery ticket", "random reinit", "one-shot"];
        let mut table = SweepTable {
            metric_name: metric.name().into(),
            rows: Vec::new(),
        };
        let mut row = |method: &str, sparsity: f64, m: &Mlp| -> Result<()> {
            table.rows.push(SweepRow {
                method: method.into(),
                sparsity,
                remaining: m.n_remaining(),
                metric: metric.evaluate(m, eval)?,
            });
            Ok(())
        };
        let rewind_point = self.rewind_point(model, train)?;
        let (params, progress) = self.training(1 + METHODS.len() * self.rounds);
        let mut ticket = model.clone();
        params.fit(&mut ticket, train)?;
        progress.tick();
        for method in METHODS {
            row(method, 0.0, &ticket)?;
        }
        let dense = ticket.clone();
        for round in 1..=self.rounds {
            let at = || format!("in round {round} of {}; rows so far are lost", self.rounds);
            interrupt::checkpoint("the lottery-ticket comparison", at)?;
            let fit = |m: &mut Mlp| {
                let h = params
                    .fit(m, train)
                    .map_err(|e| interrupt::within(e, "the lottery-ticket comparison", at));
                progress.tick();
                h
            };
            let sparsity = 1.0 - (1.0 - self.amount_per_round).powi(round as i32);
            self.round_pruning().apply(&mut ticket)?;
            ticket.rewind_to(&rewind_point);

            let mut random = ticket.clone();
            random.reinitialize(init, seed.wrapping_add(round as u64))?;
            fit(&mut random)?;

            let mut one_shot = dense.clone();
            prune_to_sparsity(&mut one_shot, sparsity, self.scope, &self.skip)?;
            one_shot.rewind_to(&rewind_point);
            fit(&mut one_shot)?;

            fit(&mut ticket)?;
            row(METHODS[0], sparsity, &ticket)?;
            row(METHODS[1], sparsity, &random)?;
            row(METHODS[2], sparsity, &one_shot)?;
        }
        Ok(table)
    }
}
