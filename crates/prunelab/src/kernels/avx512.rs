//! The AVX-512 family: 16-lane vectors (the CPU also has AVX2 and FMA, whose kernels it shares where
//! wider vectors do not pay: a few rows against a matrix, a few samples of a CSR product).

use std::arch::x86_64::*;
use std::ops::Range;

use super::dense::{self, Mat, MatMut, Path};
use super::sparse::{self, Entries, Offset, Operands};
use super::vector::Vector;

/// Sixteen f32 lanes in a `zmm` register.
#[derive(Clone, Copy)]
pub(super) struct F32x16(__m512);

impl Vector for F32x16 {
    const LANES: usize = 16;

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the caller guarantees this family's features, AVX-512F among them.
        F32x16(unsafe { _mm512_setzero_ps() })
    }

    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: the caller guarantees this family's features, AVX-512F among them.
        F32x16(unsafe { _mm512_set1_ps(x) })
    }

    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees AVX-512F and that `p..p + 16` is readable (unaligned is allowed).
        F32x16(unsafe { _mm512_loadu_ps(p) })
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees AVX-512F and that `p..p + 16` is writable (unaligned is allowed).
        unsafe { _mm512_storeu_ps(p, self.0) }
    }

    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        // SAFETY: the caller guarantees this family's features, AVX-512F among them.
        F32x16(unsafe { _mm512_fmadd_ps(a.0, b.0, c.0) })
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
        // SAFETY: this family's CPUs have AVX2 too (the caller guarantees the family's features), and the
        // block and `dst` are as `pack_columns` requires (the same contract as this trait method's).
        unsafe { super::avx2::pack_columns(dst, b, pc, j0, kc, w, nr) }
    }
}

/// `c (+)= a·b`: 12 × 32 register tiles, or 10 × 32 where `m` fills those better.
///
/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA; otherwise as [`super::avx2::matmul`] (`m`, `n`, `k` at least 1).
#[target_feature(enable = "avx512f,avx2,fma")]
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
        Path::Small => unsafe { super::avx2::small(m, n, k, a, b, c, accumulate) },
        // SAFETY: `path` picks `Gemv` only for `m ≤ 4` with `b.rs == 1`, and `m · n · k` above
        // `SMALL_MAX_FLOPS` (so `m ≥ 1`); AVX2 and FMA are enabled here; shapes as the caller guarantees.
        Path::Gemv => unsafe { super::avx2::gemv(m, n, k, a, b, c, accumulate) },
        // SAFETY: `path` picks `GemvT` only for `1 ≤ n ≤ 4` with `a.cs == 1`, so `bᵀ` is `(n, k)` and `aᵀ`
        // is `(k, m)` with contiguous columns (`aᵀ.rs == a.cs == 1`), `cᵀ` `(n, m)`; AVX2 and FMA are enabled.
        Path::GemvT => unsafe { super::avx2::gemv(n, m, k, b.t(), a.t(), c.t(), accumulate) },
        // Ten-row tiles where they leave fewer rows idle (a training batch of 100: ten whole tiles against
        // eight and a third of one).
        // SAFETY: AVX-512F is enabled here (`F32x16`'s family); shapes as the caller guarantees, `k ≥ 1`.
        Path::Gemm if m.next_multiple_of(10) < m.next_multiple_of(12) => unsafe {
            dense::gemm::<F32x16, 10, 2>(m, n, k, a, b, c, accumulate)
        },
        // SAFETY: as above.
        Path::Gemm => unsafe { dense::gemm::<F32x16, 12, 2>(m, n, k, a, b, c, accumulate) },
    }
}

/// The CSR tile kernel. A batch of up to 112 samples (training's) is one tile per row, four rows at a time
/// or more (up to 28 accumulators of 32 registers), so that each entry's weight and column are read once
/// per row and feed up to seven multiply-adds; larger batches (inference's blocks of 128) take tiles of 32
/// samples four rows at a time and a last tile of 16 eight rows at a time. The tiles change no bit: each
/// lane is its own chain.
///
/// # Safety
/// The CPU has AVX-512F; otherwise as [`sparse::tiles`].
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn csr_tiles<P: Offset>(
    e: Entries<'_, P>,
    io: Operands,
    lanes: usize,
    rows: Range<usize>,
) {
    // SAFETY: AVX-512F is enabled here (`F32x16`'s family, this function's contract); the entries and
    // operands as the caller guarantees.
    unsafe {
        match lanes / 16 {
            1 => sparse::tiles::<F32x16, P, 1, 8, 1, 8>(e, io, lanes, rows),
            2 => sparse::tiles::<F32x16, P, 2, 4, 1, 8>(e, io, lanes, rows),
            3 => sparse::tiles::<F32x16, P, 3, 6, 1, 8>(e, io, lanes, rows),
            4 => sparse::tiles::<F32x16, P, 4, 6, 1, 8>(e, io, lanes, rows),
            5 => sparse::tiles::<F32x16, P, 5, 4, 1, 8>(e, io, lanes, rows),
            6 => sparse::tiles::<F32x16, P, 6, 4, 1, 8>(e, io, lanes, rows),
            7 => sparse::tiles::<F32x16, P, 7, 4, 1, 8>(e, io, lanes, rows),
            _ => sparse::tiles::<F32x16, P, 2, 4, 1, 8>(e, io, lanes, rows),
        }
    }
}
