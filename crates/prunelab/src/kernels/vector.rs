//! The interface each family gives the generic kernels: a vector of f32 lanes and its few operations.

use super::mat::Mat;

/// A vector of `LANES` f32 values. The generic kernels are written once against this trait and compiled
/// into each family's `#[target_feature]` functions, which inline the operations.
pub(crate) trait Vector: Copy {
    /// Lanes per vector.
    const LANES: usize;

    /// All lanes zero.
    ///
    /// # Safety
    /// The CPU must have the family's features (true inside that family's kernels).
    unsafe fn zero() -> Self;

    /// All lanes `x`.
    ///
    /// # Safety
    /// As [`Vector::zero`].
    unsafe fn splat(x: f32) -> Self;

    /// `LANES` values from `p` (any alignment).
    ///
    /// # Safety
    /// As [`Vector::zero`], and `p..p + LANES` must be readable.
    unsafe fn load(p: *const f32) -> Self;

    /// Writes the lanes to `p..p + LANES` (any alignment).
    ///
    /// # Safety
    /// As [`Vector::zero`], and `p..p + LANES` must be writable.
    unsafe fn store(self, p: *mut f32);

    /// `a · b + c` per lane, rounded once (as [`f32::mul_add`]).
    ///
    /// # Safety
    /// As [`Vector::zero`].
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;

    /// Packs `w` columns of `b` (rows `pc..pc + kc`, columns from `j0`), whose columns are contiguous
    /// (`b.rs == 1`), into `dst[p · nr + t]`. A family with a faster transpose overrides this plain copy.
    ///
    /// # Safety
    /// As [`Vector::zero`]; `b.rs == 1`, `w ≤ nr`, the block (rows `pc..pc + kc`, columns `j0..j0 + w`) lies
    /// inside `b`, and `dst` holds `kc · nr` floats.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn pack_columns(
        dst: *mut f32,
        b: Mat,
        pc: usize,
        j0: usize,
        kc: usize,
        w: usize,
        nr: usize,
    ) {
        for t in 0..w {
            // SAFETY: `(pc, j0 + t)` with `t < w` is the first element of a column of the block, which the
            // caller guarantees lies inside `b`.
            let col = unsafe { b.addr(pc, j0 + t) };
            for p in 0..kc {
                // SAFETY: `b.rs == 1`, so `col + p` (`p < kc`) is element `(pc + p, j0 + t)` of the block;
                // `p · nr + t < kc · nr` (`t < w ≤ nr`) lies inside `dst`, which holds `kc · nr` floats.
                unsafe { *dst.add(p * nr + t) = *col.add(p) };
            }
        }
    }
}
