//! The portable family: plain Rust with [`f32::mul_add`], for any CPU. On x86-64 with an FMA unit the same
//! code is compiled a second time with it enabled (`mul_add` then is one instruction instead of a call to
//! the C library's `fmaf`); both give the same bits, since `mul_add` rounds once by definition.

use std::ops::Range;

use super::dense::{self, Mat, MatMut, Path};
use super::sparse::{self, Entries, Offset, Operands, Sliced};
use super::vector::Vector;

/// Eight f32 lanes in an array (the compiler vectorises what it can).
#[derive(Clone, Copy)]
pub(super) struct F32s([f32; 8]);

impl Vector for F32s {
    const LANES: usize = 8;

    #[inline(always)]
    unsafe fn zero() -> Self {
        F32s([0.0; 8])
    }

    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        F32s([x; 8])
    }

    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        F32s(p.cast::<[f32; 8]>().read_unaligned())
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        p.cast::<[f32; 8]>().write_unaligned(self.0)
    }

    #[inline(always)]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        let mut out = c.0;
        for ((o, &a), &b) in out.iter_mut().zip(&a.0).zip(&b.0) {
            *o = a.mul_add(b, *o);
        }
        F32s(out)
    }
}

/// `c (+)= a·b` (the body both compilations share).
///
/// # Safety
/// As [`matmul`].
#[inline(always)]
unsafe fn matmul_any(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: MatMut, accumulate: bool) {
    match dense::path(m, n, k, a, b) {
        Path::Small => dense::small(m, n, k, a, b, c, accumulate),
        Path::Gemv => dense::gemv_scalar(m, n, k, a, b, c, accumulate, 0),
        Path::GemvT => dense::gemv_scalar(n, m, k, b.t(), a.t(), c.t(), accumulate, 0),
        Path::Gemm => dense::gemm::<F32s, 4, 2>(m, n, k, a, b, c, accumulate),
    }
}

/// [`matmul_any`] with the FMA unit.
///
/// # Safety
/// The CPU has FMA; otherwise as [`matmul`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn matmul_fma(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: MatMut, accumulate: bool) {
    matmul_any(m, n, k, a, b, c, accumulate)
}

/// `c (+)= a·b`.
///
/// # Safety
/// `a` is `(m, k)`, `b` `(k, n)`, `c` `(m, n)`, inside live allocations, `c` aliasing neither.
pub(super) unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    c: MatMut,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if super::has_fma() {
        return matmul_fma(m, n, k, a, b, c, accumulate);
    }
    matmul_any(m, n, k, a, b, c, accumulate)
}

/// [`gemv_packed`] with the FMA unit.
///
/// # Safety
/// The CPU has FMA; otherwise as [`gemv_packed`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn gemv_packed_fma(m: usize, n: usize, k: usize, a: Mat, packed: *const f32, c: MatMut) {
    dense::gemv_packed::<F32s>(m, n, k, a, packed, c)
}

/// `c ← a·Wᵀ` from packed weights.
///
/// # Safety
/// As [`dense::gemv_packed`].
pub(super) unsafe fn gemv_packed(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    packed: *const f32,
    c: MatMut,
) {
    #[cfg(target_arch = "x86_64")]
    if super::has_fma() {
        return gemv_packed_fma(m, n, k, a, packed, c);
    }
    dense::gemv_packed::<F32s>(m, n, k, a, packed, c)
}

/// [`csr_tiles`] with the FMA unit.
///
/// # Safety
/// The CPU has FMA; otherwise as [`csr_tiles`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn csr_tiles_fma<P: Offset>(
    e: Entries<'_, P>,
    io: Operands,
    lanes: usize,
    rows: Range<usize>,
) {
    sparse::tiles::<F32s, P, 2, 4, 2, 4>(e, io, lanes, rows)
}

/// The CSR tile kernel: tiles of 16 samples, four rows at a time.
///
/// # Safety
/// As [`sparse::tiles`].
pub(super) unsafe fn csr_tiles<P: Offset>(
    e: Entries<'_, P>,
    io: Operands,
    lanes: usize,
    rows: Range<usize>,
) {
    #[cfg(target_arch = "x86_64")]
    if super::has_fma() {
        return csr_tiles_fma(e, io, lanes, rows);
    }
    sparse::tiles::<F32s, P, 2, 4, 2, 4>(e, io, lanes, rows)
}

/// [`csr_few`] with the FMA unit.
///
/// # Safety
/// The CPU has FMA; otherwise as [`csr_few`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn csr_few_fma(
    indptr: &[usize],
    indices: &[u32],
    values: &[f32],
    io: Operands,
    n: usize,
    rows: Range<usize>,
) {
    sparse::few(indptr, indices, values, io, n, rows)
}

/// The per-sample CSR kernel.
///
/// # Safety
/// As [`sparse::few`].
pub(super) unsafe fn csr_few(
    indptr: &[usize],
    indices: &[u32],
    values: &[f32],
    io: Operands,
    n: usize,
    rows: Range<usize>,
) {
    #[cfg(target_arch = "x86_64")]
    if super::has_fma() {
        return csr_few_fma(indptr, indices, values, io, n, rows);
    }
    sparse::few(indptr, indices, values, io, n, rows)
}

/// [`csr_few_sliced`] with the FMA unit.
///
/// # Safety
/// The CPU has FMA; otherwise as [`csr_few_sliced`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn csr_few_sliced_fma(sl: &Sliced, io: Operands, n: usize, rows: Range<usize>) {
    sparse::few_sliced(sl, io, n, rows)
}

/// The per-sample CSR kernel on the sliced layout.
///
/// # Safety
/// As [`sparse::few_sliced`].
pub(super) unsafe fn csr_few_sliced(sl: &Sliced, io: Operands, n: usize, rows: Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    if super::has_fma() {
        return csr_few_sliced_fma(sl, io, n, rows);
    }
    sparse::few_sliced(sl, io, n, rows)
}
