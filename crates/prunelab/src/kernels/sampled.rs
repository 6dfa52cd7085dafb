//! The sampled product of sparse training's weight gradient: `∂L/∂W = dZᵀ·X` at a CSR matrix's entries only.
//!
//! Each entry's sum is one chain of fused multiply-adds over the samples in index order, as every dot
//! product in prunelab is (see [`crate::kernels`]), so the gradient of a kept weight has the bits the
//! dense product gives it. Eight entries' chains run side by side.

/// Entries whose chains run side by side.
const CHAINS: usize = 8;

/// Entries per parallel piece; smaller products run on the calling thread.
const PARALLEL_ENTRIES: usize = 1 << 12;

/// `out[e] = Σ_{s < n} a[r·stride + s] · b[indices[e]·stride + s]` for every entry `e` of every row `r`
/// (row `r`'s entries are `indptr[r]..indptr[r + 1]`), each sum one FMA chain in sample order from zero.
/// `a` and `b` are feature-major: row `r` of `a` (an output's `∂L/∂z`) and row `c` of `b` (an input's
/// activations) hold their samples at `stride` apart. Rows are split over rayon's threads when the product
/// is large (the same numbers: every entry is computed alone).
///
/// Panics unless `indptr` rises from 0 to `out.len() == indices.len()`, `n ≤ stride`, and `a` and `b`
/// hold every row they are read at.
pub(crate) fn sampled_product(
    indptr: &[usize],
    indices: &[u32],
    a: &[f32],
    b: &[f32],
    stride: usize,
    n: usize,
    out: &mut [f32],
) {
    let rows = indptr.len().saturating_sub(1);
    assert!(
        indptr.first() == Some(&0)
            && indptr[rows] == out.len()
            && indices.len() == out.len()
            && indptr.windows(2).all(|w| w[0] <= w[1])
            && n <= stride
            && a.len() >= rows * stride
            && indices
                .iter()
                .all(|&c| (c as usize + 1) * stride <= b.len()),
        "sampled product operands"
    );
    if out.len() < 2 * PARALLEL_ENTRIES || !crate::linalg::may_split() {
        return rows_into(indptr, indices, a, b, stride, n, 0..rows, out);
    }
    use rayon::prelude::*;
    // Pieces of whole rows with about PARALLEL_ENTRIES entries each.
    let mut pieces = Vec::new();
    let (mut rest, mut start) = (out, 0);
    while start < rows {
        let mut end = start + 1;
        while end < rows && indptr[end] - indptr[start] < PARALLEL_ENTRIES {
            end += 1;
        }
        let (piece, tail) = rest.split_at_mut(indptr[end] - indptr[start]);
        pieces.push((start..end, piece));
        rest = tail;
        start = end;
    }
    pieces
        .into_par_iter()
        .for_each(|(range, piece)| rows_into(indptr, indices, a, b, stride, n, range, piece));
}

/// [`sampled_product`] for rows `rows`, whose entries `out` holds (from row `rows.start`'s first).
#[allow(clippy::too_many_arguments)]
fn rows_into(
    indptr: &[usize],
    indices: &[u32],
    a: &[f32],
    b: &[f32],
    stride: usize,
    n: usize,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::has_fma() {
        // SAFETY: `has_fma()` is the one-time CPU detection in `kernels`: the CPU has FMA.
        return unsafe { rows_fma(indptr, indices, a, b, stride, n, rows, out) };
    }
    rows_any(indptr, indices, a, b, stride, n, rows, out)
}

/// [`rows_any`] compiled for the FMA unit (the same numbers: [`f32::mul_add`] is one rounding either way).
///
/// # Safety
/// The CPU must have FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_fma(
    indptr: &[usize],
    indices: &[u32],
    a: &[f32],
    b: &[f32],
    stride: usize,
    n: usize,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    rows_any(indptr, indices, a, b, stride, n, rows, out)
}

/// The loop, for any CPU: per row, its entries [`CHAINS`] at a time, each a chain over the samples.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows_any(
    indptr: &[usize],
    indices: &[u32],
    a: &[f32],
    b: &[f32],
    stride: usize,
    n: usize,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    let base = indptr[rows.start];
    for r in rows {
        let d = &a[r * stride..][..n];
        let (lo, hi) = (indptr[r], indptr[r + 1]);
        let mut e = lo;
        while e + CHAINS <= hi {
            let xs: [&[f32]; CHAINS] =
                std::array::from_fn(|l| &b[indices[e + l] as usize * stride..][..n]);
            let mut acc = [0.0f32; CHAINS];
            for (s, &ds) in d.iter().enumerate() {
                for l in 0..CHAINS {
                    acc[l] = ds.mul_add(xs[l][s], acc[l]);
                }
            }
            out[e - base..e - base + CHAINS].copy_from_slice(&acc);
            e += CHAINS;
        }
        for e in e..hi {
            let x = &b[indices[e] as usize * stride..][..n];
            out[e - base] = d.iter().zip(x).fold(0.0, |s, (&ds, &xs)| ds.mul_add(xs, s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry equals its own chain in sample order, whatever the piece and chain grouping.
    #[test]
    fn entries_are_chains_in_sample_order() {
        let (rows, cols, stride, n) = (37, 29, 32, 27);
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let a: Vec<f32> = (0..rows * stride).map(|_| next()).collect();
        let b: Vec<f32> = (0..cols * stride).map(|_| next()).collect();
        let mut indptr = vec![0];
        let mut indices = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                if (r * 7 + c * 3) % (r % 5 + 2) == 0 {
                    indices.push(c as u32);
                }
            }
            indptr.push(indices.len());
        }
        let mut out = vec![f32::NAN; indices.len()];
        sampled_product(&indptr, &indices, &a, &b, stride, n, &mut out);
        for r in 0..rows {
            for e in indptr[r]..indptr[r + 1] {
                let c = indices[e] as usize;
                let want = (0..n).fold(0.0f32, |s, k| {
                    a[r * stride + k].mul_add(b[c * stride + k], s)
                });
                assert_eq!(out[e].to_bits(), want.to_bits(), "row {r}, entry {e}");
            }
        }
    }
}
