//! The matrix product behind every dense layer: `c ← a·b` or `c ← c + a·b` on ndarray views of any strides
//! (transposed views cost nothing), computed by [`crate::kernels`]: each output one FMA chain in order, so
//! the numbers depend neither on the CPU nor on how the product is cut up. Products big enough to pay for
//! threads are cut into slices of columns, one single-threaded product per slice.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::kernels::dense::{Mat, MatMut};

/// Products with fewer multiply-adds than this run single-threaded…
const PARALLEL_MIN_FLOPS: usize = 1 << 21;
/// …unless one operand holds at least this many values (1 MB): a product of one or a few rows streams a
/// whole weight matrix and is bound by memory, which two cores read faster than one.
const PARALLEL_MIN_VALUES: usize = 1 << 18;
/// Such a product is cut into pieces of this many columns of its longer side.
const STREAM_PIECE: usize = 128;

/// `c ← a·b` (or `c ← c + a·b` with `accumulate`). Shapes must agree: `a` is `(m, k)`, `b` is `(k, n)`,
/// `c` is `(m, n)`. The kernels behind it index raw pointers, so the shapes are checked in every build (a
/// mismatch panics rather than reading or writing out of bounds); the check costs two comparisons.
pub(crate) fn matmul(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    c: &mut ArrayViewMut2<f32>,
    accumulate: bool,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    assert!(
        b.nrows() == k && c.dim() == (m, n),
        "matrix product shapes: ({m}, {k}) · {:?} into {:?}",
        b.dim(),
        c.dim()
    );
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
    if flops <= crate::kernels::dense::SMALL_MAX_FLOPS {
        return serial(a, b, c, accumulate);
    }
    let piece = if flops >= PARALLEL_MIN_FLOPS {
        if !may_split() {
            return serial(a, b, c, accumulate);
        }
        // One single-threaded product per thread on a slice of the longer output side. For the thin
        // products of training (100 rows) this scales where splitting inside one product does not: each
        // thread packs only its share of `b`.
        m.max(n)
            .div_ceil(rayon::current_num_threads())
            .next_multiple_of(16)
    } else if k * m.max(n) >= PARALLEL_MIN_VALUES {
        STREAM_PIECE
    } else {
        return serial(a, b, c, accumulate);
    };
    if n >= m {
        split_columns(a, b, c, accumulate, piece);
    } else {
        // cᵀ = bᵀ·aᵀ: the rows of `c` are the columns of its transpose.
        split_columns(
            b.t(),
            a.t(),
            &mut c.view_mut().reversed_axes(),
            accumulate,
            piece,
        );
    }
}

/// `c ← a·Wᵀ` for one to four rows of `a` against `W` (`n` outputs) packed by `nn::Weights`: the same bits
/// as `matmul(a, W.t(), c)`, at the speed of reading the weights once. Large ones are cut into pieces of
/// [`STREAM_PIECE`] outputs over rayon's threads.
pub(crate) fn matmul_packed(
    a: ArrayView2<f32>,
    packed: &[f32],
    n: usize,
    c: &mut ArrayViewMut2<f32>,
) {
    use crate::kernels::dense::GEMV_ROWS;
    let (m, k) = a.dim();
    assert!(
        m <= GEMV_ROWS && c.dim() == (m, n) && packed.len() >= n.div_ceil(8) * k * 8,
        "packed product shapes"
    );
    if m == 0 || n == 0 {
        return;
    }
    let run = |c: &mut ArrayViewMut2<f32>, j0: usize| {
        let am = Mat {
            ptr: a.as_ptr(),
            rs: a.strides()[0],
            cs: a.strides()[1],
        };
        let (cr, cc) = (c.strides()[0], c.strides()[1]);
        let cm = MatMut {
            ptr: c.as_mut_ptr(),
            rs: cr,
            cs: cc,
        };
        // SAFETY: asserted above: `1 ≤ m ≤ 4` (`m == 0` returned) and `packed` holds every panel of the
        // `n` outputs; `a` is (m, k) and `c` this piece's (m, ncols) as their views' strides say, `c`
        // borrowed mutably (aliasing neither); the piece's panels start at output j0 (a multiple of 8), so
        // its `ncols.div_ceil(8)` panels from `packed[j0 * k..]` lie inside `packed`.
        unsafe { crate::kernels::gemv_packed(m, c.ncols(), k, am, packed[j0 * k..].as_ptr(), cm) }
    };
    if k * n >= PARALLEL_MIN_VALUES && may_split() {
        use rayon::prelude::*;
        let parts: Vec<_> = c
            .axis_chunks_iter_mut(Axis(1), STREAM_PIECE)
            .enumerate()
            .collect();
        parts
            .into_par_iter()
            .for_each(|(i, mut c)| run(&mut c, i * STREAM_PIECE));
    } else {
        run(c, 0);
    }
}

/// `c (+)= a·b` as single-threaded products on slices of `piece` columns of `c`, spread over rayon's
/// threads where this thread may fan out.
fn split_columns(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    c: &mut ArrayViewMut2<f32>,
    accumulate: bool,
    piece: usize,
) {
    use rayon::prelude::*;
    let parts: Vec<_> = c
        .axis_chunks_iter_mut(Axis(1), piece)
        .zip(b.axis_chunks_iter(Axis(1), piece))
        .collect();
    if may_split() {
        parts
            .into_par_iter()
            .for_each(|(mut c, b)| serial(a, b, &mut c, accumulate));
    } else {
        for (mut c, b) in parts {
            serial(a, b, &mut c, accumulate);
        }
    }
}

/// Runs `f(scratch, x_block, out_block)` on matching blocks of `block` rows of `x` and `out`: in parallel,
/// one scratch buffer per worker, when there are several blocks and this thread may fan out; else in order.
pub(crate) fn row_blocks<S>(
    x: ArrayView2<f32>,
    mut out: ArrayViewMut2<f32>,
    block: usize,
    scratch: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, ArrayView2<f32>, ArrayViewMut2<f32>) + Sync + Send,
) {
    let jobs: Vec<_> = out
        .axis_chunks_iter_mut(Axis(0), block)
        .zip(x.axis_chunks_iter(Axis(0), block))
        .collect();
    if jobs.len() > 1 && may_split() {
        use rayon::prelude::*;
        jobs.into_par_iter()
            .for_each_init(&scratch, |s, (o, xb)| f(s, xb, o));
    } else {
        let mut s = scratch();
        for (o, xb) in jobs {
            f(&mut s, xb, o);
        }
    }
}

/// Whether a call from this thread may fan out over rayon's pool: there is more than one thread, and the
/// caller is not itself a pool worker (which already runs in parallel with its siblings) unless it runs a
/// loop handed to the pool by [`on_pool`].
pub(crate) fn may_split() -> bool {
    rayon::current_num_threads() > 1
        && (rayon::current_thread_index().is_none() || DRIVER.with(std::cell::Cell::get))
}

thread_local! {
    /// Whether this pool worker runs a loop handed over by [`on_pool`], whose steps fan out as the caller's
    /// would.
    static DRIVER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `op`, a loop of many short parallel steps (a training run), on one of rayon's workers where this
/// thread may fan out, else here. Each step's parallel work then starts from a worker, which hands half of
/// it to a sibling directly, instead of from outside the pool, where every step sends its work in and waits
/// to be woken (in a virtual machine, several wake-ups of tens of microseconds per step). The same numbers
/// either way: no result depends on how work is split.
pub(crate) fn on_pool<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    // Not from a worker: one that may split runs such a loop already (a validation pass inside training).
    if !may_split() || rayon::current_thread_index().is_some() {
        return op();
    }
    /// Clears the mark however `op` ends.
    struct Unmark;
    impl Drop for Unmark {
        fn drop(&mut self) {
            DRIVER.with(|d| d.set(false));
        }
    }
    rayon::scope(|_| {
        DRIVER.with(|d| d.set(true));
        let _unmark = Unmark;
        op()
    })
}

/// Whether every value is finite (no NaN, no ±∞). Written on the bit pattern so it vectorises; long slices
/// are checked in parallel.
pub(crate) fn all_finite(xs: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    let check = |c: &[f32]| {
        c.chunks(4096).all(|c| {
            c.iter().fold(0u32, |bad, v| {
                bad | u32::from(v.to_bits() & EXPONENT == EXPONENT)
            }) == 0
        })
    };
    if xs.len() >= 1 << 18 && may_split() {
        use rayon::prelude::*;
        xs.par_chunks(1 << 16).all(check)
    } else {
        check(xs)
    }
}

/// One single-threaded product on the views as they are, none of them empty ([`matmul`] handles empty
/// products).
fn serial(a: ArrayView2<f32>, b: ArrayView2<f32>, c: &mut ArrayViewMut2<f32>, accumulate: bool) {
    let (m, k) = a.dim();
    let n = b.ncols();
    assert!(
        b.nrows() == k && c.dim() == (m, n) && m > 0 && n > 0 && k > 0,
        "matmul shapes: ({m}, {k}) · {:?} → {:?}",
        b.dim(),
        c.dim()
    );
    let (ast, bst, cst) = (a.strides(), b.strides(), c.strides());
    let (cs0, cs1) = (cst[0], cst[1]);
    // SAFETY: the pointers and strides describe live ndarray views of the shapes checked just above, none
    // empty; `c` is borrowed mutably, so it aliases neither `a` nor `b`.
    unsafe {
        crate::kernels::matmul(
            m,
            n,
            k,
            Mat {
                ptr: a.as_ptr(),
                rs: ast[0],
                cs: ast[1],
            },
            Mat {
                ptr: b.as_ptr(),
                rs: bst[0],
                cs: bst[1],
            },
            MatMut {
                ptr: c.as_mut_ptr(),
                rs: cs0,
                cs: cs1,
            },
            accumulate,
        )
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

    /// A loop handed to the pool runs on a worker that may still fan out, and so does it after a nested
    /// hand-over (a validation pass inside training); other workers (a sweep's cells) do not fan out. (With
    /// one thread nothing fans out and the loop runs on the caller.)
    #[test]
    fn a_loop_on_the_pool_may_fan_out_and_keeps_that_after_a_nested_one() {
        let threads = rayon::current_num_threads();
        let (on_worker, before, nested, after) = on_pool(|| {
            let before = may_split();
            let nested = on_pool(may_split);
            (
                rayon::current_thread_index().is_some(),
                before,
                nested,
                may_split(),
            )
        });
        let split = threads > 1;
        assert_eq!(
            (on_worker, before, nested, after),
            (split, split, split, split)
        );
        let (a, b) = rayon::join(may_split, may_split);
        assert!(!a && !b, "a plain worker fans out");
        assert_eq!(may_split(), split, "the caller's own thread");
    }

    #[test]
    #[should_panic(expected = "matrix product shapes")]
    fn mismatched_shapes_panic_in_release_builds_too() {
        let a = Array2::<f32>::ones((3, 4));
        let b = Array2::<f32>::ones((5, 2));
        let mut c = Array2::<f32>::zeros((3, 2));
        matmul(a.view(), b.view(), &mut c.view_mut(), false);
    }

    #[test]
    #[should_panic(expected = "matrix product shapes")]
    fn a_wrong_output_shape_panics_in_release_builds_too() {
        let a = Array2::<f32>::ones((3, 4));
        let b = Array2::<f32>::ones((4, 2));
        let mut c = Array2::<f32>::zeros((2, 2));
        matmul(a.view(), b.view(), &mut c.view_mut(), true);
    }

    #[test]
    fn finiteness_is_found_anywhere() {
        for len in [0usize, 1, 17, 5000, 300_000] {
            let mut v = vec![1.5f32; len];
            assert!(all_finite(&v));
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                if len > 0 {
                    let at = len * 2 / 3;
                    v[at] = bad;
                    assert!(!all_finite(&v), "{bad} at {at} of {len}");
                    v[at] = f32::MAX;
                    assert!(all_finite(&v));
                }
            }
        }
    }

    #[test]
    fn a_product_split_over_threads_equals_one_thread_s_bit_for_bit() {
        // One or a few rows against a large matrix (split for the memory streaming) and training-sized
        // products (split for their arithmetic): the same numbers from rayon's threads (two on CI) as from
        // a pool of one thread, and close to the definition.
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for &(m, k, n) in &[(1, 600, 500), (3, 700, 400), (100, 300, 200), (700, 400, 3)] {
            let a =
                Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.3 - 1.1);
            let w =
                Array2::from_shape_fn((n, k), |(i, j)| ((i * 5 + j * 2) % 13) as f32 * 0.1 - 0.6);
            let mut split = Array2::zeros((m, n));
            matmul(a.view(), w.t(), &mut split.view_mut(), false);
            let mut serial = Array2::zeros((m, n));
            one.install(|| matmul(a.view(), w.t(), &mut serial.view_mut(), false));
            assert_eq!(split, serial, "{m}x{k}x{n}");
            let want = reference(&a, &w.t().to_owned());
            for (x, y) in split.iter().zip(&want) {
                assert!(
                    (x - y).abs() <= 1e-3 * (1.0 + y.abs()),
                    "{m}x{k}x{n}: {x} vs {y}"
                );
            }
        }
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
            (20, 300, 400),
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
