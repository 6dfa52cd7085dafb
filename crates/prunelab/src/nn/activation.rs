//! Activation functions and their derivatives, applied to whole batches.

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};
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
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Activation {
    /// The activation of a single value. `Softmax` has no scalar form and returns `z` unchanged; use
    /// [`Activation::apply`] for it.
    #[inline]
    pub fn scalar(self, z: f32) -> f32 {
        match self {
            Activation::Identity | Activation::Softmax => z,
            Activation::Relu => z.max(0.0),
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => z.tanh(),
            Activation::Gelu => 0.5 * z * (1.0 + libm::erff(z * FRAC_1_SQRT_2)),
        }
    }

    /// Writes `f(z)` into `a` for a batch (`z` and `a` have shape `(samples, units)`).
    pub(crate) fn apply(self, z: ArrayView2<f32>, mut a: ArrayViewMut2<f32>) {
        if self == Activation::Softmax {
            for (zr, mut ar) in z.axis_iter(Axis(0)).zip(a.axis_iter_mut(Axis(0))) {
                let max = zr.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut sum = 0.0;
                Zip::from(&mut ar).and(&zr).for_each(|a, &z| {
                    *a = (z - max).exp();
                    sum += *a;
                });
                ar.mapv_inplace(|v| v / sum);
            }
        } else {
            Zip::from(&mut a)
                .and(&z)
                .for_each(|a, &z| *a = self.scalar(z));
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
            Activation::Relu => Zip::from(&mut d).and(&z).for_each(|d, &z| {
                if z <= 0.0 {
                    *d = 0.0;
                }
            }),
            Activation::Sigmoid => Zip::from(&mut d)
                .and(&a)
                .for_each(|d, &a| *d *= a * (1.0 - a)),
            Activation::Tanh => Zip::from(&mut d)
                .and(&a)
                .for_each(|d, &a| *d *= 1.0 - a * a),
            Activation::Gelu => Zip::from(&mut d).and(&z).for_each(|d, &z| {
                let cdf = 0.5 * (1.0 + libm::erff(z * FRAC_1_SQRT_2));
                let pdf = FRAC_1_SQRT_2PI * (-0.5 * z * z).exp();
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
