//! Bundled datasets, splitting, standardisation and the IDX loader.

use std::io::Write;

use ndarray::{array, Array2};
use prunelab::prelude::*;

#[test]
fn bundled_datasets_have_their_documented_shapes() {
    let iris = data::iris();
    assert_eq!(
        (iris.n_samples(), iris.n_features(), iris.n_classes()),
        (150, 4, 3)
    );
    assert_eq!(
        iris.labels().unwrap().iter().filter(|&&l| l == 2).count(),
        50
    );
    let two = data::iris_binary();
    assert_eq!((two.n_samples(), two.n_classes()), (100, 2));
    assert_eq!(
        two.labels().unwrap().iter().filter(|&&l| l == 1).count(),
        50
    );
    assert_eq!(two.class_names, ["setosa", "versicolour"]);

    let digits = data::digits().unwrap();
    assert_eq!(
        (digits.n_samples(), digits.n_features(), digits.n_classes()),
        (1797, 64, 10)
    );
    assert!(digits.records.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(digits.labels().unwrap()[0], 0);
    assert_eq!(digits.records[[0, 2]], 5.0 / 16.0);
    for d in 0..10 {
        let count = digits.labels().unwrap().iter().filter(|&&l| l == d).count();
        assert!((170..=190).contains(&count), "digit {d}: {count}");
    }

    let xor = data::xor();
    assert_eq!(xor.labels().unwrap(), array![0, 1, 1, 0]);

    let cs = data::cos_sin(250).unwrap();
    assert_eq!((cs.n_samples(), cs.n_features()), (250, 1));
    let Targets::Values(y) = &cs.targets else {
        panic!("regression targets")
    };
    assert_eq!(cs.records[[0, 0]], 0.0);
    assert!((cs.records[[249, 0]] - std::f32::consts::TAU).abs() < 1e-6);
    assert!((y[[249, 0]] - 1.0).abs() < 1e-6 && y[[249, 1]].abs() < 1e-6);
    assert!(matches!(
        data::cos_sin(1),
        Err(Error::InvalidParam { name: "n", .. })
    ));
}

#[test]
fn split_is_seeded_disjoint_and_complete() {
    let ds = data::iris_binary();
    let (a, b) = ds.split(0.7, 42).unwrap();
    assert_eq!((a.n_samples(), b.n_samples()), (70, 30));
    let (a2, _) = ds.split(0.7, 42).unwrap();
    assert_eq!(a, a2);
    let (a3, _) = ds.split(0.7, 43).unwrap();
    assert_ne!(a, a3);
    // Every sample lands in exactly one part: compare the multisets of rows.
    let mut rows: Vec<Vec<u32>> = a
        .records
        .rows()
        .into_iter()
        .chain(b.records.rows())
        .map(|r| r.iter().map(|v| v.to_bits()).collect())
        .collect();
    let mut all: Vec<Vec<u32>> = ds
        .records
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|v| v.to_bits()).collect())
        .collect();
    rows.sort();
    all.sort();
    assert_eq!(rows, all);
    for bad in [0.0, 1.0, f64::NAN, -0.5, 0.001] {
        assert!(
            matches!(
                ds.split(bad, 0),
                Err(Error::InvalidParam {
                    name: "train_fraction",
                    ..
                })
            ),
            "{bad}"
        );
    }
}

#[test]
fn standardizer_uses_training_statistics_only() {
    let train =
        Dataset::regression(array![[1.0f32, 5.0], [3.0, 5.0]], array![[0.0f32], [1.0]]).unwrap();
    let test = Dataset::regression(array![[5.0f32, 6.0]], array![[0.0f32]]).unwrap();
    let s = Standardizer::fit(&train).unwrap();
    assert_eq!(s.mean, array![2.0f32, 5.0]);
    assert_eq!(s.scale, array![1.0f32, 1.0]); // std 1, and a constant column gets scale 1
    assert_eq!(
        s.transform(&train).unwrap().records,
        array![[-1.0f32, 0.0], [1.0, 0.0]]
    );
    assert_eq!(s.transform(&test).unwrap().records, array![[3.0f32, 1.0]]);
    let wide = Dataset::regression(Array2::zeros((1, 3)), array![[0.0f32]]).unwrap();
    assert!(matches!(
        s.transform(&wide),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn dataset_constructors_reject_bad_input() {
    assert!(matches!(
        Dataset::classification(array![[1.0f32]], array![3], 3),
        Err(Error::LabelOutOfRange { label: 3, .. })
    ));
    assert!(matches!(
        Dataset::classification(array![[1.0f32], [2.0]], array![0], 2),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Dataset::classification(array![[f32::NAN]], array![0], 2),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        Dataset::regression(Array2::zeros((0, 2)), Array2::zeros((0, 1))),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        Dataset::regression(array![[1.0f32]], array![[f32::INFINITY]]),
        Err(Error::NonFinite { .. })
    ));
    let ds = data::xor();
    assert!(matches!(
        ds.select(&[0, 4]),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert!(matches!(ds.select(&[]), Err(Error::Empty { .. })));
    assert!(matches!(
        data::cos_sin(5).unwrap().labels(),
        Err(Error::Incompatible(_))
    ));
}

fn idx_images(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(pixels);
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("prunelab-idx-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn idx_files_load_plain_and_gzipped() {
    let dir = temp_dir("ok");
    let pixels: Vec<u8> = (0..12).map(|i| (i * 20) as u8).collect();
    let img = write(&dir, "img", &idx_images(3, 2, 2, &pixels));
    let lab = write(&dir, "lab", &idx_labels(&[7, 0, 9]));
    let ds = data::mnist_idx(&img, &lab).unwrap();
    assert_eq!(
        (ds.n_samples(), ds.n_features(), ds.n_classes()),
        (3, 4, 10)
    );
    assert_eq!(ds.labels().unwrap(), array![7, 0, 9]);
    assert_eq!(ds.records[[2, 3]], 220.0 / 255.0);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&idx_images(3, 2, 2, &pixels)).unwrap();
    let img_gz = write(&dir, "img.gz", &gz.finish().unwrap());
    assert_eq!(data::read_idx_images(&img_gz).unwrap(), ds.records);

    // A folder of MNIST's four files, plain or gzipped.
    let mnist = temp_dir("mnist");
    assert!(
        matches!(data::mnist_dir(&mnist), Err(Error::Io { path, .. }) if path.ends_with("train-images-idx3-ubyte"))
    );
    std::fs::copy(&img_gz, mnist.join("train-images-idx3-ubyte.gz")).unwrap();
    std::fs::copy(&lab, mnist.join("train-labels-idx1-ubyte")).unwrap();
    write(
        &mnist,
        "t10k-images-idx3-ubyte",
        &idx_images(1, 2, 2, &pixels[..4]),
    );
    write(&mnist, "t10k-labels-idx1-ubyte", &idx_labels(&[5]));
    let (train, test) = data::mnist_dir(&mnist).unwrap();
    assert_eq!(train.records, ds.records);
    assert_eq!((test.n_samples(), test.labels().unwrap()[0]), (1, 5));
    std::fs::remove_dir_all(mnist).ok();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn idx_errors_are_clear() {
    let dir = temp_dir("bad");
    let pixels = [1u8; 8];
    let img = write(&dir, "img", &idx_images(2, 2, 2, &pixels));
    let lab = write(&dir, "lab", &idx_labels(&[1, 2]));

    let reason = |e: Error| match e {
        Error::Format { reason, .. } => reason,
        other => panic!("expected a format error, got {other:?}"),
    };
    // Labels given where images are expected: wrong magic number.
    let r = reason(data::read_idx_images(&lab).unwrap_err());
    assert!(r.contains("magic"), "{r}");
    let mut cut = idx_images(2, 2, 2, &pixels);
    cut.truncate(cut.len() - 3);
    let r = reason(data::read_idx_images(write(&dir, "cut", &cut)).unwrap_err());
    assert!(r.contains("truncated"), "{r}");
    let r = reason(data::read_idx_labels(write(&dir, "short", &[0, 0, 8, 1, 0])).unwrap_err());
    assert!(r.contains("truncated header"), "{r}");
    let three = write(&dir, "three", &idx_labels(&[1, 2, 3]));
    assert!(matches!(
        data::mnist_idx(&img, &three),
        Err(Error::ShapeMismatch {
            context: "mnist_idx",
            ..
        })
    ));
    assert!(matches!(
        data::mnist_idx(dir.join("missing"), &lab),
        Err(Error::Io { .. })
    ));
    let big_label = write(&dir, "big", &idx_labels(&[10, 1]));
    assert!(matches!(
        data::mnist_idx(&img, &big_label),
        Err(Error::LabelOutOfRange { label: 10, .. })
    ));
    std::fs::remove_dir_all(dir).ok();
}
