//! prunelab's side of the peer comparison (`benches/peers/run.sh` runs it and the Python peers with the
//! same workloads). Prints one JSON object per workload: name, seconds (median of the runs), and the work
//! done, so the harness can compute throughput and GFLOP/s. Thread count: rayon's (`RAYON_NUM_THREADS`).
//!
//! Workloads (shapes shared with `peers.py`):
//! - `a`: iris 4-5-3-1, SGD (Nesterov 0.9, lr 1e-3) with alpha 0.1, 1000 full-batch epochs, then the
//!   1000-threshold AP sweep on the test split;
//! - `b`: 784-1000-1000-500-200-10 bias-free, batch 100, Adam: one epoch of 2000 samples;
//! - `t`: that network with 90% and 98% of every layer's weights pruned, one epoch of the same samples in
//!   order (batch 100, Adam): through the sparse kernels, through the dense ones with masks, and unpruned;
//!   the pruned networks before and after the epoch are written for `peers.py` to train the same in PyTorch;
//! - `c`: that network's inference on a batch of 10,000, dense and 90% unstructured pruned (sparse kernels),
//!   the sparse one also with its heap shifted by 16, 32 and 48 bytes (the times must not move), and its
//!   spread over ten runs beside the spreads of an FMA loop and of a memory read run between them (the
//!   machine's own noise);
//! - `c1`: the same two networks on one sample (latency);
//! - `peak`: the measured f32 FMA peak of this machine with rayon's threads (independent FMA chains in
//!   registers, no memory traffic), the yardstick for GFLOP/s.

use std::time::Instant;

use ndarray::Array2;
use prunelab::kernels::SimdFamily;
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

/// As [`time`], each run on a fresh `make()` made outside the timed region (a network to train, say, as
/// the peers build theirs untimed); returns the last run's state too.
fn time_on<S, T>(
    reps: usize,
    mut make: impl FnMut() -> S,
    mut f: impl FnMut(&mut S) -> Result<T>,
) -> Result<(f64, S)> {
    let mut state = make();
    f(&mut state)?; // warm-up
    let mut runs = Vec::with_capacity(reps);
    for _ in 0..reps {
        state = make();
        let t = Instant::now();
        std::hint::black_box(f(&mut state)?);
        runs.push(t.elapsed().as_secs_f64());
    }
    Ok((median(runs), state))
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

/// The inference network: the same weights as [`big_network`], logits out.
fn big_network_logits() -> Result<Mlp> {
    Mlp::config(&[784, 1000, 1000, 500, 200, 10])
        .output_activation(Activation::Identity)
        .bias(false)
        .init(Init::KaimingUniform)
        .seed(0)
        .build()
}

/// Ten timed runs of `sparse`'s forward pass, each followed by a run of the FMA loop on every thread
/// (register work only, no memory traffic) and by six reads of a 256 MB buffer split between the threads
/// (memory bandwidth only), each about as long: their spreads are the machine's noise over the same minutes, the
/// yardsticks for the sparse runs' spread. Returns the three lists of times.
fn sparse_runs(sparse: &SparseMlp, x: &Array2<f32>) -> Result<[Vec<f64>; 3]> {
    use rayon::prelude::*;
    sparse.forward(x)?;
    let threads = rayon::current_num_threads();
    let stream = vec![1.0f32; 64 << 20];
    let mut times: [Vec<f64>; 3] = Default::default();
    for _ in 0..10 {
        let t = Instant::now();
        std::hint::black_box(sparse.forward(x)?);
        times[0].push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        std::hint::black_box(
            (0..threads)
                .into_par_iter()
                .map(|_| fma_loop(20_000_000))
                .sum::<f32>(),
        );
        times[1].push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let part = stream.len().div_ceil(threads);
        std::hint::black_box(
            stream
                .par_chunks(part)
                .map(|c| {
                    let mut acc = [0.0f32; 16];
                    for _ in 0..6 {
                        for v in c.chunks_exact(16) {
                            for (a, &v) in acc.iter_mut().zip(v) {
                                *a += v;
                            }
                        }
                    }
                    acc.iter().sum::<f32>()
                })
                .sum::<f32>(),
        );
        times[2].push(t.elapsed().as_secs_f64());
    }
    Ok(times)
}

/// Writes `values` (little-endian f32) as `target/peers/NAME`, for `peers.py`.
fn write_f32(name: &str, values: impl IntoIterator<Item = f32>) -> Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/peers");
    let io = |e: std::io::Error| Error::Io {
        path: dir.clone(),
        source: e,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let bytes: Vec<u8> = values.into_iter().flat_map(f32::to_le_bytes).collect();
    std::fs::write(dir.join(name), bytes).map_err(io)
}

/// Every layer's weights, layer by layer, row-major, pruned ones as zeros.
fn masked_weights(m: &Mlp) -> Vec<f32> {
    m.layers()
        .iter()
        .flat_map(|l| {
            let mut w = l.weight().to_owned();
            if let Some(mask) = l.mask() {
                ndarray::Zip::from(&mut w).and(&mask).for_each(|w, &k| {
                    if !k {
                        *w = 0.0
                    }
                });
            }
            w.into_iter()
        })
        .collect()
}

/// Every layer's mask as 1 (kept) and 0 (pruned), laid out as [`masked_weights`].
fn mask_values(m: &Mlp) -> Vec<f32> {
    m.layers()
        .iter()
        .flat_map(|l| match l.mask() {
            Some(mask) => mask
                .iter()
                .map(|&k| f32::from(u8::from(k)))
                .collect::<Vec<_>>(),
            None => vec![1.0; l.n_weights()],
        })
        .collect()
}

/// Writes the weights and prunelab's logits for the first 256 inputs into `target/peers/`, for `peers.py`
/// to run the same networks and compare its outputs.
fn export(dense: &Mlp, pruned: &Mlp, sparse: &SparseMlp, x: &Array2<f32>) -> Result<()> {
    let head = x.slice(ndarray::s![..256, ..]);
    write_f32("c-weights-dense.f32", masked_weights(dense))?;
    write_f32("c-weights-sparse90.f32", masked_weights(pruned))?;
    write_f32("c-logits-dense.f32", dense.forward(head)?)?;
    write_f32("c-logits-sparse90.f32", sparse.forward(head)?)
}

/// Workload b's data: 2000 pseudo-random inputs and ten classes.
fn training_data() -> Result<Dataset> {
    let n = 2000;
    let x = inputs(n, 784, 1);
    let labels = ndarray::Array1::from_iter((0..n).map(|i| (i * 7 + i / 3) % 10));
    Dataset::classification(x, labels, 10)
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
        let data = training_data()?;
        let n = data.n_samples();
        let mut model = big_network()?;
        let mut trainer = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
            .epochs(1)
            .batch_size(BatchSize::Size(100))
            .seed(0)
            .trainer()?;
        let s = time(3, || trainer.fit(&mut model, &data))?;
        report("b", s, n);
    }
    if wants("t") {
        // One epoch of pruned training in the order of the samples (so that PyTorch can follow it step for
        // step), every layer pruned by magnitude: through the sparse kernels (prunelab's default), through
        // the dense ones with masks, and the unpruned network for reference. The fit's set-up is timed too (not
        // the copy of the network it trains, made before the clock starts, as the peers make theirs).
        let data = training_data()?;
        let n = data.n_samples();
        let params = TrainParams::new(Loss::CrossEntropy, Adam::new(1e-3))
            .epochs(1)
            .batch_size(BatchSize::Size(100))
            .shuffle(false);
        let dense = big_network()?;
        let (s, _) = time_on(3, || dense.clone(), |m| params.fit(m, &data))?;
        report("t-dense", s, n);
        for (tag, sparsity) in [("t90", 0.9), ("t98", 0.98)] {
            let mut pruned = dense.clone();
            prune_to_sparsity(&mut pruned, sparsity, Scope::Layerwise, &[])?;
            let (s, trained) = time_on(3, || pruned.clone(), |m| params.fit(m, &data))?;
            report(tag, s, n);
            let masked = params.clone().sparse_density(0.0);
            let (s, _) = time_on(3, || pruned.clone(), |m| masked.fit(m, &data))?;
            report(&format!("{tag}-prunelab-masked"), s, n);
            write_f32(&format!("{tag}-init.f32"), masked_weights(&pruned))?;
            write_f32(&format!("{tag}-mask.f32"), mask_values(&pruned))?;
            write_f32(&format!("{tag}-trained.f32"), masked_weights(&trained))?;
        }
    }
    if wants("c") {
        let x = inputs(10_000, 784, 2);
        // Logits out (identity output), so every engine's outputs can be compared where they differ.
        let dense = big_network_logits()?;
        let s = time(5, || dense.forward(&x))?;
        report("c-dense", s, 10_000);
        let mut pruned = dense.clone();
        prune_to_sparsity(&mut pruned, 0.9, Scope::Layerwise, &[])?;
        let sparse = pruned.to_sparse();
        let [runs, fma, stream] = sparse_runs(&sparse, &x)?;
        report("c-sparse90", median(runs.clone()), 10_000);
        let range = |v: &[f64]| {
            (
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(0.0, f64::max),
            )
        };
        let ((lo, hi), (flo, fhi), (slo, shi)) = (range(&runs), range(&fma), range(&stream));
        println!(
            "{{\"workload\": \"c-sparse90-spread\", \"seconds\": {:.6}, \"samples\": 10000, \"min\": {lo:.6}, \"max\": {hi:.6}, \"runs\": {}, \"fma_min\": {flo:.6}, \"fma_max\": {fhi:.6}, \"stream_min\": {slo:.6}, \"stream_max\": {shi:.6}}}",
            median(runs.clone()),
            runs.len()
        );
        // Every heap block the sparse path allocates lands 16, 32 or 48 bytes further on: its work buffers
        // align themselves, so the times stay put.
        for shift in [16usize, 32, 48] {
            let s = time(5, || {
                let pad = std::hint::black_box(vec![0u8; shift]);
                let r = sparse.forward(&x);
                drop(pad);
                r
            })?;
            report(&format!("c-sparse90-shift{shift}"), s, 10_000);
        }
        export(&dense, &pruned, &sparse, &x)?;
    }
    if wants("c1") {
        let x = inputs(1, 784, 3);
        let dense = big_network_logits()?;
        report("c1-dense", time(400, || dense.forward(&x))?, 1);
        let mut pruned = dense.clone();
        prune_to_sparsity(&mut pruned, 0.9, Scope::Layerwise, &[])?;
        let sparse = pruned.to_sparse();
        report("c1-sparse90", time(400, || sparse.forward(&x))?, 1);
    }
    if wants("peak") {
        let threads = rayon::current_num_threads();
        let iters = 20_000_000u64;
        let s = time(3, || -> Result<f64> {
            use rayon::prelude::*;
            Ok((0..threads)
                .into_par_iter()
                .map(|_| fma_loop(iters))
                .sum::<f32>() as f64)
        })?;
        let flops = fma_flops_per_iter() * iters as f64 * threads as f64;
        println!(
            "{{\"workload\": \"peak\", \"seconds\": {s:.6}, \"samples\": 1, \"gflops\": {:.1}}}",
            flops / s / 1e9
        );
    }
    Ok(())
}

/// FLOPs of one iteration of [`fma_loop`]: 12 independent FMA chains of one vector each.
fn fma_flops_per_iter() -> f64 {
    let lanes = if SimdFamily::Avx512.is_supported() {
        16.0
    } else {
        8.0
    };
    12.0 * lanes * 2.0
}

/// `iters` rounds of 12 independent vector FMAs (enough chains to cover the FMA latency on two units).
fn fma_loop(iters: u64) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if SimdFamily::Avx512.is_supported() {
            // SAFETY: prunelab's one-time CPU detection found the AVX-512 family's features, AVX-512F
            // among them.
            return unsafe { fma_avx512(iters) };
        }
        if SimdFamily::Avx2.is_supported() {
            // SAFETY: prunelab's one-time CPU detection found the AVX2 family's features: AVX2 and FMA.
            return unsafe { fma_avx2(iters) };
        }
    }
    let mut a = [1.0f32; 96];
    for _ in 0..iters {
        for v in a.iter_mut() {
            *v = v.mul_add(0.999_999, 1e-7);
        }
    }
    a.iter().sum()
}

/// [`fma_loop`] in 512-bit vectors.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_avx512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let (m, c) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut a = [_mm512_set1_ps(1.0); 12];
    for _ in 0..iters {
        for v in a.iter_mut() {
            *v = _mm512_fmadd_ps(*v, m, c);
        }
    }
    let mut s = _mm512_setzero_ps();
    for v in a {
        s = _mm512_add_ps(s, v);
    }
    _mm512_reduce_add_ps(s)
}

/// [`fma_loop`] in 256-bit vectors.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_avx2(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let (m, c) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut a = [_mm256_set1_ps(1.0); 12];
    for _ in 0..iters {
        for v in a.iter_mut() {
            *v = _mm256_fmadd_ps(*v, m, c);
        }
    }
    let mut s = _mm256_setzero_ps();
    for v in a {
        s = _mm256_add_ps(s, v);
    }
    let mut out = [0.0f32; 8];
    // SAFETY: `out` holds the eight floats stored; AVX is enabled here (the caller guarantees AVX2).
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}
