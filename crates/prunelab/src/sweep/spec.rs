//! The sweep spec: a pruning study written down in TOML (data, network, training, experiment, seeds, metric),
//! checked before anything runs.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{self, Dataset};
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::metrics::Metric;
use crate::nn::{Init, Mlp, Topology};
use crate::optim::{Adam, Optimizer, Sgd};

use super::names::{
    ActivationName, DatasetName, InitName, LossName, MetricName, OptimizerName, TopologyName,
};
use super::sections::{bad, BatchSpec, DataSpec, ExperimentSpec, NetworkSpec, TrainSpec};
use crate::train::{BatchSize, TrainParams};

/// A pruning study: one experiment repeated over seeds, as a grid of cells that can run in one process or as
/// the shards of a cluster job (see [`plan`](SweepSpec::plan), [`run_local`](SweepSpec::run_local) and
/// [`run_shard`](SweepSpec::run_shard)).
///
/// ```
/// use prunelab::sweep::SweepSpec;
///
/// let spec = SweepSpec::from_toml(r#"
///     name = "iris-weights-vs-units"
///     seeds = [0, 1]
///
///     [data]
///     dataset = "iris"
///
///     [network]
///     hidden = [16, 16]
///
///     [train]
///     lr = 0.01
///     epochs = 50
///
///     [experiment]
///     kind = "sparsity"
///     methods = ["weights", "units"]
///     sparsities = [0.0, 0.5, 0.9]
/// "#)?;
/// assert_eq!(spec.plan()?.len(), 2 * 2 * 3); // seeds x methods x sparsities
/// let results = spec.run_local()?;
/// assert_eq!(results.rows.len(), 2 * 3); // mean and spread over the seeds, per method and sparsity
/// println!("{results}");
///
/// // Mistakes are errors that name the field.
/// let bad = SweepSpec::from_toml(&spec.to_toml()?.replace("epochs = 50", "epochs = -1"));
/// assert!(bad.unwrap_err().to_string().contains("train.epochs"));
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The study's name: job names, file headers and chart titles use it.
    pub name: String,
    /// The seeds; each draws the initial weights, the training order and any random pruning. Every seed runs
    /// the whole experiment, and the merged table gives the mean and spread over them.
    pub seeds: Vec<u64>,
    /// The metric evaluated on the test data (default: accuracy for classification, mse for regression).
    #[serde(default)]
    pub metric: Option<MetricName>,
    /// Where the data comes from and how it is split.
    pub data: DataSpec,
    /// The network.
    pub network: NetworkSpec,
    /// How every network of the study is trained.
    pub train: TrainSpec,
    /// What is done to the trained networks.
    pub experiment: ExperimentSpec,
}

/// The loaded data of a study: the training and the test set.
#[derive(Debug, Clone)]
pub struct StudyData {
    /// Training samples.
    pub train: Dataset,
    /// Test samples (the metric is evaluated on them).
    pub test: Dataset,
}

/// The field a deserialisation error at `path` blames: the path itself, or for a missing or unknown field
/// (whose error serde raises at the enclosing table, in these words) the field inside it.
fn field_of(path: &str, reason: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| reason.strip_prefix(p))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    match (path, named) {
        (".", None) => "(file)".into(),
        (".", Some(name)) => name.into(),
        // An unknown key is already on the path.
        (path, Some(name)) if path != name && !path.ends_with(&format!(".{name}")) => {
            format!("{path}.{name}")
        }
        (path, _) => path.into(),
    }
}

impl SweepSpec {
    /// Parses and checks a spec written in TOML; a mistake is an [`Error::Spec`] naming the field.
    pub fn from_toml(text: &str) -> Result<SweepSpec> {
        let de = toml::Deserializer::parse(text).map_err(|e| bad("(file)", e.to_string()))?;
        let spec: SweepSpec = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let reason = e.inner().message().trim().to_string();
            bad(field_of(&path, &reason), reason)
        })?;
        spec.check()?;
        Ok(spec)
    }

    /// Reads, parses and checks a spec file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<SweepSpec> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        if meta.len() > 1 << 20 {
            return Err(Error::Format {
                path: path.into(),
                reason: format!(
                    "{} bytes is too large for a sweep spec (at most 1 MiB)",
                    meta.len()
                ),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        SweepSpec::from_toml(&text).map_err(|e| match e {
            Error::Spec { field, reason } => Error::Spec {
                field,
                reason: format!("{}: {reason}", path.display()),
            },
            e => e,
        })
    }

    /// The spec as TOML (what [`from_toml`](Self::from_toml) reads back to an equal spec).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Serialize {
            what: "the sweep spec",
            format: "TOML",
            reason: e.to_string(),
        })
    }

    /// A short fingerprint of the spec's content (comments and layout aside): result files carry it, so
    /// results of different specs are never merged.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_string(self).unwrap_or_default();
        Sha256::digest(json.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Checks every field that can be checked without loading the data.
    pub fn check(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(bad("name", "must not be empty"));
        }
        if self.name.len() > 100 || self.name.chars().any(|c| c.is_control()) {
            return Err(bad(
                "name",
                "at most 100 characters, none of them control characters",
            ));
        }
        if self.seeds.is_empty() {
            return Err(bad("seeds", "needs at least one seed"));
        }
        if self.seeds.len() > 10_000 {
            return Err(bad(
                "seeds",
                format!("{} seeds; at most 10,000", self.seeds.len()),
            ));
        }
        let mut sorted = self.seeds.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad("seeds", format!("seed {} appears twice", w[0])));
        }
        let d = &self.data;
        if let Some(f) = d.test_fraction {
            if !(f > 0.0 && f < 1.0) {
                return Err(bad(
                    "data.test_fraction",
                    format!("must lie in (0, 1), got {f}"),
                ));
            }
            if matches!(d.dataset, DatasetName::Mnist | DatasetName::Xor) {
                return Err(bad(
                    "data.test_fraction",
                    format!("{:?} is not split: it has its own test data", d.dataset)
                        .to_lowercase(),
                ));
            }
        }
        if d.dir.is_some() && d.dataset != DatasetName::Mnist {
            return Err(bad("data.dir", "only `mnist` is read from a folder"));
        }
        if let Some(n) = d.samples {
            if d.dataset != DatasetName::CosSin {
                return Err(bad("data.samples", "only `cos_sin` draws samples"));
            }
            if !(4..=1_000_000).contains(&n) {
                return Err(bad(
                    "data.samples",
                    format!("must lie in [4, 1000000], got {n}"),
                ));
            }
        }
        if let Some(n) = d.normalize {
            if !n.mean.is_finite() {
                return Err(bad("data.normalize.mean", "must be finite"));
            }
            if !(n.std.is_finite() && n.std > 0.0) {
                return Err(bad(
                    "data.normalize.std",
                    format!("must be positive, got {}", n.std),
                ));
            }
        }
        if d.train_limit == Some(0) {
            return Err(bad("data.train_limit", "must be at least 1"));
        }
        let net = &self.network;
        if net.hidden.len() > 64 {
            return Err(bad("network.hidden", "at most 64 hidden layers"));
        }
        if let Some(k) = net.hidden.iter().position(|&w| w == 0 || w > 1_000_000) {
            return Err(bad(
                format!("network.hidden[{k}]"),
                format!("a width in [1, 1000000], got {}", net.hidden[k]),
            ));
        }
        if net.activation == ActivationName::Softmax {
            return Err(bad("network.activation", "softmax is an output activation"));
        }
        let t = &self.train;
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(bad("train.lr", format!("must be positive, got {}", t.lr)));
        }
        if let Some(m) = t.momentum {
            if t.optimizer != OptimizerName::Sgd {
                return Err(bad("train.momentum", "only `sgd` has momentum"));
            }
            if !(0.0..1.0).contains(&m) {
                return Err(bad(
                    "train.momentum",
                    format!("must lie in [0, 1), got {m}"),
                ));
            }
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            return Err(bad(
                "train.weight_decay",
                format!("must be ≥ 0, got {}", t.weight_decay),
            ));
        }
        if t.epochs > 1_000_000 {
            return Err(bad(
                "train.epochs",
                format!("at most 1000000, got {}", t.epochs),
            ));
        }
        if let Some(d) = t.sparse_density {
            if !(0.0..=1.0).contains(&d) {
                return Err(bad(
                    "train.sparse_density",
                    format!("must lie in [0, 1], got {d}"),
                ));
            }
        }
        match &t.batch_size {
            Some(BatchSpec::Size(0)) => return Err(bad("train.batch_size", "must be at least 1")),
            Some(BatchSpec::Word(w)) if w != "full" => {
                return Err(bad(
                    "train.batch_size",
                    format!("a number or \"full\", got {w:?}"),
                ))
            }
            _ => {}
        }
        let layers = net.hidden.len() + 1;
        let check_skip = |skip: &[usize]| -> Result<()> {
            match skip.iter().find(|&&k| k >= layers) {
                Some(k) => Err(bad(
                    "experiment.skip",
                    format!(
                        "layer {k} does not exist; the network has layers 0..{}",
                        layers - 1
                    ),
                )),
                None => Ok(()),
            }
        };
        let check_amount = |a: f64| -> Result<()> {
            if (0.0..1.0).contains(&a) {
                Ok(())
            } else {
                Err(bad(
                    "experiment.amount",
                    format!("must lie in [0, 1), got {a}"),
                ))
            }
        };
        match &self.experiment {
            ExperimentSpec::Sparsity {
                methods,
                sparsities,
                skip,
                finetune_epochs,
            } => {
                if methods.is_empty() {
                    return Err(bad("experiment.methods", "needs at least one method"));
                }
                if let Some(k) = (1..methods.len()).find(|&k| methods[..k].contains(&methods[k])) {
                    return Err(bad(
                        format!("experiment.methods[{k}]"),
                        format!("{:?} appears twice", methods[k]),
                    ));
                }
                if sparsities.is_empty() {
                    return Err(bad("experiment.sparsities", "needs at least one sparsity"));
                }
                if let Some(k) = sparsities.iter().position(|s| !(0.0..=1.0).contains(s)) {
                    return Err(bad(
                        format!("experiment.sparsities[{k}]"),
                        format!("must lie in [0, 1], got {}", sparsities[k]),
                    ));
                }
                if let Some(k) =
                    (1..sparsities.len()).find(|&k| sparsities[..k].contains(&sparsities[k]))
                {
                    return Err(bad(
                        format!("experiment.sparsities[{k}]"),
                        format!("{} appears twice", sparsities[k]),
                    ));
                }
                if methods.iter().any(|m| m.is_units()) && net.hidden.is_empty() {
                    return Err(bad(
                        "experiment.methods",
                        "unit pruning needs a hidden layer",
                    ));
                }
                if *finetune_epochs > 1_000_000 {
                    return Err(bad("experiment.finetune_epochs", "at most 1000000"));
                }
                check_skip(skip)?;
            }
            ExperimentSpec::Threshold {
                thresholds, skip, ..
            } => {
                let r = thresholds;
                if !(r.start.is_finite() && r.start >= 0.0) {
                    return Err(bad(
                        "experiment.thresholds.start",
                        format!("must be ≥ 0, got {}", r.start),
                    ));
                }
                if !(r.stop.is_finite() && r.stop >= r.start) {
                    return Err(bad(
                        "experiment.thresholds.stop",
                        format!("must be finite and ≥ start ({}), got {}", r.start, r.stop),
                    ));
                }
                if !(1..=100_000).contains(&r.count) {
                    return Err(bad(
                        "experiment.thresholds.count",
                        format!("must lie in [1, 100000], got {}", r.count),
                    ));
                }
                check_skip(skip)?;
            }
            ExperimentSpec::Iterative {
                rounds,
                amount,
                retrain_epochs,
                skip,
                ..
            } => {
                if !(1..=100).contains(rounds) {
                    return Err(bad(
                        "experiment.rounds",
                        format!("must lie in [1, 100], got {rounds}"),
                    ));
                }
                check_amount(*amount)?;
                if retrain_epochs.is_some_and(|e| e > 1_000_000) {
                    return Err(bad("experiment.retrain_epochs", "at most 1000000"));
                }
                check_skip(skip)?;
            }
            ExperimentSpec::Lottery {
                rounds,
                amount,
                rewind_epoch,
                skip,
                ..
            } => {
                if !(1..=100).contains(rounds) {
                    return Err(bad(
                        "experiment.rounds",
                        format!("must lie in [1, 100], got {rounds}"),
                    ));
                }
                check_amount(*amount)?;
                if *rewind_epoch > t.epochs {
                    return Err(bad(
                        "experiment.rewind_epoch",
                        format!("{rewind_epoch} is past the {} epochs of training", t.epochs),
                    ));
                }
                check_skip(skip)?;
            }
        }
        Ok(())
    }

    /// Loads and splits the data (the same for every seed), and checks what depends on it: the metric, the
    /// output layer and the loss.
    pub fn load_data(&self) -> Result<StudyData> {
        let d = &self.data;
        let fraction = d.test_fraction.unwrap_or(0.3);
        let split = |all: Dataset| all.split(1.0 - fraction, d.split_seed);
        let (mut train, mut test) = match d.dataset {
            DatasetName::Iris => split(data::iris())?,
            DatasetName::IrisBinary => split(data::iris_binary())?,
            DatasetName::Digits => split(data::digits()?)?,
            DatasetName::CosSin => split(data::cos_sin(d.samples.unwrap_or(200))?)?,
            DatasetName::Xor => (data::xor(), data::xor()),
            DatasetName::Mnist => match &d.dir {
                Some(dir) => data::MnistSource::new().dir(dir).load()?,
                None => data::mnist()?,
            },
        };
        if let Some(n) = d.normalize {
            train = train.normalized(n.mean, n.std)?;
            test = test.normalized(n.mean, n.std)?;
        }
        if let Some(limit) = d.train_limit {
            if limit < train.n_samples() {
                let first: Vec<usize> = (0..limit).collect();
                train = train.select(&first)?;
            }
        }
        let data = StudyData { train, test };
        self.check_with(&data)?;
        Ok(data)
    }

    /// Whether the data is classification (labels) rather than regression.
    fn classes(data: &StudyData) -> Option<usize> {
        match &data.train.targets {
            data::Targets::Classes { n_classes, .. } => Some(*n_classes),
            data::Targets::Values(_) => None,
        }
    }

    fn output(&self, data: &StudyData) -> ActivationName {
        self.network.output.unwrap_or(match Self::classes(data) {
            Some(_) => ActivationName::Softmax,
            None => ActivationName::Identity,
        })
    }

    fn check_with(&self, data: &StudyData) -> Result<()> {
        let output = self.output(data);
        let classes = Self::classes(data);
        if classes.is_none() && matches!(output, ActivationName::Softmax | ActivationName::Sigmoid)
        {
            return Err(bad(
                "network.output",
                format!(
                    "{output:?} is for classification; {:?} is regression",
                    self.data.dataset
                )
                .to_lowercase(),
            ));
        }
        if output == ActivationName::Sigmoid && classes.is_some_and(|c| c > 2) {
            return Err(bad(
                "network.output",
                format!(
                    "sigmoid gives one output for two classes; this data has {}",
                    classes.unwrap_or(0)
                ),
            ));
        }
        match (self.metric(data), classes) {
            (Metric::Accuracy, None) => {
                return Err(bad("metric", "accuracy needs class labels; this data is regression"))
            }
            (Metric::AveragePrecision, c) if !(c == Some(2) && self.n_outputs(data) == 1) => {
                return Err(bad(
                    "metric",
                    "average_precision needs two classes and one sigmoid output (network.output = \"sigmoid\")",
                ))
            }
            _ => {}
        }
        let loss = self.loss(data);
        let ok = match loss {
            Loss::CrossEntropy => output == ActivationName::Softmax,
            Loss::BinaryCrossEntropy => output == ActivationName::Sigmoid,
            Loss::Mse => true,
        };
        if !ok {
            return Err(bad(
                "train.loss",
                format!("{loss:?} does not fit the {output:?} output").to_lowercase(),
            ));
        }
        Ok(())
    }

    fn n_outputs(&self, data: &StudyData) -> usize {
        match Self::classes(data) {
            Some(2) if self.output(data) == ActivationName::Sigmoid => 1,
            Some(c) => c,
            None => match &data.train.targets {
                data::Targets::Values(v) => v.ncols(),
                data::Targets::Classes { n_classes, .. } => *n_classes,
            },
        }
    }

    /// The metric (the spec's, else accuracy for classification and mse for regression).
    pub fn metric(&self, data: &StudyData) -> Metric {
        match self.metric {
            Some(MetricName::Accuracy) => Metric::Accuracy,
            Some(MetricName::AveragePrecision) => Metric::AveragePrecision,
            Some(MetricName::Mse) => Metric::Mse,
            Some(MetricName::Loss) => Metric::Loss(self.loss(data)),
            None if Self::classes(data).is_some() => Metric::Accuracy,
            None => Metric::Mse,
        }
    }

    fn loss(&self, data: &StudyData) -> Loss {
        match self.train.loss {
            Some(LossName::Mse) => Loss::Mse,
            Some(LossName::BinaryCrossEntropy) => Loss::BinaryCrossEntropy,
            Some(LossName::CrossEntropy) => Loss::CrossEntropy,
            None => match self.output(data) {
                ActivationName::Softmax => Loss::CrossEntropy,
                ActivationName::Sigmoid => Loss::BinaryCrossEntropy,
                _ => Loss::Mse,
            },
        }
    }

    /// The untrained network of one seed.
    pub fn network(&self, data: &StudyData, seed: u64) -> Result<Mlp> {
        let mut sizes = vec![data.train.n_features()];
        sizes.extend(&self.network.hidden);
        sizes.push(self.n_outputs(data));
        Mlp::config(&sizes)
            .activation(self.network.activation.activation())
            .output_activation(self.output(data).activation())
            .bias(self.network.bias)
            .init(self.init())
            .topology(match self.network.topology {
                TopologyName::Chain => Topology::Chain,
                TopologyName::DenselyConnected => Topology::DenselyConnected,
            })
            .seed(seed)
            .build()
    }

    pub(crate) fn init(&self) -> Init {
        match self.network.init {
            InitName::GlorotUniform => Init::GlorotUniform,
            InitName::KaimingUniform => Init::KaimingUniform,
        }
    }

    /// The training of one seed (`epochs` overrides the spec's, for retraining and fine-tuning).
    pub fn train_params(&self, data: &StudyData, seed: u64, epochs: Option<usize>) -> TrainParams {
        let t = &self.train;
        let optimizer: Optimizer = match t.optimizer {
            OptimizerName::Adam => Adam::new(t.lr).weight_decay(t.weight_decay, false).into(),
            OptimizerName::Sgd => Sgd::new(t.lr)
                .momentum(t.momentum.unwrap_or(0.0))
                .weight_decay(t.weight_decay)
                .into(),
        };
        let params = TrainParams::new(self.loss(data), optimizer)
            .epochs(epochs.unwrap_or(t.epochs))
            .batch_size(match &t.batch_size {
                None => BatchSize::Size(100),
                Some(BatchSpec::Size(n)) => BatchSize::Size(*n),
                Some(BatchSpec::Word(_)) => BatchSize::Full,
            })
            .seed(seed);
        match t.sparse_density {
            Some(d) => params.sparse_density(d),
            None => params,
        }
    }
}
