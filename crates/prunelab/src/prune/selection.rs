//! The setters every pruning method, schedule and sweep shares, written once: which layers to leave
//! untouched, and whether to rank within each layer or across all of them.

use super::Scope;

/// Types that can leave layers untouched: pruning methods, schedules and sweeps.
///
/// ```
/// use prunelab::prelude::*;
///
/// let mut model = Mlp::config(&[4, 8, 3]).seed(0).build()?;
/// WeightPruning::magnitude(0.5).skip(&[1]).apply(&mut model)?;
/// assert_eq!(model.layer(1)?.n_remaining(), 24);
/// # Ok::<(), prunelab::Error>(())
/// ```
pub trait SkipLayers: Sized {
    /// The layers left untouched (indices into the network's layers, checked when the value is applied).
    fn skipped_mut(&mut self) -> &mut Vec<usize>;

    /// Leaves `layers` untouched.
    fn skip(mut self, layers: &[usize]) -> Self {
        *self.skipped_mut() = layers.to_vec();
        self
    }
}

/// Types that rank weights or units either within each layer or across all chosen layers at once.
///
/// ```
/// use prunelab::prelude::*;
///
/// let pruning = UnitPruning::l1(0.25).global();
/// assert_eq!(pruning.scope, Scope::Global);
/// ```
pub trait RankScope: SkipLayers {
    /// Layerwise or global ranking.
    fn scope_mut(&mut self) -> &mut Scope;

    /// Ranks across all chosen layers together (one threshold for the whole network).
    fn global(mut self) -> Self {
        *self.scope_mut() = Scope::Global;
        self
    }

    /// Ranks with `scope`.
    fn ranked(mut self, scope: Scope) -> Self {
        *self.scope_mut() = scope;
        self
    }
}

/// Implements [`SkipLayers`] (and [`RankScope`] where the type has a `scope` field) for types with a `skip`
/// field.
macro_rules! impl_selection {
    (skip: $($t:ty),+) => {$(
        impl $crate::prune::SkipLayers for $t {
            fn skipped_mut(&mut self) -> &mut Vec<usize> {
                &mut self.skip
            }
        }
    )+};
    (scope and skip: $($t:ty),+) => {$(
        $crate::prune::impl_selection!(skip: $t);
        impl $crate::prune::RankScope for $t {
            fn scope_mut(&mut self) -> &mut $crate::prune::Scope {
                &mut self.scope
            }
        }
    )+};
}
pub(crate) use impl_selection;
