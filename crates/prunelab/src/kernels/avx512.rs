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
        F32x16(_mm512_setzero_ps())
    }

    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        F32x16(_mm512_set1_ps(x))
    }

    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        F32x16(_mm512_loadu_ps(p))
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm512_storeu_ps(p, self.0)
    }

    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        F32x16(_mm512_fmadd_ps(a.0, b.0, c.0))
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
        super::avx2::pack_columns(dst, b, pc, j0, kc, w, nr)
    }
}

/// `c (+)= a·b`: 12 × 32 register tiles.
///
/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA; otherwise as [`super::avx2::matmul`].
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
        Path::Small => super::avx2::small(m, n, k, a, b, c, accumulate),
        Path::Gemv => super::avx2::gemv(m, n, k, a, b, c, accumulate),
        Path::GemvT => super::avx2::gemv(n, m, k, b.t(), a.t(), c.t(), accumulate),
        Path::Gemm => dense::gemm::<F32x16, 12, 2>(m, n, k, a, b, c, accumulate),
    }
}

/// The CSR tile kernel: tiles of 32 samples four rows at a time, a last tile of 16 eight rows at a time.
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
    sparse::tiles::<F32x16, P, 2, 4, 1, 8>(e, io, lanes, rows)
}
