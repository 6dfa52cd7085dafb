//! Sparse inference: layers below a density threshold run a CSR kernel, so pruned weights cost nothing.

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, AsArray, Axis, Ix2};
use serde::{Deserialize, Serialize};
use std::ops::Range;

use crate::error::{Error, Result};
use crate::nn::{check_batch, Activation, Mlp, Topology};

/// Samples per block of [`SparseMlp::forward`]: a block's inputs and outputs of a layer stay in L2 cache.
const SAMPLE_BLOCK: usize = 128;

/// Columns of the batch processed together by the CSR kernel: one block of every input row stays in cache
/// while all output rows are accumulated.
const BLOCK: usize = 64;

/// A weight matrix in compressed sparse row form (rows are units, columns inputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Csr {
    /// Number of rows (units).
    pub rows: usize,
    /// Number of columns (inputs).
    pub cols: usize,
    /// Row `r`'s entries are `indptr[r]..indptr[r + 1]`.
    pub indptr: Vec<usize>,
    /// Column of each entry.
    pub indices: Vec<u32>,
    /// Value of each entry.
    pub values: Vec<f32>,
}

impl Csr {
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
        Csr {
            rows,
            cols,
            indptr,
            indices,
            values,
        }
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// `out = W · x` for feature-major `x` (`cols × batch`) into `out` (`rows × batch`, standard layout).
    /// Large products split their rows over rayon's threads.
    fn matmul_into(&self, x: ArrayView2<f32>, mut out: ndarray::ArrayViewMut2<f32>) {
        use rayon::prelude::*;
        let batch = x.ncols();
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let out = out.as_slice_mut().expect("standard layout");
        let threads = rayon::current_num_threads();
        if !crate::linalg::may_split() || self.nnz() * batch < 1 << 21 || self.rows < 2 * threads {
            return self.rows_into(xs, batch, 0..self.rows, out);
        }
        let chunk = self.rows.div_ceil(4 * threads);
        out.par_chunks_mut(chunk * batch)
            .enumerate()
            .for_each(|(i, o)| {
                let lo = i * chunk;
                self.rows_into(xs, batch, lo..(lo + chunk).min(self.rows), o)
            });
    }

    /// Rows `rows` of the product into `out` (those rows only), with the widest kernel the CPU runs.
    fn rows_into(&self, xs: &[f32], batch: usize, rows: Range<usize>, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports the features the function is compiled for.
                return unsafe { self.matmul_avx512(xs, batch, rows, out) };
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: as above.
                return unsafe { self.matmul_avx2(xs, batch, rows, out) };
            }
        }
        self.matmul_generic::<false>(xs, batch, rows, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn matmul_avx512(&self, xs: &[f32], batch: usize, rows: Range<usize>, out: &mut [f32]) {
        self.matmul_generic::<true>(xs, batch, rows, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn matmul_avx2(&self, xs: &[f32], batch: usize, rows: Range<usize>, out: &mut [f32]) {
        self.matmul_generic::<true>(xs, batch, rows, out)
    }

    /// The kernel, inlined into each feature-specific entry so the compiler vectorises it for that CPU:
    /// full blocks of `BLOCK` batch columns keep their accumulators in registers. `out` holds the rows
    /// `rows` only.
    #[inline(always)]
    fn matmul_generic<const FMA: bool>(
        &self,
        xs: &[f32],
        batch: usize,
        rows: Range<usize>,
        out: &mut [f32],
    ) {
        let full = batch / BLOCK * BLOCK;
        let base = rows.start;
        for start in (0..full).step_by(BLOCK) {
            for r in rows.clone() {
                let mut acc = [0.0f32; BLOCK];
                for e in self.indptr[r]..self.indptr[r + 1] {
                    let w = self.values[e];
                    let at = self.indices[e] as usize * batch + start;
                    let xb: &[f32; BLOCK] = xs[at..at + BLOCK].try_into().expect("block length");
                    for i in 0..BLOCK {
                        acc[i] = madd::<FMA>(w, xb[i], acc[i]);
                    }
                }
                let o = (r - base) * batch + start;
                out[o..o + BLOCK].copy_from_slice(&acc);
            }
        }
        if full < batch {
            let width = batch - full;
            for r in rows.clone() {
                let mut acc = [0.0f32; BLOCK];
                for e in self.indptr[r]..self.indptr[r + 1] {
                    let w = self.values[e];
                    let at = self.indices[e] as usize * batch + full;
                    for (a, &v) in acc[..width].iter_mut().zip(&xs[at..at + width]) {
                        *a = madd::<FMA>(w, v, *a);
                    }
                }
                let o = (r - base) * batch;
                out[o + full..o + batch].copy_from_slice(&acc[..width]);
            }
        }
    }
}

/// `w·x + a`, fused where the CPU has FMA (a library call otherwise, hence the switch).
#[inline(always)]
fn madd<const FMA: bool>(w: f32, x: f32, a: f32) -> f32 {
    if FMA {
        w.mul_add(x, a)
    } else {
        w * x + a
    }
}

/// How one layer of a [`SparseMlp`] multiplies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Kernel {
    /// A dense matrix product (pruned entries are zeros).
    Dense(Array2<f32>),
    /// A CSR product over the kept entries only.
    Sparse(Csr),
}

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
/// kernel, the others a dense product. Outputs equal the masked network's to float rounding.
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
pub struct SparseMlp {
    n_inputs: usize,
    topology: Topology,
    layers: Vec<SparseLayer>,
}

impl SparseMlp {
    /// Converts `model`; layers with density below `density_threshold` (in `[0, 1]`) become sparse.
    pub fn new(model: &Mlp, density_threshold: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&density_threshold) {
            return Err(Error::param(
                "density_threshold",
                format!("must lie in [0, 1], got {density_threshold}"),
            ));
        }
        let layers = model
            .layers()
            .iter()
            .map(|l| {
                let density = l.n_remaining() as f64 / l.n_weights() as f64;
                let kernel = if density < density_threshold {
                    Kernel::Sparse(Csr::from_masked(l.weight(), l.mask()))
                } else {
                    Kernel::Dense(l.weight().to_owned())
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

    fn width(&self, k: usize) -> usize {
        match &self.layers[k].kernel {
            Kernel::Dense(w) => w.nrows(),
            Kernel::Sparse(c) => c.rows,
        }
    }

    /// The network output for a batch `x` of shape `(samples, inputs)`. Samples go through the network in
    /// blocks of [`SAMPLE_BLOCK`], each carried through every layer while its activations sit in cache;
    /// blocks run in parallel on rayon's threads.
    pub fn forward<'a>(&self, x: impl AsArray<'a, f32, Ix2>) -> Result<Array2<f32>> {
        let x: ArrayView2<f32> = x.into();
        check_batch(&x, self.n_inputs)?;
        crate::interrupt::checkpoint("sparse inference", || "before a forward pass".into())?;
        let outputs = self.width(self.layers.len() - 1);
        let mut out = Array2::zeros((x.nrows(), outputs));
        crate::linalg::row_blocks(x, out.view_mut(), SAMPLE_BLOCK, Vec::new, |buf, xb, o| {
            self.forward_block(buf, xb, o)
        });
        Ok(out)
    }

    /// One block of samples through every layer, in a feature-major buffer (the input's rows, then each
    /// layer's units' rows, one column per sample), so that the CSR kernel reads whole rows of inputs.
    fn forward_block(&self, buf: &mut Vec<f32>, x: ArrayView2<f32>, mut out: ArrayViewMut2<f32>) {
        let n = x.nrows();
        let total = self.n_inputs + (0..self.layers.len()).map(|k| self.width(k)).sum::<usize>();
        if buf.len() < total * n {
            buf.resize(total * n, 0.0);
        }
        let mut acts =
            ArrayViewMut2::from_shape((total, n), &mut buf[..total * n]).expect("buffer fits");
        acts.slice_mut(s![..self.n_inputs, ..]).assign(&x.t());
        let mut start = self.n_inputs;
        let mut prev_start = 0;
        for (k, layer) in self.layers.iter().enumerate() {
            let width = self.width(k);
            let in_lo = match self.topology {
                Topology::Chain => prev_start,
                Topology::DenselyConnected => 0,
            };
            let (left, mut right) = acts.view_mut().split_at(Axis(0), start);
            let input = left.slice(s![in_lo.., ..]);
            let mut z = right.slice_mut(s![..width, ..]);
            match &layer.kernel {
                Kernel::Dense(w) => crate::linalg::matmul(w.view(), input, &mut z, false),
                Kernel::Sparse(csr) => csr.matmul_into(input, z.view_mut()),
            }
            let bias = layer.bias.as_ref().map(|b| b.view());
            if layer.activation == Activation::Softmax {
                // Row-wise over samples, which are the columns here.
                layer.activation.forward(z.reversed_axes(), bias, None);
            } else {
                for (u, mut row) in z.rows_mut().into_iter().enumerate() {
                    match bias {
                        Some(b) => {
                            let b = b[u];
                            row.mapv_inplace(|v| layer.activation.scalar(v + b));
                        }
                        None => row.mapv_inplace(|v| layer.activation.scalar(v)),
                    }
                }
            }
            prev_start = start;
            start += width;
        }
        out.assign(&acts.slice(s![prev_start.., ..]).t());
    }
}

impl Mlp {
    /// A [`SparseMlp`] for fast inference, with CSR kernels on layers below 30% density.
    pub fn to_sparse(&self) -> SparseMlp {
        SparseMlp::new(self, 0.3).expect("0.3 is a valid threshold")
    }
}
