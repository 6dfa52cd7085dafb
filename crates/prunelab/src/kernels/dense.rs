//! Dense products `c ← a·b` and `c ← c + a·b` on raw strided matrices, written once for every family.
//!
//! Each output is one FMA chain over `k` in order (see the module docs of [`crate::kernels`]); the paths
//! below differ in speed only:
//! - [`small`]: products of a few thousand multiply-adds, tiles of up to 4 × 3 outputs, no packing;
//! - [`gemv_scalar`] (and the families' vector versions): one to four rows against a matrix whose columns are
//!   contiguous (a layer's weights read as `Wᵀ`), streamed without packing;
//! - [`gemm`]: everything else, the classic blocking — `b` packed in panels of `NR` columns × [`KC`] rows
//!   that stay in L1, `a` read in place where its rows are contiguous (activations) and otherwise packed in
//!   panels of `MR` rows that stay in L2, and an `MR × NR` register tile per step, four steps per turn.
//!   A chain's running value goes back to `c` after each [`KC`] block and is picked up by the next.

use std::cell::RefCell;

pub(crate) use super::mat::{Mat, MatMut};
use super::vector::Vector;
use super::AlignedBuf;

/// Products with at most this many multiply-adds take [`small`].
pub(crate) const SMALL_MAX_FLOPS: usize = 1 << 12;
/// Up to this many rows (against a matrix with contiguous columns) take the streaming path.
pub(crate) const GEMV_ROWS: usize = 4;
/// Rows of `k` per packed block: a layer of up to 1,024 inputs in one block, so each tile of `c` is loaded
/// and stored once (measured on Zen 3 against 256: 5% faster for 784-1000-1000-500 products; a panel of `b`,
/// `KC × NR`, then lives in L2 rather than L1, which the prefetchers stream well).
const KC: usize = 1024;
/// Columns of `b` packed at once (`KC × NC` floats, 1 MB, in L2/L3).
const NC: usize = 256;
/// Rows of `a` per block (rounded down to a whole number of `MR`-row panels): `MC × KC` stays in L2.
const MC: usize = 96;

/// The scalar product's path choice, shared by every family: `Small`, `Gemv` (rows of `a` against
/// column-contiguous `b`), `GemvT` (the same on the transpose) or `Gemm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    Small,
    Gemv,
    GemvT,
    Gemm,
}

/// Which path a `(m, k) · (k, n)` product takes.
pub(crate) fn path(m: usize, n: usize, k: usize, a: Mat, b: Mat) -> Path {
    if m * n * k <= SMALL_MAX_FLOPS {
        Path::Small
    } else if m <= GEMV_ROWS && b.rs == 1 && m < n {
        Path::Gemv
    } else if n <= GEMV_ROWS && a.cs == 1 && n < m {
        Path::GemvT
    } else {
        Path::Gemm
    }
}

/// `c (+)= a·b` by tiles of up to 4 × 3 outputs, each output one `mul_add` chain over `k`.
///
/// # Safety
/// `a` is `(m, k)`, `b` is `(k, n)`, `c` is `(m, n)`, all inside live allocations; `c` aliases neither.
/// Where `k ≥ 1` nothing else; where `k == 0`, `a` and `b` are not read.
#[inline(always)]
pub(crate) unsafe fn small(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    c: MatMut,
    accumulate: bool,
) {
    let mut i = 0;
    while i < m {
        // Up to four rows at once; the last one to three rows together (more chains in flight when `c` has
        // few rows, as a small layer's weight gradient has).
        let r = (m - i).min(4);
        let mut j = 0;
        while j < n {
            // At most 4 × 3: the twelve sums, three values of `b` and one of `a` fit in sixteen registers.
            let w = (n - j).min(3);
            // SAFETY: the match only picks the tile's constant size `R × W` from `(r, w)`; every arm's tile
            // is rows `i..i + r` (`r ≤ m - i`) and columns `j..j + w` (`w ≤ n - j`), inside the `(m, n)`
            // matrix `c`, reading rows `i..i + r` of the `(m, k)` matrix `a` and columns `j..j + w` of the
            // `(k, n)` matrix `b` (the caller's contract).
            unsafe {
                match (r, w) {
                    (4, 3) => tile::<4, 3>(a, b, c, i, j, k, accumulate),
                    (4, 2) => tile::<4, 2>(a, b, c, i, j, k, accumulate),
                    (4, _) => tile::<4, 1>(a, b, c, i, j, k, accumulate),
                    (3, 3) => tile::<3, 3>(a, b, c, i, j, k, accumulate),
                    (3, 2) => tile::<3, 2>(a, b, c, i, j, k, accumulate),
                    (3, _) => tile::<3, 1>(a, b, c, i, j, k, accumulate),
                    (2, 3) => tile::<2, 3>(a, b, c, i, j, k, accumulate),
                    (2, 2) => tile::<2, 2>(a, b, c, i, j, k, accumulate),
                    (2, _) => tile::<2, 1>(a, b, c, i, j, k, accumulate),
                    (_, 3) => tile::<1, 3>(a, b, c, i, j, k, accumulate),
                    (_, 2) => tile::<1, 2>(a, b, c, i, j, k, accumulate),
                    _ => tile::<1, 1>(a, b, c, i, j, k, accumulate),
                }
            }
            j += w;
        }
        i += r;
    }
}

/// `c[i + r, j + w] (+)= a[i + r, ..] · b[.., j + w]` for `r < R`, `w < W`.
///
/// # Safety
/// The tile must lie inside `a`, `b` and `c`: rows `i..i + R` of `a` and `c`, columns `j..j + W` of `b` and
/// `c`, steps `0..k` of `a`'s columns and `b`'s rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const R: usize, const W: usize>(
    a: Mat,
    b: Mat,
    c: MatMut,
    i: usize,
    j: usize,
    k: usize,
    accumulate: bool,
) {
    let mut s = [[0.0f32; W]; R];
    if accumulate {
        for (r, row) in s.iter_mut().enumerate() {
            for (w, v) in row.iter_mut().enumerate() {
                // SAFETY: `r < R` and `w < W`: element `(i + r, j + w)` of the tile, inside `c`.
                *v = unsafe { *c.addr(i + r, j + w) };
            }
        }
    }
    for p in 0..k {
        let bv: [f32; W] = std::array::from_fn(|w| {
            // SAFETY: `p < k` and `w < W`: element `(p, j + w)`, inside `b`.
            unsafe { b.at(p, j + w) }
        });
        for (r, row) in s.iter_mut().enumerate() {
            // SAFETY: `r < R` and `p < k`: element `(i + r, p)`, inside `a`.
            let av = unsafe { a.at(i + r, p) };
            for (s, &bv) in row.iter_mut().zip(&bv) {
                *s = av.mul_add(bv, *s);
            }
        }
    }
    for (r, row) in s.iter().enumerate() {
        for (w, &v) in row.iter().enumerate() {
            // SAFETY: `r < R` and `w < W`: element `(i + r, j + w)` of the tile, inside `c`.
            unsafe { *c.addr(i + r, j + w) = v };
        }
    }
}

/// `c (+)= a·b` for `m ≤` [`GEMV_ROWS`] rows of `a` against `b` with contiguous columns (`b.rs == 1`):
/// eight columns at a time, each one `mul_add` chain.
///
/// # Safety
/// As [`small`], and `b.rs == 1`, `k ≥ 1`, `from ≤ n`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemv_scalar(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    c: MatMut,
    accumulate: bool,
    from: usize,
) {
    for i in 0..m {
        let mut j = from;
        while j < n {
            let w = (n - j).min(8);
            let mut s = [0.0f32; 8];
            if accumulate {
                for (t, s) in s.iter_mut().enumerate().take(w) {
                    // SAFETY: `i < m` and `j + t < j + w ≤ n`: inside `c`.
                    *s = unsafe { *c.addr(i, j + t) };
                }
            }
            // Columns past `n` repeat the last one; their sums are discarded.
            let cols: [*const f32; 8] = std::array::from_fn(|t| {
                // SAFETY: `j + min(t, w - 1) < n` and row `0 < k`: the top of a column inside `b`.
                unsafe { b.addr(0, j + t.min(w - 1)) }
            });
            for p in 0..k {
                // SAFETY: `i < m` and `p < k`: inside `a`.
                let av = unsafe { a.at(i, p) };
                for (s, col) in s.iter_mut().zip(&cols) {
                    // SAFETY: `b.rs == 1`, so `col + p` (`p < k`) is row `p` of a column of `b`.
                    *s = av.mul_add(unsafe { *col.add(p) }, *s);
                }
            }
            for (t, &s) in s.iter().enumerate().take(w) {
                // SAFETY: `i < m` and `j + t < j + w ≤ n`: inside `c`.
                unsafe { *c.addr(i, j + t) = s };
            }
            j += w;
        }
    }
}

/// The packing buffers of one thread, kept between products.
#[derive(Default)]
struct Packs {
    a: AlignedBuf,
    b: AlignedBuf,
}

thread_local! {
    static PACKS: RefCell<Packs> = RefCell::new(Packs::default());
}

/// `c (+)= a·b` with `MR × (NV · LANES)` register tiles of `V`.
///
/// # Safety
/// As [`small`], with `k ≥ 1`, and the CPU must have `V`'s family.
#[inline(always)]
pub(crate) unsafe fn gemm<V: Vector, const MR: usize, const NV: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    c: MatMut,
    accumulate: bool,
) {
    // The thread's buffers, taken out while in use (a product inside a product gets fresh ones).
    let mut packs = PACKS.with(|p| p.take());
    let nr = NV * V::LANES;
    let mc = (MC / MR).max(1) * MR;
    // Blocks of `k` as even as they can be (2,000 = 2 × 1,000, not 1,024 + 976).
    let kc_max = k.div_ceil(k.div_ceil(KC));
    let bp = packs
        .b
        .get(kc_max * NC.min(n).next_multiple_of(nr))
        .as_mut_ptr();
    let ap = packs
        .a
        .get(kc_max * mc.min(m).next_multiple_of(MR))
        .as_mut_ptr();
    // Row-major `a` (activations, one sample per row) is read in place: its `MR` rows are as many
    // sequential streams, and packing them (a transpose per block of `b`'s columns) costs more than it saves.
    let direct_a = a.cs == 1;
    let mut jc = 0;
    while jc < n {
        let nc = NC.min(n - jc);
        let mut pc = 0;
        while pc < k {
            let kc = kc_max.min(k - pc);
            // SAFETY: `bp` holds `kc_max · min(NC, n)` rounded up to `nr` floats, at least
            // `kc · nc.next_multiple_of(nr)`; the block (rows `pc..pc + kc ≤ k`, columns `jc..jc + nc ≤ n`)
            // lies inside the `(k, n)` matrix `b`; the CPU has `V`'s family (this function's contract).
            unsafe { pack_b::<V>(bp, b, pc, jc, kc, nc, nr) };
            let first = pc == 0 && !accumulate;
            let mut ic = 0;
            while ic < m {
                let mcc = mc.min(m - ic);
                if !direct_a {
                    // SAFETY: `ap` holds `kc_max · min(mc, m)` rounded up to `MR` floats, at least
                    // `kc · mcc.next_multiple_of(MR)`; the block (rows `ic..ic + mcc ≤ m`, columns
                    // `pc..pc + kc ≤ k`) lies inside the `(m, k)` matrix `a`.
                    unsafe { pack_a::<V, MR>(ap, a, ic, pc, mcc, kc) };
                }
                let mut q = 0;
                while q * nr < nc {
                    let cols = nr.min(nc - q * nr);
                    // SAFETY: `q · nr < nc`, so panel `q` (`kc · nr` floats from `q · kc · nr`) lies inside
                    // the `kc · nc.next_multiple_of(nr)` floats just packed.
                    let bq = unsafe { bp.add(q * kc * nr) };
                    let mut r = 0;
                    while r * MR < mcc {
                        let rows = MR.min(mcc - r * MR);
                        let ct = MatMut {
                            // SAFETY: `ic + r · MR < ic + mcc ≤ m` and `jc + q · nr < jc + nc ≤ n`: the
                            // tile's corner lies inside the `(m, n)` matrix `c`.
                            ptr: unsafe { c.addr(ic + r * MR, jc + q * nr) },
                            ..c
                        };
                        if direct_a {
                            // Rows past the matrix repeat its last row; their sums are discarded.
                            let i0 = ic + r * MR;
                            let rows_at: [*const f32; MR] = std::array::from_fn(|i| {
                                // SAFETY: `i0 + min(i, rows - 1) < ic + mcc ≤ m` and `pc < k`: inside `a`.
                                unsafe { a.addr(i0 + i.min(rows - 1), pc) }
                            });
                            // SAFETY: `a.cs == 1`, so each row's steps `pc..pc + kc` are `kc` contiguous
                            // floats of `a` (`AS = 1`); `bq` holds panel `q`'s `kc · nr` floats; the
                            // `rows × cols` real part of the tile lies inside `c` (as above); the CPU has
                            // `V`'s family.
                            unsafe {
                                micro::<V, MR, NV, 1>(kc, rows_at, bq, ct, rows, cols, first)
                            };
                        } else {
                            // SAFETY: `r · MR < mcc`, so panel `r` (`kc · MR` floats from `r · kc · MR`)
                            // lies inside the `kc · mcc.next_multiple_of(MR)` floats just packed.
                            let panel = unsafe { ap.add(r * kc * MR) };
                            let rows_at: [*const f32; MR] = std::array::from_fn(|i| {
                                // SAFETY: `i < MR`: inside the panel's `kc · MR` floats.
                                unsafe { panel.add(i).cast_const() }
                            });
                            // SAFETY: row `i` of the panel is read at `i + p · MR < kc · MR` (`AS = MR`);
                            // `bq` holds panel `q`'s `kc · nr` floats; the `rows × cols` real part of the
                            // tile lies inside `c` (as above); the CPU has `V`'s family.
                            unsafe {
                                micro::<V, MR, NV, MR>(kc, rows_at, bq, ct, rows, cols, first)
                            };
                        }
                        r += 1;
                    }
                    q += 1;
                }
                ic += mcc;
            }
            pc += kc;
        }
        jc += nc;
    }
    PACKS.with(|p| p.replace(packs));
}

/// Packs `b[pc.., jc..]` (`kc × nc`) into panels of `nr` columns: panel `q`'s row `p` at
/// `dst[q·kc·nr + p·nr ..]`, columns past `nc` zero.
///
/// # Safety
/// `dst` holds `kc · nc.next_multiple_of(nr)` floats and aliases nothing of `b`; the block (rows
/// `pc..pc + kc`, columns `jc..jc + nc`) lies inside `b`; `nr` is a multiple of `V::LANES`; the CPU has `V`'s
/// family.
#[inline(always)]
unsafe fn pack_b<V: Vector>(
    dst: *mut f32,
    b: Mat,
    pc: usize,
    jc: usize,
    kc: usize,
    nc: usize,
    nr: usize,
) {
    let mut q = 0;
    while q * nr < nc {
        let j0 = jc + q * nr;
        let w = nr.min(nc - q * nr);
        // SAFETY: `q · nr < nc`, so panel `q` (`kc · nr` floats from `q · kc · nr`) lies inside `dst`.
        let d = unsafe { dst.add(q * kc * nr) };
        if b.cs == 1 && w == nr {
            // Whole panels row by row in vectors (a call to `memcpy` per 64 bytes costs more than the copy).
            let lanes = V::LANES;
            for p in 0..kc {
                // SAFETY: `(pc + p, j0)` lies inside the block of `b`; row `p < kc` of the panel inside `d`.
                let (src, row) = unsafe { (b.addr(pc + p, j0), d.add(p * nr)) };
                for v in 0..nr / lanes {
                    // SAFETY: `b.cs == 1` and `w == nr`, so columns `j0..j0 + nr` of row `pc + p` are
                    // contiguous inside the block; `(v + 1) · lanes ≤ nr` floats of the panel's row; the CPU
                    // has `V`'s family.
                    unsafe { V::load(src.add(v * lanes)).store(row.add(v * lanes)) };
                }
            }
        } else if b.cs == 1 {
            for p in 0..kc {
                // SAFETY: row `p < kc` of the panel lies inside `d`.
                let row = unsafe { d.add(p * nr) };
                // SAFETY: `b.cs == 1`: columns `j0..j0 + w` of row `pc + p` are `w` contiguous floats inside
                // the block; `w ≤ nr` floats of the panel's row, in `dst`, which aliases nothing of `b`.
                unsafe { std::ptr::copy_nonoverlapping(b.addr(pc + p, j0), row, w) };
                for t in w..nr {
                    // SAFETY: `t < nr`: inside the panel's row.
                    unsafe { *row.add(t) = 0.0 };
                }
            }
        } else if b.rs == 1 {
            // A layer's weights read as `Wᵀ`: each column is a row of `W`.
            // SAFETY: `b.rs == 1`, `w ≤ nr`, columns `j0..j0 + w` and rows `pc..pc + kc` lie inside the
            // block of `b`, and `d` holds the panel's `kc · nr` floats; the CPU has `V`'s family.
            unsafe { V::pack_columns(d, b, pc, j0, kc, w, nr) };
        } else {
            for t in 0..w {
                // SAFETY: `(pc, j0 + t)` with `t < w` lies inside the block of `b`.
                let col = unsafe { b.addr(pc, j0 + t) };
                for p in 0..kc {
                    // SAFETY: `col + p · b.rs` is element `(pc + p, j0 + t)` of the block (`p < kc`);
                    // `p · nr + t < kc · nr` lies inside the panel.
                    unsafe { *d.add(p * nr + t) = *col.offset(p as isize * b.rs) };
                }
            }
            for p in 0..kc {
                for t in w..nr {
                    // SAFETY: `p < kc` and `t < nr`: inside the panel.
                    unsafe { *d.add(p * nr + t) = 0.0 };
                }
            }
        }
        q += 1;
    }
}

/// Packs `a[ic.., pc..]` (`mc × kc`; not row-major, which [`gemm`] reads in place) into panels of `MR` rows: panel `r`'s column `p` at
/// `dst[r·kc·MR + p·MR ..]`, rows past `mc` zero.
///
/// # Safety
/// `dst` holds `kc · mc.next_multiple_of(MR)` floats and aliases nothing of `a`; the block (rows
/// `ic..ic + mc`, columns `pc..pc + kc`) lies inside `a`.
#[inline(always)]
unsafe fn pack_a<V: Vector, const MR: usize>(
    dst: *mut f32,
    a: Mat,
    ic: usize,
    pc: usize,
    mc: usize,
    kc: usize,
) {
    let mut r = 0;
    while r * MR < mc {
        let i0 = ic + r * MR;
        let h = MR.min(mc - r * MR);
        // SAFETY: `r · MR < mc`, so panel `r` (`kc · MR` floats from `r · kc · MR`) lies inside `dst`.
        let d = unsafe { dst.add(r * kc * MR) };
        if a.rs == 1 && h == MR {
            for p in 0..kc {
                // SAFETY: `a.rs == 1` and `h == MR`: rows `i0..i0 + MR` of column `pc + p` are `MR`
                // contiguous floats inside the block; column `p < kc` of the panel is `MR` floats of `dst`,
                // which aliases nothing of `a`.
                unsafe { std::ptr::copy_nonoverlapping(a.addr(i0, pc + p), d.add(p * MR), MR) };
            }
        } else {
            for i in 0..h {
                // SAFETY: `i < h`: `(i0 + i, pc)` lies inside the block of `a`.
                let row = unsafe { a.addr(i0 + i, pc) };
                for p in 0..kc {
                    // SAFETY: `row + p · a.cs` is element `(i0 + i, pc + p)` of the block (`p < kc`);
                    // `p · MR + i < kc · MR` lies inside the panel.
                    unsafe { *d.add(p * MR + i) = *row.offset(p as isize * a.cs) };
                }
            }
            for p in 0..kc {
                for i in h..MR {
                    // SAFETY: `p < kc` and `i < MR`: inside the panel.
                    unsafe { *d.add(p * MR + i) = 0.0 };
                }
            }
        }
        r += 1;
    }
}

/// One `MR × NR` tile of `c` (its top-left corner at `c.ptr`, `rows × cols` of it real) continued over `kc`
/// steps: from zero when `first`, else from `c`'s values. Row `i`'s value at step `p` is
/// `rows_at[i][p · AS]` (`AS = MR` for a packed panel, `1` for a row read in place); `b` is packed. A
/// partial or strided tile goes through a copy.
///
/// # Safety
/// Each `rows_at[i]` holds `(kc - 1) · AS + 1` readable floats and `bp` `kc · NR` packed floats; the real
/// part of the tile (`rows ≤ MR` rows, `cols ≤ NR` columns) lies inside `c`; the CPU has `V`'s family.
#[inline(always)]
unsafe fn micro<V: Vector, const MR: usize, const NV: usize, const AS: usize>(
    kc: usize,
    rows_at: [*const f32; MR],
    bp: *const f32,
    c: MatMut,
    rows: usize,
    cols: usize,
    first: bool,
) {
    // NR is at most 64 columns (16 or 32 in the families), the width of the spare tile below.
    const { assert!(NV * V::LANES <= 64) };
    if rows == MR && cols == NV * V::LANES && c.cs == 1 {
        // SAFETY: the whole `MR × NR` tile is real, so inside `c`, and its rows are contiguous; the rest
        // is this function's contract.
        return unsafe { micro_full::<V, MR, NV, AS>(kc, rows_at, bp, c, first) };
    }
    let mut spare = [[0.0f32; 64]; MR];
    if !first {
        for (i, row) in spare.iter_mut().enumerate().take(rows) {
            for (j, x) in row.iter_mut().enumerate().take(cols) {
                // SAFETY: `i < rows` and `j < cols`: the tile's real part, inside `c`.
                *x = unsafe { *c.addr(i, j) };
            }
        }
    }
    let tile = MatMut {
        ptr: spare.as_mut_ptr().cast::<f32>(),
        rs: 64,
        cs: 1,
    };
    // SAFETY: `spare` is a whole `MR × 64` tile with contiguous rows, and `NR ≤ 64` (asserted at compile
    // time above); the rows and `bp` are as this function's contract says; the CPU has `V`'s family.
    unsafe { micro_full::<V, MR, NV, AS>(kc, rows_at, bp, tile, first) };
    for (i, row) in spare.iter().enumerate().take(rows) {
        for (j, &x) in row.iter().enumerate().take(cols) {
            // SAFETY: `i < rows` and `j < cols`: the tile's real part, inside `c`.
            unsafe { *c.addr(i, j) = x };
        }
    }
}

/// [`micro`] on a whole tile whose rows are contiguous (`c.cs == 1`).
///
/// # Safety
/// As [`micro`], with all of the `MR × NR` tile inside `c` and `c.cs == 1`.
#[inline(always)]
unsafe fn micro_full<V: Vector, const MR: usize, const NV: usize, const AS: usize>(
    kc: usize,
    rows_at: [*const f32; MR],
    bp: *const f32,
    c: MatMut,
    first: bool,
) {
    let lanes = V::LANES;
    // SAFETY: the CPU has `V`'s family (this function's contract).
    let mut acc = [[unsafe { V::zero() }; NV]; MR];
    if !first {
        for (i, row) in acc.iter_mut().enumerate() {
            for (v, x) in row.iter_mut().enumerate() {
                // SAFETY: `i < MR` and columns `v · lanes..(v + 1) · lanes ≤ NR` of row `i`, contiguous
                // (`c.cs == 1`) inside the whole tile; the CPU has `V`'s family.
                *x = unsafe { V::load(c.addr(i, v * lanes)) };
            }
        }
    }
    // Four steps per turn of the loop (each chain still takes its steps in order).
    let mut p = 0;
    while p + 4 <= kc {
        // SAFETY: `p + 3 < kc`; the rows, `bp` and the CPU as this function's contract says.
        unsafe {
            micro_step::<V, MR, NV, AS>(&mut acc, &rows_at, bp, p);
            micro_step::<V, MR, NV, AS>(&mut acc, &rows_at, bp, p + 1);
            micro_step::<V, MR, NV, AS>(&mut acc, &rows_at, bp, p + 2);
            micro_step::<V, MR, NV, AS>(&mut acc, &rows_at, bp, p + 3);
        }
        p += 4;
    }
    while p < kc {
        // SAFETY: `p < kc`; the rows, `bp` and the CPU as this function's contract says.
        unsafe { micro_step::<V, MR, NV, AS>(&mut acc, &rows_at, bp, p) };
        p += 1;
    }
    for (i, row) in acc.iter().enumerate() {
        for (v, x) in row.iter().enumerate() {
            // SAFETY: as the loads above: `lanes` contiguous floats of row `i < MR` inside the tile.
            unsafe { x.store(c.addr(i, v * lanes)) };
        }
    }
}

/// Step `p` of [`micro_full`]: every chain of the tile takes one multiply-add.
///
/// # Safety
/// As [`micro_full`], with `p < kc`.
#[inline(always)]
unsafe fn micro_step<V: Vector, const MR: usize, const NV: usize, const AS: usize>(
    acc: &mut [[V; NV]; MR],
    rows_at: &[*const f32; MR],
    bp: *const f32,
    p: usize,
) {
    // (Plain loops, not closures: a closure would not inherit the family's target features.)
    let lanes = V::LANES;
    // SAFETY: the CPU has `V`'s family (this function's contract).
    let mut bv = [unsafe { V::zero() }; NV];
    for (v, b) in bv.iter_mut().enumerate() {
        // SAFETY: `(p · NV + v + 1) · lanes ≤ kc · NR` (`p < kc`, `v < NV`): inside the packed panel `bp`.
        *b = unsafe { V::load(bp.add((p * NV + v) * lanes)) };
    }
    for (row, at) in acc.iter_mut().zip(rows_at) {
        // SAFETY: `p · AS ≤ (kc - 1) · AS`: one of the row's readable floats; the CPU has `V`'s family.
        let av = unsafe { V::splat(*at.add(p * AS)) };
        for (x, &b) in row.iter_mut().zip(&bv) {
            // SAFETY: registers only; the CPU has `V`'s family.
            *x = unsafe { V::fma(av, b, *x) };
        }
    }
}

/// `c ← a·Wᵀ` for `m ≤` [`GEMV_ROWS`] rows of `a` (`m × k`) against weights packed in panels of eight
/// outputs (`packed[(j / 8) · k · 8 + p · 8 + j % 8]`, see `nn::Weights`), panels `first..` of them: one
/// vector chain per panel and row, `G` panels side by side. `c` is `(m, n)`, `n` the outputs.
///
/// # Safety
/// `1 ≤ m ≤ 4`; `packed` holds `n.div_ceil(8) · k · 8` floats; `a` is `(m, k)` and `c` `(m, n)` inside live
/// allocations as their strides say, `c` aliasing neither; the CPU has `V`'s family. (`V::LANES == 8` is
/// checked at compile time.)
#[inline(always)]
pub(crate) unsafe fn gemv_packed<V: Vector>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    packed: *const f32,
    c: MatMut,
) {
    const { assert!(V::LANES == 8) };
    let panels = n.div_ceil(8);
    // SAFETY: each arm's `M` is `m` (`1 ≤ m ≤ 4`, so `_` is 4), so the rows read and written are those of
    // `a` and `c`; `packed` holds all `panels` panels; the rest is this function's contract.
    unsafe {
        match m {
            1 => gemv_packed_rows::<V, 1, 4>(n, k, a, packed, c, panels),
            2 => gemv_packed_rows::<V, 2, 2>(n, k, a, packed, c, panels),
            3 => gemv_packed_rows::<V, 3, 2>(n, k, a, packed, c, panels),
            _ => gemv_packed_rows::<V, 4, 1>(n, k, a, packed, c, panels),
        }
    }
}

/// [`gemv_packed`] for `M` rows, `G` panels at a time, then one at a time.
///
/// # Safety
/// As [`gemv_packed`] with `M` for `m`, and `panels == n.div_ceil(8)`.
#[inline(always)]
unsafe fn gemv_packed_rows<V: Vector, const M: usize, const G: usize>(
    n: usize,
    k: usize,
    a: Mat,
    packed: *const f32,
    c: MatMut,
    panels: usize,
) {
    let mut q = 0;
    while q + G <= panels {
        // SAFETY: `q + G ≤ panels`: panels `q..q + G` lie inside `packed`; the rest as this function's
        // contract says.
        unsafe { gemv_panels::<V, M, G>(n, k, a, packed, c, q) };
        q += G;
    }
    while q < panels {
        // SAFETY: `q < panels`: panel `q` lies inside `packed`; the rest as this function's contract says.
        unsafe { gemv_panels::<V, M, 1>(n, k, a, packed, c, q) };
        q += 1;
    }
}

/// Panels `q..q + G` for rows `0..M`.
///
/// # Safety
/// As [`gemv_packed`] with `M` for `m`, and `q + G ≤ n.div_ceil(8)`.
#[inline(always)]
unsafe fn gemv_panels<V: Vector, const M: usize, const G: usize>(
    n: usize,
    k: usize,
    a: Mat,
    packed: *const f32,
    c: MatMut,
    q: usize,
) {
    // SAFETY: the CPU has `V`'s family (this function's contract).
    let mut acc = [[unsafe { V::zero() }; G]; M];
    // SAFETY: `q < n.div_ceil(8)`: panel `q` starts inside `packed`.
    let base = unsafe { packed.add(q * k * 8) };
    for p in 0..k {
        // SAFETY: the CPU has `V`'s family.
        let mut w = [unsafe { V::zero() }; G];
        for (g, w) in w.iter_mut().enumerate() {
            // SAFETY: `q + g < n.div_ceil(8)` and `p < k`: the eight floats of step `p` of panel `q + g`,
            // inside `packed`; `V::LANES == 8`.
            *w = unsafe { V::load(base.add((g * k + p) * 8)) };
        }
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: `i < M = m` and `p < k`: inside `a`; the CPU has `V`'s family.
            let av = unsafe { V::splat(a.at(i, p)) };
            for (x, &w) in row.iter_mut().zip(&w) {
                // SAFETY: registers only; the CPU has `V`'s family.
                *x = unsafe { V::fma(av, w, *x) };
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (g, x) in row.iter().enumerate() {
            let j0 = (q + g) * 8;
            let mut lanes = [0.0f32; 8];
            // SAFETY: `lanes` holds the vector's eight floats (`V::LANES == 8`); the CPU has `V`'s family.
            unsafe { x.store(lanes.as_mut_ptr()) };
            for (t, &v) in lanes.iter().enumerate().take(n.saturating_sub(j0).min(8)) {
                // SAFETY: `i < m` and `j0 + t < n`: inside `c`.
                unsafe { *c.addr(i, j0 + t) = v };
            }
        }
    }
}
