//! Sparse training: masked layers that train through the sparse kernels give the bits dense masked training
//! gives, over several epochs, for chain and densely connected networks, every activation, SGD and Adam,
//! with and without pruned biases, an L2 penalty and gradual pruning.

use prunelab::prelude::*;

/// Every weight and bias of `model`, as bits (so that `-0.0` and `0.0` differ).
fn bits(model: &Mlp) -> Vec<u32> {
    model
        .layers()
        .iter()
        .flat_map(|l| {
            let b = l.bias().into_iter().flatten().copied();
            l.weight().iter().copied().chain(b).collect::<Vec<_>>()
        })
        .map(f32::to_bits)
        .collect()
}

/// A digits network of `sizes` trained for one epoch, unpruned.
fn trained(sizes: &[usize], topology: Topology, hidden: Activation, seed: u64) -> Mlp {
    let ds = data::digits().unwrap();
    let mut model = Mlp::config(sizes)
        .activation(hidden)
        .output_activation(Activation::Softmax)
        .topology(topology)
        .seed(seed)
        .build()
        .unwrap();
    TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
        .epochs(1)
        .batch_size(BatchSize::Size(64))
        .fit(&mut model, &ds)
        .unwrap();
    model
}

/// A digits network pruned by magnitude (and, when `units`, by whole units, which prunes biases too).
fn pruned(topology: Topology, hidden: Activation, amount: f64, units: bool, seed: u64) -> Mlp {
    let mut model = trained(&[64, 40, 24, 10], topology, hidden, seed);
    WeightPruning::magnitude(amount).apply(&mut model).unwrap();
    if units {
        UnitPruning::l1(0.25).apply(&mut model).unwrap();
    }
    model
}

/// Trains `model` once through the dense kernels and once through the sparse ones; both must give the
/// same bits, and the sparse run must really have taken the sparse path (checked by the test below).
fn same_bits(model: &Mlp, params: TrainParams) {
    let data = data::digits().unwrap();
    let (mut dense, mut sparse) = (model.clone(), model.clone());
    let hd = params
        .clone()
        .sparse_density(0.0)
        .fit(&mut dense, &data)
        .unwrap();
    let hs = params.sparse_density(1.0).fit(&mut sparse, &data).unwrap();
    let loss_bits = |h: &History| h.loss.iter().map(|l| l.to_bits()).collect::<Vec<_>>();
    assert_eq!(loss_bits(&hd), loss_bits(&hs), "losses");
    assert!(bits(&dense) == bits(&sparse), "weights differ");
    assert_eq!(dense, sparse);
    assert_ne!(bits(&dense), bits(model), "training changed nothing");
}

#[test]
fn every_activation_and_topology_trains_to_the_same_bits() {
    for (i, topology) in [Topology::Chain, Topology::DenselyConnected]
        .into_iter()
        .enumerate()
    {
        for (j, hidden) in [
            Activation::Relu,
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Gelu,
            Activation::Identity,
        ]
        .into_iter()
        .enumerate()
        {
            let units = j % 2 == 0;
            let model = pruned(topology, hidden, 0.8, units, (10 * i + j) as u64);
            let params = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
                .epochs(3)
                .batch_size(BatchSize::Size(50))
                .seed(j as u64);
            same_bits(&model, params);
        }
    }
}

#[test]
fn sgd_adamw_and_the_l2_penalty_train_to_the_same_bits() {
    let model = pruned(Topology::DenselyConnected, Activation::Relu, 0.9, true, 3);
    for optimizer in [
        Optimizer::from(
            Sgd::new(0.05)
                .momentum(0.9)
                .nesterov(true)
                .weight_decay(1e-3),
        ),
        Optimizer::from(Sgd::new(0.05)),
        Optimizer::from(Adam::new(2e-3).weight_decay(1e-2, true)),
        Optimizer::from(Adam::new(2e-3).weight_decay(1e-3, false)),
    ] {
        let params = TrainParams::new(Loss::CrossEntropy, optimizer)
            .epochs(3)
            .alpha(1e-2)
            .batch_size(BatchSize::Size(37));
        same_bits(&model, params);
    }
}

#[test]
fn chains_of_sparse_and_dense_layers_train_to_the_same_bits() {
    // Consecutive sparse layers keep their activations feature-major between them (no transposes); a
    // dense layer on either side of them, pruned units (pruned biases), SGD, Adam and the L2 penalty
    // must not change a bit.
    for (seed, hidden) in [Activation::Relu, Activation::Gelu, Activation::Sigmoid]
        .into_iter()
        .enumerate()
    {
        let sizes = [64, 48, 40, 32, 24, 16, 10];
        let mut model = trained(&sizes, Topology::Chain, hidden, seed as u64);
        // Layers 0 and 3 stay dense (unpruned); 1, 2, 4 and 5 are 90% pruned.
        WeightPruning::magnitude(0.9)
            .skip(&[0, 3])
            .apply(&mut model)
            .unwrap();
        if seed != 1 {
            UnitPruning::l1(0.2).apply(&mut model).unwrap();
        }
        for optimizer in [
            Optimizer::from(Adam::new(2e-3)),
            Optimizer::from(Sgd::new(0.05).momentum(0.9)),
        ] {
            let params = TrainParams::new(Loss::CrossEntropy, optimizer)
                .epochs(3)
                .alpha(if seed == 2 { 1e-2 } else { 0.0 })
                .batch_size(BatchSize::Size(45))
                .seed(seed as u64);
            same_bits(&model, params);
        }
    }
}

#[test]
fn gradual_pruning_and_continued_training_keep_the_same_bits() {
    let model = pruned(Topology::Chain, Activation::Relu, 0.5, false, 4);
    let schedule = GradualPruning::polynomial(0.5, 0.95, 0, 4, 20);
    let params = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
        .epochs(3)
        .batch_size(BatchSize::Size(64))
        .gradual(schedule);
    same_bits(&model, params);
    // A trainer continued after more pruning (its optimiser state kept) as a lottery ticket's rounds are.
    let data = data::digits().unwrap();
    let base = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
        .epochs(2)
        .batch_size(BatchSize::Size(100));
    let mut results = Vec::new();
    for density in [0.0, 1.0] {
        let mut m = model.clone();
        let mut trainer = base.clone().sparse_density(density).trainer().unwrap();
        trainer.fit(&mut m, &data).unwrap();
        WeightPruning::magnitude(0.7).apply(&mut m).unwrap();
        trainer.fit(&mut m, &data).unwrap();
        m.reset_masks();
        WeightPruning::magnitude(0.9).apply(&mut m).unwrap();
        trainer.fit(&mut m, &data).unwrap();
        results.push(bits(&m));
    }
    assert!(results[0] == results[1], "continued training differs");
}

#[test]
fn the_default_trains_sparse_layers_sparse_and_dense_layers_dense() {
    // A 95%-pruned layer is below the default crossover; an unpruned one is not. Both give the bits of an
    // all-dense run (tested above); here the default itself is checked: unset, it is the crossover measured
    // for the kernels in use, and a density set is the one in force.
    let default = TrainParams::new(Loss::Mse, Sgd::new(0.1));
    assert_eq!(default.sparse_density, None);
    let family = prunelab::kernels::active_family().unwrap();
    assert_eq!(
        default.sparse_density_in_force(),
        prunelab::nn::train_crossover(family)
    );
    assert_eq!(
        default
            .clone()
            .sparse_density(0.1)
            .sparse_density_in_force(),
        0.1
    );
    assert!(default.clone().sparse_density(1.5).check().is_err());
    assert!(default.sparse_density(f64::NAN).check().is_err());
}

#[test]
fn trackers_validation_and_early_stopping_see_the_same_numbers() {
    let model = pruned(Topology::DenselyConnected, Activation::Tanh, 0.85, true, 5);
    let (train, val) = data::digits().unwrap().split(0.8, 1).unwrap();
    let mut results = Vec::new();
    for density in [0.0, 1.0] {
        let mut m = model.clone();
        let mut trainer = TrainParams::new(Loss::CrossEntropy, Adam::new(2e-3))
            .epochs(6)
            .batch_size(BatchSize::Size(64))
            .track_movement()
            .track_utility(0.1)
            .early_stopping(2, 0.0)
            .sparse_density(density)
            .trainer()
            .unwrap();
        let h = trainer
            .fit_validated(&mut m, &train, &val, Metric::Accuracy)
            .unwrap();
        let movement: Vec<u32> = trainer
            .movement_scores()
            .unwrap()
            .iter()
            .flat_map(|s| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect();
        let utility: Vec<u32> = trainer
            .unit_utility()
            .unwrap()
            .iter()
            .flat_map(|s| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect();
        results.push((bits(&m), h.validation.clone(), movement, utility));
    }
    assert!(results[0] == results[1], "trackers or validation differ");
}

#[test]
fn divergence_restores_the_same_weights() {
    let model = pruned(Topology::Chain, Activation::Relu, 0.9, false, 6);
    let data = data::digits().unwrap();
    let mut results = Vec::new();
    for density in [0.0, 1.0] {
        let mut m = model.clone();
        let err = TrainParams::new(Loss::CrossEntropy, Sgd::new(1e30))
            .epochs(3)
            .batch_size(BatchSize::Size(64))
            .sparse_density(density)
            .fit(&mut m, &data)
            .unwrap_err();
        assert!(matches!(err, Error::NonFiniteLoss { .. }), "{err}");
        results.push(bits(&m));
    }
    assert!(results[0] == results[1], "restored weights differ");
    assert!(
        results[0] == bits(&model),
        "not restored to the epoch's start"
    );
}

/// A run that diverges after some epochs restores the weights of the failing epoch's start, which the
/// snapshot took from the sparse layers' kept weights: the same bits as dense masked training, and as a
/// run stopped before that epoch.
#[test]
fn divergence_in_a_later_epoch_restores_that_epochs_start() {
    // A regression with large targets, which plain SGD overshoots into overflow after a while.
    let x =
        ndarray::Array2::from_shape_fn((300, 48), |(i, j)| ((i * 13 + j * 7) % 29) as f32 / 29.0);
    let y = ndarray::Array2::from_shape_fn((300, 1), |(i, _)| (i % 17) as f32 * 100.0);
    let data = Dataset::regression(x, y).unwrap();
    let mut model = Mlp::config(&[48, 64, 32, 1])
        .activation(Activation::Identity)
        .seed(8)
        .build()
        .unwrap();
    WeightPruning::magnitude(0.9).apply(&mut model).unwrap();
    let params = |lr: f32| {
        TrainParams::new(Loss::Mse, Sgd::new(lr))
            .epochs(30)
            .batch_size(BatchSize::Size(100))
    };
    // The smallest learning rate of these that diverges, after at least two epochs.
    let (lr, epoch) = (1..60)
        .map(|i| 1e-5f32 * 1.3f32.powi(i))
        .find_map(|lr| {
            let mut m = model.clone();
            match params(lr).sparse_density(0.0).fit(&mut m, &data) {
                Err(Error::NonFiniteLoss { epoch }) => Some((lr, epoch)),
                _ => None,
            }
        })
        .expect("a learning rate that diverges");
    assert!(epoch > 1, "diverged in the first epoch at lr {lr}");
    let mut results = Vec::new();
    for density in [0.0, 1.0] {
        let mut m = model.clone();
        let err = params(lr).sparse_density(density).fit(&mut m, &data);
        assert!(
            matches!(err, Err(Error::NonFiniteLoss { epoch: e }) if e == epoch),
            "{err:?}"
        );
        results.push(bits(&m));
    }
    assert!(results[0] == results[1], "restored weights differ");
    let mut reference = model.clone();
    params(lr)
        .epochs(epoch - 1)
        .fit(&mut reference, &data)
        .unwrap();
    assert!(
        results[1] == bits(&reference),
        "not the failing epoch's start"
    );
}

/// Layers and batches large enough that the sparse step shares its work over rayon's threads (the
/// optimiser's step over kept weights, the transposes, the kernels, the copy of new values into the
/// column-blocked layout): the same bits as one thread, and as dense masked training. (On a one-core
/// machine the global pool has one thread and both runs are serial.)
#[test]
fn large_sparse_layers_train_to_the_same_bits_on_one_thread_and_on_all() {
    let (n, inputs) = (512, 300);
    let x = ndarray::Array2::from_shape_fn((n, inputs), |(i, j)| {
        ((i * 31 + j * 17) % 97) as f32 / 97.0
    });
    let y: Vec<usize> = (0..n).map(|i| (i * 7 + i / 5) % 10).collect();
    let data = Dataset::classification(x, y.into(), 10).unwrap();
    let mut model = Mlp::config(&[inputs, 640, 640, 10])
        .output_activation(Activation::Softmax)
        .seed(3)
        .build()
        .unwrap();
    // The 640x640 layer keeps 81,920 weights; a batch of 128 of its outputs is 81,920 values.
    WeightPruning::magnitude(0.8).apply(&mut model).unwrap();
    let params = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
        .epochs(2)
        .batch_size(BatchSize::Size(128))
        .sparse_density(0.25);
    let fit = |params: &TrainParams| {
        let mut m = model.clone();
        params.fit(&mut m, &data).unwrap();
        m
    };
    let all = fit(&params);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| fit(&params));
    let dense = fit(&params.clone().sparse_density(0.0));
    assert!(bits(&all) == bits(&one), "one thread and all differ");
    assert!(bits(&all) == bits(&dense), "sparse and dense masked differ");
    assert_ne!(bits(&all), bits(&model), "training changed nothing");
}
