//! The ways code outside `nn` changes a network's parameters, each keeping "a pruned weight is exactly zero".

use super::params::ParamUpdate;
use super::{Dense, Mlp, SparsePlan};

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

    /// Copies the weights and biases of `src`, a network of the same shape (an earlier snapshot of this
    /// one), keeping this network's masks: entries pruned here stay zero whatever `src` holds.
    pub(crate) fn copy_params_from(&mut self, src: &Mlp) {
        for (d, s) in self.layers.iter_mut().zip(&src.layers) {
            d.copy_params_from(s);
        }
    }

    /// Whether every weight and bias is finite.
    pub(crate) fn params_finite(&self) -> bool {
        self.layers.iter().all(|l| {
            l.weight.iter().all(|v| v.is_finite()) && l.bias.iter().flatten().all(|v| v.is_finite())
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

impl Dense {
    /// Copies the weights and biases of `s` (same shape), keeping this layer's masks.
    fn copy_params_from(&mut self, s: &Dense) {
        let d = self;
        copy_kept(&mut d.weight, &s.weight, d.mask.as_ref());
        if let (Some(db), Some(sb)) = (&mut d.bias, &s.bias) {
            copy_kept(db, sb, d.bias_mask.as_ref());
        }
    }
}

/// `dst = src` where `keep` holds (everywhere without it), zero elsewhere: one branch-free pass.
fn copy_kept<D: ndarray::Dimension>(
    dst: &mut ndarray::Array<f32, D>,
    src: &ndarray::Array<f32, D>,
    keep: Option<&ndarray::Array<bool, D>>,
) {
    match keep {
        None => dst.assign(src),
        Some(keep) => ndarray::Zip::from(dst)
            .and(src)
            .and(keep)
            .for_each(|d, &s, &k| *d = if k { s } else { 0.0 }),
    }
}
