//! Writes a network three ways as PyTorch state dicts in safetensors form and as ONNX, for reading back with
//! Python (`python/torch-fixtures/check.sh DIR` checks them with the real safetensors library, numpy, onnx
//! and ONNX Runtime): a dense 4-8-6-3 network (ReLU, GELU, softmax), the same with 60% of its weights pruned
//! (as `torch.nn.utils.prune` saves it: `weight_orig` and `weight_mask`) and a unit-pruned copy compacted,
//! plus a pruned densely connected network as ONNX only; `forward.json` holds prunelab's outputs of each on
//! fixed inputs.
//!
//! Run: `cargo run --release -p prunelab --example export_safetensors -- DIR`

use std::collections::BTreeMap;

use ndarray::Array2;
use prunelab::prelude::*;

/// A matrix as rows, for JSON.
fn rows(a: &Array2<f32>) -> Vec<Vec<f32>> {
    a.rows().into_iter().map(|r| r.to_vec()).collect()
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: export_safetensors DIR")?;
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    let dense = Mlp::from_layers(
        4,
        Topology::Chain,
        Mlp::config(&[4, 8, 6, 3])
            .seed(11)
            .build()?
            .layers()
            .iter()
            .zip([Activation::Relu, Activation::Gelu, Activation::Softmax])
            .map(|(l, a)| Dense::new(l.weight().to_owned(), l.bias().map(|b| b.to_owned()), a))
            .collect::<Result<Vec<_>>>()?,
    )?;
    let mut masked = dense.clone();
    prune_to_sparsity(&mut masked, 0.6, Scope::Layerwise, &[])?;
    let mut units = dense.clone();
    UnitPruning::l1(0.5).apply(&mut units)?;
    let compacted = units.compact()?;
    let mut densely_connected = Mlp::config(&[4, 5, 5, 2])
        .topology(Topology::DenselyConnected)
        .activation(Activation::Tanh)
        .output_activation(Activation::Sigmoid)
        .seed(12)
        .build()?;
    prune_to_sparsity(&mut densely_connected, 0.5, Scope::Global, &[])?;

    let x = Array2::from_shape_fn((5, 4), |(r, c)| ((r * 4 + c) as f32 * 0.37).sin() * 1.5);
    let mut forward = BTreeMap::new();
    for (name, model) in [
        ("dense", &dense),
        ("masked", &masked),
        ("compacted", &compacted),
    ] {
        model.save_safetensors(dir.join(format!("{name}.safetensors")))?;
        let y = model.forward(&x)?;
        forward.insert(
            format!("{name}.safetensors"),
            serde_json::json!({"inputs": rows(&x), "outputs": rows(&y)}),
        );
    }
    // The same networks and a densely connected one as ONNX, with the number of zero weights (exact zeros
    // where pruned) for the check.
    for (name, model) in [
        ("dense", &dense),
        ("masked", &masked),
        ("compacted", &compacted),
        ("densely_connected", &densely_connected),
    ] {
        model.save_onnx(dir.join(format!("{name}.onnx")))?;
        let y = model.forward(&x)?;
        let zeros: usize = model
            .layers()
            .iter()
            .map(|l| l.weight().iter().filter(|&&w| w == 0.0).count())
            .sum();
        forward.insert(
            format!("{name}.onnx"),
            serde_json::json!({"inputs": rows(&x), "outputs": rows(&y), "zero_weights": zeros}),
        );
    }
    std::fs::write(
        dir.join("forward.json"),
        serde_json::to_string_pretty(&forward)?,
    )?;
    println!(
        "wrote dense, masked and compacted networks as safetensors and ONNX, a densely connected one as \
         ONNX, and forward.json to {}",
        dir.display()
    );
    Ok(())
}
