//! Pruning schedules: to a target sparsity, iterative (prune, retrain, repeat), gradual during training
//! (Zhu & Gupta's polynomial schedule, or constant sparsity), and the lottery ticket (iterative magnitude
//! pruning with rewinding).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::Mlp;
use crate::prune::criteria::chosen_layers;
use crate::prune::impl_selection;
use crate::prune::{Amount, RankScope, Scope, SkipLayers, WeightPruning};

/// Prunes by magnitude until `sparsity` of the weights in scope are pruned (counting weights pruned
/// before). Layerwise, every chosen layer reaches that sparsity; globally, the chosen layers together do.
/// Returns how many weights were newly pruned per layer; nothing is unpruned if the model is already
/// sparser.
pub fn prune_to_sparsity(
    model: &mut Mlp,
    sparsity: f64,
    scope: Scope,
    skip: &[usize],
) -> Result<Vec<usize>> {
    if !(0.0..=1.0).contains(&sparsity) {
        return Err(Error::param(
            "sparsity",
            format!("must lie in [0, 1], got {sparsity}"),
        ));
    }
    let layers = chosen_layers(model, skip)?;
    let need = |model: &Mlp, ks: &[usize]| -> usize {
        let total: usize = ks.iter().map(|&k| model.layers()[k].n_weights()).sum();
        let remaining: usize = ks.iter().map(|&k| model.layers()[k].n_remaining()).sum();
        let target_pruned = (sparsity * total as f64).round_ties_even() as usize;
        target_pruned.saturating_sub(total - remaining)
    };
    match scope {
        Scope::Global => {
            let n = need(model, &layers);
            let skip: Vec<usize> = (0..model.n_layers())
                .filter(|k| !layers.contains(k))
                .collect();
            WeightPruning::magnitude(Amount::Count(n))
                .global()
                .skip(&skip)
                .apply(model)
        }
        Scope::Layerwise => {
            let mut removed = vec![0; model.n_layers()];
            for &k in &layers {
                let n = need(model, &[k]);
                let others: Vec<usize> = (0..model.n_layers()).filter(|&m| m != k).collect();
                removed[k] = WeightPruning::magnitude(Amount::Count(n))
                    .skip(&others)
                    .apply(model)?[k];
            }
            Ok(removed)
        }
    }
}

/// Gradual magnitude pruning during training (Zhu & Gupta 2017): at steps `t = t0, t0 + Δt, …, t0 + nΔt` the
/// weights are pruned to sparsity `s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(nΔt))³`; with `s_i = s_f` this is
/// a constant-sparsity schedule. Masks only grow, so pruned weights stay zero.
///
/// ```
/// use prunelab::prelude::*;
///
/// let schedule = GradualPruning::polynomial(0.0, 0.8, 0, 10, 5);
/// assert_eq!(schedule.target_at(0), Some(0.0));
/// assert_eq!(schedule.target_at(3), None); // not a pruning step
/// assert!((schedule.target_at(50).unwrap() - 0.8).abs() < 1e-12);
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradualPruning {
    /// Sparsity at the first pruning step, `s_i`.
    pub initial_sparsity: f64,
    /// Sparsity at the last pruning step, `s_f`.
    pub final_sparsity: f64,
    /// Optimiser step of the first pruning, `t0`.
    pub start_step: usize,
    /// Number of pruning intervals, `n`.
    pub n_updates: usize,
    /// Steps between prunings, `Δt`.
    pub frequency: usize,
    /// Layerwise or global magnitude ranking.
    pub scope: Scope,
    /// Layers left untouched.
    pub skip: Vec<usize>,
}

impl_selection!(scope and skip: GradualPruning);

impl GradualPruning {
    /// The polynomial schedule from `initial` to `final_` sparsity, starting at step `start`, with
    /// `n_updates` intervals of `frequency` steps.
    pub fn polynomial(
        initial: f64,
        final_: f64,
        start: usize,
        n_updates: usize,
        frequency: usize,
    ) -> Self {
        GradualPruning {
            initial_sparsity: initial,
            final_sparsity: final_,
            start_step: start,
            n_updates,
            frequency,
            scope: Scope::Layerwise,
            skip: Vec::new(),
        }
    }

    /// Constant sparsity from step `start`, enforced every `frequency` steps for `n_updates` intervals.
    pub fn constant(sparsity: f64, start: usize, n_updates: usize, frequency: usize) -> Self {
        Self::polynomial(sparsity, sparsity, start, n_updates, frequency)
    }

    /// Checks the fields.
    pub fn check(&self) -> Result<()> {
        for (name, s) in [
            ("gradual.initial_sparsity", self.initial_sparsity),
            ("gradual.final_sparsity", self.final_sparsity),
        ] {
            if !(0.0..=1.0).contains(&s) {
                return Err(Error::param(name, format!("must lie in [0, 1], got {s}")));
            }
        }
        if self.frequency == 0 {
            return Err(Error::param("gradual.frequency", "must be at least 1"));
        }
        Ok(())
    }

    /// The target sparsity if step `t` is a pruning step, else `None`.
    pub fn target_at(&self, t: usize) -> Option<f64> {
        let t0 = self.start_step;
        let span = self.n_updates * self.frequency;
        if t < t0 || t > t0 + span || !(t - t0).is_multiple_of(self.frequency) {
            return None;
        }
        if span == 0 {
            return Some(self.final_sparsity);
        }
        let progress = (t - t0) as f64 / span as f64;
        Some(
            self.final_sparsity
                + (self.initial_sparsity - self.final_sparsity) * (1.0 - progress).powi(3),
        )
    }

    /// Prunes `model` to `target` sparsity with this schedule's scope and skipped layers.
    pub fn prune_to(&self, model: &mut Mlp, target: f64) -> Result<Vec<usize>> {
        prune_to_sparsity(model, target, self.scope, &self.skip)
    }
}
