//! The sampled product by tiles: `∂L/∂W = dZᵀ·X` at a CSR matrix's entries, with the entries grouped by
//! 16x16 tiles of the matrix so that sixteen of them share a vector without a transpose.
//!
//! Both operands are first laid out in *sample blocks*: block `k` holds rows `16k..16k + 16` sample by
//! sample, sixteen floats per sample (one 64-byte vector). A tile's entries then take their `∂L/∂z` and their
//! input from the two vectors of one sample by a permutation each, and sixteen entries, of any rows and
//! columns of the tile, advance their chains by one fused multiply-add. [`super::sampled`] instead transposes
//! eight input rows for every eight entries, which the shuffle units bound; this form needs two
//! permutations per sixteen entries, and pays in lanes left empty where a tile holds few entries: it is worth
//! it where the tiles are full enough ([`SampledTiles::if_full`]).
//!
//! Each entry's sum is the same chain of fused multiply-adds over the samples in index order from zero,
//! so the bits equal [`super::sampled::sampled_product`]'s (tested).

use std::ops::Range;

use super::SimdFamily;

/// Rows and columns of a tile (f32 lanes of a 64-byte vector).
const TILE: usize = 16;

/// Vectors whose chains run side by side in the vector kernel.
const CHAINS: usize = 4;

/// Entries per parallel piece; smaller products run on the calling thread.
const PARALLEL_ENTRIES: usize = 1 << 12;

/// Up to sixteen entries of one tile, one per lane.
#[derive(Debug, Clone, Copy)]
struct Lanes {
    /// The tile's column block.
    block: u32,
    /// Entries held (lanes past it repeat lane 0's row and column; their sums are not stored).
    len: u32,
    /// Each lane's row within the row block.
    rows: [u8; TILE],
    /// Each lane's column within the column block.
    cols: [u8; TILE],
    /// Each lane's entry index in the CSR matrix.
    entries: [u32; TILE],
}

/// A CSR matrix's entries grouped for the tiled sampled product: per row block (sixteen rows), its tiles'
/// entries sixteen to a vector, tile after tile in column order.
#[derive(Debug, Clone)]
pub(crate) struct SampledTiles {
    /// The vectors, row block after row block.
    lanes: Vec<Lanes>,
    /// Row block `k`'s vectors are `starts[k]..starts[k + 1]`.
    starts: Vec<usize>,
    /// Row block `k`'s entries are `block_entries[k]..block_entries[k + 1]` of the CSR matrix (the row
    /// offsets at every sixteenth row: a row block's entries are contiguous there).
    block_entries: Vec<usize>,
    /// Rows of the matrix.
    rows: usize,
    /// Columns of the matrix.
    cols: usize,
}

impl SampledTiles {
    /// The tiles of a `rows x cols` CSR matrix (`rows = indptr.len() - 1`) with column `indices`, if their
    /// vectors' lanes would be at least `min_fill` full (the share of lanes holding an entry, which the
    /// tiled product's speed goes with; counted before anything is built).
    ///
    /// Panics unless `indptr` rises from 0 to `indices.len()` and every index is below `cols`.
    pub(crate) fn if_full(
        indptr: &[usize],
        indices: &[u32],
        cols: usize,
        min_fill: f64,
    ) -> Option<SampledTiles> {
        let rows = indptr.len().saturating_sub(1);
        let mut count = vec![0usize; cols.div_ceil(TILE)];
        let mut vectors = 0;
        for r0 in (0..rows).step_by(TILE) {
            let r1 = (r0 + TILE).min(rows);
            count.fill(0);
            for &c in &indices[indptr[r0]..indptr[r1]] {
                count[c as usize / TILE] += 1;
            }
            vectors += count.iter().map(|&k| k.div_ceil(TILE)).sum::<usize>();
        }
        let fill = if vectors == 0 {
            1.0
        } else {
            indices.len() as f64 / (TILE * vectors) as f64
        };
        (fill >= min_fill).then(|| SampledTiles::new(indptr, indices, cols))
    }

    /// The tiles of a `rows x cols` CSR matrix (`rows = indptr.len() - 1`) with column `indices`.
    ///
    /// Panics unless `indptr` rises from 0 to `indices.len()` and every index is below `cols`.
    pub(crate) fn new(indptr: &[usize], indices: &[u32], cols: usize) -> SampledTiles {
        let rows = indptr.len().saturating_sub(1);
        assert!(
            indptr.first() == Some(&0)
                && indptr[rows] == indices.len()
                && indices.len() < u32::MAX as usize
                && indptr.windows(2).all(|w| w[0] <= w[1])
                && indices.iter().all(|&c| (c as usize) < cols),
            "tiled sampled product: a CSR matrix"
        );
        let blocks = cols.div_ceil(TILE);
        // Per row block, a counting sort of its entries by column block (stable: row, then column order).
        let mut count = vec![0usize; blocks + 1];
        let mut next = vec![0usize; blocks + 1];
        let mut sorted: Vec<(u8, u8, u32)> = Vec::new();
        // (A tile's entries fill their vectors but for the last: about one vector per sixteen entries and
        // one more per tile held.)
        let mut lanes = Vec::with_capacity(
            indices.len() / TILE + indices.len().min(rows.div_ceil(TILE) * blocks),
        );
        let mut starts = Vec::with_capacity(rows.div_ceil(TILE) + 1);
        starts.push(0);
        for r0 in (0..rows).step_by(TILE) {
            let r1 = (r0 + TILE).min(rows);
            count.fill(0);
            for &c in &indices[indptr[r0]..indptr[r1]] {
                count[c as usize / TILE + 1] += 1;
            }
            for b in 0..blocks {
                count[b + 1] += count[b];
            }
            sorted.clear();
            sorted.resize(indptr[r1] - indptr[r0], (0, 0, 0));
            next.copy_from_slice(&count);
            for r in r0..r1 {
                for (e, &c) in (indptr[r]..).zip(&indices[indptr[r]..indptr[r + 1]]) {
                    let c = c as usize;
                    let at = &mut next[c / TILE];
                    sorted[*at] = ((r - r0) as u8, (c % TILE) as u8, e as u32);
                    *at += 1;
                }
            }
            for b in 0..blocks {
                for chunk in sorted[count[b]..count[b + 1]].chunks(TILE) {
                    let lane = |l: usize| chunk[if l < chunk.len() { l } else { 0 }];
                    lanes.push(Lanes {
                        block: b as u32,
                        len: chunk.len() as u32,
                        rows: std::array::from_fn(|l| lane(l).0),
                        cols: std::array::from_fn(|l| lane(l).1),
                        entries: std::array::from_fn(|l| lane(l).2),
                    });
                }
            }
            starts.push(lanes.len());
        }
        let block_entries = (0..=rows.div_ceil(TILE))
            .map(|k| indptr[(k * TILE).min(rows)])
            .collect();
        SampledTiles {
            lanes,
            starts,
            block_entries,
            rows,
            cols,
        }
    }

    /// Floats of a sample-blocked buffer of the matrix's rows (`a` of [`SampledTiles::product`]) for
    /// `stride` samples.
    pub(crate) fn a_len(&self, stride: usize) -> usize {
        self.rows.div_ceil(TILE) * TILE * stride
    }

    /// Floats of a sample-blocked buffer of the matrix's columns (`b` of [`SampledTiles::product`]) for
    /// `stride` samples.
    pub(crate) fn b_len(&self, stride: usize) -> usize {
        self.cols.div_ceil(TILE) * TILE * stride
    }

    /// `out[e] = Σ_{s < n} a_r[s] · b_c[s]` for every entry `e` at row `r`, column `c`, each sum one FMA chain
    /// in sample order from zero; `a` and `b` are sample-blocked ([`to_sample_blocks`]) with `stride`
    /// samples per block. Row blocks are split over rayon's threads when the product is large (the same
    /// numbers: every entry is computed alone).
    ///
    /// Panics unless `out` has one value per entry, `n ≤ stride` and `a` and `b` hold every block.
    pub(crate) fn product(&self, a: &[f32], b: &[f32], stride: usize, n: usize, out: &mut [f32]) {
        assert!(
            Some(&out.len()) == self.block_entries.last()
                && n <= stride
                && a.len() >= self.a_len(stride)
                && b.len() >= self.b_len(stride),
            "tiled sampled product operands"
        );
        let row_blocks = self.starts.len() - 1;
        let entry = |k: usize| self.block_entries[k];
        let op = Operands { a, b, stride, n };
        let family = crate::kernels::family();
        if out.len() < 2 * PARALLEL_ENTRIES || !crate::linalg::may_split() {
            return self.blocks_into(family, op, 0..row_blocks, out);
        }
        use rayon::prelude::*;
        // Pieces of whole row blocks with about PARALLEL_ENTRIES entries each.
        let mut pieces = Vec::new();
        let (mut rest, mut start) = (out, 0);
        while start < row_blocks {
            let mut end = start + 1;
            while end < row_blocks && entry(end) - entry(start) < PARALLEL_ENTRIES {
                end += 1;
            }
            let (piece, tail) = rest.split_at_mut(entry(end) - entry(start));
            pieces.push((start..end, piece));
            rest = tail;
            start = end;
        }
        pieces
            .into_par_iter()
            .for_each(|(range, piece)| self.blocks_into(family, op, range, piece));
    }

    /// [`SampledTiles::product`] for row blocks `blocks`, whose entries `out` holds (from the first one's),
    /// with `family`'s kernel (a family the CPU supports; any but AVX-512 runs the plain loop).
    fn blocks_into(&self, family: SimdFamily, op: Operands, blocks: Range<usize>, out: &mut [f32]) {
        let base = self.block_entries[blocks.start];
        assert!(
            out.len() == self.block_entries[blocks.end] - base,
            "the row blocks' entries"
        );
        #[cfg(target_arch = "x86_64")]
        if family == SimdFamily::Avx512 {
            assert!(family.is_supported());
            for k in blocks {
                let lanes = &self.lanes[self.starts[k]..self.starts[k + 1]];
                // SAFETY: the AVX-512 family needs AVX-512F and the CPU supports it (asserted); `row_block`
                // asserts that `a` and `b` hold the blocks it reads and that `n ≤ stride`; each lane's entry
                // lies in row block `k`, so in `out` from `base` (its length asserted above; each store is
                // indexed, so checked).
                unsafe { avx512::row_block(lanes, k, op, out, base) };
            }
            return;
        }
        for k in blocks {
            for v in &self.lanes[self.starts[k]..self.starts[k + 1]] {
                let a = &op.a[k * TILE * op.stride..][..TILE * op.stride];
                let b = &op.b[v.block as usize * TILE * op.stride..][..TILE * op.stride];
                for l in 0..v.len as usize {
                    let (r, c) = (v.rows[l] as usize, v.cols[l] as usize);
                    out[v.entries[l] as usize - base] =
                        (0..op.n).fold(0.0f32, |s, t| a[t * TILE + r].mul_add(b[t * TILE + c], s));
                }
            }
        }
    }
}

/// The sample-blocked operands of [`SampledTiles::product`].
#[derive(Clone, Copy)]
struct Operands<'a> {
    a: &'a [f32],
    b: &'a [f32],
    stride: usize,
    n: usize,
}

/// Writes the feature-major `src` (row `r`'s samples at `r · stride`, `rows` rows) sample-blocked into
/// `dst`: block `k` at `k · 16 · stride` holds sample `s` of rows `16k..16k + 16` at `s · 16`. Only the
/// first `n` samples of each row are written, and nothing for the rows past `rows` in the last block.
pub(crate) fn to_sample_blocks(src: &[f32], rows: usize, stride: usize, n: usize, dst: &mut [f32]) {
    assert!(
        stride > 0
            && n <= stride
            && src.len() >= rows * stride
            && dst.len() >= rows.div_ceil(TILE) * TILE * stride,
        "sample blocks"
    );
    let dst = &mut dst[..rows.div_ceil(TILE) * TILE * stride];
    // A large one's blocks on rayon's threads: the thread that computes `∂L/∂X` beside it may finish first.
    if rows * n < PARALLEL_BLOCKS || !crate::linalg::may_split() {
        for (k, block) in dst.chunks_mut(TILE * stride).enumerate() {
            block_of_samples(src, rows, stride, n, k, block);
        }
        return;
    }
    use rayon::prelude::*;
    dst.par_chunks_mut(TILE * stride)
        .enumerate()
        .for_each(|(k, block)| block_of_samples(src, rows, stride, n, k, block));
}

/// Values of a layout change into sample blocks below which it runs on the calling thread.
const PARALLEL_BLOCKS: usize = 1 << 15;

/// Block `k` of [`to_sample_blocks`].
fn block_of_samples(
    src: &[f32],
    rows: usize,
    stride: usize,
    n: usize,
    k: usize,
    block: &mut [f32],
) {
    let height = (rows - k * TILE).min(TILE);
    // (Set once: each tile reads back only the part it wrote.)
    let mut tile = [[0.0f32; TILE]; TILE];
    for s0 in (0..n).step_by(TILE) {
        let width = (n - s0).min(TILE);
        for (i, t) in tile.iter_mut().enumerate().take(height) {
            t[..width].copy_from_slice(&src[(k * TILE + i) * stride + s0..][..width]);
        }
        for j in 0..width {
            let out = &mut block[(s0 + j) * TILE..][..TILE];
            for (i, o) in out.iter_mut().enumerate().take(height) {
                *o = tile[i][j];
            }
        }
    }
}

/// The AVX-512 kernel: a row block's vectors [`CHAINS`] at a time, each sample's `∂L/∂z` vector loaded
/// once for them and each vector's input vector once.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Lanes, Operands, CHAINS, TILE};

    /// Runs the vectors `lanes` of row block `k` and stores each one's entries into `out` (entry `e` at
    /// `e - base`).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `op.a` holds block `k` and `op.b` every vector's column block, `stride`
    /// samples each, with `n ≤ stride`; every lane's entry `e` has `base ≤ e < base + out.len()`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row_block(
        lanes: &[Lanes],
        k: usize,
        op: Operands,
        out: &mut [f32],
        base: usize,
    ) {
        let mut rest = lanes;
        // SAFETY: as the caller guarantees.
        unsafe {
            while rest.len() >= CHAINS {
                run::<CHAINS>(&rest[..CHAINS], k, op, out, base);
                rest = &rest[CHAINS..];
            }
            match rest.len() {
                1 => run::<1>(rest, k, op, out, base),
                2 => run::<2>(rest, k, op, out, base),
                3 => run::<3>(rest, k, op, out, base),
                _ => {}
            }
        }
    }

    /// `G` vectors of row block `k` side by side.
    ///
    /// # Safety
    /// As [`row_block`], `lanes.len() == G`.
    #[inline(always)]
    unsafe fn run<const G: usize>(
        lanes: &[Lanes],
        k: usize,
        op: Operands,
        out: &mut [f32],
        base: usize,
    ) {
        let Operands { a, b, stride, n } = op;
        // Release-mode checks of what the loads below rely on.
        assert!(lanes.len() == G && n <= stride && a.len() >= (k + 1) * TILE * stride);
        let a = a[k * TILE * stride..].as_ptr();
        let bs: [*const f32; G] = std::array::from_fn(|g| {
            let block = lanes[g].block as usize;
            assert!(b.len() >= (block + 1) * TILE * stride);
            b[block * TILE * stride..].as_ptr()
        });
        // SAFETY: AVX-512F is enabled (the caller's contract); every load reads sample `s < n ≤ stride` of a
        // block inside `a` or `b` (asserted above); the index vectors are built from bytes below 16.
        unsafe {
            let index =
                |bytes: &[u8; TILE]| _mm512_cvtepu8_epi32(_mm_loadu_si128(bytes.as_ptr().cast()));
            let rows: [__m512i; G] = std::array::from_fn(|g| index(&lanes[g].rows));
            let cols: [__m512i; G] = std::array::from_fn(|g| index(&lanes[g].cols));
            let mut acc = [_mm512_setzero_ps(); G];
            for s in 0..n {
                let d = _mm512_loadu_ps(a.add(s * TILE));
                for g in 0..G {
                    let x = _mm512_loadu_ps(bs[g].add(s * TILE));
                    acc[g] = _mm512_fmadd_ps(
                        _mm512_permutexvar_ps(rows[g], d),
                        _mm512_permutexvar_ps(cols[g], x),
                        acc[g],
                    );
                }
            }
            for (v, acc) in lanes.iter().zip(acc) {
                let mut sums = [0.0f32; TILE];
                _mm512_storeu_ps(sums.as_mut_ptr(), acc);
                for (&e, &sum) in v.entries.iter().zip(&sums).take(v.len as usize) {
                    out[e as usize - base] = sum;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row's samples land in their block, sample by sample, whatever the rows and samples left over
    /// past whole tiles.
    #[test]
    fn sample_blocks_hold_each_rows_samples() {
        for (rows, stride, n) in [
            (37usize, 48, 35),
            (16, 16, 16),
            (32, 64, 64),
            (5, 16, 3),
            (48, 112, 100),
        ] {
            let src: Vec<f32> = (0..rows * stride).map(|i| i as f32 * 0.25 - 3.0).collect();
            let mut dst = vec![f32::NAN; rows.div_ceil(TILE) * TILE * stride];
            to_sample_blocks(&src, rows, stride, n, &mut dst);
            for r in 0..rows {
                for s in 0..n {
                    let at = (r / TILE) * TILE * stride + s * TILE + r % TILE;
                    assert_eq!(
                        dst[at].to_bits(),
                        src[r * stride + s].to_bits(),
                        "row {r}, sample {s}"
                    );
                }
            }
        }
    }

    /// Every entry equals its own chain in sample order, with every family's kernel the CPU has, and the
    /// tiles hold each entry once.
    #[test]
    fn entries_are_chains_in_sample_order() {
        // (The last is large enough to be split over threads where there are several.)
        for (rows, cols, stride, n, every) in [
            (37, 29, 32, 27, 3),
            (16, 16, 16, 16, 1),
            (50, 70, 48, 33, 7),
            (5, 3, 16, 1, 2),
            (0, 4, 16, 5, 1),
            (9, 9, 16, 0, 1),
            (300, 200, 48, 40, 3),
        ] {
            let (a, b) = crate::kernels::sampled::test_operands(rows, cols, stride, 11);
            let mut indptr = vec![0];
            let mut indices = Vec::new();
            for r in 0..rows {
                for c in 0..cols {
                    if (r * 5 + c * 3) % every == 0 || (r + c) % (r % 4 + 2) == 0 {
                        indices.push(c as u32);
                    }
                }
                indptr.push(indices.len());
            }
            let tiles = SampledTiles::new(&indptr, &indices, cols);
            let held: u32 = tiles.lanes.iter().map(|v| v.len).sum();
            if !tiles.lanes.is_empty() {
                let fill = f64::from(held) / (TILE * tiles.lanes.len()) as f64;
                assert!(SampledTiles::if_full(&indptr, &indices, cols, fill).is_some());
                assert!(SampledTiles::if_full(&indptr, &indices, cols, fill + 1e-9).is_none());
            }
            let mut seen = vec![0; indices.len()];
            for v in &tiles.lanes {
                for &e in &v.entries[..v.len as usize] {
                    seen[e as usize] += 1;
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "each entry in one lane");
            let mut ab = vec![f32::NAN; tiles.a_len(stride)];
            let mut bb = vec![f32::NAN; tiles.b_len(stride)];
            to_sample_blocks(&a, rows, stride, n, &mut ab);
            to_sample_blocks(&b, cols, stride, n, &mut bb);
            let op = Operands {
                a: &ab,
                b: &bb,
                stride,
                n,
            };
            for family in crate::kernels::supported_families() {
                let mut out = vec![f32::NAN; indices.len()];
                if family == crate::kernels::family() {
                    tiles.product(&ab, &bb, stride, n, &mut out);
                } else {
                    tiles.blocks_into(family, op, 0..tiles.starts.len() - 1, &mut out);
                }
                for r in 0..rows {
                    for e in indptr[r]..indptr[r + 1] {
                        let c = indices[e] as usize;
                        let want = (0..n).fold(0.0f32, |s, k| {
                            a[r * stride + k].mul_add(b[c * stride + k], s)
                        });
                        assert_eq!(
                            out[e].to_bits(),
                            want.to_bits(),
                            "{family}: row {r}, entry {e}"
                        );
                    }
                }
            }
        }
    }
}
