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
    /// Updates the kept weights of a layer that trains sparse, held apart from the weight matrix: `kept[e]`
    /// is the weight at row-major position `at[e]` (rising) of `slot`, with gradient `grads[e]`, each updated
    /// exactly as [`ParamUpdate::update`] would update it in place (the pruned entries are zeros, left as
    /// they are; the matrix itself is written back later).
    fn update_kept(&mut self, slot: usize, at: &[usize], grads: &[f32], kept: &mut [f32]) -> bool;
}
