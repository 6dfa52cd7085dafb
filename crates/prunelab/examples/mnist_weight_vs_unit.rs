//! Notebook 04's experiment from the command line: a 784-1000-1000-500-200-10 bias-free network trained on
//! MNIST (PyTorch's default initialisation, inputs in [-1, 1], Adam 1e-3, batch 100, 3 epochs), then pruned
//! by weight magnitude and by unit L2 norm at sparsities 0 to 0.99 without retraining.
//!
//! ```sh
//! cargo run --release -p prunelab --example mnist_weight_vs_unit [SEED]
//! ```
//! MNIST comes from `data::mnist()`: `PRUNELAB_MNIST_DIR`, else the cache, downloaded on first use.

use prunelab::prelude::*;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let seed: u64 = std::env::args().nth(1).map_or(Ok(0), |s| s.parse())?;
    let (train, test) = data::mnist()?;
    let (train, test) = (train.normalized(0.5, 0.5)?, test.normalized(0.5, 0.5)?);
    let mut model = Mlp::config(&[784, 1000, 1000, 500, 200, 10])
        .output_activation(Activation::Softmax)
        .bias(false)
        .init(Init::KaimingUniform)
        .seed(seed)
        .build()?;
    let start = std::time::Instant::now();
    let history = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
        .epochs(3)
        .batch_size(BatchSize::Size(100))
        .seed(seed)
        .fit(&mut model, &train)?;
    let losses: Vec<String> = history.loss.iter().map(|l| format!("{l:.3}")).collect();
    println!(
        "seed {seed}: loss per epoch {}; test accuracy {:.4}; trained in {:.1} s",
        losses.join(" / "),
        Metric::Accuracy.evaluate(&model, &test)?,
        start.elapsed().as_secs_f64()
    );
    let table = SparsitySweep::new(vec![0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99])
        .skip(&[4])
        .run_metric(&model, &test, Metric::Accuracy)?;
    println!("{table}");
    Ok(())
}
