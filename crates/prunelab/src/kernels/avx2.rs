//! The AVX2 + FMA family: 8-lane vectors.

use std::arch::x86_64::*;
use std::ops::Range;

use super::dense::{self, Mat, MatMut, Path};
use super::sparse::{self, Entries, Offset, Operands, Sliced, SLICE};
use super::vector::Vector;

/// Eight f32 lanes in a `ymm` register.
#[derive(Clone, Copy)]
pub(super) struct F32x8(__m256);

impl Vector for F32x8 {
    const LANES: usize = 8;

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller guarantees this family's features, AVX among them.
        F32x8(unsafe { _mm256_setzero_ps() })
    }

    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: the caller guarantees this family's features, AVX among them.
        F32x8(unsafe { _mm256_set1_ps(x) })
    }

    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees AVX and that `p..p + 8` is readable (unaligned is allowed).
        F32x8(unsafe { _mm256_loadu_ps(p) })
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees AVX and that `p..p + 8` is writable (unaligned is allowed).
        unsafe { _mm256_storeu_ps(p, self.0) }
    }

    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller guarantees this family's features, FMA among them.
        F32x8(unsafe { _mm256_fmadd_ps(a.0, b.0, c.0) })
    }

    #[inline(always)]
    unsafe fn pack_columns(
        dst: *mut f32,
        b: Mat,
        pc: usize,
        j0: usize,
        kc: usize,
        w: usize,
        nr: usize,
    ) {
        // SAFETY: the caller guarantees AVX2 (this family's features) and the block and `dst` as
        // `pack_columns` requires (the same contract as this trait method's).
        unsafe { pack_columns(dst, b, pc, j0, kc, w, nr) }
    }
}

/// [`Vector::pack_columns`] with 8 × 8 transposes in registers (also the AVX-512 family's).
///
/// # Safety
/// The CPU has AVX2; otherwise as [`Vector::pack_columns`].
#[inline(always)]
pub(super) unsafe fn pack_columns(
    dst: *mut f32,
    b: Mat,
    pc: usize,
    j0: usize,
    kc: usize,
    w: usize,
    nr: usize,
) {
    let mut t0 = 0;
    while t0 + 8 <= w {
        // SAFETY: `t0 < w`: `(pc, j0 + t0)` lies inside the block of `b`.
        let col = unsafe { b.addr(pc, j0 + t0) };
        let mut p = 0;
        while p + 8 <= kc {
            // SAFETY: the caller guarantees AVX.
            let mut rows = [unsafe { _mm256_setzero_ps() }; 8];
            for (t, r) in rows.iter_mut().enumerate() {
                // SAFETY: `b.rs == 1`: rows `pc + p..pc + p + 8` (`p + 8 ≤ kc`) of column `j0 + t0 + t`
                // (`t0 + t < w`) are eight contiguous floats inside the block; the caller guarantees AVX.
                *r = unsafe { _mm256_loadu_ps(col.offset(t as isize * b.cs).add(p)) };
            }
            // SAFETY: the caller guarantees AVX.
            let cols = unsafe { transpose8(rows) };
            for (q, y) in cols.iter().enumerate() {
                // SAFETY: row `p + q < kc` of `dst`, columns `t0..t0 + 8 ≤ w ≤ nr`: inside `kc · nr`.
                unsafe { _mm256_storeu_ps(dst.add((p + q) * nr + t0), *y) };
            }
            p += 8;
        }
        for p in p..kc {
            for t in 0..8 {
                // SAFETY: element `(pc + p, j0 + t0 + t)` of the block (`b.rs == 1`, `p < kc`,
                // `t0 + t < w`); `p · nr + t0 + t < kc · nr` lies inside `dst`.
                unsafe { *dst.add(p * nr + t0 + t) = *col.offset(t as isize * b.cs).add(p) };
            }
        }
        t0 += 8;
    }
    for t in t0..w {
        // SAFETY: `t < w`: `(pc, j0 + t)` lies inside the block of `b`.
        let col = unsafe { b.addr(pc, j0 + t) };
        for p in 0..kc {
            // SAFETY: `b.rs == 1`: `col + p` is element `(pc + p, j0 + t)` (`p < kc`); `p · nr + t < kc · nr`.
            unsafe { *dst.add(p * nr + t) = *col.add(p) };
        }
    }
}

/// `c (+)= a·b`.
///
/// # Safety
/// The CPU has AVX2 and FMA; `a` is `(m, k)`, `b` `(k, n)`, `c` `(m, n)`, inside live allocations, `c`
/// aliasing neither; `m`, `n` and `k` are at least 1.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    c: MatMut,
    accumulate: bool,
) {
    match dense::path(m, n, k, a, b) {
        // SAFETY: AVX2 and FMA are enabled here (this function's contract); shapes as the caller guarantees.
        Path::Small => unsafe { small(m, n, k, a, b, c, accumulate) },
        // SAFETY: `path` picks `Gemv` only for `m ≤ 4` with `b.rs == 1`, and `m · n · k` above
        // `SMALL_MAX_FLOPS` (so `m ≥ 1`); AVX2 and FMA are enabled here; shapes as the caller guarantees.
        Path::Gemv => unsafe { gemv(m, n, k, a, b, c, accumulate) },
        // cᵀ = bᵀ·aᵀ, with the factors of each product swapped (the same bits).
        // SAFETY: `path` picks `GemvT` only for `1 ≤ n ≤ 4` with `a.cs == 1`, so `bᵀ` is `(n, k)` and `aᵀ`
        // is `(k, m)` with contiguous columns (`aᵀ.rs == a.cs == 1`), `cᵀ` `(n, m)`; AVX2 and FMA are enabled.
        Path::GemvT => unsafe { gemv(n, m, k, b.t(), a.t(), c.t(), accumulate) },
        // SAFETY: AVX2 and FMA are enabled here (`F32x8`'s family); shapes as the caller guarantees, `k ≥ 1`.
        Path::Gemm => unsafe { dense::gemm::<F32x8, 6, 2>(m, n, k, a, b, c, accumulate) },
    }
}

/// [`dense::small`] with eight outputs of one column of `c` in the lanes of a vector: tiles of 8 × 4
/// outputs along the longer side of `c` (`cᵀ = bᵀ·aᵀ` where `c` has fewer than eight rows), the rest by
/// [`dense::small`]. Each lane is its output's `mul_add` chain over `k`, the same bits as the scalar tiles.
///
/// # Safety
/// The CPU has AVX2 and FMA; otherwise as [`dense::small`], with `m`, `n` and `k` at least 1.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn small(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    c: MatMut,
    accumulate: bool,
) {
    if m < 8 && n < 8 && k >= ROWS_LANES_K {
        if b.cs == 1 {
            // SAFETY: this function's contract, with `m, n < 8` and `b`'s rows contiguous.
            return unsafe { rows_lanes(m, n, k, a, b, c, accumulate) };
        }
        if a.rs == 1 {
            // SAFETY: `cᵀ = bᵀ·aᵀ` with `bᵀ` `(n, k)`, `aᵀ` `(k, m)` (rows contiguous: `aᵀ.cs == a.rs == 1`)
            // and `cᵀ` `(n, m)`, the same memory as `b`, `a` and `c`; AVX2 and FMA as the caller
            // guarantees.
            return unsafe { rows_lanes(n, m, k, b.t(), a.t(), c.t(), accumulate) };
        }
    }
    if m < 8 && n >= 8 {
        // SAFETY: `cᵀ = bᵀ·aᵀ` with `bᵀ` `(n, k)`, `aᵀ` `(k, m)` and `cᵀ` `(n, m)`, the same memory as
        // `b`, `a` and `c`; AVX2 and FMA as the caller guarantees.
        return unsafe { small_lanes(n, m, k, b.t(), a.t(), c.t(), accumulate) };
    }
    // SAFETY: this function's contract, unchanged.
    unsafe { small_lanes(m, n, k, a, b, c, accumulate) }
}

/// The shortest sums [`rows_lanes`] takes: below, the scalar tiles' few steps cost less than its masks.
const ROWS_LANES_K: usize = 16;

/// [`small`] for `c` of at most 7 × 7 outputs and long sums, with `b`'s rows contiguous (a small layer's
/// weight gradient, `∂L/∂Zᵀ·X` over a batch): one vector per row of `c`, its lanes the columns, fed by each
/// row of `b` loaded under a mask, so every output's chain is in flight at once. Each lane is its output's
/// `mul_add` chain over `k` in order, from zero or from `c`: the same bits as [`dense::small`]'s tiles.
///
/// # Safety
/// The CPU has AVX2 and FMA; `a` is `(m, k)`, `b` is `(k, n)` with `b.cs == 1`, `c` is `(m, n)`, inside
/// live allocations, `c` aliasing neither; `1 ≤ m, n ≤ 7`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_lanes(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: MatMut, accumulate: bool) {
    // SAFETY: the match only picks the constant row count `R = m` for every arm; the rest is this
    // function's contract.
    unsafe {
        match m {
            1 => rows_lanes_tile::<1>(n, k, a, b, c, accumulate),
            2 => rows_lanes_tile::<2>(n, k, a, b, c, accumulate),
            3 => rows_lanes_tile::<3>(n, k, a, b, c, accumulate),
            4 => rows_lanes_tile::<4>(n, k, a, b, c, accumulate),
            5 => rows_lanes_tile::<5>(n, k, a, b, c, accumulate),
            6 => rows_lanes_tile::<6>(n, k, a, b, c, accumulate),
            _ => rows_lanes_tile::<7>(n, k, a, b, c, accumulate),
        }
    }
}

/// [`rows_lanes`] with `R = m` rows.
///
/// # Safety
/// As [`rows_lanes`], with `m == R`.
#[inline(always)]
unsafe fn rows_lanes_tile<const R: usize>(
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    c: MatMut,
    accumulate: bool,
) {
    // SAFETY: the caller guarantees AVX2 and FMA; every load and store below touches lanes `j < n` only
    // (the mask, or the scalar loops), each inside its matrix as the comments say.
    unsafe {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lane);
        let mut s = [_mm256_setzero_ps(); R];
        if accumulate {
            for (r, v) in s.iter_mut().enumerate() {
                let mut lanes = [0.0f32; 8];
                for (j, x) in lanes.iter_mut().enumerate().take(n) {
                    // `r < R = m`, `j < n`: inside `c`.
                    *x = *c.addr(r, j);
                }
                *v = _mm256_loadu_ps(lanes.as_ptr());
            }
        }
        for p in 0..k {
            // Row `p < k` of `b`: its `n` floats are contiguous (`b.cs == 1`); the mask reads no others.
            let bv = _mm256_maskload_ps(b.addr(p, 0), mask);
            for (r, v) in s.iter_mut().enumerate() {
                // `r < m`, `p < k`: inside `a`.
                *v = _mm256_fmadd_ps(_mm256_set1_ps(a.at(r, p)), bv, *v);
            }
        }
        for (r, v) in s.iter().enumerate() {
            if c.cs == 1 {
                // Row `r < m` of `c`: its `n` floats are contiguous; the mask writes no others.
                _mm256_maskstore_ps(c.addr(r, 0), mask, *v);
            } else {
                let mut lanes = [0.0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), *v);
                for (j, &x) in lanes.iter().enumerate().take(n) {
                    // `r < m`, `j < n`: inside `c`.
                    *c.addr(r, j) = x;
                }
            }
        }
    }
}

/// [`small`] with the lanes along the rows of `c`.
///
/// # Safety
/// As [`small`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn small_lanes(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: MatMut, accumulate: bool) {
    let whole = m / 8 * 8;
    for i in (0..whole).step_by(8) {
        let mut j = 0;
        while j < n {
            let w = (n - j).min(4);
            // SAFETY: the match only picks the tile's constant width `W = w`; every arm's tile is rows
            // `i..i + 8` (`i + 8 ≤ whole ≤ m`) and columns `j..j + w` (`w ≤ n - j`), inside `c`, reading
            // those rows of `a` and columns of `b`; AVX2 and FMA as the caller guarantees.
            unsafe {
                match w {
                    4 => lanes_tile::<4>(a, b, c, i, j, k, accumulate),
                    3 => lanes_tile::<3>(a, b, c, i, j, k, accumulate),
                    2 => lanes_tile::<2>(a, b, c, i, j, k, accumulate),
                    _ => lanes_tile::<1>(a, b, c, i, j, k, accumulate),
                }
            }
            j += w;
        }
    }
    if whole < m {
        // The last `m - whole` rows: row `whole < m` onwards of `a` and `c`.
        let a = Mat {
            // SAFETY: `whole < m` and `k ≥ 1` (this function's contract): `(whole, 0)` lies inside `a`.
            ptr: unsafe { a.addr(whole, 0) },
            ..a
        };
        let c = MatMut {
            // SAFETY: `whole < m` and `n ≥ 1` (this function's contract): `(whole, 0)` lies inside `c`.
            ptr: unsafe { c.addr(whole, 0) },
            ..c
        };
        // SAFETY: `a` and `c` are now the `(m - whole, k)` and `(m - whole, n)` bottoms of the caller's
        // matrices, `b` is unchanged.
        unsafe { dense::small(m - whole, n, k, a, b, c, accumulate) }
    }
}

/// Eight values `p, p + s, .., p + 7s` in one vector.
///
/// # Safety
/// The CPU has AVX2; the eight addresses are readable.
#[inline(always)]
unsafe fn load_strided(p: *const f32, s: isize) -> __m256 {
    if s == 1 {
        // SAFETY: `s == 1`: the eight readable addresses are `p..p + 8`; the caller guarantees AVX.
        return unsafe { _mm256_loadu_ps(p) };
    }
    let ld = |t: usize| {
        // SAFETY: `load8` calls this with `t < 8`: `p + t·s` is one of the eight addresses the caller
        // guarantees readable.
        unsafe { _mm_load_ss(p.offset(t as isize * s)) }
    };
    // SAFETY: the caller guarantees AVX, all `load8` needs.
    unsafe { load8(ld) }
}

/// Eight values, lane `t` the one `ld(t)` loads (into its lowest lane, `t < 8`), put together with inserts:
/// on Zen 3 faster than a gather instruction.
///
/// # Safety
/// The CPU has AVX (`ld` itself is a safe closure: its body vouches for its own loads).
#[inline(always)]
unsafe fn load8(ld: impl Fn(usize) -> __m128) -> __m256 {
    // SAFETY: the caller guarantees AVX (SSE4.1's `insertps` with it); registers only, no memory access.
    unsafe {
        let mut lo = ld(0);
        lo = _mm_insert_ps::<0x10>(lo, ld(1));
        lo = _mm_insert_ps::<0x20>(lo, ld(2));
        lo = _mm_insert_ps::<0x30>(lo, ld(3));
        let mut hi = ld(4);
        hi = _mm_insert_ps::<0x10>(hi, ld(5));
        hi = _mm_insert_ps::<0x20>(hi, ld(6));
        hi = _mm_insert_ps::<0x30>(hi, ld(7));
        _mm256_set_m128(hi, lo)
    }
}

/// `c[i + t, j + w] (+)= a[i + t, ..] · b[.., j + w]` for `t < 8`, `w < W`: one vector per column of the
/// tile.
///
/// # Safety
/// The CPU has AVX2 and FMA; the tile lies inside `a`, `b` and `c`: rows `i..i + 8` of `a` and `c`,
/// columns `j..j + W` of `b` and `c`, steps `0..k` of `a`'s columns and `b`'s rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn lanes_tile<const W: usize>(
    a: Mat,
    b: Mat,
    c: MatMut,
    i: usize,
    j: usize,
    k: usize,
    accumulate: bool,
) {
    // SAFETY: the caller guarantees AVX.
    let mut s = [unsafe { _mm256_setzero_ps() }; W];
    if accumulate {
        for (w, v) in s.iter_mut().enumerate() {
            // SAFETY: `w < W`: rows `i..i + 8` of column `j + w`, inside `c`, one row stride apart;
            // the caller guarantees AVX.
            *v = unsafe { load_strided(c.addr(i, j + w), c.rs) };
        }
    }
    for p in 0..k {
        // SAFETY: `p < k`: rows `i..i + 8` of column `p`, inside `a`, one row stride apart; AVX.
        let av = unsafe { load_strided(a.addr(i, p), a.rs) };
        for (w, v) in s.iter_mut().enumerate() {
            // SAFETY: `p < k` and `w < W`: element `(p, j + w)` inside `b`; the caller guarantees AVX2
            // and FMA.
            *v = unsafe { _mm256_fmadd_ps(av, _mm256_set1_ps(b.at(p, j + w)), *v) };
        }
    }
    for (w, v) in s.iter().enumerate() {
        // SAFETY: `w < W`: `(i, j + w)` lies inside `c`.
        let out = unsafe { c.addr(i, j + w) };
        if c.rs == 1 {
            // SAFETY: `c.rs == 1`: rows `i..i + 8` of column `j + w` are eight contiguous floats of `c`.
            unsafe { _mm256_storeu_ps(out, *v) };
        } else {
            let mut lanes = [0.0f32; 8];
            // SAFETY: `lanes` holds eight floats; the caller guarantees AVX.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *v) };
            for (t, &x) in lanes.iter().enumerate() {
                // SAFETY: `t < 8`: element `(i + t, j + w)`, inside `c`.
                unsafe { *out.offset(t as isize * c.rs) = x };
            }
        }
    }
}

/// One to four rows of `a` against `b` with contiguous columns (a layer's weights read as `Wᵀ`, one sample
/// or a few): the running sums of every column in an L1-sized buffer, swept over `k` in steps of 16 (a
/// cache line of each column); per block of eight columns and eight steps, the block is transposed in
/// registers so that each lane carries one column's chain. The blocks' chains are independent, so the
/// CPU overlaps consecutive blocks.
///
/// # Safety
/// As [`matmul`], with `1 ≤ m ≤ 4` and `b.rs == 1`. Also called by the AVX-512 family.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemv(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    c: MatMut,
    accumulate: bool,
) {
    let n8 = n / 8 * 8;
    if n8 > 0 {
        let mut sums = vec![0.0f32; m * n8];
        if accumulate {
            for i in 0..m {
                for j in 0..n8 {
                    // SAFETY: `i < m` and `j < n8 ≤ n`: inside `c`.
                    sums[i * n8 + j] = unsafe { *c.addr(i, j) };
                }
            }
        }
        let s = sums.as_mut_ptr();
        // SAFETY: each arm's `M` is `m` (`1 ≤ m ≤ 4`, so `_` is 4): rows `0..m` of `a`; `s` holds the
        // `m · n8` sums; `b.rs == 1` and columns `0..n8 ≤ n`, steps `0..k` of `b`; AVX2 and FMA are enabled.
        unsafe {
            match m {
                1 => gemv_sweep::<1>(n8, k, a, b, s),
                2 => gemv_sweep::<2>(n8, k, a, b, s),
                3 => gemv_sweep::<3>(n8, k, a, b, s),
                _ => gemv_sweep::<4>(n8, k, a, b, s),
            }
        }
        for i in 0..m {
            for j in 0..n8 {
                // SAFETY: `i < m` and `j < n8 ≤ n`: inside `c`.
                unsafe { *c.addr(i, j) = sums[i * n8 + j] };
            }
        }
    }
    // SAFETY: columns `n8..n` with the same operands: `b.rs == 1`, `k ≥ 1`, `n8 ≤ n`.
    unsafe { dense::gemv_scalar(m, n, k, a, b, c, accumulate, n8) };
}

/// [`gemv`]'s sweep for `M` rows over columns `0..n8` (a multiple of eight), sums at `s[i · n8 + j]`.
///
/// # Safety
/// As [`gemv`] with `M` for `m`, and `n8 ≤ n` a multiple of eight; `s` holds `M · n8` floats.
#[inline(always)]
unsafe fn gemv_sweep<const M: usize>(n8: usize, k: usize, a: Mat, b: Mat, s: *mut f32) {
    let cs = b.cs;
    let mut p = 0;
    while p < k {
        let steps = 16.min(k - p);
        // This sweep's values of `a`, contiguous (its broadcasts then need no address arithmetic).
        let mut av = [[0.0f32; 16]; M];
        for (i, row) in av.iter_mut().enumerate() {
            for (q, v) in row.iter_mut().enumerate().take(steps) {
                // SAFETY: `i < M = m` and `p + q < p + steps ≤ k`: inside `a`.
                *v = unsafe { a.at(i, p + q) };
            }
        }
        let mut j = 0;
        while j < n8 {
            // SAFETY: the caller guarantees AVX.
            let mut acc = [unsafe { _mm256_setzero_ps() }; M];
            for (i, x) in acc.iter_mut().enumerate() {
                // SAFETY: `i < M` and `j + 8 ≤ n8`: eight of the `M · n8` sums at `s`.
                *x = unsafe { _mm256_loadu_ps(s.add(i * n8 + j)) };
            }
            // Column j + t, step p + q at col + t·cs + q.
            // SAFETY: `p < k` and `j < n8 ≤ n`: inside `b`.
            let col = unsafe { b.addr(p, j) };
            let mut q0 = 0;
            while q0 + 8 <= steps {
                // SAFETY: the caller guarantees AVX.
                let mut rows = [unsafe { _mm256_setzero_ps() }; 8];
                for (t, r) in rows.iter_mut().enumerate() {
                    // SAFETY: `b.rs == 1`: steps `p + q0..p + q0 + 8 ≤ k` of column `j + t < n8` are eight
                    // contiguous floats of `b`.
                    *r = unsafe { _mm256_loadu_ps(col.offset(t as isize * cs).add(q0)) };
                }
                // SAFETY: the caller guarantees AVX.
                let y = unsafe { transpose8(rows) };
                for (q, y) in y.iter().enumerate() {
                    for (i, x) in acc.iter_mut().enumerate() {
                        // SAFETY: registers only; the caller guarantees AVX2 and FMA.
                        *x = unsafe { _mm256_fmadd_ps(_mm256_set1_ps(av[i][q0 + q]), *y, *x) };
                    }
                }
                q0 += 8;
            }
            while q0 < steps {
                let mut v = [0.0f32; 8];
                for (t, v) in v.iter_mut().enumerate() {
                    // SAFETY: `b.rs == 1`: step `p + q0 < k` of column `j + t < n8`, inside `b`.
                    *v = unsafe { *col.offset(t as isize * cs).add(q0) };
                }
                // SAFETY: `v` holds eight floats; the caller guarantees AVX.
                let y = unsafe { _mm256_loadu_ps(v.as_ptr()) };
                for (i, x) in acc.iter_mut().enumerate() {
                    // SAFETY: registers only; the caller guarantees AVX2 and FMA.
                    *x = unsafe { _mm256_fmadd_ps(_mm256_set1_ps(av[i][q0]), y, *x) };
                }
                q0 += 1;
            }
            for (i, x) in acc.iter().enumerate() {
                // SAFETY: `i < M` and `j + 8 ≤ n8`: eight of the `M · n8` sums at `s`.
                unsafe { _mm256_storeu_ps(s.add(i * n8 + j), *x) };
            }
            j += 8;
        }
        p += steps;
    }
}

/// The 8 × 8 transpose: lane `t` of output `q` is lane `q` of input `t`.
///
/// # Safety
/// The CPU has AVX (true inside this family's kernels).
#[inline(always)]
pub(super) unsafe fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    // SAFETY: the caller guarantees AVX; these intrinsics only shuffle registers (no memory access).
    unsafe {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }
}

/// `c ← a·Wᵀ` from packed weights (see [`dense::gemv_packed`]).
///
/// # Safety
/// The CPU has AVX2 and FMA; otherwise as [`dense::gemv_packed`]. Also called by the AVX-512 family.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemv_packed(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    packed: *const f32,
    c: MatMut,
) {
    // SAFETY: AVX2 and FMA are enabled here (`F32x8`'s family, this function's contract); the operands as
    // the caller guarantees.
    unsafe { dense::gemv_packed::<F32x8>(m, n, k, a, packed, c) }
}

/// The CSR tile kernel. A batch of up to 112 samples (training's) is one tile per row (up to fourteen
/// accumulators of sixteen registers; two rows at a time up to 48 samples), so that each entry's weight
/// and column are read once per row; larger batches (inference's blocks of 128) take tiles of 32 samples
/// two rows at a time and a last tile of 16 four rows at a time (eight chains of eight lanes either way).
/// The tiles change no bit: each lane is its own chain.
///
/// # Safety
/// The CPU has AVX2 and FMA; otherwise as [`sparse::tiles`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn csr_tiles<P: Offset>(
    e: Entries<'_, P>,
    io: Operands,
    lanes: usize,
    rows: Range<usize>,
) {
    // SAFETY: AVX2 and FMA are enabled here (`F32x8`'s family, this function's contract); the entries and
    // operands as the caller guarantees.
    unsafe {
        match lanes / 16 {
            1 => sparse::tiles::<F32x8, P, 2, 4, 2, 4>(e, io, lanes, rows),
            2 => sparse::tiles::<F32x8, P, 4, 2, 2, 4>(e, io, lanes, rows),
            3 => sparse::tiles::<F32x8, P, 6, 2, 2, 4>(e, io, lanes, rows),
            4 => sparse::tiles::<F32x8, P, 8, 1, 2, 4>(e, io, lanes, rows),
            5 => sparse::tiles::<F32x8, P, 10, 1, 2, 4>(e, io, lanes, rows),
            6 => sparse::tiles::<F32x8, P, 12, 1, 2, 4>(e, io, lanes, rows),
            7 => sparse::tiles::<F32x8, P, 14, 1, 2, 4>(e, io, lanes, rows),
            _ => sparse::tiles::<F32x8, P, 4, 2, 2, 4>(e, io, lanes, rows),
        }
    }
}

/// The per-sample CSR kernel with the FMA unit.
///
/// # Safety
/// The CPU has AVX2 and FMA; otherwise as [`sparse::few`]. Also called by the AVX-512 family.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn csr_few(
    indptr: &[usize],
    indices: &[u32],
    values: &[f32],
    io: Operands,
    n: usize,
    rows: Range<usize>,
) {
    // SAFETY: the entries and operands as the caller guarantees (`few` needs no CPU feature; FMA, enabled
    // here, only makes its `mul_add` one instruction).
    unsafe { sparse::few(indptr, indices, values, io, n, rows) }
}

/// [`sparse::few_sliced`] with the FMA unit, a slice's eight rows in one vector.
///
/// # Safety
/// The CPU has AVX2 and FMA; otherwise as [`sparse::few_sliced`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn csr_few_sliced(sl: &Sliced, io: Operands, n: usize, rows: Range<usize>) {
    if n == 1 && io.stride == 1 {
        // SAFETY: sample `0 < n` with stride 1 (`UNIT`); the rest as the caller guarantees, AVX2 and FMA
        // enabled here.
        unsafe { few_sliced_lanes::<true>(sl, io, 0, &rows) }
    } else {
        for j in 0..n {
            // SAFETY: sample `j < n ≤ io.stride`; the rest as the caller guarantees, AVX2 and FMA enabled
            // here.
            unsafe { few_sliced_lanes::<false>(sl, io, j, &rows) }
        }
    }
}

/// [`sparse::few_sliced`] for sample `j` with a slice's eight rows in the lanes of one vector: per step
/// the eight inputs are loaded one by one into the vector (faster than a gather instruction on Zen 3, and
/// fewer loads than eight scalar chains), then one FMA. Each lane's chain is its row's chain in
/// [`sparse::few_sliced`], so the sums are the same, bit for bit. `UNIT`: one sample at stride 1.
///
/// # Safety
/// As [`csr_few_sliced`], with `j < n` (and `io.stride == 1` where `UNIT`).
#[inline(always)]
unsafe fn few_sliced_lanes<const UNIT: bool>(
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
    // SAFETY: `j < n ≤ io.stride`: sample `j` of input row 0, inside `xs` (which holds every input row).
    let x = unsafe { io.xs.add(j) };
    let mut lanes = [0.0f32; SLICE];
    for q in sl.slices_for(rows) {
        // SAFETY: the caller guarantees AVX.
        let mut acc = unsafe { _mm256_setzero_ps() };
        let mut at = sl.off[q];
        let end = sl.off[q + 1];
        while at < end {
            // SAFETY: `at < end = off[q + 1] ≤ indices.len()` (a checked layout).
            let i = unsafe { ind.add(at) };
            let ld = |k: usize| {
                // SAFETY: `load8` calls this with `k < 8`, so `at + k < end` (a slice's entries come in
                // whole steps of eight); the column `i[k]` is below the input rows (a checked layout;
                // padding uses a column of its row), so `x + column · stride` is sample `j` of an input
                // row, inside `xs`.
                unsafe { _mm_load_ss(x.add(*i.add(k) as usize * stride)) }
            };
            // SAFETY: the caller guarantees AVX, all `load8` needs.
            let v = unsafe { load8(ld) };
            // SAFETY: values `at..at + 8 ≤ end ≤ values.len()`; the caller guarantees AVX2 and FMA.
            acc = unsafe { _mm256_fmadd_ps(_mm256_loadu_ps(val.add(at)), v, acc) };
            at += SLICE;
        }
        // SAFETY: `lanes` holds eight floats; the caller guarantees AVX.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        for (g, &a) in lanes.iter().enumerate() {
            let r = sl.perm[q * SLICE + g] as usize;
            if rows.contains(&r) {
                // SAFETY: `r` is one of the computed rows and `j < n ≤ io.stride`: inside `out`.
                unsafe { *io.out.add((r - rows.start) * io.stride + j) = a };
            }
        }
    }
}
