//! The ways code outside `nn` changes a network's parameters, each keeping "a pruned weight is exactly zero".

use super::params::ParamUpdate;
use super::{Mlp, SparsePlan};

impl Mlp {
    /// Runs `update` over every parameter slot with its mask (see [`ParamUpdate`]: pruned entries end as
    /// zero). The weights of a layer that trains sparse under `sparse` are updated at their kept entries
    /// only, in the plan's sparse form (the pruned ones stay the zeros they are; the weight matrix waits
    /// for [`SparsePlan::write_back`]). Returns whether every slot's update was finite.
    pub(crate) fn update_params(
        &mut self,
        update: &mut impl ParamUpdate,
        mut sparse: Option<&mut SparsePlan>,
    ) -> bool {
        let mut finite = true;
        for (k, layer) in self.layers.iter_mut().enumerate() {
            let w = layer.weight.as_slice_mut().expect("weights are contiguous");
            if let Some(kept) = sparse.as_deref_mut().and_then(|p| p.kept_update(k)) {
                finite &= update.update_kept(2 * k, kept.at, kept.grad, kept.values);
            } else {
                let keep = layer.mask.as_ref();
                let keep = keep.map(|m| m.as_slice().expect("masks are contiguous"));
                finite &= update.update(2 * k, w, keep);
            }
            if let Some(b) = &mut layer.bias {
                let b = b.as_slice_mut().expect("biases are contiguous");
                let keep = layer.bias_mask.as_ref();
                let keep = keep.map(|m| m.as_slice().expect("masks are contiguous"));
                finite &= update.update(2 * k + 1, b, keep);
            }
        }
        finite
    }

    /// Calls `f(slot, index)` for every pruned entry (numbered as in [`Mlp::update_params`]).
    pub(crate) fn for_each_pruned(&self, mut f: impl FnMut(usize, usize)) {
        for (k, layer) in self.layers.iter().enumerate() {
            let masks = [
                layer.mask.as_ref().and_then(|m| m.as_slice()),
                layer.bias_mask.as_ref().and_then(|m| m.as_slice()),
            ];
            for (j, mask) in masks.into_iter().enumerate() {
                for (i, _) in mask.into_iter().flatten().enumerate().filter(|(_, &k)| !k) {
                    f(2 * k + j, i);
                }
            }
        }
    }

    /// The number of values in each parameter slot of [`Mlp::update_params`] (`0` for a layer without bias).
    pub(crate) fn slot_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.layers
            .iter()
            .flat_map(|l| [l.weight.len(), l.bias.as_ref().map_or(0, |b| b.len())])
    }

    /// Whether every weight and bias is finite. A layer that trains sparse under `sparse` has its kept
    /// weights read from the plan (its other weights are pruned zeros that training never writes).
    pub(crate) fn params_finite(&self, sparse: Option<&SparsePlan>) -> bool {
        self.layers.iter().enumerate().all(|(k, l)| {
            let weights = match sparse.and_then(|p| p.kept_values(k)) {
                Some(kept) => kept.iter().all(|v| v.is_finite()),
                None => l.weight.iter().all(|v| v.is_finite()),
            };
            weights && l.bias.iter().flatten().all(|v| v.is_finite())
        })
    }

    /// Prunes weight `(unit, input)` of layer `k` (see [`Dense::prune_entry`]); returns whether it was kept.
    /// Indices must be in range (callers check them against the network first).
    pub(crate) fn prune_weight(&mut self, k: usize, unit: usize, input: usize) -> bool {
        self.layers[k].prune_entry(unit, input)
    }

    /// Prunes unit `unit` of layer `k` (see [`Dense::prune_unit`]); returns how many weights were newly pruned.
    pub(crate) fn prune_unit(&mut self, k: usize, unit: usize) -> usize {
        self.layers[k].prune_unit(unit)
    }
}
