//! File sizes of the 784-1000-1000-500-200-10 bias-free network, saved as JSON and in the binary form, at
//! several unstructured sparsities, and after compaction of a unit-pruned copy.
//!
//! Run with `cargo run --release --example model_files`.

use prunelab::prelude::*;

fn main() -> Result<()> {
    let dir = std::env::temp_dir().join("prunelab-model-files");
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let dense = Mlp::config(&[784, 1000, 1000, 500, 200, 10])
        .output_activation(Activation::Softmax)
        .bias(false)
        .init(Init::KaimingUniform)
        .build()?;
    let size = |m: &Mlp, name: &str| -> Result<(u64, u64)> {
        let (json, bin) = (
            dir.join(format!("{name}.json")),
            dir.join(format!("{name}.bin")),
        );
        m.save(&json)?;
        m.save(&bin)?;
        let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let loaded = Mlp::load(&bin)?;
        assert_eq!(&loaded, m);
        Ok((len(&json), len(&bin)))
    };
    println!(
        "{:<28} {:>12} {:>12}",
        "model", "JSON bytes", "binary bytes"
    );
    for sparsity in [0.0, 0.5, 0.8, 0.9, 0.95, 0.99] {
        let mut m = dense.clone();
        prune_to_sparsity(&mut m, sparsity, Scope::Layerwise, &[])?;
        let (j, b) = size(&m, &format!("s{sparsity}"))?;
        println!(
            "{:<28} {j:>12} {b:>12}",
            format!("{:.0}% unstructured", sparsity * 100.0)
        );
    }
    for fraction in [0.5, 0.75] {
        let mut m = dense.clone();
        UnitPruning::new(
            UnitScore::Incoming {
                norm: Norm::L2,
                with_bias: false,
            },
            fraction,
        )
        .apply(&mut m)?;
        let (j, b) = size(&m.compact()?, &format!("u{fraction}"))?;
        println!(
            "{:<28} {j:>12} {b:>12}",
            format!("{:.0}% units, compacted", fraction * 100.0)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
