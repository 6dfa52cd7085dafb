//! Transposes between sample-major and feature-major activations (the CSR kernels read feature-major
//! rows): a plain copy, so every family gives the same values. Where the family has AVX2 and both matrices
//! have contiguous rows, whole 8 × 8 blocks go through registers (eight row loads, three rounds of
//! shuffles, eight row stores), which keeps every load and store a full 32-byte vector; the edges, and
//! everything in the portable family, are ndarray's element-wise copy.

use ndarray::{s, ArrayView2, ArrayViewMut2};

use super::SimdFamily;

/// `dst ← srcᵀ` with the family in force: `src` is `(r, c)` and `dst` `(c, r)`, any strides. The shapes
/// are checked in every build (a mismatch panics).
pub(crate) fn transpose(src: ArrayView2<f32>, dst: ArrayViewMut2<f32>) {
    transpose_with(super::family(), src, dst)
}

/// [`transpose`] with `f`'s kernels. Panics if this CPU lacks `f` and `f` is not the portable family.
pub(crate) fn transpose_with(f: SimdFamily, src: ArrayView2<f32>, mut dst: ArrayViewMut2<f32>) {
    let (r, c) = src.dim();
    assert_eq!(
        dst.dim(),
        (c, r),
        "transpose shapes: {:?} into {:?}",
        src.dim(),
        dst.dim()
    );
    #[cfg(target_arch = "x86_64")]
    {
        let (ss, ds) = (
            [src.strides()[0], src.strides()[1]],
            [dst.strides()[0], dst.strides()[1]],
        );
        let blocks = matches!(f, SimdFamily::Avx512 | SimdFamily::Avx2)
            && ss[1] == 1
            && ds[1] == 1
            && ss[0] >= 0
            && ds[0] >= 0
            && r >= 8
            && c >= 8;
        if blocks {
            assert!(f.is_supported(), "the {f} family on a CPU without it");
            let (r8, c8) = (r / 8 * 8, c / 8 * 8);
            // SAFETY: AVX2 is there (`f` is a family with it, and the CPU supports `f`: asserted). `src`
            // is a live `(r, c)` view whose rows are contiguous (`ss[1] == 1`) and `ss[0] ≥ 0` values
            // apart, so `src + i·ss[0] + j` is readable for `i < r8 ≤ r`, `j < c8 ≤ c`; likewise `dst`
            // (`(c, r)`, borrowed mutably, so it aliases nothing of `src`) is writable at
            // `dst + j·ds[0] + i` for `j < c8`, `i < r8`; `r8` and `c8` are multiples of 8.
            unsafe {
                blocks8(
                    src.as_ptr(),
                    ss[0] as usize,
                    dst.as_mut_ptr(),
                    ds[0] as usize,
                    r8,
                    c8,
                )
            };
            dst.slice_mut(s![c8.., ..])
                .assign(&src.slice(s![.., c8..]).t());
            dst.slice_mut(s![..c8, r8..])
                .assign(&src.slice(s![r8.., ..c8]).t());
            return;
        }
    }
    let _ = f;
    dst.assign(&src.t());
}

/// `dst[j·ds + i] ← src[i·ss + j]` for `i < r8`, `j < c8`, by 8 × 8 blocks: for each band of eight
/// columns of `src`, its blocks down the rows (each output row then written in order).
///
/// # Safety
/// The CPU has AVX2; `r8` and `c8` are multiples of 8; `src + i·ss + j` is readable and `dst + j·ds + i`
/// writable for those `i` and `j`, and the two do not overlap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blocks8(src: *const f32, ss: usize, dst: *mut f32, ds: usize, r8: usize, c8: usize) {
    use std::arch::x86_64::{__m256, _mm256_loadu_ps, _mm256_storeu_ps};
    for j0 in (0..c8).step_by(8) {
        for i0 in (0..r8).step_by(8) {
            // SAFETY: rows `i0..i0 + 8 ≤ r8` and columns `j0..j0 + 8 ≤ c8` of `src`, readable (this
            // function's contract); AVX2 is there.
            let r: [__m256; 8] =
                std::array::from_fn(|i| unsafe { _mm256_loadu_ps(src.add((i0 + i) * ss + j0)) });
            // SAFETY: AVX2 is there; registers only.
            let out = unsafe { super::avx2::transpose8(r) };
            for (j, v) in out.into_iter().enumerate() {
                // SAFETY: row `j0 + j < c8`, columns `i0..i0 + 8 ≤ r8` of `dst`, writable (this function's
                // contract); AVX2 is there.
                unsafe { _mm256_storeu_ps(dst.add((j0 + j) * ds + i0), v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    /// Distinct values, NaN payloads and signed zeros among them: a copy must move bits, not numbers.
    fn values(r: usize, c: usize, seed: u32) -> Array2<f32> {
        Array2::from_shape_fn((r, c), |(i, j)| {
            match (i * 31 + j * 7 + seed as usize) % 23 {
                0 => f32::from_bits(0x7fc0_0000 | (i * 131 + j) as u32),
                1 => -0.0,
                _ => (i * 1000 + j) as f32 + seed as f32 / 8.0,
            }
        })
    }

    fn same_bits(a: ArrayView2<f32>, b: ArrayView2<f32>) -> bool {
        a.dim() == b.dim()
            && a.iter()
                .zip(b.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn every_family_copies_every_value_for_every_shape_and_layout() {
        for f in super::super::supported_families() {
            for (r, c) in [
                (1, 1),
                (3, 9),
                (8, 8),
                (9, 8),
                (8, 17),
                (16, 16),
                (23, 41),
                (128, 784),
                (100, 10),
            ] {
                let x = values(r, c, 3);
                // Row-major into row-major, into a wider buffer's columns, and from column-major.
                let mut t = Array2::from_elem((c, r), 1.5f32);
                transpose_with(f, x.view(), t.view_mut());
                assert!(same_bits(t.view(), x.t()), "{f} ({r}, {c})");
                let mut wide = Array2::from_elem((c, r + 13), 2.5f32);
                transpose_with(f, x.view(), wide.slice_mut(s![.., 5..5 + r]));
                assert!(
                    same_bits(wide.slice(s![.., 5..5 + r]), x.t()),
                    "{f} ({r}, {c}) wide"
                );
                assert!(
                    wide.slice(s![.., ..5]).iter().all(|&v| v == 2.5),
                    "{f} wrote outside"
                );
                assert!(
                    wide.slice(s![.., 5 + r..]).iter().all(|&v| v == 2.5),
                    "{f} wrote outside"
                );
                let xf =
                    Array2::from_shape_vec((r, c).f(), x.t().iter().copied().collect()).unwrap();
                assert!(same_bits(xf.view(), x.view()));
                let mut t = Array2::from_elem((c, r), 1.5f32);
                transpose_with(f, xf.view(), t.view_mut());
                assert!(same_bits(t.view(), x.t()), "{f} ({r}, {c}) column-major");
                // A strided view and a reversed one.
                let big = values(2 * r, c + 3, 5);
                let v = big.slice(s![..;2, 1..c + 1]);
                let mut t = Array2::from_elem((c, r), 1.5f32);
                transpose_with(f, v, t.view_mut());
                assert!(same_bits(t.view(), v.t()), "{f} ({r}, {c}) strided");
                let v = x.slice(s![..;-1, ..]);
                let mut t = Array2::from_elem((c, r), 1.5f32);
                transpose_with(f, v, t.view_mut());
                assert!(same_bits(t.view(), v.t()), "{f} ({r}, {c}) reversed");
            }
        }
    }

    #[test]
    #[should_panic(expected = "transpose shapes")]
    fn mismatched_shapes_panic_in_release_builds_too() {
        let x = values(4, 3, 0);
        let mut t = Array2::zeros((4, 3));
        transpose(x.view(), t.view_mut());
    }
}
