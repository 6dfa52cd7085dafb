//! Training benchmarks: one epoch of the 784-1000-1000-500-200-10 bias-free network (batch 100, Adam) and
//! the iris workload (4-5-3-1, SGD with alpha 0.1, 1000 full-batch epochs).
//!
//! Run with `cargo bench -p prunelab --bench train`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::{Array1, Array2};
use prunelab::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Samples per epoch of the large-network benchmark.
const SAMPLES: usize = 1000;

fn mnist_like() -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = Array2::from_shape_fn((SAMPLES, 784), |_| rng.gen_range(0.0f32..1.0));
    let y = Array1::from_shape_fn(SAMPLES, |_| rng.gen_range(0..10usize));
    Dataset::classification(x, y, 10).unwrap()
}

fn large_epoch(c: &mut Criterion) {
    let data = mnist_like();
    let mut model = Mlp::config(&[784, 1000, 1000, 500, 200, 10])
        .output_activation(Activation::Softmax)
        .bias(false)
        .init(Init::KaimingUniform)
        .build()
        .unwrap();
    let mut trainer = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
        .epochs(1)
        .batch_size(BatchSize::Size(100))
        .trainer()
        .unwrap();
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.throughput(Throughput::Elements(SAMPLES as u64));
    group.bench_function(
        "784-1000-1000-500-200-10 epoch (1000 samples, batch 100, adam)",
        |b| b.iter(|| trainer.fit(&mut model, &data).unwrap()),
    );
    group.finish();
}

fn iris(c: &mut Criterion) {
    let (train, _) = data::iris_binary().split(0.7, 42).unwrap();
    let params = TrainParams::new(
        Loss::BinaryCrossEntropy,
        Sgd::new(0.001).momentum(0.9).nesterov(true),
    )
    .epochs(1000)
    .alpha(0.1);
    c.bench_function("train/iris 4-5-3-1 sgd 1000 epochs", |b| {
        b.iter(|| {
            let mut model = Mlp::config(&[4, 5, 3, 1])
                .output_activation(Activation::Sigmoid)
                .seed(42)
                .build()
                .unwrap();
            params.fit(&mut model, &train).unwrap()
        })
    });
}

criterion_group!(benches, large_epoch, iris);
criterion_main!(benches);
