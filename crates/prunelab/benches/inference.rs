//! Inference on the 784-1000-1000-500-200-10 bias-free network, batch 1000: dense; masked at 50-99%
//! unstructured sparsity through the sparse kernels; and compacted after 25/50/75% unit pruning.
//!
//! Run with `cargo bench -p prunelab --bench inference`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ndarray::Array2;
use prunelab::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn network() -> Mlp {
    Mlp::config(&[784, 1000, 1000, 500, 200, 10])
        .output_activation(Activation::Softmax)
        .bias(false)
        .init(Init::KaimingUniform)
        .build()
        .unwrap()
}

fn inference(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = Array2::from_shape_fn((1000, 784), |_| rng.gen_range(0.0f32..1.0));
    let dense = network();
    let mut group = c.benchmark_group("inference 784-1000-1000-500-200-10, batch 1000");
    group.sample_size(10);
    group.bench_function("dense", |b| b.iter(|| dense.forward(&x).unwrap()));
    for sparsity in [0.5, 0.8, 0.9, 0.95, 0.99] {
        let mut m = dense.clone();
        prune_to_sparsity(&mut m, sparsity, Scope::Layerwise, &[]).unwrap();
        let sparse = m.to_sparse_with_crossover(1.0, 1.0).unwrap();
        group.bench_with_input(
            BenchmarkId::new("sparse kernels", sparsity),
            &sparse,
            |b, s| b.iter(|| s.forward(&x).unwrap()),
        );
    }
    for fraction in [0.25, 0.5, 0.75] {
        let mut m = dense.clone();
        UnitPruning::new(
            UnitScore::Incoming {
                norm: Norm::L2,
                with_bias: false,
            },
            fraction,
        )
        .apply(&mut m)
        .unwrap();
        let compact = m.compact().unwrap();
        group.bench_with_input(
            BenchmarkId::new("compacted after unit pruning", fraction),
            &compact,
            |b, m| b.iter(|| m.forward(&x).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, inference);
criterion_main!(benches);
