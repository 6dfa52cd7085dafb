//! One- and two-step updates of SGD (Nesterov, weight decay) and Adam against values worked out from the
//! published update rules, on a one-weight model `y = w·x + b` with loss `(w·x + b − t)²`.

use ndarray::array;
use prunelab::prelude::*;

const X: f64 = 1.5;
const T: f64 = 0.25;

fn model(w: f32, b: f32) -> Mlp {
    Mlp::from_layers(
        1,
        Topology::Chain,
        vec![Dense::new(array![[w]], Some(array![b]), Activation::Identity).unwrap()],
    )
    .unwrap()
}

fn data() -> Dataset {
    Dataset::regression(array![[X as f32]], array![[T as f32]]).unwrap()
}

/// (∂L/∂w, ∂L/∂b) of `(w·x + b − t)²`.
fn grad(w: f64, b: f64) -> (f64, f64) {
    let e = 2.0 * (w * X + b - T);
    (e * X, e)
}

fn params(m: &Mlp) -> (f64, f64) {
    let l = m.layer(0).unwrap();
    (l.weight()[[0, 0]] as f64, l.bias().unwrap()[0] as f64)
}

fn run(optimizer: impl Into<Optimizer>, steps: usize) -> (f64, f64) {
    let mut m = model(0.5, -0.1);
    TrainParams::new(Loss::Mse, optimizer)
        .epochs(steps)
        .batch_size(BatchSize::Full)
        .fit(&mut m, &data())
        .unwrap();
    params(&m)
}

#[test]
fn sgd_nesterov_with_weight_decay_two_steps() {
    let (lr, mu, wd) = (0.1, 0.9, 0.01);
    let (mut p, mut buf) = ([0.5, -0.1], [0.0, 0.0]);
    for step in 0..2 {
        let g = grad(p[0], p[1]);
        for (i, gi) in [g.0, g.1].into_iter().enumerate() {
            let d = gi + wd * p[i];
            buf[i] = if step == 0 { d } else { mu * buf[i] + d };
            p[i] -= lr * (d + mu * buf[i]);
        }
    }
    let got = run(
        Sgd::new(lr as f32)
            .momentum(mu as f32)
            .nesterov(true)
            .weight_decay(wd as f32),
        2,
    );
    assert!(
        (got.0 - p[0]).abs() < 1e-6 && (got.1 - p[1]).abs() < 1e-6,
        "{got:?} vs {p:?}"
    );
    // First step by hand: g_w = 2·(0.75 − 0.1 − 0.25)·1.5 = 1.2, d = 1.205, w = 0.5 − 0.1·1.9·1.205.
    let one = run(
        Sgd::new(0.1)
            .momentum(0.9)
            .nesterov(true)
            .weight_decay(0.01),
        1,
    );
    assert!((one.0 - (0.5 - 0.1 * 1.9 * 1.205)).abs() < 1e-6, "{one:?}");
}

#[test]
fn sgd_plain_momentum_with_dampening() {
    let (lr, mu, damp) = (0.05, 0.5, 0.2);
    let (mut p, mut buf) = ([0.5, -0.1], [0.0, 0.0]);
    for step in 0..3 {
        let g = grad(p[0], p[1]);
        for (i, gi) in [g.0, g.1].into_iter().enumerate() {
            buf[i] = if step == 0 {
                gi
            } else {
                mu * buf[i] + (1.0 - damp) * gi
            };
            p[i] -= lr * buf[i];
        }
    }
    let got = run(
        Sgd::new(lr as f32)
            .momentum(mu as f32)
            .dampening(damp as f32),
        3,
    );
    assert!(
        (got.0 - p[0]).abs() < 1e-6 && (got.1 - p[1]).abs() < 1e-6,
        "{got:?} vs {p:?}"
    );
}

fn adam_reference(lr: f64, wd: f64, decoupled: bool, steps: usize) -> [f64; 2] {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let (mut p, mut m, mut v) = ([0.5, -0.1], [0.0; 2], [0.0; 2]);
    for t in 1..=steps {
        let g = grad(p[0], p[1]);
        for (i, gi) in [g.0, g.1].into_iter().enumerate() {
            let gi = if decoupled {
                p[i] *= 1.0 - lr * wd;
                gi
            } else {
                gi + wd * p[i]
            };
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            let m_hat = m[i] / (1.0 - b1.powi(t as i32));
            let v_hat = v[i] / (1.0 - b2.powi(t as i32));
            p[i] -= lr * m_hat / (v_hat.sqrt() + eps);
        }
    }
    p
}

#[test]
fn adam_steps() {
    // A first Adam step moves every parameter by lr against the sign of its gradient.
    let one = run(Adam::new(0.01), 1);
    assert!(
        (one.0 - 0.49).abs() < 1e-6 && (one.1 + 0.11).abs() < 1e-6,
        "{one:?}"
    );
    for steps in [1, 3] {
        let want = adam_reference(0.01, 0.0, false, steps);
        let got = run(Adam::new(0.01), steps);
        assert!(
            (got.0 - want[0]).abs() < 1e-6 && (got.1 - want[1]).abs() < 1e-6,
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn adam_with_l2_and_decoupled_decay() {
    for decoupled in [false, true] {
        let want = adam_reference(0.02, 0.1, decoupled, 3);
        let got = run(Adam::new(0.02).weight_decay(0.1, decoupled), 3);
        assert!(
            (got.0 - want[0]).abs() < 1e-6 && (got.1 - want[1]).abs() < 1e-6,
            "decoupled {decoupled}: {got:?} vs {want:?}"
        );
    }
}

#[test]
fn invalid_optimizer_fields_are_named() {
    let name = |o: Optimizer| match o.check() {
        Err(Error::InvalidParam { name, .. }) => name,
        other => panic!("expected InvalidParam, got {other:?}"),
    };
    assert_eq!(name(Sgd::new(0.0).into()), "lr");
    assert_eq!(name(Sgd::new(f32::NAN).into()), "lr");
    assert_eq!(name(Sgd::new(0.1).momentum(1.0).into()), "momentum");
    assert_eq!(name(Sgd::new(0.1).nesterov(true).into()), "nesterov");
    assert_eq!(
        name(Sgd::new(0.1).weight_decay(-1.0).into()),
        "weight_decay"
    );
    assert_eq!(name(Adam::new(0.1).betas(1.0, 0.9).into()), "beta1");
    assert_eq!(name(Adam::new(0.1).betas(0.9, 0.0).into()), "beta2");
    assert_eq!(name(Adam::new(0.1).eps(-1.0).into()), "eps");
}
