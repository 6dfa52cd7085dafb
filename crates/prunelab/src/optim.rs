//! Optimisers: SGD (momentum, Nesterov, weight decay) and Adam (optionally with decoupled weight decay),
//! following PyTorch's update rules and defaults.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::{Gradients, Mlp, ParamUpdate, SparsePlan};

/// Stochastic gradient descent, as PyTorch's `torch.optim.SGD`:
///
/// ```text
/// g ← ∇ + weight_decay·θ
/// b ← momentum·b + (1 − dampening)·g      (b ← g on the first step)
/// g ← g + momentum·b  if nesterov, else  g ← b
/// θ ← θ − lr·g
/// ```
///
/// With `momentum = 0.9` and `nesterov = true` this is also scikit-learn's `solver='sgd'` with a constant
/// learning rate.
///
/// ```
/// use prunelab::optim::Sgd;
///
/// let sgd = Sgd::new(0.01).momentum(0.9).nesterov(true);
/// sgd.check()?;
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sgd {
    /// Learning rate (PyTorch default `1e-3`).
    pub lr: f32,
    /// Momentum factor (default `0`).
    pub momentum: f32,
    /// Dampening of the momentum (default `0`; must be `0` with Nesterov).
    pub dampening: f32,
    /// Nesterov momentum (default `false`; needs `momentum > 0`).
    pub nesterov: bool,
    /// L2 penalty added to the gradient (default `0`).
    pub weight_decay: f32,
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f32) -> Self {
        Sgd {
            lr,
            ..Sgd::default()
        }
    }

    /// Sets the momentum factor.
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening.
    pub fn dampening(mut self, dampening: f32) -> Self {
        self.dampening = dampening;
        self
    }

    /// Turns Nesterov momentum on or off.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Sets the weight decay.
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Checks every field; an invalid one is an [`Error::InvalidParam`] naming it.
    pub fn check(&self) -> Result<()> {
        positive("lr", self.lr)?;
        in_unit_interval("momentum", self.momentum, true)?;
        in_unit_interval("dampening", self.dampening, true)?;
        non_negative("weight_decay", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::param(
                "nesterov",
                "Nesterov momentum needs momentum > 0 and zero dampening",
            ));
        }
        Ok(())
    }
}

/// Adam, as PyTorch's `torch.optim.Adam` (or `AdamW` with `decoupled = true`):
///
/// ```text
/// g ← ∇ + weight_decay·θ                       (θ ← θ·(1 − lr·weight_decay) instead, if decoupled)
/// m ← β₁·m + (1 − β₁)·g,   v ← β₂·v + (1 − β₂)·g²
/// θ ← θ − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε)
/// ```
///
/// ```
/// use prunelab::optim::Adam;
///
/// let adam = Adam::new(1e-3);
/// assert_eq!((adam.beta1, adam.beta2, adam.eps), (0.9, 0.999, 1e-8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Learning rate (default `1e-3`).
    pub lr: f32,
    /// Decay of the first-moment estimate (default `0.9`).
    pub beta1: f32,
    /// Decay of the second-moment estimate (default `0.999`).
    pub beta2: f32,
    /// Term added to the denominator (default `1e-8`).
    pub eps: f32,
    /// Weight decay (default `0`).
    pub weight_decay: f32,
    /// Apply weight decay directly to the weights (AdamW) rather than through the gradient (default `false`).
    pub decoupled: bool,
}

impl Default for Adam {
    fn default() -> Self {
        Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
}

impl Adam {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    pub fn new(lr: f32) -> Self {
        Adam {
            lr,
            ..Adam::default()
        }
    }

    /// Sets the moment decays.
    pub fn betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets epsilon.
    pub fn eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the weight decay, and whether it is decoupled (AdamW).
    pub fn weight_decay(mut self, weight_decay: f32, decoupled: bool) -> Self {
        self.weight_decay = weight_decay;
        self.decoupled = decoupled;
        self
    }

    /// Checks every field; an invalid one is an [`Error::InvalidParam`] naming it.
    pub fn check(&self) -> Result<()> {
        positive("lr", self.lr)?;
        in_unit_interval("beta1", self.beta1, false)?;
        in_unit_interval("beta2", self.beta2, false)?;
        non_negative("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)
    }
}

/// The optimiser a training run uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Optimizer {
    /// Stochastic gradient descent.
    Sgd(Sgd),
    /// Adam or AdamW.
    Adam(Adam),
}

impl From<Sgd> for Optimizer {
    fn from(s: Sgd) -> Self {
        Optimizer::Sgd(s)
    }
}

impl From<Adam> for Optimizer {
    fn from(a: Adam) -> Self {
        Optimizer::Adam(a)
    }
}

impl Optimizer {
    /// Checks the hyperparameters.
    pub fn check(&self) -> Result<()> {
        match self {
            Optimizer::Sgd(s) => s.check(),
            Optimizer::Adam(a) => a.check(),
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            Optimizer::Sgd(s) => s.lr,
            Optimizer::Adam(a) => a.lr,
        }
    }
}

fn positive(name: &'static str, v: f32) -> Result<()> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("must be finite and > 0, got {v}"),
        ))
    }
}

fn non_negative(name: &'static str, v: f32) -> Result<()> {
    if v >= 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("must be finite and >= 0, got {v}"),
        ))
    }
}

fn in_unit_interval(name: &'static str, v: f32, allow_zero: bool) -> Result<()> {
    let ok = if allow_zero {
        (0.0..1.0).contains(&v)
    } else {
        v > 0.0 && v < 1.0
    };
    if ok {
        Ok(())
    } else {
        let range = if allow_zero { "[0, 1)" } else { "(0, 1)" };
        Err(Error::param(name, format!("must lie in {range}, got {v}")))
    }
}

/// Per-parameter optimiser state (momentum buffer, or Adam's moments). A dense slot of a layer that trains
/// sparse from the start stays empty, standing for zeros, until something needs it whole
/// ([`Slot::ensure`]): its kept entries' state lives in a [`Compact`] one.
#[derive(Debug, Clone, Default, PartialEq)]
struct Slot {
    first: Vec<f32>,
    second: Vec<f32>,
}

impl Slot {
    /// A slot of `n` zeros.
    fn zeros(n: usize) -> Slot {
        Slot {
            first: written_zeros(n),
            second: written_zeros(n),
        }
    }

    /// Makes an empty slot (zeros not yet held) `n` zeros; one that holds its values stays as it is.
    fn ensure(&mut self, n: usize) -> &mut Slot {
        if self.first.len() != n {
            debug_assert!(self.first.is_empty(), "a slot of another size");
            *self = Slot::zeros(n);
        }
        self
    }
}

/// States of at least this many values are written on rayon's threads.
const WRITTEN_IN_PARALLEL: usize = 1 << 16;

/// `n` zeros, written out. `vec![0.0; n]` leaves a large vector's pages mapped to the system's shared zero
/// page, which the first update reads and then writes: a copy-on-write fault per page, each flushing every
/// other core's TLB (8% of a two-thread epoch of the benchmark network went to page faults). Written zeros
/// are the process's own pages from the start; a large state's are written on rayon's threads (writes the
/// compiler cannot fold back into a zeroed allocation).
fn written_zeros(n: usize) -> Vec<f32> {
    use rayon::iter::ParallelExtend;
    let mut v = Vec::with_capacity(n);
    if n >= WRITTEN_IN_PARALLEL {
        v.par_extend(rayon::iter::repeat_n(0.0, n));
    } else {
        v.resize(n, 0.0);
    }
    v
}

/// The state of a sparse layer's kept weights, compact: entry `e` belongs to weight `at[e]`. While it
/// exists, the dense slot's values at those positions are stale; [`OptimizerState::flush`] writes them back.
#[derive(Debug, Clone, PartialEq)]
struct Compact {
    at: Arc<[usize]>,
    slot: Slot,
}

/// The running state of an optimiser over the parameters of one network.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OptimizerState {
    config: Optimizer,
    step: u64,
    /// Two slots per layer (weights, bias), created on the first step.
    slots: Vec<Slot>,
    /// The number of values of each slot (its dense slot may be empty: zeros not yet held).
    sizes: Vec<usize>,
    /// Per slot, the compact state of a layer that trains sparse (so that its step reads and writes its
    /// kept entries' state contiguously), made from the dense slot when a sparse plan first steps it.
    compact: Vec<Option<Compact>>,
}

impl OptimizerState {
    pub(crate) fn new(config: Optimizer) -> Self {
        OptimizerState {
            config,
            step: 0,
            slots: Vec::new(),
            sizes: Vec::new(),
            compact: Vec::new(),
        }
    }

    /// Writes slot `slot`'s compact state, if any, back into the dense slot.
    fn flush(&mut self, slot: usize) {
        if let Some(c) = self.compact.get_mut(slot).and_then(Option::take) {
            let dense = self.slots[slot].ensure(self.sizes[slot]);
            for (e, &i) in c.at.iter().enumerate() {
                dense.first[i] = c.slot.first[e];
                dense.second[i] = c.slot.second[e];
            }
        }
    }

    /// Makes the compact state of every slot match `sparse`: the weight slots of its sparse layers hold
    /// their kept entries' state compactly (gathered afresh where the kept entries changed), the others
    /// none.
    /// `fresh`: every state is zero (just made), so a compact one is zeros too, not gathered.
    fn match_plan(&mut self, sparse: Option<&SparsePlan>, fresh: bool) {
        for slot in 0..self.slots.len() {
            let at = sparse
                .and_then(|p| p.kept_shared(slot / 2))
                .filter(|_| slot % 2 == 0);
            let fits = matches!(
                (&self.compact[slot], at),
                (Some(c), Some(at)) if Arc::ptr_eq(&c.at, at)
            );
            if fits {
                continue;
            }
            self.flush(slot);
            if let Some(at) = at {
                let dense = &self.slots[slot];
                // (An empty dense slot holds zeros.)
                let gather = |state: &[f32]| match fresh || state.is_empty() {
                    true => written_zeros(at.len()),
                    false => at.iter().map(|&i| state[i]).collect(),
                };
                self.compact[slot] = Some(Compact {
                    at: Arc::clone(at),
                    slot: Slot {
                        first: gather(&dense.first),
                        second: gather(&dense.second),
                    },
                });
            }
        }
    }

    /// Zeroes the state kept for every pruned entry of `mlp`, as each dense step does: a step over kept
    /// entries only never visits the others, so a mask that grew between steps is followed by this.
    pub(crate) fn forget_pruned(&mut self, mlp: &Mlp) {
        if self.fits(mlp) {
            for slot in 0..self.slots.len() {
                self.flush(slot);
            }
            mlp.for_each_pruned(|slot, i| {
                // (An empty slot is zeros already.)
                if let Some(f) = self.slots[slot].first.get_mut(i) {
                    *f = 0.0;
                    self.slots[slot].second[i] = 0.0;
                }
            });
        }
    }

    /// Forgets the moments and the step count.
    pub(crate) fn reset(&mut self) {
        self.step = 0;
        self.slots.clear();
        self.sizes.clear();
        self.compact.clear();
    }

    /// Whether the state was built for parameters shaped as `mlp`'s.
    fn fits(&self, mlp: &Mlp) -> bool {
        self.slots.len() == 2 * mlp.n_layers()
            && self.compact.len() == self.slots.len()
            && mlp.slot_sizes().eq(self.sizes.iter().copied())
    }

    /// One update of every parameter of `mlp` from `grads`. Returns whether every gradient was finite,
    /// checked in the same pass: where one was not, the parameters it touched are garbage and the caller
    /// restores them (and resets this state).
    /// The weights of layers that train sparse under `sparse` are updated at their kept entries only.
    #[must_use]
    pub(crate) fn step(
        &mut self,
        mlp: &mut Mlp,
        grads: &Gradients,
        sparse: Option<&mut SparsePlan>,
    ) -> bool {
        let fresh = !self.fits(mlp);
        if fresh {
            // The weight slots of layers that train sparse stay empty: their state starts compact.
            self.sizes = mlp.slot_sizes().collect();
            self.slots = (self.sizes.iter().enumerate())
                .map(|(slot, &n)| {
                    let sparse_weights =
                        slot % 2 == 0 && sparse.as_deref().is_some_and(|p| p.is_sparse(slot / 2));
                    match sparse_weights {
                        true => Slot::default(),
                        false => Slot::zeros(n),
                    }
                })
                .collect();
            self.compact = vec![None; self.slots.len()];
            self.step = 0;
        }
        self.step += 1;
        self.match_plan(sparse.as_deref(), fresh);
        mlp.update_params(&mut Step { state: self, grads }, sparse)
    }
}

/// One optimiser step over a network's parameter slots; the network zeroes pruned entries after each.
struct Step<'a> {
    state: &'a mut OptimizerState,
    grads: &'a Gradients,
}

impl ParamUpdate for Step<'_> {
    fn update(&mut self, slot: usize, values: &mut [f32], keep: Option<&[bool]>) -> bool {
        let (k, grads) = (slot / 2, self.grads);
        let g = if slot.is_multiple_of(2) {
            grads.weights[k].as_slice()
        } else {
            grads.biases[k].as_ref().and_then(|b| b.as_slice())
        };
        // A layer without bias has no gradient for its (empty) bias slot.
        let Some(g) = g else {
            return true;
        };
        let state = &mut *self.state;
        update(
            &state.config,
            state.step,
            state.slots[slot].ensure(values.len()),
            values,
            g,
            keep,
        )
    }

    fn update_kept(&mut self, slot: usize, at: &[usize], grads: &[f32], kept: &mut [f32]) -> bool {
        let state = &mut *self.state;
        let c = state.compact[slot]
            .as_mut()
            .expect("the state of a sparse layer is compact (OptimizerState::match_plan)");
        debug_assert!(*c.at == *at);
        assert_eq!(grads.len(), kept.len(), "one gradient per kept weight");
        // Contiguous values and state: the dense loop, to the same numbers (each entry is updated alone).
        update(&state.config, state.step, &mut c.slot, kept, grads, None)
    }
}

/// Parameters per parallel piece of an update; smaller tensors are updated on the calling thread.
const PARALLEL_CHUNK: usize = 1 << 14;

/// Updates `params` from `grads`; returns whether every gradient was finite. Where `keep` says `false`, the
/// parameter and its state end as zero (a pruned entry), in the same pass.
fn update(
    config: &Optimizer,
    step: u64,
    slot: &mut Slot,
    params: &mut [f32],
    grads: &[f32],
    keep: Option<&[bool]>,
) -> bool {
    if let Some(keep) = keep {
        assert_eq!(keep.len(), params.len(), "one mask entry per parameter");
    }
    if params.len() < 2 * PARALLEL_CHUNK || !crate::linalg::may_split() {
        return update_chunk(
            config,
            step,
            params,
            grads,
            &mut slot.first,
            &mut slot.second,
            keep,
        );
    }
    // Every parameter's update is independent of the others, so pieces give the same numbers.
    use rayon::prelude::*;
    let keeps: Vec<Option<&[bool]>> = match keep {
        Some(keep) => keep.chunks(PARALLEL_CHUNK).map(Some).collect(),
        None => vec![None; params.len().div_ceil(PARALLEL_CHUNK)],
    };
    params
        .par_chunks_mut(PARALLEL_CHUNK)
        .zip(grads.par_chunks(PARALLEL_CHUNK))
        .zip(slot.first.par_chunks_mut(PARALLEL_CHUNK))
        .zip(slot.second.par_chunks_mut(PARALLEL_CHUNK))
        .zip(keeps)
        .map(|((((p, g), m), v), k)| update_chunk(config, step, p, g, m, v, k))
        .reduce(|| true, |a, b| a && b)
}

/// One optimiser step over a piece of the parameters; returns whether every gradient was finite (tested on
/// the bit pattern, in the loop that reads them anyway, so the check costs no pass of its own). Runs the
/// loop compiled for AVX2 under the AVX2 and AVX-512 kernel families.
fn update_chunk(
    config: &Optimizer,
    step: u64,
    params: &mut [f32],
    grads: &[f32],
    first: &mut [f32],
    second: &mut [f32],
    keep: Option<&[bool]>,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::family() != crate::kernels::SimdFamily::Portable
        && crate::kernels::has_avx2()
    {
        // SAFETY: `has_avx2()` is the one-time CPU detection in `kernels`: the CPU has AVX2. (It always
        // holds here: the AVX2 and AVX-512 families need AVX2, and `family()` is always a supported one.)
        return unsafe { update_chunk_avx2(config, step, params, grads, first, second, keep) };
    }
    update_chunk_any(config, step, params, grads, first, second, keep)
}

/// [`update_chunk_any`] compiled for AVX2: eight lanes for Adam's square roots and divisions instead of
/// four, and the same numbers (each operation is IEEE-exact, and Rust never fuses a multiply and an add on
/// its own).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn update_chunk_avx2(
    config: &Optimizer,
    step: u64,
    params: &mut [f32],
    grads: &[f32],
    first: &mut [f32],
    second: &mut [f32],
    keep: Option<&[bool]>,
) -> bool {
    update_chunk_any(config, step, params, grads, first, second, keep)
}

/// The optimiser's rule for one step, its per-step constants computed once.
#[derive(Clone, Copy)]
enum Rule {
    /// SGD; `first`: the first step (the momentum buffer starts at the gradient).
    Sgd { s: Sgd, first: bool },
    /// Adam.
    Adam(AdamStep),
}

/// Adam's constants for one step: its bias corrections folded into a step size and a divisor.
#[derive(Clone, Copy)]
struct AdamStep {
    a: Adam,
    step_size: f32,
    bc2_sqrt: f32,
    decay: f32,
}

impl Rule {
    /// The rule of step `step` (from 1).
    fn new(config: &Optimizer, step: u64) -> Rule {
        match *config {
            Optimizer::Sgd(s) => Rule::Sgd {
                s,
                first: step == 1,
            },
            Optimizer::Adam(a) => {
                let bc1 = 1.0 - libm::pow(a.beta1 as f64, step as f64);
                let bc2 = 1.0 - libm::pow(a.beta2 as f64, step as f64);
                Rule::Adam(AdamStep {
                    a,
                    step_size: (a.lr as f64 / bc1) as f32,
                    bc2_sqrt: bc2.sqrt() as f32,
                    decay: 1.0 - a.lr * a.weight_decay,
                })
            }
        }
    }
}

/// SGD's update of one parameter `p` with gradient `g` and momentum buffer `b`.
#[inline(always)]
fn sgd_one(s: &Sgd, first: bool, p: &mut f32, g: f32, b: &mut f32) {
    let mut d = g + s.weight_decay * *p;
    if s.momentum != 0.0 {
        *b = if first {
            d
        } else {
            s.momentum * *b + (1.0 - s.dampening) * d
        };
        d = if s.nesterov { d + s.momentum * *b } else { *b };
    }
    *p -= s.lr * d;
}

/// Adam's update of one parameter `p` with gradient `g` and moments `m`, `v`.
#[inline(always)]
fn adam_one(c: &AdamStep, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
    let a = &c.a;
    let g = if a.decoupled {
        *p *= c.decay;
        g
    } else {
        g + a.weight_decay * *p
    };
    *m += (g - *m) * (1.0 - a.beta1);
    *v = a.beta2 * *v + (1.0 - a.beta2) * g * g;
    let denom = v.sqrt() / c.bc2_sqrt + a.eps;
    *p -= c.step_size * *m / denom;
}

/// Whether `g` is infinite or NaN (tested on the bit pattern, in the loops that read it anyway).
#[inline(always)]
fn not_finite(g: f32) -> u32 {
    const EXPONENT: u32 = 0x7f80_0000;
    u32::from(g.to_bits() & EXPONENT == EXPONENT)
}

/// The optimiser's loop, for any CPU.
#[inline(always)]
fn update_chunk_any(
    config: &Optimizer,
    step: u64,
    params: &mut [f32],
    grads: &[f32],
    first: &mut [f32],
    second: &mut [f32],
    keep: Option<&[bool]>,
) -> bool {
    let rule = Rule::new(config, step);
    let bad = match keep {
        None => apply(&rule, params, grads, first, second, std::iter::repeat(true)),
        Some(keep) => apply(&rule, params, grads, first, second, keep.iter().copied()),
    };
    bad == 0
}

/// `rule`'s update of `params` from `grads` with state `first` (and `second`), entry by entry; where `keep`
/// says `false` the parameter and its state are then set to zero in the same branch-free pass (the bits of an
/// update followed by zeroing; `repeat(true)` for a slot without a mask, which compiles to the plain loop).
/// Returns nonzero where a gradient was not finite.
#[inline(always)]
fn apply(
    rule: &Rule,
    params: &mut [f32],
    grads: &[f32],
    first: &mut [f32],
    second: &mut [f32],
    keep: impl Iterator<Item = bool>,
) -> u32 {
    let mut bad = 0u32;
    let kept = |k: bool, x: f32| if k { x } else { 0.0 };
    match *rule {
        Rule::Sgd { s, first: f } => {
            for (((p, &g), b), k) in params.iter_mut().zip(grads).zip(first.iter_mut()).zip(keep) {
                bad |= not_finite(g);
                sgd_one(&s, f, p, g, b);
                (*p, *b) = (kept(k, *p), kept(k, *b));
            }
        }
        Rule::Adam(c) => {
            for ((((p, &g), m), v), k) in params
                .iter_mut()
                .zip(grads)
                .zip(first.iter_mut())
                .zip(second.iter_mut())
                .zip(keep)
            {
                bad |= not_finite(g);
                adam_one(&c, p, g, m, v);
                (*p, *m, *v) = (kept(k, *p), kept(k, *m), kept(k, *v));
            }
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_zeros_are_zeros_of_the_length_asked_on_either_side_of_the_parallel_size() {
        for n in [
            0,
            1,
            17,
            WRITTEN_IN_PARALLEL - 1,
            WRITTEN_IN_PARALLEL,
            3 * WRITTEN_IN_PARALLEL + 5,
        ] {
            let z = written_zeros(n);
            assert_eq!(z.len(), n);
            assert!(z.iter().all(|v| v.to_bits() == 0), "n = {n}");
        }
    }

    #[test]
    fn the_avx2_loop_gives_the_same_bits_as_the_plain_one() {
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::has_avx2() {
            let n = 1003;
            let wave =
                |i: usize, f: f32| ((i as f32 * f).sin() * 1.7) * 10f32.powi((i % 7) as i32 - 3);
            let configs: [Optimizer; 4] = [
                Adam::new(1e-3).into(),
                Adam::new(3e-2).weight_decay(1e-2, true).into(),
                Adam::new(1e-2).weight_decay(1e-3, false).into(),
                Sgd::new(0.1).momentum(0.9).nesterov(true).into(),
            ];
            for config in configs {
                let mut plain = (
                    (0..n).map(|i| wave(i, 0.37)).collect::<Vec<_>>(),
                    vec![0.0f32; n],
                    vec![0.0f32; n],
                );
                let mut wide = plain.clone();
                for step in 1..=5u64 {
                    let grads: Vec<f32> = (0..n).map(|i| wave(i + step as usize, 0.91)).collect();
                    let (p, m, v) = &mut plain;
                    assert!(update_chunk_any(&config, step, p, &grads, m, v, None));
                    let (p, m, v) = &mut wide;
                    // SAFETY: inside `if has_avx2()`: the one-time CPU detection found AVX2.
                    assert!(unsafe { update_chunk_avx2(&config, step, p, &grads, m, v, None) });
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&plain.0), bits(&wide.0), "{config:?}");
                assert_eq!(bits(&plain.1), bits(&wide.1), "{config:?}");
                assert!(plain.0.iter().all(|x| x.is_finite()));
                let mut broken = vec![0.0f32; n];
                broken[n - 2] = f32::NAN;
                let (p, m, v) = &mut wide;
                // SAFETY: still inside `if has_avx2()`: the one-time CPU detection found AVX2.
                assert!(!unsafe { update_chunk_avx2(&config, 6, p, &broken, m, v, None) });
            }
        }
    }

    /// A masked update is the plain update followed by zeroing the pruned entries and their state, bit for
    /// bit, on every loop; a pruned entry stays zero while its gradient is not.
    #[test]
    fn a_masked_update_equals_the_update_then_zeroing() {
        let n = 1003;
        let wave = |i: usize, f: f32| ((i as f32 * f).sin() * 1.7) * 10f32.powi((i % 7) as i32 - 3);
        let keep: Vec<bool> = (0..n).map(|i| (i * 7) % 5 != 0).collect();
        let configs: [Optimizer; 3] = [
            Adam::new(1e-3).weight_decay(1e-2, true).into(),
            Adam::new(1e-2).weight_decay(1e-3, false).into(),
            Sgd::new(0.1).momentum(0.9).weight_decay(1e-3).into(),
        ];
        for config in configs {
            let start = (0..n).map(|i| wave(i, 0.37)).collect::<Vec<_>>();
            let mut want = (start.clone(), vec![0.0f32; n], vec![0.0f32; n]);
            let mut got = want.clone();
            let mut wide = want.clone();
            for step in 1..=4u64 {
                let grads: Vec<f32> = (0..n).map(|i| wave(i + step as usize, 0.91)).collect();
                let (p, m, v) = &mut want;
                assert!(update_chunk_any(&config, step, p, &grads, m, v, None));
                for (i, &k) in keep.iter().enumerate() {
                    if !k {
                        (p[i], m[i], v[i]) = (0.0, 0.0, 0.0);
                    }
                }
                let (p, m, v) = &mut got;
                assert!(update_chunk_any(
                    &config,
                    step,
                    p,
                    &grads,
                    m,
                    v,
                    Some(&keep)
                ));
                #[cfg(target_arch = "x86_64")]
                if crate::kernels::has_avx2() {
                    let (p, m, v) = &mut wide;
                    // SAFETY: inside `if has_avx2()`: the one-time CPU detection found AVX2.
                    assert!(unsafe {
                        update_chunk_avx2(&config, step, p, &grads, m, v, Some(&keep))
                    });
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for (a, b) in [(&want.0, &got.0), (&want.1, &got.1), (&want.2, &got.2)] {
                assert_eq!(bits(a), bits(b), "{config:?}");
            }
            #[cfg(target_arch = "x86_64")]
            if crate::kernels::has_avx2() {
                assert_eq!(bits(&want.0), bits(&wide.0), "{config:?}");
            }
            assert!(keep
                .iter()
                .zip(&got.0)
                .all(|(&k, &p)| k || p.to_bits() == 0));
            assert!(keep.iter().zip(&got.0).any(|(&k, &p)| k && p != 0.0));
        }
    }
}
