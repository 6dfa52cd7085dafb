//! Training through sparse kernels: a masked layer sparse enough multiplies by its kept weights only, in
//! the forward pass (`Z = X·Wᵀ`), in the backward pass (`∂L/∂X = ∂L/∂Z·W`) and for its weight gradient
//! (`∂L/∂W` at the kept entries only, a sampled product), and the optimiser updates its kept weights only.
//!
//! Every sum is the chain of fused multiply-adds in index order that the dense kernels run
//! ([`crate::kernels`]), and a pruned weight is an exact zero there, so a network trains to the same bits
//! whichever layers take this path.

use std::sync::Arc;

use std::ops::Range;

use ndarray::{s, Array1, ArrayView2, ArrayViewMut2, Axis, ShapeBuilder};

use super::{Csr, Dense};
use crate::activation::Activation;
use crate::kernels::sampled::sampled_product;
use crate::kernels::sampled_tiles::{to_sample_blocks, SampledTiles};
use crate::kernels::transpose::transpose;
use crate::kernels::AlignedBuf;
use crate::kernels::SimdFamily;

/// The density (fraction of weights kept) at or below which a masked layer trains through the sparse
/// kernels by default with `family`'s kernels: 0.50 with AVX-512, 0.30 with AVX2, 0.25 with the portable
/// ones. Either way the weights are the same bits; only the time differs.
///
/// Measured on the 784-1000-1000-500-200-10 network (every layer pruned to the density), batch 100, Adam,
/// AMD EPYC (Zen 4) by `cargo run --release -p prunelab --example sparse_training` (which prints the figures
/// for the machine it runs on; `PRUNELAB_SIMD` picks the family), as the dense masked step's time over the
/// sparse step's, on one thread and on two (the AVX-512 figures from three runs each): AVX-512 at 45%
/// density 1.20-1.23x and 1.07-1.21x, at 50% 1.07-1.14x and 1.13-1.21x, at 55% 0.99-1.04x and 0.94-1.07x,
/// at 60% 0.95x and 0.86x; AVX2 at 30% 1.25x and 1.37x, at 35% 1.05x and 1.23x, at 40% 0.93x and 0.98x;
/// portable at 25% 1.04x and 1.06x, at 30% 0.84x and 1.12x.
///
/// ```
/// use prunelab::kernels::SimdFamily;
/// use prunelab::nn::train_crossover;
///
/// assert_eq!(train_crossover(SimdFamily::Avx512), 0.50);
/// assert!(SimdFamily::ALL.iter().all(|&f| train_crossover(f) > 0.0 && train_crossover(f) < 1.0));
/// ```
pub fn train_crossover(family: SimdFamily) -> f64 {
    match family {
        SimdFamily::Avx512 => 0.50,
        SimdFamily::Avx2 => 0.30,
        SimdFamily::Portable => 0.25,
    }
}

/// The share of full lanes at or above which a layer's weight gradient takes the tiled sampled product
/// ([`SampledTiles`], with the AVX-512 kernels), else the one by rows. Measured on a 1000x1000 matrix with
/// entries at random, 100 samples, AMD EPYC (Zen 4), one thread (best of 60 calls, the tiled one including
/// nothing of the layout it reads): 10% kept (lanes 76% full) 0.57 ms tiled against 0.82 ms by rows, 5%
/// (68%) 0.32 against 0.45, 3% (47%) 0.29 against 0.27, 2% (31%) 0.30 against 0.20.
const TILES_FILL: f64 = 0.55;

/// f32 lanes of a 64-byte line: the feature-major buffers' rows hold a multiple of this many samples.
const LANES: usize = 16;

/// One layer's sparse form for training.
#[derive(Debug, Clone)]
struct LayerPlan {
    /// The kept weights, one row per unit; the optimiser updates their values in place.
    w: Csr,
    /// The kept weights transposed, one row per input that is a hidden output (the network's own inputs
    /// need no gradient), for `∂L/∂X`.
    wt: Csr,
    /// Row-major index in the weight matrix of each entry of `w` (in its row and column order, so rising):
    /// the only weights the optimiser updates.
    kept: Arc<[usize]>,
    /// For each entry of `wt`, the index of the same weight among `w`'s entries.
    from_w: Vec<usize>,
    /// Where `wt` has a column-blocked copy: for each of its entries, the index of the same weight among
    /// `w`'s entries, so that new values reach it in one pass (`wt`'s plain values are not kept then).
    blocked_from_w: Option<Vec<u32>>,
    /// The weight gradient at the kept entries, in `w`'s order (the dense gradient is not written).
    grad: Vec<f32>,
    /// `w`'s entries by tiles, where the weight gradient takes the tiled sampled product.
    tiles: Option<SampledTiles>,
    /// Whether the optimiser wrote `w`'s values since the column-blocked copy was made.
    refresh: bool,
    /// Whether `w`'s values are newer than the layer's weight matrix (the optimiser updates them alone;
    /// [`SparsePlan::write_back`] brings the matrix in step).
    pending: bool,
}

/// A sparse layer's kept weights as the optimiser updates them (see [`SparsePlan::kept_update`]).
pub(crate) struct KeptUpdate<'a> {
    /// Row-major index of each kept weight in the weight matrix, rising.
    pub(crate) at: &'a [usize],
    /// The gradient at each.
    pub(crate) grad: &'a [f32],
    /// Each kept weight's current value (the sparse form's values), to be updated in place.
    pub(crate) values: &'a mut [f32],
}

/// What the training passes of a network need to run its sparse layers: each such layer's CSR forms and
/// feature-major buffers for the samples of one batch.
#[derive(Debug, Clone)]
pub(crate) struct SparsePlan {
    /// Per layer, its sparse form (`None`: the layer trains dense).
    layers: Vec<Option<LayerPlan>>,
    /// Row stride of the feature-major buffers.
    stride: usize,
    /// The activation buffer, feature-major: column `c` of the sample-major one at `c · stride`.
    acts_t: AlignedBuf,
    /// How many leading columns of the activations `acts_t` holds for the current forward pass.
    mirrored: usize,
    /// A layer's outputs (`Z`, then `∂L/∂Z`), feature-major.
    out_t: AlignedBuf,
    /// A layer's `∂L/∂X`, feature-major.
    in_t: AlignedBuf,
    /// Per layer, whether its outputs stay feature-major ([`SparsePlan::feature_major`]).
    fm: Vec<bool>,
    /// Per layer, the columns of the activations it reads and those it writes.
    columns: Vec<LayerColumns>,
    /// The pre-activations of the layers whose outputs stay feature-major, by column as `acts_t` (empty
    /// where there are none).
    pre_t: AlignedBuf,
    /// `∂L/∂a`, then `∂L/∂z` in place, of the layers whose outputs stay feature-major, by column as
    /// `acts_t` (empty where there are none).
    dacts_t: AlignedBuf,
    /// Each layer's activation.
    activations: Vec<Activation>,
    /// Whether each layer has biases.
    biased: Vec<bool>,
    /// The bias gradients of the layers whose outputs stay feature-major, by column as `acts_t` without
    /// the samples (empty where there are none).
    bias_grads: Vec<f32>,
    /// The tiled sampled product's operands (empty where no layer takes it).
    blocks: SampleBlocks,
}

/// The operands of the tiled sampled product in sample blocks ([`to_sample_blocks`]), 64-byte aligned, one
/// set for every layer: each stays in cache between being written and being read.
#[derive(Debug, Clone, Default)]
struct SampleBlocks {
    /// Layer `k`'s `∂L/∂Z` in `dz[k % 2]`: a layer whose outputs stay feature-major gets its own written
    /// by the next layer's `∂L/∂X` product, while that layer's weight gradient reads the other.
    dz: [AlignedBuf; 2],
    /// A layer's inputs, written by its backward pass.
    x: AlignedBuf,
}

impl SampleBlocks {
    /// Layer `k`'s blocks, `(∂L/∂Z, inputs)`, and the previous layer's `∂L/∂Z` blocks.
    fn for_layer(&mut self, k: usize) -> ((&mut [f32], &mut [f32]), &mut [f32]) {
        let [even, odd] = &mut self.dz;
        let (own, previous) = if k.is_multiple_of(2) {
            (even, odd)
        } else {
            (odd, even)
        };
        ((&mut own[..], &mut self.x[..]), &mut previous[..])
    }
}

/// Where a sparse layer's backward pass puts `∂L/∂X` for the hidden outputs it reads.
enum InputGrad<'a, 'b> {
    /// The layer reads only the network's inputs.
    None,
    /// Into a feature-major buffer, written (the layer is their only reader), which then becomes the
    /// previous layer's `∂L/∂Z`.
    FeatureMajor(&'a mut [f32], Previous<'a>),
    /// Into sample-major columns, through the feature-major scratch `scratch`; `fresh`: written, else
    /// added.
    SampleMajor {
        target: ArrayViewMut2<'b, f32>,
        scratch: &'a mut [f32],
        fresh: bool,
    },
}

/// A layer's columns of the activations: those it reads, then those it writes.
type LayerColumns = (Range<usize>, Range<usize>);

/// A previous layer whose outputs stay feature-major, as the next layer's `∂L/∂X` product finishes its
/// backward pass's element-wise part piece by piece.
struct Previous<'a> {
    /// Its `∂L/∂a` to `∂L/∂z`.
    pre: ToPreactivation<'a>,
    /// Its bias gradient, one per unit (empty for a layer without biases).
    bias_grad: &'a mut [f32],
    /// Its `∂L/∂Z` in sample blocks, where it takes the tiled sampled product (else empty).
    dz_blocks: &'a mut [f32],
}

impl<'a> Previous<'a> {
    /// Layer `j` of the plan's layers `before` (those before the layer whose backward pass runs), with the
    /// plan's per-layer `(activations, biased, columns)`, feature-major `(pre_t, acts_t)` of row stride
    /// `stride`, and `bias_grads`.
    fn of(
        j: usize,
        before: &'a mut [Option<LayerPlan>],
        (activations, biased, columns): (&[Activation], &[bool], &[LayerColumns]),
        stride: usize,
        (pre_t, acts_t): (&'a [f32], &'a [f32]),
        bias_grads: &'a mut [f32],
        dz_blocks: &'a mut [f32],
    ) -> Self {
        let outputs = columns[j].1.clone();
        let span = outputs.start * stride..outputs.end * stride;
        let pre = ToPreactivation {
            activation: activations[j],
            z: &pre_t[span.clone()],
            a: &acts_t[span],
        };
        let tiled = before[j].as_ref().is_some_and(|p| p.tiles.is_some());
        Previous {
            pre,
            bias_grad: if biased[j] {
                &mut bias_grads[outputs]
            } else {
                &mut []
            },
            dz_blocks: if tiled { dz_blocks } else { &mut [] },
        }
    }
}

/// What turns a layer's feature-major `∂L/∂a` into its `∂L/∂z` in place, and takes its bias gradient,
/// piece of rows by piece as the next layer's `∂L/∂X` product writes them.
#[derive(Clone, Copy)]
struct ToPreactivation<'a> {
    /// The layer's activation.
    activation: Activation,
    /// Its pre-activations `z`, feature-major.
    z: &'a [f32],
    /// Its activations, feature-major.
    a: &'a [f32],
}

impl ToPreactivation<'_> {
    /// Units `rows` of `n` samples: `d` (those units' `∂L/∂a`, row stride `stride`) becomes `∂L/∂z`, and
    /// `bias_grad` (those units' bias gradients, or empty) their sums over the samples, in sample order as
    /// the dense pass adds them.
    fn apply(
        &self,
        rows: Range<usize>,
        d: &mut [f32],
        bias_grad: &mut [f32],
        stride: usize,
        n: usize,
    ) {
        let shape = (rows.len(), n).strides((stride, 1));
        let span = rows.start * stride..rows.start * stride + d.len();
        let z = ArrayView2::from_shape(shape, &self.z[span.clone()]).expect("feature-major rows");
        let a = ArrayView2::from_shape(shape, &self.a[span]).expect("feature-major rows");
        let dv = ArrayViewMut2::from_shape(shape, &mut *d).expect("feature-major rows");
        self.activation.backward(z, a, dv);
        for (b, row) in bias_grad.iter_mut().zip(d.chunks(stride)) {
            *b = row[..n].iter().fold(0.0, |s, &v| s + v);
        }
    }
}

impl SparsePlan {
    /// The plan for a network's `layers`, layer `k` reading columns `columns[k].0` of the activations (the
    /// network's `n_inputs` inputs, then each layer's outputs) and writing columns `columns[k].1`, with
    /// batches of up to `rows` samples: masked layers with at most `below` of their weights kept train
    /// sparse. `None` when no layer does. `chain`: each layer reads the previous one's outputs only;
    /// `sample_major`: something besides the layers reads every hidden activation sample-major (the
    /// utility tracker), so none stays feature-major.
    pub(crate) fn new(
        layers: &[Dense],
        columns: &[LayerColumns],
        n_inputs: usize,
        rows: usize,
        below: f64,
        chain: bool,
        sample_major: bool,
    ) -> Option<SparsePlan> {
        let inputs: Vec<Range<usize>> = columns.iter().map(|c| c.0.clone()).collect();
        let width = n_inputs + layers.iter().map(Dense::n_outputs).sum::<usize>();
        let dense = layers;
        let plan_layer = |(k, layer): (usize, &Dense)| -> Option<LayerPlan> {
            let mask = layer.mask.as_ref()?;
            let density = layer.n_remaining() as f64 / layer.n_weights().max(1) as f64;
            if density > below {
                return None;
            }
            let inputs = inputs[k].clone();
            let hidden_from = n_inputs.clamp(inputs.start, inputs.end) - inputs.start;
            let weight = layer.weight.view();
            let w = Csr::from_masked_for_vectors(weight, mask.view());
            let cols = layer.n_inputs();
            // The transposed forms and the forward ones' companions are independent: side by side (one-step
            // fits of the benchmark network at 10% density, two threads: 5-10% faster).
            let ((wt, from_w, blocked_from_w), (kept, tiles)) = rayon::join(
                || {
                    // Entry (input i, unit j) of `wt` is entry `from_w` of `w`.
                    let (wt, from_w) = w.transposed_from(hidden_from);
                    let wt = wt.for_vectors();
                    let blocked_from_w: Option<Vec<u32>> = wt
                        .blocked_from()
                        .map(|b| b.iter().map(|&t| from_w[t as usize] as u32).collect());
                    (wt, from_w, blocked_from_w)
                },
                || {
                    let mut kept = Vec::with_capacity(w.nnz());
                    for r in 0..w.rows() {
                        let (lo, hi) = (w.indptr()[r], w.indptr()[r + 1]);
                        kept.extend(w.indices()[lo..hi].iter().map(|&c| r * cols + c as usize));
                    }
                    let tiles = (crate::kernels::family() == SimdFamily::Avx512)
                        .then(|| SampledTiles::if_full(w.indptr(), w.indices(), cols, TILES_FILL))
                        .flatten();
                    (Arc::from(kept), tiles)
                },
            );
            let grad = vec![0.0; w.nnz()];
            Some(LayerPlan {
                w,
                wt,
                kept,
                from_w,
                blocked_from_w,
                grad,
                tiles,
                refresh: false,
                pending: false,
            })
        };
        // Each layer's forms are made alone: on rayon's threads where this thread may fan out.
        let layers: Vec<Option<LayerPlan>> = if crate::linalg::may_split() {
            use rayon::prelude::*;
            dense.par_iter().enumerate().map(plan_layer).collect()
        } else {
            dense.iter().enumerate().map(plan_layer).collect()
        };
        if layers.iter().all(Option::is_none) {
            return None;
        }
        let stride = (rows.max(1).div_ceil(LANES) | 1) * LANES;
        let widest = dense
            .iter()
            .map(|l| l.n_outputs().max(l.n_inputs()))
            .max()
            .unwrap_or(0);
        // A hidden layer's outputs stay feature-major where it and its only reader train sparse: the
        // activation and its derivative are taken there, and no transpose is needed either way.
        let fm: Vec<bool> = (0..layers.len())
            .map(|k| {
                chain
                    && !sample_major
                    && k + 1 < layers.len()
                    && layers[k].is_some()
                    && layers[k + 1].is_some()
                    && dense[k].activation != Activation::Softmax
            })
            .collect();
        let held = |on: bool| {
            if on {
                AlignedBuf::zeroed(width * stride)
            } else {
                AlignedBuf::new()
            }
        };
        let any_fm = fm.iter().any(|&f| f);
        let tiled = layers.iter().flatten().filter_map(|p| p.tiles.as_ref());
        let dz = tiled.clone().map(|t| t.a_len(stride)).max().unwrap_or(0);
        let blocks = SampleBlocks {
            dz: [AlignedBuf::zeroed(dz), AlignedBuf::zeroed(dz)],
            x: AlignedBuf::zeroed(tiled.map(|t| t.b_len(stride)).max().unwrap_or(0)),
        };
        Some(SparsePlan {
            layers,
            stride,
            acts_t: AlignedBuf::zeroed(width * stride),
            mirrored: 0,
            out_t: AlignedBuf::zeroed(widest * stride),
            in_t: AlignedBuf::zeroed(widest * stride),
            fm,
            columns: columns.to_vec(),
            pre_t: held(any_fm),
            dacts_t: held(any_fm),
            blocks,
            activations: dense.iter().map(|l| l.activation).collect(),
            biased: dense.iter().map(|l| l.bias.is_some()).collect(),
            bias_grads: if any_fm { vec![0.0; width] } else { Vec::new() },
        })
    }

    /// Whether the plan was made for batches of `rows` samples or more.
    pub(crate) fn holds(&self, rows: usize) -> bool {
        rows <= self.stride
    }

    /// Whether layer `k` trains sparse.
    pub(crate) fn is_sparse(&self, k: usize) -> bool {
        self.layers.get(k).is_some_and(Option::is_some)
    }

    /// Whether layer `k`'s outputs stay feature-major in the training passes: [`SparsePlan::forward`]
    /// takes its activation too and [`SparsePlan::backward_feature_major`] its whole backward step, and the
    /// workspace's sample-major activations, pre-activations and gradients of these columns are not
    /// written.
    pub(crate) fn feature_major(&self, k: usize) -> bool {
        self.fm.get(k).copied().unwrap_or(false)
    }

    /// Layer `k`'s kept weights as [`SparsePlan::kept_update`] lists them, shared: the same allocation for as
    /// long as this plan stands, so that state kept per entry can tell whether it still fits.
    pub(crate) fn kept_shared(&self, k: usize) -> Option<&Arc<[usize]>> {
        self.layers.get(k)?.as_ref().map(|p| &p.kept)
    }

    /// Layer `k`'s kept weights, their gradients and its sparse form's values, if it trains sparse, for an
    /// update of these values in place (which the next forward pass then reads as they are). The layer's
    /// weight matrix is stale from then until [`SparsePlan::write_back`].
    pub(crate) fn kept_update(&mut self, k: usize) -> Option<KeptUpdate<'_>> {
        let p = self.layers.get_mut(k)?.as_mut()?;
        p.refresh = true;
        p.pending = true;
        Some(KeptUpdate {
            at: &p.kept,
            grad: &p.grad,
            values: p.w.values_mut(),
        })
    }

    /// Layer `k`'s kept weights' current values (in the order of [`SparsePlan::kept_update`]), if it trains
    /// sparse.
    pub(crate) fn kept_values(&self, k: usize) -> Option<&[f32]> {
        Some(self.layers.get(k)?.as_ref()?.w.values())
    }

    /// Layer `k`'s kept weights' current values (in the order of [`SparsePlan::kept_update`]) and the
    /// gradient at each from the last backward pass, writable, if it trains sparse.
    pub(crate) fn kept_values_grad_mut(&mut self, k: usize) -> Option<(&[f32], &mut [f32])> {
        let p = self.layers.get_mut(k)?.as_mut()?;
        Some((p.w.values(), &mut p.grad))
    }

    /// Whether some layer's kept weights are newer than its weight matrix.
    pub(crate) fn has_pending(&self) -> bool {
        self.layers.iter().flatten().any(|p| p.pending)
    }

    /// Writes the kept weights the optimiser updated into the weight matrices of `layers` (the layers this
    /// plan was made for), so that readers of the network see its current weights. Needed before anything
    /// reads the weights of a layer that trains sparse outside the training passes.
    pub(crate) fn write_back(&mut self, layers: &mut [Dense]) {
        /// Kept weights per piece written on one thread.
        const PIECE: usize = 1 << 15;
        /// A stretch of a weight matrix from position `base`, and the kept weights (positions, values)
        /// that fall in it.
        type Piece<'a> = (&'a mut [f32], usize, &'a [usize], &'a [f32]);
        // Pieces of the kept weights (rising positions) and the parts of the matrices they fall in.
        let mut pieces: Vec<Piece> = Vec::new();
        for (p, layer) in self.layers.iter_mut().zip(layers) {
            let Some(p) = p.as_mut().filter(|p| p.pending) else {
                continue;
            };
            p.pending = false;
            let mut w = layer.weight.as_slice_mut().expect("weights are contiguous");
            assert!(
                p.kept.last().is_none_or(|&i| i < w.len()),
                "the plan's layer shapes"
            );
            let mut base = 0;
            for (at, values) in p.kept.chunks(PIECE).zip(p.w.values().chunks(PIECE)) {
                // The piece's positions rise from `at[0]` to below the next piece's first.
                let (head, rest) = std::mem::take(&mut w).split_at_mut(at[at.len() - 1] + 1 - base);
                let len = head.len();
                pieces.push((head, base, at, values));
                base += len;
                w = rest;
            }
        }
        let write = |(w, base, at, values): Piece| {
            for (&i, &v) in at.iter().zip(values) {
                w[i - base] = v;
            }
        };
        if pieces.len() > 1 && crate::linalg::may_split() {
            use rayon::prelude::*;
            pieces.into_par_iter().for_each(write);
        } else {
            pieces.into_iter().for_each(write);
        }
    }

    /// Writes the sparse layers' gradients into the dense weight gradients `grads` (pruned entries stay as they are), for
    /// readers of the whole gradient (the movement and utility trackers).
    pub(crate) fn scatter_grads(&self, grads: &mut [ndarray::Array2<f32>]) {
        for (p, g) in self.layers.iter().zip(grads) {
            if let (Some(p), Some(g)) = (p, g.as_slice_mut()) {
                for (&at, &v) in p.kept.iter().zip(&p.grad) {
                    g[at] = v;
                }
            }
        }
    }

    /// Starts a forward pass: no activation is mirrored yet.
    pub(crate) fn start_pass(&mut self) {
        self.mirrored = 0;
    }

    /// The forward product `z = x·Wᵀ` of `layer`, the network's layer `k`, for the `n` samples of `acts`
    /// (sample-major, every column up to the layer's inputs filled in that no earlier layer kept
    /// feature-major), its inputs being columns `inputs`. Where the layer's outputs stay feature-major
    /// ([`SparsePlan::feature_major`]) it also adds the bias and applies the activation there and returns
    /// `true`; `z` is not written then. Otherwise it writes `z` and returns `false`.
    pub(crate) fn forward(
        &mut self,
        k: usize,
        layer: &Dense,
        acts: ArrayView2<f32>,
        inputs: Range<usize>,
        z: &mut ArrayViewMut2<f32>,
    ) -> bool {
        let n = z.nrows();
        let stride = self.stride;
        assert!(
            n <= stride && acts.nrows() >= n,
            "batch larger than the plan"
        );
        // The columns the layer reads that are not mirrored yet (columns fill in order in a pass).
        let from = self.mirrored.max(inputs.start);
        if from < inputs.end {
            let cols = acts.slice(ndarray::s![..n, from..inputs.end]);
            to_feature_major(cols, &mut self.acts_t[from * stride..], stride);
            self.mirrored = inputs.end;
        }
        let plan = self.layers[k].as_mut().expect("a sparse layer");
        // (Nothing but the optimiser writes a layer's weights while a plan for them stands: the values are
        // the matrix's own or newer.)
        if std::mem::take(&mut plan.refresh) {
            plan.w.refresh_blocked();
        }
        let rows = plan.w.rows();
        let xs = &self.acts_t[inputs.start * stride..];
        if !self.fm[k] {
            plan.w
                .matmul_into(xs, stride, n, &mut self.out_t[..rows * stride], false);
            from_feature_major(&self.out_t, stride, z);
            return false;
        }
        let outputs = self.columns[k].1.clone();
        assert_eq!(outputs.len(), rows, "the layer's output columns");
        let zt = &mut self.pre_t[outputs.start * stride..outputs.end * stride];
        // The layer's outputs come after its inputs in the activations (a chain's).
        assert!(inputs.end <= outputs.start, "a chain's columns");
        let (xs, at) = self.acts_t.split_at_mut(outputs.start * stride);
        let xs = &xs[inputs.start * stride..];
        let at = &mut at[..outputs.len() * stride];
        let bias = layer.bias.as_ref().map(|b| b.view());
        // Bias and activation per piece of rows, on the thread that computed it.
        let then = |rows: Range<usize>, z: &mut [f32], [a]: [&mut [f32]; 1]| {
            let b = bias.map(|b| b.slice_move(ndarray::s![rows]));
            layer.activation.forward_rows(z, a, stride, n, b);
        };
        plan.w
            .matmul_then(xs, stride, n, zt, false, ([(at, stride)], then));
        self.mirrored = outputs.end;
        true
    }

    /// Layer `k`'s backward pass for `∂L/∂Z` = `dz` (sample-major, `n` rows), after its forward pass, for
    /// a layer whose outputs do not stay feature-major: computes the weight gradient at the kept entries
    /// ([`SparsePlan::kept_update`]) and `∂L/∂X` for the hidden outputs it reads: into the plan's
    /// feature-major buffer where those stay feature-major, else added into `dinputs` (sample-major, the
    /// columns of inputs `hidden_from..`).
    /// `fresh`: `dinputs` holds zeros (no other layer reads these inputs), so the product is written
    /// rather than added (the same bits: each chain then starts from zero either way).
    pub(crate) fn backward(
        &mut self,
        k: usize,
        dz: ArrayView2<f32>,
        inputs: Range<usize>,
        dinputs: Option<ArrayViewMut2<f32>>,
        fresh: bool,
    ) {
        let n = dz.nrows();
        let stride = self.stride;
        to_feature_major(dz, &mut self.out_t, stride);
        let (before, this) = self.layers.split_at_mut(k);
        let (blocks, prev_dz) = self.blocks.for_layer(k);
        let into = match (k.checked_sub(1).filter(|&j| self.fm[j]), dinputs) {
            // A chain's previous layer, kept feature-major: this layer is its only reader.
            (Some(j), _) => InputGrad::FeatureMajor(
                &mut self.dacts_t[inputs.start * stride..inputs.end * stride],
                Previous::of(
                    j,
                    before,
                    (&self.activations, &self.biased, &self.columns),
                    stride,
                    (&self.pre_t, &self.acts_t),
                    &mut self.bias_grads,
                    prev_dz,
                ),
            ),
            (None, Some(target)) => InputGrad::SampleMajor {
                target,
                scratch: &mut self.in_t,
                fresh,
            },
            (None, None) => InputGrad::None,
        };
        let plan = this[0].as_mut().expect("a sparse layer");
        let io = (&self.out_t[..], &self.acts_t[..]);
        products_backward(plan, io, (blocks, false), stride, n, inputs, into);
    }

    /// The whole backward step of layer `k`, whose outputs stay feature-major, for `n` samples: its
    /// `∂L/∂z` (made by the next layer's backward pass in the plan, through [`ToPreactivation`], with the
    /// bias gradient) gives `bias_grad`, and the weight gradient and `∂L/∂X` follow as in
    /// [`SparsePlan::backward`], `∂L/∂X` written into `dinputs` where the inputs are sample-major hidden
    /// outputs.
    pub(crate) fn backward_feature_major(
        &mut self,
        k: usize,
        n: usize,
        bias_grad: Option<&mut Array1<f32>>,
        dinputs: Option<ArrayViewMut2<f32>>,
    ) {
        assert!(self.fm[k], "a layer whose outputs stay feature-major");
        let stride = self.stride;
        assert!(n <= stride, "batch larger than the plan");
        let (inputs, outputs) = self.columns[k].clone();
        let (below, rest) = self.dacts_t.split_at_mut(outputs.start * stride);
        let d = &mut rest[..outputs.len() * stride];
        if let Some(db) = bias_grad {
            assert_eq!(db.len(), outputs.len(), "one bias per unit");
            for (b, &g) in db.iter_mut().zip(&self.bias_grads[outputs]) {
                *b = g;
            }
        }
        let (before, this) = self.layers.split_at_mut(k);
        let (blocks, prev_dz) = self.blocks.for_layer(k);
        let into = match (k.checked_sub(1).filter(|&j| self.fm[j]), dinputs) {
            (Some(j), _) => InputGrad::FeatureMajor(
                &mut below[inputs.start * stride..inputs.end * stride],
                Previous::of(
                    j,
                    before,
                    (&self.activations, &self.biased, &self.columns),
                    stride,
                    (&self.pre_t, &self.acts_t),
                    &mut self.bias_grads,
                    prev_dz,
                ),
            ),
            (None, Some(target)) => InputGrad::SampleMajor {
                target,
                scratch: &mut self.in_t,
                fresh: true,
            },
            (None, None) => InputGrad::None,
        };
        let plan = this[0].as_mut().expect("a sparse layer");
        // This layer's `∂L/∂Z` blocks were written with it, where it takes the tiled product.
        products_backward(
            plan,
            (d, &self.acts_t),
            (blocks, true),
            stride,
            n,
            inputs,
            into,
        );
    }
}

/// A sparse layer's backward products from its feature-major `∂L/∂Z` `dz_t`: the weight gradient at the
/// kept entries (from the feature-major activations `acts_t`, its inputs being columns `inputs`; through
/// `blocks` where it takes the tiled product) and `∂L/∂X` where `into` says.
fn products_backward(
    plan: &mut LayerPlan,
    (dz_t, acts_t): (&[f32], &[f32]),
    ((dz_blocks, x_blocks), dz_ready): ((&mut [f32], &mut [f32]), bool),
    stride: usize,
    n: usize,
    inputs: Range<usize>,
    into: InputGrad<'_, '_>,
) {
    let x_t = &acts_t[inputs.start * stride..inputs.end * stride];
    let LayerPlan {
        w,
        wt,
        grad,
        tiles,
        from_w,
        blocked_from_w,
        ..
    } = plan;
    let w = &*w;
    let mut weight_grad = move || match tiles {
        Some(tiles) => {
            if !dz_ready {
                to_sample_blocks(dz_t, w.rows(), stride, n, dz_blocks);
            }
            to_sample_blocks(x_t, inputs.len(), stride, n, x_blocks);
            tiles.product(dz_blocks, x_blocks, stride, n, grad);
        }
        None => sampled_product(w.indptr(), w.indices(), dz_t, x_t, stride, n, grad),
    };
    let input_grad = move || {
        if matches!(into, InputGrad::None) {
            return;
        }
        // `wt`'s values first. The products of more than a vector of samples read the blocked copy alone,
        // where there is one.
        match blocked_from_w {
            Some(at) if stride > LANES => wt.gather_blocked_values(w.values(), at),
            _ => wt.gather_values(w.values(), from_w),
        }
        input_grad_into(wt, dz_t, stride, n, into);
    };
    // The two products are independent: side by side where this thread may fan out (the weight gradient,
    // the longer, here, where its pieces can still be shared; `∂L/∂X` handed to a sibling). The same
    // numbers either way.
    if crate::linalg::may_split() {
        rayon::join(weight_grad, input_grad);
    } else {
        weight_grad();
        input_grad();
    }
}

/// `∂L/∂X = ∂L/∂Z·W` of a sparse layer from its transposed kept weights `wt` and its feature-major `∂L/∂Z`
/// `dz_t`, where `into` says.
fn input_grad_into(wt: &Csr, dz_t: &[f32], stride: usize, n: usize, into: InputGrad<'_, '_>) {
    let rows = wt.rows();
    match into {
        InputGrad::None => {}
        InputGrad::FeatureMajor(d, previous) => {
            assert_eq!(d.len(), rows * stride, "the hidden inputs' gradient rows");
            let Previous {
                pre,
                bias_grad,
                dz_blocks,
            } = previous;
            let width = usize::from(!bias_grad.is_empty());
            let dz_width = if dz_blocks.is_empty() { 0 } else { stride };
            let dz_blocks = (dz_blocks, dz_width);
            // The previous layer's `∂L/∂z`, bias gradient and `∂L/∂Z` sample blocks per piece, on the
            // thread that computed it.
            let then = |rows: Range<usize>, d: &mut [f32], [b, zb]: [&mut [f32]; 2]| {
                pre.apply(rows.clone(), d, b, stride, n);
                if !zb.is_empty() {
                    to_sample_blocks(d, rows.len(), stride, n, zb);
                }
            };
            let sides = [(bias_grad, width), dz_blocks];
            wt.matmul_then(dz_t, stride, n, d, false, (sides, then));
        }
        InputGrad::SampleMajor {
            mut target,
            scratch,
            fresh,
        } => {
            assert_eq!(target.ncols(), rows, "the hidden inputs' gradient columns");
            let d = &mut scratch[..rows * stride];
            if !fresh {
                to_feature_major(target.view(), d, stride);
            }
            wt.matmul_into(dz_t, stride, n, d, !fresh);
            from_feature_major(scratch, stride, &mut target);
        }
    }
}

/// Values of a transpose below which it runs on the calling thread.
const PARALLEL_TRANSPOSE: usize = 1 << 16;

/// Features per piece of a large transpose shared over rayon's threads.
const TRANSPOSE_PIECE: usize = 64;

/// Writes the `(n, cols)` sample-major `src` feature-major into `dst`: column `c`'s samples at `c · stride`.
/// A large transpose's pieces of [`TRANSPOSE_PIECE`] columns are shared over rayon's threads (each writes
/// its own rows of `dst`).
fn to_feature_major(src: ArrayView2<f32>, dst: &mut [f32], stride: usize) {
    let (n, cols) = src.dim();
    assert!(n <= stride && dst.len() >= cols * stride);
    let mut dst = ArrayViewMut2::from_shape((cols, stride), &mut dst[..cols * stride])
        .expect("cols · stride values");
    let mut dst = dst.slice_mut(s![.., ..n]);
    if n * cols < PARALLEL_TRANSPOSE || !crate::linalg::may_split() {
        return transpose(src, dst);
    }
    use rayon::prelude::*;
    let pieces: Vec<_> = src
        .axis_chunks_iter(Axis(1), TRANSPOSE_PIECE)
        .zip(dst.axis_chunks_iter_mut(Axis(0), TRANSPOSE_PIECE))
        .collect();
    pieces.into_par_iter().for_each(|(s, d)| transpose(s, d));
}

/// Reads feature-major `src` (row `c`'s samples at `c · stride`) into the sample-major `dst`; a large one's
/// pieces of [`TRANSPOSE_PIECE`] columns are shared over rayon's threads.
fn from_feature_major(src: &[f32], stride: usize, dst: &mut ArrayViewMut2<f32>) {
    let (n, cols) = dst.dim();
    assert!(src.len() >= cols * stride && n <= stride);
    let src = ArrayView2::from_shape((cols, stride), &src[..cols * stride])
        .expect("cols · stride values");
    let src = src.slice(s![.., ..n]);
    if n * cols < PARALLEL_TRANSPOSE || !crate::linalg::may_split() {
        return transpose(src, dst.view_mut());
    }
    use rayon::prelude::*;
    let pieces: Vec<_> = src
        .axis_chunks_iter(Axis(0), TRANSPOSE_PIECE)
        .zip(dst.axis_chunks_iter_mut(Axis(1), TRANSPOSE_PIECE))
        .collect();
    pieces.into_par_iter().for_each(|(s, d)| transpose(s, d));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Both transposes, serial and (large enough, called from outside rayon's pool) in pieces over its
    /// threads: every value lands where it belongs, and nothing past a row's samples is written.
    #[test]
    fn the_transposes_move_every_value_and_nothing_else() {
        for (n, cols) in [(5, 3), (100, 37), (128, 700), (97, 1001)] {
            let stride = n + 11;
            let x = Array2::from_shape_fn((n, cols + 4), |(i, j)| (i * 10_000 + j) as f32);
            let x = x.slice(s![.., 2..cols + 2]);
            let mut fm = vec![-1.0f32; cols * stride + 9];
            to_feature_major(x, &mut fm, stride);
            for c in 0..cols {
                for i in 0..stride {
                    let want = if i < n { x[[i, c]] } else { -1.0 };
                    assert_eq!(
                        fm[c * stride + i],
                        want,
                        "({n}, {cols}): feature {c}, sample {i}"
                    );
                }
            }
            assert!(fm[cols * stride..].iter().all(|&v| v == -1.0));
            let mut back = Array2::from_elem((n, cols + 3), -2.0f32);
            from_feature_major(&fm, stride, &mut back.slice_mut(s![.., 1..cols + 1]));
            assert_eq!(back.slice(s![.., 1..cols + 1]), x, "({n}, {cols}) back");
            assert!(back.column(0).iter().all(|&v| v == -2.0));
            assert!(back.slice(s![.., cols + 1..]).iter().all(|&v| v == -2.0));
        }
    }
}
