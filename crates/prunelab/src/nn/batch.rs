//! Batches through a network outside training: inference in blocks of samples, labels from outputs, and the
//! checks of a batch's shape and values.

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis};

use crate::error::{Error, Result};
use crate::nn::{Activation, Topology};

/// Rows per block of the inference pass: a block's activations for the widest layers stay in L2 cache.
pub(super) const INFER_BLOCK: usize = 512;

/// Labels from network outputs: one column is cut at 0.5 (strictly above is class 1), several columns
/// give the index of the largest.
pub(crate) fn labels_from_output(out: ArrayView2<f32>) -> Array1<usize> {
    if out.ncols() == 1 {
        out.column(0).mapv(|p| usize::from(p > 0.5))
    } else {
        out.rows()
            .into_iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 {
                            (i, v)
                        } else {
                            best
                        }
                    })
                    .0
            })
            .collect()
    }
}

/// One dense layer as the inference pass reads it: weights `(outputs, inputs)`, bias and activation.
pub(crate) struct LayerView<'a> {
    /// The weights, one row per output unit.
    pub weight: ArrayView2<'a, f32>,
    /// The same weights packed for one to four samples (`nn::Weights::packed`), where the caller has them.
    pub packed: Option<&'a [f32]>,
    /// The bias, one per output unit.
    pub bias: Option<ArrayView1<'a, f32>>,
    /// The activation.
    pub activation: Activation,
}

/// The dense inference pass of [`Mlp::forward`] over `layers` wired by `topology`, for a checked `x`: blocks
/// of [`INFER_BLOCK`] rows, each carried through every layer while its activations sit in cache, blocks in
/// parallel on rayon's threads. A sparse network whose layers all take the dense product runs it too.
pub(crate) fn dense_inference(
    n_inputs: usize,
    topology: Topology,
    layers: &[LayerView],
    x: ArrayView2<f32>,
) -> Array2<f32> {
    let n = x.nrows();
    let width = n_inputs + layers.iter().map(|l| l.weight.nrows()).sum::<usize>();
    let last = layers.last().expect("a network has layers").weight.nrows();
    let mut out = Array2::zeros((n, last));
    crate::linalg::row_blocks(
        x,
        out.view_mut(),
        INFER_BLOCK,
        || Array2::zeros((n.min(INFER_BLOCK), width)),
        |acts, xb, o| dense_block(n_inputs, topology, layers, acts, xb, o),
    );
    out
}

/// The inference pass for one block of rows: `acts` is `(≥ rows, total width)`; each layer's product goes
/// straight into its columns and bias and activation are applied there in place. Writes the output into
/// `out`.
fn dense_block(
    n_inputs: usize,
    topology: Topology,
    layers: &[LayerView],
    acts: &mut Array2<f32>,
    x: ArrayView2<f32>,
    mut out: ArrayViewMut2<f32>,
) {
    let n = x.nrows();
    // A chain's first layer reads `x` where it is; only densely connected layers need it beside the hidden
    // outputs.
    let chain = topology == Topology::Chain;
    if !chain {
        acts.slice_mut(s![..n, ..n_inputs]).assign(&x);
    }
    let mut start = n_inputs;
    let mut prev = 0..n_inputs;
    for (k, layer) in layers.iter().enumerate() {
        let outputs = start..start + layer.weight.nrows();
        let (left, mut right) = acts.view_mut().split_at(Axis(1), outputs.start);
        let input = match (chain, k) {
            (true, 0) => x.view(),
            (true, _) => left.slice(s![..n, prev.clone()]),
            (false, _) => left.slice(s![..n, ..outputs.start]),
        };
        let mut z = right.slice_mut(s![..n, ..outputs.len()]);
        match layer.packed {
            Some(packed) if n <= crate::kernels::dense::GEMV_ROWS => {
                crate::linalg::matmul_packed(input, packed, outputs.len(), &mut z)
            }
            _ => crate::linalg::matmul(input, layer.weight.t(), &mut z, false),
        }
        layer.activation.forward(z, layer.bias, None);
        start = outputs.end;
        prev = outputs;
    }
    out.assign(&acts.slice(s![..n, prev]));
}

/// Checks that `x` is a non-empty, finite batch with `n_inputs` columns.
pub(crate) fn check_batch(x: &ArrayView2<f32>, n_inputs: usize) -> Result<()> {
    check_shape(x, n_inputs)?;
    check_finite(x)
}

/// Checks that `x` is a non-empty batch with `n_inputs` columns (its values unread).
pub(crate) fn check_shape(x: &ArrayView2<f32>, n_inputs: usize) -> Result<()> {
    if x.nrows() == 0 {
        return Err(Error::Empty { what: "input" });
    }
    if x.ncols() != n_inputs {
        return Err(Error::shape(
            "network input",
            format!("{n_inputs} columns"),
            format!("{} columns", x.ncols()),
        ));
    }
    Ok(())
}

/// Checks that every value of the batch `x` is finite.
pub(crate) fn check_finite(x: &ArrayView2<f32>) -> Result<()> {
    // The bit-pattern check vectorises; a view with gaps between its rows falls back to the iterator.
    let finite = match x.as_slice_memory_order() {
        Some(v) => crate::linalg::all_finite(v),
        None => x.iter().all(|v| v.is_finite()),
    };
    if finite {
        Ok(())
    } else {
        Err(Error::NonFinite { what: "input" })
    }
}
