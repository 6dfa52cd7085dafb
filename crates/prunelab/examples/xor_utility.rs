//! Activation-based unit utility on XOR: a 2-32-1 network (relu, sigmoid output) trained with Adam 0.1 for
//! 50 full-batch steps on MSE while tracking each hidden unit's smoothed `mean |activation × gradient|`.
//! Removing the 16 least useful units keeps the loss, removing the 16 most useful destroys it, and 16 random
//! units lie between.
//!
//! Run with `cargo run --release --example xor_utility`.

use prunelab::prelude::*;

fn main() -> Result<()> {
    let data = data::xor();
    let mut model = Mlp::config(&[2, 32, 1])
        .output_activation(Activation::Sigmoid)
        .init(Init::KaimingUniform)
        .seed(0)
        .build()?;
    let mut trainer = TrainParams::new(Loss::Mse, Adam::new(0.1))
        .epochs(50)
        .batch_size(BatchSize::Full)
        .track_utility(0.05)
        .trainer()?;
    trainer.fit(&mut model, &data)?;
    let utility = trainer.unit_utility().expect("tracked");
    let loss = |m: &Mlp| m.loss(&data, Loss::Mse);
    let base = loss(&model)?;

    let prune = |score: UnitScore| -> Result<f32> {
        let mut m = model.clone();
        UnitPruning::new(score, Amount::Count(16)).apply(&mut m)?;
        loss(&m)
    };
    let least = prune(UnitScore::Custom(utility.clone()))?;
    let negated: Vec<_> = utility.iter().map(|u| u.mapv(|v| -v)).collect();
    let most = prune(UnitScore::Custom(negated))?;
    let random: Vec<f32> = (0..10)
        .map(|seed| prune(UnitScore::Random { seed }))
        .collect::<Result<_>>()?;
    let random_mean = random.iter().sum::<f32>() / random.len() as f32;
    println!("unit utility (sorted): {:?}", {
        let mut u = utility[0].to_vec();
        u.sort_by(f32::total_cmp);
        u
    });
    println!("loss unpruned            {base:.6}");
    println!("loss without 16 least    {least:.6}");
    println!(
        "loss without 16 random   {random_mean:.6} (mean of 10 seeds; {:?})",
        random
    );
    println!("loss without 16 most     {most:.6}");
    Ok(())
}
