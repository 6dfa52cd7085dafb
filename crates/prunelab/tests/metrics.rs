//! Metrics against reference values computed by scikit-learn 1.x (`average_precision_score`,
//! `precision_recall_curve`) on the same inputs.

use ndarray::array;
use prunelab::metrics::*;
use prunelab::Error;

fn ap(y: &[usize], s: &[f32]) -> f64 {
    average_precision(y, s).unwrap()
}

#[test]
fn average_precision_matches_scikit_learn() {
    let cases: [(&[usize], &[f32], f64); 5] = [
        (&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8], 0.8333333333333333),
        // Tied scores form one step.
        (
            &[0, 1, 1, 0, 1, 0, 1, 1],
            &[0.5, 0.5, 0.9, 0.1, 0.5, 0.9, 0.2, 0.2],
            0.6257142857142857,
        ),
        // Hard 0/1 predictions: two thresholds only.
        (
            &[0, 1, 1, 0, 1, 0, 1, 1, 0, 0],
            &[0., 1., 0., 0., 1., 1., 1., 1., 0., 1.],
            0.6333333333333333,
        ),
        (&[1, 1, 1], &[0.2, 0.9, 0.4], 1.0),
        // One score for all: AP is the positive rate.
        (&[0, 1, 0, 1, 1], &[0.5; 5], 0.6),
    ];
    for (y, s, want) in cases {
        let got = ap(y, s);
        assert!(
            (got - want).abs() < 1e-12,
            "y={y:?} s={s:?}: {got} vs {want}"
        );
    }
    let y = [
        0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0,
    ];
    let s = [
        0.2, 0.4, 0.5, 0.9, 0.8, 1.0, 0.4, 0.6, 0.3, 0.6, 0.3, 0.5, 0.8, 0.8, 0.3, 0.9, 0.7, 0.0,
        0.1, 0.3, 0.8, 0.4, 0.4, 0.4, 0.8,
    ];
    assert!((ap(&y, &s) - 0.6094923594923595).abs() < 1e-12);
}

#[test]
fn average_precision_accepts_arrays_and_ignores_order() {
    let y = array![1usize, 0, 1, 0];
    let s = array![0.9f32, 0.8, 0.3, 0.1];
    let a = average_precision(&y, &s).unwrap();
    let b = average_precision(&[0, 1, 0, 1], &[0.1, 0.3, 0.8, 0.9]).unwrap();
    assert_eq!(a, b);
    // Precision 1 at recall 0.5, then 2/3 at recall 1.
    assert!((a - (0.5 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
}

#[test]
fn precision_recall_curve_matches_scikit_learn() {
    let c = precision_recall_curve(
        &[0, 1, 1, 0, 1, 0, 1, 1],
        &[0.5, 0.5, 0.9, 0.1, 0.5, 0.9, 0.2, 0.2],
    )
    .unwrap();
    let close = |a: &[f64], b: &[f64]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-7)
    };
    assert!(
        close(
            c.precision.as_slice().unwrap(),
            &[0.625, 0.7142857142857143, 0.6, 0.5, 1.0]
        ),
        "{:?}",
        c.precision
    );
    assert!(
        close(c.recall.as_slice().unwrap(), &[1.0, 1.0, 0.6, 0.2, 0.0]),
        "{:?}",
        c.recall
    );
    assert!(
        close(c.thresholds.as_slice().unwrap(), &[0.1, 0.2, 0.5, 0.9]),
        "{:?}",
        c.thresholds
    );
}

#[test]
fn average_precision_errors() {
    assert!(matches!(
        average_precision(&[0, 0], &[0.1, 0.2]),
        Err(Error::Incompatible(_))
    ));
    assert!(matches!(
        average_precision(&[0, 2], &[0.1, 0.2]),
        Err(Error::LabelOutOfRange { label: 2, .. })
    ));
    assert!(matches!(
        average_precision(&[0, 1], &[0.1]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        average_precision(&[0, 1], &[0.1, f32::NAN]),
        Err(Error::NonFinite { .. })
    ));
    let empty: [usize; 0] = [];
    assert!(matches!(
        average_precision(&empty, &[] as &[f32]),
        Err(Error::Empty { .. })
    ));
}

#[test]
fn accuracy_confusion_and_mse() {
    assert_eq!(accuracy(&[0, 1, 2, 2], &[0, 2, 2, 2]).unwrap(), 0.75);
    assert!(matches!(
        accuracy(&[0, 1], &[0]),
        Err(Error::ShapeMismatch { .. })
    ));
    let c = confusion_matrix(&[0, 1, 2, 2], &[0, 2, 2, 1], 3).unwrap();
    assert_eq!(c, array![[1, 0, 0], [0, 0, 1], [0, 1, 1]]);
    assert!(matches!(
        confusion_matrix(&[0, 3], &[0, 1], 3),
        Err(Error::LabelOutOfRange { label: 3, .. })
    ));
    let mse = mean_squared_error(
        &array![[1.0f32, 2.0], [3.0, 4.0]],
        &array![[1.0f32, 0.0], [3.0, 5.0]],
    )
    .unwrap();
    assert!((mse - 1.25).abs() < 1e-12);
    assert!(matches!(
        mean_squared_error(&array![[1.0f32]], &array![[1.0f32, 2.0]]),
        Err(Error::ShapeMismatch { .. })
    ));
}
