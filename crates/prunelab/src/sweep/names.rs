//! The names a sweep spec uses for its choices (datasets, activations, optimisers, losses, methods, ...), as
//! TOML writes them, and what they stand for.

use serde::{Deserialize, Serialize};

use crate::nn::Activation;
use crate::prune::{Norm, Scope};
use crate::sweep::in_process::SweepMethod;

/// The metric of a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricName {
    /// Fraction of test samples classified correctly.
    Accuracy,
    /// Average precision of a one-output sigmoid network's score (scikit-learn's definition).
    AveragePrecision,
    /// Mean squared error of the outputs.
    Mse,
    /// The training loss on the test data.
    Loss,
}

/// A built-in dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetName {
    /// Fisher's iris, three classes.
    Iris,
    /// Setosa against versicolour, as `data::iris_binary()`: two classes, 100 samples.
    IrisBinary,
    /// The bundled 8x8 digits, ten classes.
    Digits,
    /// The four XOR points.
    Xor,
    /// Regression of (cos, sin) on an angle, as `data::cos_sin(samples)`.
    CosSin,
    /// MNIST, 60,000 training and 10,000 test images.
    Mnist,
}

/// An activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationName {
    /// `x`.
    Identity,
    /// `max(0, x)`.
    Relu,
    /// `1 / (1 + e^−x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// Gaussian error linear unit.
    Gelu,
    /// Softmax over the outputs.
    Softmax,
}

/// A weight initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitName {
    /// Glorot (Xavier) uniform, as scikit-learn.
    #[default]
    GlorotUniform,
    /// Kaiming uniform, as PyTorch's `nn.Linear`.
    KaimingUniform,
}

/// How layers are wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopologyName {
    /// Each layer sees the previous one.
    #[default]
    Chain,
    /// Each layer sees the inputs and every earlier layer.
    DenselyConnected,
}

/// An optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerName {
    /// Adam with PyTorch's defaults.
    #[default]
    Adam,
    /// Stochastic gradient descent.
    Sgd,
}

/// A loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossName {
    /// Mean squared error.
    Mse,
    /// Binary cross-entropy of a sigmoid output.
    BinaryCrossEntropy,
    /// Cross-entropy of a softmax output.
    CrossEntropy,
}

/// A pruning method of a sparsity experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodName {
    /// Magnitude pruning of weights, each layer to the target.
    Weights,
    /// Magnitude pruning of weights, ranked across layers.
    WeightsGlobal,
    /// Random weights, each layer to the target (seeded by the cell's seed).
    Random,
    /// Hidden units by the L2 norm of their incoming weights, each layer to the target.
    Units,
    /// Hidden units by L2 norm, ranked across layers.
    UnitsGlobal,
    /// Hidden units by the L1 norm of their incoming weights, each layer to the target.
    UnitsL1,
    /// Hidden units by L1 norm, ranked across layers.
    UnitsL1Global,
}

/// Layerwise or global ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeName {
    /// Each layer pruned to the target.
    #[default]
    Layerwise,
    /// Weights ranked across all pruned layers.
    Global,
}

impl ActivationName {
    /// The activation the name stands for.
    pub fn activation(self) -> Activation {
        match self {
            ActivationName::Identity => Activation::Identity,
            ActivationName::Relu => Activation::Relu,
            ActivationName::Sigmoid => Activation::Sigmoid,
            ActivationName::Tanh => Activation::Tanh,
            ActivationName::Gelu => Activation::Gelu,
            ActivationName::Softmax => Activation::Softmax,
        }
    }
}

impl ScopeName {
    /// The scope the name stands for.
    pub fn scope(self) -> Scope {
        match self {
            ScopeName::Layerwise => Scope::Layerwise,
            ScopeName::Global => Scope::Global,
        }
    }
}

impl MethodName {
    /// Whether the method removes hidden units.
    pub fn is_units(&self) -> bool {
        !matches!(
            self,
            MethodName::Weights | MethodName::WeightsGlobal | MethodName::Random
        )
    }

    /// The name as the spec writes it (`"weights"`, `"units_l1_global"`).
    pub fn key(&self) -> &'static str {
        match self {
            MethodName::Weights => "weights",
            MethodName::WeightsGlobal => "weights_global",
            MethodName::Random => "random",
            MethodName::Units => "units",
            MethodName::UnitsGlobal => "units_global",
            MethodName::UnitsL1 => "units_l1",
            MethodName::UnitsL1Global => "units_l1_global",
        }
    }

    /// The label in tables and legends, as [`SweepMethod::label`] (`"weight (layerwise)"`).
    pub fn label(&self) -> String {
        match self.sweep_method() {
            Some(m) => m.label(),
            None => "random (layerwise)".into(),
        }
    }

    /// The built-in sweep method (none for random pruning).
    pub(crate) fn sweep_method(&self) -> Option<SweepMethod> {
        let units = |scope, norm| Some(SweepMethod::Units { scope, norm });
        match self {
            MethodName::Weights => Some(SweepMethod::Weights(Scope::Layerwise)),
            MethodName::WeightsGlobal => Some(SweepMethod::Weights(Scope::Global)),
            MethodName::Random => None,
            MethodName::Units => units(Scope::Layerwise, Norm::L2),
            MethodName::UnitsGlobal => units(Scope::Global, Norm::L2),
            MethodName::UnitsL1 => units(Scope::Layerwise, Norm::L1),
            MethodName::UnitsL1Global => units(Scope::Global, Norm::L1),
        }
    }
}
