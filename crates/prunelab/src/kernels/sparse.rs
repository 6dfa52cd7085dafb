//! CSR products `out = W · x` on feature-major activations, written once for every family.
//!
//! Each output (a row of `W` for one sample) is one FMA chain over the row's kept entries in column order,
//! from zero: the dense product's chain without its zero terms, so both give the same bits (see
//! [`crate::kernels`]). Vectors hold samples; several rows are summed side by side so that enough chains
//! are in flight, in lockstep over the entries they all have and then each on its own.

use std::ops::Range;

use super::vector::Vector;

/// An entry offset as the kernels read it: `u32` in the blocked layout, `usize` in the plain CSR.
pub(crate) trait Offset: Copy {
    /// The offset as an index.
    fn get(self) -> usize;
}

impl Offset for u32 {
    #[inline(always)]
    fn get(self) -> usize {
        self as usize
    }
}

impl Offset for usize {
    #[inline(always)]
    fn get(self) -> usize {
        self
    }
}

/// A CSR matrix's entries as the tile kernels walk them: block `b`'s entries of row `r` are
/// `ptr[b · rows + r]..ptr[b · rows + r + 1]` (one block: the plain CSR), each row's in column order, and
/// blocks in column order.
#[derive(Clone, Copy)]
pub(crate) struct Entries<'a, P> {
    /// Offsets into `indices` and `values`, `blocks · rows + 1` of them.
    pub ptr: &'a [P],
    /// Column of each entry.
    pub indices: &'a [u32],
    /// Value of each entry.
    pub values: &'a [f32],
    /// Column blocks.
    pub blocks: usize,
    /// Rows of the matrix.
    pub rows: usize,
}

/// Where a product reads and writes: input column `c`'s samples at `xs[c · stride..]`, output row `r`'s at
/// `out[(r - rows.start) · stride..]`.
#[derive(Clone, Copy)]
pub(crate) struct Operands {
    /// The inputs, feature-major.
    pub xs: *const f32,
    /// The outputs of the rows computed, feature-major.
    pub out: *mut f32,
    /// Row stride of both.
    pub stride: usize,
    /// Whether each chain of the tile kernel starts from the value already in `out` (adding the product to
    /// it) instead of zero. The per-sample kernels always start from zero.
    pub accumulate: bool,
}

/// The tile kernel: samples `0..lanes` (a multiple of 16) of rows `rows`, in tiles of `NV` vectors (rows
/// `R` at a time) and a last tile of `NV2` vectors (rows `R2` at a time); column block by column block (a
/// block's inputs stay in L1 across the rows), each chain parked in `out` between blocks.
///
/// # Safety
/// The CPU has `V`'s family; the entries were checked (`ptr` holds `blocks · rows + 1` offsets that rise
/// within `indices` and `values`, which are as long as each other; indices below the input rows);
/// `rows.end ≤ e.rows`; `lanes` is a multiple of 16 and at most `io.stride`; `xs` holds every input row's
/// `io.stride` samples and `out` the computed rows' (`rows.len() · io.stride` floats), aliasing nothing of
/// `xs`.
#[inline(always)]
pub(crate) unsafe fn tiles<
    V: Vector,
    P: Offset,
    const NV: usize,
    const R: usize,
    const NV2: usize,
    const R2: usize,
>(
    e: Entries<'_, P>,
    io: Operands,
    lanes: usize,
    rows: Range<usize>,
) {
    let wide = NV * V::LANES;
    let narrow = NV2 * V::LANES;
    // A last tile of 16 samples and wide tiles of whole 16s: with `lanes` a multiple of 16, every tile
    // ends at or before `lanes`.
    const { assert!(NV2 * V::LANES == 16 && (NV * V::LANES).is_multiple_of(16)) };
    for blk in 0..e.blocks {
        let mut t = 0;
        while t + wide <= lanes {
            // SAFETY: `blk < blocks`; samples `t..t + wide ≤ lanes`; the rest as this function's contract.
            unsafe { tile::<V, P, NV, R>(e, io, blk, t, rows.clone()) };
            t += wide;
        }
        while t < lanes {
            // SAFETY: `blk < blocks`; samples `t..t + 16 ≤ lanes` (`t` and `lanes` multiples of 16); the
            // rest as this function's contract.
            unsafe { tile::<V, P, NV2, R2>(e, io, blk, t, rows.clone()) };
            t += narrow;
        }
    }
}

/// One tile (samples `t..t + NV · LANES`) of one column block, for every row.
///
/// # Safety
/// As [`tiles`], with `blk < e.blocks` and `t + NV · LANES ≤ lanes`.
#[inline(always)]
unsafe fn tile<V: Vector, P: Offset, const NV: usize, const R: usize>(
    e: Entries<'_, P>,
    io: Operands,
    blk: usize,
    t: usize,
    rows: Range<usize>,
) {
    let mut r = rows.start;
    while r + R <= rows.end {
        // SAFETY: rows `r..r + R ≤ rows.end` are computed rows; the rest as this function's contract.
        unsafe { group::<V, P, NV, R>(e, io, blk, t, r, rows.start) };
        r += R;
    }
    while r < rows.end {
        // SAFETY: row `r < rows.end` is a computed row; the rest as this function's contract.
        unsafe { group::<V, P, NV, 1>(e, io, blk, t, r, rows.start) };
        r += 1;
    }
}

/// Rows `r0..r0 + R` of one tile and block: `R · NV` vector chains.
///
/// # Safety
/// As [`tile`], with `base ≤ r0` and `r0 + R ≤ rows.end` of the computed rows starting at `base`.
#[inline(always)]
unsafe fn group<V: Vector, P: Offset, const NV: usize, const R: usize>(
    e: Entries<'_, P>,
    io: Operands,
    blk: usize,
    t: usize,
    r0: usize,
    base: usize,
) {
    let lanes = V::LANES;
    let (ptr, ind, val) = (e.ptr.as_ptr(), e.indices.as_ptr(), e.values.as_ptr());
    let mut lo = [0usize; R];
    let mut hi = [0usize; R];
    let mut common = usize::MAX;
    for g in 0..R {
        let at = blk * e.rows + r0 + g;
        // SAFETY: `blk < blocks` and `r0 + g < e.rows`, so `at + 1 ≤ blocks · rows`: both offsets lie
        // inside `ptr`, which holds `blocks · rows + 1`.
        (lo[g], hi[g]) = unsafe { ((*ptr.add(at)).get(), (*ptr.add(at + 1)).get()) };
        common = common.min(hi[g] - lo[g]);
    }
    // SAFETY: the CPU has `V`'s family (this function's contract).
    let mut acc = [[unsafe { V::zero() }; NV]; R];
    let mut q = [std::ptr::null_mut::<f32>(); R];
    for g in 0..R {
        // SAFETY: row `r0 + g` is a computed row (`base ≤ r0 + g < rows.end`) and `t < lanes ≤ stride`:
        // inside `out`.
        q[g] = unsafe { io.out.add((r0 + g - base) * io.stride + t) };
        if blk > 0 || io.accumulate {
            for (v, a) in acc[g].iter_mut().enumerate() {
                // SAFETY: samples `t + v · lanes..t + (v + 1) · lanes ≤ t + NV · LANES ≤ lanes ≤ stride`
                // of the row, inside `out`; the CPU has `V`'s family.
                *a = unsafe { V::load(q[g].add(v * lanes)) };
            }
        }
    }
    for s in 0..common {
        for g in 0..R {
            let at = lo[g] + s;
            // SAFETY: `lo[g] ≤ at < hi[g] ≤ values.len() == indices.len()` (rising, checked offsets); the
            // column `ind[at]` is an input row, so its samples `t..t + NV · LANES ≤ stride` lie inside
            // `xs`; the CPU has `V`'s family.
            unsafe {
                let w = V::splat(*val.add(at));
                let x = io.xs.add(*ind.add(at) as usize * io.stride + t);
                for (v, a) in acc[g].iter_mut().enumerate() {
                    *a = V::fma(w, V::load(x.add(v * lanes)), *a);
                }
            }
        }
    }
    for g in 0..R {
        for at in lo[g] + common..hi[g] {
            // SAFETY: `at < hi[g] ≤ values.len() == indices.len()` (rising, checked offsets); the column
            // `ind[at]` is an input row, so its samples `t..t + NV · LANES ≤ stride` lie inside `xs`; the
            // CPU has `V`'s family.
            unsafe {
                let w = V::splat(*val.add(at));
                let x = io.xs.add(*ind.add(at) as usize * io.stride + t);
                for (v, a) in acc[g].iter_mut().enumerate() {
                    *a = V::fma(w, V::load(x.add(v * lanes)), *a);
                }
            }
        }
        for (v, a) in acc[g].iter().enumerate() {
            // SAFETY: as the loads from `q[g]` above: samples of a computed row inside `out`.
            unsafe { a.store(q[g].add(v * lanes)) };
        }
    }
}

/// What the per-sample kernels read: the plain CSR and, where it was made, its [`Sliced`] layout.
#[derive(Clone, Copy)]
pub(crate) struct FewEntries<'a> {
    /// Row offsets into `indices` and `values`.
    pub indptr: &'a [usize],
    /// Column of each entry.
    pub indices: &'a [u32],
    /// Value of each entry.
    pub values: &'a [f32],
    /// The same entries in slices of eight rows.
    pub sliced: Option<&'a Sliced>,
}

/// Rows side by side in [`few`]: four scalar chains per sample (the loop is bound by its three loads per
/// multiply-add, which four chains keep busy; more would spill the rows' positions out of registers).
const FEW_ROWS: usize = 4;

/// The per-sample kernel for a few samples packed (`stride == n`, so a sample's inputs are contiguous and
/// sit in L1) where the matrix has no [`Sliced`] layout: per sample, four rows' scalar `mul_add` chains side
/// by side over the plain CSR. A row that ends hands its slot to the next row at once, so rows of unequal
/// lengths keep four chains in flight.
///
/// # Safety
/// The entries were checked (`indptr` holds `rows.end + 1` or more offsets that rise within `indices` and
/// `values`, which are as long as each other; indices below the input rows); `n ≤ io.stride`; `xs` holds
/// every input row's `io.stride` samples and `out` the computed rows' (`rows.len() · io.stride` floats),
/// aliasing nothing of `xs`.
#[inline(always)]
pub(crate) unsafe fn few(
    indptr: &[usize],
    indices: &[u32],
    values: &[f32],
    io: Operands,
    n: usize,
    rows: Range<usize>,
) {
    if n == 1 && io.stride == 1 {
        // SAFETY: sample `0 < n` with stride 1 (`UNIT`); the rest as this function's contract.
        unsafe { few_rows::<true>(indptr, indices, values, io, 0, rows) }
    } else {
        for j in 0..n {
            // SAFETY: sample `j < n ≤ io.stride`; the rest as this function's contract.
            unsafe { few_rows::<false>(indptr, indices, values, io, j, rows.clone()) }
        }
    }
}

/// [`few`] for sample `j`; `UNIT`: one sample at stride 1 (no offset arithmetic per entry).
///
/// # Safety
/// As [`few`], with `j < n` (and `io.stride == 1` where `UNIT`).
#[inline(always)]
unsafe fn few_rows<const UNIT: bool>(
    indptr: &[usize],
    indices: &[u32],
    values: &[f32],
    io: Operands,
    j: usize,
    rows: Range<usize>,
) {
    let (ind, val) = (indices.as_ptr(), values.as_ptr());
    let stride = if UNIT { 1 } else { io.stride };
    // SAFETY: `j < n ≤ io.stride`: sample `j` of input row 0, inside `xs`.
    let x = unsafe { io.xs.add(j) };
    let base = rows.start;
    // Sample `j` of computed row `r` (`base ≤ r < rows.end`).
    let out = |r: usize| {
        // SAFETY: every caller below passes a computed row `r`, and `j < io.stride`: inside `out`.
        unsafe { io.out.add((r - base) * io.stride + j) }
    };
    // (The multiply-adds below are written out, not in a closure: a closure that the compiler did not
    // inline would not have the caller's FMA unit.)
    // Slot g sums row[g]'s entries pos[g]..end[g] into acc[g].
    let mut row = [0usize; FEW_ROWS];
    let mut pos = [0usize; FEW_ROWS];
    let mut end = [0usize; FEW_ROWS];
    let mut acc = [0.0f32; FEW_ROWS];
    let mut next = rows.start;
    // Fewer rows than slots: each on its own.
    if rows.len() < FEW_ROWS {
        for r in rows {
            let mut a = 0.0f32;
            // SAFETY: `r < rows.end`, so `r + 1 < indptr.len()`.
            let (lo, hi) = unsafe { (*indptr.get_unchecked(r), *indptr.get_unchecked(r + 1)) };
            for at in lo..hi {
                // SAFETY: `at < indptr[r + 1] ≤ values.len() == indices.len()` (rising, checked
                // offsets); the column `ind[at]` is an input row, whose sample `j` is `x + column · stride`.
                a = unsafe { (*val.add(at)).mul_add(*x.add(*ind.add(at) as usize * stride), a) };
            }
            // SAFETY: `out(r)` is sample `j` of the computed row `r`.
            unsafe { *out(r) = a };
        }
        return;
    }
    for g in 0..FEW_ROWS {
        row[g] = next;
        // SAFETY: `next = rows.start + g < rows.end` (at least `FEW_ROWS` rows), so `next + 1 <
        // indptr.len()`.
        (pos[g], end[g]) =
            unsafe { (*indptr.get_unchecked(next), *indptr.get_unchecked(next + 1)) };
        next += 1;
    }
    loop {
        // Finished rows give their slot to the next row; once no row is left for a slot, the others
        // finish one by one.
        for g in 0..FEW_ROWS {
            while pos[g] == end[g] {
                // SAFETY: `row[g]` is a computed row (slots only ever take rows below `rows.end`).
                unsafe { *out(row[g]) = acc[g] };
                if next == rows.end {
                    for h in 0..FEW_ROWS {
                        if h == g {
                            continue;
                        }
                        let mut a = acc[h];
                        for at in pos[h]..end[h] {
                            // SAFETY: `at < end[h]`, the end of row `row[h]`'s entries, so below
                            // `values.len() == indices.len()`; the column `ind[at]` is an input row,
                            // whose sample `j` is `x + column · stride`.
                            a = unsafe {
                                (*val.add(at)).mul_add(*x.add(*ind.add(at) as usize * stride), a)
                            };
                        }
                        // SAFETY: `row[h]` is a computed row.
                        unsafe { *out(row[h]) = a };
                    }
                    return;
                }
                row[g] = next;
                // SAFETY: `next < rows.end` (checked just above), so `next + 1 < indptr.len()`.
                (pos[g], end[g]) =
                    unsafe { (*indptr.get_unchecked(next), *indptr.get_unchecked(next + 1)) };
                acc[g] = 0.0;
                next += 1;
            }
        }
        let mut m = usize::MAX;
        for g in 0..FEW_ROWS {
            m = m.min(end[g] - pos[g]);
        }
        for s in 0..m {
            for g in 0..FEW_ROWS {
                let at = pos[g] + s;
                // SAFETY: `at < pos[g] + m ≤ end[g]`, the end of row `row[g]`'s entries, so below
                // `values.len() == indices.len()`; the column `ind[at]` is an input row, whose sample
                // `j` is `x + column · stride`.
                let v = unsafe { *x.add(*ind.add(at) as usize * stride) };
                // SAFETY: as just above, `at < values.len()`.
                acc[g] = unsafe { (*val.add(at)).mul_add(v, acc[g]) };
            }
        }
        for p in pos.iter_mut() {
            *p += m;
        }
    }
}

/// Rows per slice of [`Sliced`]: one AVX2 vector's lanes.
pub(crate) const SLICE: usize = 8;

/// Rows sorted by their entry counts together: slices hold rows of similar lengths, so little padding.
pub(crate) const WINDOW: usize = 64;

/// A CSR matrix's entries in slices of [`SLICE`] rows for the per-sample kernel: within each window of
/// [`WINDOW`] rows the rows are ordered longest first, and slice `q` holds rows `perm[8q..8q + 8]`
/// (`u32::MAX` past the matrix) with `steps(q)` steps; step `s` of its lane `g` is entry `off[q] + 8s + g`
/// of `indices` and `values`. A row shorter than its slice's longest is padded at its end with zero values at
/// a column it prunes: `fma(0, x, s) = s` for finite `x`, so each row's chain is its CSR chain, bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sliced {
    /// Start of each slice's entries, `slices + 1` of them.
    pub off: Vec<usize>,
    /// The row in each lane of each slice.
    pub perm: Vec<u32>,
    /// Column of each entry (padding included).
    pub indices: Vec<u32>,
    /// Value of each entry (padding: zero).
    pub values: Vec<f32>,
}

impl Sliced {
    /// The sliced layout of a checked CSR matrix, or `None` where the rows do not fit in `u32` or the
    /// padding would make it more than a quarter larger than the CSR entries (the scalar kernel runs then).
    pub(crate) fn new(
        rows: usize,
        indptr: &[usize],
        indices: &[u32],
        values: &[f32],
    ) -> Option<Self> {
        if rows >= u32::MAX as usize {
            return None;
        }
        let len = |r: usize| indptr[r + 1] - indptr[r];
        let mut perm: Vec<u32> = Vec::with_capacity(rows.next_multiple_of(SLICE));
        for w in (0..rows).step_by(WINDOW) {
            let mut window: Vec<u32> = (w as u32..(w + WINDOW).min(rows) as u32).collect();
            window.sort_by_key(|&r| std::cmp::Reverse(len(r as usize)));
            perm.extend(window);
        }
        perm.resize(rows.next_multiple_of(SLICE), u32::MAX);
        let lane_len = |r: u32| if r == u32::MAX { 0 } else { len(r as usize) };
        let slices = perm.len() / SLICE;
        let steps = |q: usize| {
            perm[q * SLICE..(q + 1) * SLICE]
                .iter()
                .map(|&r| lane_len(r))
                .max()
                .unwrap_or(0)
        };
        let total: usize = (0..slices).map(|q| steps(q) * SLICE).sum();
        if total > values.len() + values.len() / 4 + SLICE * WINDOW {
            return None;
        }
        let mut off = Vec::with_capacity(slices + 1);
        let mut si = vec![0u32; total];
        let mut sv = vec![0.0f32; total];
        let mut at = 0;
        for q in 0..slices {
            off.push(at);
            let n_steps = steps(q);
            for g in 0..SLICE {
                let r = perm[q * SLICE + g];
                let (lo, n) = if r == u32::MAX {
                    (0, 0)
                } else {
                    (indptr[r as usize], len(r as usize))
                };
                let row = &indices[lo..lo + n];
                // A column this row prunes: the first gap in its rising indices.
                let pad = row
                    .iter()
                    .enumerate()
                    .find(|&(k, &c)| c as usize != k)
                    .map_or(n, |(k, _)| k) as u32;
                for s in 0..n_steps {
                    let (c, v) = if s < n {
                        (row[s], values[lo + s])
                    } else {
                        (pad, 0.0)
                    };
                    si[at + s * SLICE + g] = c;
                    sv[at + s * SLICE + g] = v;
                }
            }
            at += n_steps * SLICE;
        }
        off.push(at);
        Some(Sliced {
            off,
            perm,
            indices: si,
            values: sv,
        })
    }

    /// The slices that hold rows `rows` (and perhaps others of the same windows).
    pub(crate) fn slices_for(&self, rows: &Range<usize>) -> Range<usize> {
        let slices = self.off.len() - 1;
        let first = (rows.start / WINDOW * WINDOW / SLICE).min(slices);
        let last = (rows.end.next_multiple_of(WINDOW) / SLICE).min(slices);
        first..last
    }
}

/// The per-sample kernel on the [`Sliced`] layout with scalar chains: a slice's eight rows side by side,
/// reading its entries in one sequential stream. Rows `rows` of `n` packed samples (`io.stride == n`).
///
/// # Safety
/// `sl` is the layout [`Sliced::new`] made of a checked matrix (so its columns, padding included, are
/// below the input rows); `rows.end` is at most the matrix's rows; `n ≤ io.stride`; `xs` holds every input
/// row's `io.stride` samples and `out` the computed rows' (`rows.len() · io.stride` floats), aliasing
/// nothing of `xs`.
#[inline(always)]
pub(crate) unsafe fn few_sliced(sl: &Sliced, io: Operands, n: usize, rows: Range<usize>) {
    if n == 1 && io.stride == 1 {
        // SAFETY: sample `0 < n` with stride 1 (`UNIT`); the rest as this function's contract.
        unsafe { few_sliced_sample::<true>(sl, io, 0, &rows) }
    } else {
        for j in 0..n {
            // SAFETY: sample `j < n ≤ io.stride`; the rest as this function's contract.
            unsafe { few_sliced_sample::<false>(sl, io, j, &rows) }
        }
    }
}

/// [`few_sliced`] for sample `j`; `UNIT`: one sample at stride 1 (no multiplication per entry).
///
/// # Safety
/// As [`few_sliced`], with `j < n` (and `io.stride == 1` where `UNIT`).
#[inline(always)]
unsafe fn few_sliced_sample<const UNIT: bool>(
    sl: &Sliced,
    io: Operands,
    j: usize,
    rows: &Range<usize>,
) {
    if rows.is_empty() {
        return;
    }
    let (ind, val) = (sl.indices.as_ptr(), sl.values.as_ptr());
    let stride = if UNIT { 1 } else { io.stride };
    // SAFETY: `j < n ≤ io.stride`: sample `j` of input row 0, inside `xs`.
    let x = unsafe { io.xs.add(j) };
    for q in sl.slices_for(rows) {
        let mut acc = [0.0f32; SLICE];
        let mut at = sl.off[q];
        let end = sl.off[q + 1];
        while at < end {
            for (g, a) in acc.iter_mut().enumerate() {
                // SAFETY: `at + g < end ≤ indices.len()` (a slice's entries come in whole steps of eight);
                // the column `ind[at + g]` is below the input rows (padding uses a column of its row), so
                // `x + column · stride` is sample `j` of an input row, inside `xs`.
                let v = unsafe { *x.add(*ind.add(at + g) as usize * stride) };
                // SAFETY: `at + g < end ≤ values.len()`, as just above.
                *a = unsafe { (*val.add(at + g)).mul_add(v, *a) };
            }
            at += SLICE;
        }
        for (g, &a) in acc.iter().enumerate() {
            let r = sl.perm[q * SLICE + g] as usize;
            if rows.contains(&r) {
                // SAFETY: `r` is one of the computed rows and `j < n ≤ io.stride`: inside `out`.
                unsafe { *io.out.add((r - rows.start) * io.stride + j) = a };
            }
        }
    }
}
