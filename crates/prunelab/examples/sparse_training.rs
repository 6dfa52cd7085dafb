//! Measures on this machine the time of a training step (batch 100, Adam, the benchmark network
//! 784-1000-1000-500-200-10 with every layer pruned by magnitude to a density) through the dense kernels
//! and through the sparse ones, and prints the densities below which the sparse path wins: the measurement
//! behind `prunelab::nn::train_crossover` (pass another with `TrainParams::sparse_density`). Both paths
//! give the same weights, bit for bit; this is checked here too.
//!
//! `cargo run --release -p prunelab --example sparse_training [STEPS [DENSITY...]]` (default 60 steps per
//! timing and densities 1 to 0.02; set `RAYON_NUM_THREADS` for the thread count). `SIZES=64,300,100,10` and
//! `BATCH=60` in the environment measure another network (notebook 06's, say); `SPARSE_ONLY=1` times the
//! sparse path alone (for a profiler); `RUNS=10` takes the best of ten fits instead of three.
use std::time::Instant;

use ndarray::Array2;
use prunelab::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let steps: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(60);
    let mut densities: Vec<f64> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    if densities.is_empty() {
        densities = vec![1.0, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02];
    }
    let sizes: Vec<usize> = match std::env::var("SIZES") {
        Ok(s) => s.split(',').filter_map(|v| v.trim().parse().ok()).collect(),
        Err(_) => vec![784, 1000, 1000, 500, 200, 10],
    };
    let batch: usize = std::env::var("BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(100);
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let sparse_only = std::env::var("SPARSE_ONLY").is_ok_and(|v| v == "1");
    let classes = *sizes.last().expect("sizes");
    // MNIST-shaped data: inputs in [0, 1), ten classes.
    let n = steps * batch;
    let mut state = 1u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let x = Array2::from_shape_simple_fn((n, sizes[0]), &mut next);
    let y: Vec<usize> = (0..n)
        .map(|_| (next() * classes as f32) as usize % classes)
        .collect();
    let data = Dataset::classification(x, y.into(), classes)?;
    let params = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
        .epochs(1)
        .batch_size(BatchSize::Size(batch))
        .shuffle(false);
    println!(
        "one epoch of {steps} steps of {batch} samples, Adam, {sizes:?}, {} thread(s); ms per step",
        rayon::current_num_threads()
    );
    println!(
        "{:>8} {:>9} {:>9} {:>8} {:>6}",
        "density", "dense", "sparse", "ratio", "bits"
    );
    let mut unpruned = None;
    for density in densities {
        let mut model = Mlp::config(&sizes)
            .output_activation(Activation::Softmax)
            .seed(1)
            .build()?;
        if density < 1.0 {
            WeightPruning::magnitude(1.0 - density).apply(&mut model)?;
        }
        let mut times = [0.0f64; 2];
        let mut results = Vec::new();
        for (i, d) in [0.0, 1.0].into_iter().enumerate() {
            if sparse_only && d == 0.0 {
                results.push(model.clone());
                continue;
            }
            let mut best = f64::INFINITY;
            let mut trained = model.clone();
            for _ in 0..runs.max(1) {
                trained = model.clone();
                let p = params.clone().sparse_density(d);
                let s = Instant::now();
                p.fit(&mut trained, &data)?;
                best = best.min(s.elapsed().as_secs_f64());
            }
            times[i] = best * 1e3 / steps as f64;
            results.push(trained);
        }
        let same = sparse_only || results[0] == results[1];
        if density == 1.0 {
            unpruned = Some(times[0]);
        }
        println!(
            "{density:>8.2} {:>9.2} {:>9.2} {:>7.2}x {:>6}",
            times[0],
            times[1],
            times[0] / times[1],
            if same { "same" } else { "DIFFER" }
        );
    }
    if let Some(t) = unpruned {
        println!("unpruned dense step: {t:.2} ms");
    }
    Ok(())
}
