//! Fixtures shared by the integration tests.

use ndarray::array;
use prunelab::prelude::*;

/// The hand-set 2-2-4-2 network of the structured-pruning example.
pub fn hand_set() -> Mlp {
    Mlp::from_layers(
        2,
        Topology::Chain,
        vec![
            Dense::new(
                array![[1.0, -1.0], [5.0, 2.0]],
                Some(array![0.1, 0.2]),
                Activation::Relu,
            )
            .unwrap(),
            Dense::new(
                array![[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]],
                Some(array![-0.2, 0.1, 0.3, 0.5]),
                Activation::Relu,
            )
            .unwrap(),
            Dense::new(
                array![[0.1, -0.2, 0.3, 0.1], [-0.1, 0.8, 0.1, -0.4]],
                Some(array![0.1, -0.2]),
                Activation::Identity,
            )
            .unwrap(),
        ],
    )
    .unwrap()
}
