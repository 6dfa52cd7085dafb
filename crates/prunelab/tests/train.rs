//! Training: convergence, determinism, continuation, early stopping, divergence and parameter errors.

use ndarray::{array, Array2};
use prunelab::prelude::*;

fn sgd_iris() -> TrainParams {
    TrainParams::new(
        Loss::BinaryCrossEntropy,
        Sgd::new(0.001).momentum(0.9).nesterov(true),
    )
    .epochs(1000)
    .alpha(0.1)
    .seed(42)
}

#[test]
fn iris_network_converges_like_scikit_learn() {
    // scikit-learn's MLPClassifier(solver='sgd', alpha=0.1, hidden_layer_sizes=(5, 3), max_iter=1000) on
    // this task reaches final losses of 0.04-0.28 depending on the seed, with test AP 1.0.
    let (train, test) = data::iris_binary().split(0.7, 42).unwrap();
    let mut model = Mlp::config(&[4, 5, 3, 1])
        .output_activation(Activation::Sigmoid)
        .seed(42)
        .build()
        .unwrap();
    let h = sgd_iris().fit(&mut model, &train).unwrap();
    assert_eq!(h.len(), 1000);
    assert!(h.final_loss().unwrap() < 0.3, "{h}");
    assert!(h.final_loss().unwrap() < 0.5 * h.loss[0], "{h}");
    let ap = metrics::average_precision(
        test.labels().unwrap(),
        &model.predict_score(&test.records).unwrap(),
    )
    .unwrap();
    assert!(ap > 0.95, "test AP {ap}");
}

fn digits_run(seed: u64, epochs: usize) -> (Mlp, History) {
    let ds = data::digits()
        .unwrap()
        .select(&(0..300).collect::<Vec<_>>())
        .unwrap();
    let mut model = Mlp::config(&[64, 32, 10])
        .output_activation(Activation::Softmax)
        .seed(seed)
        .build()
        .unwrap();
    let h = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-2))
        .epochs(epochs)
        .batch_size(BatchSize::Size(32))
        .seed(seed)
        .fit(&mut model, &ds)
        .unwrap();
    (model, h)
}

#[test]
fn same_seed_gives_bit_identical_runs() {
    let (m1, h1) = digits_run(3, 5);
    let (m2, h2) = digits_run(3, 5);
    assert_eq!(m1, m2);
    assert_eq!(
        h1.loss.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        h2.loss.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    let (m3, _) = digits_run(4, 5);
    assert_ne!(m1, m3);
}

#[test]
fn continuing_a_trainer_equals_one_longer_run() {
    let data = data::cos_sin(40).unwrap();
    let build = || {
        Mlp::config(&[1, 16, 16, 2])
            .activation(Activation::Tanh)
            .seed(9)
            .build()
            .unwrap()
    };
    let params = TrainParams::new(Loss::Mse, Adam::new(1e-2))
        .batch_size(BatchSize::Size(8))
        .seed(1);

    let mut once = build();
    let h_once = params.clone().epochs(20).fit(&mut once, &data).unwrap();

    let mut twice = build();
    let mut trainer = params.clone().epochs(10).trainer().unwrap();
    let mut h = trainer.fit(&mut twice, &data).unwrap();
    let later = trainer.fit(&mut twice, &data).unwrap();
    assert_eq!(later.start_epoch, 10);
    assert_eq!(later.epochs(), (11..=20).collect::<Vec<_>>());
    h.extend(&later);
    assert_eq!(once, twice, "optimiser state and shuffling must carry over");
    assert_eq!(h.loss, h_once.loss);

    // Re-initialising Adam's moments changes the continuation.
    let mut reset = build();
    let mut trainer = params.epochs(10).trainer().unwrap();
    trainer.fit(&mut reset, &data).unwrap();
    trainer.reset_optimizer();
    trainer.fit(&mut reset, &data).unwrap();
    assert_ne!(once, reset);
}

#[test]
fn early_stopping_and_validation() {
    let (train, val) = data::iris_binary().split(0.7, 1).unwrap();
    let mut model = Mlp::config(&[4, 8, 1])
        .output_activation(Activation::Sigmoid)
        .seed(1)
        .build()
        .unwrap();
    let mut trainer = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.05))
        .epochs(500)
        .early_stopping(5, 0.0)
        .trainer()
        .unwrap();
    let h = trainer
        .fit_validated(&mut model, &train, &val, Metric::Accuracy)
        .unwrap();
    assert!(h.stopped_early, "{h}");
    assert!(h.len() < 500);
    assert_eq!(h.validation.len(), h.len());
    assert_eq!(h.best_validation(), Some(1.0));
    assert!(h.to_string().contains("stopped early"));
}

#[test]
fn diverging_loss_stops_with_the_epoch_and_restores_weights() {
    let data = Dataset::regression(
        array![[1.0f32], [2.0], [3.0]],
        array![[1e3f32], [2e3], [-3e3]],
    )
    .unwrap();
    let build = || {
        Mlp::config(&[1, 4, 1])
            .activation(Activation::Identity)
            .seed(2)
            .build()
            .unwrap()
    };
    let params = TrainParams::new(Loss::Mse, Sgd::new(10.0))
        .batch_size(BatchSize::Full)
        .epochs(100);
    let mut model = build();
    let err = params.fit(&mut model, &data).unwrap_err();
    let Error::NonFiniteLoss { epoch } = err else {
        panic!("expected NonFiniteLoss, got {err:?}")
    };
    assert!(epoch > 1);
    assert!(model
        .layers()
        .iter()
        .all(|l| l.weight().iter().all(|v| v.is_finite())));
    // The weights are those at the start of the failing epoch: the state after `epoch - 1` epochs.
    let mut reference = build();
    params
        .clone()
        .epochs(epoch - 1)
        .fit(&mut reference, &data)
        .unwrap();
    assert_eq!(model, reference);
}

#[test]
fn invalid_parameters_name_the_field() {
    let name = |p: TrainParams| match p.check() {
        Err(Error::InvalidParam { name, .. }) => name,
        other => panic!("expected InvalidParam, got {other:?}"),
    };
    let p = || TrainParams::new(Loss::Mse, Adam::default());
    assert_eq!(name(p().epochs(0)), "epochs");
    assert_eq!(name(p().batch_size(BatchSize::Size(0))), "batch_size");
    assert_eq!(name(p().alpha(-0.1)), "alpha");
    assert_eq!(name(p().alpha(f32::NAN)), "alpha");
    assert_eq!(name(p().progress(Progress::Every(0))), "progress");
    assert_eq!(name(p().early_stopping(0, 0.0)), "early_stopping.patience");
    assert_eq!(name(TrainParams::new(Loss::Mse, Adam::new(-1.0))), "lr");
}

#[test]
fn mismatched_model_loss_and_data_are_typed_errors() {
    let iris = data::iris();
    let mut linear = Mlp::config(&[4, 3]).build().unwrap();
    let bce = TrainParams::new(Loss::BinaryCrossEntropy, Adam::default()).epochs(1);
    assert!(matches!(
        bce.fit(&mut linear, &iris),
        Err(Error::Incompatible(_))
    ));
    let mut one_out = Mlp::config(&[4, 1])
        .output_activation(Activation::Sigmoid)
        .build()
        .unwrap();
    assert!(matches!(
        bce.fit(&mut one_out, &iris),
        Err(Error::LabelOutOfRange { label: 2, .. })
    ));
    let mut wrong_width = Mlp::config(&[3, 1])
        .output_activation(Activation::Sigmoid)
        .build()
        .unwrap();
    assert!(matches!(
        bce.fit(&mut wrong_width, &data::iris_binary()),
        Err(Error::ShapeMismatch { .. })
    ));
    let mut soft = Mlp::config(&[4, 3])
        .output_activation(Activation::Softmax)
        .build()
        .unwrap();
    let mse_targets = Dataset::regression(Array2::zeros((2, 4)), Array2::zeros((2, 2))).unwrap();
    let ce = TrainParams::new(Loss::CrossEntropy, Adam::default()).epochs(1);
    assert!(matches!(
        ce.fit(&mut soft, &mse_targets),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(ce.fit(&mut soft, &iris).is_ok());
}

#[test]
fn an_overflowing_gradient_stops_training_before_anything_reads_the_weights() {
    // A finite loss (1e36) whose gradients for the second layer's weights overflow (2e18 × 1e21): the
    // optimiser's own check must stop the run before the gradual pruning step ranks the broken weights.
    let data = Dataset::regression(array![[1e21f32]], array![[0.0f32]]).unwrap();
    let build = || {
        let hidden = Dense::new(Array2::ones((4, 1)), None, Activation::Identity).unwrap();
        let out = Dense::new(
            Array2::from_elem((1, 4), 2.5e-4),
            None,
            Activation::Identity,
        )
        .unwrap();
        Mlp::from_layers(1, Topology::Chain, vec![hidden, out]).unwrap()
    };
    let optimizers: [Optimizer; 2] = [Sgd::new(0.1).into(), Adam::new(0.1).into()];
    for optimizer in optimizers {
        let mut model = build();
        let err = TrainParams::new(Loss::Mse, optimizer)
            .batch_size(BatchSize::Full)
            .epochs(3)
            .gradual(GradualPruning::polynomial(0.5, 0.75, 0, 2, 1))
            .fit(&mut model, &data)
            .unwrap_err();
        assert!(
            matches!(err, Error::NonFiniteLoss { epoch: 1 }),
            "{optimizer:?}: {err:?}"
        );
        assert_eq!(model, build(), "{optimizer:?}: the weights are restored");
    }
}
