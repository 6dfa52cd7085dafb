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
}

/// The tile kernel: samples `0..lanes` (a multiple of 16) of rows `rows`, in tiles of `NV` vectors (rows
/// `R` at a time) and a last tile of `NV2` vectors (rows `R2` at a time); column block by column block (a
/// block's inputs stay in L1 across the rows), each chain parked in `out` between blocks.
///
/// # Safety
/// The CPU has `V`'s family; the entries were checked (offsets rise, indices below the input rows); `xs`
/// holds every input row's `lanes` samples and `out` every computed row's.
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
    for blk in 0..e.blocks {
        let mut t = 0;
        while t + wide <= lanes {
            tile::<V, P, NV, R>(e, io, blk, t, rows.clone());
            t += wide;
        }
        while t < lanes {
            tile::<V, P, NV2, R2>(e, io, blk, t, rows.clone());
            t += narrow;
        }
    }
}

/// One tile (samples `t..t + NV · LANES`) of one column block, for every row.
///
/// # Safety
/// As [`tiles`].
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
        group::<V, P, NV, R>(e, io, blk, t, r, rows.start);
        r += R;
    }
    while r < rows.end {
        group::<V, P, NV, 1>(e, io, blk, t, r, rows.start);
        r += 1;
    }
}

/// Rows `r0..r0 + R` of one tile and block: `R · NV` vector chains.
///
/// # Safety
/// As [`tiles`].
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
        lo[g] = (*ptr.add(at)).get();
        hi[g] = (*ptr.add(at + 1)).get();
        common = common.min(hi[g] - lo[g]);
    }
    let mut acc = [[V::zero(); NV]; R];
    let mut q = [std::ptr::null_mut::<f32>(); R];
    for g in 0..R {
        q[g] = io.out.add((r0 + g - base) * io.stride + t);
        if blk > 0 {
            for (v, a) in acc[g].iter_mut().enumerate() {
                *a = V::load(q[g].add(v * lanes));
            }
        }
    }
    for s in 0..common {
        for g in 0..R {
            let at = lo[g] + s;
            let w = V::splat(*val.add(at));
            let x = io.xs.add(*ind.add(at) as usize * io.stride + t);
            for (v, a) in acc[g].iter_mut().enumerate() {
                *a = V::fma(w, V::load(x.add(v * lanes)), *a);
            }
        }
    }
    for g in 0..R {
        for at in lo[g] + common..hi[g] {
            let w = V::splat(*val.add(at));
            let x = io.xs.add(*ind.add(at) as usize * io.stride + t);
            for (v, a) in acc[g].iter_mut().enumerate() {
                *a = V::fma(w, V::load(x.add(v * lanes)), *a);
            }
        }
        for (v, a) in acc[g].iter().enumerate() {
            a.store(q[g].add(v * lanes));
        }
    }
}

/// Entries ahead of the current one that [`few`] prefetches.
const PREFETCH_AHEAD: usize = 64;

/// Asks for the cache line at `p` (a hint: no fault, no effect on results; nothing on other CPUs).
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Rows side by side in [`few`]: four scalar chains per sample (the loop is bound by its three loads per
/// multiply-add, which four chains keep busy; more would spill the rows' positions out of registers).
const FEW_ROWS: usize = 4;

/// The per-sample kernel for a few samples packed (`stride == n`, so a sample's inputs are contiguous and
/// sit in L1): per sample, four rows' scalar `mul_add` chains side by side over the plain CSR. A row that
/// ends hands its slot to the next row at once, so rows of unequal lengths keep four chains in flight.
///
/// # Safety
/// The entries were checked; `xs` holds every input row's `n` samples and `out` every computed row's.
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
        few_rows::<true>(indptr, indices, values, io, 0, rows)
    } else {
        for j in 0..n {
            few_rows::<false>(indptr, indices, values, io, j, rows.clone())
        }
    }
}

/// [`few`] for sample `j`; `UNIT`: one sample at stride 1 (no offset arithmetic per entry).
///
/// # Safety
/// As [`few`].
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
    let x = io.xs.add(j);
    let base = rows.start;
    let out = |r: usize| io.out.add((r - base) * io.stride + j);
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
            for at in *indptr.get_unchecked(r)..*indptr.get_unchecked(r + 1) {
                a = (*val.add(at)).mul_add(*x.add(*ind.add(at) as usize * stride), a);
            }
            *out(r) = a;
        }
        return;
    }
    for g in 0..FEW_ROWS {
        row[g] = next;
        pos[g] = *indptr.get_unchecked(next);
        end[g] = *indptr.get_unchecked(next + 1);
        next += 1;
    }
    loop {
        // Finished rows give their slot to the next row; once no row is left for a slot, the others
        // finish one by one.
        for g in 0..FEW_ROWS {
            while pos[g] == end[g] {
                *out(row[g]) = acc[g];
                if next == rows.end {
                    for h in 0..FEW_ROWS {
                        if h == g {
                            continue;
                        }
                        let mut a = acc[h];
                        for at in pos[h]..end[h] {
                            a = (*val.add(at)).mul_add(*x.add(*ind.add(at) as usize * stride), a);
                        }
                        *out(row[h]) = a;
                    }
                    return;
                }
                row[g] = next;
                pos[g] = *indptr.get_unchecked(next);
                end[g] = *indptr.get_unchecked(next + 1);
                acc[g] = 0.0;
                next += 1;
            }
        }
        let mut m = usize::MAX;
        for g in 0..FEW_ROWS {
            m = m.min(end[g] - pos[g]);
        }
        for s in 0..m {
            // Four rows are four streams of entries: ask for each one's next lines ahead of time (one
            // line holds 16 entries), which the hardware prefetcher would not do for so many streams.
            if s % 16 == 0 {
                for g in 0..FEW_ROWS {
                    prefetch(ind.wrapping_add(pos[g] + s + PREFETCH_AHEAD).cast());
                    prefetch(val.wrapping_add(pos[g] + s + PREFETCH_AHEAD).cast());
                }
            }
            for g in 0..FEW_ROWS {
                let at = pos[g] + s;
                let v = *x.add(*ind.add(at) as usize * stride);
                acc[g] = (*val.add(at)).mul_add(v, acc[g]);
            }
        }
        for p in pos.iter_mut() {
            *p += m;
        }
    }
}
