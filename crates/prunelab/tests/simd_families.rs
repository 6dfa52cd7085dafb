//! The same numbers from every kernel family this CPU runs and from any thread count: training, dense and
//! sparse inference, pruning and a sweep, compared bit for bit. (An AVX-512 machine checks three families,
//! an AVX2 machine two.) One test in its own binary: it switches the process's family.

use ndarray::Array2;
use prunelab::kernels::{self, SimdFamily};
use prunelab::prelude::*;

/// A deterministic input matrix in [-1, 1).
fn inputs(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005) | 1;
    Array2::from_shape_simple_fn((rows, cols), || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32) / (1u64 << 23) as f32 - 1.0
    })
}

fn bits(out: &mut Vec<u32>, a: &Array2<f32>) {
    out.extend(a.iter().map(|v| v.to_bits()));
}

/// Every workload's numbers, as bit patterns.
fn workloads() -> Vec<u32> {
    let mut out = Vec::new();
    // Training on digits with Adam in batches (products of every path: small, blocked, accumulated).
    let (train, test) = data::digits().unwrap().split(0.7, 3).unwrap();
    let mut model = Mlp::config(&[64, 96, 48, 10])
        .output_activation(Activation::Softmax)
        .seed(5)
        .build()
        .unwrap();
    let history = TrainParams::new(Loss::CrossEntropy, Adam::new(3e-3))
        .epochs(3)
        .batch_size(BatchSize::Size(50))
        .seed(1)
        .fit(&mut model, &train)
        .unwrap();
    out.extend(history.loss.iter().map(|v| v.to_bits()));
    bits(&mut out, &model.forward(&test.records).unwrap());
    // Pruned, fine-tuned, then run dense and sparse (one to three samples, vectors of samples).
    WeightPruning::magnitude(0.8)
        .global()
        .apply(&mut model)
        .unwrap();
    TrainParams::new(Loss::CrossEntropy, Sgd::new(0.05).momentum(0.9))
        .epochs(1)
        .batch_size(BatchSize::Size(64))
        .fit(&mut model, &train)
        .unwrap();
    let dense = model.forward(&test.records).unwrap();
    bits(&mut out, &dense);
    let sparse = model.to_sparse();
    for n in [1, 2, 3, 16, 100, test.records.nrows()] {
        let x = test.records.slice(ndarray::s![..n, ..]);
        let s = sparse.forward(x).unwrap();
        // The sparse product equals the dense one bit for bit.
        assert_eq!(
            s,
            dense.slice(ndarray::s![..n, ..]),
            "sparse vs dense at {n} samples"
        );
        bits(&mut out, &s);
    }
    // A sweep over sparsities.
    let table = SparsitySweep::new(vec![0.0, 0.5, 0.9])
        .run_metric(&model, &test, Metric::Accuracy)
        .unwrap();
    out.extend(table.rows.iter().map(|r| (r.metric as f32).to_bits()));
    // A wider network: blocks of `k` longer than one packing step, one to four rows against a matrix.
    let wide = Mlp::config(&[300, 700, 300, 10]).seed(9).build().unwrap();
    for n in [1, 3, 4, 5, 50, 600] {
        bits(&mut out, &wide.forward(&inputs(n, 300, n as u64)).unwrap());
    }
    // A network of dense and sparse layers (the first kept whole): at one to three samples its dense
    // layer streams packed weights inside the sparse pass.
    let mut mixed = wide.clone();
    prune_to_sparsity(&mut mixed, 0.9, Scope::Layerwise, &[0]).unwrap();
    let mixed_sparse = mixed.to_sparse();
    assert_eq!(mixed_sparse.sparse_layers(), 2);
    for n in [1, 2, 3, 40] {
        let x = inputs(n, 300, 100 + n as u64);
        let s = mixed_sparse.forward(&x).unwrap();
        assert_eq!(
            s,
            mixed.forward(&x).unwrap(),
            "mixed network at {n} samples"
        );
        bits(&mut out, &s);
    }
    let mut wide = wide;
    let x = inputs(200, 300, 77);
    let y = inputs(200, 10, 78);
    TrainParams::new(Loss::Mse, Sgd::new(0.01))
        .epochs(2)
        .batch_size(BatchSize::Size(100))
        .fit(&mut wide, &Dataset::regression(x.clone(), y).unwrap())
        .unwrap();
    bits(&mut out, &wide.forward(&x).unwrap());
    out
}

#[test]
fn every_family_and_thread_count_gives_the_same_bits() {
    let families = kernels::supported_families();
    assert!(families.contains(&SimdFamily::Portable));
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut first: Option<(SimdFamily, Vec<u32>)> = None;
    for &family in &families {
        kernels::force_family(family).unwrap();
        assert_eq!(kernels::active_family().unwrap(), family);
        for (threads, got) in [
            ("all threads", workloads()),
            ("one thread", one_thread.install(workloads)),
        ] {
            match &first {
                None => first = Some((family, got)),
                Some((f0, want)) => {
                    assert_eq!(want.len(), got.len());
                    let diff = want.iter().zip(&got).position(|(a, b)| a != b);
                    assert!(
                        diff.is_none(),
                        "{family} with {threads} differs from {f0} at value {}: {} vs {}",
                        diff.unwrap(),
                        f32::from_bits(got[diff.unwrap()]),
                        f32::from_bits(want[diff.unwrap()]),
                    );
                }
            }
        }
    }
    eprintln!("families compared: {families:?}");
}
