//! Sparse inference: layers sparse enough for the batch at hand run a CSR kernel, so pruned weights cost
//! nothing; the others stay dense.

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, AsArray, Axis, Ix2};
use serde::{Deserialize, Serialize};
use std::ops::Range;

use super::batch::{check_finite, check_shape, LayerView};
use super::{Activation, Dense, Topology};
use crate::error::{Error, Result};
use crate::kernels::sparse::{Entries, FewEntries, Operands, Sliced};
use crate::kernels::transpose::transpose;
use crate::kernels::AlignedBuf;

/// Samples per block of [`SparseMlp::forward`]: a block's inputs and outputs of a layer stay in L2 cache.
const SAMPLE_BLOCK: usize = 128;

/// f32 lanes of a 64-byte line (an AVX-512 vector): the activation buffers' rows start on such a line and hold
/// a multiple of this many samples.
const LANES: usize = 16;

/// A weight matrix in compressed sparse row form (rows are units, columns inputs), checked when built: the
/// kernels read it without bounds checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CsrParts")]
pub struct Csr {
    rows: usize,
    cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    /// The same entries by column block, as the vector kernels stream them (rebuilt, not stored).
    #[serde(skip)]
    blocked: Option<Blocked>,
    /// The same entries in slices of eight rows, as the per-sample vector kernel reads them (rebuilt, not
    /// stored).
    #[serde(skip)]
    sliced: Option<Sliced>,
    /// For a matrix made for training ([`Csr::for_vectors`]): for each entry of `blocked`, its index among
    /// the plain entries, so that new values reach the blocked copy in one pass.
    #[serde(skip)]
    blocked_from: Option<Vec<u32>>,
    /// Whether only the column-blocked copy holds the current values ([`Csr::gather_blocked_values`]);
    /// the plain values are not read until [`Csr::gather_values`] writes them again.
    #[serde(skip)]
    plain_stale: bool,
}

/// The CSR parts of `weight`'s entries kept by `mask` (all of them without one), row by row.
fn masked_parts(
    weight: ArrayView2<f32>,
    mask: Option<ArrayView2<bool>>,
) -> (Vec<usize>, Vec<u32>, Vec<f32>) {
    let (rows, cols) = weight.dim();
    if cols == 0 {
        return (vec![0; rows + 1], Vec::new(), Vec::new());
    }
    let Some(mask) = mask else {
        let indptr = (0..=rows).map(|r| r * cols).collect();
        let indices = (0..rows).flat_map(|_| 0..cols as u32).collect();
        return (indptr, indices, weight.iter().copied().collect());
    };
    // Plain slices, row after row (a copy only for a view that is not in that order).
    let (weight, mask) = (weight.as_standard_layout(), mask.as_standard_layout());
    let (weight, mask) = (
        weight.as_slice().expect("standard layout"),
        mask.as_slice().expect("standard layout"),
    );
    // Mask entries become the bits of a 64-bit word, eight at a time, and only the set bits are visited: the
    // branches follow the kept entries, not each mask entry.
    let mut indptr = Vec::with_capacity(rows + 1);
    indptr.push(0);
    // The kept count first (a byte sum), so that the entries are written without a reallocation.
    let kept = mask.iter().map(|&k| usize::from(k)).sum();
    let (mut indices, mut values) = (Vec::with_capacity(kept), Vec::with_capacity(kept));
    for (w, m) in weight.chunks_exact(cols).zip(mask.chunks_exact(cols)) {
        // Sixty-four entries per bitmask: one loop exit (a mispredicted branch) per 64, not per 8.
        let whole = cols - cols % 64;
        for (at, many) in m[..whole].chunks_exact(64).enumerate() {
            let mut bits = many
                .chunks_exact(8)
                .enumerate()
                .fold(0u64, |b, (i, eight)| {
                    b | u64::from(mask_bits(eight.try_into().expect("eight entries"))) << (8 * i)
                });
            while bits != 0 {
                let c = 64 * at + bits.trailing_zeros() as usize;
                indices.push(c as u32);
                values.push(w[c]);
                bits &= bits - 1;
            }
        }
        for c in (whole..cols).filter(|&c| m[c]) {
            indices.push(c as u32);
            values.push(w[c]);
        }
        indptr.push(indices.len());
    }
    (indptr, indices, values)
}

/// `out[t] = src[from[t]]` for every `t`: on rayon's threads in pieces where it is long.
fn fill_from(out: &mut [f32], src: &[f32], from: &[u32]) {
    /// Entries per parallel piece; fewer are copied on the calling thread.
    const PIECE: usize = 1 << 14;
    let copy = |(out, from): (&mut [f32], &[u32])| {
        for (v, &e) in out.iter_mut().zip(from) {
            *v = src[e as usize];
        }
    };
    if out.len() < 2 * PIECE || !crate::linalg::may_split() {
        copy((out, from));
    } else {
        use rayon::prelude::*;
        out.par_chunks_mut(PIECE)
            .zip(from.par_chunks(PIECE))
            .for_each(copy);
    }
}

/// Bit `i` set where `mask[i]` is: each `bool` is one byte, 0 or 1, so one multiplication gathers the eight
/// low bits into the top byte (the partial products of the other bytes never carry into it).
#[inline(always)]
fn mask_bits(mask: &[bool; 8]) -> u32 {
    let bytes = u64::from_le_bytes(mask.map(u8::from));
    (bytes.wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// Up to this many samples, the kernels work per sample (eight rows' scalar chains side by side) instead of
/// computing a vector of samples of which most would be padding.
const GATHER_SAMPLES: usize = 3;

/// Whether `n` samples take the per-sample kernel, which reads the activations packed (row stride `n`, so
/// one sample's inputs are contiguous and sit in L1) instead of padded to a vector. The same on every CPU
/// (the layout changes no result, but keeping it fixed keeps the buffers' shapes fixed too).
fn gathers(n: usize) -> bool {
    n <= GATHER_SAMPLES
}

/// The activation buffer's row stride for `n` samples: packed for the per-sample kernels, else an odd number
/// of 64-byte lines. An even number (a block of 128 samples is 8 lines) puts the rows a kernel reads at once
/// (a column block's inputs for one tile) into a fraction of L1's sets, where they evict each other.
fn stride_for(n: usize) -> usize {
    if gathers(n) {
        return n;
    }
    let lines = n.div_ceil(LANES);
    (lines | 1) * LANES
}

/// Columns per block of [`Blocked`]: a tile of 32 samples of that many inputs is 32 KB, an L1 data cache, so
/// the inputs a block's entries read stay near while every row of the block is summed, and each row's partial
/// sum is stored only once per 256 inputs. (Measured on the benchmark network: 256 beat 64, 128 and 512.)
const COL_BLOCK: usize = 256;

/// Columns per block of [`Blocked`] in a training CSR matrix ([`Csr::for_vectors`]) that has one: a
/// training batch's tile is the whole batch (up to 112 samples, one tile per row; see the kernels'
/// `csr_tiles`), so that 64 inputs of it, 28 KB, fit an L1 data cache.
const TRAIN_COL_BLOCK: usize = 64;

/// The density from which a training CSR matrix is column-blocked; sparser ones are not (a row has too few
/// entries per block to pay for parking its sums between blocks). Measured on the benchmark network, batch
/// 100, AVX-512 on AMD Zen 4, the product's time against the sampled product's (by rows) in the same run: at 10%
/// density, 64-column blocks 0.84 of it, 256-column blocks 0.98, none 1.03; at 5%, 1.12, 0.98 and 0.93; at
/// 2%, 1.73, 1.10 and 0.90.
const TRAIN_BLOCKED_DENSITY: f64 = 0.075;

/// A CSR matrix's entries regrouped by blocks of columns ([`COL_BLOCK`], or [`TRAIN_COL_BLOCK`] for
/// training): block `b`'s entries of row `r` are
/// `ptr[b * rows + r]..ptr[b * rows + r + 1]`, block after block, each row's in column order.
#[derive(Debug, Clone, PartialEq)]
struct Blocked {
    blocks: usize,
    ptr: Vec<u32>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl Blocked {
    /// The blocked layout of a checked CSR matrix and, where `with_from`, the plain entry each blocked one
    /// comes from; `None` past 2^32 entries (the plain kernel runs then).
    fn new(
        rows: usize,
        cols: usize,
        indptr: &[usize],
        indices: &[u32],
        values: &[f32],
        col_block: usize,
        with_from: bool,
    ) -> Option<(Blocked, Option<Vec<u32>>)> {
        let nnz = values.len();
        if nnz >= u32::MAX as usize {
            return None;
        }
        let blocks = cols.div_ceil(col_block).max(1);
        // A row's entries are in column order, so those in one block are a run of them: row `r`'s run in
        // block `b` starts at `starts[r * (blocks + 1) + b]` (found by bisection) and ends where the next
        // block's starts.
        let mut starts = Vec::with_capacity(rows * (blocks + 1));
        for r in 0..rows {
            let row = indptr[r]..indptr[r + 1];
            let cols_of = &indices[row.clone()];
            starts.extend((0..blocks).map(|b| {
                let first = (b * col_block) as u64;
                row.start + cols_of.partition_point(|&c| (c as u64) < first)
            }));
            starts.push(row.end);
        }
        let mut ptr = Vec::with_capacity(blocks * rows + 1);
        let (mut bi, mut bv) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        let mut from = Vec::with_capacity(if with_from { nnz } else { 0 });
        ptr.push(0);
        for b in 0..blocks {
            for r in 0..rows {
                let run = starts[r * (blocks + 1) + b]..starts[r * (blocks + 1) + b + 1];
                // (Element by element: runs are a few entries, shorter than a library copy pays for.)
                for e in run {
                    bi.push(indices[e]);
                    bv.push(values[e]);
                    if with_from {
                        from.push(e as u32);
                    }
                }
                ptr.push(bi.len() as u32);
            }
        }
        let blocked = Blocked {
            blocks,
            ptr,
            indices: bi,
            values: bv,
        };
        Some((blocked, with_from.then_some(from)))
    }
}

/// A [`Csr`] as stored, checked on the way in.
#[derive(Deserialize)]
struct CsrParts {
    rows: usize,
    cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl TryFrom<CsrParts> for Csr {
    type Error = Error;
    /// As [`Csr::new`], and the claimed shape must be backed by what was read, by the model files' rule
    /// ([`FREE_WEIGHTS`](super::FREE_WEIGHTS) plus [`WEIGHTS_PER_VALUE`](super::WEIGHTS_PER_VALUE) per stored
    /// offset or entry): a few bytes claiming a billion-column matrix are an error, not an allocation.
    fn try_from(p: CsrParts) -> Result<Csr> {
        let claimed = p.rows.checked_mul(p.cols);
        let held = p.indptr.len().saturating_add(p.values.len());
        let allowed =
            super::FREE_WEIGHTS.saturating_add(held.saturating_mul(super::WEIGHTS_PER_VALUE));
        if claimed.is_none_or(|c| c > allowed) {
            return Err(Error::param(
                "csr",
                format!(
                    "a {} x {} matrix is more than the {held} stored offsets and entries can back \
                     (at most {allowed} weights)",
                    p.rows, p.cols
                ),
            ));
        }
        Csr::new(p.rows, p.cols, p.indptr, p.indices, p.values)
    }
}

impl Csr {
    /// A CSR matrix from its parts: row `r`'s entries are `indptr[r]..indptr[r + 1]`, at columns `indices`
    /// with values `values`. Fails unless `indptr` has `rows + 1` non-decreasing offsets from 0 to the number
    /// of entries and every column index is below `cols` (at most 2^32), or with [`Error::TooLarge`] when the
    /// column-blocked copy the kernels stream (four bytes per row and block of 256 columns) would not fit in
    /// memory.
    pub fn new(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f32>,
    ) -> Result<Csr> {
        let bad = |reason: String| Err(Error::param("csr", reason));
        if cols > u32::MAX as usize {
            return bad(format!("{cols} columns; at most 2^32"));
        }
        if rows.checked_add(1) != Some(indptr.len()) {
            return bad(format!("{} row offsets for {rows} rows", indptr.len()));
        }
        if indices.len() != values.len() {
            return bad(format!(
                "{} column indices for {} values",
                indices.len(),
                values.len()
            ));
        }
        if indptr[0] != 0 || indptr[rows] != values.len() || indptr.windows(2).any(|w| w[0] > w[1])
        {
            return bad("row offsets must rise from 0 to the number of entries".into());
        }
        if let Some(&c) = indices.iter().find(|&&c| c as usize >= cols) {
            return bad(format!("column index {c} in a matrix of {cols} columns"));
        }
        if (0..rows).any(|r| {
            indices[indptr[r]..indptr[r + 1]]
                .windows(2)
                .any(|w| w[0] >= w[1])
        }) {
            return bad("each row's column indices must rise".into());
        }
        crate::error::check_finite(&values, "csr values")?;
        // The blocked copy's row pointers, sized by the shape rather than the entries.
        let pointers = cols
            .div_ceil(COL_BLOCK)
            .max(1)
            .checked_mul(rows)
            .and_then(|n| n.checked_add(1));
        crate::mem::ensure(
            "a CSR matrix's column blocks",
            pointers.map_or(u64::MAX, |n| crate::mem::bytes(n, 4)),
        )?;
        Ok(Csr::from_checked_parts(
            rows, cols, indptr, indices, values, true,
        ))
    }

    /// The kept entries of `weight` (where `mask` is true, or every entry when there is no mask).
    pub fn from_masked(weight: ArrayView2<f32>, mask: Option<ArrayView2<bool>>) -> Self {
        let (rows, cols) = weight.dim();
        let (indptr, indices, values) = masked_parts(weight, mask);
        Csr::from_checked_parts(rows, cols, indptr, indices, values, true)
    }

    /// [`Csr::from_masked`] as training uses it ([`Csr::for_vectors`]), without building the per-sample
    /// layout first.
    pub(super) fn from_masked_for_vectors(weight: ArrayView2<f32>, mask: ArrayView2<bool>) -> Self {
        let (rows, cols) = weight.dim();
        let (indptr, indices, values) = masked_parts(weight, Some(mask));
        Csr::from_checked_parts(rows, cols, indptr, indices, values, false).for_vectors()
    }

    /// A matrix from parts that hold its invariants, with the kernels' column-blocked form and, where
    /// `per_sample`, the sliced one (else it is made for training, with its blocks of columns).
    fn from_checked_parts(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f32>,
        per_sample: bool,
    ) -> Csr {
        let density = values.len() as f64 / (rows * cols).max(1) as f64;
        // A training matrix keeps where each blocked entry comes from, to refresh the blocked values.
        let (blocked, blocked_from) = match per_sample {
            true => (
                Blocked::new(rows, cols, &indptr, &indices, &values, COL_BLOCK, false).map(|b| b.0),
                None,
            ),
            false if density >= TRAIN_BLOCKED_DENSITY => {
                let made = Blocked::new(
                    rows,
                    cols,
                    &indptr,
                    &indices,
                    &values,
                    TRAIN_COL_BLOCK,
                    true,
                );
                made.map_or((None, None), |(b, from)| (Some(b), from))
            }
            false => (None, None),
        };
        let sliced = per_sample
            .then(|| Sliced::new(rows, &indptr, &indices, &values))
            .flatten();
        Csr {
            rows,
            cols,
            indptr,
            indices,
            values,
            blocked,
            sliced,
            blocked_from,
            plain_stale: false,
        }
    }

    /// Number of rows (units).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (inputs).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row offsets: row `r`'s entries are `indptr()[r]..indptr()[r + 1]`.
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column of each entry.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Value of each entry.
    pub fn values(&self) -> &[f32] {
        assert!(
            !self.plain_stale,
            "a matrix whose blocked copy alone is current"
        );
        &self.values
    }

    /// The transpose of columns `from..` (row `i` of the result is column `from + i`, its entries in row
    /// order), and for each of its entries the index of the same entry here. A counting pass over the
    /// entries, with no look at the pruned ones.
    pub(super) fn transposed_from(&self, from: usize) -> (Csr, Vec<usize>) {
        let rows = self.cols.saturating_sub(from);
        let mut indptr = vec![0usize; rows + 1];
        for &c in &self.indices {
            if let Some(i) = (c as usize).checked_sub(from) {
                indptr[i + 1] += 1;
            }
        }
        for i in 0..rows {
            indptr[i + 1] += indptr[i];
        }
        let nnz = indptr[rows];
        let (mut indices, mut values, mut at) =
            (vec![0u32; nnz], vec![0.0f32; nnz], vec![0usize; nnz]);
        let mut next = indptr[..rows].to_vec();
        for r in 0..self.rows {
            for e in self.indptr[r]..self.indptr[r + 1] {
                if let Some(i) = (self.indices[e] as usize).checked_sub(from) {
                    let t = next[i];
                    (indices[t], values[t], at[t]) = (r as u32, self.values[e], e);
                    next[i] += 1;
                }
            }
        }
        (
            Csr::from_checked_parts(rows, self.rows, indptr, indices, values, false),
            at,
        )
    }

    /// The matrix as training uses it: whole vectors of samples only, so without the per-sample layout
    /// (which [`Csr::gather_values`] would otherwise have to keep in step). Only for a matrix made for
    /// training, which knows where each of its blocked entries comes from.
    pub(super) fn for_vectors(mut self) -> Self {
        self.sliced = None;
        assert!(
            self.blocked.is_none() || self.blocked_from.is_some(),
            "for_vectors: a matrix made for training"
        );
        self
    }

    /// Sets every stored value from `src`: entry `e` (in row and column order) takes `src[at[e]]`, and the
    /// column-blocked copy follows. Made by [`Csr::for_vectors`] (no per-sample layout to keep in step).
    pub(super) fn gather_values(&mut self, src: &[f32], at: &[usize]) {
        assert!(
            self.sliced.is_none() && at.len() == self.values.len(),
            "gather_values: a matrix made for vectors, one position per entry"
        );
        for (v, &i) in self.values.iter_mut().zip(at) {
            *v = src[i];
        }
        self.plain_stale = false;
        self.refresh_blocked();
    }

    /// Sets the values of the column-blocked copy alone: its entry `t` takes `src[at[t]]`. The plain values
    /// go stale until [`Csr::gather_values`]: only for a matrix whose products read the blocked copy (a
    /// training matrix with one, multiplying more than [`LANES`] samples at a time).
    pub(super) fn gather_blocked_values(&mut self, src: &[f32], at: &[u32]) {
        let b = self.blocked.as_mut().expect("a matrix with a blocked copy");
        assert_eq!(at.len(), b.values.len(), "one position per blocked entry");
        fill_from(&mut b.values, src, at);
        self.plain_stale = true;
    }

    /// The stored values, in row and column order, to be written; [`Csr::refresh_blocked`] must follow
    /// before the matrix is read. Made by [`Csr::for_vectors`] (no per-sample layout to keep in step).
    pub(super) fn values_mut(&mut self) -> &mut [f32] {
        assert!(
            self.sliced.is_none(),
            "values_mut: a matrix made for vectors"
        );
        // (The caller writes every value.)
        self.plain_stale = false;
        &mut self.values
    }

    /// Brings the column-blocked copy in step with the stored values.
    pub(super) fn refresh_blocked(&mut self) {
        assert!(!self.plain_stale, "refresh_blocked: stale plain values");
        if let (Some(b), Some(from)) = (&mut self.blocked, &self.blocked_from) {
            fill_from(&mut b.values, &self.values, from);
        }
    }

    /// Where each entry of the column-blocked copy comes from among the plain entries, for a training matrix
    /// that has one.
    pub(super) fn blocked_from(&self) -> Option<&[u32]> {
        self.blocked_from.as_deref()
    }

    /// What the per-sample kernels read.
    fn few_entries(&self) -> FewEntries<'_> {
        FewEntries {
            indptr: &self.indptr,
            indices: &self.indices,
            values: &self.values,
            sliced: self.sliced.as_ref(),
        }
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// `out = W · x` for feature-major `x`: input `c`'s samples at `xs[c * stride..][..n]`, output row `r`'s at
    /// `out[r * stride..][..n]`; `stride` is [`stride_for`]`(n)` or a multiple of [`LANES`] (lanes from `n` to
    /// `stride` are padding: computed or left as they are, never read as results). Large products split their
    /// rows over rayon's threads.
    pub(super) fn matmul_into(
        &self,
        xs: &[f32],
        stride: usize,
        n: usize,
        out: &mut [f32],
        accumulate: bool,
    ) {
        self.matmul_then(
            xs,
            stride,
            n,
            out,
            accumulate,
            ([], |_, _, _: [&mut [f32]; 0]| {}),
        );
    }

    /// [`Csr::matmul_into`], then, with `(sides, then)`, `then(rows, out_rows, side_rows)` for each piece of
    /// rows as soon as it is computed, on the thread that computed it: `out_rows` are those rows of `out`
    /// and `side_rows[i]` those of side `i`, given as `(buffer, width)`: row `r` at `r · width` (a width
    /// of 0 for none). Pieces start at multiples of 16 rows, and the last piece takes the rest of each
    /// side, so that a side may be a layout by blocks of 16 rows, padded
    /// ([`to_sample_blocks`](crate::kernels::sampled_tiles::to_sample_blocks)). An element-wise pass over
    /// the outputs (bias and activation, or an activation's derivative and the bias gradient) so runs split
    /// as the product does, with no parallel region of its own.
    pub(super) fn matmul_then<const N: usize, F>(
        &self,
        xs: &[f32],
        stride: usize,
        n: usize,
        out: &mut [f32],
        accumulate: bool,
        (sides, then): ([(&mut [f32], usize); N], F),
    ) where
        F: Fn(Range<usize>, &mut [f32], [&mut [f32]; N]) + Sync,
    {
        use rayon::prelude::*;
        assert!(
            stride.is_multiple_of(LANES) || (stride == n && gathers(n)),
            "stride {stride} is neither a multiple of {LANES} nor {n} packed samples"
        );
        assert!(xs.len() >= self.cols * stride, "input rows missing");
        assert!(out.len() >= self.rows * stride, "output rows missing");
        assert!(
            sides.iter().all(|(s, w)| s.len() >= self.rows * w),
            "side rows: one per output row"
        );
        let out = &mut out[..self.rows * stride];
        let threads = rayon::current_num_threads();
        if !crate::linalg::may_split() || self.nnz() * stride < 1 << 21 || self.rows < 2 * threads {
            self.rows_into(xs, stride, n, 0..self.rows, out, accumulate);
            return then(0..self.rows, out, sides.map(|(s, _)| s));
        }
        let chunk = self.rows.div_ceil(4 * threads).next_multiple_of(16);
        let bounds: Vec<Range<usize>> = (0..self.rows)
            .step_by(chunk)
            .map(|r| r..(r + chunk).min(self.rows))
            .collect();
        let mut side_pieces = sides.map(|(side, width)| {
            let mut rest = side;
            let mut pieces = Vec::with_capacity(bounds.len());
            for (i, rows) in bounds.iter().enumerate() {
                let at = if i + 1 == bounds.len() {
                    rest.len()
                } else {
                    rows.len() * width
                };
                let (piece, tail) = std::mem::take(&mut rest).split_at_mut(at);
                pieces.push(piece);
                rest = tail;
            }
            pieces.into_iter()
        });
        let pieces: Vec<_> = bounds
            .into_iter()
            .zip(out.chunks_mut(chunk * stride))
            .map(|(rows, o)| {
                let s = side_pieces
                    .each_mut()
                    .map(|p| p.next().expect("a piece of each side"));
                (rows, o, s)
            })
            .collect();
        pieces.into_par_iter().for_each(|(rows, o, s)| {
            self.rows_into(xs, stride, n, rows.clone(), o, accumulate);
            then(rows, o, s);
        });
    }

    /// Rows `rows` of the product into `out` (those rows only), with the kernels of the family in force
    /// ([`crate::kernels`]): for a few packed samples, per sample over the plain CSR; otherwise in vectors
    /// of samples, column block by column block (the plain CSR is one block). Each output is one FMA chain
    /// over its row's entries in column order, whichever kernel runs.
    fn rows_into(
        &self,
        xs: &[f32],
        stride: usize,
        n: usize,
        rows: Range<usize>,
        out: &mut [f32],
        accumulate: bool,
    ) {
        assert!(
            rows.end <= self.rows
                && out.len() >= rows.len() * stride
                && xs.len() >= self.cols * stride
                && n <= stride,
            "CSR product operands"
        );
        let io = Operands {
            xs: xs.as_ptr(),
            out: out.as_mut_ptr(),
            stride,
            accumulate,
        };
        if stride == n && gathers(n) {
            assert!(!accumulate, "the per-sample kernels start from zero");
            assert!(
                !self.plain_stale,
                "a matrix whose blocked copy alone is current"
            );
            // SAFETY: the matrix was checked when built (`indptr`'s `rows + 1` offsets rise within the
            // entries, indices below `cols`; `sliced`, if any, made from it by `Sliced::new`); asserted just
            // now: `rows.end ≤ self.rows`, `n ≤ stride`, `xs` holds `cols · stride` floats and `out`
            // `rows.len() · stride`, and `out` is a `&mut` slice, so it aliases nothing of `xs`.
            return unsafe { crate::kernels::csr_few(self.few_entries(), io, n, rows) };
        }
        // Samples computed: a whole number of 16-lane tiles, not the padding a stride may have beyond.
        let lanes = n.next_multiple_of(LANES).min(stride);
        assert!(
            stride.is_multiple_of(LANES) && lanes.is_multiple_of(LANES),
            "stride {stride} is not a multiple of {LANES}"
        );
        // SAFETY: the blocked layout (or the plain CSR, one block) was checked when built (`blocks · rows + 1`
        // offsets rising within the entries, indices below `cols`); asserted above: `rows.end ≤ self.rows`,
        // `xs` holds `cols · stride` floats and `out` `rows.len() · stride` (a `&mut` slice, aliasing
        // nothing of `xs`), and `lanes` is a multiple of 16 and at most `stride`.
        unsafe {
            match &self.blocked {
                Some(b) if stride > LANES => crate::kernels::csr_tiles(
                    Entries {
                        ptr: &b.ptr,
                        indices: &b.indices,
                        values: &b.values,
                        blocks: b.blocks,
                        rows: self.rows,
                    },
                    io,
                    lanes,
                    rows,
                ),
                _ => crate::kernels::csr_tiles(
                    Entries {
                        ptr: &self.indptr,
                        indices: &self.indices,
                        values: self.values(),
                        blocks: 1,
                        rows: self.rows,
                    },
                    io,
                    lanes,
                    rows,
                ),
            }
        }
    }
}

/// How one layer of a [`SparseMlp`] multiplies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Kernel {
    /// A dense matrix product (pruned entries are zeros).
    Dense(Array2<f32>),
    /// A CSR product over the kept entries only.
    Sparse(Csr),
    /// Both forms, for a layer whose faster kernel depends on the batch: blocks of up to three samples take
    /// the CSR product when `sparse_for_few` and the dense one otherwise; larger blocks take the other.
    BySamples {
        /// The dense weights (pruned entries are zeros).
        dense: Array2<f32>,
        /// The kept entries.
        sparse: Csr,
        /// Whether blocks of up to three samples take the CSR product (and larger ones the dense product).
        sparse_for_few: bool,
    },
}

/// The product a block of samples takes.
enum Product<'a> {
    Dense(&'a Array2<f32>),
    Sparse(&'a Csr),
}

impl Kernel {
    /// The layer's outputs.
    fn rows(&self) -> usize {
        match self {
            Kernel::Dense(w) | Kernel::BySamples { dense: w, .. } => w.nrows(),
            Kernel::Sparse(c) => c.rows(),
        }
    }

    /// The product for a block of `n` samples.
    fn for_samples(&self, n: usize) -> Product<'_> {
        match self {
            Kernel::Dense(w) => Product::Dense(w),
            Kernel::Sparse(c) => Product::Sparse(c),
            Kernel::BySamples {
                dense,
                sparse,
                sparse_for_few,
            } => {
                if *sparse_for_few == (n <= GATHER_SAMPLES) {
                    Product::Sparse(sparse)
                } else {
                    Product::Dense(dense)
                }
            }
        }
    }
}

/// The density below which a layer's CSR product beats its dense one for up to three samples (the
/// per-sample kernels against the dense matrix-vector product, which streams the weights at memory speed).
/// Measured on the 784-1000-1000-500-200-10 network, one thread, AMD EPYC with AVX2, by
/// `cargo run --release -p prunelab --example sparse_crossover` (which prints the figures for the machine it
/// runs on): at one sample, 10% density runs in 0.65x the dense time, 20% in 0.64x, 30% in 1.22x.
/// [`Mlp::to_sparse`](super::Mlp::to_sparse) uses it;
/// [`Mlp::to_sparse_with_crossover`](super::Mlp::to_sparse_with_crossover) takes another.
pub const CROSSOVER_FEW: f64 = 0.2;

/// The density below which a layer's CSR product beats its dense one for blocks of more than three
/// samples (the vector kernels against the dense matrix product), measured as [`CROSSOVER_FEW`] is: at 30%
/// density every batch from 4 to 1024 ran in 0.35-0.75x the dense time; at 40%, 4 to 16 samples took up to
/// 1.8x (from 32 samples on, the CSR product still wins at 50%).
pub const CROSSOVER_MANY: f64 = 0.3;

/// One layer of a [`SparseMlp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparseLayer {
    /// The multiplication kernel.
    pub kernel: Kernel,
    /// The bias.
    pub bias: Option<Array1<f32>>,
    /// The activation.
    pub activation: Activation,
    /// Fraction of weights kept.
    pub density: f64,
    /// The dense form packed for one to four samples, made on first use (not stored).
    #[serde(skip)]
    pub(crate) packed: crate::nn::PackCache,
}

/// An inference-only network whose sparse layers skip pruned weights.
///
/// Built from a (masked or compacted) [`Mlp`](super::Mlp): layers whose density is below the threshold use a CSR
/// kernel, the others a dense product ([`Mlp::to_sparse`](super::Mlp::to_sparse) and
/// [`Mlp::to_sparse_with_crossover`](super::Mlp::to_sparse_with_crossover) choose per
/// batch size). Outputs equal the masked network's to float rounding.
///
/// ```
/// use prunelab::prelude::*;
/// use ndarray::array;
///
/// let mut model = Mlp::config(&[4, 32, 32, 3]).seed(2).build()?;
/// WeightPruning::magnitude(0.9).apply(&mut model)?;
/// let sparse = model.to_sparse_with_crossover(0.5, 0.5)?;
/// assert_eq!(sparse.sparse_layers(), 3);
/// let x = array![[0.1, 0.2, -0.3, 0.4]];
/// let d = &model.forward(&x)? - &sparse.forward(&x)?;
/// assert!(d.iter().all(|v| v.abs() < 1e-5));
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SparseMlpParts")]
pub struct SparseMlp {
    n_inputs: usize,
    topology: Topology,
    layers: Vec<SparseLayer>,
}

/// A [`SparseMlp`] as stored, checked on the way in: the kernels trust the shapes.
#[derive(Deserialize)]
struct SparseMlpParts {
    n_inputs: usize,
    topology: Topology,
    layers: Vec<SparseLayer>,
}

impl TryFrom<SparseMlpParts> for SparseMlp {
    type Error = Error;
    fn try_from(p: SparseMlpParts) -> Result<SparseMlp> {
        let net = SparseMlp {
            n_inputs: p.n_inputs,
            topology: p.topology,
            layers: p.layers,
        };
        net.check()?;
        Ok(net)
    }
}

impl SparseLayer {
    /// `l` in the form its density calls for: the CSR product below density `few` for blocks of up to
    /// three samples and below `many` for larger blocks (a layer between the two keeps both forms).
    pub(super) fn from_dense(l: &Dense, few: f64, many: f64) -> SparseLayer {
        let density = l.n_remaining() as f64 / l.n_weights() as f64;
        let csr = || Csr::from_masked(l.weight(), l.mask());
        let dense = || {
            let mut w = l.weight().to_owned();
            if let Some(mask) = l.mask() {
                ndarray::Zip::from(&mut w)
                    .and(&mask)
                    .for_each(|w, &keep| *w = if keep { *w } else { 0.0 });
            }
            w
        };
        let kernel = match (density < few, density < many) {
            (true, true) => Kernel::Sparse(csr()),
            (false, false) => Kernel::Dense(dense()),
            (sparse_for_few, _) => Kernel::BySamples {
                dense: dense(),
                sparse: csr(),
                sparse_for_few,
            },
        };
        SparseLayer {
            packed: Default::default(),
            kernel,
            bias: l.bias().map(|b| b.to_owned()),
            activation: l.activation(),
            density,
        }
    }
}

impl SparseMlp {
    /// A network of `layers` over `n_inputs` inputs wired by `topology`, as [`Mlp::to_sparse`](super::Mlp::to_sparse) builds it.
    pub(super) fn from_layers(
        n_inputs: usize,
        topology: Topology,
        layers: Vec<SparseLayer>,
    ) -> SparseMlp {
        SparseMlp {
            n_inputs,
            topology,
            layers,
        }
    }

    /// Checks what a stored network could get wrong: at least one layer, each layer's kernel as wide as its
    /// inputs (by the topology), both forms of a switching layer of one shape, biases as long as the layer,
    /// finite weights and biases, densities in `[0, 1]`.
    fn check(&self) -> Result<()> {
        if self.n_inputs == 0 || self.layers.is_empty() {
            return Err(Error::shape(
                "sparse network",
                "inputs and at least one layer",
                format!("{} inputs, {} layers", self.n_inputs, self.layers.len()),
            ));
        }
        let mut inputs = self.n_inputs;
        for layer in &self.layers {
            let (rows, cols) = match &layer.kernel {
                Kernel::Dense(w) => w.dim(),
                Kernel::Sparse(c) => (c.rows(), c.cols()),
                Kernel::BySamples { dense, sparse, .. } => {
                    if dense.dim() != (sparse.rows(), sparse.cols()) {
                        return Err(Error::shape(
                            "sparse network layer",
                            format!("a CSR form of {:?}", dense.dim()),
                            format!("{:?}", (sparse.rows(), sparse.cols())),
                        ));
                    }
                    dense.dim()
                }
            };
            if cols != inputs || rows == 0 {
                return Err(Error::shape(
                    "sparse network layer",
                    format!("{inputs} inputs and some outputs"),
                    format!("{cols} inputs, {rows} outputs"),
                ));
            }
            if let Some(b) = &layer.bias {
                if b.len() != rows {
                    return Err(Error::shape("sparse network bias", rows, b.len()));
                }
                crate::error::check_finite(b.iter(), "bias")?;
            }
            if let Kernel::Dense(w) | Kernel::BySamples { dense: w, .. } = &layer.kernel {
                crate::error::check_finite(w.iter(), "weights")?;
            }
            if !(0.0..=1.0).contains(&layer.density) {
                return Err(Error::param(
                    "density",
                    format!("must lie in [0, 1], got {}", layer.density),
                ));
            }
            inputs = match self.topology {
                Topology::Chain => rows,
                Topology::DenselyConnected => inputs + rows,
            };
        }
        Ok(())
    }

    /// The layers.
    pub fn layers(&self) -> &[SparseLayer] {
        &self.layers
    }

    /// How many layers use the sparse kernel.
    pub fn sparse_layers(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| matches!(l.kernel, Kernel::Sparse(_)))
            .count()
    }

    /// How many layers switch between the dense and the CSR product with the batch size.
    pub fn switching_layers(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| matches!(l.kernel, Kernel::BySamples { .. }))
            .count()
    }

    fn width(&self, k: usize) -> usize {
        self.layers[k].kernel.rows()
    }

    /// The network output for a batch `x` of shape `(samples, inputs)`. Samples go through the network in
    /// blocks of 128 samples, each carried through every layer while its activations sit in cache;
    /// blocks run in parallel on rayon's threads. Where every layer takes the dense product at this batch
    /// size, the pass is [`Mlp::forward`](super::Mlp::forward)'s, and so are the numbers.
    pub fn forward<'a>(&self, x: impl AsArray<'a, f32, Ix2>) -> Result<Array2<f32>> {
        let x: ArrayView2<f32> = x.into();
        check_shape(&x, self.n_inputs)?;
        crate::kernels::active_family()?;
        crate::interrupt::checkpoint("sparse inference", || "before a forward pass".into())?;
        let dense: Option<Vec<LayerView>> = self
            .layers
            .iter()
            .map(
                |l| match l.kernel.for_samples(x.nrows().min(SAMPLE_BLOCK)) {
                    Product::Dense(w) => Some(LayerView {
                        weight: w.view(),
                        packed: if x.nrows() <= crate::kernels::dense::GEMV_ROWS {
                            l.packed.get(w.view())
                        } else {
                            None
                        },
                        bias: l.bias.as_ref().map(|b| b.view()),
                        activation: l.activation,
                    }),
                    Product::Sparse(_) => None,
                },
            )
            .collect();
        if let Some(layers) = dense {
            // Every layer takes the dense product at this batch size: the dense network's own pass, on rows of
            // samples, as fast as it and with its numbers.
            check_finite(&x)?;
            return Ok(super::batch::dense_inference(
                self.n_inputs,
                self.topology,
                &layers,
                x,
            ));
        }
        let outputs = self.width(self.layers.len() - 1);
        let mut out = Array2::zeros((x.nrows(), outputs));
        // Each block checks its own inputs once they are copied into cache, instead of a pass of its own
        // over the whole batch first.
        let finite = std::sync::atomic::AtomicBool::new(true);
        crate::linalg::row_blocks(
            x,
            out.view_mut(),
            SAMPLE_BLOCK,
            || (),
            |_, xb, o| {
                let ok = WORK.with(|work| match work.try_borrow_mut() {
                    Ok(mut buf) => self.forward_block(&mut buf, xb, o),
                    // Re-entered on this thread (a forward pass inside another's callback): fresh space.
                    Err(_) => self.forward_block(&mut AlignedBuf::new(), xb, o),
                });
                if !ok {
                    finite.store(false, std::sync::atomic::Ordering::Relaxed);
                }
            },
        );
        match finite.into_inner() {
            true => Ok(out),
            false => Err(Error::NonFinite { what: "input" }),
        }
    }

    /// One block of samples through every layer, in a feature-major buffer (the input's rows, then each
    /// layer's units' rows, one column per sample), so that the CSR kernel reads whole rows of inputs. Every
    /// row starts on a 64-byte line (the buffer is aligned and its row stride a multiple of [`LANES`]), but for
    /// the few samples the gather kernel takes, which are packed. Returns whether the block's inputs are all
    /// finite (a block with a NaN or an infinity goes no further than the check).
    fn forward_block(
        &self,
        buf: &mut AlignedBuf,
        x: ArrayView2<f32>,
        out: ArrayViewMut2<f32>,
    ) -> bool {
        let n = x.nrows();
        let stride = stride_for(n);
        let total = self.n_inputs + (0..self.layers.len()).map(|k| self.width(k)).sum::<usize>();
        let data = buf.get(total * stride);
        let mut acts = ArrayViewMut2::from_shape((total, stride), data).expect("buffer fits");
        transpose(x, acts.slice_mut(s![..self.n_inputs, ..n]));
        let inputs = acts.slice(s![..self.n_inputs, ..n]);
        let finite = inputs
            .rows()
            .into_iter()
            .all(|row| crate::linalg::all_finite(row.to_slice().expect("contiguous rows")));
        if !finite {
            return false;
        }
        let mut start = self.n_inputs;
        let mut prev_start = 0;
        for (k, layer) in self.layers.iter().enumerate() {
            let width = self.width(k);
            let in_lo = match self.topology {
                Topology::Chain => prev_start,
                Topology::DenselyConnected => 0,
            };
            let (left, mut right) = acts.view_mut().split_at(Axis(0), start);
            let mut z = right.slice_mut(s![..width, ..]);
            match layer.kernel.for_samples(n) {
                Product::Dense(w) => {
                    let input = left.slice(s![in_lo.., ..n]);
                    let mut zn = z.slice_mut(s![.., ..n]);
                    let packed = if n <= crate::kernels::dense::GEMV_ROWS {
                        layer.packed.get(w.view())
                    } else {
                        None
                    };
                    match packed {
                        // A few samples stream the packed weights (zᵀ = xᵀ·Wᵀ, the same bits).
                        Some(packed) => crate::linalg::matmul_packed(
                            input.t(),
                            packed,
                            w.nrows(),
                            &mut zn.view_mut().reversed_axes(),
                        ),
                        _ => crate::linalg::matmul(w.view(), input, &mut zn, false),
                    }
                }
                Product::Sparse(csr) => {
                    let input = left.slice(s![in_lo.., ..]);
                    let xs = input.to_slice().expect("contiguous rows");
                    let zs = z.as_slice_mut().expect("contiguous rows");
                    csr.matmul_into(xs, stride, n, zs, false)
                }
            }
            let bias = layer.bias.as_ref().map(|b| b.view());
            if layer.activation == Activation::Softmax {
                // Row-wise over samples, which are the columns here.
                let mut z = z.slice_mut(s![.., ..n]);
                layer
                    .activation
                    .forward(z.view_mut().reversed_axes(), bias, None);
            } else {
                // Over whole rows as plain slices (padding lanes included, never read): per-row overhead
                // matters when a row holds one sample.
                let zs = z.as_slice_mut().expect("contiguous rows");
                layer.activation.rows_in_place(zs, stride, bias);
            }
            prev_start = start;
            start += width;
        }
        transpose(acts.slice(s![prev_start.., ..n]), out);
        true
    }
}

thread_local! {
    /// Each thread's work space for sparse inference, kept between passes: a pass over a small batch
    /// allocates and clears nothing (it holds one block's activations, a few MB for large networks).
    static WORK: std::cell::RefCell<AlignedBuf> = std::cell::RefCell::new(AlignedBuf::new());
}

#[cfg(test)]
#[path = "sparse_tests.rs"]
mod tests;
