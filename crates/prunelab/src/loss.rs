//! Loss functions.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::data::Targets;
use crate::error::{Error, Result};

/// A loss to minimise. Each is a mean over the batch.
///
/// ```
/// use prunelab::loss::Loss;
/// use ndarray::array;
///
/// let mse = Loss::Mse.value(array![[1.0, 2.0]].view(), array![[0.0, 0.0]].view())?;
/// assert_eq!(mse, 2.5);
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Loss {
    /// Mean squared error over every output of every sample (PyTorch's `MSELoss`). Class targets are
    /// one-hot encoded (a single output gets the 0/1 label).
    Mse,
    /// Binary cross-entropy on sigmoid outputs, averaged over every output of every sample (scikit-learn's
    /// log-loss for one output, PyTorch's `BCELoss`). Computed from the pre-activation, so it stays exact
    /// when the sigmoid saturates.
    BinaryCrossEntropy,
    /// Cross-entropy on a softmax output, averaged over samples (PyTorch's `CrossEntropyLoss`). Computed
    /// from the pre-activation (log-sum-exp).
    CrossEntropy,
}

impl Loss {
    /// A short name (`"mse"`, `"bce"`, `"cross-entropy"`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::BinaryCrossEntropy => "bce",
            Loss::CrossEntropy => "cross-entropy",
        }
    }

    /// Fails unless the network's output activation suits this loss: binary cross-entropy needs a sigmoid
    /// output, cross-entropy a softmax output; MSE takes any.
    pub fn check_output(self, output: Activation) -> Result<()> {
        let ok = match self {
            Loss::Mse => true,
            Loss::BinaryCrossEntropy => output == Activation::Sigmoid,
            Loss::CrossEntropy => output == Activation::Softmax,
        };
        if ok {
            Ok(())
        } else {
            let need = match self {
                Loss::BinaryCrossEntropy => "sigmoid",
                _ => "softmax",
            };
            Err(Error::Incompatible(format!(
                "loss {} needs a {need} output layer, the network has {output}",
                self.name()
            )))
        }
    }

    /// The target matrix `(samples, n_outputs)` this loss compares the network output with. Class labels
    /// become a 0/1 column for a single output, one-hot rows otherwise.
    pub fn encode_targets(self, targets: &Targets, n_outputs: usize) -> Result<Array2<f32>> {
        match targets {
            Targets::Classes { labels, .. } => {
                let width = if n_outputs == 1 { 2 } else { n_outputs };
                if let Some(&label) = labels.iter().find(|&&l| l >= width) {
                    return Err(Error::LabelOutOfRange {
                        label,
                        n_classes: width,
                    });
                }
                if self == Loss::CrossEntropy && n_outputs == 1 {
                    return Err(Error::Incompatible(
                        "cross-entropy needs one output per class; use binary cross-entropy for one output"
                            .into(),
                    ));
                }
                if n_outputs == 1 {
                    Ok(labels.mapv(|l| l as f32).insert_axis(ndarray::Axis(1)))
                } else {
                    let mut y = Array2::zeros((labels.len(), n_outputs));
                    for (i, &l) in labels.iter().enumerate() {
                        y[[i, l]] = 1.0;
                    }
                    Ok(y)
                }
            }
            Targets::Values(values) => {
                if values.ncols() != n_outputs {
                    return Err(Error::shape(
                        "targets",
                        format!("{n_outputs} columns (network outputs)"),
                        format!("{} columns", values.ncols()),
                    ));
                }
                if self != Loss::Mse && values.iter().any(|&v| !(0.0..=1.0).contains(&v)) {
                    return Err(Error::param(
                        "targets",
                        "cross-entropy targets must lie in [0, 1]",
                    ));
                }
                Ok(values.clone())
            }
        }
    }

    /// The loss of network outputs (probabilities for the cross-entropies, clipped to
    /// `[1e-7, 1 − 1e-7]`) against a target matrix of the same shape.
    pub fn value(self, output: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<f32> {
        if output.dim() != target.dim() {
            return Err(Error::shape(
                "Loss::value",
                format!("{:?}", output.dim()),
                format!("{:?}", target.dim()),
            ));
        }
        if output.is_empty() {
            return Err(Error::Empty { what: "output" });
        }
        crate::error::check_finite(output.iter(), "output")?;
        crate::error::check_finite(target.iter(), "target")?;
        const EPS: f64 = 1e-7;
        let clip = |p: f32| (p as f64).clamp(EPS, 1.0 - EPS);
        let mut sum = 0.0f64;
        Zip::from(&output).and(&target).for_each(|&a, &y| {
            let (a64, y64) = (a as f64, y as f64);
            sum += match self {
                Loss::Mse => (a64 - y64).powi(2),
                Loss::BinaryCrossEntropy => {
                    -(y64 * libm::log(clip(a)) + (1.0 - y64) * libm::log(1.0 - clip(a)))
                }
                Loss::CrossEntropy => -y64 * libm::log(clip(a)),
            }
        });
        let denom = match self {
            Loss::CrossEntropy => output.nrows(),
            _ => output.len(),
        };
        Ok((sum / denom as f64) as f32)
    }

    /// Loss from the output layer's pre-activation `z` and output `a`, with ∂L/∂z written into `dz`.
    pub(crate) fn value_and_grad(
        self,
        z: ArrayView2<f32>,
        a: ArrayView2<f32>,
        y: ArrayView2<f32>,
        activation: Activation,
        mut dz: ArrayViewMut2<f32>,
    ) -> f32 {
        let n = y.nrows() as f64;
        let mut sum = 0.0f64;
        match self {
            Loss::Mse => {
                let scale = 2.0 / y.len() as f32;
                crate::elementwise::zip3(dz.view_mut(), a, y, |d, a, y| {
                    let e = a - y;
                    sum += (e as f64) * (e as f64);
                    *d = scale * e;
                });
                activation.backward(z, a, dz);
                (sum / y.len() as f64) as f32
            }
            Loss::BinaryCrossEntropy => {
                let scale = 1.0 / y.len() as f32;
                crate::elementwise::zip4(dz, z, a, y, |d, z, a, y| {
                    // max(z, 0) − z·y is exact in f64; the softplus term log(1 + e^{−|z|}) in f32
                    // (as PyTorch computes it: within an f32 ulp, the size of the result's own
                    // rounding, at a third of the f64 functions' cost), summed in f64.
                    let (z64, y64) = (z as f64, y as f64);
                    sum += z64.max(0.0) - z64 * y64 + libm::log1pf(libm::expf(-z.abs())) as f64;
                    *d = scale * (a - y);
                });
                (sum / y.len() as f64) as f32
            }
            Loss::CrossEntropy => {
                let scale = 1.0 / n as f32;
                for ((zr, yr), (ar, mut dr)) in z
                    .rows()
                    .into_iter()
                    .zip(y.rows())
                    .zip(a.rows().into_iter().zip(dz.rows_mut()))
                {
                    let max = zr.fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
                    let lse =
                        max + libm::log(zr.iter().map(|&v| libm::exp(v as f64 - max)).sum::<f64>());
                    sum += zr
                        .iter()
                        .zip(yr.iter())
                        .map(|(&z, &y)| y as f64 * (lse - z as f64))
                        .sum::<f64>();
                    Zip::from(&mut dr)
                        .and(&ar)
                        .and(&yr)
                        .for_each(|d, &a, &y| *d = scale * (a - y));
                }
                (sum / n) as f32
            }
        }
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
