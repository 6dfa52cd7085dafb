//! prunelab's side of the peer comparison (`benches/peers/run.sh` runs it and the Python peers with the
//! same workloads). Prints one JSON object per workload: name, seconds (median of the runs), and the work
//! done, so the harness can compute throughput and GFLOP/s. Thread count: rayon's (`RAYON_NUM_THREADS`).
//!
//! Workloads (shapes shared with `peers.py`):
//! - `a`: iris 4-5-3-1, SGD (Nesterov 0.9, lr 1e-3) with alpha 0.1, 1000 full-batch epochs, then the
//!   1000-threshold AP sweep on the test split;
//! - `b`: 784-1000-1000-500-200-10 bias-free, batch 100, Adam: one epoch of 2000 samples;
//! - `c`: that network's inference on a batch of 10,000, dense and 90% unstructured pruned (sparse kernels).

use std::time::Instant;

use ndarray::Array2;
use prunelab::prelude::*;

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn time<T>(reps: usize, mut f: impl FnMut() -> Result<T>) -> Result<f64> {
    f()?; // warm-up
    let mut runs = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(f()?);
        runs.push(t.elapsed().as_secs_f64());
    }
    Ok(median(runs))
}

fn report(name: &str, seconds: f64, samples: usize) {
    println!("{{\"workload\": \"{name}\", \"seconds\": {seconds:.6}, \"samples\": {samples}}}");
}

/// A deterministic pseudo-random matrix in [0, 1) (the same generator as `peers.py`).
fn inputs(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array2::from_shape_simple_fn((rows, cols), || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32) / (1u64 << 24) as f32
    })
}

fn big_network() -> Result<Mlp> {
    Mlp::config(&[784, 1000, 1000, 500, 200, 10])
        .output_activation(Activation::Softmax)
        .bias(false)
        .init(Init::KaimingUniform)
        .seed(0)
        .build()
}

fn main() -> Result<()> {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |w: &str| only.is_empty() || only.iter().any(|o| o == w);

    if wants("a") {
        let (train, test) = data::iris_binary().split(0.7, 42)?;
        let params = TrainParams::new(
            Loss::BinaryCrossEntropy,
            Sgd::new(0.001).momentum(0.9).nesterov(true),
        )
        .epochs(1000)
        .alpha(0.1)
        .batch_size(BatchSize::Full)
        .seed(42);
        let s = time(20, || {
            let mut model = Mlp::config(&[4, 5, 3, 1])
                .output_activation(Activation::Sigmoid)
                .seed(42)
                .build()?;
            params.fit(&mut model, &train)?;
            ThresholdSweep::linspace(&model, 1000)?.run_metric(
                &model,
                &test,
                Metric::AveragePrecision,
            )
        })?;
        report("a", s, train.n_samples());
    }
    if wants("b") {
        let n = 2000;
        let x = inputs(n, 784, 1);
        let labels = ndarray::Array1::from_iter((0..n).map(|i| (i * 7 + i / 3) % 10));
        let data = Dataset::classification(x, labels, 10)?;
        let mut model = big_network()?;
        let mut trainer = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
            .epochs(1)
            .batch_size(BatchSize::Size(100))
            .seed(0)
            .trainer()?;
        let s = time(3, || trainer.fit(&mut model, &data))?;
        report("b", s, n);
    }
    if wants("c") {
        let x = inputs(10_000, 784, 2);
        let dense = big_network()?;
        let s = time(5, || dense.forward(&x))?;
        report("c-dense", s, 10_000);
        let mut pruned = dense.clone();
        prune_to_sparsity(&mut pruned, 0.9, Scope::Layerwise, &[])?;
        let sparse = pruned.to_sparse();
        let s = time(5, || sparse.forward(&x))?;
        report("c-sparse90", s, 10_000);
    }
    Ok(())
}
