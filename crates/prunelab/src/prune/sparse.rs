//! Sparse inference: layers sparse enough for the batch at hand run a CSR kernel, so pruned weights cost
//! nothing; the others stay dense.

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, AsArray, Axis, Ix2};
use serde::{Deserialize, Serialize};
use std::ops::Range;

use crate::error::{Error, Result};
use crate::nn::{check_batch, Activation, LayerView, Mlp, Topology};

/// Samples per block of [`SparseMlp::forward`]: a block's inputs and outputs of a layer stay in L2 cache.
const SAMPLE_BLOCK: usize = 128;

/// f32 lanes of a 64-byte line (an AVX-512 vector): the activation buffers' rows start on such a line and hold
/// a multiple of this many samples.
const LANES: usize = 16;

/// A weight matrix in compressed sparse row form (rows are units, columns inputs), checked when built: the
/// kernels read it without bounds checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CsrParts")]
pub struct Csr {
    rows: usize,
    cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    /// The same entries by column block, as the vector kernels stream them (rebuilt, not stored).
    #[serde(skip)]
    blocked: Option<Blocked>,
}

/// Up to this many samples, the kernels work per sample (AVX-512 gathers each sample's inputs; AVX2 runs
/// eight scalar FMA chains) instead of computing a vector of samples of which most would be padding.
const GATHER_SAMPLES: usize = 3;

/// Whether `n` samples take a per-sample kernel, which reads the activations packed (row stride `n`, so one
/// sample's inputs are contiguous and sit in L1) instead of padded to a vector.
fn gathers(n: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        n <= GATHER_SAMPLES
            && (std::arch::is_x86_feature_detected!("avx512f")
                || (std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = n;
        false
    }
}

/// The activation buffer's row stride for `n` samples: packed for the per-sample kernels, else an odd number
/// of 64-byte lines. An even number (a block of 128 samples is 8 lines) puts the rows a kernel reads at once
/// (a column block's inputs for one tile) into a fraction of L1's sets, where they evict each other.
fn stride_for(n: usize) -> usize {
    if gathers(n) {
        return n;
    }
    let lines = n.div_ceil(LANES);
    (lines | 1) * LANES
}

/// An entry offset as the kernels read it: `u32` in the blocked layout, `usize` in the plain CSR.
trait Offset: Copy {
    /// The offset as an index.
    fn get(self) -> usize;
}

impl Offset for u32 {
    #[inline(always)]
    fn get(self) -> usize {
        self as usize
    }
}

impl Offset for usize {
    #[inline(always)]
    fn get(self) -> usize {
        self
    }
}

/// The offsets a kernel call reads.
#[derive(Clone, Copy)]
enum Offsets<'a> {
    U32(&'a [u32]),
    Usize(&'a [usize]),
}

/// Columns per block of [`Blocked`]: a tile of 32 samples of that many inputs is 32 KB, an L1 data cache, so
/// the inputs a block's entries read stay near while every row of the block is summed, and each row's partial
/// sum is stored only once per 256 inputs. (Measured on the benchmark network: 256 beat 64, 128 and 512.)
const COL_BLOCK: usize = 256;

/// A CSR matrix's entries regrouped by blocks of [`COL_BLOCK`] columns: block `b`'s entries of row `r` are
/// `ptr[b * rows + r]..ptr[b * rows + r + 1]`, block after block, each row's in column order.
#[derive(Debug, Clone, PartialEq)]
struct Blocked {
    blocks: usize,
    ptr: Vec<u32>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl Blocked {
    /// The blocked layout of a checked CSR matrix; `None` past 2^32 entries (the plain kernel runs then).
    fn new(
        rows: usize,
        cols: usize,
        indptr: &[usize],
        indices: &[u32],
        values: &[f32],
    ) -> Option<Blocked> {
        let nnz = values.len();
        if nnz >= u32::MAX as usize {
            return None;
        }
        let blocks = cols.div_ceil(COL_BLOCK).max(1);
        let mut ptr = Vec::with_capacity(blocks * rows + 1);
        let (mut bi, mut bv) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        // Where each row's next unread entry is; entries of a row are in column order.
        let mut next: Vec<usize> = indptr[..rows].to_vec();
        ptr.push(0);
        for b in 0..blocks {
            let end = ((b + 1) * COL_BLOCK) as u64;
            for r in 0..rows {
                let mut e = next[r];
                while e < indptr[r + 1] && (indices[e] as u64) < end {
                    bi.push(indices[e]);
                    bv.push(values[e]);
                    e += 1;
                }
                next[r] = e;
                ptr.push(bi.len() as u32);
            }
        }
        Some(Blocked {
            blocks,
            ptr,
            indices: bi,
            values: bv,
        })
    }
}

/// A [`Csr`] as stored, checked on the way in.
#[derive(Deserialize)]
struct CsrParts {
    rows: usize,
    cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl TryFrom<CsrParts> for Csr {
    type Error = Error;
    fn try_from(p: CsrParts) -> Result<Csr> {
        Csr::new(p.rows, p.cols, p.indptr, p.indices, p.values)
    }
}

impl Csr {
    /// A CSR matrix from its parts: row `r`'s entries are `indptr[r]..indptr[r + 1]`, at columns `indices`
    /// with values `values`. Fails unless `indptr` has `rows + 1` non-decreasing offsets from 0 to the number
    /// of entries and every column index is below `cols` (at most 2^32).
    pub fn new(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f32>,
    ) -> Result<Csr> {
        let bad = |reason: String| Err(Error::param("csr", reason));
        if cols > u32::MAX as usize {
            return bad(format!("{cols} columns; at most 2^32"));
        }
        if indptr.len() != rows + 1 {
            return bad(format!("{} row offsets for {rows} rows", indptr.len()));
        }
        if indices.len() != values.len() {
            return bad(format!(
                "{} column indices for {} values",
                indices.len(),
                values.len()
            ));
        }
        if indptr[0] != 0 || indptr[rows] != values.len() || indptr.windows(2).any(|w| w[0] > w[1])
        {
            return bad("row offsets must rise from 0 to the number of entries".into());
        }
        if let Some(&c) = indices.iter().find(|&&c| c as usize >= cols) {
            return bad(format!("column index {c} in a matrix of {cols} columns"));
        }
        if (0..rows).any(|r| {
            indices[indptr[r]..indptr[r + 1]]
                .windows(2)
                .any(|w| w[0] >= w[1])
        }) {
            return bad("each row's column indices must rise".into());
        }
        crate::error::check_finite(&values, "csr values")?;
        let blocked = Blocked::new(rows, cols, &indptr, &indices, &values);
        Ok(Csr {
            rows,
            cols,
            indptr,
            indices,
            values,
            blocked,
        })
    }

    /// The kept entries of `weight` (where `mask` is true, or every entry when there is no mask).
    pub fn from_masked(weight: ArrayView2<f32>, mask: Option<ArrayView2<bool>>) -> Self {
        let (rows, cols) = weight.dim();
        let mut indptr = Vec::with_capacity(rows + 1);
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        indptr.push(0);
        for r in 0..rows {
            for c in 0..cols {
                if mask.as_ref().is_none_or(|m| m[[r, c]]) {
                    indices.push(c as u32);
                    values.push(weight[[r, c]]);
                }
            }
            indptr.push(indices.len());
        }
        let blocked = Blocked::new(rows, cols, &indptr, &indices, &values);
        Csr {
            rows,
            cols,
            indptr,
            indices,
            values,
            blocked,
        }
    }

    /// Number of rows (units).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (inputs).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row offsets: row `r`'s entries are `indptr()[r]..indptr()[r + 1]`.
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column of each entry.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Value of each entry.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// `out = W · x` for feature-major `x`: input `c`'s samples at `xs[c * stride..][..n]`, output row `r`'s at
    /// `out[r * stride..][..n]`; `stride` is [`stride_for`]`(n)` or a multiple of [`LANES`] (lanes from `n` to
    /// `stride` are padding: computed or left as they are, never read as results). Large products split their
    /// rows over rayon's threads.
    fn matmul_into(&self, xs: &[f32], stride: usize, n: usize, out: &mut [f32]) {
        use rayon::prelude::*;
        assert!(
            stride.is_multiple_of(LANES) || (stride == n && gathers(n)),
            "stride {stride} is neither a multiple of {LANES} nor {n} packed samples"
        );
        assert!(xs.len() >= self.cols * stride, "input rows missing");
        assert!(out.len() >= self.rows * stride, "output rows missing");
        let threads = rayon::current_num_threads();
        if !crate::linalg::may_split() || self.nnz() * stride < 1 << 21 || self.rows < 2 * threads {
            return self.rows_into(xs, stride, n, 0..self.rows, out);
        }
        let chunk = self.rows.div_ceil(4 * threads);
        out[..self.rows * stride]
            .par_chunks_mut(chunk * stride)
            .enumerate()
            .for_each(|(i, o)| {
                let lo = i * chunk;
                self.rows_into(xs, stride, n, lo..(lo + chunk).min(self.rows), o)
            });
    }

    /// Rows `rows` of the product into `out` (those rows only), with the widest kernel the CPU runs: for a
    /// few samples, a dot product per sample that gathers its inputs (no lane wasted on padding); for one
    /// vector of samples, row by row over the plain CSR (the inputs fit in L2); for more, column block by
    /// column block.
    fn rows_into(&self, xs: &[f32], stride: usize, n: usize, rows: Range<usize>, out: &mut [f32]) {
        debug_assert!(out.len() >= rows.len() * stride && xs.len() >= self.cols * stride);
        // Samples computed: a whole number of vectors, not the padding a stride may have beyond.
        let lanes = n.next_multiple_of(LANES).min(stride);
        #[cfg(target_arch = "x86_64")]
        {
            let avx512 = std::arch::is_x86_feature_detected!("avx512f");
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            // SAFETY (every call below): the CPU has the features the kernel is compiled for; the matrix was
            // checked when built (offsets rise within the entries, indices below `cols`), and the slices'
            // lengths were checked by the caller, so every access is in bounds. Gather offsets
            // `index * stride + sample` fit in an i32 by the test on `cols * stride`.
            if avx512 && n <= GATHER_SAMPLES && self.cols * stride <= i32::MAX as usize {
                return unsafe { self.rows_gather512(xs, stride, n, rows, out) };
            }
            if avx2 && n <= GATHER_SAMPLES {
                return unsafe { self.rows_few_fma(xs, stride, n, rows, out) };
            }
            let plain = (
                self.indptr.as_slice(),
                self.indices.as_slice(),
                self.values.as_slice(),
                1,
            );
            let (ptr, ind, val, blocks) = match &self.blocked {
                Some(b) if stride > LANES => (
                    Offsets::U32(&b.ptr),
                    b.indices.as_slice(),
                    b.values.as_slice(),
                    b.blocks,
                ),
                _ => (Offsets::Usize(plain.0), plain.1, plain.2, plain.3),
            };
            if avx512 {
                return unsafe {
                    match ptr {
                        Offsets::U32(p) => {
                            self.rows_avx512(p, ind, val, blocks, xs, stride, lanes, rows, out)
                        }
                        Offsets::Usize(p) => {
                            self.rows_avx512(p, ind, val, blocks, xs, stride, lanes, rows, out)
                        }
                    }
                };
            }
            if avx2 {
                return unsafe {
                    match ptr {
                        Offsets::U32(p) => {
                            self.rows_avx2(p, ind, val, blocks, xs, stride, lanes, rows, out)
                        }
                        Offsets::Usize(p) => {
                            self.rows_avx2(p, ind, val, blocks, xs, stride, lanes, rows, out)
                        }
                    }
                };
            }
        }
        self.rows_generic(xs, stride, lanes, rows, out);
    }

    /// AVX-512 for up to [`GATHER_SAMPLES`] samples: per row and sample, sixteen entries at a time, their
    /// inputs gathered, in two accumulators; the tail masked.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_gather512(
        &self,
        xs: &[f32],
        stride: usize,
        n: usize,
        rows: Range<usize>,
        out: &mut [f32],
    ) {
        use std::arch::x86_64::*;
        let (ind, val) = (self.indices.as_ptr().cast::<i32>(), self.values.as_ptr());
        let x = xs.as_ptr();
        let vstride = _mm512_set1_epi32(stride as i32);
        let base = rows.start;
        for r in rows {
            let (lo, hi) = (self.indptr[r], self.indptr[r + 1]);
            for j in 0..n {
                let vj = _mm512_set1_epi32(j as i32);
                let offsets = |e: usize| {
                    _mm512_add_epi32(
                        _mm512_mullo_epi32(_mm512_loadu_epi32(ind.add(e)), vstride),
                        vj,
                    )
                };
                let (mut a0, mut a1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
                let mut e = lo;
                while e + 32 <= hi {
                    let g0 = _mm512_i32gather_ps::<4>(offsets(e), x);
                    let g1 = _mm512_i32gather_ps::<4>(offsets(e + 16), x);
                    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(val.add(e)), g0, a0);
                    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(val.add(e + 16)), g1, a1);
                    e += 32;
                }
                if e + 16 <= hi {
                    let g0 = _mm512_i32gather_ps::<4>(offsets(e), x);
                    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(val.add(e)), g0, a0);
                    e += 16;
                }
                if e < hi {
                    let mask: __mmask16 = ((1u32 << (hi - e)) - 1) as __mmask16;
                    let idx = _mm512_maskz_loadu_epi32(mask, ind.add(e));
                    let off = _mm512_add_epi32(_mm512_mullo_epi32(idx, vstride), vj);
                    let g = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, off, x);
                    a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, val.add(e)), g, a1);
                }
                *out.get_unchecked_mut((r - base) * stride + j) =
                    _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
            }
        }
    }

    /// AVX2 machines for up to [`GATHER_SAMPLES`] samples: per row and sample, the entries dealt round-robin
    /// to eight scalar FMA chains (AVX2 gathers are slower than scalar loads here), added in a fixed order.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows_few_fma(
        &self,
        xs: &[f32],
        stride: usize,
        n: usize,
        rows: Range<usize>,
        out: &mut [f32],
    ) {
        // One packed sample (the latency case): no offset arithmetic per entry.
        if n == 1 && stride == 1 {
            self.few_fma::<true>(xs, 1, 1, rows, out)
        } else {
            self.few_fma::<false>(xs, stride, n, rows, out)
        }
    }

    /// [`Csr::rows_few_fma`]'s loop; `UNIT`: one sample at stride 1.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn few_fma<const UNIT: bool>(
        &self,
        xs: &[f32],
        stride: usize,
        n: usize,
        rows: Range<usize>,
        out: &mut [f32],
    ) {
        let (ind, val, x) = (self.indices.as_ptr(), self.values.as_ptr(), xs.as_ptr());
        let base = rows.start;
        let at = |i: u32, j: usize| {
            if UNIT {
                i as usize
            } else {
                i as usize * stride + j
            }
        };
        for r in rows {
            let (lo, hi) = (self.indptr[r], self.indptr[r + 1]);
            for j in 0..n {
                let mut a = [0.0f32; 8];
                let mut e = lo;
                while e + 8 <= hi {
                    for (k, acc) in a.iter_mut().enumerate() {
                        let v = *x.add(at(*ind.add(e + k), j));
                        *acc = (*val.add(e + k)).mul_add(v, *acc);
                    }
                    e += 8;
                }
                for (k, acc) in a.iter_mut().enumerate().take(hi - e) {
                    let v = *x.add(at(*ind.add(e + k), j));
                    *acc = (*val.add(e + k)).mul_add(v, *acc);
                }
                *out.get_unchecked_mut((r - base) * stride + j) =
                    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
            }
        }
    }

    /// AVX-512: tiles of 32 samples (two vectors); within a tile, column block by column block (the block's
    /// inputs stay in L1), every row's entries of the block are dealt round-robin to four pairs of
    /// accumulators (eight independent FMA chains), added in a fixed order and to the row's sum so far. The
    /// result does not depend on threads or alignment.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn rows_avx512<P: Offset>(
        &self,
        ptr: &[P],
        ind: &[u32],
        val: &[f32],
        blocks: usize,
        xs: &[f32],
        stride: usize,
        lanes: usize,
        rows: Range<usize>,
        out: &mut [f32],
    ) {
        use std::arch::x86_64::*;
        let (ind, val, ptr) = (ind.as_ptr(), val.as_ptr(), ptr.as_ptr());
        let x = xs.as_ptr();
        let o = out.as_mut_ptr();
        let base = rows.start;
        // Block by block (its entries come from memory once and stay in L2 for every tile), tile by tile
        // (the tile's inputs of the block stay in L1).
        for blk in 0..blocks {
            let mut t = 0;
            while t < lanes {
                let pair = t + 32 <= lanes;
                for r in rows.clone() {
                    let at = blk * self.rows + r;
                    let (lo, hi) = ((*ptr.add(at)).get(), (*ptr.add(at + 1)).get());
                    let q = o.add((r - base) * stride + t);
                    if pair {
                        let mut a = [_mm512_setzero_ps(); 8];
                        let mut e = lo;
                        while e + 4 <= hi {
                            for k in 0..4 {
                                let w = _mm512_set1_ps(*val.add(e + k));
                                let p = x.add(*ind.add(e + k) as usize * stride + t);
                                a[2 * k] = _mm512_fmadd_ps(w, _mm512_loadu_ps(p), a[2 * k]);
                                a[2 * k + 1] =
                                    _mm512_fmadd_ps(w, _mm512_loadu_ps(p.add(16)), a[2 * k + 1]);
                            }
                            e += 4;
                        }
                        while e < hi {
                            let w = _mm512_set1_ps(*val.add(e));
                            let p = x.add(*ind.add(e) as usize * stride + t);
                            a[0] = _mm512_fmadd_ps(w, _mm512_loadu_ps(p), a[0]);
                            a[1] = _mm512_fmadd_ps(w, _mm512_loadu_ps(p.add(16)), a[1]);
                            e += 1;
                        }
                        let mut s0 =
                            _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[4], a[6]));
                        let mut s1 =
                            _mm512_add_ps(_mm512_add_ps(a[1], a[3]), _mm512_add_ps(a[5], a[7]));
                        if blk > 0 {
                            s0 = _mm512_add_ps(_mm512_loadu_ps(q), s0);
                            s1 = _mm512_add_ps(_mm512_loadu_ps(q.add(16)), s1);
                        }
                        _mm512_storeu_ps(q, s0);
                        _mm512_storeu_ps(q.add(16), s1);
                    } else {
                        // The last 16 samples: one vector per entry, eight accumulators.
                        let mut a = [_mm512_setzero_ps(); 8];
                        let mut e = lo;
                        while e + 8 <= hi {
                            for (k, acc) in a.iter_mut().enumerate() {
                                let w = _mm512_set1_ps(*val.add(e + k));
                                let p = x.add(*ind.add(e + k) as usize * stride + t);
                                *acc = _mm512_fmadd_ps(w, _mm512_loadu_ps(p), *acc);
                            }
                            e += 8;
                        }
                        while e < hi {
                            let w = _mm512_set1_ps(*val.add(e));
                            let p = x.add(*ind.add(e) as usize * stride + t);
                            a[0] = _mm512_fmadd_ps(w, _mm512_loadu_ps(p), a[0]);
                            e += 1;
                        }
                        let mut s0 = _mm512_add_ps(
                            _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])),
                            _mm512_add_ps(_mm512_add_ps(a[4], a[5]), _mm512_add_ps(a[6], a[7])),
                        );
                        if blk > 0 {
                            s0 = _mm512_add_ps(_mm512_loadu_ps(q), s0);
                        }
                        _mm512_storeu_ps(q, s0);
                    }
                }
                t += if pair { 32 } else { 16 };
            }
        }
    }

    /// AVX2: the same order as the AVX-512 kernel (column block outermost, then tiles, then rows), in tiles
    /// of 32 samples (four vectors of eight, two entries at a time: eight FMA chains) and a last tile of 16
    /// (two vectors, four entries at a time).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn rows_avx2<P: Offset>(
        &self,
        ptr: &[P],
        ind: &[u32],
        val: &[f32],
        blocks: usize,
        xs: &[f32],
        stride: usize,
        lanes: usize,
        rows: Range<usize>,
        out: &mut [f32],
    ) {
        use std::arch::x86_64::*;
        let (ind, val, ptr) = (ind.as_ptr(), val.as_ptr(), ptr.as_ptr());
        let x = xs.as_ptr();
        let o = out.as_mut_ptr();
        let base = rows.start;
        let add4 = |a: __m256, b: __m256, c: __m256, d: __m256| {
            _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d))
        };
        for blk in 0..blocks {
            let mut t = 0;
            while t < lanes {
                let wide = t + 32 <= lanes;
                for r in rows.clone() {
                    let at = blk * self.rows + r;
                    let (lo, hi) = ((*ptr.add(at)).get(), (*ptr.add(at + 1)).get());
                    let q = o.add((r - base) * stride + t);
                    let mut a = [_mm256_setzero_ps(); 8];
                    let mut e = lo;
                    if wide {
                        while e + 2 <= hi {
                            for k in 0..2 {
                                let w = _mm256_set1_ps(*val.add(e + k));
                                let p = x.add(*ind.add(e + k) as usize * stride + t);
                                for v in 0..4 {
                                    a[4 * k + v] = _mm256_fmadd_ps(
                                        w,
                                        _mm256_loadu_ps(p.add(8 * v)),
                                        a[4 * k + v],
                                    );
                                }
                            }
                            e += 2;
                        }
                        if e < hi {
                            let w = _mm256_set1_ps(*val.add(e));
                            let p = x.add(*ind.add(e) as usize * stride + t);
                            for (v, acc) in a.iter_mut().take(4).enumerate() {
                                *acc = _mm256_fmadd_ps(w, _mm256_loadu_ps(p.add(8 * v)), *acc);
                            }
                        }
                        for v in 0..4 {
                            let mut sum = _mm256_add_ps(a[v], a[4 + v]);
                            if blk > 0 {
                                sum = _mm256_add_ps(_mm256_loadu_ps(q.add(8 * v)), sum);
                            }
                            _mm256_storeu_ps(q.add(8 * v), sum);
                        }
                    } else {
                        while e + 4 <= hi {
                            for k in 0..4 {
                                let w = _mm256_set1_ps(*val.add(e + k));
                                let p = x.add(*ind.add(e + k) as usize * stride + t);
                                a[2 * k] = _mm256_fmadd_ps(w, _mm256_loadu_ps(p), a[2 * k]);
                                a[2 * k + 1] =
                                    _mm256_fmadd_ps(w, _mm256_loadu_ps(p.add(8)), a[2 * k + 1]);
                            }
                            e += 4;
                        }
                        while e < hi {
                            let w = _mm256_set1_ps(*val.add(e));
                            let p = x.add(*ind.add(e) as usize * stride + t);
                            a[0] = _mm256_fmadd_ps(w, _mm256_loadu_ps(p), a[0]);
                            a[1] = _mm256_fmadd_ps(w, _mm256_loadu_ps(p.add(8)), a[1]);
                            e += 1;
                        }
                        let mut s0 = add4(a[0], a[2], a[4], a[6]);
                        let mut s1 = add4(a[1], a[3], a[5], a[7]);
                        if blk > 0 {
                            s0 = _mm256_add_ps(_mm256_loadu_ps(q), s0);
                            s1 = _mm256_add_ps(_mm256_loadu_ps(q.add(8)), s1);
                        }
                        _mm256_storeu_ps(q, s0);
                        _mm256_storeu_ps(q.add(8), s1);
                    }
                }
                t += if wide { 32 } else { 16 };
            }
        }
    }

    /// Any CPU: tiles of 16 samples, four partial sums per row, safe indexing.
    fn rows_generic(
        &self,
        xs: &[f32],
        stride: usize,
        lanes: usize,
        rows: Range<usize>,
        out: &mut [f32],
    ) {
        let base = rows.start;
        for t in (0..lanes).step_by(LANES) {
            for r in rows.clone() {
                let mut a = [[0.0f32; LANES]; 4];
                let entries = self.indptr[r]..self.indptr[r + 1];
                for (k, e) in entries.enumerate() {
                    let w = self.values[e];
                    let at = self.indices[e] as usize * stride + t;
                    let xb: &[f32; LANES] = xs[at..at + LANES].try_into().expect("a tile");
                    for (acc, &v) in a[k % 4].iter_mut().zip(xb) {
                        *acc = w.mul_add(v, *acc);
                    }
                }
                let q = (r - base) * stride + t;
                for (i, o) in out[q..q + LANES].iter_mut().enumerate() {
                    *o = (a[0][i] + a[1][i]) + (a[2][i] + a[3][i]);
                }
            }
        }
    }
}

/// How one layer of a [`SparseMlp`] multiplies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Kernel {
    /// A dense matrix product (pruned entries are zeros).
    Dense(Array2<f32>),
    /// A CSR product over the kept entries only.
    Sparse(Csr),
    /// Both forms, for a layer whose faster kernel depends on the batch: blocks of up to three samples take
    /// the CSR product when `sparse_for_few` and the dense one otherwise; larger blocks take the other.
    BySamples {
        /// The dense weights (pruned entries are zeros).
        dense: Array2<f32>,
        /// The kept entries.
        sparse: Csr,
        /// Whether blocks of up to three samples take the CSR product (and larger ones the dense product).
        sparse_for_few: bool,
    },
}

/// The product a block of samples takes.
enum Product<'a> {
    Dense(&'a Array2<f32>),
    Sparse(&'a Csr),
}

impl Kernel {
    /// The layer's outputs.
    fn rows(&self) -> usize {
        match self {
            Kernel::Dense(w) | Kernel::BySamples { dense: w, .. } => w.nrows(),
            Kernel::Sparse(c) => c.rows(),
        }
    }

    /// The product for a block of `n` samples.
    fn for_samples(&self, n: usize) -> Product<'_> {
        match self {
            Kernel::Dense(w) => Product::Dense(w),
            Kernel::Sparse(c) => Product::Sparse(c),
            Kernel::BySamples {
                dense,
                sparse,
                sparse_for_few,
            } => {
                if *sparse_for_few == (n <= GATHER_SAMPLES) {
                    Product::Sparse(sparse)
                } else {
                    Product::Dense(dense)
                }
            }
        }
    }
}

/// The density below which a layer's CSR product beats its dense one for up to three samples (the
/// per-sample kernels against the dense matrix-vector product, which streams the weights at memory speed).
/// Measured on the 784-1000-1000-500-200-10 network, one thread, AMD EPYC with AVX2, by
/// `cargo run --release -p prunelab --example sparse_crossover` (which prints the figures for the machine it
/// runs on): at one sample, 10% density runs in 0.65x the dense time, 20% in 0.64x, 30% in 1.22x.
/// [`Mlp::to_sparse`] uses it; [`SparseMlp::with_crossover`] takes another.
pub const CROSSOVER_FEW: f64 = 0.2;

/// The density below which a layer's CSR product beats its dense one for blocks of more than three
/// samples (the vector kernels against the dense matrix product), measured as [`CROSSOVER_FEW`] is: at 30%
/// density every batch from 4 to 1024 ran in 0.35-0.75x the dense time; at 40%, 4 to 16 samples took up to
/// 1.8x (from 32 samples on, the CSR product still wins at 50%).
pub const CROSSOVER_MANY: f64 = 0.3;

/// One layer of a [`SparseMlp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparseLayer {
    /// The multiplication kernel.
    pub kernel: Kernel,
    /// The bias.
    pub bias: Option<Array1<f32>>,
    /// The activation.
    pub activation: Activation,
    /// Fraction of weights kept.
    pub density: f64,
}

/// An inference-only network whose sparse layers skip pruned weights.
///
/// Built from a (masked or compacted) [`Mlp`]: layers whose density is below the threshold use a CSR
/// kernel, the others a dense product ([`Mlp::to_sparse`] and [`SparseMlp::with_crossover`] choose per
/// batch size). Outputs equal the masked network's to float rounding.
///
/// ```
/// use prunelab::prelude::*;
/// use ndarray::array;
///
/// let mut model = Mlp::config(&[4, 32, 32, 3]).seed(2).build()?;
/// WeightPruning::magnitude(0.9).apply(&mut model)?;
/// let sparse = SparseMlp::new(&model, 0.5)?;
/// assert_eq!(sparse.sparse_layers(), 3);
/// let x = array![[0.1, 0.2, -0.3, 0.4]];
/// let d = &model.forward(&x)? - &sparse.forward(&x)?;
/// assert!(d.iter().all(|v| v.abs() < 1e-5));
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SparseMlpParts")]
pub struct SparseMlp {
    n_inputs: usize,
    topology: Topology,
    layers: Vec<SparseLayer>,
}

/// A [`SparseMlp`] as stored, checked on the way in: the kernels trust the shapes.
#[derive(Deserialize)]
struct SparseMlpParts {
    n_inputs: usize,
    topology: Topology,
    layers: Vec<SparseLayer>,
}

impl TryFrom<SparseMlpParts> for SparseMlp {
    type Error = Error;
    fn try_from(p: SparseMlpParts) -> Result<SparseMlp> {
        let net = SparseMlp {
            n_inputs: p.n_inputs,
            topology: p.topology,
            layers: p.layers,
        };
        net.check()?;
        Ok(net)
    }
}

impl SparseMlp {
    /// Converts `model`; layers with density below `density_threshold` (in `[0, 1]`) become sparse, at
    /// every batch size.
    pub fn new(model: &Mlp, density_threshold: f64) -> Result<Self> {
        Self::with_crossover(model, density_threshold, density_threshold)
    }

    /// Converts `model` choosing each layer's kernel by its density and the batch: the CSR product below
    /// density `few` for blocks of up to three samples, and below `many` for larger blocks (a layer between
    /// the two keeps both forms). [`Mlp::to_sparse`] passes the measured [`CROSSOVER_FEW`] and
    /// [`CROSSOVER_MANY`], so that the network is never slower than the dense one at any batch size.
    pub fn with_crossover(model: &Mlp, few: f64, many: f64) -> Result<Self> {
        for (name, v) in [("few", few), ("many", many)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::param(name, format!("must lie in [0, 1], got {v}")));
            }
        }
        let layers = model
            .layers()
            .iter()
            .map(|l| {
                let density = l.n_remaining() as f64 / l.n_weights() as f64;
                let csr = || Csr::from_masked(l.weight(), l.mask());
                let dense = || {
                    let mut w = l.weight().to_owned();
                    if let Some(mask) = l.mask() {
                        ndarray::Zip::from(&mut w)
                            .and(&mask)
                            .for_each(|w, &keep| *w = if keep { *w } else { 0.0 });
                    }
                    w
                };
                let kernel = match (density < few, density < many) {
                    (true, true) => Kernel::Sparse(csr()),
                    (false, false) => Kernel::Dense(dense()),
                    (sparse_for_few, _) => Kernel::BySamples {
                        dense: dense(),
                        sparse: csr(),
                        sparse_for_few,
                    },
                };
                SparseLayer {
                    kernel,
                    bias: l.bias().map(|b| b.to_owned()),
                    activation: l.activation(),
                    density,
                }
            })
            .collect();
        Ok(SparseMlp {
            n_inputs: model.n_inputs(),
            topology: model.topology(),
            layers,
        })
    }

    /// Checks what a stored network could get wrong: at least one layer, each layer's kernel as wide as its
    /// inputs (by the topology), both forms of a switching layer of one shape, biases as long as the layer,
    /// finite weights and biases, densities in `[0, 1]`.
    fn check(&self) -> Result<()> {
        if self.n_inputs == 0 || self.layers.is_empty() {
            return Err(Error::shape(
                "sparse network",
                "inputs and at least one layer",
                format!("{} inputs, {} layers", self.n_inputs, self.layers.len()),
            ));
        }
        let mut inputs = self.n_inputs;
        for layer in &self.layers {
            let (rows, cols) = match &layer.kernel {
                Kernel::Dense(w) => w.dim(),
                Kernel::Sparse(c) => (c.rows(), c.cols()),
                Kernel::BySamples { dense, sparse, .. } => {
                    if dense.dim() != (sparse.rows(), sparse.cols()) {
                        return Err(Error::shape(
                            "sparse network layer",
                            format!("a CSR form of {:?}", dense.dim()),
                            format!("{:?}", (sparse.rows(), sparse.cols())),
                        ));
                    }
                    dense.dim()
                }
            };
            if cols != inputs || rows == 0 {
                return Err(Error::shape(
                    "sparse network layer",
                    format!("{inputs} inputs and some outputs"),
                    format!("{cols} inputs, {rows} outputs"),
                ));
            }
            if let Some(b) = &layer.bias {
                if b.len() != rows {
                    return Err(Error::shape("sparse network bias", rows, b.len()));
                }
                crate::error::check_finite(b.iter(), "bias")?;
            }
            if let Kernel::Dense(w) | Kernel::BySamples { dense: w, .. } = &layer.kernel {
                crate::error::check_finite(w.iter(), "weights")?;
            }
            if !(0.0..=1.0).contains(&layer.density) {
                return Err(Error::param(
                    "density",
                    format!("must lie in [0, 1], got {}", layer.density),
                ));
            }
            inputs = match self.topology {
                Topology::Chain => rows,
                Topology::DenselyConnected => inputs + rows,
            };
        }
        Ok(())
    }

    /// The layers.
    pub fn layers(&self) -> &[SparseLayer] {
        &self.layers
    }

    /// How many layers use the sparse kernel.
    pub fn sparse_layers(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| matches!(l.kernel, Kernel::Sparse(_)))
            .count()
    }

    /// How many layers switch between the dense and the CSR product with the batch size.
    pub fn switching_layers(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| matches!(l.kernel, Kernel::BySamples { .. }))
            .count()
    }

    fn width(&self, k: usize) -> usize {
        self.layers[k].kernel.rows()
    }

    /// The network output for a batch `x` of shape `(samples, inputs)`. Samples go through the network in
    /// blocks of [`SAMPLE_BLOCK`], each carried through every layer while its activations sit in cache;
    /// blocks run in parallel on rayon's threads. Where every layer takes the dense product at this batch
    /// size, the pass is [`Mlp::forward`]'s, and so are the numbers.
    pub fn forward<'a>(&self, x: impl AsArray<'a, f32, Ix2>) -> Result<Array2<f32>> {
        let x: ArrayView2<f32> = x.into();
        check_batch(&x, self.n_inputs)?;
        crate::interrupt::checkpoint("sparse inference", || "before a forward pass".into())?;
        let dense: Option<Vec<LayerView>> = self
            .layers
            .iter()
            .map(
                |l| match l.kernel.for_samples(x.nrows().min(SAMPLE_BLOCK)) {
                    Product::Dense(w) => Some(LayerView {
                        weight: w.view(),
                        bias: l.bias.as_ref().map(|b| b.view()),
                        activation: l.activation,
                    }),
                    Product::Sparse(_) => None,
                },
            )
            .collect();
        if let Some(layers) = dense {
            // Every layer takes the dense product at this batch size: the dense network's own pass, on rows of
            // samples, as fast as it and with its numbers.
            return Ok(crate::nn::dense_inference(
                self.n_inputs,
                self.topology,
                &layers,
                x,
            ));
        }
        let outputs = self.width(self.layers.len() - 1);
        let mut out = Array2::zeros((x.nrows(), outputs));
        crate::linalg::row_blocks(
            x,
            out.view_mut(),
            SAMPLE_BLOCK,
            || (),
            |_, xb, o| {
                WORK.with(|work| match work.try_borrow_mut() {
                    Ok(mut buf) => self.forward_block(&mut buf, xb, o),
                    // Re-entered on this thread (a forward pass inside another's callback): fresh space.
                    Err(_) => self.forward_block(&mut AlignedBuf::new(), xb, o),
                })
            },
        );
        Ok(out)
    }

    /// One block of samples through every layer, in a feature-major buffer (the input's rows, then each
    /// layer's units' rows, one column per sample), so that the CSR kernel reads whole rows of inputs. Every
    /// row starts on a 64-byte line (the buffer is aligned and its row stride a multiple of [`LANES`]), but for
    /// the few samples the gather kernel takes, which are packed.
    fn forward_block(&self, buf: &mut AlignedBuf, x: ArrayView2<f32>, mut out: ArrayViewMut2<f32>) {
        let n = x.nrows();
        let stride = stride_for(n);
        let total = self.n_inputs + (0..self.layers.len()).map(|k| self.width(k)).sum::<usize>();
        let data = buf.get(total * stride);
        let mut acts = ArrayViewMut2::from_shape((total, stride), data).expect("buffer fits");
        acts.slice_mut(s![..self.n_inputs, ..n]).assign(&x.t());
        let mut start = self.n_inputs;
        let mut prev_start = 0;
        for (k, layer) in self.layers.iter().enumerate() {
            let width = self.width(k);
            let in_lo = match self.topology {
                Topology::Chain => prev_start,
                Topology::DenselyConnected => 0,
            };
            let (left, mut right) = acts.view_mut().split_at(Axis(0), start);
            let mut z = right.slice_mut(s![..width, ..]);
            match layer.kernel.for_samples(n) {
                Product::Dense(w) => {
                    let input = left.slice(s![in_lo.., ..n]);
                    crate::linalg::matmul(w.view(), input, &mut z.slice_mut(s![.., ..n]), false)
                }
                Product::Sparse(csr) => {
                    let input = left.slice(s![in_lo.., ..]);
                    let xs = input.to_slice().expect("contiguous rows");
                    let zs = z.as_slice_mut().expect("contiguous rows");
                    csr.matmul_into(xs, stride, n, zs)
                }
            }
            let bias = layer.bias.as_ref().map(|b| b.view());
            if layer.activation == Activation::Softmax {
                // Row-wise over samples, which are the columns here.
                let mut z = z.slice_mut(s![.., ..n]);
                layer
                    .activation
                    .forward(z.view_mut().reversed_axes(), bias, None);
            } else {
                // Over whole rows as plain slices (padding lanes included, never read): per-row overhead
                // matters when a row holds one sample.
                let zs = z.as_slice_mut().expect("contiguous rows");
                layer.activation.rows_in_place(zs, stride, bias);
            }
            prev_start = start;
            start += width;
        }
        out.assign(&acts.slice(s![prev_start.., ..n]).t());
    }
}

thread_local! {
    /// Each thread's work space for sparse inference, kept between passes: a pass over a small batch
    /// allocates and clears nothing (it holds one block's activations, a few MB for large networks).
    static WORK: std::cell::RefCell<AlignedBuf> = std::cell::RefCell::new(AlignedBuf::new());
}

/// A growable buffer of f32 that starts on a 64-byte line, whatever the allocator does: the sparse path's
/// work space. New space is zeroed.
#[derive(Debug, Default)]
pub(crate) struct AlignedBuf {
    lines: Vec<Line>,
}

/// One 64-byte line of f32.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; LANES]);

impl AlignedBuf {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        AlignedBuf { lines: Vec::new() }
    }

    /// The first `len` floats, growing the buffer when needed.
    pub(crate) fn get(&mut self, len: usize) -> &mut [f32] {
        let lines = len.div_ceil(LANES);
        if self.lines.len() < lines {
            self.lines.resize(lines, Line([0.0; LANES]));
        }
        // SAFETY: `Line` is `repr(C)` around `[f32; LANES]` with no padding (64 bytes, 64-aligned), so the
        // lines are `lines * LANES` contiguous, initialised f32s, borrowed mutably through `self`.
        let all = unsafe {
            std::slice::from_raw_parts_mut(
                self.lines.as_mut_ptr().cast::<f32>(),
                self.lines.len() * LANES,
            )
        };
        &mut all[..len]
    }
}

impl Mlp {
    /// A [`SparseMlp`] for fast inference: each layer takes the dense or the CSR product by its density
    /// and the batch size, at the measured crossovers [`CROSSOVER_FEW`] and [`CROSSOVER_MANY`].
    pub fn to_sparse(&self) -> SparseMlp {
        SparseMlp::with_crossover(self, CROSSOVER_FEW, CROSSOVER_MANY)
            .expect("the crossovers lie in [0, 1]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// Every kernel this CPU can run, against the plain product, for strides of one to five vectors and
    /// row ranges that start inside the matrix (as the threads' shares do).
    #[test]
    fn every_kernel_equals_the_plain_product() {
        for (seed, (rows, cols, density)) in [
            (9, 13, 0.5),
            (40, 333, 0.1),
            (17, 64, 0.9),
            (5, 3, 1.0),
            (30, 260, 0.02),
            (12, 129, 0.3),
        ]
        .into_iter()
        .enumerate()
        {
            let (w, csr) = random(rows, cols, density, seed as u64);
            for stride in [16, 32, 48, 64, 80] {
                let mut rng = ChaCha8Rng::seed_from_u64(100 + seed as u64);
                let xs: Vec<f32> = (0..cols * stride)
                    .map(|_| rng.gen_range(-2.0f32..2.0))
                    .collect();
                let x = ArrayView2::from_shape((cols, stride), &xs).unwrap();
                let want = w.dot(&x);
                // All of the stride computed, or only its first vector (the rest is padding).
                for (lo, lanes) in [(0, stride), (rows / 3, stride), (rows / 3, LANES)] {
                    let range = lo..rows;
                    let mut kernels: Vec<(&str, Vec<f32>)> = Vec::new();
                    let mut run = |name, f: &dyn Fn(&mut [f32])| {
                        let mut out = vec![f32::NAN; range.len() * stride];
                        f(&mut out);
                        kernels.push((name, out));
                    };
                    run("generic", &|o| {
                        csr.rows_generic(&xs, stride, lanes, range.clone(), o)
                    });
                    #[cfg(target_arch = "x86_64")]
                    {
                        let b = csr.blocked.as_ref().unwrap();
                        let (bp, bi, bv) = (&b.ptr[..], &b.indices[..], &b.values[..]);
                        let (pp, pi, pv) = (&csr.indptr[..], &csr.indices[..], &csr.values[..]);
                        if std::arch::is_x86_feature_detected!("avx2")
                            && std::arch::is_x86_feature_detected!("fma")
                        {
                            // SAFETY: the CPU has the features; the lengths fit.
                            run("avx2 blocked", &|o| unsafe {
                                csr.rows_avx2(
                                    bp,
                                    bi,
                                    bv,
                                    b.blocks,
                                    &xs,
                                    stride,
                                    lanes,
                                    range.clone(),
                                    o,
                                )
                            });
                            run("avx2 plain", &|o| unsafe {
                                csr.rows_avx2(pp, pi, pv, 1, &xs, stride, lanes, range.clone(), o)
                            });
                        }
                        if std::arch::is_x86_feature_detected!("avx2")
                            && std::arch::is_x86_feature_detected!("fma")
                        {
                            // As the gather kernel below: the first three lanes by the per-sample kernel.
                            run("avx2 few samples", &|o| unsafe {
                                csr.rows_avx2(pp, pi, pv, 1, &xs, stride, lanes, range.clone(), o);
                                for (i, v) in o.iter_mut().enumerate() {
                                    if i % stride < 3 {
                                        *v = f32::NAN;
                                    }
                                }
                                csr.rows_few_fma(&xs, stride, 3, range.clone(), o);
                            });
                        }
                        if std::arch::is_x86_feature_detected!("avx512f") {
                            // SAFETY: as above.
                            run("avx512 blocked", &|o| unsafe {
                                csr.rows_avx512(
                                    bp,
                                    bi,
                                    bv,
                                    b.blocks,
                                    &xs,
                                    stride,
                                    lanes,
                                    range.clone(),
                                    o,
                                )
                            });
                            run("avx512 plain", &|o| unsafe {
                                csr.rows_avx512(pp, pi, pv, 1, &xs, stride, lanes, range.clone(), o)
                            });
                            // The gather kernel writes the first three lanes only: the plain kernel fills
                            // the rest, and those three are set to NaN first, so a lane it misses fails.
                            run("avx512 gather", &|o| unsafe {
                                csr.rows_avx512(
                                    pp,
                                    pi,
                                    pv,
                                    1,
                                    &xs,
                                    stride,
                                    lanes,
                                    range.clone(),
                                    o,
                                );
                                for (i, v) in o.iter_mut().enumerate() {
                                    if i % stride < 3 {
                                        *v = f32::NAN;
                                    }
                                }
                                csr.rows_gather512(&xs, stride, 3, range.clone(), o);
                            });
                        }
                    }
                    for (name, out) in kernels {
                        for r in range.clone() {
                            for j in 0..lanes {
                                let (got, exp) = (out[(r - lo) * stride + j], want[[r, j]]);
                                assert!(
                                    (got - exp).abs() <= 1e-4 * (1.0 + exp.abs()),
                                    "{name}, {rows}x{cols} at {density}, stride {stride}, row {r} lane {j}: {got} vs {exp}"
                                );
                            }
                        }
                    }
                }
            }
            // One to three samples packed (stride n), as the per-sample kernels read them.
            #[cfg(target_arch = "x86_64")]
            for (name, can) in [
                ("gather", std::arch::is_x86_feature_detected!("avx512f")),
                (
                    "few fma",
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma"),
                ),
            ] {
                if !can {
                    continue;
                }
                for n in 1..=GATHER_SAMPLES {
                    let mut rng = ChaCha8Rng::seed_from_u64(200 + seed as u64);
                    let xs: Vec<f32> = (0..cols * n).map(|_| rng.gen_range(-2.0f32..2.0)).collect();
                    let want = w.dot(&ArrayView2::from_shape((cols, n), &xs).unwrap());
                    for lo in [0, rows / 3] {
                        let mut out = vec![f32::NAN; (rows - lo) * n];
                        // SAFETY: the CPU has the kernel's features; the lengths fit.
                        unsafe {
                            if name == "gather" {
                                csr.rows_gather512(&xs, n, n, lo..rows, &mut out)
                            } else {
                                csr.rows_few_fma(&xs, n, n, lo..rows, &mut out)
                            }
                        };
                        for r in lo..rows {
                            for j in 0..n {
                                let (got, exp) = (out[(r - lo) * n + j], want[[r, j]]);
                                assert!(
                                    (got - exp).abs() <= 1e-4 * (1.0 + exp.abs()),
                                    "packed {name}, {rows}x{cols}, {n} samples, row {r}: {got} vs {exp}"
                                );
                            }
                        }
                    }
                }
            }
        }
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
        let net = SparseMlp::with_crossover(&m, 0.5, 0.1).unwrap();
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

    #[test]
    fn the_work_buffer_starts_on_a_line() {
        let mut b = AlignedBuf::new();
        for len in [1, 15, 16, 17, 1000, 3] {
            let s = b.get(len);
            assert_eq!(s.len(), len);
            assert_eq!(s.as_ptr() as usize % 64, 0);
        }
    }
}
