//! Writes a network three ways as PyTorch state dicts in safetensors form, for reading back with Python
//! (`python/torch-fixtures/check.sh DIR` checks them with the real safetensors library and numpy): a dense
//! 4-8-6-3 network (ReLU, GELU, softmax), the same with 60% of its weights pruned (as `torch.nn.utils.prune`
//! saves it: `weight_orig` and `weight_mask`) and a unit-pruned copy compacted, plus `forward.json` with
//! prunelab's outputs of each on fixed inputs.
//!
//! Run: `cargo run --release -p prunelab --example export_safetensors -- DIR`

use std::collections::BTreeMap;

use ndarray::Array2;
use prunelab::prelude::*;

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

    let x = Array2::from_shape_fn((5, 4), |(r, c)| ((r * 4 + c) as f32 * 0.37).sin() * 1.5);
    let mut forward = BTreeMap::new();
    for (name, model) in [
        ("dense", &dense),
        ("masked", &masked),
        ("compacted", &compacted),
    ] {
        model.save_safetensors(dir.join(format!("{name}.safetensors")))?;
        let y = model.forward(&x)?;
        let rows = |a: &Array2<f32>| -> Vec<Vec<f32>> {
            a.rows().into_iter().map(|r| r.to_vec()).collect()
        };
        forward.insert(
            format!("{name}.safetensors"),
            serde_json::json!({"inputs": rows(&x), "outputs": rows(&y)}),
        );
    }
    std::fs::write(
        dir.join("forward.json"),
        serde_json::to_string_pretty(&forward)?,
    )?;
    println!(
        "wrote dense, masked and compacted safetensors files and forward.json to {}",
        dir.display()
    );
    Ok(())
}
