//! The sections of a sweep spec (`[data]`, `[network]`, `[train]`, `[experiment]`), each a type whose fields
//! are the spec's keys (`docs/sweep-spec.md`), and the checked reading of `[experiment]`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Error;

use super::names::{
    ActivationName, DatasetName, InitName, LossName, MethodName, OptimizerName, ScopeName,
    TopologyName,
};

/// A spec mistake: an [`Error::Spec`] naming `field`.
pub(super) fn bad(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Spec {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The data of a study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// A built-in dataset: `iris`, `iris_binary`, `digits`, `xor`, `cos_sin` or `mnist`.
    pub dataset: DatasetName,
    /// For `mnist`: a folder holding the four IDX files (default: `data::mnist()`'s lookup, i.e.
    /// `PRUNELAB_MNIST_DIR`, then the cache, then a download).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Fraction of the samples held out for testing, for datasets without a test split of their own
    /// (default 0.3; `xor` is evaluated on its four points and `mnist` has its own test set).
    #[serde(default)]
    pub test_fraction: Option<f64>,
    /// Seed of that split; the split is the same for every seed of the study (default 0).
    #[serde(default)]
    pub split_seed: u64,
    /// Samples drawn for `cos_sin` (default 200).
    #[serde(default)]
    pub samples: Option<usize>,
    /// Inputs rescaled as `(x − mean) / std`, as torchvision's `Normalize` (default: as loaded).
    #[serde(default)]
    pub normalize: Option<Normalize>,
    /// Train on the first this many training samples only (quick runs on MNIST; default all).
    #[serde(default)]
    pub train_limit: Option<usize>,
}

/// Input normalisation `(x − mean) / std`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Subtracted from every input.
    pub mean: f32,
    /// Every input is divided by it after the subtraction.
    pub std: f32,
}

/// The network of a study; its inputs and outputs follow from the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Widths of the hidden layers, e.g. `[300, 100]`.
    pub hidden: Vec<usize>,
    /// Activation of the hidden layers (default `relu`).
    #[serde(default = "relu")]
    pub activation: ActivationName,
    /// Activation of the output layer (default: `softmax` for classification, `identity` for regression; a
    /// two-class problem with `sigmoid` gets one output).
    #[serde(default)]
    pub output: Option<ActivationName>,
    /// Whether layers have biases (default true).
    #[serde(default = "yes")]
    pub bias: bool,
    /// Initialisation (default `glorot_uniform`).
    #[serde(default)]
    pub init: InitName,
    /// `chain` (default) or `densely_connected` (every layer sees the inputs and all earlier layers).
    #[serde(default)]
    pub topology: TopologyName,
}

/// How every network of a study is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// `adam` (default) or `sgd`.
    #[serde(default)]
    pub optimizer: OptimizerName,
    /// Learning rate.
    pub lr: f32,
    /// SGD momentum (default 0; `sgd` only).
    #[serde(default)]
    pub momentum: Option<f32>,
    /// L2 weight decay added to the gradient (default 0).
    #[serde(default)]
    pub weight_decay: f32,
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per step: a number, or `"full"` for full-batch training (default 100).
    #[serde(default)]
    pub batch_size: Option<BatchSpec>,
    /// The loss (default: `cross_entropy` for softmax, `binary_cross_entropy` for sigmoid, `mse` else).
    #[serde(default)]
    pub loss: Option<LossName>,
    /// Masked layers with at most this fraction of their weights kept train through the sparse kernels
    /// (default: the crossover measured for the kernels in use, `prunelab::nn::train_crossover`; `0`: every
    /// layer dense with its mask). The trained weights are the same bits either way; only the time differs.
    #[serde(default)]
    pub sparse_density: Option<f64>,
}

/// A batch size: a number of samples, or `"full"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchSpec {
    /// This many samples per step.
    Size(usize),
    /// `"full"`: the whole training set per step.
    Word(String),
}

/// What a study does with its networks.
///
/// Read as one table of every kind's fields, each deserialised at its own path, then checked against the
/// kind: not as an internally tagged enum, whose content serde buffers, so that a wrong type inside it would be
/// blamed on `experiment` instead of the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "ExperimentFields")]
pub enum ExperimentSpec {
    /// Train, then prune copies to each sparsity with each method (optionally fine-tuning each), and evaluate.
    /// A cell is one seed x one method x one sparsity.
    Sparsity {
        /// Methods: `weights` / `weights_global` (magnitude), `random` (random weights, layerwise), `units` /
        /// `units_global` (hidden units by the L2 norm of their incoming weights), `units_l1` /
        /// `units_l1_global` (L1 norm).
        methods: Vec<MethodName>,
        /// Target sparsities in [0, 1]: the fraction of weights (or of hidden units) removed.
        sparsities: Vec<f64>,
        /// Layers never pruned, e.g. `[2]` for the output layer of a two-hidden-layer net (default none).
        #[serde(default)]
        skip: Vec<usize>,
        /// Epochs of training after pruning, with the mask kept (default 0: evaluate right after pruning).
        #[serde(default)]
        finetune_epochs: usize,
    },
    /// Train, then prune at each magnitude threshold and evaluate. A cell is one seed.
    Threshold {
        /// The thresholds: `count` values evenly spaced from `start` to `stop`, both included.
        thresholds: ThresholdRange,
        /// Prune `|w| <= t` rather than `|w| < t` (default false).
        #[serde(default)]
        inclusive: bool,
        /// Layers never pruned (default none).
        #[serde(default)]
        skip: Vec<usize>,
    },
    /// Train, then `rounds` times prune `amount` of the remaining weights by magnitude and retrain. A cell
    /// is one seed.
    Iterative {
        /// Prune-and-retrain rounds.
        rounds: usize,
        /// Fraction of the remaining weights pruned each round, in [0, 1).
        amount: f64,
        /// Epochs of retraining per round (default: `train.epochs`).
        #[serde(default)]
        retrain_epochs: Option<usize>,
        /// `layerwise` (default) or `global` ranking.
        #[serde(default)]
        scope: ScopeName,
        /// Layers never pruned (default none).
        #[serde(default)]
        skip: Vec<usize>,
    },
    /// The lottery ticket: iterative magnitude pruning with rewinding, and (by default) its two controls at
    /// every round's sparsity: the same masks with fresh random weights, and one-shot pruning. A cell is one
    /// seed.
    Lottery {
        /// Pruning rounds.
        rounds: usize,
        /// Fraction of the remaining weights pruned each round, in [0, 1) (0.2 in Frankle & Carbin).
        amount: f64,
        /// Rewind the survivors to their values after this many epochs (default 0: the initial weights).
        #[serde(default)]
        rewind_epoch: usize,
        /// `layerwise` (default) or `global` ranking.
        #[serde(default)]
        scope: ScopeName,
        /// Layers never pruned (default none).
        #[serde(default)]
        skip: Vec<usize>,
        /// Also run the random-reinit and one-shot controls (default true).
        #[serde(default = "yes")]
        controls: bool,
    },
}

/// Evenly spaced thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRange {
    /// The first threshold (≥ 0).
    pub start: f32,
    /// The last threshold (≥ start).
    pub stop: f32,
    /// How many (≥ 1; at most 100,000).
    pub count: usize,
}

/// The kinds of experiment, as `kind` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ExperimentKind {
    Sparsity,
    Threshold,
    Iterative,
    Lottery,
}

impl ExperimentKind {
    fn name(self) -> &'static str {
        match self {
            ExperimentKind::Sparsity => "sparsity",
            ExperimentKind::Threshold => "threshold",
            ExperimentKind::Iterative => "iterative",
            ExperimentKind::Lottery => "lottery",
        }
    }

    /// The fields this kind takes (besides `kind`).
    fn fields(self) -> &'static [&'static str] {
        match self {
            ExperimentKind::Sparsity => &["methods", "sparsities", "skip", "finetune_epochs"],
            ExperimentKind::Threshold => &["thresholds", "inclusive", "skip"],
            ExperimentKind::Iterative => &["rounds", "amount", "retrain_epochs", "scope", "skip"],
            ExperimentKind::Lottery => &[
                "rounds",
                "amount",
                "rewind_epoch",
                "scope",
                "skip",
                "controls",
            ],
        }
    }
}

/// An `[experiment]` as written: the union of every kind's fields (a name means the same type in every kind
/// that has it), so that each is deserialised, and its errors located, at its own path; the kind then picks
/// its fields and refuses the others.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentFields {
    kind: ExperimentKind,
    methods: Option<Vec<MethodName>>,
    sparsities: Option<Vec<f64>>,
    skip: Option<Vec<usize>>,
    finetune_epochs: Option<usize>,
    thresholds: Option<ThresholdRange>,
    inclusive: Option<bool>,
    rounds: Option<usize>,
    amount: Option<f64>,
    retrain_epochs: Option<usize>,
    scope: Option<ScopeName>,
    rewind_epoch: Option<usize>,
    controls: Option<bool>,
}

impl TryFrom<ExperimentFields> for ExperimentSpec {
    type Error = String;
    fn try_from(f: ExperimentFields) -> std::result::Result<ExperimentSpec, String> {
        let present = [
            ("methods", f.methods.is_some()),
            ("sparsities", f.sparsities.is_some()),
            ("skip", f.skip.is_some()),
            ("finetune_epochs", f.finetune_epochs.is_some()),
            ("thresholds", f.thresholds.is_some()),
            ("inclusive", f.inclusive.is_some()),
            ("rounds", f.rounds.is_some()),
            ("amount", f.amount.is_some()),
            ("retrain_epochs", f.retrain_epochs.is_some()),
            ("scope", f.scope.is_some()),
            ("rewind_epoch", f.rewind_epoch.is_some()),
            ("controls", f.controls.is_some()),
        ];
        let kind = f.kind;
        if let Some((name, _)) = present
            .iter()
            .find(|(name, there)| *there && !kind.fields().contains(name))
        {
            // serde's own wording, which `SweepSpec::from_toml` turns into the field's path.
            return Err(format!(
                "unknown field `{name}`, expected one of {} (for kind = \"{}\")",
                kind.fields()
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                kind.name()
            ));
        }
        fn need<T>(v: Option<T>, name: &str) -> std::result::Result<T, String> {
            v.ok_or_else(|| format!("missing field `{name}`"))
        }
        let skip = f.skip.unwrap_or_default();
        Ok(match kind {
            ExperimentKind::Sparsity => ExperimentSpec::Sparsity {
                methods: need(f.methods, "methods")?,
                sparsities: need(f.sparsities, "sparsities")?,
                skip,
                finetune_epochs: f.finetune_epochs.unwrap_or(0),
            },
            ExperimentKind::Threshold => ExperimentSpec::Threshold {
                thresholds: need(f.thresholds, "thresholds")?,
                inclusive: f.inclusive.unwrap_or(false),
                skip,
            },
            ExperimentKind::Iterative => ExperimentSpec::Iterative {
                rounds: need(f.rounds, "rounds")?,
                amount: need(f.amount, "amount")?,
                retrain_epochs: f.retrain_epochs,
                scope: f.scope.unwrap_or_default(),
                skip,
            },
            ExperimentKind::Lottery => ExperimentSpec::Lottery {
                rounds: need(f.rounds, "rounds")?,
                amount: need(f.amount, "amount")?,
                rewind_epoch: f.rewind_epoch.unwrap_or(0),
                scope: f.scope.unwrap_or_default(),
                skip,
                controls: f.controls.unwrap_or(true),
            },
        })
    }
}

fn relu() -> ActivationName {
    ActivationName::Relu
}

fn yes() -> bool {
    true
}
