//! Standardisation fitted on training data.

use ndarray::{Array1, Axis};
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};

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
