//! Unstructured pruning: by threshold, by smallest score (magnitude, random, user scores), layerwise or
//! global.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::Mlp;
use crate::prune::impl_selection;

/// How much to prune, relative to what is still unpruned (as PyTorch's iterative pruning).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Amount {
    /// This fraction of the remaining weights (or units), rounded half to even as PyTorch does.
    Fraction(f64),
    /// Exactly this many.
    Count(usize),
}

impl From<f64> for Amount {
    fn from(f: f64) -> Self {
        Amount::Fraction(f)
    }
}

impl From<usize> for Amount {
    fn from(n: usize) -> Self {
        Amount::Count(n)
    }
}

impl Amount {
    /// Checks a fraction lies in `[0, 1]`.
    pub(crate) fn check(self) -> Result<()> {
        match self {
            Amount::Fraction(f) if !(0.0..=1.0).contains(&f) => Err(Error::param(
                "amount",
                format!("a fraction must lie in [0, 1], got {f}"),
            )),
            _ => Ok(()),
        }
    }

    /// How many of `remaining` to prune.
    pub(crate) fn of(self, remaining: usize) -> Result<usize> {
        match self {
            Amount::Fraction(f) => {
                Ok(((f * remaining as f64).round_ties_even() as usize).min(remaining))
            }
            Amount::Count(n) if n <= remaining => Ok(n),
            Amount::Count(n) => Err(Error::param(
                "amount",
                format!("cannot prune {n}, only {remaining} remain"),
            )),
        }
    }
}

/// Whether scores are ranked within each layer or across all chosen layers together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Scope {
    /// Each layer loses the same fraction of its own remaining weights.
    #[default]
    Layerwise,
    /// The lowest scores across all chosen layers go, wherever they are (PyTorch's `global_unstructured`).
    Global,
}

/// What ranks weights for unstructured pruning; the lowest scores are pruned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WeightScore {
    /// `|w|`.
    Magnitude,
    /// Uniform random scores from a seeded generator.
    Random {
        /// Seed of the scores.
        seed: u64,
    },
    /// Scores supplied by the user (e.g. [`snip_scores`](crate::prune::snip_scores)), one matrix per layer
    /// shaped as its weights.
    Custom(Vec<Array2<f32>>),
}

/// Unstructured pruning of the lowest-scoring weights.
///
/// ```
/// use prunelab::prelude::*;
///
/// let mut model = Mlp::config(&[4, 8, 3]).seed(1).build()?;
/// // Half of the hidden layer's weights with the smallest |w|; the output layer is left alone.
/// WeightPruning::magnitude(0.5).skip(&[1]).apply(&mut model)?;
/// assert_eq!(model.layer(0)?.n_remaining(), 16);
/// // Pruning again takes a fraction of what remains, as PyTorch's iterative pruning.
/// WeightPruning::magnitude(0.5).skip(&[1]).apply(&mut model)?;
/// assert_eq!(model.layer(0)?.n_remaining(), 8);
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightPruning {
    /// What ranks the weights.
    pub score: WeightScore,
    /// How many to prune, of those remaining in scope.
    pub amount: Amount,
    /// Layerwise or global ranking.
    pub scope: Scope,
    /// Layers left untouched.
    pub skip: Vec<usize>,
}

impl_selection!(scope and skip: WeightPruning);

impl WeightPruning {
    /// Prunes the `amount` smallest-magnitude weights.
    pub fn magnitude(amount: impl Into<Amount>) -> Self {
        Self::new(WeightScore::Magnitude, amount)
    }

    /// Prunes `amount` weights at random.
    pub fn random(amount: impl Into<Amount>, seed: u64) -> Self {
        Self::new(WeightScore::Random { seed }, amount)
    }

    /// Prunes the `amount` weights with the lowest user-supplied scores.
    pub fn scores(scores: Vec<Array2<f32>>, amount: impl Into<Amount>) -> Self {
        Self::new(WeightScore::Custom(scores), amount)
    }

    fn new(score: WeightScore, amount: impl Into<Amount>) -> Self {
        WeightPruning {
            score,
            amount: amount.into(),
            scope: Scope::Layerwise,
            skip: Vec::new(),
        }
    }

    /// Applies the pruning; returns the number of weights newly pruned in each layer.
    pub fn apply(&self, model: &mut Mlp) -> Result<Vec<usize>> {
        self.amount.check()?;
        let layers = chosen_layers(model, &self.skip)?;
        let scores = weight_scores(model, &self.score)?;
        // Candidates: (score, layer, flat index) of every remaining weight in scope.
        let candidates = |k: usize| -> Vec<(f32, usize, usize)> {
            let mask = model.layers()[k].mask();
            scores[k]
                .iter()
                .enumerate()
                .filter(|&(i, _)| {
                    mask.as_ref()
                        .is_none_or(|m| m.as_slice().expect("contiguous")[i])
                })
                .map(|(i, &s)| (s, k, i))
                .collect()
        };
        let chosen = select_in_scope(self.scope, self.amount, &layers, candidates)?;
        Ok(prune_flat(
            model,
            chosen.into_iter().map(|(_, k, i)| (k, i)),
        ))
    }
}

/// Removes every remaining weight with `|w| < threshold` (or `<=` when inclusive).
///
/// ```
/// use prunelab::prelude::*;
/// use ndarray::array;
///
/// let mut model = Mlp::from_layers(2, Topology::Chain, vec![
///     Dense::new(array![[0.05, -0.5], [0.1, -0.09]], None, Activation::Identity)?,
/// ])?;
/// let removed = ThresholdPruning::new(0.1).apply(&mut model)?;
/// assert_eq!(removed, vec![2]); // 0.05 and -0.09; 0.1 is not below 0.1
/// # Ok::<(), prunelab::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdPruning {
    /// The magnitude below which weights are removed.
    pub threshold: f32,
    /// Remove weights equal to the threshold too.
    pub inclusive: bool,
    /// Layers left untouched.
    pub skip: Vec<usize>,
}

impl_selection!(skip: ThresholdPruning);

impl ThresholdPruning {
    /// Removes weights with `|w| < threshold`.
    pub fn new(threshold: f32) -> Self {
        ThresholdPruning {
            threshold,
            inclusive: false,
            skip: Vec::new(),
        }
    }

    /// Removes weights with `|w| <= threshold` instead.
    pub fn inclusive(mut self) -> Self {
        self.inclusive = true;
        self
    }

    /// Applies the pruning; returns the number of weights newly pruned in each layer.
    pub fn apply(&self, model: &mut Mlp) -> Result<Vec<usize>> {
        check_threshold(self.threshold)?;
        let layers = chosen_layers(model, &self.skip)?;
        let (t, inclusive) = (self.threshold, self.inclusive);
        let below = |w: f32| if inclusive { w.abs() <= t } else { w.abs() < t };
        let chosen: Vec<(usize, usize)> = layers
            .iter()
            .flat_map(|&k| {
                model.layers()[k]
                    .weight()
                    .into_iter()
                    .enumerate()
                    .filter(move |&(_, &w)| below(w))
                    .map(move |(i, _)| (k, i))
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(prune_flat(model, chosen.into_iter()))
    }
}

/// Fails unless `t` is finite and non-negative.
pub(crate) fn check_threshold(t: f32) -> Result<()> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            "threshold",
            format!("must be finite and >= 0, got {t}"),
        ))
    }
}

/// The layers not skipped; fails on an unknown layer index.
pub(crate) fn chosen_layers(model: &Mlp, skip: &[usize]) -> Result<Vec<usize>> {
    if let Some(&bad) = skip.iter().find(|&&k| k >= model.n_layers()) {
        return Err(Error::IndexOutOfRange {
            what: "layer",
            index: bad,
            len: model.n_layers(),
        });
    }
    Ok((0..model.n_layers())
        .filter(|k| !skip.contains(k))
        .collect())
}

/// Keeps in `c` only the `n` lowest scores (ties broken by layer, then index).
fn select_lowest(c: &mut Vec<(f32, usize, usize)>, n: usize) {
    c.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    c.truncate(n);
}

/// The `(score, layer, index)` candidates to prune: the lowest `amount` of each layer's candidates
/// (layerwise), or of all chosen layers' candidates together (global).
pub(crate) fn select_in_scope(
    scope: Scope,
    amount: Amount,
    layers: &[usize],
    candidates: impl Fn(usize) -> Vec<(f32, usize, usize)>,
) -> Result<Vec<(f32, usize, usize)>> {
    let mut chosen = Vec::new();
    match scope {
        Scope::Layerwise => {
            for &k in layers {
                let mut c = candidates(k);
                let n = amount.of(c.len())?;
                select_lowest(&mut c, n);
                chosen.extend(c);
            }
        }
        Scope::Global => {
            let mut c: Vec<_> = layers.iter().flat_map(|&k| candidates(k)).collect();
            let n = amount.of(c.len())?;
            select_lowest(&mut c, n);
            chosen = c;
        }
    }
    Ok(chosen)
}

/// Prunes weights given as (layer, flat index); returns the count newly pruned per layer.
pub(crate) fn prune_flat(
    model: &mut Mlp,
    entries: impl Iterator<Item = (usize, usize)>,
) -> Vec<usize> {
    let mut removed = vec![0; model.n_layers()];
    for (k, i) in entries {
        let cols = model.layers()[k].n_inputs();
        if model.prune_weight(k, i / cols, i % cols) {
            removed[k] += 1;
        }
    }
    removed
}

/// One score matrix per layer for `score`, checked against the model.
fn weight_scores(model: &Mlp, score: &WeightScore) -> Result<Vec<Array2<f32>>> {
    match score {
        WeightScore::Magnitude => Ok(model
            .layers()
            .iter()
            .map(|l| l.weight().mapv(f32::abs))
            .collect()),
        WeightScore::Random { seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(*seed);
            Ok(model
                .layers()
                .iter()
                .map(|l| Array2::from_shape_simple_fn(l.weight().raw_dim(), || rng.gen::<f32>()))
                .collect())
        }
        WeightScore::Custom(scores) => {
            if scores.len() != model.n_layers() {
                return Err(Error::shape(
                    "weight scores",
                    format!("{} matrices (one per layer)", model.n_layers()),
                    scores.len(),
                ));
            }
            for (k, (s, l)) in scores.iter().zip(model.layers()).enumerate() {
                if s.dim() != l.weight().dim() {
                    return Err(Error::ShapeMismatch {
                        context: "weight scores",
                        expected: format!("layer {k}: {:?}", l.weight().dim()),
                        found: format!("{:?}", s.dim()),
                    });
                }
                crate::error::check_finite(s.iter(), "weight scores")?;
            }
            Ok(scores
                .iter()
                .map(|s| s.as_standard_layout().into_owned())
                .collect())
        }
    }
}
