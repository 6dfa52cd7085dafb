//! Network construction, the forward pass, prediction and their errors.

use ndarray::{array, Array2};
use prunelab::prelude::*;

mod common;
use common::hand_set;

#[test]
fn densely_connected_cos_sin_network_has_99842_connections() {
    let mlp = Mlp::config(&[1, 128, 128, 128, 128, 2])
        .topology(Topology::DenselyConnected)
        .build()
        .unwrap();
    assert_eq!(mlp.n_weights(), 99_842);
    assert_eq!(mlp.n_params(), 99_842 + 4 * 128 + 2);
    let ins: Vec<usize> = mlp.layers().iter().map(|l| l.n_inputs()).collect();
    assert_eq!(ins, [1, 129, 257, 385, 513]);
    let chain = Mlp::config(&[1, 128, 128, 128, 128, 2]).build().unwrap();
    assert_eq!(chain.n_weights(), 128 + 3 * 128 * 128 + 256);
}

#[test]
fn forward_in_blocks_equals_forward_per_sample() {
    for topology in [Topology::Chain, Topology::DenselyConnected] {
        let mlp = Mlp::config(&[6, 40, 30, 3])
            .topology(topology)
            .activation(Activation::Tanh)
            .output_activation(Activation::Softmax)
            .seed(4)
            .build()
            .unwrap();
        // 700 rows: blocks of the inference pass run on several threads, the last block partial.
        let x = Array2::from_shape_fn((700, 6), |(i, j)| {
            ((i * 13 + j * 7) % 17) as f32 / 8.0 - 1.0
        });
        let all = mlp.forward(&x).unwrap();
        for i in [0, 1, 255, 256, 257, 511, 512, 699] {
            let one = mlp.forward(x.slice(ndarray::s![i..i + 1, ..])).unwrap();
            for (a, b) in all.row(i).iter().zip(one.row(0)) {
                assert!((a - b).abs() < 1e-6, "{topology:?} row {i}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn hand_set_forward_matches_manual_computation() {
    let mlp = hand_set();
    let x = array![[1.0f32, 2.0]];
    // Layer 1: relu([1-2+0.1, 5+4+0.2]) = [0, 9.2].
    let h1 = [0.0f32, 9.2];
    let w2 = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]];
    let b2 = [-0.2, 0.1, 0.3, 0.5];
    let h2: Vec<f32> = (0..4)
        .map(|j| (w2[j][0] * h1[0] + w2[j][1] * h1[1] + b2[j]).max(0.0))
        .collect();
    let w3 = [[0.1, -0.2, 0.3, 0.1], [-0.1, 0.8, 0.1, -0.4]];
    let b3 = [0.1, -0.2];
    let y = mlp.forward(&x).unwrap();
    for o in 0..2 {
        let want: f32 = (0..4).map(|j| w3[o][j] * h2[j]).sum::<f32>() + b3[o];
        assert!(
            (y[[0, o]] - want).abs() < 1e-5,
            "output {o}: {} vs {want}",
            y[[0, o]]
        );
    }
    assert_eq!(mlp.weight(1, 2, 1).unwrap(), 0.6);
}

#[test]
fn densely_connected_forward_concatenates_input_and_earlier_outputs() {
    // 1 input, hidden widths 1 and 1, 1 output; all identity so the output is linear and checkable.
    let mlp = Mlp::from_layers(
        1,
        Topology::DenselyConnected,
        vec![
            Dense::new(array![[2.0]], Some(array![1.0]), Activation::Identity).unwrap(),
            Dense::new(array![[3.0, -1.0]], None, Activation::Identity).unwrap(),
            Dense::new(
                array![[1.0, 10.0, 100.0]],
                Some(array![0.5]),
                Activation::Identity,
            )
            .unwrap(),
        ],
    )
    .unwrap();
    let x = 2.0f32;
    let h1 = 2.0 * x + 1.0;
    let h2 = 3.0 * x - h1;
    let want = x + 10.0 * h1 + 100.0 * h2 + 0.5;
    assert_eq!(mlp.forward(&array![[x]]).unwrap()[[0, 0]], want);
    assert!(matches!(
        Mlp::from_layers(
            1,
            Topology::DenselyConnected,
            vec![
                Dense::new(array![[2.0]], None, Activation::Identity).unwrap(),
                Dense::new(array![[3.0]], None, Activation::Identity).unwrap(),
            ]
        ),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn predictions_follow_scikit_learn_conventions() {
    let sig = Mlp::from_layers(
        1,
        Topology::Chain,
        vec![Dense::new(array![[1.0]], None, Activation::Sigmoid).unwrap()],
    )
    .unwrap();
    let x = array![[-2.0f32], [0.0], [3.0]];
    assert_eq!(sig.predict(&x).unwrap(), array![0, 0, 1]); // exactly 0.5 is class 0
    let p = sig.predict_proba(&x).unwrap();
    assert_eq!(p.dim(), (3, 2));
    assert!((p[[2, 1]] - 1.0 / (1.0 + (-3.0f32).exp())).abs() < 1e-7);
    assert!((p[[2, 0]] + p[[2, 1]] - 1.0).abs() < 1e-7);
    assert_eq!(sig.predict_score(&x).unwrap().len(), 3);

    let soft = Mlp::config(&[2, 3])
        .output_activation(Activation::Softmax)
        .seed(3)
        .build()
        .unwrap();
    let x2 = array![[0.3f32, -1.0], [2.0, 0.5]];
    let p = soft.predict_proba(&x2).unwrap();
    for row in p.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-6);
    }
    let labels = soft.predict(&x2).unwrap();
    for (r, &l) in p.rows().into_iter().zip(labels.iter()) {
        assert!(r.iter().all(|&v| v <= r[l]));
    }
    let reg = Mlp::config(&[2, 3]).build().unwrap();
    assert!(matches!(
        reg.predict_proba(&x2),
        Err(Error::Incompatible(_))
    ));
    assert!(matches!(
        reg.predict_score(&x2),
        Err(Error::Incompatible(_))
    ));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let mlp = Mlp::config(&[3, 4, 2]).build().unwrap();
    assert!(matches!(
        mlp.forward(&Array2::<f32>::zeros((2, 4))),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        mlp.forward(&Array2::<f32>::zeros((0, 3))),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        mlp.forward(&array![[1.0f32, f32::NAN, 0.0]]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        mlp.forward(&array![[1.0f32, f32::INFINITY, 0.0]]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        Mlp::config(&[3]).build(),
        Err(Error::InvalidParam { name: "sizes", .. })
    ));
    assert!(matches!(
        Mlp::config(&[3, 0, 2]).build(),
        Err(Error::InvalidParam { name: "sizes", .. })
    ));
    assert!(matches!(
        Mlp::config(&[3, 2, 2])
            .activation(Activation::Softmax)
            .build(),
        Err(Error::InvalidParam {
            name: "activation",
            ..
        })
    ));
    let mut m = mlp.clone();
    assert!(matches!(
        m.weight(2, 0, 0),
        Err(Error::IndexOutOfRange { what: "layer", .. })
    ));
    assert!(matches!(
        m.weight(0, 4, 0),
        Err(Error::IndexOutOfRange { what: "unit", .. })
    ));
    assert!(matches!(
        m.set_weight(0, 0, 3, 1.0),
        Err(Error::IndexOutOfRange { what: "input", .. })
    ));
    assert!(matches!(
        m.set_weight(0, 0, 0, f32::NAN),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        m.set_weights(0, Array2::zeros((3, 4))),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        m.set_bias(1, array![1.0]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Dense::new(array![[1.0, 2.0]], Some(array![1.0, 2.0]), Activation::Relu),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Dense::new(Array2::zeros((0, 2)), None, Activation::Relu),
        Err(Error::Empty { .. })
    ));
    m.set_weight(0, 1, 2, 0.25).unwrap();
    assert_eq!(m.weight(0, 1, 2).unwrap(), 0.25);
}

#[test]
fn initialisation_bounds_and_seeds() {
    let sk = Mlp::config(&[30, 20, 1]).seed(5).build().unwrap();
    let bound = (6.0f32 / 50.0).sqrt();
    let w = sk.layer(0).unwrap().weight();
    assert!(w.iter().all(|v| v.abs() <= bound));
    assert!(
        w.iter().any(|v| v.abs() > 0.9 * bound),
        "draws should fill the range"
    );
    let sig = Mlp::config(&[30, 20, 1])
        .activation(Activation::Sigmoid)
        .seed(5)
        .build()
        .unwrap();
    assert!(sig
        .layer(0)
        .unwrap()
        .weight()
        .iter()
        .all(|v| v.abs() <= (2.0f32 / 50.0).sqrt()));
    let pt = Mlp::config(&[30, 20, 1])
        .init(Init::KaimingUniform)
        .seed(5)
        .build()
        .unwrap();
    let b = 1.0 / 30f32.sqrt();
    assert!(pt.layer(0).unwrap().weight().iter().all(|v| v.abs() <= b));
    assert!(pt
        .layer(0)
        .unwrap()
        .bias()
        .unwrap()
        .iter()
        .all(|v| v.abs() <= b));
    assert_eq!(sk, Mlp::config(&[30, 20, 1]).seed(5).build().unwrap());
    assert_ne!(sk, Mlp::config(&[30, 20, 1]).seed(6).build().unwrap());
}
