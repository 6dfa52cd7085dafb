//! A fully connected layer.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::error::{check_finite, Error, Result};
use crate::nn::Activation;

/// A fully connected layer: `a = f(x·Wᵀ + b)`.
///
/// The weight matrix has shape `(outputs, inputs)`, as PyTorch's `nn.Linear`: row `j` holds the incoming
/// weights of unit `j`. The bias is optional.
///
/// ```
/// use prunelab::nn::{Activation, Dense};
/// use ndarray::array;
///
/// let layer = Dense::new(array![[1.0, -1.0], [5.0, 2.0]], Some(array![0.1, 0.2]), Activation::Relu)?;
/// assert_eq!((layer.n_inputs(), layer.n_outputs()), (2, 2));
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Dense {
    pub(in crate::nn) weight: crate::nn::Weights,
    pub(in crate::nn) bias: Option<Array1<f32>>,
    pub(in crate::nn) activation: Activation,
    /// `false` where a weight is pruned (and therefore exactly zero); `None` when nothing is pruned.
    pub(in crate::nn) mask: Option<Array2<bool>>,
    /// `false` where a bias is pruned (a removed unit); `None` when no bias is pruned.
    pub(in crate::nn) bias_mask: Option<Array1<bool>>,
    /// The value each pruned weight had when it was pruned, for [`Mlp::reset_masks`](crate::nn::Mlp::reset_masks).
    pub(in crate::nn) pruned_values: Option<Array2<f32>>,
}

/// Layers are equal when their weights, biases, activation and masks are; the in-memory record of pruned
/// values (used by [`Mlp::reset_masks`](crate::nn::Mlp::reset_masks)) does not count.
impl PartialEq for Dense {
    fn eq(&self, other: &Self) -> bool {
        self.weight == other.weight
            && self.bias == other.bias
            && self.activation == other.activation
            && self.mask == other.mask
            && self.bias_mask == other.bias_mask
    }
}

impl Dense {
    /// A layer from an explicit weight matrix `(outputs, inputs)`, an optional bias of length `outputs`, and
    /// an activation. Fails on empty or mismatched shapes and on non-finite values.
    pub fn new(
        weight: Array2<f32>,
        bias: Option<Array1<f32>>,
        activation: Activation,
    ) -> Result<Self> {
        if weight.is_empty() {
            return Err(Error::Empty {
                what: "weight matrix",
            });
        }
        check_finite(weight.iter(), "weight matrix")?;
        if let Some(b) = &bias {
            if b.len() != weight.nrows() {
                return Err(Error::shape("Dense::new bias", weight.nrows(), b.len()));
            }
            check_finite(b.iter(), "bias")?;
        }
        // Row-major as the kernels read it; a matrix already in that layout is kept, not copied (a copy
        // would briefly double the largest layer of a network near the memory limit).
        let weight = if weight.is_standard_layout() {
            weight
        } else {
            weight.as_standard_layout().into_owned()
        };
        Ok(Dense {
            weight: weight.into(),
            bias,
            activation,
            mask: None,
            bias_mask: None,
            pruned_values: None,
        })
    }

    /// Number of inputs (columns of the weight matrix).
    pub fn n_inputs(&self) -> usize {
        self.weight.ncols()
    }

    /// Number of units (rows of the weight matrix).
    pub fn n_outputs(&self) -> usize {
        self.weight.nrows()
    }

    /// The weight matrix, shape `(outputs, inputs)`.
    pub fn weight(&self) -> ArrayView2<'_, f32> {
        self.weight.view()
    }

    /// The bias vector, if the layer has one.
    pub fn bias(&self) -> Option<ArrayView1<'_, f32>> {
        self.bias.as_ref().map(|b| b.view())
    }

    /// The activation function.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Number of weights (connections), not counting biases.
    pub fn n_weights(&self) -> usize {
        self.weight.len()
    }

    /// The pruning mask (`true` = kept), if any weight of this layer is pruned.
    pub fn mask(&self) -> Option<ArrayView2<'_, bool>> {
        self.mask.as_ref().map(|m| m.view())
    }

    /// The bias mask (`false` = pruned unit bias), if any bias is pruned.
    pub fn bias_mask(&self) -> Option<ArrayView1<'_, bool>> {
        self.bias_mask.as_ref().map(|m| m.view())
    }

    /// Whether the weight from `input` to `unit` is kept (not pruned). Indices must be in range.
    pub(crate) fn is_kept(&self, unit: usize, input: usize) -> bool {
        self.mask.as_ref().is_none_or(|m| m[[unit, input]])
    }

    /// Number of weights not pruned.
    pub fn n_remaining(&self) -> usize {
        self.mask
            .as_ref()
            .map_or(self.weight.len(), |m| match m.as_slice_memory_order() {
                // Contiguous: a byte sum the compiler vectorises.
                Some(s) => s
                    .iter()
                    .map(|&k| u32::from(k))
                    .fold(0usize, |n, k| n + k as usize),
                None => m.iter().filter(|&&k| k).count(),
            })
    }

    /// Number of trainable parameters: weights plus biases.
    pub fn n_params(&self) -> usize {
        self.weight.len() + self.bias.as_ref().map_or(0, |b| b.len())
    }
}
