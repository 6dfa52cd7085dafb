//! The sampled product of sparse training's weight gradient: `∂L/∂W = dZᵀ·X` at a CSR matrix's entries only.
//!
//! Each entry's sum is one chain of fused multiply-adds over the samples in index order, as every dot
//! product in prunelab is (see [`crate::kernels`]), so the gradient of a kept weight has the bits the
//! dense product gives it. Eight entries' chains run side by side.

/// Entries whose chains run side by side.
const CHAINS: usize = 8;

/// Entries per parallel piece; smaller products run on the calling thread.
const PARALLEL_ENTRIES: usize = 1 << 12;

/// What the sampled product reads: row `r`'s entries `indptr[r]..indptr[r + 1]` at columns `indices`, and
/// the feature-major operands `a` (by row) and `b` (by column), `n` samples each at `stride` apart.
#[derive(Clone, Copy)]
struct Operands<'a> {
    indptr: &'a [usize],
    indices: &'a [u32],
    a: &'a [f32],
    b: &'a [f32],
    stride: usize,
    n: usize,
}

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
    let op = Operands {
        indptr,
        indices,
        a,
        b,
        stride,
        n,
    };
    if out.len() < 2 * PARALLEL_ENTRIES || !crate::linalg::may_split() {
        return rows_into(op, 0..rows, out);
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
        .for_each(|(range, piece)| rows_into(op, range, piece));
}

/// [`sampled_product`] for rows `rows`, whose entries `out` holds (from row `rows.start`'s first).
fn rows_into(op: Operands, rows: std::ops::Range<usize>, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::family() != crate::kernels::SimdFamily::Portable {
        // SAFETY: the AVX2 and AVX-512 families both need AVX2 and FMA, and `family()` is always a family
        // the one-time detection found this CPU to support.
        return unsafe { avx2::rows(op, rows, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::has_fma() {
        // SAFETY: `has_fma()` is the one-time CPU detection in `kernels`: the CPU has FMA.
        return unsafe { rows_fma(op, rows, out) };
    }
    rows_any(op, rows, out)
}

/// [`rows_any`] compiled for the FMA unit (the same numbers: [`f32::mul_add`] is one rounding either way).
///
/// # Safety
/// The CPU must have FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn rows_fma(op: Operands, rows: std::ops::Range<usize>, out: &mut [f32]) {
    rows_any(op, rows, out)
}

/// The loop, for any CPU: per row, its entries [`CHAINS`] at a time, each a chain over the samples.
#[inline(always)]
fn rows_any(op: Operands, rows: std::ops::Range<usize>, out: &mut [f32]) {
    let Operands {
        indptr,
        indices,
        a,
        b,
        stride,
        n,
    } = op;
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

/// The AVX2 form: eight entries' chains in the lanes of one vector, two vectors side by side. Eight
/// samples of each entry's input row are loaded and transposed in registers, so that vector `k` holds
/// sample `s + k` of all eight entries, and each is added into the chains with that sample's `∂L/∂z`.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::super::avx2::transpose8;
    use super::Operands;

    /// Samples `s..s + 8` of eight rows, transposed: vector `k` holds sample `s + k` of rows `0..8`.
    ///
    /// # Safety
    /// AVX is enabled; each `rows[l].add(s)..+8` is readable.
    #[inline(always)]
    unsafe fn transposed(rows: &[*const f32; 8], s: usize) -> [__m256; 8] {
        // SAFETY: as the caller guarantees.
        unsafe { transpose8(std::array::from_fn(|l| _mm256_loadu_ps(rows[l].add(s)))) }
    }

    /// `G` groups of eight entries of one row: `cols[g][l]` is entry `8g + l`'s input row, `d` the row's
    /// `∂L/∂z`; writes the sums to `out[8g + l]`.
    ///
    /// # Safety
    /// AVX2 and FMA are enabled; `d` and every `cols[g][l]` hold `n` readable floats; `out` holds `8G`.
    #[inline(always)]
    unsafe fn groups<const G: usize>(
        d: *const f32,
        cols: &[[*const f32; 8]; G],
        n: usize,
        out: &mut [f32],
    ) {
        // SAFETY: as the caller guarantees (every load below reads samples `s..s + 8 ≤ n` or `s < n`).
        unsafe {
            let mut acc = [_mm256_setzero_ps(); G];
            let mut s = 0;
            while s + 8 <= n {
                for g in 0..G {
                    let x = transposed(&cols[g], s);
                    for (k, xk) in x.iter().enumerate() {
                        acc[g] = _mm256_fmadd_ps(*xk, _mm256_set1_ps(*d.add(s + k)), acc[g]);
                    }
                }
                s += 8;
            }
            for g in 0..G {
                let sums = &mut out[8 * g..8 * g + 8];
                _mm256_storeu_ps(sums.as_mut_ptr(), acc[g]);
                for t in s..n {
                    let ds = *d.add(t);
                    for (l, sum) in sums.iter_mut().enumerate() {
                        *sum = ds.mul_add(*cols[g][l].add(t), *sum);
                    }
                }
            }
        }
    }

    /// [`super::rows_any`] with eight entries per vector (the same chains, so the same bits).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; the operands as [`super::sampled_product`] checked them.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn rows(op: Operands, rows: std::ops::Range<usize>, out: &mut [f32]) {
        let Operands {
            indptr,
            indices,
            a,
            b,
            stride,
            n,
        } = op;
        let base = indptr[rows.start];
        let col = |e: usize| b[indices[e] as usize * stride..][..n].as_ptr();
        for r in rows {
            let d = &a[r * stride..][..n];
            let (lo, hi) = (indptr[r], indptr[r + 1]);
            let mut e = lo;
            while e + 16 <= hi {
                let cols: [[*const f32; 8]; 2] =
                    std::array::from_fn(|g| std::array::from_fn(|l| col(e + 8 * g + l)));
                // SAFETY: AVX2 and FMA are enabled here; `d` and each column's slice hold `n` floats
                // (sliced above, so checked); `out` from `e - base` holds these 16 entries.
                unsafe { groups::<2>(d.as_ptr(), &cols, n, &mut out[e - base..e - base + 16]) };
                e += 16;
            }
            while e + 8 <= hi {
                let cols: [[*const f32; 8]; 1] = [std::array::from_fn(|l| col(e + l))];
                // SAFETY: as above, for 8 entries.
                unsafe { groups::<1>(d.as_ptr(), &cols, n, &mut out[e - base..e - base + 8]) };
                e += 8;
            }
            if e < hi {
                // The last one to seven entries: a group whose spare lanes repeat the first entry's input
                // (computed, not stored), so that they too run side by side instead of as lone chains.
                let t = hi - e;
                let cols: [[*const f32; 8]; 1] = [std::array::from_fn(|l| col(e + l.min(t - 1)))];
                let mut sums = [0.0f32; 8];
                // SAFETY: as above; every lane's column is one of these entries' (checked slices).
                unsafe { groups::<1>(d.as_ptr(), &cols, n, &mut sums) };
                out[e - base..hi - base].copy_from_slice(&sums[..t]);
            }
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
                if (r * 7 + c * 3) % (r % 5 + 1) == 0 {
                    indices.push(c as u32);
                }
            }
            indptr.push(indices.len());
        }
        let mut out = vec![f32::NAN; indices.len()];
        sampled_product(&indptr, &indices, &a, &b, stride, n, &mut out);
        // The plain loop and (where the CPU has it) the AVX2 one give the same bits as the dispatch.
        let mut plain = vec![f32::NAN; indices.len()];
        let op = Operands {
            indptr: &indptr,
            indices: &indices,
            a: &a,
            b: &b,
            stride,
            n,
        };
        rows_any(op, 0..rows, &mut plain);
        assert!(plain
            .iter()
            .zip(&out)
            .all(|(p, o)| p.to_bits() == o.to_bits()));
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::has_avx2() && crate::kernels::has_fma() {
            let mut vector = vec![f32::NAN; indices.len()];
            // SAFETY: the CPU has AVX2 and FMA (checked above); the operands were checked by the
            // `sampled_product` call above.
            unsafe { avx2::rows(op, 0..rows, &mut vector) };
            assert!(vector
                .iter()
                .zip(&out)
                .all(|(v, o)| v.to_bits() == o.to_bits()));
        }
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
