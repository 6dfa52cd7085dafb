//! The matrix product behind every dense layer: `c ← a·b` or `c ← c + a·b` on ndarray views of any strides
//! (transposed views cost nothing). Large products go to the `gemm` crate, whose kernels use the widest
//! vector unit the CPU has (AVX-512 where present) and split the work over rayon's threads when the product
//! is big enough to pay for it; tiny products (iris-sized layers) use a plain loop, which avoids the
//! packing and dispatch overhead that dominates there.

use ndarray::{ArrayView2, ArrayViewMut2};

/// Products with fewer multiply-adds than this run single-threaded.
const PARALLEL_MIN_FLOPS: usize = 1 << 21;
/// Products with fewer multiply-adds than this use the plain loop.
const SMALL_MAX_FLOPS: usize = 1 << 12;

/// `c ← a·b` (or `c ← c + a·b` with `accumulate`). Shapes must agree: `a` is `(m, k)`, `b` is `(k, n)`,
/// `c` is `(m, n)`; callers guarantee this (checked in debug builds).
pub(crate) fn matmul(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    c: &mut ArrayViewMut2<f32>,
    accumulate: bool,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    debug_assert_eq!(b.nrows(), k);
    debug_assert_eq!(c.dim(), (m, n));
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let flops = m * n * k;
    if flops <= SMALL_MAX_FLOPS {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f32;
                for p in 0..k {
                    s += a[[i, p]] * b[[p, j]];
                }
                let d = &mut c[[i, j]];
                *d = if accumulate { *d + s } else { s };
            }
        }
        return;
    }
    let parallelism = if flops >= PARALLEL_MIN_FLOPS && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let (cs, ass, bs) = ([c.strides()[0], c.strides()[1]], a.strides(), b.strides());
    // SAFETY: the pointers and strides describe live ndarray views of the stated shapes; `c` is borrowed
    // mutably and does not alias `a` or `b` (the borrow checker guarantees it for these views).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            cs[1],
            cs[0],
            accumulate,
            a.as_ptr(),
            ass[1],
            ass[0],
            b.as_ptr(),
            bs[1],
            bs[0],
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    fn reference(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
        let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
        Array2::from_shape_fn((m, n), |(i, j)| {
            (0..k)
                .map(|p| (a[[i, p]] as f64) * (b[[p, j]] as f64))
                .sum::<f64>() as f32
        })
    }

    #[test]
    fn products_match_the_definition_for_every_layout_and_size() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 4, 5),
            (7, 1, 3),
            (70, 4, 5),
            (33, 65, 17),
            (130, 200, 90),
            (5, 0, 4),
        ] {
            let a =
                Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.25 - 1.0);
            let b =
                Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j * 2) % 13) as f32 * 0.125 - 0.5);
            let want = reference(&a, &b);
            // Row-major, and column-major copies read through transposed views.
            let at = Array2::from_shape_vec((m, k).f(), a.t().iter().copied().collect()).unwrap();
            let bt = b.t().to_owned();
            for (av, bv) in [(a.view(), b.view()), (at.view(), bt.t())] {
                let mut c = Array2::from_elem((m, n), 9.0f32);
                matmul(av, bv, &mut c.view_mut(), false);
                for (x, y) in c.iter().zip(&want) {
                    assert!(
                        (x - y).abs() <= 1e-3 * (1.0 + y.abs()),
                        "{m}x{k}x{n}: {x} vs {y}"
                    );
                }
                let mut acc = Array2::from_elem((m, n), 1.0f32);
                matmul(av, bv, &mut acc.view_mut(), true);
                for (x, y) in acc.iter().zip(&want) {
                    assert!(
                        (x - (y + 1.0)).abs() <= 1e-3 * (2.0 + y.abs()),
                        "accumulate {m}x{k}x{n}"
                    );
                }
            }
        }
    }
}
