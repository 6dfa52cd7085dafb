//! What an in-place update of parameters must do: the update trait, and zeroing the pruned entries.

/// An in-place update of a network's parameters (an optimiser step), applied by [`Mlp::update_params`].
///
/// Parameters come as flat slices numbered by slot: `2k` for layer `k`'s weights (row-major), `2k + 1` for
/// its bias. After [`ParamUpdate::update`] has written a slot, every pruned entry of it is set back to zero
/// by the network and reported to [`ParamUpdate::pruned`], so an update cannot revive a pruned weight.
pub(crate) trait ParamUpdate {
    /// Updates the parameters of `slot` in place; returns whether everything it read was finite.
    fn update(&mut self, slot: usize, values: &mut [f32]) -> bool;
    /// Updates only the entries `at` (rising) of `slot`, entry `at[e]` with gradient `grads[e]`, each
    /// exactly as [`ParamUpdate::update`] would: the kept weights of a layer that trains sparse (its other
    /// entries are pruned zeros, left as they are). Each entry's new value goes to `copy[e]` too (the
    /// sparse form's values).
    fn update_at(
        &mut self,
        slot: usize,
        values: &mut [f32],
        at: &[usize],
        grads: &[f32],
        copy: &mut [f32],
    ) -> bool;
    /// Entry `index` of `slot` is pruned: its value has been set to zero; state kept for it should be too.
    fn pruned(&mut self, slot: usize, index: usize);
}

/// Sets `values[i]` to zero where `keep[i]` is false, calling `on_pruned(i)` for each.
pub(super) fn zero_pruned(values: &mut [f32], keep: &[bool], mut on_pruned: impl FnMut(usize)) {
    for (i, (v, &k)) in values.iter_mut().zip(keep).enumerate() {
        if !k {
            *v = 0.0;
            on_pruned(i);
        }
    }
}
