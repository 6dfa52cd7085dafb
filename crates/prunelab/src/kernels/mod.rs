//! The arithmetic kernels behind every layer — dense products, CSR products — for each vector family, and
//! the choice of family.
//!
//! # One order for every sum
//!
//! Every dot product in prunelab, dense or sparse, is **one chain of fused multiply-adds in index order**:
//! `s ← fma(a₀, b₀, s₀)`, `s ← fma(a₁, b₁, s)`, …, starting from `0` (or from the value being accumulated
//! into). The vector families differ only in how many such chains they run side by side (the lanes of a
//! vector hold different outputs, never parts of one sum), and blocking only decides when a chain's running
//! value is parked in memory and picked up again, which changes no bit. So the numbers do not depend on the
//! vector unit, the cache sizes, the batch size, the thread count or the kernel picked for a shape; the
//! sparse product of a masked network equals its dense product bit for bit (a pruned weight is a zero,
//! and `fma(0, x, s) = s` for finite `x`).
//!
//! # Families
//!
//! | family | where | vectors |
//! | --- | --- | --- |
//! | [`SimdFamily::Avx512`] | x86-64 with AVX-512F and AVX-512VL, AVX2 and FMA | 16 lanes |
//! | [`SimdFamily::Avx2`] | x86-64 with AVX2 and FMA | 8 lanes |
//! | [`SimdFamily::Portable`] | any CPU | plain Rust with [`f32::mul_add`] (the FMA unit where there is one) |
//!
//! The widest family the CPU has is used, detected once. `PRUNELAB_SIMD=avx512|avx2|portable` forces one
//! (so that one machine can run every path it has); a family the CPU lacks is refused with
//! [`Error::Simd`] by the calls that start work (building, training, inference), and
//! [`force_family`] does the same from code.
//!
//! ```
//! use prunelab::kernels::{self, SimdFamily};
//!
//! // The portable kernels run on every CPU and give the same bits as the vector ones.
//! assert!(kernels::supported_families().contains(&SimdFamily::Portable));
//! println!("computing with {}", kernels::active_family()?);
//! # Ok::<(), prunelab::Error>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use crate::error::{Error, Result};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod buffer;
pub(crate) mod dense;
mod mat;
mod portable;
pub(crate) mod sampled;
pub(crate) mod sampled_tiles;
pub(crate) mod sparse;
pub(crate) mod transpose;
mod vector;

pub(crate) use buffer::AlignedBuf;

/// A family of compute kernels, by the vector unit it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimdFamily {
    /// Plain Rust with [`f32::mul_add`]: any CPU.
    Portable,
    /// 256-bit AVX2 with FMA (x86-64).
    Avx2,
    /// 512-bit AVX-512F with AVX-512VL's 32 registers for 256-bit vectors too (x86-64; AVX2 and FMA too).
    Avx512,
}

impl SimdFamily {
    /// Every family, widest first.
    pub const ALL: [SimdFamily; 3] = [SimdFamily::Avx512, SimdFamily::Avx2, SimdFamily::Portable];

    /// The name `PRUNELAB_SIMD` takes: `avx512`, `avx2` or `portable`.
    pub fn name(self) -> &'static str {
        match self {
            SimdFamily::Avx512 => "avx512",
            SimdFamily::Avx2 => "avx2",
            SimdFamily::Portable => "portable",
        }
    }

    /// The family named `name` (as [`SimdFamily::name`] writes it, any case).
    pub fn from_name(name: &str) -> Result<SimdFamily> {
        SimdFamily::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| Error::Simd {
                reason: format!("unknown kernel family {name:?}: use avx512, avx2 or portable"),
            })
    }

    /// Whether this CPU runs the family's kernels.
    pub fn is_supported(self) -> bool {
        cpu().supports(self)
    }

    fn code(self) -> u8 {
        match self {
            SimdFamily::Portable => 1,
            SimdFamily::Avx2 => 2,
            SimdFamily::Avx512 => 3,
        }
    }

    fn from_code(code: u8) -> Option<SimdFamily> {
        SimdFamily::ALL.into_iter().find(|f| f.code() == code)
    }
}

impl fmt::Display for SimdFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The CPU's features that the kernels use, read once: the crate's only feature detection (`unsafe` calls
/// to `#[target_feature]` code rely on it through [`SimdFamily::is_supported`], [`has_fma`] and
/// [`has_avx2`]).
#[derive(Debug, Clone, Copy)]
struct Cpu {
    /// AVX2 (on its own: the optimiser's loop needs no FMA).
    avx2: bool,
    avx2_fma: bool,
    avx512: bool,
    /// A hardware FMA unit (the portable kernels' `mul_add` then runs on it; the numbers are the same).
    fma: bool,
}

impl Cpu {
    fn detect() -> Cpu {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            let avx2 = std::arch::is_x86_feature_detected!("avx2");
            let avx2_fma = fma && avx2;
            Cpu {
                avx2,
                avx2_fma,
                avx512: avx2_fma
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl"),
                fma,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Cpu {
                avx2: false,
                avx2_fma: false,
                avx512: false,
                fma: false,
            }
        }
    }

    fn supports(self, family: SimdFamily) -> bool {
        match family {
            SimdFamily::Portable => true,
            SimdFamily::Avx2 => self.avx2_fma,
            SimdFamily::Avx512 => self.avx512,
        }
    }

    fn best(self) -> SimdFamily {
        SimdFamily::ALL
            .into_iter()
            .find(|&f| self.supports(f))
            .unwrap_or(SimdFamily::Portable)
    }
}

fn cpu() -> Cpu {
    static CPU: OnceLock<Cpu> = OnceLock::new();
    *CPU.get_or_init(Cpu::detect)
}

/// The family `PRUNELAB_SIMD` asks for, read once: `Ok(None)` when unset or empty.
fn requested() -> &'static std::result::Result<Option<SimdFamily>, String> {
    static REQUESTED: OnceLock<std::result::Result<Option<SimdFamily>, String>> = OnceLock::new();
    REQUESTED.get_or_init(|| match std::env::var("PRUNELAB_SIMD") {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(format!(
            "PRUNELAB_SIMD={v:?} is not a kernel family: use avx512, avx2 or portable"
        )),
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => match SimdFamily::from_name(&v) {
            Err(_) => Err(format!(
                "PRUNELAB_SIMD={v:?} is not a kernel family: use avx512, avx2 or portable"
            )),
            Ok(f) if !cpu().supports(f) => Err(format!(
                "PRUNELAB_SIMD={v} asks for {f} kernels, which this CPU cannot run (it runs {})",
                families_text()
            )),
            Ok(f) => Ok(Some(f)),
        },
    })
}

fn families_text() -> String {
    supported_families()
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The family in force: 0 until first read, then [`SimdFamily::code`].
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The families this CPU runs, widest first (always ending with [`SimdFamily::Portable`]).
pub fn supported_families() -> Vec<SimdFamily> {
    SimdFamily::ALL
        .into_iter()
        .filter(|f| f.is_supported())
        .collect()
}

/// The family the kernels use: the one [`force_family`] set, else `PRUNELAB_SIMD`'s, else the widest the
/// CPU has. Fails where `PRUNELAB_SIMD` names a family this CPU lacks, or none at all.
pub fn active_family() -> Result<SimdFamily> {
    if let Some(f) = SimdFamily::from_code(ACTIVE.load(Ordering::Relaxed)) {
        return Ok(f);
    }
    match requested() {
        Ok(f) => {
            let f = f.unwrap_or_else(|| cpu().best());
            // A `force_family` that ran meanwhile wins.
            let _ = ACTIVE.compare_exchange(0, f.code(), Ordering::Relaxed, Ordering::Relaxed);
            Ok(SimdFamily::from_code(ACTIVE.load(Ordering::Relaxed)).unwrap_or(f))
        }
        Err(reason) => Err(Error::Simd {
            reason: reason.clone(),
        }),
    }
}

/// Uses `family`'s kernels from now on, in the whole process (results do not change: see the module
/// docs). Refuses a family this CPU lacks.
pub fn force_family(family: SimdFamily) -> Result<()> {
    if !family.is_supported() {
        return Err(Error::Simd {
            reason: format!(
                "{family} kernels need a CPU feature this one lacks (it runs {})",
                families_text()
            ),
        });
    }
    ACTIVE.store(family.code(), Ordering::Relaxed);
    Ok(())
}

/// The family for a kernel call. The public calls that start work check [`active_family`] first, so an
/// unusable `PRUNELAB_SIMD` has been reported by then; should one get here anyway, the widest family the
/// CPU has runs (same numbers).
///
/// Always a family this CPU supports (the `unsafe` dispatch relies on it): [`force_family`] and
/// `PRUNELAB_SIMD` are checked against the one-time detection, and the default is the widest it found.
#[inline]
pub(crate) fn family() -> SimdFamily {
    match SimdFamily::from_code(ACTIVE.load(Ordering::Relaxed)) {
        Some(f) => f,
        None => active_family().unwrap_or_else(|_| cpu().best()),
    }
}

/// Whether the portable kernels may use the CPU's FMA unit.
#[inline]
pub(crate) fn has_fma() -> bool {
    cpu().fma
}

/// Whether the CPU has AVX2 (from the same one-time detection as the families).
#[inline]
pub(crate) fn has_avx2() -> bool {
    cpu().avx2
}

/// A one-line account of the CPU's vector units and the family in use, for logs and CI.
pub fn describe() -> String {
    let active = match active_family() {
        Ok(f) => f.to_string(),
        Err(e) => format!("none ({e})"),
    };
    format!(
        "kernel families this CPU runs: {}; in use: {active}",
        families_text()
    )
}

/// `c (+)= a·b` on one thread with the family in force: `a` is `(m, k)`, `b` `(k, n)`, `c` `(m, n)`.
///
/// # Safety
/// The matrices lie inside live allocations as their pointers and strides describe them; `c` aliases
/// neither `a` nor `b`; `m`, `n` and `k` are at least 1 (`linalg::matmul` handles empty products).
pub(crate) unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: dense::Mat,
    b: dense::Mat,
    c: dense::MatMut,
    accumulate: bool,
) {
    // SAFETY: `family()` is always a family this CPU supports (see there); the operands as the caller
    // guarantees.
    unsafe { matmul_with(family(), m, n, k, a, b, c, accumulate) }
}

/// [`matmul`] with `f`'s kernels.
///
/// # Safety
/// As [`matmul`], and this CPU supports `f`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_with(
    f: SimdFamily,
    m: usize,
    n: usize,
    k: usize,
    a: dense::Mat,
    b: dense::Mat,
    c: dense::MatMut,
    accumulate: bool,
) {
    debug_assert!(f.is_supported());
    match f {
        #[cfg(target_arch = "x86_64")]
        SimdFamily::Avx512 => {
            // SAFETY: the caller guarantees that this CPU supports `f`, so the one-time detection found
            // AVX-512F, AVX2 and FMA; the operands as the caller guarantees.
            unsafe { avx512::matmul(m, n, k, a, b, c, accumulate) }
        }
        #[cfg(target_arch = "x86_64")]
        SimdFamily::Avx2 => {
            // SAFETY: the caller guarantees that this CPU supports `f`, so the one-time detection found
            // AVX2 and FMA; the operands as the caller guarantees.
            unsafe { avx2::matmul(m, n, k, a, b, c, accumulate) }
        }
        // SAFETY: the portable kernels need no CPU feature; the operands as the caller guarantees.
        _ => unsafe { portable::matmul(m, n, k, a, b, c, accumulate) },
    }
}

/// `c ← a·Wᵀ` for one to four rows of `a` against weights packed in panels of eight outputs
/// (`nn::Weights`), with the family in force; the same bits as [`matmul`] on the unpacked weights.
///
/// # Safety
/// As [`dense::gemv_packed`].
pub(crate) unsafe fn gemv_packed(
    m: usize,
    n: usize,
    k: usize,
    a: dense::Mat,
    packed: *const f32,
    c: dense::MatMut,
) {
    // SAFETY: `family()` is always a family this CPU supports (see there); the operands as the caller
    // guarantees.
    unsafe { gemv_packed_with(family(), m, n, k, a, packed, c) }
}

/// [`gemv_packed`] with `f`'s kernels.
///
/// # Safety
/// As [`gemv_packed`], and this CPU supports `f`.
pub(crate) unsafe fn gemv_packed_with(
    f: SimdFamily,
    m: usize,
    n: usize,
    k: usize,
    a: dense::Mat,
    packed: *const f32,
    c: dense::MatMut,
) {
    debug_assert!(f.is_supported());
    match f {
        #[cfg(target_arch = "x86_64")]
        SimdFamily::Avx512 | SimdFamily::Avx2 => {
            // SAFETY: the caller guarantees that this CPU supports `f`, and both families need AVX2 and
            // FMA (found by the one-time detection); the operands as the caller guarantees.
            unsafe { avx2::gemv_packed(m, n, k, a, packed, c) }
        }
        // SAFETY: the portable kernels need no CPU feature; the operands as the caller guarantees.
        _ => unsafe { portable::gemv_packed(m, n, k, a, packed, c) },
    }
}

/// The CSR tile kernel with the family in force: samples `0..lanes` (a multiple of 16) of rows `rows`.
///
/// # Safety
/// As [`sparse::tiles`].
pub(crate) unsafe fn csr_tiles<P: sparse::Offset>(
    e: sparse::Entries<'_, P>,
    io: sparse::Operands,
    lanes: usize,
    rows: std::ops::Range<usize>,
) {
    // SAFETY: `family()` is always a family this CPU supports (see there); the entries and operands as
    // the caller guarantees.
    unsafe { csr_tiles_with(family(), e, io, lanes, rows) }
}

/// [`csr_tiles`] with `f`'s kernels.
///
/// # Safety
/// As [`csr_tiles`], and this CPU supports `f`.
pub(crate) unsafe fn csr_tiles_with<P: sparse::Offset>(
    f: SimdFamily,
    e: sparse::Entries<'_, P>,
    io: sparse::Operands,
    lanes: usize,
    rows: std::ops::Range<usize>,
) {
    debug_assert!(f.is_supported());
    match f {
        #[cfg(target_arch = "x86_64")]
        SimdFamily::Avx512 => {
            // SAFETY: the caller guarantees that this CPU supports `f`, so the one-time detection found
            // AVX-512F, AVX2 and FMA; the entries and operands as the caller guarantees.
            unsafe { avx512::csr_tiles(e, io, lanes, rows) }
        }
        #[cfg(target_arch = "x86_64")]
        SimdFamily::Avx2 => {
            // SAFETY: the caller guarantees that this CPU supports `f`, so the one-time detection found
            // AVX2 and FMA; the entries and operands as the caller guarantees.
            unsafe { avx2::csr_tiles(e, io, lanes, rows) }
        }
        // SAFETY: the portable kernels need no CPU feature; the entries and operands as the caller
        // guarantees.
        _ => unsafe { portable::csr_tiles(e, io, lanes, rows) },
    }
}

/// The per-sample CSR kernel with the family in force, for `n` packed samples (`io.stride == n`).
///
/// # Safety
/// As [`sparse::few`].
pub(crate) unsafe fn csr_few(
    csr: sparse::FewEntries<'_>,
    io: sparse::Operands,
    n: usize,
    rows: std::ops::Range<usize>,
) {
    // SAFETY: `family()` is always a family this CPU supports (see there); the entries and operands as
    // the caller guarantees.
    unsafe { csr_few_with(family(), csr, io, n, rows) }
}

/// [`csr_few`] with `f`'s kernels.
///
/// # Safety
/// As [`csr_few`], and this CPU supports `f`.
pub(crate) unsafe fn csr_few_with(
    f: SimdFamily,
    csr: sparse::FewEntries<'_>,
    io: sparse::Operands,
    n: usize,
    rows: std::ops::Range<usize>,
) {
    debug_assert!(f.is_supported());
    let sparse::FewEntries {
        indptr,
        indices,
        values,
        sliced,
        ..
    } = csr;
    match f {
        #[cfg(target_arch = "x86_64")]
        SimdFamily::Avx512 | SimdFamily::Avx2 => match sliced {
            // SAFETY: the caller guarantees that this CPU supports `f`, and both families need AVX2 and
            // FMA (found by the one-time detection); `sl` is the checked matrix's sliced layout and the
            // operands as the caller guarantees.
            Some(sl) => unsafe { avx2::csr_few_sliced(sl, io, n, rows) },
            // SAFETY: as the arm above, on the plain CSR entries.
            _ => unsafe { avx2::csr_few(indptr, indices, values, io, n, rows) },
        },
        _ => match sliced {
            // SAFETY: the portable kernels need no CPU feature; `sl` is the checked matrix's sliced layout
            // and the operands as the caller guarantees.
            Some(sl) => unsafe { portable::csr_few_sliced(sl, io, n, rows) },
            // SAFETY: the portable kernels need no CPU feature; the plain CSR entries and the operands as
            // the caller guarantees.
            None => unsafe { portable::csr_few(indptr, indices, values, io, n, rows) },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::dense::{Mat, MatMut};
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    /// Each output as every kernel must compute it: one `mul_add` chain over `k` in order, from `c` when
    /// accumulating and from zero otherwise.
    fn chain(a: &Array2<f32>, b: &Array2<f32>, c0: &Array2<f32>, accumulate: bool) -> Array2<f32> {
        let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
        Array2::from_shape_fn((m, n), |(i, j)| {
            let start = if accumulate { c0[[i, j]] } else { 0.0 };
            (0..k).fold(start, |s, p| a[[i, p]].mul_add(b[[p, j]], s))
        })
    }

    fn wave(shape: (usize, usize), f: f32) -> Array2<f32> {
        Array2::from_shape_fn(shape, |(i, j)| {
            ((i * 31 + j * 17) as f32 * f).sin() * (1.0 + (i % 5) as f32)
        })
    }

    /// `a` as stored row-major, or column-major and read through the same logical shape.
    fn layout(x: &Array2<f32>, column_major: bool) -> Array2<f32> {
        if column_major {
            let mut y = Array2::zeros(x.dim().f());
            y.assign(x);
            y
        } else {
            x.to_owned()
        }
    }

    fn run(f: SimdFamily, a: &Array2<f32>, b: &Array2<f32>, c: &mut Array2<f32>, accumulate: bool) {
        let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
        let (sa, sb, sc) = (a.strides(), b.strides(), c.strides());
        let (rs, cs) = (sc[0], sc[1]);
        // SAFETY: the arrays have the stated shapes and strides; `c` is a distinct array.
        unsafe {
            matmul_with(
                f,
                m,
                n,
                k,
                Mat {
                    ptr: a.as_ptr(),
                    rs: sa[0],
                    cs: sa[1],
                },
                Mat {
                    ptr: b.as_ptr(),
                    rs: sb[0],
                    cs: sb[1],
                },
                MatMut {
                    ptr: c.as_mut_ptr(),
                    rs,
                    cs,
                },
                accumulate,
            )
        }
    }

    /// Every family, every path (small, one to four rows, a few columns, blocked), both layouts of each
    /// operand and of the output, overwrite and accumulate: bit for bit the chain.
    #[test]
    fn every_family_and_path_computes_each_output_as_one_chain() {
        let shapes = [
            (1, 1, 1),
            (3, 4, 5),
            (16, 16, 16),
            (1, 784, 1000),
            (2, 300, 77),
            (3, 129, 40),
            (4, 257, 33),
            (100, 300, 2),
            (70, 4, 5),
            (5, 40, 12),
            (19, 6, 11),
            (33, 65, 17),
            (130, 600, 90),
            (20, 300, 2100),
            (97, 513, 45),
            // AVX-512's ten-row tiles (a batch of 100) and twelve-row ones (36 rows).
            (100, 784, 70),
            (36, 200, 70),
            // Few outputs, long sums (a small layer's weight gradient), just below and above the
            // vector-per-row path's shortest sum.
            (5, 105, 4),
            (3, 105, 5),
            (1, 105, 3),
            (7, 16, 7),
            (6, 15, 2),
            (2, 300, 1),
        ];
        for f in supported_families() {
            for &(m, k, n) in &shapes {
                let a0 = wave((m, k), 0.37);
                let b0 = wave((k, n), 0.11);
                let c0 = wave((m, n), 0.05);
                for accumulate in [false, true] {
                    let want = chain(&a0, &b0, &c0, accumulate);
                    for (ca, cb, cc) in [
                        (false, false, false),
                        (false, true, false),
                        (true, false, false),
                        (true, true, true),
                        (false, true, true),
                    ] {
                        let (a, b) = (layout(&a0, ca), layout(&b0, cb));
                        let mut c = layout(&c0, cc);
                        run(f, &a, &b, &mut c, accumulate);
                        for ((i, j), got) in c.indexed_iter() {
                            assert_eq!(
                                got.to_bits(),
                                want[[i, j]].to_bits(),
                                "{f}: {m}x{k}x{n}, layouts {ca}/{cb}/{cc}, accumulate {accumulate}, \
                                 at ({i}, {j}): {got} vs {}",
                                want[[i, j]]
                            );
                        }
                    }
                }
            }
        }
    }

    /// The packed weights of small-batch inference give the chain's bits too.
    #[test]
    fn packed_weights_give_the_same_bits() {
        for f in supported_families() {
            for &(m, k, n) in &[
                (1, 1, 1),
                (1, 300, 1000),
                (2, 5, 7),
                (3, 64, 33),
                (4, 129, 8),
            ] {
                let a = wave((m, k), 0.29);
                let w = wave((n, k), 0.13);
                let want = chain(&a, &w.t().to_owned(), &Array2::zeros((m, n)), false);
                let weights = crate::nn::Weights::from(w.clone());
                let packed = weights.packed().unwrap();
                let mut c = Array2::from_elem((m, n), f32::NAN);
                // SAFETY: `a` is (m, k) row-major, `c` (m, n) row-major, `packed` holds every panel.
                unsafe {
                    gemv_packed_with(
                        f,
                        m,
                        n,
                        k,
                        Mat {
                            ptr: a.as_ptr(),
                            rs: k as isize,
                            cs: 1,
                        },
                        packed.as_ptr(),
                        MatMut {
                            ptr: c.as_mut_ptr(),
                            rs: n as isize,
                            cs: 1,
                        },
                    )
                };
                let bits = |x: &Array2<f32>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&c), bits(&want), "{f}: {m}x{k}x{n}");
            }
        }
    }

    #[test]
    fn families_are_named_and_refused_when_missing() {
        for f in SimdFamily::ALL {
            assert_eq!(SimdFamily::from_name(f.name()).unwrap(), f);
            assert_eq!(SimdFamily::from_name(&f.name().to_uppercase()).unwrap(), f);
            if !f.is_supported() {
                assert!(matches!(force_family(f), Err(Error::Simd { .. })));
            }
        }
        assert!(matches!(
            SimdFamily::from_name("sse9"),
            Err(Error::Simd { .. })
        ));
        let all = supported_families();
        assert_eq!(all.last(), Some(&SimdFamily::Portable));
        assert!(describe().contains("portable"));
    }
}
