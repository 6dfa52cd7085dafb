//! The benchmark network (784-1000-1000-500-200-10, no biases, softmax output) dense, with 90% of its
//! weights masked, and with half its hidden units cut and compacted: writes each as ONNX and as a
//! safetensors state dict into DIR, times prunelab's own inference of each (the masked one through
//! `to_sparse()`) at batch 10,000 and at batch 1, and writes `timings.json` (prunelab's medians, file sizes,
//! and the first rows of each network's output) for `benches/peers/ort_exports.py DIR`, which times ONNX
//! Runtime on the same files and inputs and prints both side by side.
//!
//! Run: `cargo run --release -p prunelab --example export_timings -- DIR` (set `RAYON_NUM_THREADS` for the
//! thread count), then `target/peers-venv/bin/python crates/prunelab/benches/peers/ort_exports.py DIR`.

use std::collections::BTreeMap;
use std::time::Instant;

use ndarray::Array2;
use prunelab::prelude::*;

/// The median of `reps` timed calls of `f` after one untimed, in milliseconds.
fn median_ms(reps: usize, mut f: impl FnMut() -> Result<Array2<f32>>) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let s = Instant::now();
        std::hint::black_box(f()?);
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[reps / 2])
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: export_timings DIR")?;
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    let dense = Mlp::config(&[784, 1000, 1000, 500, 200, 10])
        .output_activation(Activation::Softmax)
        .bias(false)
        .init(Init::KaimingUniform)
        .seed(0)
        .build()?;
    let mut masked = dense.clone();
    prune_to_sparsity(&mut masked, 0.9, Scope::Layerwise, &[])?;
    let mut units = dense.clone();
    UnitPruning::new(
        UnitScore::Incoming {
            norm: Norm::L2,
            with_bias: false,
        },
        0.5,
    )
    .apply(&mut units)?;
    let compacted = units.compact()?;
    // The inputs of notebook 07 (the same formula in ort_exports.py).
    let x = Array2::from_shape_fn((10_000, 784), |(i, j)| {
        ((i * 31 + j * 17) % 101) as f32 / 100.0
    });
    let one = x.slice(ndarray::s![0..1, ..]).to_owned();
    let sparse = masked.to_sparse();
    let mut report = BTreeMap::new();
    report.insert(
        "threads".to_string(),
        serde_json::json!(rayon::current_num_threads()),
    );
    println!(
        "{:<10} {:>12} {:>12} {:>14} {:>12}",
        "network", "ONNX bytes", "st bytes", "batch 10k ms", "batch 1 µs"
    );
    for (name, model) in [
        ("dense", &dense),
        ("masked-90", &masked),
        ("compacted", &compacted),
    ] {
        let onnx = dir.join(format!("{name}.onnx"));
        let st = dir.join(format!("{name}.safetensors"));
        model.save_onnx(&onnx)?;
        model.save_safetensors(&st)?;
        let (big, single) = if name == "masked-90" {
            (
                median_ms(9, || sparse.forward(&x))?,
                median_ms(301, || sparse.forward(&one))?,
            )
        } else {
            (
                median_ms(9, || model.forward(&x))?,
                median_ms(301, || model.forward(&one))?,
            )
        };
        let first: Vec<Vec<f32>> = model
            .forward(x.slice(ndarray::s![0..4, ..]))?
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect();
        let bytes = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len());
        let (ob, sb) = (bytes(&onnx)?, bytes(&st)?);
        println!(
            "{name:<10} {ob:>12} {sb:>12} {big:>14.2} {:>12.1}",
            single * 1e3
        );
        report.insert(
            name.to_string(),
            serde_json::json!({
                "onnx_bytes": ob,
                "safetensors_bytes": sb,
                "batch_10000_ms": big,
                "batch_1_us": single * 1e3,
                "first_rows": first,
            }),
        );
    }
    std::fs::write(
        dir.join("timings.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(())
}
