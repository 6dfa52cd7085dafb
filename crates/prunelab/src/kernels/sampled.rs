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
/// hold every row they are read at (`b`'s rows are checked as each entry reads its own).
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
            && a.len() >= rows * stride,
        "sampled product operands"
    );
    // (Each entry's input row is sliced, so checked, where it is read: no pass over the indices here.)
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
    match crate::kernels::family() {
        // SAFETY: the AVX-512 family needs AVX-512F and AVX-512VL besides AVX2 and FMA, and `family()` is
        // always a family the one-time detection found this CPU to support.
        crate::kernels::SimdFamily::Avx512 => return unsafe { avx2::rows_wide(op, rows, out) },
        // SAFETY: the AVX2 family needs AVX2 and FMA; as above.
        crate::kernels::SimdFamily::Avx2 => return unsafe { avx2::rows(op, rows, out) },
        crate::kernels::SimdFamily::Portable => {}
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

    use super::Operands;

    /// Samples `s..s + 8` of eight rows, transposed: vector `k` holds sample `s + k` of rows `0..8`.
    ///
    /// The loads do the first step of the transpose: each vector is built from two 4-sample halves of rows
    /// `l` and `l + 4` (a load, a load broadcast and a blend, none of which needs a shuffle unit), and two
    /// 4x4 transposes within the 128-bit halves finish it: 16 shuffles instead of the 24 of a transpose of
    /// eight whole rows, the shuffles being what bounds this kernel.
    ///
    /// # Safety
    /// AVX is enabled; each `rows[l].add(s)..+8` is readable.
    #[inline(always)]
    unsafe fn transposed(rows: &[*const f32; 8], s: usize) -> [__m256; 8] {
        // SAFETY: as the caller guarantees: every load reads inside `rows[l].add(s)..+8`.
        unsafe {
            // `half(l, h)`: samples `s + 4h..s + 4h + 4` of row `l` in the low half, of row `l + 4` in the
            // high half.
            let half = |l: usize, h: usize| {
                let lo = _mm256_castps128_ps256(_mm_loadu_ps(rows[l].add(s + 4 * h)));
                let hi = _mm256_broadcast_ps(&*(rows[l + 4].add(s + 4 * h) as *const __m128));
                _mm256_blend_ps::<0xF0>(lo, hi)
            };
            let [a, b] = [
                transposed_half(half(0, 0), half(1, 0), half(2, 0), half(3, 0)),
                transposed_half(half(0, 1), half(1, 1), half(2, 1), half(3, 1)),
            ];
            [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
        }
    }

    /// Samples `s..s + 4` of eight rows, transposed: vector `k` holds sample `s + k` of rows `0..8` (the
    /// first half of [`transposed`], for the last four samples of a chain).
    ///
    /// # Safety
    /// AVX is enabled; each `rows[l].add(s)..+4` is readable.
    #[inline(always)]
    unsafe fn transposed4(rows: &[*const f32; 8], s: usize) -> [__m256; 4] {
        // SAFETY: as the caller guarantees: every load reads inside `rows[l].add(s)..+4`.
        unsafe {
            let half = |l: usize| {
                let lo = _mm256_castps128_ps256(_mm_loadu_ps(rows[l].add(s)));
                let hi = _mm256_broadcast_ps(&*(rows[l + 4].add(s) as *const __m128));
                _mm256_blend_ps::<0xF0>(lo, hi)
            };
            transposed_half(half(0), half(1), half(2), half(3))
        }
    }

    /// Four vectors each holding four samples of row `l` (low half) and of row `l + 4` (high half),
    /// transposed within the halves: vector `k` holds sample `k` of rows `0..8`.
    ///
    /// # Safety
    /// AVX is enabled.
    #[inline(always)]
    unsafe fn transposed_half(r0: __m256, r1: __m256, r2: __m256, r3: __m256) -> [__m256; 4] {
        // SAFETY: as the caller guarantees; register shuffles only.
        unsafe {
            let t0 = _mm256_unpacklo_ps(r0, r1);
            let t1 = _mm256_unpackhi_ps(r0, r1);
            let t2 = _mm256_unpacklo_ps(r2, r3);
            let t3 = _mm256_unpackhi_ps(r2, r3);
            [
                _mm256_shuffle_ps::<0x44>(t0, t2),
                _mm256_shuffle_ps::<0xEE>(t0, t2),
                _mm256_shuffle_ps::<0x44>(t1, t3),
                _mm256_shuffle_ps::<0xEE>(t1, t3),
            ]
        }
    }

    /// `G` groups of eight entries, each of one row: group `g`'s entries read the row's `∂L/∂z` at
    /// `ds[g]` and the input rows `cols[g][l]`; writes the sums to `out[g]`. The groups' chains are
    /// independent, so `G` of them hide the latency of a multiply-add.
    ///
    /// # Safety
    /// AVX2 and FMA are enabled; every `ds[g]` and `cols[g][l]` holds `n` readable floats.
    #[inline(always)]
    unsafe fn groups<const G: usize>(
        ds: &[*const f32; G],
        cols: &[[*const f32; 8]; G],
        n: usize,
        out: &mut [[f32; 8]; G],
    ) {
        // SAFETY: as the caller guarantees (every load below reads samples `s..s + 8 ≤ n`, `s..s + 4 ≤ n`
        // or `s < n`).
        unsafe {
            let mut acc = [_mm256_setzero_ps(); G];
            let mut s = 0;
            while s + 8 <= n {
                for g in 0..G {
                    let x = transposed(&cols[g], s);
                    for (k, xk) in x.iter().enumerate() {
                        acc[g] = _mm256_fmadd_ps(*xk, _mm256_set1_ps(*ds[g].add(s + k)), acc[g]);
                    }
                }
                s += 8;
            }
            if s + 4 <= n {
                for g in 0..G {
                    let x = transposed4(&cols[g], s);
                    for (k, xk) in x.iter().enumerate() {
                        acc[g] = _mm256_fmadd_ps(*xk, _mm256_set1_ps(*ds[g].add(s + k)), acc[g]);
                    }
                }
                s += 4;
            }
            for g in 0..G {
                let sums = &mut out[g];
                _mm256_storeu_ps(sums.as_mut_ptr(), acc[g]);
                for t in s..n {
                    let d = *ds[g].add(t);
                    for (l, sum) in sums.iter_mut().enumerate() {
                        *sum = d.mul_add(*cols[g][l].add(t), *sum);
                    }
                }
            }
        }
    }

    /// One group of [`groups`]: up to eight entries of a row, written to `out[at..at + len]`.
    #[derive(Clone, Copy)]
    struct Group {
        d: *const f32,
        cols: [*const f32; 8],
        at: usize,
        len: usize,
    }

    /// Runs `G` gathered groups and stores each one's entries.
    ///
    /// # Safety
    /// As [`groups`], for the groups' pointers; each `at + len` lies inside `out`.
    #[inline(always)]
    unsafe fn run<const G: usize>(pending: &[Group], n: usize, out: &mut [f32]) {
        let ds: [*const f32; G] = std::array::from_fn(|g| pending[g].d);
        let cols: [[*const f32; 8]; G] = std::array::from_fn(|g| pending[g].cols);
        let mut sums = [[0.0f32; 8]; G];
        // SAFETY: as the caller guarantees.
        unsafe { groups::<G>(&ds, &cols, n, &mut sums) };
        for (p, sums) in pending.iter().zip(&sums) {
            out[p.at..p.at + p.len].copy_from_slice(&sums[..p.len]);
        }
    }

    /// The loop behind both compilations of [`rows`]: each row's entries in groups of eight (a last group
    /// of one to seven repeats an entry's input in its spare lanes, computed, not stored), and `G` groups,
    /// of one row or of consecutive ones, side by side.
    ///
    /// # Safety
    /// AVX2 and FMA are enabled; the operands as [`super::sampled_product`] checked them.
    #[inline(always)]
    unsafe fn rows_with<const G: usize>(
        op: Operands,
        rows: std::ops::Range<usize>,
        out: &mut [f32],
    ) {
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
        let empty = Group {
            d: std::ptr::null(),
            cols: [std::ptr::null(); 8],
            at: 0,
            len: 0,
        };
        let mut pending = [empty; G];
        let mut count = 0;
        for r in rows {
            let d = a[r * stride..][..n].as_ptr();
            let (lo, hi) = (indptr[r], indptr[r + 1]);
            for e in (lo..hi).step_by(8) {
                let len = (hi - e).min(8);
                pending[count] = Group {
                    d,
                    cols: std::array::from_fn(|l| col(e + l.min(len - 1))),
                    at: e - base,
                    len,
                };
                count += 1;
                if count == G {
                    // SAFETY: AVX2 and FMA are enabled here; `d` and each column's slice hold `n` floats
                    // (sliced above, so checked); each group's entries lie inside `out` (`indptr` rises to
                    // `out.len()` from `base`).
                    unsafe { run::<G>(&pending, n, out) };
                    count = 0;
                }
            }
        }
        // SAFETY: as above, for the groups left.
        unsafe {
            match count {
                0 => {}
                1 => run::<1>(&pending[..1], n, out),
                2 => run::<2>(&pending[..2], n, out),
                _ => {
                    // Three or more left: pad with copies of the first (computed, stored again alike).
                    let mut rest = [pending[0]; G];
                    rest[..count].copy_from_slice(&pending[..count]);
                    run::<G>(&rest, n, out)
                }
            }
        }
    }

    /// [`super::rows_any`] with eight entries per vector (the same chains, so the same bits), for AVX2's
    /// sixteen vector registers: two groups side by side.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; the operands as [`super::sampled_product`] checked them.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn rows(op: Operands, rows: std::ops::Range<usize>, out: &mut [f32]) {
        // SAFETY: AVX2 and FMA are enabled; the operands as the caller guarantees.
        unsafe { rows_with::<2>(op, rows, out) }
    }

    /// [`rows`] compiled where AVX-512 gives thirty-two vector registers: four groups side by side (the
    /// same 256-bit arithmetic, so the same bits).
    ///
    /// # Safety
    /// The CPU has AVX-512F and AVX-512VL besides AVX2 and FMA; the operands as
    /// [`super::sampled_product`] checked them.
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
    pub(super) unsafe fn rows_wide(op: Operands, rows: std::ops::Range<usize>, out: &mut [f32]) {
        // SAFETY: AVX2 and FMA are enabled; the operands as the caller guarantees.
        unsafe { rows_with::<4>(op, rows, out) }
    }
}

/// Feature-major operands for the sampled products' tests: `rows` rows of `a` and `cols` of `b`, `stride`
/// floats each, in [-0.5, 0.5) from a seeded generator.
#[cfg(test)]
pub(crate) fn test_operands(
    rows: usize,
    cols: usize,
    stride: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let a = (0..rows * stride).map(|_| next()).collect();
    let b = (0..cols * stride).map(|_| next()).collect();
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry equals its own chain in sample order, whatever the piece and chain grouping.
    #[test]
    fn entries_are_chains_in_sample_order() {
        let (rows, cols, stride, n) = (37, 29, 32, 27);
        let (a, b) = test_operands(rows, cols, stride, 7);
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
            if crate::kernels::SimdFamily::Avx512.is_supported() {
                let mut wide = vec![f32::NAN; indices.len()];
                // SAFETY: the AVX-512 family's detection found AVX-512F and AVX-512VL besides AVX2 and
                // FMA; the operands as above.
                unsafe { avx2::rows_wide(op, 0..rows, &mut wide) };
                assert!(wide
                    .iter()
                    .zip(&out)
                    .all(|(v, o)| v.to_bits() == o.to_bits()));
            }
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
