//! Evaluation metrics: accuracy, mean squared error, confusion matrix, precision–recall curve and
//! average precision (equal to scikit-learn's `average_precision_score`).
//!
//! # Scores, not labels, for average precision
//!
//! Average precision summarises how well a classifier *ranks* positives above negatives: it walks down the
//! samples sorted by score and adds the precision at each step where recall grows. Given probabilities, each
//! distinct score is a threshold and the curve has many points. Given hard 0/1 predictions, there are only
//! two thresholds, so the whole ranking collapses into one operating point and AP becomes
//! `recall·precision + (1 − recall)·base_rate` — it no longer measures ranking, only the accuracy of that
//! single cut. Pass the positive-class probability (e.g. [`Mlp::predict_score`](crate::nn::Mlp::predict_score)).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, AsArray, Ix1, Ix2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

fn check_same_len(context: &'static str, a: usize, b: usize) -> Result<()> {
    if a == 0 {
        return Err(Error::Empty { what: context });
    }
    if a != b {
        return Err(Error::shape(context, a, b));
    }
    Ok(())
}

/// Fraction of predictions equal to the true labels.
///
/// ```
/// let acc = prunelab::metrics::accuracy(&[0, 1, 1, 0], &[0, 1, 0, 0])?;
/// assert_eq!(acc, 0.75);
/// # Ok::<(), prunelab::Error>(())
/// ```
pub fn accuracy<'a, 'b>(
    y_true: impl AsArray<'a, usize, Ix1>,
    y_pred: impl AsArray<'b, usize, Ix1>,
) -> Result<f64> {
    accuracy_view(y_true.into(), y_pred.into())
}

fn accuracy_view(y_true: ArrayView1<usize>, y_pred: ArrayView1<usize>) -> Result<f64> {
    check_same_len("accuracy labels", y_true.len(), y_pred.len())?;
    let hits = y_true
        .iter()
        .zip(y_pred.iter())
        .filter(|(a, b)| a == b)
        .count();
    Ok(hits as f64 / y_true.len() as f64)
}

/// Mean of the squared differences over every element.
pub fn mean_squared_error<'a, 'b>(
    y_true: impl AsArray<'a, f32, Ix2>,
    y_pred: impl AsArray<'b, f32, Ix2>,
) -> Result<f64> {
    let (t, p): (ArrayView2<f32>, ArrayView2<f32>) = (y_true.into(), y_pred.into());
    if t.dim() != p.dim() {
        return Err(Error::shape(
            "mean_squared_error",
            format!("{:?}", t.dim()),
            format!("{:?}", p.dim()),
        ));
    }
    if t.is_empty() {
        return Err(Error::Empty {
            what: "mean_squared_error input",
        });
    }
    crate::error::check_finite(t.iter().chain(p.iter()), "mean_squared_error input")?;
    let sum: f64 = t
        .iter()
        .zip(p.iter())
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum();
    Ok(sum / t.len() as f64)
}

/// The confusion matrix `C[true, predicted]` for labels `0..n_classes`.
pub fn confusion_matrix<'a, 'b>(
    y_true: impl AsArray<'a, usize, Ix1>,
    y_pred: impl AsArray<'b, usize, Ix1>,
    n_classes: usize,
) -> Result<Array2<usize>> {
    let (t, p): (ArrayView1<usize>, ArrayView1<usize>) = (y_true.into(), y_pred.into());
    check_same_len("confusion_matrix labels", t.len(), p.len())?;
    let mut c = Array2::zeros((n_classes, n_classes));
    for (&a, &b) in t.iter().zip(p.iter()) {
        let label = a.max(b);
        if label >= n_classes {
            return Err(Error::LabelOutOfRange { label, n_classes });
        }
        c[[a, b]] += 1;
    }
    Ok(c)
}

/// A precision–recall curve as scikit-learn's `precision_recall_curve` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecisionRecall {
    /// Precision per threshold (thresholds increasing), then a final 1.
    pub precision: Array1<f64>,
    /// Recall per threshold (decreasing), then a final 0.
    pub recall: Array1<f64>,
    /// The distinct scores, increasing.
    pub thresholds: Array1<f64>,
}

/// Checks binary labels and finite scores of the same non-zero length.
fn check_binary(y_true: &ArrayView1<usize>, scores: &ArrayView1<f32>) -> Result<()> {
    check_same_len("labels and scores", y_true.len(), scores.len())?;
    if let Some(&label) = y_true.iter().find(|&&l| l > 1) {
        return Err(Error::LabelOutOfRange {
            label,
            n_classes: 2,
        });
    }
    crate::error::check_finite(scores.iter(), "scores")
}

/// Cumulative true and false positives at each distinct score, scores in decreasing order
/// (scikit-learn's `_binary_clf_curve`). Returns `(fps, tps, thresholds)`.
fn binary_clf_curve(
    y_true: &ArrayView1<usize>,
    scores: &ArrayView1<f32>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut fps, mut tps, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
    let mut tp = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        tp += y_true[i] as f64;
        let last_of_tie = order.get(rank + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            tps.push(tp);
            fps.push((rank + 1) as f64 - tp);
            thresholds.push(scores[i] as f64);
        }
    }
    (fps, tps, thresholds)
}

/// Precision and recall at every distinct score, as scikit-learn's `precision_recall_curve`. Labels must be
/// 0 or 1 (1 is positive) and at least one must be positive.
pub fn precision_recall_curve<'a, 'b>(
    y_true: impl AsArray<'a, usize, Ix1>,
    scores: impl AsArray<'b, f32, Ix1>,
) -> Result<PrecisionRecall> {
    pr_curve(y_true.into(), scores.into())
}

fn pr_curve(y_true: ArrayView1<usize>, scores: ArrayView1<f32>) -> Result<PrecisionRecall> {
    check_binary(&y_true, &scores)?;
    let (fps, tps, thresholds) = binary_clf_curve(&y_true, &scores);
    let total = *tps.last().expect("non-empty");
    if total == 0.0 {
        return Err(Error::Incompatible(
            "no positive labels: precision and recall are undefined".into(),
        ));
    }
    let precision: Vec<f64> = tps
        .iter()
        .zip(&fps)
        .map(|(&t, &f)| t / (t + f))
        .rev()
        .chain([1.0])
        .collect();
    let recall: Vec<f64> = tps.iter().map(|&t| t / total).rev().chain([0.0]).collect();
    Ok(PrecisionRecall {
        precision: precision.into(),
        recall: recall.into(),
        thresholds: thresholds.into_iter().rev().collect(),
    })
}

/// Average precision, exactly as scikit-learn's `average_precision_score`: `Σ (R_n − R_{n−1}) P_n` over the
/// distinct scores in decreasing order, tied scores forming one step, with no interpolation.
///
/// Pass scores (probabilities of class 1), not hard labels; see the [module docs](self).
///
/// ```
/// use prunelab::metrics::average_precision;
///
/// let ap = average_precision(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8])?;
/// assert!((ap - 0.833_333_333).abs() < 1e-9);
/// # Ok::<(), prunelab::Error>(())
/// ```
pub fn average_precision<'a, 'b>(
    y_true: impl AsArray<'a, usize, Ix1>,
    scores: impl AsArray<'b, f32, Ix1>,
) -> Result<f64> {
    let curve = pr_curve(y_true.into(), scores.into())?;
    let (p, r) = (&curve.precision, &curve.recall);
    Ok(-(0..r.len() - 1)
        .map(|i| (r[i + 1] - r[i]) * p[i])
        .sum::<f64>())
}

/// A metric of a network on a dataset, for validation during training and for pruning sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    /// Accuracy of [`Mlp::predict`](crate::nn::Mlp::predict) against the labels.
    Accuracy,
    /// [`average_precision`] of the positive-class score of a one-output sigmoid network.
    AveragePrecision,
    /// Mean squared error of the raw output against the targets as the loss encodes them.
    Mse,
    /// The value of a loss (without penalty).
    Loss(crate::loss::Loss),
}

impl Metric {
    /// Evaluates the metric of `model` on `data`.
    pub fn evaluate(&self, model: &crate::nn::Mlp, data: &crate::data::Dataset) -> Result<f64> {
        match self {
            Metric::Accuracy => accuracy(data.labels()?, &model.predict(&data.records)?),
            Metric::AveragePrecision => {
                average_precision(data.labels()?, &model.predict_score(&data.records)?)
            }
            Metric::Mse => {
                let y = crate::loss::Loss::Mse.encode_targets(&data.targets, model.n_outputs())?;
                mean_squared_error(&y, &model.forward(&data.records)?)
            }
            Metric::Loss(loss) => model.loss(data, *loss).map(f64::from),
        }
    }

    /// Whether larger values are better (accuracy, AP) or worse (errors, losses).
    pub fn higher_is_better(&self) -> bool {
        matches!(self, Metric::Accuracy | Metric::AveragePrecision)
    }

    /// A short name (`"accuracy"`, `"AP"`, `"mse"`, `"loss"`).
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::AveragePrecision => "AP",
            Metric::Mse => "mse",
            Metric::Loss(_) => "loss",
        }
    }
}
