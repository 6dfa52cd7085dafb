//! Tests of the sparse kernels and layers: every kernel against the plain chain, checked parts, the
//! crossover.

use super::*;
use crate::nn::Mlp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random matrix with about `density` of its entries kept, some rows empty, and its CSR form.
fn random(rows: usize, cols: usize, density: f64, seed: u64) -> (Array2<f32>, Csr) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = Array2::from_shape_fn((rows, cols), |(r, _)| {
        if r % 7 != 3 && rng.gen_bool(density) {
            rng.gen_range(-1.0f32..1.0)
        } else {
            0.0
        }
    });
    let mask = w.mapv(|v| v != 0.0);
    let csr = Csr::from_masked(w.view(), Some(mask.view()));
    (w, csr)
}

/// Each output as the kernels must compute it: one `mul_add` chain over the row's entries in column
/// order, from zero.
fn chain(csr: &Csr, xs: &[f32], stride: usize, r: usize, j: usize) -> f32 {
    (csr.indptr[r]..csr.indptr[r + 1]).fold(0.0f32, |s, e| {
        csr.values[e].mul_add(xs[csr.indices[e] as usize * stride + j], s)
    })
}

/// Every family this CPU runs, blocked and plain, for strides of one to eight vectors and row ranges
/// that start inside the matrix (as the threads' shares do): bit for bit the chain, and the dense
/// product of the same matrix (pruned entries zero) too.
#[test]
fn every_kernel_computes_each_output_as_one_chain_equal_to_the_dense_product() {
    // How many matrices had the sliced layout (a tiny one pads too much and goes without).
    let mut sliced = 0;
    use crate::kernels::{self, dense::Mat, dense::MatMut};
    for (seed, (rows, cols, density)) in [
        (9, 13, 0.5),
        (40, 333, 0.1),
        (17, 64, 0.9),
        (5, 3, 1.0),
        (30, 260, 0.02),
        (12, 129, 0.3),
        (19, 600, 0.6),
    ]
    .into_iter()
    .enumerate()
    {
        let (w, csr) = random(rows, cols, density, seed as u64);
        let b = csr.blocked.as_ref().unwrap();
        sliced += usize::from(csr.sliced.is_some());
        for family in kernels::supported_families() {
            for stride in [16, 32, 48, 64, 80, 96, 112, 128] {
                let mut rng = ChaCha8Rng::seed_from_u64(100 + seed as u64);
                let xs: Vec<f32> = (0..cols * stride)
                    .map(|_| rng.gen_range(-2.0f32..2.0))
                    .collect();
                // The dense product with this family's kernels.
                let mut dense = vec![0.0f32; rows * stride];
                // SAFETY: w is (rows, cols), xs (cols, stride), dense (rows, stride), all row-major, none
                // empty; dense is its own allocation; `family` comes from `supported_families()`.
                unsafe {
                    kernels::matmul_with(
                        family,
                        rows,
                        stride,
                        cols,
                        Mat {
                            ptr: w.as_ptr(),
                            rs: cols as isize,
                            cs: 1,
                        },
                        Mat {
                            ptr: xs.as_ptr(),
                            rs: stride as isize,
                            cs: 1,
                        },
                        MatMut {
                            ptr: dense.as_mut_ptr(),
                            rs: stride as isize,
                            cs: 1,
                        },
                        false,
                    )
                };
                // All of the stride computed, or only its first vector (the rest is padding).
                for (lo, lanes) in [(0, stride), (rows / 3, stride), (rows / 3, LANES)] {
                    let range = lo..rows;
                    let io_for = |o: &mut Vec<f32>| Operands {
                        xs: xs.as_ptr(),
                        out: o.as_mut_ptr(),
                        stride,
                        accumulate: false,
                    };
                    for blocked in [true, false] {
                        let mut out = vec![f32::NAN; range.len() * stride];
                        let e = if blocked {
                            Entries {
                                ptr: &b.ptr[..],
                                indices: &b.indices,
                                values: &b.values,
                                blocks: b.blocks,
                                rows,
                            }
                        } else {
                            // The plain CSR's offsets are usize: same kernel, other offset type.
                            let io = io_for(&mut out);
                            // SAFETY: `csr` was checked when built (its `rows + 1` offsets rise, indices below
                            // `cols`); `xs` holds `cols · stride` floats and `out` `range.len() · stride`;
                            // `lanes` (16 or `stride`) is a multiple of 16 and at most `stride`; `family`
                            // comes from `supported_families()`.
                            unsafe {
                                kernels::csr_tiles_with(
                                    family,
                                    Entries {
                                        ptr: &csr.indptr[..],
                                        indices: &csr.indices,
                                        values: &csr.values,
                                        blocks: 1,
                                        rows,
                                    },
                                    io,
                                    lanes,
                                    range.clone(),
                                )
                            };
                            for r in range.clone() {
                                for j in 0..lanes {
                                    let got = out[(r - lo) * stride + j];
                                    assert_eq!(got.to_bits(), chain(&csr, &xs, stride, r, j).to_bits(), "{family} plain, {rows}x{cols} at {density}, stride {stride}, row {r} lane {j}");
                                    assert_eq!(
                                        got,
                                        dense[r * stride + j],
                                        "{family} plain vs dense, row {r} lane {j}"
                                    );
                                }
                            }
                            continue;
                        };
                        let io = io_for(&mut out);
                        // SAFETY: `e` is the blocked layout of the checked matrix (`blocks · rows + 1`
                        // rising offsets, indices below `cols`); `xs`, `out`, `lanes` and `family` as in
                        // the plain CSR's call above.
                        unsafe { kernels::csr_tiles_with(family, e, io, lanes, range.clone()) };
                        for r in range.clone() {
                            for j in 0..lanes {
                                let got = out[(r - lo) * stride + j];
                                assert_eq!(got.to_bits(), chain(&csr, &xs, stride, r, j).to_bits(), "{family} blocked, {rows}x{cols} at {density}, stride {stride}, row {r} lane {j}");
                                assert_eq!(
                                    got,
                                    dense[r * stride + j],
                                    "{family} blocked vs dense, row {r} lane {j}"
                                );
                            }
                        }
                    }
                }
            }
            // One to three samples packed (stride n), as the per-sample kernel reads them.
            for n in 1..=GATHER_SAMPLES {
                let mut rng = ChaCha8Rng::seed_from_u64(200 + seed as u64);
                let xs: Vec<f32> = (0..cols * n).map(|_| rng.gen_range(-2.0f32..2.0)).collect();
                // The sliced layout where it was made, and the plain CSR.
                let plain = FewEntries {
                    sliced: None,
                    ..csr.few_entries()
                };
                for (lo, entries) in [
                    (0, csr.few_entries()),
                    (rows / 3, csr.few_entries()),
                    (rows / 3, plain),
                ] {
                    let mut out = vec![f32::NAN; (rows - lo) * n];
                    let io = Operands {
                        xs: xs.as_ptr(),
                        out: out.as_mut_ptr(),
                        stride: n,
                        accumulate: false,
                    };
                    // SAFETY: `entries` are the checked matrix's (its sliced layout from `Sliced::new`, or
                    // none); `xs` holds `cols · n` floats and `out` `(rows - lo) · n`, stride `n`; `family`
                    // comes from `supported_families()`.
                    unsafe { kernels::csr_few_with(family, entries, io, n, lo..rows) };
                    for r in lo..rows {
                        for j in 0..n {
                            assert_eq!(
                                out[(r - lo) * n + j].to_bits(),
                                chain(&csr, &xs, n, r, j).to_bits(),
                                "{family} packed, {rows}x{cols}, {n} samples, row {r}"
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(sliced >= 4, "only {sliced} matrices had the sliced layout");
}

#[test]
fn a_csr_is_checked_when_built_or_read() {
    let ok = Csr::new(2, 3, vec![0, 1, 3], vec![2, 0, 1], vec![1.0, 2.0, 3.0]).unwrap();
    assert_eq!((ok.rows(), ok.cols(), ok.nnz()), (2, 3, 3));
    let bad = [
        Csr::new(2, 3, vec![0, 1], vec![2], vec![1.0]),
        Csr::new(2, 3, vec![0, 2, 1], vec![0, 1], vec![1.0, 2.0]),
        Csr::new(2, 3, vec![1, 1, 1], vec![0], vec![1.0]),
        Csr::new(1, 3, vec![0, 1], vec![3], vec![1.0]),
        Csr::new(1, 3, vec![0, 1], vec![0, 1], vec![1.0]),
        Csr::new(1, 3, vec![0, 1], vec![0], vec![f32::NAN]),
        Csr::new(1, 3, vec![0, 2], vec![2, 0], vec![1.0, 2.0]),
    ];
    for b in bad {
        assert!(b.is_err(), "{b:?}");
    }
    // A stored matrix with an index past its columns is refused on reading, never used.
    let mut json = serde_json::to_value(&ok).unwrap();
    json["indices"][0] = serde_json::json!(7);
    assert!(serde_json::from_value::<Csr>(json).is_err());
    let back: Csr = serde_json::from_value(serde_json::to_value(&ok).unwrap()).unwrap();
    assert_eq!(back, ok);
}

#[test]
fn a_stored_network_is_checked_when_read() {
    use crate::prune::WeightPruning;
    let mut m = Mlp::config(&[4, 6, 5, 3]).seed(4).build().unwrap();
    WeightPruning::magnitude(0.75).apply(&mut m).unwrap();
    let net = m.to_sparse_with_crossover(0.5, 0.1).unwrap();
    assert_eq!(net.switching_layers(), 3);
    let json = serde_json::to_value(&net).unwrap();
    let back: SparseMlp = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, net);
    let tamper = |path: &[&str], v: serde_json::Value| {
        let mut j = json.clone();
        let mut at = &mut j;
        for p in path {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        *at = v;
        serde_json::from_value::<SparseMlp>(j)
    };
    use serde_json::json;
    let bad = [
        // The dense form transposed (same number of values): 4 inputs read as 6.
        tamper(
            &["layers", "0", "kernel", "BySamples", "dense", "dim"],
            json!([4, 6]),
        ),
        tamper(&["layers", "1", "bias", "dim"], json!([4])),
        tamper(&["layers", "1", "bias", "data", "0"], json!(null)),
        tamper(&["layers", "2", "density"], json!(1.5)),
        tamper(&["layers"], json!([])),
        tamper(&["n_inputs"], json!(5)),
        tamper(&["topology"], json!("DenselyConnected")),
    ];
    for (i, b) in bad.iter().enumerate() {
        assert!(b.is_err(), "case {i} was accepted");
    }
}

/// `from_masked` keeps exactly the entries the mask keeps, row by row in column order, for views in any
/// memory order, for matrices without columns or rows, and for masks keeping none, some or nearly all; the
/// training form holds the same entries.
#[test]
fn from_masked_keeps_exactly_the_masked_entries_in_any_layout() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let shapes = [(0, 3), (3, 0), (1, 1), (5, 7), (33, 300), (20, 64)];
    for ((rows, cols), kept) in shapes
        .into_iter()
        .flat_map(|s| [(s, 0.0), (s, 0.3), (s, 0.97)])
    {
        let w = Array2::from_shape_fn((rows, cols), |_| rng.gen_range(-1.0f32..1.0));
        let mask = Array2::from_shape_fn((rows, cols), |_| rng.gen_bool(kept));
        let want = |w: ArrayView2<f32>, m: ArrayView2<bool>| {
            let mut entries = Vec::new();
            for r in 0..w.nrows() {
                for c in 0..w.ncols() {
                    if m[[r, c]] {
                        entries.push((r, c as u32, w[[r, c]].to_bits()));
                    }
                }
            }
            entries
        };
        let got = |csr: &Csr| {
            (0..csr.rows)
                .flat_map(|r| {
                    (csr.indptr[r]..csr.indptr[r + 1])
                        .map(move |e| (r, csr.indices[e], csr.values[e].to_bits()))
                })
                .collect::<Vec<_>>()
        };
        // Standard layout, and the transposes (column-major views of the same arrays).
        for (w, m) in [(w.view(), mask.view()), (w.t(), mask.t())] {
            let csr = Csr::from_masked(w, Some(m));
            assert_eq!(csr.indptr.len(), w.nrows() + 1);
            assert_eq!(got(&csr), want(w, m), "{rows}x{cols}");
            let training = Csr::from_masked_for_vectors(w, m);
            assert_eq!(got(&training), want(w, m), "{rows}x{cols}, training form");
            // Its column blocks hold every entry once, each from its own row and block, in column order.
            if let (Some(b), Some(from)) = (&training.blocked, &training.blocked_from) {
                let mut seen = vec![false; training.nnz()];
                for blk in 0..b.blocks {
                    for r in 0..training.rows {
                        let i = blk * training.rows + r;
                        let run = b.ptr[i] as usize..b.ptr[i + 1] as usize;
                        for t in run.clone() {
                            let e = from[t] as usize;
                            assert!(!std::mem::replace(&mut seen[e], true));
                            assert!(training.indptr[r] <= e && e < training.indptr[r + 1]);
                            assert_eq!(b.indices[t], training.indices[e]);
                            assert_eq!(b.values[t].to_bits(), training.values[e].to_bits());
                            assert_eq!(b.indices[t] as usize / TRAIN_COL_BLOCK, blk);
                        }
                        assert!(b.indices[run].windows(2).all(|p| p[0] < p[1]));
                    }
                }
                assert!(
                    seen.iter().all(|&s| s),
                    "{rows}x{cols}: every entry blocked"
                );
            }
            let all = Csr::from_masked(w, None);
            assert_eq!(all.nnz(), w.len());
        }
    }
}

/// A NaN or an infinity anywhere in a batch is refused, whichever block of samples holds it and whichever
/// path the batch takes (the dense pass, the gather kernel's few samples, the CSR tiles in blocks of 128,
/// in parallel or not); a finite batch gives the same outputs as before the check.
#[test]
fn a_non_finite_input_is_refused_wherever_it_lies() {
    use crate::prune::WeightPruning;
    let mut m = Mlp::config(&[20, 16, 12, 3]).seed(9).build().unwrap();
    WeightPruning::magnitude(0.8).apply(&mut m).unwrap();
    for net in [
        m.to_sparse_with_crossover(1.0, 1.0).unwrap(),
        m.to_sparse_with_crossover(0.0, 0.0).unwrap(),
    ] {
        for n in [1, 3, 17, 128, 300] {
            let x = Array2::from_shape_fn((n, 20), |(i, j)| ((i * 20 + j) as f32 * 0.37).sin());
            let want = net.forward(&x).unwrap();
            assert_eq!(want, m.forward(&x).unwrap(), "{n} samples");
            for (i, j) in [(0, 0), (n / 2, 19), (n - 1, 7), (n - 1, 19)] {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut y = x.clone();
                    y[[i, j]] = bad;
                    assert!(
                        matches!(net.forward(&y), Err(Error::NonFinite { what: "input" })),
                        "{n} samples, {bad} at ({i}, {j})"
                    );
                }
            }
        }
    }
}
