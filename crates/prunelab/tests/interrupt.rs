//! Interrupts (Jupyter's stop button, or `interrupt::request`) stop long computations between steps with
//! `Error::Interrupted`, keep what was finished, and are consumed by the check that sees them. One test
//! function: the pending request is process-wide.

use prunelab::interrupt;
use prunelab::prelude::*;

fn xor_model(seed: u64) -> Result<Mlp> {
    Mlp::config(&[2, 8, 1])
        .output_activation(Activation::Sigmoid)
        .seed(seed)
        .build()
}

#[test]
fn interrupts_stop_between_steps_and_keep_the_work() -> Result<()> {
    let data = data::xor();
    let params = TrainParams::new(Loss::BinaryCrossEntropy, Adam::new(0.05))
        .epochs(20)
        .batch_size(BatchSize::Size(1))
        .progress(Progress::Silent);

    // Training: stopped before its first step, the weights are untouched and the trainer counts no epoch.
    let mut model = xor_model(3)?;
    let before = model.clone();
    let mut trainer = params.clone().trainer()?;
    interrupt::request();
    match trainer.fit(&mut model, &data) {
        Err(Error::Interrupted { what, at }) => {
            assert_eq!(what, "training");
            assert_eq!(at, "before epoch 1 of 20");
        }
        other => panic!("expected an interrupt, got {other:?}"),
    }
    assert_eq!(model, before);
    assert_eq!((trainer.epochs_done(), trainer.steps_done()), (0, 0));

    // The request was consumed: the same trainer goes on, and training is exactly as without the stop.
    let history = trainer.fit(&mut model, &data)?;
    let mut reference = before.clone();
    let reference_history = params.fit(&mut reference, &data)?;
    assert_eq!(history.loss, reference_history.loss);
    assert_eq!(model, reference);

    // Interrupts reach into sweeps (the model unchanged) and forward passes.
    interrupt::request();
    let sweep = ThresholdSweep::linspace(&model, 50)?.run_metric(&model, &data, Metric::Accuracy);
    assert!(
        matches!(
            sweep,
            Err(Error::Interrupted {
                what: "the threshold sweep",
                ..
            })
        ),
        "{sweep:?}"
    );
    assert_eq!(model, reference);
    interrupt::request();
    let sweep = SparsitySweep::new(vec![0.5, 0.9]).run_metric(&model, &data, Metric::Accuracy);
    assert!(
        matches!(
            sweep,
            Err(Error::Interrupted {
                what: "the sparsity sweep",
                ..
            })
        ),
        "{sweep:?}"
    );
    interrupt::request();
    assert!(matches!(
        model.forward(&data.records),
        Err(Error::Interrupted { .. })
    ));
    let sparse = model.to_sparse();
    interrupt::request();
    assert!(matches!(
        sparse.forward(&data.records),
        Err(Error::Interrupted { .. })
    ));
    model.forward(&data.records)?;

    // A loop of the user's own stops at `interrupt::check()`.
    interrupt::request();
    let stopped = (0..3).try_for_each(|_| interrupt::check());
    assert_eq!(
        stopped.unwrap_err().to_string(),
        "interrupted: a loop in the cell stopped at `interrupt::check()`"
    );
    interrupt::check()?;

    // Schedules name their round and the inner step.
    let search = LotteryTicket {
        rounds: 2,
        amount_per_round: 0.3,
        rewind: Rewind::Init,
        scope: Scope::Layerwise,
        skip: vec![],
        train: params.clone(),
    };
    let mut ticket = xor_model(4)?;
    interrupt::request();
    match search.run(&mut ticket, &data, &data, Metric::Accuracy) {
        Err(Error::Interrupted { what, at }) => {
            assert_eq!(what, "the lottery ticket");
            assert!(at.starts_with("in round 0 of 2"), "{at}");
        }
        other => panic!("expected an interrupt, got {other:?}"),
    }

    // A request from another thread while training runs stops it part-way, between two steps.
    let mut long = xor_model(5)?;
    let start = long.clone();
    let params = params.epochs(1_000_000);
    let stopper = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        interrupt::request();
    });
    let err = params.fit(&mut long, &data).unwrap_err();
    stopper.join().expect("the stopping thread");
    assert!(
        matches!(
            err,
            Error::Interrupted {
                what: "training",
                ..
            }
        ),
        "{err}"
    );
    assert_ne!(long, start, "the steps before the stop are kept");
    assert!(long.forward(&data.records)?.iter().all(|v| v.is_finite()));

    // A network whose layers train sparse, stopped part-way, has exactly the weights of its last completed
    // step: those of dense masked training for the same steps (its sparse layers update their kept weights
    // apart from the weight matrices, which get them back when training stops).
    let digits = data::digits()?;
    let mut masked = Mlp::config(&[64, 48, 32, 10])
        .output_activation(Activation::Softmax)
        .seed(6)
        .build()?;
    WeightPruning::magnitude(0.9).apply(&mut masked)?;
    let start = masked.clone();
    let params = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
        .epochs(1_000_000)
        .batch_size(BatchSize::Size(1))
        .shuffle(false)
        .progress(Progress::Silent);
    let stopper = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        interrupt::request();
    });
    let mut sparse = start.clone();
    let err = params
        .clone()
        .sparse_density(1.0)
        .fit(&mut sparse, &digits)
        .unwrap_err();
    stopper.join().expect("the stopping thread");
    let Error::Interrupted { at, .. } = &err else {
        panic!("expected an interrupt, got {err}")
    };
    // "in epoch E of N after S of T steps; ..."
    let words: Vec<&str> = at.split_whitespace().collect();
    let epoch: usize = words[2].parse().expect("the epoch");
    let steps: usize = words[6].parse().expect("the steps");
    let mut dense = start.clone();
    let mut trainer = params.clone().sparse_density(0.0).trainer()?;
    if epoch > 1 {
        trainer.set_epochs(epoch - 1)?;
        trainer.fit(&mut dense, &digits)?;
    }
    if steps > 0 {
        let first: Vec<usize> = (0..steps).collect();
        trainer.set_epochs(1)?;
        trainer.fit(&mut dense, &digits.select(&first)?)?;
    }
    assert!(epoch > 1 || steps > 0, "stopped before any step: {at}");
    assert_eq!(sparse, dense, "stopped {at}");
    Ok(())
}
