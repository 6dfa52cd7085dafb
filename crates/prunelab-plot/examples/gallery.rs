//! Renders every chart type into a folder (default `target/gallery`).
//!
//! Run with `cargo run --release -p prunelab-plot --example gallery [DIR]`.

use ndarray::array;
use prunelab::prelude::*;
use prunelab_plot::{
    Chart, LineChart, NetworkPlot, Plot, PruningAnimation, ScatterMatrix, ThresholdSweepPlot,
    WeightHistogram,
};

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/gallery".into()),
    );
    std::fs::create_dir_all(&dir)?;

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
    .alpha(0.1);
    let mut trainer = params.trainer()?;
    let history = trainer.fit_validated(&mut model, &train, &test, Metric::AveragePrecision)?;
    history.plot()?.save(dir.join("history.png"))?;
    ScatterMatrix::new(&data::iris_binary())
        .draw()?
        .save(dir.join("scatter.png"))?;
    model.plot()?.save(dir.join("network.png"))?;
    let sweep = ThresholdSweep::linspace(&model, 1000)?.run_metric(
        &model,
        &test,
        Metric::AveragePrecision,
    )?;
    ThresholdSweepPlot::new(&sweep)
        .bound(0.9)
        .draw()?
        .save(dir.join("sweep.png"))?;

    let hand = Mlp::from_layers(
        2,
        Topology::Chain,
        vec![
            Dense::new(
                array![[1.0, -1.0], [5.0, 2.0]],
                Some(array![0.1, 0.2]),
                Activation::Relu,
            )?,
            Dense::new(
                array![[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]],
                Some(array![-0.2, 0.1, 0.3, 0.5]),
                Activation::Relu,
            )?,
            Dense::new(
                array![[0.1, -0.2, 0.3, 0.1], [-0.1, 0.8, 0.1, -0.4]],
                Some(array![0.1, -0.2]),
                Activation::Identity,
            )?,
        ],
    )?;
    let mut pruned = hand.clone();
    UnitPruning::l1(0.5).apply(&mut pruned)?;
    NetworkPlot::before_after(&hand, &pruned)?.save(dir.join("before_after.png"))?;

    let digits = data::digits()?;
    let mut net = Mlp::config(&[64, 128, 64, 10])
        .output_activation(Activation::Softmax)
        .seed(1)
        .build()?;
    TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
        .epochs(20)
        .batch_size(BatchSize::Size(64))
        .fit(&mut net, &digits)?;
    let table = SparsitySweep::new(vec![0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99])
        .skip(&[2])
        .run_metric(&net, &digits, Metric::Accuracy)?;
    table.plot()?.save(dir.join("sparsity.png"))?;
    WeightHistogram::new(&net)
        .draw()?
        .save(dir.join("histogram.png"))?;
    let curves = LineChart::new("original vs pruned")
        .log_y(true)
        .x_label("epoch")
        .y_label("loss")
        .values("original", &history.loss)
        .values(
            "pruned",
            &history.loss.iter().map(|v| v * 1.5).collect::<Vec<_>>(),
        )
        .draw()?;
    Chart::grid(&[curves.clone(), curves], 2)?.save(dir.join("grid.png"))?;
    PruningAnimation::thresholds(&model, &[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8])?
        .metric("AP", |m| Metric::AveragePrecision.evaluate(m, &test))
        .draw()?
        .save(dir.join("pruning.gif"))?;
    println!("charts written to {}", dir.display());
    Ok(())
}
