//! The classic pruning example's network: iris setosa vs versicolour, 70/30 split, a 4-5-3-1 MLP trained
//! with SGD (Nesterov momentum 0.9, learning rate 0.001, L2 alpha 0.1) for 1000 full-batch epochs, as
//! scikit-learn's `MLPClassifier(solver='sgd', alpha=0.1, hidden_layer_sizes=(5, 3), max_iter=1000)`.
//!
//! Run with `cargo run --release --example iris`.

use prunelab::prelude::*;

fn main() -> Result<()> {
    let (train, test) = data::iris_binary().split(0.7, 42)?;
    let mut model = Mlp::config(&[4, 5, 3, 1])
        .output_activation(Activation::Sigmoid)
        .seed(42)
        .build()?;
    let params = TrainParams::new(
        Loss::BinaryCrossEntropy,
        Sgd::new(0.001).momentum(0.9).nesterov(true),
    )
    .epochs(1000)
    .alpha(0.1)
    .seed(42)
    .progress(Progress::Every(200));
    let history = params.fit(&mut model, &train)?;
    println!("{history}");
    for epoch in [1, 10, 100, 500, 1000] {
        println!(
            "  loss after epoch {epoch:>4}: {:.6}",
            history.loss[epoch - 1]
        );
    }
    let scores = model.predict_score(&test.records)?;
    let ap = metrics::average_precision(test.labels()?, &scores)?;
    let acc = metrics::accuracy(test.labels()?, &model.predict(&test.records)?)?;
    println!(
        "test AP {ap:.4}, test accuracy {acc:.4} ({} test samples)",
        test.n_samples()
    );
    Ok(())
}
