//! Activation functions and their derivatives, applied to whole batches.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};
use serde::{Deserialize, Serialize};

/// The non-linearity a layer applies to its pre-activation `z = x·Wᵀ + b`.
///
/// `Softmax` works row-wise (one row per sample) and is meant for an output layer trained with
/// [`Loss::CrossEntropy`](crate::loss::Loss::CrossEntropy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Activation {
    /// `f(z) = z`.
    Identity,
    /// `f(z) = max(z, 0)`.
    #[default]
    Relu,
    /// The logistic function `1 / (1 + e^{-z})`.
    Sigmoid,
    /// The hyperbolic tangent.
    Tanh,
    /// The exact (erf-based) GELU, `z·Φ(z)`, as PyTorch's default `nn.GELU()`.
    Gelu,
    /// Row-wise softmax, for an output layer.
    Softmax,
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2π)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// The logistic function, written so that it never overflows.
#[inline]
pub(crate) fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + libm::expf(-z))
    } else {
        let e = libm::expf(z);
        e / (1.0 + e)
    }
}

impl Activation {
    /// The activation of a single value. `Softmax` has no scalar form and returns `z` unchanged: it needs the
    /// whole row, which the network's passes ([`Mlp::forward`](crate::nn::Mlp::forward)) give it.
    #[inline]
    pub fn scalar(self, z: f32) -> f32 {
        match self {
            Activation::Identity | Activation::Softmax => z,
            Activation::Relu => z.max(0.0),
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => libm::tanhf(z),
            Activation::Gelu => 0.5 * z * (1.0 + libm::erff(z * FRAC_1_SQRT_2)),
        }
    }

    /// One layer's forward step on a batch whose rows are samples: `z ← z + bias`, then `a ← f(z)`, fused in
    /// one pass (softmax: per sample, while the row is in L1 cache). With `a = None` the activation
    /// overwrites `z`: inference keeps no pre-activation.
    pub(crate) fn forward(
        self,
        mut z: ArrayViewMut2<f32>,
        bias: Option<ArrayView1<f32>>,
        a: Option<ArrayViewMut2<f32>>,
    ) {
        if self == Activation::Softmax {
            match a {
                Some(mut a) => {
                    for (mut zr, ar) in z.rows_mut().into_iter().zip(a.rows_mut()) {
                        if let Some(b) = &bias {
                            zr += b;
                        }
                        self.apply_row(zr.view(), ar);
                    }
                }
                None => {
                    for mut zr in z.rows_mut() {
                        if let Some(b) = &bias {
                            zr += b;
                        }
                        self.apply_row_in_place(zr);
                    }
                }
            }
            return;
        }
        // Element-wise activations: one pass over the batch, with the function chosen outside the loop.
        #[inline(always)]
        fn pass(
            f: impl Fn(f32) -> f32,
            mut z: ArrayViewMut2<f32>,
            bias: Option<ArrayView1<f32>>,
            a: Option<ArrayViewMut2<f32>>,
        ) {
            match (a, bias) {
                (Some(a), Some(b)) => crate::elementwise::with_bias(z, a, b, |z, a, b| {
                    *z += b;
                    *a = f(*z);
                }),
                (Some(a), None) => crate::elementwise::zip2(a, z.view(), |a, z| *a = f(z)),
                (None, Some(b)) => Zip::from(&mut z)
                    .and_broadcast(&b)
                    .for_each(|z, &b| *z = f(*z + b)),
                (None, None) => z.map_inplace(|z| *z = f(*z)),
            }
        }
        match self {
            Activation::Identity | Activation::Softmax => pass(|z| z, z, bias, a),
            Activation::Relu => pass(|z| z.max(0.0), z, bias, a),
            Activation::Sigmoid => pass(sigmoid, z, bias, a),
            Activation::Tanh => pass(libm::tanhf, z, bias, a),
            Activation::Gelu => pass(|z| Activation::Gelu.scalar(z), z, bias, a),
        }
    }

    /// `z ← f(z + bias[r])` in place over rows of `stride` values laid end to end (row `r` adds `bias[r]`),
    /// with the function chosen outside the loop so the pass vectorises: the sparse path's layout, one row
    /// per unit. `Softmax` has no element-wise form and is left to [`Activation::forward`].
    pub(crate) fn rows_in_place(
        self,
        zs: &mut [f32],
        stride: usize,
        bias: Option<ArrayView1<f32>>,
    ) {
        #[inline(always)]
        fn pass(
            f: impl Fn(f32) -> f32,
            zs: &mut [f32],
            stride: usize,
            bias: Option<ArrayView1<f32>>,
        ) {
            match bias {
                Some(b) => {
                    for (row, &b) in zs.chunks_exact_mut(stride).zip(b.iter()) {
                        row.iter_mut().for_each(|v| *v = f(*v + b));
                    }
                }
                None => zs.iter_mut().for_each(|v| *v = f(*v)),
            }
        }
        match self {
            Activation::Identity | Activation::Softmax if bias.is_none() => {}
            Activation::Identity | Activation::Softmax => pass(|z| z, zs, stride, bias),
            Activation::Relu => pass(|z| z.max(0.0), zs, stride, bias),
            Activation::Sigmoid => pass(sigmoid, zs, stride, bias),
            Activation::Tanh => pass(libm::tanhf, zs, stride, bias),
            Activation::Gelu => pass(|z| Activation::Gelu.scalar(z), zs, stride, bias),
        }
    }

    /// [`Activation::forward`] on feature-major buffers (the sparse training path's layout): row `r` of `z`
    /// and `a` (`stride` apart, the first `n` values used) holds unit `r`'s samples; `z ← z + bias[r]`,
    /// then `a ← f(z)`, with the function chosen outside the loop so the pass vectorises. Not for `Softmax`
    /// (it needs a sample's whole row).
    pub(crate) fn forward_rows(
        self,
        z: &mut [f32],
        a: &mut [f32],
        stride: usize,
        n: usize,
        bias: Option<ArrayView1<f32>>,
    ) {
        assert!(
            self != Activation::Softmax,
            "softmax has no feature-major form"
        );
        assert!(n <= stride && z.len() == a.len() && z.len().is_multiple_of(stride));
        #[inline(always)]
        fn pass(
            f: impl Fn(f32) -> f32,
            z: &mut [f32],
            a: &mut [f32],
            stride: usize,
            n: usize,
            bias: Option<ArrayView1<f32>>,
        ) {
            let rows = z.chunks_exact_mut(stride).zip(a.chunks_exact_mut(stride));
            for (r, (z, a)) in rows.enumerate() {
                let (z, a) = (&mut z[..n], &mut a[..n]);
                match &bias {
                    Some(b) => {
                        let b = b[r];
                        for (z, a) in z.iter_mut().zip(a.iter_mut()) {
                            *z += b;
                            *a = f(*z);
                        }
                    }
                    None => {
                        for (z, a) in z.iter().zip(a.iter_mut()) {
                            *a = f(*z);
                        }
                    }
                }
            }
        }
        if let Some(b) = &bias {
            assert_eq!(b.len() * stride, z.len(), "one bias per row");
        }
        match self {
            Activation::Identity | Activation::Softmax => pass(|z| z, z, a, stride, n, bias),
            Activation::Relu => pass(|z| z.max(0.0), z, a, stride, n, bias),
            Activation::Sigmoid => pass(sigmoid, z, a, stride, n, bias),
            Activation::Tanh => pass(libm::tanhf, z, a, stride, n, bias),
            Activation::Gelu => pass(|z| Activation::Gelu.scalar(z), z, a, stride, n, bias),
        }
    }

    /// `a ← f(z)` for one sample.
    fn apply_row(self, z: ArrayView1<f32>, mut a: ArrayViewMut1<f32>) {
        if self == Activation::Softmax {
            let max = z.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0.0;
            Zip::from(&mut a).and(&z).for_each(|a, &z| {
                *a = libm::expf(z - max);
                sum += *a;
            });
            a.mapv_inplace(|v| v / sum);
        } else {
            Zip::from(&mut a)
                .and(&z)
                .for_each(|a, &z| *a = self.scalar(z));
        }
    }

    /// `z ← f(z)` for one sample.
    fn apply_row_in_place(self, mut z: ArrayViewMut1<f32>) {
        match self {
            Activation::Identity => {}
            Activation::Softmax => {
                let max = z.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut sum = 0.0;
                z.mapv_inplace(|v| {
                    let e = libm::expf(v - max);
                    sum += e;
                    e
                });
                z.mapv_inplace(|v| v / sum);
            }
            _ => z.mapv_inplace(|v| self.scalar(v)),
        }
    }

    /// Turns `d` from ∂L/∂a into ∂L/∂z in place, given the pre-activation `z` and the output `a`.
    pub(crate) fn backward(
        self,
        z: ArrayView2<f32>,
        a: ArrayView2<f32>,
        mut d: ArrayViewMut2<f32>,
    ) {
        match self {
            Activation::Identity => {}
            // A select, not a branch: the sign of `z` is as unpredictable as the data, and the select
            // vectorises (the same values: `d` where `z > 0` or `z` is NaN, else zero).
            Activation::Relu => {
                crate::elementwise::zip2(d, z, |d, z| *d = if z <= 0.0 { 0.0 } else { *d })
            }
            Activation::Sigmoid => crate::elementwise::zip2(d, a, |d, a| *d *= a * (1.0 - a)),
            Activation::Tanh => crate::elementwise::zip2(d, a, |d, a| *d *= 1.0 - a * a),
            Activation::Gelu => Zip::from(&mut d).and(&z).for_each(|d, &z| {
                let cdf = 0.5 * (1.0 + libm::erff(z * FRAC_1_SQRT_2));
                let pdf = FRAC_1_SQRT_2PI * libm::expf(-0.5 * z * z);
                *d *= cdf + z * pdf;
            }),
            Activation::Softmax => {
                for (ar, mut dr) in a.axis_iter(Axis(0)).zip(d.axis_iter_mut(Axis(0))) {
                    let dot: f32 = ar.iter().zip(dr.iter()).map(|(a, d)| a * d).sum();
                    Zip::from(&mut dr)
                        .and(&ar)
                        .for_each(|d, &a| *d = a * (*d - dot));
                }
            }
        }
    }

    /// A short lower-case name (`"relu"`, `"sigmoid"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
            Activation::Softmax => "softmax",
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    /// The batch passes (dense and sparse layouts) compute each element as [`Activation::scalar`] does,
    /// bit for bit: one implementation of each function (the `libm` port, the same on every machine and C
    /// library), never the platform's `tanhf`/`expf`.
    #[test]
    fn batch_passes_equal_the_scalar_function_bit_for_bit() {
        let z = Array2::from_shape_fn((7, 13), |(i, j)| ((i * 13 + j) as f32 * 0.731).sin() * 9.0);
        let bias = Array1::from_shape_fn(13, |j| j as f32 * 0.01 - 0.05);
        let row_bias = Array1::from_shape_fn(7, |i| i as f32 * 0.02 - 0.07);
        for f in [
            Activation::Identity,
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Gelu,
        ] {
            let mut zb = z.clone();
            let mut a = Array2::zeros(z.dim());
            f.forward(zb.view_mut(), Some(bias.view()), Some(a.view_mut()));
            let mut inplace = z.clone();
            f.forward(inplace.view_mut(), None, None);
            let mut rows: Vec<f32> = z.iter().copied().collect();
            f.rows_in_place(&mut rows, 13, Some(row_bias.view()));
            for ((i, j), &v) in z.indexed_iter() {
                let want = f.scalar(v + bias[j]);
                assert_eq!(
                    a[[i, j]].to_bits(),
                    want.to_bits(),
                    "{f} with bias at ({i}, {j})"
                );
                assert_eq!(
                    inplace[[i, j]].to_bits(),
                    f.scalar(v).to_bits(),
                    "{f} in place"
                );
                let want = f.scalar(v + row_bias[i]);
                assert_eq!(
                    rows[i * 13 + j].to_bits(),
                    want.to_bits(),
                    "{f} rows at ({i}, {j})"
                );
            }
        }
    }
}
