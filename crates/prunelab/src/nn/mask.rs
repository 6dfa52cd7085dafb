//! Reading, setting, resetting and making masks permanent, and the pruning report.

use ndarray::{Array1, Array2};

use super::report::{LayerReport, PruneReport};
use crate::error::{Error, Result};
use crate::nn::{Dense, Mlp, Topology};

impl Dense {
    /// Prunes the weight at `(unit, input)`: records its value for a later reset, masks it and sets it to
    /// zero. Returns whether it was kept before.
    pub(crate) fn prune_entry(&mut self, unit: usize, input: usize) -> bool {
        let shape = self.weight.raw_dim();
        let mask = self
            .mask
            .get_or_insert_with(|| Array2::from_elem(shape, true));
        if !mask[[unit, input]] {
            return false;
        }
        mask[[unit, input]] = false;
        let saved = self
            .pruned_values
            .get_or_insert_with(|| Array2::zeros(shape));
        saved[[unit, input]] = self.weight[[unit, input]];
        self.weight[[unit, input]] = 0.0;
        true
    }

    /// Prunes a whole unit: every incoming weight and its bias. Returns how many weights were newly pruned.
    pub(crate) fn prune_unit(&mut self, unit: usize) -> usize {
        let removed = (0..self.n_inputs())
            .filter(|&i| self.prune_entry(unit, i))
            .count();
        if let Some(b) = &mut self.bias {
            let bm = self
                .bias_mask
                .get_or_insert_with(|| Array1::from_elem(b.len(), true));
            bm[unit] = false;
            b[unit] = 0.0;
        }
        removed
    }

    /// Whether `unit`'s incoming weights are all pruned.
    pub(crate) fn unit_inputs_pruned(&self, unit: usize) -> bool {
        self.mask
            .as_ref()
            .is_some_and(|m| m.row(unit).iter().all(|&k| !k))
    }

    /// Whether `unit` has been removed: incoming weights and bias all pruned.
    pub(crate) fn unit_pruned(&self, unit: usize) -> bool {
        self.unit_inputs_pruned(unit)
            && (self.bias.is_none() || self.bias_mask.as_ref().is_some_and(|m| !m[unit]))
    }
}

impl Mlp {
    /// The mask of a layer (`true` = kept), all `true` when nothing is pruned.
    pub fn mask(&self, layer: usize) -> Result<Array2<bool>> {
        let l = self.layer(layer)?;
        Ok(l.mask
            .clone()
            .unwrap_or_else(|| Array2::from_elem(l.weight.raw_dim(), true)))
    }

    /// Sets a layer's mask from a boolean matrix of the weight's shape (`true` = kept). Newly masked weights
    /// become zero; weights that were pruned and are now kept train again from zero.
    pub fn set_mask(&mut self, layer: usize, mask: Array2<bool>) -> Result<()> {
        let l = self.layer_mut(layer)?;
        if mask.dim() != l.weight.dim() {
            return Err(Error::shape(
                "Mlp::set_mask",
                format!("{:?}", l.weight.dim()),
                format!("{:?}", mask.dim()),
            ));
        }
        for ((u, i), &keep) in mask.indexed_iter() {
            if !keep {
                l.prune_entry(u, i);
            }
        }
        if let Some(m) = &mut l.mask {
            m.assign(&mask);
        }
        Ok(())
    }

    /// Undoes all pruning: masks are removed and every pruned weight and bias gets back the value it had when
    /// it was pruned (values are kept in memory only, not in saved files; after loading, pruned weights
    /// restart from zero).
    pub fn reset_masks(&mut self) {
        for l in &mut self.layers {
            if let (Some(mask), Some(saved)) = (&l.mask, &l.pruned_values) {
                ndarray::Zip::from(&mut *l.weight)
                    .and(mask)
                    .and(saved)
                    .for_each(|w, &keep, &v| {
                        if !keep {
                            *w = v;
                        }
                    });
            }
            l.mask = None;
            l.bias_mask = None;
            l.pruned_values = None;
        }
    }

    /// Makes pruning permanent, as PyTorch's `prune.remove`: masks are dropped, pruned weights stay zero,
    /// and every weight is trainable again.
    pub fn make_permanent(&mut self) {
        for l in &mut self.layers {
            l.mask = None;
            l.bias_mask = None;
            l.pruned_values = None;
        }
    }

    /// Whether any weight or bias is pruned.
    pub fn is_pruned(&self) -> bool {
        self.layers
            .iter()
            .any(|l| l.mask.is_some() || l.bias_mask.is_some())
    }

    /// Number of weights not pruned.
    pub fn n_remaining(&self) -> usize {
        self.layers.iter().map(|l| l.n_remaining()).sum()
    }

    /// Fraction of weights pruned.
    pub fn sparsity(&self) -> f64 {
        1.0 - self.n_remaining() as f64 / self.n_weights() as f64
    }

    /// For each layer, which of its input columns come from layer `k`'s units, as `(layer, first column)`:
    /// the consumers of layer `k`.
    pub(crate) fn consumers(&self, k: usize) -> Vec<(usize, usize)> {
        let start = self.output_range(k).start;
        match self.topology {
            Topology::Chain => {
                if k + 1 < self.layers.len() {
                    vec![(k + 1, 0)]
                } else {
                    Vec::new()
                }
            }
            Topology::DenselyConnected => {
                ((k + 1)..self.layers.len()).map(|m| (m, start)).collect()
            }
        }
    }

    /// Per layer, whether each unit is live: its output varies with the input and is used downstream.
    /// Output units are used by definition. [`compact`](Mlp::compact) keeps exactly the live units.
    ///
    /// ```
    /// use prunelab::prelude::*;
    ///
    /// let mut model = Mlp::config(&[2, 4, 1]).seed(0).build()?;
    /// UnitPruning::new(UnitScore::Random { seed: 1 }, Amount::Count(3)).apply(&mut model)?;
    /// assert_eq!(model.live_units()[0].iter().filter(|&&live| live).count(), 1);
    /// # Ok::<(), prunelab::Error>(())
    /// ```
    pub fn live_units(&self) -> Vec<Vec<bool>> {
        let n = self.layers.len();
        let mut live: Vec<Vec<bool>> = self
            .layers
            .iter()
            .map(|l| {
                (0..l.n_outputs())
                    .map(|u| !l.unit_inputs_pruned(u))
                    .collect()
            })
            .collect();
        // A unit whose every kept input comes from non-live units is constant: propagate forward.
        for k in 0..n {
            let inputs = self.input_range(k);
            for u in 0..self.layers[k].n_outputs() {
                if !live[k][u] {
                    continue;
                }
                let any_live_input = (inputs.clone()).enumerate().any(|(col, abs)| {
                    self.layers[k].is_kept(u, col) && self.column_is_live(abs, &live)
                });
                live[k][u] = any_live_input;
            }
        }
        // A unit none of whose outgoing kept weights reaches a live unit is unused: propagate backward.
        for k in (0..n.saturating_sub(1)).rev() {
            for u in 0..self.layers[k].n_outputs() {
                if !live[k][u] {
                    continue;
                }
                let used = self.consumers(k).into_iter().any(|(m, start)| {
                    let col = start + u;
                    (0..self.layers[m].n_outputs())
                        .any(|v| live[m][v] && self.layers[m].is_kept(v, col))
                });
                live[k][u] = used;
            }
        }
        live
    }

    /// Whether activation-buffer column `abs` (an input or a unit output) is live.
    fn column_is_live(&self, abs: usize, live: &[Vec<bool>]) -> bool {
        if abs < self.n_inputs {
            return true;
        }
        let mut start = self.n_inputs;
        for (k, l) in self.layers.iter().enumerate() {
            if abs < start + l.n_outputs() {
                return live[k][abs - start];
            }
            start += l.n_outputs();
        }
        false
    }

    /// Weights, remaining weights, sparsity, live units and multiply-accumulates per layer and in total.
    pub fn prune_report(&self) -> PruneReport {
        let live = self.live_units();
        let layers: Vec<LayerReport> = self
            .layers
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let inputs = self.input_range(k);
                let live_units = live[k].iter().filter(|&&v| v).count();
                let macs = (0..l.n_outputs())
                    .filter(|&u| live[k][u])
                    .map(|u| {
                        inputs
                            .clone()
                            .enumerate()
                            .filter(|&(col, abs)| {
                                l.is_kept(u, col) && self.column_is_live(abs, &live)
                            })
                            .count()
                    })
                    .sum();
                let remaining = l.n_remaining();
                LayerReport {
                    layer: k,
                    inputs: l.n_inputs(),
                    units: l.n_outputs(),
                    weights: l.n_weights(),
                    remaining,
                    sparsity: 1.0 - remaining as f64 / l.n_weights() as f64,
                    live_units,
                    macs,
                    dead: live_units == 0,
                }
            })
            .collect();
        let weights = layers.iter().map(|l| l.weights).sum();
        let remaining = layers.iter().map(|l| l.remaining).sum();
        PruneReport {
            weights,
            remaining,
            sparsity: 1.0 - remaining as f64 / weights as f64,
            macs: layers.iter().map(|l| l.macs).sum(),
            layers,
        }
    }
}
