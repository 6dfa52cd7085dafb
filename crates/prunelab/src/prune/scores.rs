//! Gradient-based importance scores: SNIP's `|w·∂L/∂w|` for weights and the first-order Taylor utility
//! `mean |a·∂L/∂a|` for units. Movement scores and smoothed utility accumulate during training (see
//! [`TrainParams::track_movement`](crate::train::TrainParams::track_movement) and
//! [`TrainParams::track_utility`](crate::train::TrainParams::track_utility)).

use ndarray::{Array1, Array2, Zip};

use crate::data::Dataset;
use crate::error::Result;
use crate::loss::Loss;
use crate::nn::{Gradients, Mlp, Workspace};

/// SNIP connection sensitivity `|w · ∂L/∂w|` of every weight on a batch; usable at initialisation. Pass
/// the result to [`WeightPruning::scores`](crate::prune::WeightPruning::scores).
///
/// ```
/// use prunelab::prelude::*;
///
/// let data = data::xor();
/// let mut model = Mlp::config(&[2, 16, 1]).output_activation(Activation::Sigmoid).seed(0).build()?;
/// let scores = snip_scores(&model, &data, Loss::BinaryCrossEntropy)?;
/// WeightPruning::scores(scores, 0.5).global().apply(&mut model)?;
/// assert_eq!(model.n_remaining(), (2 * 16 + 16) / 2);
/// # Ok::<(), prunelab::Error>(())
/// ```
pub fn snip_scores(model: &Mlp, data: &Dataset, loss: Loss) -> Result<Vec<Array2<f32>>> {
    let (_, grads) = model.loss_and_gradients(data, loss, 0.0)?;
    Ok(model
        .layers()
        .iter()
        .zip(&grads.weights)
        .map(|(l, g)| {
            Zip::from(l.weight())
                .and(g)
                .map_collect(|&w, &g| (w * g).abs())
        })
        .collect())
}

/// The first-order Taylor utility of every hidden unit on a batch: the mean over samples of
/// `|activation × ∂loss/∂activation|` (Molchanov et al. 2017). Higher means the loss depends more on the
/// unit. Pass the result to [`UnitScore::Custom`](crate::prune::UnitScore::Custom).
pub fn unit_utility(model: &Mlp, data: &Dataset, loss: Loss) -> Result<Vec<Array1<f32>>> {
    loss.check_output(model.output_activation())?;
    let x = data.records.view();
    model.check_input(&x)?;
    let y = loss.encode_targets(&data.targets, model.n_outputs())?;
    let mut ws = Workspace::new(model, x.nrows());
    ws.track_utility(model);
    let mut grads = Gradients::zeros(model);
    model.forward_ws(&mut ws, x);
    model.loss_backward(&mut ws, y.view(), loss, 0.0, &mut grads);
    Ok(ws.utility.take().unwrap_or_default())
}

/// Smoothed per-unit utility, updated after every training step as NaiveNASflux's
/// `ActivationContribution`: `u ← α·u + (1 − α)·batch_utility`, the first batch taken as is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UtilityTracker {
    pub(crate) alpha: f32,
    pub(crate) values: Option<Vec<Array1<f32>>>,
}

impl UtilityTracker {
    pub(crate) fn update(&mut self, batch: &[Array1<f32>]) {
        match &mut self.values {
            Some(v)
                if v.len() == batch.len()
                    && v.iter().zip(batch).all(|(a, b)| a.len() == b.len()) =>
            {
                for (acc, new) in v.iter_mut().zip(batch) {
                    Zip::from(acc)
                        .and(new)
                        .for_each(|a, &n| *a = self.alpha * *a + (1.0 - self.alpha) * n);
                }
            }
            _ => self.values = Some(batch.to_vec()),
        }
    }
}

/// Movement scores `−Σ_steps w·∂L/∂w` (Sanh et al. 2020), accumulated over training steps: weights moving
/// away from zero score high.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct MovementTracker {
    pub(crate) values: Option<Vec<Array2<f32>>>,
}

impl MovementTracker {
    pub(crate) fn update(&mut self, model: &Mlp, grads: &Gradients) {
        let fits = self.values.as_ref().is_some_and(|v| {
            v.len() == model.n_layers()
                && v.iter()
                    .zip(model.layers())
                    .all(|(s, l)| s.dim() == l.weight().dim())
        });
        if !fits {
            self.values = Some(
                model
                    .layers()
                    .iter()
                    .map(|l| Array2::zeros(l.weight().raw_dim()))
                    .collect(),
            );
        }
        let values = self.values.as_mut().expect("initialised above");
        for ((s, l), g) in values.iter_mut().zip(model.layers()).zip(&grads.weights) {
            Zip::from(s)
                .and(l.weight())
                .and(g)
                .for_each(|s, &w, &g| *s -= w * g);
        }
    }
}
