//! Random sequences of public calls with random sizes and arguments, valid and invalid alike (NaN, negative
//! and out-of-range amounts, indices past the end, empty selections): whatever the sequence, every call
//! returns `Ok` or a typed `Err`, never a panic, and no call leaves a pruned (masked) weight or bias anything
//! but exactly zero: the rule every pruning method and report relies on.
//!
//! `PRUNELAB_FUZZ_CASES=N` runs N sequences instead of the default.

use ndarray::{Array1, Array2};
use proptest::prelude::*;
use prunelab::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Train {
        epochs: usize,
        batch: usize,
        lr: f32,
        alpha: f32,
    },
    Magnitude {
        amount: f64,
        global: bool,
    },
    Count {
        count: usize,
    },
    Random {
        amount: f64,
        seed: u64,
    },
    Threshold {
        t: f32,
        inclusive: bool,
    },
    ToSparsity {
        s: f64,
        global: bool,
        skip: Vec<usize>,
    },
    Units {
        amount: f64,
        global: bool,
    },
    Compact,
    Sparse {
        rows: usize,
    },
    Bytes,
    Json,
    SetWeight {
        layer: usize,
        unit: usize,
        input: usize,
        value: f32,
    },
    Mask {
        layer: usize,
    },
    ResetMasks,
    Permanent,
    ThresholdSweep {
        n: usize,
    },
    SparsitySweep {
        sparsities: Vec<f64>,
    },
    Forward {
        rows: usize,
        fill: f32,
    },
    Scores,
    Select {
        indices: Vec<usize>,
    },
    Split {
        fraction: f64,
    },
    Metric {
        accuracy: bool,
    },
    Report,
    Sgd {
        epochs: usize,
        lr: f32,
        momentum: f32,
    },
    Gradual {
        sparsity: f64,
        epochs: usize,
    },
    SetWeights {
        layer: usize,
        fill: f32,
    },
    SetBias {
        layer: usize,
        fill: f32,
    },
    Reinitialize {
        seed: u64,
    },
    RemoveConnections {
        from: usize,
        to: usize,
    },
    Iterative {
        rounds: usize,
        amount: f64,
    },
    Lottery {
        rounds: usize,
        amount: f64,
    },
}

fn float() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -2.0f32..2.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(-1.0f32),
        1 => Just(0.0f32),
    ]
}

fn fraction() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0f64..1.0,
        1 => Just(1.0),
        1 => Just(f64::NAN),
        1 => Just(-0.5),
        1 => Just(1.5),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..3, 0usize..40, float(), float()).prop_map(|(epochs, batch, lr, alpha)| {
            Op::Train {
                epochs,
                batch,
                lr,
                alpha: alpha.abs() * 0.01,
            }
        }),
        (fraction(), any::<bool>()).prop_map(|(amount, global)| Op::Magnitude { amount, global }),
        (0usize..200).prop_map(|count| Op::Count { count }),
        (fraction(), any::<u64>()).prop_map(|(amount, seed)| Op::Random { amount, seed }),
        (float(), any::<bool>()).prop_map(|(t, inclusive)| Op::Threshold { t, inclusive }),
        (
            fraction(),
            any::<bool>(),
            proptest::collection::vec(0usize..6, 0..3)
        )
            .prop_map(|(s, global, skip)| Op::ToSparsity { s, global, skip }),
        (fraction(), any::<bool>()).prop_map(|(amount, global)| Op::Units { amount, global }),
        Just(Op::Compact),
        (0usize..70).prop_map(|rows| Op::Sparse { rows }),
        Just(Op::Bytes),
        Just(Op::Json),
        (0usize..5, 0usize..10, 0usize..10, float()).prop_map(|(layer, unit, input, value)| {
            Op::SetWeight {
                layer,
                unit,
                input,
                value,
            }
        }),
        (0usize..5).prop_map(|layer| Op::Mask { layer }),
        Just(Op::ResetMasks),
        Just(Op::Permanent),
        (0usize..6).prop_map(|n| Op::ThresholdSweep { n }),
        proptest::collection::vec(fraction(), 0..4)
            .prop_map(|sparsities| Op::SparsitySweep { sparsities }),
        (0usize..5, float()).prop_map(|(rows, fill)| Op::Forward { rows, fill }),
        Just(Op::Scores),
        proptest::collection::vec(0usize..30, 0..5).prop_map(|indices| Op::Select { indices }),
        fraction().prop_map(|fraction| Op::Split { fraction }),
        any::<bool>().prop_map(|accuracy| Op::Metric { accuracy }),
        Just(Op::Report),
        (0usize..3, float(), 0.0f32..0.99).prop_map(|(epochs, lr, momentum)| Op::Sgd {
            epochs,
            lr,
            momentum
        }),
        (fraction(), 0usize..4).prop_map(|(sparsity, epochs)| Op::Gradual { sparsity, epochs }),
        (0usize..5, float()).prop_map(|(layer, fill)| Op::SetWeights { layer, fill }),
        (0usize..5, float()).prop_map(|(layer, fill)| Op::SetBias { layer, fill }),
        any::<u64>().prop_map(|seed| Op::Reinitialize { seed }),
        (0usize..30, 0usize..30).prop_map(|(from, to)| Op::RemoveConnections { from, to }),
        (0usize..3, fraction()).prop_map(|(rounds, amount)| Op::Iterative { rounds, amount }),
        (0usize..3, fraction()).prop_map(|(rounds, amount)| Op::Lottery { rounds, amount }),
    ]
}

/// Every masked weight and bias of `model` is exactly zero.
fn masks_hold(model: &Mlp) -> bool {
    model.layers().iter().all(|l| {
        let weights = l.mask().is_none_or(|m| {
            m.iter()
                .zip(l.weight().iter())
                .all(|(&keep, &w)| keep || w == 0.0)
        });
        let biases = match (l.bias_mask(), l.bias()) {
            (Some(m), Some(b)) => m.iter().zip(b.iter()).all(|(&keep, &v)| keep || v == 0.0),
            _ => true,
        };
        weights && biases
    })
}

/// A network with random sizes, topology, biases and activations, and a dataset that fits its input width
/// (classification when it has a softmax or sigmoid output, regression otherwise).
fn setup(
    sizes: &[usize],
    dense: bool,
    bias: bool,
    out: u8,
    samples: usize,
    seed: u64,
) -> Option<(Mlp, Dataset, Loss)> {
    let output = [
        Activation::Sigmoid,
        Activation::Softmax,
        Activation::Identity,
    ][out as usize % 3];
    let model = Mlp::config(sizes)
        .topology(if dense {
            Topology::DenselyConnected
        } else {
            Topology::Chain
        })
        .bias(bias)
        .output_activation(output)
        .seed(seed)
        .build()
        .ok()?;
    let n_in = model.n_inputs();
    let n_out = model.n_outputs();
    let records = Array2::from_shape_fn((samples, n_in), |(i, j)| {
        ((i * 7 + j * 3) % 11) as f32 / 5.0 - 1.0
    });
    let (data, loss) = match output {
        Activation::Softmax => (
            Dataset::classification(
                records,
                Array1::from_shape_fn(samples, |i| i % n_out),
                n_out,
            )
            .ok()?,
            Loss::CrossEntropy,
        ),
        Activation::Sigmoid if n_out == 1 => (
            Dataset::classification(records, Array1::from_shape_fn(samples, |i| i % 2), 2).ok()?,
            Loss::BinaryCrossEntropy,
        ),
        _ => (
            Dataset::regression(
                records,
                Array2::from_shape_fn((samples, n_out), |(i, j)| (i + j) as f32 / 10.0),
            )
            .ok()?,
            Loss::Mse,
        ),
    };
    Some((model, data, loss))
}

fn step(model: &mut Mlp, data: &Dataset, loss: Loss, op: &Op) {
    match op {
        Op::Train {
            epochs,
            batch,
            lr,
            alpha,
        } => {
            let batch = if *batch == 0 {
                BatchSize::Full
            } else {
                BatchSize::Size(*batch)
            };
            let _ = TrainParams::new(loss, Adam::new(*lr))
                .epochs(*epochs)
                .batch_size(batch)
                .alpha(*alpha)
                .fit(model, data);
        }
        Op::Magnitude { amount, global } => {
            let p = WeightPruning::magnitude(*amount);
            let _ = if *global { p.global() } else { p }.apply(model);
        }
        Op::Count { count } => {
            let _ = WeightPruning::magnitude(Amount::Count(*count)).apply(model);
        }
        Op::Random { amount, seed } => {
            let _ = WeightPruning::random(*amount, *seed).apply(model);
        }
        Op::Threshold { t, inclusive } => {
            let p = ThresholdPruning::new(*t);
            let _ = if *inclusive { p.inclusive() } else { p }.apply(model);
        }
        Op::ToSparsity { s, global, skip } => {
            let scope = if *global {
                Scope::Global
            } else {
                Scope::Layerwise
            };
            let _ = prune_to_sparsity(model, *s, scope, skip);
        }
        Op::Units { amount, global } => {
            let p = UnitPruning::l1(*amount);
            let _ = if *global { p.global() } else { p }.apply(model);
            let _ = unit_scores(model, &UnitScore::Outgoing { norm: Norm::L2 });
        }
        Op::Compact => {
            if let Ok(c) = model.compact() {
                assert!(masks_hold(&c), "compaction left a masked weight non-zero");
                let _ = c.forward(&data.records);
            }
        }
        Op::Sparse { rows } => {
            let x = Array2::<f32>::ones((*rows, model.n_inputs()));
            let _ = model.to_sparse().forward(&x);
        }
        Op::Bytes => {
            if let Ok(b) = model.to_bytes() {
                let back = Mlp::from_bytes(&b).expect("a written network reads back");
                assert!(
                    masks_hold(&back),
                    "a loaded network has a masked weight non-zero"
                );
                assert_eq!(back.to_bytes().unwrap(), b);
            }
        }
        Op::Json => {
            if let Ok(j) = model.to_json() {
                let _ = Mlp::from_json(&j);
            }
        }
        Op::SetWeight {
            layer,
            unit,
            input,
            value,
        } => {
            let _ = model.set_weight(*layer, *unit, *input, *value);
            let _ = model.weight(*layer, *unit, *input);
        }
        Op::Mask { layer } => {
            if let Ok(m) = model.mask(*layer) {
                let _ = model.set_mask(*layer, m);
            }
            let _ = model.set_mask(*layer, Array2::from_elem((1, 1), false));
        }
        Op::ResetMasks => model.reset_masks(),
        Op::Permanent => model.make_permanent(),
        Op::ThresholdSweep { n } => {
            if let Ok(s) = ThresholdSweep::linspace(model, *n) {
                let _ = s.run(model, |m: &Mlp| m.loss(data, loss).map(f64::from));
            }
        }
        Op::SparsitySweep { sparsities } => {
            let _ = SparsitySweep::new(sparsities.clone())
                .run(model, |m: &Mlp| m.loss(data, loss).map(f64::from));
        }
        Op::Forward { rows, fill } => {
            let x = Array2::from_elem((*rows, model.n_inputs()), *fill);
            let _ = model.forward(&x);
            let _ = model.predict(&x);
            let _ = model.forward(&Array2::<f32>::zeros((1, model.n_inputs() + 1)));
        }
        Op::Scores => {
            let _ = snip_scores(model, data, loss);
            let _ = unit_utility(model, data, loss);
        }
        Op::Select { indices } => {
            let _ = data.select(indices);
        }
        Op::Split { fraction } => {
            let _ = data.split(*fraction, 0);
        }
        Op::Metric { accuracy } => {
            let m = if *accuracy {
                Metric::Accuracy
            } else {
                Metric::AveragePrecision
            };
            let _ = m.evaluate(model, data);
        }
        Op::Report => {
            let _ = model.prune_report().to_string();
            let _ = model.sparsity();
            let _ = model.live_units();
        }
        Op::Sgd {
            epochs,
            lr,
            momentum,
        } => {
            let _ = TrainParams::new(loss, Sgd::new(*lr).momentum(*momentum))
                .epochs(*epochs)
                .fit(model, data);
        }
        Op::Gradual { sparsity, epochs } => {
            let schedule = GradualPruning::polynomial(0.0, *sparsity, 0, 3, 1);
            let _ = TrainParams::new(loss, Adam::new(0.05))
                .epochs(*epochs)
                .batch_size(BatchSize::Size(4))
                .gradual(schedule)
                .fit(model, data);
        }
        Op::SetWeights { layer, fill } => {
            if let Ok(l) = model.layer(*layer) {
                let w = Array2::from_elem(l.weight().raw_dim(), *fill);
                let _ = model.set_weights(*layer, w);
            }
        }
        Op::SetBias { layer, fill } => {
            if let Ok(l) = model.layer(*layer) {
                let b = Array1::from_elem(l.n_outputs(), *fill);
                let _ = model.set_bias(*layer, b);
            }
        }
        Op::Reinitialize { seed } => {
            let _ = model.reinitialize(Init::default(), *seed);
        }
        Op::RemoveConnections { from, to } => {
            let _ = model.remove_connections(&[(*from, *to)]);
        }
        Op::Iterative { rounds, amount } => {
            let _ = IterativePruning {
                rounds: *rounds,
                pruning: WeightPruning::magnitude(*amount),
                retrain: TrainParams::new(loss, Adam::new(0.05)).epochs(1),
            }
            .run(model, data, data, Metric::Accuracy);
        }
        Op::Lottery { rounds, amount } => {
            let search = LotteryTicket {
                rounds: *rounds,
                amount_per_round: *amount,
                rewind: Rewind::Init,
                scope: Scope::Layerwise,
                skip: Vec::new(),
                train: TrainParams::new(loss, Adam::new(0.05)).epochs(1),
            };
            let _ = search.run(model, data, data, Metric::Accuracy);
        }
    }
    assert!(
        masks_hold(model),
        "{op:?} left a masked weight or bias non-zero"
    );
}

fn cases() -> u32 {
    std::env::var("PRUNELAB_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_call_sequences_never_panic_and_keep_pruned_weights_zero(
        sizes in proptest::collection::vec(1usize..7, 1..5),
        dense in any::<bool>(),
        bias in any::<bool>(),
        out in any::<u8>(),
        samples in 1usize..25,
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..12),
    ) {
        // One-entry size lists and zero sizes are errors too; the sequence then has nothing to act on.
        let Some((mut model, data, loss)) = setup(&sizes, dense, bias, out, samples, seed) else {
            prop_assert!(sizes.len() < 2, "{sizes:?} should build");
            return Ok(());
        };
        for op in &ops {
            step(&mut model, &data, loss, op);
        }
    }
}
