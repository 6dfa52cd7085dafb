//! Train/test splitting and standardisation.

use ndarray::{Array1, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};

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

/// Per-feature standardisation `(x − mean) / std`, fitted on training data only.
///
/// Constant features get a scale of 1, as scikit-learn's `StandardScaler`.
///
/// ```
/// use prunelab::data::{self, Standardizer};
///
/// let (train, test) = data::iris().split(0.7, 0)?;
/// let scaler = Standardizer::fit(&train)?;
/// let (train, test) = (scaler.transform(&train)?, scaler.transform(&test)?);
/// let mean = train.records.column(0).mean().unwrap();
/// assert!(mean.abs() < 1e-5);
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Per-feature mean of the training data.
    pub mean: Array1<f32>,
    /// Per-feature standard deviation (population, `ddof = 0`), 1 where it is zero.
    pub scale: Array1<f32>,
}

impl Standardizer {
    /// Fits means and standard deviations on `data`'s records.
    pub fn fit(data: &Dataset) -> Result<Self> {
        let x = data.records.mapv(|v| v as f64);
        let mean = x
            .mean_axis(Axis(0))
            .ok_or(Error::Empty { what: "dataset" })?;
        let scale = x
            .std_axis(Axis(0), 0.0)
            .mapv(|s| if s > 0.0 { s } else { 1.0 });
        Ok(Standardizer {
            mean: mean.mapv(|v| v as f32),
            scale: scale.mapv(|v| v as f32),
        })
    }

    /// Standardises `data`'s records; targets and names are kept.
    pub fn transform(&self, data: &Dataset) -> Result<Dataset> {
        if data.n_features() != self.mean.len() {
            return Err(Error::shape(
                "Standardizer::transform",
                format!("{} features", self.mean.len()),
                format!("{} features", data.n_features()),
            ));
        }
        let mut out = data.clone();
        out.records -= &self.mean;
        out.records /= &self.scale;
        Ok(out)
    }
}
