//! Pruning connections: a densely connected MLP (1 input, 2 outputs, width 128, depth 4 — 99,842
//! connections; tanh hidden units, Glorot-uniform initialisation) fits (cos x, sin x) on [0, 2π] with Adam 1e-3 for 500 full-batch epochs. Every connection
//! with |w| < 0.1 is removed, as connex's `remove_connections` does, and training goes on for 500 epochs,
//! beside an unpruned copy trained just as long.
//!
//! Run with `cargo run --release --example cos_sin`.

use prunelab::prelude::*;

fn main() -> Result<()> {
    let data = data::cos_sin(250)?;
    let mut model = Mlp::config(&[1, 128, 128, 128, 128, 2])
        .topology(Topology::DenselyConnected)
        .activation(Activation::Tanh)
        .seed(0)
        .build()?;
    let params = TrainParams::new(Loss::Mse, Adam::new(1e-3))
        .epochs(500)
        .batch_size(BatchSize::Full);
    let mut trainer = params.clone().trainer()?;
    let first = trainer.fit(&mut model, &data)?;
    println!("first 500 epochs: {first}");

    let before = model.edges().len();
    let weak: Vec<(usize, usize)> = model
        .edges()
        .iter()
        .filter(|e| e.weight.abs() < 0.1)
        .map(|e| (e.from, e.to))
        .collect();
    let mut pruned = model.clone();
    pruned.remove_connections(&weak)?;
    let after = pruned.edges().len();
    println!(
        "edges before {before}, after {after} ({} removed, {:.1}%)",
        weak.len(),
        100.0 * weak.len() as f64 / before as f64
    );
    println!(
        "loss right after pruning: {:.6} (unpruned {:.6})",
        pruned.loss(&data, Loss::Mse)?,
        model.loss(&data, Loss::Mse)?
    );

    // Both go on for 500 epochs with a fresh Adam, as the connex example retrains.
    let original = params.clone().fit(&mut model, &data)?;
    let retrained = params.fit(&mut pruned, &data)?;
    println!("original, 500 more epochs: {original}");
    println!("pruned,   500 more epochs: {retrained}");
    println!("edges after retraining: {}", pruned.edges().len());
    println!("{}", pruned.prune_report());
    Ok(())
}
