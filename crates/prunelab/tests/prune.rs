//! Pruning invariants: exact structured results, masks surviving training, composition, compaction and
//! sparse equivalence (property tests), schedules, sweeps, edge lists and their errors.

use ndarray::{array, Array2};
use proptest::prelude::*;
use prunelab::prelude::*;
use prunelab::prune::Kernel;

mod common;
use common::hand_set;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn hand_set_unit_pruning_removes_the_documented_units() {
    let mut model = hand_set();
    let norms = unit_scores(
        &model,
        &UnitScore::Incoming {
            norm: Norm::L1,
            with_bias: true,
        },
    )
    .unwrap();
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    assert!(
        close(norms[0].as_slice().unwrap(), &[2.1, 7.2]),
        "{norms:?}"
    );
    assert!(
        close(norms[1].as_slice().unwrap(), &[0.5, 0.8, 1.4, 2.0]),
        "{norms:?}"
    );
    let removed = UnitPruning::l1(0.5).apply(&mut model).unwrap();
    assert_eq!(removed, vec![vec![0], vec![0, 1]]);
    let report = model.prune_report();
    assert_eq!(report.layers[0].live_units, 1);
    assert_eq!(report.layers[1].live_units, 2);
    // Removed units: incoming weights and bias exactly zero.
    assert!(model
        .layer(0)
        .unwrap()
        .weight()
        .row(0)
        .iter()
        .all(|&w| w == 0.0));
    assert_eq!(model.layer(0).unwrap().bias().unwrap()[0], 0.0);
    let small = model.compact().unwrap();
    assert_eq!(small.sizes(), vec![2, 1, 2, 2]);
    let x = array![[1.0f32, 2.0], [-0.5, 0.25], [3.0, -1.0]];
    let diff = &model.forward(&x).unwrap() - &small.forward(&x).unwrap();
    assert!(diff.iter().all(|d| d.abs() < 1e-6));
    // L2 without bias ranks layer 1 the same way; outgoing norms rank by the next layer's columns.
    let l2 = unit_scores(
        &hand_set(),
        &UnitScore::Incoming {
            norm: Norm::L2,
            with_bias: false,
        },
    )
    .unwrap();
    assert!((l2[0][0] - 2f32.sqrt()).abs() < 1e-6);
    let out = unit_scores(&hand_set(), &UnitScore::Outgoing { norm: Norm::L1 }).unwrap();
    assert!(
        close(out[1].as_slice().unwrap(), &[0.2, 1.0, 0.4, 0.5]),
        "{out:?}"
    );
}

fn classification_data(seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((40, 5), |_| rng.gen_range(-1.0f32..1.0));
    let y = x
        .rows()
        .into_iter()
        .map(|r| usize::from(r[0] + r[1] * r[2] > 0.0))
        .collect();
    Dataset::classification(x, y, 2).unwrap()
}

fn pruned_positions(model: &Mlp) -> Vec<Vec<(usize, usize)>> {
    (0..model.n_layers())
        .map(|k| {
            model
                .mask(k)
                .unwrap()
                .indexed_iter()
                .filter(|(_, &keep)| !keep)
                .map(|(i, _)| i)
                .collect()
        })
        .collect()
}

#[test]
fn pruned_weights_stay_exactly_zero_through_training() {
    let data = classification_data(1);
    let optimizers: [Optimizer; 3] = [
        Adam::new(0.05).into(),
        Adam::new(0.05).weight_decay(0.1, true).into(),
        Sgd::new(0.1).momentum(0.9).weight_decay(0.01).into(),
    ];
    for opt in optimizers {
        let mut model = Mlp::config(&[5, 12, 8, 1])
            .output_activation(Activation::Sigmoid)
            .seed(3)
            .build()
            .unwrap();
        let params = TrainParams::new(Loss::BinaryCrossEntropy, opt)
            .batch_size(BatchSize::Size(10))
            .epochs(10);
        let mut trainer = params.trainer().unwrap();
        trainer.fit(&mut model, &data).unwrap(); // build up optimiser state first
        WeightPruning::magnitude(0.6)
            .global()
            .apply(&mut model)
            .unwrap();
        UnitPruning::l1(Amount::Count(2)).apply(&mut model).unwrap();
        let positions = pruned_positions(&model);
        let biases: Vec<Option<Vec<bool>>> = model
            .layers()
            .iter()
            .map(|l| l.bias_mask().map(|m| m.to_vec()))
            .collect();
        trainer.set_epochs(25).unwrap(); // 4 steps per epoch: 100 steps
        trainer.fit(&mut model, &data).unwrap();
        assert_eq!(trainer.steps_done(), 140);
        for (k, pos) in positions.iter().enumerate() {
            let w = model.layer(k).unwrap().weight();
            assert!(
                pos.iter().all(|&p| w[p] == 0.0),
                "{opt:?}: layer {k} regrew a pruned weight"
            );
            assert!(
                w.iter().filter(|&&v| v != 0.0).count()
                    >= model.layer(k).unwrap().n_remaining() / 2
            );
            if let Some(mask) = &biases[k] {
                let b = model.layer(k).unwrap().bias().unwrap();
                assert!(mask
                    .iter()
                    .zip(b.iter())
                    .all(|(&keep, &b)| keep || b == 0.0));
            }
        }
        assert_eq!(pruned_positions(&model), positions);
    }
}

#[test]
fn pruning_composes_with_existing_masks() {
    let mut model = Mlp::config(&[10, 20, 4]).seed(2).build().unwrap();
    WeightPruning::magnitude(0.5).apply(&mut model).unwrap();
    let first = pruned_positions(&model);
    assert_eq!(model.layer(0).unwrap().n_remaining(), 100);
    assert_eq!(model.layer(1).unwrap().n_remaining(), 40);
    let removed = WeightPruning::magnitude(0.5).apply(&mut model).unwrap();
    assert_eq!(removed, vec![50, 20]);
    let second = pruned_positions(&model);
    for (a, b) in first.iter().zip(&second) {
        assert!(
            a.iter().all(|p| b.contains(p)),
            "the new mask must contain the old one"
        );
    }
    // PyTorch rounds half to even: 0.5 of 5 remaining is 2.
    let mut tiny = Mlp::config(&[5, 1]).seed(0).build().unwrap();
    assert_eq!(
        WeightPruning::random(0.5, 1).apply(&mut tiny).unwrap(),
        vec![2]
    );
    assert_eq!(
        WeightPruning::random(Amount::Count(3), 1)
            .apply(&mut tiny)
            .unwrap(),
        vec![3]
    );
    assert!(matches!(
        WeightPruning::magnitude(Amount::Count(1)).apply(&mut tiny),
        Err(Error::InvalidParam { .. })
    ));
}

#[test]
fn global_magnitude_pruning_uses_one_ranking() {
    let mut model = Mlp::from_layers(
        2,
        Topology::Chain,
        vec![
            Dense::new(array![[0.1, 0.2], [0.3, 0.4]], None, Activation::Relu).unwrap(),
            Dense::new(array![[5.0, 0.05]], None, Activation::Identity).unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(
        WeightPruning::magnitude(0.5)
            .global()
            .apply(&mut model)
            .unwrap(),
        vec![2, 1]
    );
    assert_eq!(model.mask(1).unwrap(), array![[true, false]]);
    let mut skip_out = hand_set();
    assert_eq!(
        WeightPruning::magnitude(Amount::Count(3))
            .global()
            .skip(&[2])
            .apply(&mut skip_out)
            .unwrap(),
        vec![0, 3, 0]
    );
}

#[test]
fn threshold_pruning_strict_and_inclusive() {
    let mut strict = hand_set();
    assert_eq!(
        ThresholdPruning::new(0.2).apply(&mut strict).unwrap(),
        vec![0, 1, 4]
    );
    let mut inclusive = hand_set();
    assert_eq!(
        ThresholdPruning::new(0.2)
            .inclusive()
            .apply(&mut inclusive)
            .unwrap(),
        vec![0, 2, 5]
    );
    let mut skipped = hand_set();
    assert_eq!(
        ThresholdPruning::new(0.2)
            .skip(&[2])
            .apply(&mut skipped)
            .unwrap(),
        vec![0, 1, 0]
    );
}

#[test]
fn bad_pruning_arguments_are_typed_errors() {
    let mut m = hand_set();
    for bad in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(
            WeightPruning::magnitude(bad).apply(&mut m),
            Err(Error::InvalidParam { name: "amount", .. })
        ));
        assert!(matches!(
            prune_to_sparsity(&mut m, bad, Scope::Global, &[]),
            Err(Error::InvalidParam {
                name: "sparsity",
                ..
            })
        ));
    }
    for bad in [-1.0, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            ThresholdPruning::new(bad).apply(&mut m),
            Err(Error::InvalidParam {
                name: "threshold",
                ..
            })
        ));
    }
    assert!(matches!(
        WeightPruning::magnitude(0.5).skip(&[3]).apply(&mut m),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        UnitPruning::l1(0.5).skip(&[2]).apply(&mut m),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        m.set_mask(0, Array2::from_elem((3, 2), true)),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(m.mask(7), Err(Error::IndexOutOfRange { .. })));
    let bad_scores = vec![Array2::zeros((2, 2))];
    assert!(matches!(
        WeightPruning::scores(bad_scores, 0.5).apply(&mut m),
        Err(Error::ShapeMismatch { .. })
    ));
    let nan_scores = vec![
        Array2::from_elem((2, 2), f32::NAN),
        Array2::zeros((4, 2)),
        Array2::zeros((2, 4)),
    ];
    assert!(matches!(
        WeightPruning::scores(nan_scores, 0.5).apply(&mut m),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        m.to_sparse_with_crossover(2.0, 2.0),
        Err(Error::InvalidParam { .. })
    ));
    assert_eq!(m, hand_set(), "failed calls change nothing");
    // A pruned weight cannot be set to a non-zero value.
    WeightPruning::magnitude(Amount::Count(1))
        .skip(&[1, 2])
        .apply(&mut m)
        .unwrap();
    let (u, i) = pruned_positions(&m)[0][0];
    assert!(matches!(
        m.set_weight(0, u, i, 1.0),
        Err(Error::Incompatible(_))
    ));
}

#[test]
fn pruning_every_unit_of_a_layer_gives_a_constant_output() {
    let mut m = hand_set();
    UnitPruning::l1(1.0).skip(&[1]).apply(&mut m).unwrap();
    let report = m.prune_report();
    assert!(report.output_is_constant());
    assert!(report.layers[0].dead);
    assert!(report.to_string().contains("the output is constant"));
    // Densely connected, a dead middle layer does not cut the input from the output.
    let mut dense = Mlp::config(&[2, 3, 3, 1])
        .topology(Topology::DenselyConnected)
        .seed(1)
        .build()
        .unwrap();
    UnitPruning::l1(1.0).skip(&[0]).apply(&mut dense).unwrap();
    let r = dense.prune_report();
    assert!(r.layers[1].dead && !r.output_is_constant());
    let x = array![[1.0f32, 2.0], [-3.0, 0.5]];
    let yd = dense.forward(&x).unwrap();
    assert_ne!(yd.row(0), yd.row(1));
    let y = m.forward(&x).unwrap();
    assert_eq!(y.row(0), y.row(1));
    let small = m.compact().unwrap();
    let ys = small.forward(&x).unwrap();
    assert!((&y - &ys).iter().all(|d| d.abs() < 1e-6));
    assert_eq!(small.sizes(), vec![2, 1, 1, 2]);
}

#[test]
fn masks_can_be_set_reset_and_made_permanent() {
    let original = hand_set();
    let mut m = original.clone();
    m.set_mask(
        1,
        array![[true, false], [false, true], [true, true], [false, false]],
    )
    .unwrap();
    assert_eq!(m.layer(1).unwrap().n_remaining(), 4);
    assert_eq!(m.weight(1, 3, 1).unwrap(), 0.0);
    m.reset_masks();
    assert_eq!(m, original, "reset restores the pruned values");
    WeightPruning::magnitude(0.5).apply(&mut m).unwrap();
    let zeros = m.n_weights() - m.n_remaining();
    m.make_permanent();
    assert!(!m.is_pruned());
    assert_eq!(
        m.layers()
            .iter()
            .flat_map(|l| l.weight().iter().copied().collect::<Vec<_>>())
            .filter(|&w| w == 0.0)
            .count(),
        zeros
    );
}

#[test]
fn report_counts_weights_units_and_macs() {
    let mut m = Mlp::config(&[3, 4, 2]).seed(1).build().unwrap();
    assert_eq!(m.prune_report().macs, 12 + 8);
    UnitPruning::l1(Amount::Count(1)).apply(&mut m).unwrap();
    let r = m.prune_report();
    assert_eq!((r.weights, r.remaining, r.macs), (20, 17, 9 + 6));
    assert_eq!(r.layers[0].live_units, 3);
    assert!((r.sparsity - 3.0 / 20.0).abs() < 1e-12);
}

/// A random network (topology, activations, bias) with random weight and unit pruning.
fn random_pruned(seed: u64) -> Mlp {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let depth = rng.gen_range(1..4);
    let mut sizes = vec![rng.gen_range(1..5)];
    for _ in 0..depth {
        sizes.push(rng.gen_range(1..7));
    }
    sizes.push(rng.gen_range(1..4));
    let acts = [
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
        Activation::Identity,
    ];
    let topology = if rng.gen_bool(0.5) {
        Topology::Chain
    } else {
        Topology::DenselyConnected
    };
    let mut m = Mlp::config(&sizes)
        .activation(acts[rng.gen_range(0..acts.len())])
        .output_activation(if rng.gen_bool(0.3) {
            Activation::Softmax
        } else {
            Activation::Identity
        })
        .topology(topology)
        .bias(rng.gen_bool(0.7))
        .seed(seed)
        .build()
        .unwrap();
    WeightPruning::random(rng.gen_range(0.0..0.9), seed)
        .apply(&mut m)
        .unwrap();
    if rng.gen_bool(0.7) {
        UnitPruning::new(UnitScore::Random { seed }, rng.gen_range(0.0..1.0))
            .apply(&mut m)
            .unwrap();
    }
    m
}

fn random_input(n_in: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xABCD);
    Array2::from_shape_fn((7, n_in), |_| rng.gen_range(-3.0f32..3.0))
}

fn assert_close(a: &Array2<f32>, b: &Array2<f32>, what: &str) {
    assert_eq!(a.dim(), b.dim());
    for (x, y) in a.iter().zip(b.iter()) {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + x.abs()),
            "{what}: {x} vs {y}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn compaction_preserves_outputs(seed in 0u64..1_000_000) {
        let m = random_pruned(seed);
        let small = m.compact().unwrap();
        let x = random_input(m.n_inputs(), seed);
        assert_close(&m.forward(&x).unwrap(), &small.forward(&x).unwrap(), "compacted");
        prop_assert!(small.n_remaining() <= m.n_remaining());
        prop_assert_eq!(small.prune_report().macs, m.prune_report().macs);
        // The compact network is an ordinary network: it saves, loads and trains.
        let back = Mlp::from_bytes(&small.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(&back, &small);
    }

    #[test]
    fn sparse_kernel_equals_dense_masked_product(seed in 0u64..1_000_000, threshold in 0.0f64..=1.0) {
        let m = random_pruned(seed);
        let sparse = m.to_sparse_with_crossover(threshold, threshold).unwrap();
        let x = random_input(m.n_inputs(), seed);
        assert_close(&m.forward(&x).unwrap(), &sparse.forward(&x).unwrap(), "sparse");
        let compact_sparse = m.compact().unwrap().to_sparse();
        assert_close(&m.forward(&x).unwrap(), &compact_sparse.forward(&x).unwrap(), "compact sparse");
    }

    #[test]
    fn threshold_sweep_removed_never_falls(seed in 0u64..1_000_000, n in 2usize..60) {
        let m = random_pruned(seed);
        let sweep = ThresholdSweep::linspace(&m, n).unwrap().run(&m, |p| Ok(p.n_remaining() as f64)).unwrap();
        prop_assert!(sweep.removed.windows(2).all(|w| w[0] <= w[1]));
        prop_assert!(sweep.thresholds.windows(2).all(|w| w[0] <= w[1]));
        for i in 0..sweep.len() {
            prop_assert_eq!(sweep.metric[i] as usize, m.n_weights() - sweep.removed[i]);
        }
        prop_assert_eq!(sweep.removed[0], m.n_weights() - m.n_remaining());
    }
}

#[test]
fn sparse_forward_on_a_large_batch_crosses_blocks() {
    let mut m = Mlp::config(&[30, 50, 40, 5])
        .topology(Topology::DenselyConnected)
        .output_activation(Activation::Softmax)
        .seed(8)
        .build()
        .unwrap();
    WeightPruning::magnitude(0.9).apply(&mut m).unwrap();
    let x = random_input(30, 1);
    // 630 rows: several sample blocks of the inference passes, the last one partial.
    let big = ndarray::concatenate(ndarray::Axis(0), &vec![x.view(); 90]).unwrap();
    assert_close(
        &m.forward(&big).unwrap(),
        &m.to_sparse_with_crossover(0.5, 0.5)
            .unwrap()
            .forward(&big)
            .unwrap(),
        "large batch",
    );
}

#[test]
fn each_layer_takes_the_product_its_density_and_batch_call_for() {
    // Layers kept at 10%, 35% and 60%.
    let mut m = Mlp::config(&[40, 60, 50, 8]).seed(3).build().unwrap();
    for (k, amount) in [0.9, 0.65, 0.4].into_iter().enumerate() {
        let others: Vec<usize> = (0..3).filter(|&o| o != k).collect();
        WeightPruning::magnitude(amount)
            .skip(&others)
            .apply(&mut m)
            .unwrap();
    }
    // CSR below 50% for up to three samples, below 20% beyond: the middle layer switches with the batch.
    let net = m.to_sparse_with_crossover(0.5, 0.2).unwrap();
    let kinds: Vec<&str> = net
        .layers()
        .iter()
        .map(|l| match &l.kernel {
            Kernel::Dense(_) => "dense",
            Kernel::Sparse(_) => "sparse",
            Kernel::BySamples {
                sparse_for_few: true,
                ..
            } => "sparse for few",
            Kernel::BySamples { .. } => "dense for few",
        })
        .collect();
    assert_eq!(kinds, ["sparse", "sparse for few", "dense"]);
    assert_eq!((net.sparse_layers(), net.switching_layers()), (1, 1));
    // The other way round: CSR for large blocks only.
    let other = m.to_sparse_with_crossover(0.2, 0.5).unwrap();
    assert!(matches!(
        other.layers()[1].kernel,
        Kernel::BySamples {
            sparse_for_few: false,
            ..
        }
    ));
    // Every batch size equals the masked network, whichever product each block takes.
    let x = random_input(40, 5);
    let big = ndarray::concatenate(ndarray::Axis(0), &vec![x.view(); 40]).unwrap();
    for n in [1, 2, 3, 4, 7, 130, 280] {
        let xb = big.slice(ndarray::s![..n, ..]);
        let want = m.forward(xb).unwrap();
        for (what, net) in [("few", &net), ("many", &other)] {
            assert_close(&want, &net.forward(xb).unwrap(), what);
        }
    }
    // The defaults: a layer at 60% is dense at every batch, one at 10% sparse.
    let auto = m.to_sparse();
    assert!(matches!(auto.layers()[0].kernel, Kernel::Sparse(_)));
    assert!(matches!(auto.layers()[2].kernel, Kernel::Dense(_)));
    for bad in [(-0.1, 0.3), (0.3, 1.5), (f64::NAN, 0.3)] {
        assert!(m.to_sparse_with_crossover(bad.0, bad.1).is_err());
    }
}

#[test]
fn a_sparse_network_whose_layers_all_run_dense_is_the_dense_network_bit_for_bit() {
    let x = random_input(40, 9);
    // 700 rows: more than one block of the dense pass.
    let big = ndarray::concatenate(ndarray::Axis(0), &vec![x.view(); 100]).unwrap();
    for topology in [Topology::Chain, Topology::DenselyConnected] {
        let mut m = Mlp::config(&[40, 60, 50, 8])
            .topology(topology)
            .activation(Activation::Tanh)
            .output_activation(Activation::Softmax)
            .seed(4)
            .build()
            .unwrap();
        WeightPruning::magnitude(0.5).apply(&mut m).unwrap();
        // No layer is below 0% density: every one keeps the dense product.
        let net = m.to_sparse_with_crossover(0.0, 0.0).unwrap();
        assert_eq!(net.sparse_layers(), 0);
        for n in [1, 2, 5, 130, 700] {
            let xb = big.slice(ndarray::s![..n, ..]);
            assert_eq!(
                net.forward(xb).unwrap(),
                m.forward(xb).unwrap(),
                "{topology:?}, {n} samples"
            );
        }
    }
}

#[test]
fn threshold_sweep_matches_direct_pruning() {
    let (train, test) = data::iris_binary().split(0.7, 42).unwrap();
    let mut model = Mlp::config(&[4, 5, 3, 1])
        .output_activation(Activation::Sigmoid)
        .seed(42)
        .build()
        .unwrap();
    TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.01))
        .epochs(200)
        .fit(&mut model, &train)
        .unwrap();
    let sweep = ThresholdSweep::linspace(&model, 101)
        .unwrap()
        .run_metric(&model, &test, Metric::AveragePrecision)
        .unwrap();
    assert_eq!(sweep.metric_name, "AP");
    // Every point equals pruning and evaluating directly, the repeats the sweep shares included.
    for i in 0..sweep.len() {
        let mut direct = model.clone();
        ThresholdPruning::new(sweep.thresholds[i])
            .apply(&mut direct)
            .unwrap();
        assert_eq!(direct.n_weights() - direct.n_remaining(), sweep.removed[i]);
        assert_eq!(
            Metric::AveragePrecision.evaluate(&direct, &test).unwrap(),
            sweep.metric[i]
        );
    }
    assert_eq!(sweep.removed[0], 0);
    // One evaluation per distinct pruned network: 101 thresholds over 38 weights.
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let counted = ThresholdSweep::linspace(&model, 101)
        .unwrap()
        .run(&model, |m| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Metric::AveragePrecision.evaluate(m, &test)
        })
        .unwrap();
    let mut distinct = sweep.removed.clone();
    distinct.dedup();
    assert!(distinct.len() <= model.n_weights() + 1);
    assert_eq!(calls.into_inner(), distinct.len());
    assert_eq!(counted.metric, sweep.metric);
    // A slow metric (estimated above a millisecond for all networks) is shared over rayon's threads:
    // the same values.
    let slow = ThresholdSweep::linspace(&model, 101)
        .unwrap()
        .run(&model, |m| {
            std::thread::sleep(std::time::Duration::from_micros(300));
            Metric::AveragePrecision.evaluate(m, &test)
        })
        .unwrap();
    assert_eq!(
        (slow.removed, slow.metric),
        (sweep.removed.clone(), sweep.metric.clone())
    );
    let best = sweep.best_threshold(0.9).unwrap();
    assert!(sweep
        .metric
        .iter()
        .zip(&sweep.thresholds)
        .all(|(&m, &t)| t > best.threshold || m > 0.9));
    assert!(sweep
        .to_csv()
        .starts_with("threshold,removed,fraction_removed,AP\n"));
    assert!(matches!(
        ThresholdSweep::new(vec![0.1, -1.0]).run(&model, |_| Ok(0.0)),
        Err(Error::InvalidParam { .. })
    ));
    assert!(matches!(
        ThresholdSweep::new(vec![]).run(&model, |_| Ok(0.0)),
        Err(Error::Empty { .. })
    ));
}

#[test]
fn sparsity_sweep_table() {
    let data = data::iris();
    let mut model = Mlp::config(&[4, 16, 16, 3])
        .output_activation(Activation::Softmax)
        .seed(0)
        .build()
        .unwrap();
    TrainParams::new(Loss::CrossEntropy, Adam::new(0.01))
        .epochs(100)
        .fit(&mut model, &data)
        .unwrap();
    let table = SparsitySweep::new(vec![0.9, 0.0, 0.5])
        .skip(&[2])
        .run_metric(&model, &data, Metric::Accuracy)
        .unwrap();
    assert_eq!(
        table.methods(),
        vec!["weight (layerwise)", "unit L2 (layerwise)"]
    );
    let weights = table.series("weight (layerwise)");
    assert_eq!(
        weights.iter().map(|p| p.0).collect::<Vec<_>>(),
        vec![0.0, 0.5, 0.9]
    );
    let dense = Metric::Accuracy.evaluate(&model, &data).unwrap();
    assert_eq!(weights[0].1, dense);
    let rows: Vec<_> = table
        .rows
        .iter()
        .filter(|r| r.method.starts_with("weight"))
        .collect();
    assert_eq!(
        rows[2].remaining,
        model.n_weights() - (0.9f64 * 64.0).round() as usize - (0.9f64 * 256.0).round() as usize
    );
    let csv = table.to_csv();
    assert_eq!(csv.lines().count(), 7);
    let json: serde_json::Value = serde_json::from_str(&table.to_json().unwrap()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 6);
    assert!(matches!(
        SparsitySweep::new(vec![1.5]).run(&model, |_| Ok(0.0)),
        Err(Error::InvalidParam { .. })
    ));
}

#[test]
fn xor_utility_orders_the_units() {
    let data = data::xor();
    let mut model = Mlp::config(&[2, 32, 1])
        .output_activation(Activation::Sigmoid)
        .init(Init::KaimingUniform)
        .seed(0)
        .build()
        .unwrap();
    let mut trainer = TrainParams::new(Loss::Mse, Adam::new(0.1))
        .epochs(50)
        .batch_size(BatchSize::Full)
        .track_utility(0.05)
        .trainer()
        .unwrap();
    trainer.fit(&mut model, &data).unwrap();
    let utility = trainer.unit_utility().unwrap();
    let loss = |score: UnitScore| {
        let mut m = model.clone();
        UnitPruning::new(score, Amount::Count(16))
            .apply(&mut m)
            .unwrap();
        m.loss(&data, Loss::Mse).unwrap()
    };
    let base = model.loss(&data, Loss::Mse).unwrap();
    let least = loss(UnitScore::Custom(utility.clone()));
    let most = loss(UnitScore::Custom(
        utility.iter().map(|u| u.mapv(|v| -v)).collect(),
    ));
    let random = (0..10)
        .map(|seed| loss(UnitScore::Random { seed }))
        .sum::<f32>()
        / 10.0;
    assert!(base < 0.01, "XOR should be learnt: {base}");
    assert!(least < base + 0.01, "least useful: {least} vs {base}");
    assert!(most > 0.2, "most useful: {most}");
    assert!(
        least < random && random < most,
        "{least} < {random} < {most}"
    );
    // The one-batch utility ranks the same units lowest as the smoothed one here (the last batch dominates).
    let one_batch = unit_utility(&model, &data, Loss::Mse).unwrap();
    assert_eq!(one_batch[0].len(), 32);
}

#[test]
fn snip_and_movement_scores() {
    let data = classification_data(2);
    let model = Mlp::config(&[5, 6, 1])
        .output_activation(Activation::Sigmoid)
        .seed(1)
        .build()
        .unwrap();
    let snip = snip_scores(&model, &data, Loss::BinaryCrossEntropy).unwrap();
    let (_, g) = model
        .loss_and_gradients(&data, Loss::BinaryCrossEntropy, 0.0)
        .unwrap();
    assert_eq!(
        snip[0][[2, 3]],
        (model.weight(0, 2, 3).unwrap() * g.weights[0][[2, 3]]).abs()
    );

    // One full-batch step: movement = −w·∂L/∂w at the starting weights.
    let mut m = model.clone();
    let mut trainer = TrainParams::new(Loss::BinaryCrossEntropy, Sgd::new(0.1))
        .epochs(1)
        .batch_size(BatchSize::Full)
        .track_movement()
        .trainer()
        .unwrap();
    trainer.fit(&mut m, &data).unwrap();
    let mv = trainer.movement_scores().unwrap();
    assert_eq!(
        mv[1][[0, 4]],
        -model.weight(1, 0, 4).unwrap() * g.weights[1][[0, 4]]
    );
    WeightPruning::scores(mv, 0.5).apply(&mut m).unwrap();
    assert_eq!(m.n_remaining(), 15 + 3);
}

#[test]
fn gradual_schedule_reaches_the_final_sparsity() {
    let data = classification_data(3);
    let mut model = Mlp::config(&[5, 20, 1])
        .output_activation(Activation::Sigmoid)
        .seed(2)
        .build()
        .unwrap();
    let schedule = GradualPruning::polynomial(0.0, 0.8, 4, 5, 4).skip(&[1]);
    let mut sparsities = Vec::new();
    for t in 0..40 {
        if let Some(s) = schedule.target_at(t) {
            sparsities.push(s);
        }
    }
    assert_eq!(sparsities.len(), 6);
    assert!(sparsities.windows(2).all(|w| w[0] <= w[1]));
    assert!((sparsities[2] - (0.8 - 0.8 * 0.6f64.powi(3))).abs() < 1e-12);
    let params = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.01))
        .batch_size(BatchSize::Size(10))
        .epochs(10)
        .gradual(schedule);
    params.fit(&mut model, &data).unwrap();
    assert_eq!(model.layer(0).unwrap().n_remaining(), 20);
    assert_eq!(model.layer(1).unwrap().n_remaining(), 20);
    let bad = TrainParams::new(Loss::Mse, Adam::default())
        .gradual(GradualPruning::polynomial(0.0, 1.2, 0, 1, 1));
    assert!(matches!(
        bad.check(),
        Err(Error::InvalidParam {
            name: "gradual.final_sparsity",
            ..
        })
    ));
}

#[test]
fn lottery_ticket_and_iterative_pruning() {
    let data = classification_data(4);
    let init = Mlp::config(&[5, 16, 1])
        .output_activation(Activation::Sigmoid)
        .seed(5)
        .build()
        .unwrap();
    let train = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.02))
        .batch_size(BatchSize::Full)
        .epochs(30);
    let mut ticket = init.clone();
    let lt = LotteryTicket {
        rounds: 3,
        amount_per_round: 0.5,
        rewind: Rewind::Init,
        scope: Scope::Global,
        skip: vec![],
        train: train.clone(),
    };
    let h = lt.run(&mut ticket, &data, &data, Metric::Accuracy).unwrap();
    let remaining: Vec<usize> = h.rounds.iter().map(|r| r.remaining).collect();
    assert_eq!(remaining, vec![96, 48, 24, 12]);
    // Rewinding: the ticket's surviving weights restart from the initial values each round, so retraining
    // the masked initial network reproduces the final ticket exactly.
    let mut replay = init.clone();
    for k in 0..2 {
        replay.set_mask(k, ticket.mask(k).unwrap()).unwrap();
    }
    train.fit(&mut replay, &data).unwrap();
    assert_eq!(replay.to_bytes().unwrap(), ticket.to_bytes().unwrap());
    // Same masks, fresh random weights.
    let mut random = ticket.clone();
    random.reinitialize(Init::GlorotUniform, 99).unwrap();
    assert_eq!(random.n_remaining(), 12);
    assert_ne!(random, ticket);

    // The comparison's ticket rows are the search's rounds; its controls keep the ticket's sparsity.
    let table = lt
        .compare(
            &init,
            &data,
            &data,
            Metric::Accuracy,
            Init::GlorotUniform,
            99,
        )
        .unwrap();
    assert_eq!(
        table.methods(),
        ["lottery ticket", "random reinit", "one-shot"]
    );
    let rows =
        |m: &str| -> Vec<&SweepRow> { table.rows.iter().filter(|r| r.method == m).collect() };
    let (tickets, randoms, one_shots) = (
        rows("lottery ticket"),
        rows("random reinit"),
        rows("one-shot"),
    );
    for (r, row) in tickets.iter().enumerate() {
        assert_eq!(row.metric, h.rounds[r].metric, "round {r}");
        assert_eq!(row.remaining, h.rounds[r].remaining);
        assert!((row.sparsity - (1.0 - 0.5f64.powi(r as i32))).abs() < 1e-12);
        assert_eq!(randoms[r].remaining, row.remaining);
        assert_eq!(one_shots[r].remaining, row.remaining);
    }
    assert!(lt
        .compare(
            &init,
            &data,
            &data,
            Metric::Accuracy,
            Init::GlorotUniform,
            99
        )
        .is_ok_and(|again| again == table));
    let bad = LotteryTicket {
        amount_per_round: 1.0,
        ..lt.clone()
    };
    assert!(matches!(
        bad.compare(
            &init,
            &data,
            &data,
            Metric::Accuracy,
            Init::GlorotUniform,
            0
        ),
        Err(Error::InvalidParam {
            name: "amount_per_round",
            ..
        })
    ));

    let mut model = init.clone();
    train.fit(&mut model, &data).unwrap();
    let it = IterativePruning {
        rounds: 2,
        pruning: WeightPruning::magnitude(0.5),
        retrain: train,
    };
    let h = it.run(&mut model, &data, &data, Metric::Accuracy).unwrap();
    assert_eq!(
        h.rounds.iter().map(|r| r.remaining).collect::<Vec<_>>(),
        vec![96, 48, 24]
    );
}

#[test]
fn edge_lists_and_removing_connections() {
    let mut m = hand_set();
    let g = m.graph();
    assert_eq!(g.layer_sizes, vec![2, 2, 4, 2]);
    assert_eq!(g.nodes.len(), 10);
    assert_eq!(g.edges.len(), 4 + 8 + 8);
    let e = g.edges.iter().find(|e| e.from == 1 && e.to == 3).unwrap();
    assert_eq!(e.weight, 2.0); // layer 0, unit 1, input 1
    assert_eq!(m.remove_connections(&[(1, 3), (2, 4), (1, 3)]).unwrap(), 2);
    assert_eq!(m.edges().len(), 18);
    assert_eq!(m.weight(0, 1, 1).unwrap(), 0.0);
    assert!(g.to_csv().starts_with("source,target,weight\n0,2,1\n"));
    // Not connections in a chain: input to layer 2, and an unknown node. Nothing changes on error.
    let before = m.clone();
    assert!(matches!(
        m.remove_connections(&[(2, 6), (0, 4)]),
        Err(Error::Incompatible(_))
    ));
    assert!(matches!(
        m.remove_connections(&[(0, 99)]),
        Err(Error::Incompatible(_))
    ));
    assert_eq!(m, before);
}

#[test]
fn densely_connected_connection_pruning_then_training_goes_on() {
    let data = data::cos_sin(60).unwrap();
    let mut m = Mlp::config(&[1, 16, 16, 2])
        .topology(Topology::DenselyConnected)
        .activation(Activation::Tanh)
        .seed(3)
        .build()
        .unwrap();
    let params = TrainParams::new(Loss::Mse, Adam::new(1e-2))
        .batch_size(BatchSize::Full)
        .epochs(30);
    let mut trainer = params.trainer().unwrap();
    trainer.fit(&mut m, &data).unwrap();
    let weak: Vec<(usize, usize)> = m
        .edges()
        .iter()
        .filter(|e| e.weight.abs() < 0.1)
        .map(|e| (e.from, e.to))
        .collect();
    let before = m.edges().len();
    assert_eq!(m.remove_connections(&weak).unwrap(), weak.len());
    trainer.fit(&mut m, &data).unwrap();
    assert_eq!(m.edges().len(), before - weak.len());
    assert!(m
        .graph()
        .edges
        .iter()
        .filter(|e| e.pruned)
        .all(|e| e.weight == 0.0));
}

#[test]
fn save_and_load_round_trips_and_files_shrink_with_sparsity() {
    let dir = std::env::temp_dir().join(format!("prunelab-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut m = Mlp::config(&[20, 50, 30, 3])
        .output_activation(Activation::Softmax)
        .seed(4)
        .build()
        .unwrap();
    let mut sizes = Vec::new();
    for (i, sparsity) in [0.0, 0.5, 0.9].into_iter().enumerate() {
        prune_to_sparsity(&mut m, sparsity, Scope::Global, &[]).unwrap();
        UnitPruning::l1(Amount::Count(i)).apply(&mut m).unwrap();
        for ext in ["json", "bin"] {
            let path = dir.join(format!("m{i}.{ext}"));
            m.save(&path).unwrap();
            let back = Mlp::load(&path).unwrap();
            assert_eq!(back, m, "{ext} at sparsity {sparsity}");
            assert_eq!(back.prune_report(), m.prune_report());
            if ext == "bin" {
                sizes.push(std::fs::metadata(&path).unwrap().len());
            }
        }
    }
    assert!(
        sizes[0] > sizes[1] && sizes[1] > 3 * sizes[2],
        "binary sizes {sizes:?}"
    );

    let bytes = m.to_bytes().unwrap();
    let err = |b: &[u8]| match Mlp::from_bytes(b) {
        Err(Error::Format { reason, .. }) => reason,
        other => panic!("expected a format error, got {other:?}"),
    };
    assert!(err(&bytes[..bytes.len() - 5]).contains("truncated"));
    assert!(err(&bytes[..10]).contains("truncated"));
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    assert!(err(&flipped).contains("checksum"));
    assert!(err(b"NOTAMODELxxxxxxxxxxxxxxxxxxxx").contains("magic"));
    let json = m.to_json().unwrap();
    let wrong_shape = json.replacen("\"inputs\":20", "\"inputs\":21", 1);
    assert!(matches!(
        Mlp::from_json(&wrong_shape),
        Err(Error::Format { .. })
    ));
    let wrong_tag = json.replacen("prunelab-mlp", "other", 1);
    assert!(matches!(
        Mlp::from_json(&wrong_tag),
        Err(Error::Format { .. })
    ));
    std::fs::write(dir.join("bad.json"), "{").unwrap();
    assert!(matches!(
        Mlp::load(dir.join("bad.json")),
        Err(Error::Format { .. })
    ));
    assert!(matches!(
        Mlp::load(dir.join("missing.bin")),
        Err(Error::Io { .. })
    ));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn sparse_forward_equals_dense_at_every_batch_size() {
    let mut m = Mlp::config(&[37, 70, 45, 3])
        .output_activation(Activation::Softmax)
        .seed(4)
        .build()
        .unwrap();
    WeightPruning::magnitude(0.85).apply(&mut m).unwrap();
    let all =
        ndarray::concatenate(ndarray::Axis(0), &vec![random_input(37, 3).view(); 40]).unwrap();
    let sparse = m.to_sparse_with_crossover(1.0, 1.0).unwrap();
    assert_eq!(sparse.sparse_layers(), 3);
    for n in [
        1, 2, 7, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 127, 128, 129, 200,
    ] {
        let x = all.slice(ndarray::s![..n, ..]);
        // The first n rows of a larger array, through both paths.
        assert_close(
            &m.forward(x).unwrap(),
            &sparse.forward(x).unwrap(),
            &format!("batch {n}"),
        );
    }
}

#[test]
fn progress_changes_no_result_and_every_zero_is_a_typed_error() {
    let data = data::xor();
    let model = Mlp::config(&[2, 8, 1])
        .output_activation(Activation::Sigmoid)
        .seed(3)
        .build()
        .unwrap();
    let sweep = SparsitySweep::new(vec![0.0, 0.5, 0.9]);
    let quiet = sweep
        .clone()
        .run_metric(&model, &data, Metric::Accuracy)
        .unwrap();
    for progress in [Progress::Bar, Progress::Every(2)] {
        let shown = sweep
            .clone()
            .progress(progress)
            .run_metric(&model, &data, Metric::Accuracy)
            .unwrap();
        assert_eq!(shown, quiet);
    }
    let refused = sweep
        .progress(Progress::Every(0))
        .run_metric(&model, &data, Metric::Accuracy);
    assert!(matches!(refused, Err(Error::InvalidParam { name, .. }) if name == "progress"));

    let train = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.05))
        .epochs(20)
        .batch_size(BatchSize::Full);
    let search = |train: TrainParams| LotteryTicket {
        rounds: 2,
        amount_per_round: 0.3,
        rewind: Rewind::Init,
        scope: Scope::Layerwise,
        skip: vec![],
        train,
    };
    let (mut a, mut b) = (model.clone(), model.clone());
    let quiet = search(train.clone())
        .run(&mut a, &data, &data, Metric::Accuracy)
        .unwrap();
    let shown = search(train.clone().progress(Progress::Bar))
        .run(&mut b, &data, &data, Metric::Accuracy)
        .unwrap();
    assert_eq!(quiet, shown);
    assert_eq!(a, b);
    let refused = search(train.progress(Progress::Every(0))).run(
        &mut model.clone(),
        &data,
        &data,
        Metric::Accuracy,
    );
    assert!(matches!(refused, Err(Error::InvalidParam { name, .. }) if name == "progress"));
}
