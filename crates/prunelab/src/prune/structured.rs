//! Structured pruning: removing whole units, ranked by the norm of their incoming or outgoing weights, at
//! random, or by user scores (e.g. activation utility).

use ndarray::Array1;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::Mlp;
use crate::prune::criteria::select_in_scope;
use crate::prune::impl_selection;
use crate::prune::{Amount, Scope};

/// The norm that measures a unit's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Norm {
    /// Sum of absolute values.
    #[default]
    L1,
    /// Euclidean norm.
    L2,
}

impl Norm {
    fn of(self, values: impl Iterator<Item = f32>) -> f32 {
        match self {
            Norm::L1 => values.map(|v| v.abs() as f64).sum::<f64>() as f32,
            Norm::L2 => values.map(|v| (v as f64).powi(2)).sum::<f64>().sqrt() as f32,
        }
    }
}

/// What ranks units for structured pruning; the lowest scores are removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UnitScore {
    /// The norm of a unit's incoming weights, plus its bias when `with_bias` (the L1 score is
    /// `|b| + Σ|w_in|`; for L2 the bias joins the vector).
    Incoming {
        /// Which norm.
        norm: Norm,
        /// Whether the bias counts.
        with_bias: bool,
    },
    /// The norm of a unit's outgoing weights (to every layer that reads it).
    Outgoing {
        /// Which norm.
        norm: Norm,
    },
    /// Uniform random scores from a seeded generator.
    Random {
        /// Seed of the scores.
        seed: u64,
    },
    /// Scores supplied by the user (e.g. [`Trainer::unit_utility`](crate::train::Trainer::unit_utility)),
    /// one vector per hidden layer.
    Custom(Vec<Array1<f32>>),
}

/// Removes whole hidden units: their incoming weights and bias are pruned, so each outputs the constant
/// `f(0)` (zero for relu, tanh, gelu and identity). The output layer's units are never removed.
///
/// ```
/// use prunelab::prelude::*;
///
/// let mut model = Mlp::config(&[2, 4, 6, 1]).seed(3).build()?;
/// UnitPruning::l1(0.5).apply(&mut model)?;
/// let report = model.prune_report();
/// assert_eq!((report.layers[0].live_units, report.layers[1].live_units), (2, 3));
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitPruning {
    /// What ranks the units.
    pub score: UnitScore,
    /// How many to remove, of the units remaining in scope.
    pub amount: Amount,
    /// Per layer, or across all chosen hidden layers.
    pub scope: Scope,
    /// Hidden layers left untouched.
    pub skip: Vec<usize>,
}

impl_selection!(scope and skip: UnitPruning);

impl UnitPruning {
    /// Removes units by the L1 norm of their incoming weights plus bias.
    pub fn l1(amount: impl Into<Amount>) -> Self {
        Self::new(
            UnitScore::Incoming {
                norm: Norm::L1,
                with_bias: true,
            },
            amount,
        )
    }

    /// Removes units ranked by `score`.
    pub fn new(score: UnitScore, amount: impl Into<Amount>) -> Self {
        UnitPruning {
            score,
            amount: amount.into(),
            scope: Scope::Layerwise,
            skip: Vec::new(),
        }
    }

    /// Removes the units; returns, per hidden layer, the indices of the units removed now (sorted).
    pub fn apply(&self, model: &mut Mlp) -> Result<Vec<Vec<usize>>> {
        self.amount.check()?;
        let hidden = model.n_layers() - 1;
        if let Some(&bad) = self.skip.iter().find(|&&k| k >= hidden) {
            return Err(Error::IndexOutOfRange {
                what: "hidden layer",
                index: bad,
                len: hidden,
            });
        }
        let scores = unit_scores(model, &self.score)?;
        let candidates = |k: usize| -> Vec<(f32, usize, usize)> {
            (0..model.layers()[k].n_outputs())
                .filter(|&u| !model.layers()[k].unit_pruned(u))
                .map(|u| (scores[k][u], k, u))
                .collect()
        };
        let layers: Vec<usize> = (0..hidden).filter(|k| !self.skip.contains(k)).collect();
        let chosen = select_in_scope(self.scope, self.amount, &layers, candidates)?;
        let mut removed = vec![Vec::new(); hidden];
        for (_, k, u) in chosen {
            model.prune_unit(k, u);
            removed[k].push(u);
        }
        removed.iter_mut().for_each(|r| r.sort_unstable());
        Ok(removed)
    }
}

/// One score per unit of every hidden layer, as `score` defines it.
///
/// ```
/// use prunelab::prelude::*;
/// use ndarray::array;
///
/// let model = Mlp::from_layers(2, Topology::Chain, vec![
///     Dense::new(array![[1.0, -1.0], [5.0, 2.0]], Some(array![0.1, 0.2]), Activation::Relu)?,
///     Dense::new(array![[1.0, 1.0]], None, Activation::Identity)?,
/// ])?;
/// let l1 = unit_scores(&model, &UnitScore::Incoming { norm: Norm::L1, with_bias: true })?;
/// assert!((l1[0][0] - 2.1).abs() < 1e-6 && (l1[0][1] - 7.2).abs() < 1e-6);
/// # Ok::<(), prunelab::Error>(())
/// ```
pub fn unit_scores(model: &Mlp, score: &UnitScore) -> Result<Vec<Array1<f32>>> {
    let hidden = model.n_layers() - 1;
    let layers = &model.layers()[..hidden];
    match score {
        UnitScore::Incoming { norm, with_bias } => Ok(layers
            .iter()
            .map(|l| {
                (0..l.n_outputs())
                    .map(|u| {
                        let bias = l.bias().filter(|_| *with_bias).map(|b| b[u]);
                        norm.of(l.weight().row(u).iter().copied().chain(bias))
                    })
                    .collect()
            })
            .collect()),
        UnitScore::Outgoing { norm } => Ok((0..hidden)
            .map(|k| {
                (0..layers[k].n_outputs())
                    .map(|u| {
                        let outgoing = model.consumers(k).into_iter().flat_map(|(m, start)| {
                            model.layers()[m].weight().column(start + u).to_vec()
                        });
                        norm.of(outgoing)
                    })
                    .collect()
            })
            .collect()),
        UnitScore::Random { seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(*seed);
            Ok(layers
                .iter()
                .map(|l| (0..l.n_outputs()).map(|_| rng.gen::<f32>()).collect())
                .collect())
        }
        UnitScore::Custom(scores) => {
            if scores.len() != hidden {
                return Err(Error::shape(
                    "unit scores",
                    format!("{hidden} vectors (one per hidden layer)"),
                    scores.len(),
                ));
            }
            for (k, (s, l)) in scores.iter().zip(layers).enumerate() {
                if s.len() != l.n_outputs() {
                    return Err(Error::ShapeMismatch {
                        context: "unit scores",
                        expected: format!("hidden layer {k}: {} units", l.n_outputs()),
                        found: s.len().to_string(),
                    });
                }
                crate::error::check_finite(s.iter(), "unit scores")?;
            }
            Ok(scores.clone())
        }
    }
}
