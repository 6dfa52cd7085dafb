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
        // SAFETY: the caller guarantees `p..p + 8` readable; `read_unaligned` needs no alignment.
        F32s(unsafe { p.cast::<[f32; 8]>().read_unaligned() })
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees `p..p + 8` writable; `write_unaligned` needs no alignment.
        unsafe { p.cast::<[f32; 8]>().write_unaligned(self.0) }
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
        // SAFETY: shapes as the caller guarantees.
        Path::Small => unsafe { dense::small(m, n, k, a, b, c, accumulate) },
        // SAFETY: `path` picks `Gemv` only with `b.rs == 1` and `m · n · k` above `SMALL_MAX_FLOPS` (so
        // `k ≥ 1`); shapes as the caller guarantees; columns from 0.
        Path::Gemv => unsafe { dense::gemv_scalar(m, n, k, a, b, c, accumulate, 0) },
        // SAFETY: `path` picks `GemvT` only with `a.cs == 1`, so `aᵀ.rs == 1`; `bᵀ` is `(n, k)`, `aᵀ`
        // `(k, m)`, `cᵀ` `(n, m)`, the same memory as `b`, `a`, `c`; `k ≥ 1` as above.
        Path::GemvT => unsafe { dense::gemv_scalar(n, m, k, b.t(), a.t(), c.t(), accumulate, 0) },
        // SAFETY: `F32s` runs on any CPU; shapes as the caller guarantees, `k ≥ 1`.
        Path::Gemm => unsafe { dense::gemm::<F32s, 4, 2>(m, n, k, a, b, c, accumulate) },
    }
}

/// [`matmul_any`] with the FMA unit.
///
/// # Safety
/// The CPU has FMA; otherwise as [`matmul`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn matmul_fma(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: MatMut, accumulate: bool) {
    // SAFETY: the operands as the caller guarantees (FMA, enabled here, only makes `mul_add` one
    // instruction).
    unsafe { matmul_any(m, n, k, a, b, c, accumulate) }
}

/// `c (+)= a·b`.
///
/// # Safety
/// `a` is `(m, k)`, `b` `(k, n)`, `c` `(m, n)`, inside live allocations, `c` aliasing neither; `m`, `n` and
/// `k` are at least 1.
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
        // SAFETY: `has_fma` is the one-time CPU detection of `kernels` (`cpu()`): the CPU has FMA; the
        // operands as the caller guarantees.
        return unsafe { matmul_fma(m, n, k, a, b, c, accumulate) };
    }
    // SAFETY: the operands as the caller guarantees (no CPU feature needed).
    unsafe { matmul_any(m, n, k, a, b, c, accumulate) }
}

/// [`gemv_packed`] with the FMA unit.
///
/// # Safety
/// The CPU has FMA; otherwise as [`gemv_packed`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn gemv_packed_fma(m: usize, n: usize, k: usize, a: Mat, packed: *const f32, c: MatMut) {
    // SAFETY: `F32s` runs on any CPU; the operands as the caller guarantees.
    unsafe { dense::gemv_packed::<F32s>(m, n, k, a, packed, c) }
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
        // SAFETY: `has_fma` is the one-time CPU detection of `kernels` (`cpu()`): the CPU has FMA; the
        // operands as the caller guarantees.
        return unsafe { gemv_packed_fma(m, n, k, a, packed, c) };
    }
    // SAFETY: `F32s` runs on any CPU; the operands as the caller guarantees.
    unsafe { dense::gemv_packed::<F32s>(m, n, k, a, packed, c) }
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
    // SAFETY: `F32s` runs on any CPU; the entries and operands as the caller guarantees.
    unsafe { sparse::tiles::<F32s, P, 2, 4, 2, 4>(e, io, lanes, rows) }
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
        // SAFETY: `has_fma` is the one-time CPU detection of `kernels` (`cpu()`): the CPU has FMA; the
        // entries and operands as the caller guarantees.
        return unsafe { csr_tiles_fma(e, io, lanes, rows) };
    }
    // SAFETY: `F32s` runs on any CPU; the entries and operands as the caller guarantees.
    unsafe { sparse::tiles::<F32s, P, 2, 4, 2, 4>(e, io, lanes, rows) }
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
    // SAFETY: the entries and operands as the caller guarantees (no CPU feature needed).
    unsafe { sparse::few(indptr, indices, values, io, n, rows) }
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
        // SAFETY: `has_fma` is the one-time CPU detection of `kernels` (`cpu()`): the CPU has FMA; the
        // entries and operands as the caller guarantees.
        return unsafe { csr_few_fma(indptr, indices, values, io, n, rows) };
    }
    // SAFETY: the entries and operands as the caller guarantees (no CPU feature needed).
    unsafe { sparse::few(indptr, indices, values, io, n, rows) }
}

/// [`csr_few_sliced`] with the FMA unit.
///
/// # Safety
/// The CPU has FMA; otherwise as [`csr_few_sliced`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn csr_few_sliced_fma(sl: &Sliced, io: Operands, n: usize, rows: Range<usize>) {
    // SAFETY: the layout and operands as the caller guarantees (no CPU feature needed).
    unsafe { sparse::few_sliced(sl, io, n, rows) }
}

/// The per-sample CSR kernel on the sliced layout.
///
/// # Safety
/// As [`sparse::few_sliced`].
pub(super) unsafe fn csr_few_sliced(sl: &Sliced, io: Operands, n: usize, rows: Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    if super::has_fma() {
        // SAFETY: `has_fma` is the one-time CPU detection of `kernels` (`cpu()`): the CPU has FMA; the
        // layout and operands as the caller guarantees.
        return unsafe { csr_few_sliced_fma(sl, io, n, rows) };
    }
    // SAFETY: the layout and operands as the caller guarantees (no CPU feature needed).
    unsafe { sparse::few_sliced(sl, io, n, rows) }
}
