//! A dataset: feature rows and their targets, with splitting and batching.

use ndarray::{Array1, Array2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, Error, Result};

/// What a dataset asks the network to predict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Targets {
    /// Class labels `0..n_classes`, one per sample.
    Classes {
        /// The label of each sample.
        labels: Array1<usize>,
        /// The number of classes.
        n_classes: usize,
    },
    /// Real-valued targets, one row per sample.
    Values(Array2<f32>),
}

impl Targets {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values(v) => v.nrows(),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class labels, or `None` for real-valued targets.
    pub fn labels(&self) -> Option<&Array1<usize>> {
        match self {
            Targets::Classes { labels, .. } => Some(labels),
            Targets::Values(_) => None,
        }
    }

    /// The targets of the samples at `indices`, in that order.
    pub(crate) fn select(&self, indices: &[usize]) -> Targets {
        match self {
            Targets::Classes { labels, n_classes } => Targets::Classes {
                labels: labels.select(Axis(0), indices),
                n_classes: *n_classes,
            },
            Targets::Values(v) => Targets::Values(v.select(Axis(0), indices)),
        }
    }
}

/// Samples (one row each) with their targets and names.
///
/// ```
/// use prunelab::data;
///
/// let iris = data::iris_binary();
/// let (train, test) = iris.split(0.7, 42)?;
/// assert_eq!((train.n_samples(), test.n_samples()), (70, 30));
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// The samples, shape `(samples, features)`.
    pub records: Array2<f32>,
    /// The targets.
    pub targets: Targets,
    /// A name per feature (may be empty).
    pub feature_names: Vec<String>,
    /// A name per class (may be empty).
    pub class_names: Vec<String>,
}

impl Dataset {
    /// A classification dataset. Fails on empty or non-finite records, a label count that differs from the
    /// sample count, or a label `>= n_classes`.
    pub fn classification(
        records: Array2<f32>,
        labels: Array1<usize>,
        n_classes: usize,
    ) -> Result<Self> {
        if let Some(&label) = labels.iter().find(|&&l| l >= n_classes) {
            return Err(Error::LabelOutOfRange { label, n_classes });
        }
        Self::new(records, Targets::Classes { labels, n_classes })
    }

    /// A regression dataset with one target row per sample.
    pub fn regression(records: Array2<f32>, targets: Array2<f32>) -> Result<Self> {
        check_finite(targets.iter(), "targets")?;
        Self::new(records, Targets::Values(targets))
    }

    fn new(records: Array2<f32>, targets: Targets) -> Result<Self> {
        if records.nrows() == 0 || records.ncols() == 0 {
            return Err(Error::Empty { what: "dataset" });
        }
        check_finite(records.iter(), "records")?;
        if targets.len() != records.nrows() {
            return Err(Error::shape(
                "dataset targets",
                format!("{} (one per sample)", records.nrows()),
                targets.len(),
            ));
        }
        Ok(Dataset {
            records: records.as_standard_layout().into_owned(),
            targets,
            feature_names: Vec::new(),
            class_names: Vec::new(),
        })
    }

    /// Sets the feature names.
    pub fn with_feature_names<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.feature_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the class names.
    pub fn with_class_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.class_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Number of samples.
    pub fn n_samples(&self) -> usize {
        self.records.nrows()
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.records.ncols()
    }

    /// Number of classes (0 for regression data).
    pub fn n_classes(&self) -> usize {
        match &self.targets {
            Targets::Classes { n_classes, .. } => *n_classes,
            Targets::Values(_) => 0,
        }
    }

    /// The class labels, or an error for regression data.
    pub fn labels(&self) -> Result<&Array1<usize>> {
        self.targets.labels().ok_or_else(|| {
            Error::Incompatible("this dataset has real-valued targets, not labels".into())
        })
    }

    /// The samples at `indices`, in that order. Fails on an out-of-range index or an empty selection.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        if indices.is_empty() {
            return Err(Error::Empty { what: "selection" });
        }
        if let Some(&index) = indices.iter().find(|&&i| i >= self.n_samples()) {
            return Err(Error::IndexOutOfRange {
                what: "sample",
                index,
                len: self.n_samples(),
            });
        }
        Ok(Dataset {
            records: self.records.select(Axis(0), indices),
            targets: self.targets.select(indices),
            feature_names: self.feature_names.clone(),
            class_names: self.class_names.clone(),
        })
    }

    /// Every feature mapped to `(x - mean) / std`, as torchvision's `Normalize((mean,), (std,))` does;
    /// `normalized(0.5, 0.5)` takes pixels in `[0, 1]` to `[-1, 1]`. Fails on a non-finite mean or a `std`
    /// that is not positive and finite.
    ///
    /// ```
    /// let (train, _) = prunelab::data::digits()?.split(0.5, 0)?;
    /// let scaled = train.normalized(0.5, 0.5)?; // pixels in [0, 1] to [-1, 1]
    /// assert!(scaled.records.iter().all(|&x| (-1.0..=1.0).contains(&x)));
    /// # Ok::<(), prunelab::Error>(())
    /// ```
    pub fn normalized(&self, mean: f32, std: f32) -> Result<Dataset> {
        if !mean.is_finite() {
            return Err(Error::param("mean", format!("{mean} is not finite")));
        }
        if !(std.is_finite() && std > 0.0) {
            return Err(Error::param(
                "std",
                format!("{std} is not positive and finite"),
            ));
        }
        let records = self.records.mapv(|x| (x - mean) / std);
        check_finite(records.iter(), "normalized records")?;
        Ok(Dataset {
            records,
            ..self.clone()
        })
    }

    /// A seeded random split: the first part holds `round(train_fraction · n)` samples, the second the rest.
    /// Both parts must be non-empty.
    pub fn split(&self, train_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        let (train, test) = split_indices(self.n_samples(), train_fraction, seed)?;
        Ok((self.select(&train)?, self.select(&test)?))
    }
}

/// Shuffled indices split into a training part of `round(fraction · n)` samples and the rest.
pub(crate) fn split_indices(
    n: usize,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::param(
            "train_fraction",
            format!("must lie strictly between 0 and 1, got {fraction}"),
        ));
    }
    let n_train = (fraction * n as f64).round() as usize;
    if n_train == 0 || n_train == n {
        return Err(Error::param(
            "train_fraction",
            format!("{fraction} of {n} samples leaves one part empty"),
        ));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let test = idx.split_off(n_train);
    Ok((idx, test))
}
