//! Back-propagated gradients against central finite differences, for every activation, loss, topology and
//! the L2 penalty.

use ndarray::{Array1, Array2};
use prunelab::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Random inputs and targets fitting `loss` for a network with `n_out` outputs.
fn dataset(n: usize, n_in: usize, n_out: usize, loss: Loss, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, n_in), |_| rng.gen_range(-1.5f32..1.5));
    match loss {
        Loss::Mse => {
            let y = Array2::from_shape_fn((n, n_out), |_| rng.gen_range(-1.0f32..1.0));
            Dataset::regression(x, y).unwrap()
        }
        Loss::BinaryCrossEntropy if n_out == 1 => {
            let labels = Array1::from_shape_fn(n, |_| rng.gen_range(0..2usize));
            Dataset::classification(x, labels, 2).unwrap()
        }
        Loss::BinaryCrossEntropy => {
            let y = Array2::from_shape_fn((n, n_out), |_| rng.gen_range(0.0f32..1.0));
            Dataset::regression(x, y).unwrap()
        }
        Loss::CrossEntropy => {
            let labels = Array1::from_shape_fn(n, |_| rng.gen_range(0..n_out));
            Dataset::classification(x, labels, n_out).unwrap()
        }
    }
}

/// Compares every analytic gradient with a central difference of the loss.
fn check(mut mlp: Mlp, data: &Dataset, loss: Loss, alpha: f32) {
    let (_, grads) = mlp.loss_and_gradients(data, loss, alpha).unwrap();
    let h = 1e-2f32;
    let eval = |m: &Mlp| m.loss_and_gradients(data, loss, alpha).unwrap().0 as f64;
    let mut worst = 0.0f64;
    for k in 0..mlp.n_layers() {
        let w = mlp.layer(k).unwrap().weight().to_owned();
        for ((i, j), &w0) in w.indexed_iter() {
            mlp.set_weight(k, i, j, w0 + h).unwrap();
            let up = eval(&mlp);
            mlp.set_weight(k, i, j, w0 - h).unwrap();
            let down = eval(&mlp);
            mlp.set_weight(k, i, j, w0).unwrap();
            let numeric = (up - down) / (2.0 * h as f64);
            let analytic = grads.weights[k][[i, j]] as f64;
            let err = (numeric - analytic).abs() / (1e-2 + numeric.abs().max(analytic.abs()));
            worst = worst.max(err);
            assert!(
                err < 2e-2,
                "layer {k} weight ({i},{j}): numeric {numeric:.6} analytic {analytic:.6}"
            );
        }
        if let Some(b) = mlp.layer(k).unwrap().bias().map(|b| b.to_owned()) {
            for (i, &b0) in b.iter().enumerate() {
                let set = |m: &mut Mlp, v: f32| {
                    let mut nb = b.clone();
                    nb[i] = v;
                    m.set_bias(k, nb).unwrap();
                };
                set(&mut mlp, b0 + h);
                let up = eval(&mlp);
                set(&mut mlp, b0 - h);
                let down = eval(&mlp);
                set(&mut mlp, b0);
                let numeric = (up - down) / (2.0 * h as f64);
                let analytic = grads.biases[k].as_ref().unwrap()[i] as f64;
                let err = (numeric - analytic).abs() / (1e-2 + numeric.abs().max(analytic.abs()));
                assert!(
                    err < 2e-2,
                    "layer {k} bias {i}: numeric {numeric:.6} analytic {analytic:.6}"
                );
            }
        }
    }
    assert!(worst.is_finite());
}

fn net(
    sizes: &[usize],
    act: Activation,
    out: Activation,
    topology: Topology,
    bias: bool,
    seed: u64,
) -> Mlp {
    Mlp::config(sizes)
        .activation(act)
        .output_activation(out)
        .topology(topology)
        .bias(bias)
        .init(Init::KaimingUniform)
        .seed(seed)
        .build()
        .unwrap()
}

#[test]
fn every_hidden_activation_with_mse() {
    for act in [
        Activation::Identity,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
    ] {
        let data = dataset(7, 3, 2, Loss::Mse, 1);
        check(
            net(
                &[3, 5, 4, 2],
                act,
                Activation::Identity,
                Topology::Chain,
                true,
                2,
            ),
            &data,
            Loss::Mse,
            0.0,
        );
    }
}

#[test]
fn every_output_activation_with_mse() {
    for out in [
        Activation::Identity,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
        Activation::Softmax,
    ] {
        let data = dataset(6, 3, 3, Loss::Mse, 3);
        check(
            net(&[3, 4, 3], Activation::Tanh, out, Topology::Chain, true, 4),
            &data,
            Loss::Mse,
            0.0,
        );
    }
}

#[test]
fn binary_cross_entropy_one_and_several_outputs() {
    let data = dataset(9, 4, 1, Loss::BinaryCrossEntropy, 5);
    check(
        net(
            &[4, 5, 3, 1],
            Activation::Relu,
            Activation::Sigmoid,
            Topology::Chain,
            true,
            6,
        ),
        &data,
        Loss::BinaryCrossEntropy,
        0.0,
    );
    let data = dataset(9, 4, 3, Loss::BinaryCrossEntropy, 7);
    check(
        net(
            &[4, 5, 3],
            Activation::Tanh,
            Activation::Sigmoid,
            Topology::Chain,
            true,
            8,
        ),
        &data,
        Loss::BinaryCrossEntropy,
        0.0,
    );
}

#[test]
fn softmax_cross_entropy() {
    let data = dataset(8, 3, 4, Loss::CrossEntropy, 9);
    check(
        net(
            &[3, 6, 4],
            Activation::Gelu,
            Activation::Softmax,
            Topology::Chain,
            true,
            10,
        ),
        &data,
        Loss::CrossEntropy,
        0.0,
    );
}

#[test]
fn l2_penalty_as_scikit_learn() {
    let data = dataset(10, 4, 1, Loss::BinaryCrossEntropy, 11);
    let mlp = net(
        &[4, 5, 3, 1],
        Activation::Tanh,
        Activation::Sigmoid,
        Topology::Chain,
        true,
        12,
    );
    check(mlp.clone(), &data, Loss::BinaryCrossEntropy, 0.1);
    // The penalty is 0.5·alpha·Σ‖W‖²/n on top of the plain loss, biases excluded.
    let plain = mlp.loss(&data, Loss::BinaryCrossEntropy).unwrap() as f64;
    let (penalised, _) = mlp
        .loss_and_gradients(&data, Loss::BinaryCrossEntropy, 0.1)
        .unwrap();
    let sq: f64 = mlp
        .layers()
        .iter()
        .map(|l| l.weight().iter().map(|&w| (w as f64).powi(2)).sum::<f64>())
        .sum();
    let expected = plain + 0.5 * 0.1 * sq / 10.0;
    assert!(
        (penalised as f64 - expected).abs() < 1e-6,
        "{penalised} vs {expected}"
    );
}

#[test]
fn densely_connected_topology_without_bias() {
    let data = dataset(6, 2, 2, Loss::Mse, 13);
    check(
        net(
            &[2, 3, 4, 3, 2],
            Activation::Tanh,
            Activation::Identity,
            Topology::DenselyConnected,
            false,
            14,
        ),
        &data,
        Loss::Mse,
        0.0,
    );
    check(
        net(
            &[2, 3, 4, 3, 2],
            Activation::Sigmoid,
            Activation::Identity,
            Topology::DenselyConnected,
            true,
            15,
        ),
        &data,
        Loss::Mse,
        0.05,
    );
}
