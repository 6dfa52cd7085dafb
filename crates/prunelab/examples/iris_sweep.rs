//! The classic threshold sweep: the iris 4-5-3-1 network (setosa vs versicolour, 70/30 split, SGD with L2
//! alpha 0.1, 1000 epochs), then 1000 magnitude thresholds from 0 to the largest |w|, with test average
//! precision and weights removed at each; the largest threshold keeping AP > 0.9.
//!
//! Run with `cargo run --release --example iris_sweep`.

use prunelab::prelude::*;

fn main() -> Result<()> {
    let (train, test) = data::iris_binary().split(0.7, 42)?;
    let mut model = Mlp::config(&[4, 5, 3, 1])
        .output_activation(Activation::Sigmoid)
        .seed(42)
        .build()?;
    TrainParams::new(
        Loss::BinaryCrossEntropy,
        Sgd::new(0.001).momentum(0.9).nesterov(true),
    )
    .epochs(1000)
    .alpha(0.1)
    .seed(42)
    .fit(&mut model, &train)?;
    let ap = metrics::average_precision(test.labels()?, &model.predict_score(&test.records)?)?;
    let hard = model.predict(&test.records)?.mapv(|l| l as f32);
    let ap_hard = metrics::average_precision(test.labels()?, &hard)?;
    println!("test AP from probabilities {ap:.4}, from hard labels {ap_hard:.4}");

    let start = std::time::Instant::now();
    let sweep = ThresholdSweep::linspace(&model, 1000)?.run_metric(
        &model,
        &test,
        Metric::AveragePrecision,
    )?;
    let elapsed = start.elapsed();
    println!("1000-point sweep in {:.2} ms", elapsed.as_secs_f64() * 1e3);
    match sweep.best_threshold(0.9) {
        Some(best) => println!(
            "largest threshold keeping AP > 0.9: {:.4}; {} of {} weights removed ({:.1}%), AP {:.4}",
            best.threshold,
            best.removed,
            sweep.total_weights,
            100.0 * best.removed as f64 / sweep.total_weights as f64,
            best.metric
        ),
        None => println!("AP is not above 0.9 even unpruned"),
    }
    if let Some(any) = sweep.largest_threshold_above(0.9) {
        println!(
            "largest threshold with AP > 0.9 anywhere: {:.4} ({} removed)",
            any.threshold, any.removed
        );
    }
    Ok(())
}
