//! Bundled datasets.

use std::io::Read;
use std::path::PathBuf;

use ndarray::{Array1, Array2};

use crate::data::Dataset;
use crate::error::{Error, Result};

const IRIS_FEATURES: [&str; 4] = ["sepal length", "sepal width", "petal length", "petal width"];
const IRIS_CLASSES: [&str; 3] = ["setosa", "versicolour", "virginica"];

/// Fisher's iris data (150 samples, 4 features in cm, 3 classes), from linfa-datasets.
pub fn iris() -> Dataset {
    let ds = linfa_datasets::iris();
    let records = ds.records().mapv(|v| v as f32);
    let labels = ds.targets().to_owned();
    Dataset::classification(records, labels, 3)
        .expect("bundled iris data is valid")
        .with_feature_names(IRIS_FEATURES)
        .with_class_names(IRIS_CLASSES)
}

/// The two-class iris subset of the classic pruning example: setosa (label 0) vs versicolour (label 1),
/// 100 samples.
///
/// ```
/// let ds = prunelab::data::iris_binary();
/// assert_eq!((ds.n_samples(), ds.n_classes()), (100, 2));
/// ```
pub fn iris_binary() -> Dataset {
    let all = iris();
    let labels = all.labels().expect("iris has labels");
    let keep: Vec<usize> = (0..all.n_samples()).filter(|&i| labels[i] < 2).collect();
    let mut ds = all.select(&keep).expect("indices are in range");
    if let crate::data::Targets::Classes { n_classes, .. } = &mut ds.targets {
        *n_classes = 2;
    }
    ds.with_class_names(IRIS_CLASSES[..2].iter().copied())
}

/// The UCI optical handwritten digits (1797 images of 8×8 pixels, 10 classes), as scikit-learn ships
/// them, embedded in the crate. Pixel intensities (0..16) are scaled to `[0, 1]`.
///
/// Creator E. Alpaydin (1998); UCI licence CC BY 4.0.
pub fn digits() -> Result<Dataset> {
    const GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");
    let source = || PathBuf::from("embedded digits.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(GZ)
        .read_to_string(&mut text)
        .map_err(|e| Error::Format {
            path: source(),
            reason: e.to_string(),
        })?;
    let mut pixels = Vec::with_capacity(1797 * 64);
    let mut labels = Vec::with_capacity(1797);
    for (line_no, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let bad = |reason: String| Error::Format {
            path: source(),
            reason: format!("line {}: {reason}", line_no + 1),
        };
        if fields.len() != 65 {
            return Err(bad(format!("{} fields, expected 65", fields.len())));
        }
        for f in &fields[..64] {
            let v: f32 = f
                .trim()
                .parse()
                .map_err(|_| bad(format!("bad pixel {f:?}")))?;
            pixels.push(v / 16.0);
        }
        let label: usize = fields[64]
            .trim()
            .parse()
            .map_err(|_| bad(format!("bad label {:?}", fields[64])))?;
        labels.push(label);
    }
    let n = labels.len();
    let records = Array2::from_shape_vec((n, 64), pixels).map_err(|e| Error::Format {
        path: source(),
        reason: e.to_string(),
    })?;
    Ok(Dataset::classification(records, Array1::from(labels), 10)?
        .with_feature_names((0..64).map(|i| format!("pixel {},{}", i / 8, i % 8)))
        .with_class_names((0..10).map(|d| d.to_string())))
}

/// The four XOR points: inputs in `{0, 1}²`, label 1 where exactly one input is 1.
pub fn xor() -> Dataset {
    let records = ndarray::array![[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
    Dataset::classification(records, ndarray::array![0, 1, 1, 0], 2)
        .expect("XOR data is valid")
        .with_feature_names(["x1", "x2"])
}

/// The cos/sin curve: `n` points `x` evenly spaced on `[0, 2π]` (ends included), targets
/// `[cos x, sin x]`. The connection-pruning example uses `n = 250`. Fails for `n < 2`.
pub fn cos_sin(n: usize) -> Result<Dataset> {
    if n < 2 {
        return Err(Error::param(
            "n",
            format!("need at least 2 points, got {n}"),
        ));
    }
    let x = Array1::linspace(0.0f64, std::f64::consts::TAU, n);
    let records = x.mapv(|v| v as f32).insert_axis(ndarray::Axis(1));
    let mut targets = Array2::zeros((n, 2));
    for (i, &v) in x.iter().enumerate() {
        targets[[i, 0]] = libm::cos(v) as f32;
        targets[[i, 1]] = libm::sin(v) as f32;
    }
    Ok(Dataset::regression(records, targets)?.with_feature_names(["x"]))
}
