//! Measures on this machine a network's inference time with every layer on the CSR product and with every
//! layer dense, over densities (each layer pruned to it by magnitude) and batch sizes, and prints the
//! densities below which the CSR product wins: the measurement behind `prunelab::prune::CROSSOVER_FEW` and
//! `CROSSOVER_MANY`, which `Mlp::to_sparse` uses (pass this machine's figures to
//! `Mlp::to_sparse_with_crossover` to use them instead).
//!
//! `cargo run --release -p prunelab --example sparse_crossover [SIZES...]` (default the benchmark network
//! 784 1000 1000 500 200 10; set `RAYON_NUM_THREADS` for the thread count).
use std::time::Instant;

use ndarray::Array2;
use prunelab::prelude::*;

/// The best of three timings of `reps` forward passes, per pass.
fn time(m: &SparseMlp, x: &Array2<f32>, reps: usize) -> Result<f64> {
    m.forward(x)?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let s = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(m.forward(x)?);
        }
        best = best.min(s.elapsed().as_secs_f64() / reps as f64);
    }
    Ok(best)
}

fn main() -> Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if args.len() >= 2 {
        args
    } else {
        vec![784, 1000, 1000, 500, 200, 10]
    };
    let weights: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum();
    let batches = [1usize, 2, 3, 4, 8, 16, 32, 64, 128, 1024];
    let densities = [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6];
    println!(
        "CSR time / dense time for the {sizes:?} network (below 1: the CSR product is faster)"
    );
    print!("{:>8}", "density");
    for n in batches {
        print!(" {n:>6}");
    }
    println!("  samples");
    // Per density: whether the CSR product won at every batch of 1-3 samples, and of more.
    let mut wins = Vec::new();
    for density in densities {
        let mut model = Mlp::config(&sizes).bias(false).seed(1).build()?;
        WeightPruning::magnitude(1.0 - density).apply(&mut model)?;
        let (sparse, dense) = (
            model.to_sparse_with_crossover(1.0, 1.0)?,
            model.to_sparse_with_crossover(0.0, 0.0)?,
        );
        print!("{density:>8.2}");
        let (mut few, mut many) = (true, true);
        for n in batches {
            let x = Array2::from_shape_fn((n, sizes[0]), |(i, j)| {
                ((i * 7 + j * 13) % 17) as f32 / 17.0
            });
            let reps = (4_000_000 / (n * weights / 1000).max(1)).clamp(5, 4000);
            let ratio = time(&sparse, &x, reps)? / time(&dense, &x, reps)?;
            print!(" {ratio:>6.2}");
            *(if n <= 3 { &mut few } else { &mut many }) &= ratio < 1.0;
        }
        println!();
        wins.push((density, few, many));
    }
    // The highest density up to which the CSR product won at every density of the group.
    let up_to = |pick: fn(&(f64, bool, bool)) -> bool| {
        wins.iter()
            .take_while(|w| pick(w))
            .last()
            .map_or("nowhere".to_string(), |w| format!("density {}", w.0))
    };
    println!(
        "the CSR product wins up to {} for 1-3 samples and up to {} for more",
        up_to(|w| w.1),
        up_to(|w| w.2)
    );
    println!(
        "in use: CROSSOVER_FEW = {}, CROSSOVER_MANY = {}",
        prunelab::prune::CROSSOVER_FEW,
        prunelab::prune::CROSSOVER_MANY
    );
    Ok(())
}
