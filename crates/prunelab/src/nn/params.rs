//! What an in-place update of parameters must do: the update trait.

/// An in-place update of a network's parameters (an optimiser step), applied by [`Mlp::update_params`].
///
/// Parameters come as flat slices numbered by slot: `2k` for layer `k`'s weights (row-major), `2k + 1` for
/// its bias. The network passes each slot's mask, and an update leaves every pruned entry, and any state it
/// keeps for it, exactly zero, so that an update cannot revive a pruned weight.
pub(crate) trait ParamUpdate {
    /// Updates the parameters of `slot` in place; where `keep` (the slot's mask, if it has one) is
    /// `false`, the value and its state end as zero. Returns whether everything it read was finite.
    fn update(&mut self, slot: usize, values: &mut [f32], keep: Option<&[bool]>) -> bool;
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
}
